#!/usr/bin/env bash
# Builds the .deb and .rpm from a release build; installs the packagers if missing.
# Output: target/debian/roster_*.deb and target/generate-rpm/roster-*.rpm
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null 2>&1 || cargo install --locked cargo-deb
command -v cargo-generate-rpm >/dev/null 2>&1 || cargo install --locked cargo-generate-rpm
cargo build --release --locked
strip target/release/roster
cargo deb --no-build --no-strip
cargo generate-rpm
ls -1 target/debian/*.deb target/generate-rpm/*.rpm
