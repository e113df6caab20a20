#!/usr/bin/env bash
# test_emulator_node_client.sh - an independent client checks firestore-emulator:
# Google's official Node.js Firestore client (@google-cloud/firestore, REST transport,
# FIRESTORE_EMULATOR_HOST) writes, reads, queries and runs transactions through it.
# Installs the package into .local/node-firestore when missing (npm registry); skips
# only when node or npm are not installed. Prints TAP.
set -uo pipefail
root=${EKKLESIA_TEST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${EKKLESIA_TEST_BIN:-$root/build/bin}
tmp=${EKKLESIA_TEST_TMPDIR:-$(mktemp -d)}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "ok 1 # SKIP node or npm is not installed, cannot run Google's Node.js client"
  echo "1..1"; exit 0
fi
mods=$root/.local/node-firestore
if [ ! -d "$mods/node_modules/@google-cloud/firestore" ]; then
  mkdir -p "$mods"
  if ! (cd "$mods" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        timeout 300 npm install --no-audit --no-fund @google-cloud/firestore >"$tmp/npm-install.log" 2>&1); then
    tail -20 "$tmp/npm-install.log" | sed 's/^/# /'
    echo "not ok 1 - npm install @google-cloud/firestore failed"; echo "1..1"; exit 1
  fi
fi

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
log=$tmp/emulator-node-$port.log
"$bin/firestore-emulator" --host 127.0.0.1 --port "$port" --log-level debug 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 1 250); do   # up to 5 s for the port to open
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.02
done

out=$tmp/emulator-node-$port.tap
FIRESTORE_EMULATOR_HOST=127.0.0.1:$port NODE_PATH=$mods/node_modules \
  timeout 120 node "$root/tests/integration/emulator_node_client.js" | tee "$out"
rc=${PIPESTATUS[0]}
n=$(grep -cE '^(not )?ok [0-9]+' "$out")
kill -TERM $pid; wait $pid; stop=$?
trap - EXIT
n=$((n + 1))
if [ "$stop" -eq 0 ]; then echo "ok $n - emulator exits 0 on SIGTERM"; else echo "not ok $n - emulator exit status $stop on SIGTERM"; rc=1; fi
echo "1..$n"
exit $rc
