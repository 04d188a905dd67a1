#!/usr/bin/env bash
# CI for the packages: build the .deb and .rpm, lint them, verify the unit, install
# the .deb and run the installed binary with the installed config to answer /readyz
# as the service would (its user, its credential), then remove the package.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v rpm >/dev/null 2>&1 || need+=(rpm)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

bash packaging/build.sh
deb=$(ls -1t target/debian/roster_*.deb | head -1)
rpm_file=$(ls -1t target/generate-rpm/roster-*.rpm | head -1)

echo "== lintian $deb"
# Errors fail the build; warnings are printed for the record.
lintian --fail-on error --suppress-tags no-manual-page,initial-upload-closes-no-bugs,no-changelog "$deb"

echo "== rpm -qlp $rpm_file"
listing=$(rpm -qlp "$rpm_file")
echo "$listing"
for f in /usr/bin/roster /etc/roster/roster.toml /usr/lib/systemd/system/roster.service /usr/lib/sysusers.d/roster.conf; do
  grep -qx "$f" <<<"$listing" || { echo "missing $f in the rpm"; exit 1; }
done
rpm -qp --scripts "$rpm_file" | grep -q "master.key" || { echo "rpm scripts do not create the master key"; exit 1; }
rpm -qp --configfiles "$rpm_file" | grep -qx /etc/roster/roster.toml || { echo "roster.toml is not a config file in the rpm"; exit 1; }

echo "== dpkg -i $deb"
dpkg -i --force-confold "$deb"
test -f /etc/roster/master.key
test "$(stat -c %a /etc/roster/master.key)" = 600
getent passwd roster >/dev/null
key_before=$(sha256sum /etc/roster/master.key)

echo "== systemd-analyze verify"
systemd-analyze verify /usr/lib/systemd/system/roster.service

echo "== run the installed binary as the service would"
cred=$(mktemp -d)
install -m 0400 -o roster -g roster /etc/roster/master.key "$cred/master.key"
chown roster:roster "$cred"
chmod 0700 "$cred"
port=18080
runuser -u roster -- env CREDENTIALS_DIRECTORY="$cred" \
  /usr/bin/roster --config /etc/roster/roster.toml serve --listen "127.0.0.1:$port" \
  >/tmp/roster-pkg.out 2>/tmp/roster-pkg.err &
pid=$!
ok=""
for _ in $(seq 1 50); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/tmp/roster-ready.json 2>/dev/null; then ok=1; break; fi
  sleep 0.2
done
kill -TERM "$pid" || true
wait "$pid" || true
rm -rf "$cred"
cat /tmp/roster-pkg.out
if [ -z "$ok" ]; then echo "installed roster did not answer /readyz"; cat /tmp/roster-pkg.err; exit 1; fi
grep -q '"ready"' /tmp/roster-ready.json
grep -q "first-run setup" /tmp/roster-pkg.out

echo "== reinstall keeps the master key and the config edits"
sed -i 's/^log_format = "text"/log_format = "json"/' /etc/roster/roster.toml
dpkg -i --force-confold "$deb"
test "$(sha256sum /etc/roster/master.key)" = "$key_before"
grep -q '^log_format = "json"' /etc/roster/roster.toml

# Leave the machine as it was: tests must never meet an installed config.
dpkg --purge roster
rm -rf /etc/roster /var/lib/roster
echo "packages ok: $deb $rpm_file"
