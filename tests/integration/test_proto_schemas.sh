#!/usr/bin/env bash
# test_proto_schemas.sh - the wire contract in proto/: the JSON Schemas are valid
# schemas, every example in proto/examples/ validates against the schema its name
# starts with (key*, value*, dlq*), every example in proto/examples/invalid/ is
# rejected, the example set covers every op, and tests/support/validate-json reads
# JSON lines, never prints a document's values and keeps its exit statuses.
# Needs no servers; runs through tests/run or alone: bash tests/integration/test_proto_schemas.sh
set -uo pipefail
root=${EKKLESIA_TEST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
proto=$root/proto
validate=$root/tests/support/validate-json
py=/usr/bin/python3
n=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The schema an example is checked against: the part of its name before the first - or .
schema_of() { local b; b=$(basename "$1"); b=${b%%[-.]*}; echo "$proto/$b.schema.json"; }

check "python3-jsonschema is installed (scripts/bootstrap)" '"$py" -c "import jsonschema" 2>/dev/null'
check "validate-json is executable" '[ -x "$validate" ]'
for s in key value dlq; do
  check "$s.schema.json is a valid draft 2020-12 schema" '"$py" -c "
import json, sys, jsonschema
s = json.load(open(sys.argv[1]))
assert s[\"\$schema\"] == \"https://json-schema.org/draft/2020-12/schema\"
jsonschema.Draft202012Validator.check_schema(s)" "$proto/$s.schema.json" 2>"$tmp/err" || { cat "$tmp/err"; false; }'
done

for f in "$proto"/examples/*.json; do
  b=$(basename "$f")
  check "$b validates against $(basename "$(schema_of "$f")")" \
    '[ -f "$(schema_of "$f")" ] && "$validate" "$(schema_of "$f")" "$f"'
done

invalid_out=$tmp/invalid.out
: >"$invalid_out"
for f in "$proto"/examples/invalid/*.json; do
  b=$(basename "$f")
  # exit status exactly 1 (not 2: a usage or schema error is no rejection), and the
  # failure names the file
  check "invalid/$b is rejected by $(basename "$(schema_of "$f")")" \
    '[ -f "$(schema_of "$f")" ] && { "$validate" "$(schema_of "$f")" "$f" >"$tmp/out" 2>&1; rc=$?; cat "$tmp/out" >>"$invalid_out"; [ $rc -eq 1 ] && grep -q "^$f: " "$tmp/out"; }'
done

check "examples for every case" '( for e in key key-truncate value-create value-update value-delete value-snapshot value-truncate value-toast dlq-record; do
  [ -f "$proto/examples/$e.json" ] || { echo "# missing proto/examples/$e.json"; exit 1; }; done )'
check "at least three invalid examples" '[ "$(ls "$proto"/examples/invalid/*.json 2>/dev/null | wc -l)" -ge 3 ]'
check "valid examples cover every op (c u d r t)" '[ "$("$py" -c "
import json, sys
print(\"\".join(sorted({json.load(open(f))[\"op\"] for f in sys.argv[1:]})))" "$proto"/examples/value-*.json)" = cdrtu ]'
check "the documentation names every example and schema" '( for f in "$proto"/*.schema.json "$proto"/examples/*.json "$proto"/examples/invalid/*.json; do
  grep -q "$(basename "$f")" "$proto/README.md" || { echo "# README.md does not mention $(basename "$f")"; exit 1; }; done )'

# JSON lines on stdin: every value example as one line validates; a tombstone (null) does not.
"$py" -c 'import json, sys
for f in sys.argv[1:]: print(json.dumps(json.load(open(f, encoding="utf-8")), ensure_ascii=False))' \
  "$proto"/examples/value-*.json >"$tmp/values.jsonl"
check "JSON lines from stdin validate" '[ -s "$tmp/values.jsonl" ] && "$validate" "$proto/value.schema.json" - <"$tmp/values.jsonl"'
check "a tombstone (null) is no value; the failing line is named" '{ cat "$tmp/values.jsonl"; echo null; } |
  "$validate" "$proto/value.schema.json" - >"$tmp/out" 2>&1; [ $? -eq 1 ] && grep -q "^<stdin>:$(($(wc -l <"$tmp/values.jsonl") + 1)): " "$tmp/out"'
check "text that is not JSON is rejected" 'echo "{\"op\":" >"$tmp/bad.json"; "$validate" "$proto/value.schema.json" "$tmp/bad.json" >"$tmp/out" 2>&1;
  [ $? -eq 1 ] && grep -q "not JSON" "$tmp/out"'
check "failures never print the documents' values" '[ -s "$invalid_out" ] && ! grep -Eq "Bergþóra|Ólafsdóttir|3012853969|301285|1985-12-30|ekklesia-sync 0|24024032" "$invalid_out"'
check "usage error: exit status 2" '"$validate" >/dev/null 2>&1; [ $? -eq 2 ]'
check "broken schema: exit status 2" 'echo "{\"type\": 5}" >"$tmp/broken.schema.json"; "$validate" "$tmp/broken.schema.json" "$proto/examples/key.json" >/dev/null 2>&1; [ $? -eq 2 ]'
echo "1..$n"
