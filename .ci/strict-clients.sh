#!/usr/bin/env bash
# Strict clients against a real server: the public scim2-tester suite
# (python-scim), once per tenant profile (default settings and each IdP
# profile), then openapi-spec-validator on the served OpenAPI document.
# Any failed check fails the job. Usage: .ci/strict-clients.sh ROSTER_BINARY
set -euo pipefail
roster=$(realpath "$1")
venv=${STRICT_CLIENTS_VENV:-$(dirname "$0")/../target/strict-clients-venv}
if [ ! -x "$venv/bin/scim2" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'scim2-tester==0.5.2' 'scim2-cli==0.6.0' 'openapi-spec-validator==0.9.0'
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

data="$work/data"
mkdir -p "$data"
"$roster" --data-dir "$data" serve --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
server_pid=$!
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's/^roster: listening on //p' "$work/server.log" | head -n1)
  [ -n "$addr" ] && break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "scim2-tester: the server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

total_ok=0
failed=0
# "default" is a tenant created without --idp.
for profile in default okta entra jumpcloud onelogin generic; do
  slug="t-$profile"
  idp=()
  [ "$profile" != default ] && idp=(--idp "$profile")
  "$roster" --data-dir "$data" tenant create --name "$slug" --slug "$slug" "${idp[@]}" >/dev/null
  "$roster" --data-dir "$data" scim activate --tenant "$slug" >/dev/null
  token=$("$roster" --data-dir "$data" token create --tenant "$slug" 2>/dev/null)
  out="$work/$profile.out"
  set +e
  SCIM_CLI_HEADERS="Authorization: Bearer $token" \
    "$venv/bin/scim2" --url "http://$addr/scim/v2/$slug" test >"$out" 2>&1
  rc=$?
  set -e
  passed=$(grep -c '^SUCCESS' "$out" || true)
  errors=$(grep -c -E '^(ERROR|CRITICAL)' "$out" || true)
  echo "scim2-tester [$profile]: $passed passed, $errors failed (exit $rc)"
  if [ "$rc" -ne 0 ] || [ "$errors" -ne 0 ] || [ "$passed" -eq 0 ]; then
    failed=1
    grep -v '^SUCCESS' "$out" | grep -v '^  ' | head -n 40 >&2 || true
    grep -A3 -E '^(ERROR|CRITICAL)|^Error' "$out" | head -n 60 >&2 || true
  fi
  total_ok=$((total_ok + passed))
done
echo "scim2-tester: $total_ok checks passed in all"

curl -fsS "http://$addr/api/v1/openapi.json" -o "$work/openapi.json"
if "$venv/bin/openapi-spec-validator" "$work/openapi.json"; then
  echo "openapi-spec-validator: /api/v1/openapi.json is a valid OpenAPI 3.1 document"
else
  echo "openapi-spec-validator: /api/v1/openapi.json is invalid" >&2
  failed=1
fi
exit "$failed"
