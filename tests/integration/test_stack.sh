#!/usr/bin/env bash
# test_stack.sh - the local stack as a newcomer uses it: `scripts/stack up` (what
# `make up` runs after building) brings every part up and writes the env file, a
# second `up` is harmless and quick, `down` leaves no process of the stack running.
# Runs in its own state directory on free ports, never the developer's .local/.
set -uo pipefail
root=${EKKLESIA_TEST_ROOT:?run through tests/run}
ekk_root=$root
. "$root/scripts/lib/servers.sh"

dir=$(mktemp -d "${EKKLESIA_TEST_TMPDIR:-/tmp}/stack.XXXXXX")
chmod 755 "$dir"
export EKKLESIA_STACK_DIR=$dir
export EKKLESIA_STACK_PG_PORT=$(free_port) EKKLESIA_STACK_KAFKA_PORT=$(free_port)
export EKKLESIA_STACK_KAFKA_CONTROLLER_PORT=$(free_port) EKKLESIA_STACK_FIRESTORE_PORT=$(free_port)
export EKKLESIA_STACK_PRODUCER_PORT=$(free_port) EKKLESIA_STACK_CONSUMER_PORTS="$(free_port) $(free_port)"
unset KAFKA_BOOTSTRAP_SERVERS
n=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fi; }
cleanup() { "$root/scripts/stack" down >/dev/null 2>&1; rm -rf "$dir"; }
trap cleanup EXIT

"$root/scripts/stack" up >"$dir/up1.log" 2>&1
rc=$?
check "first up succeeds" '[ $rc -eq 0 ] || { tail -30 "$dir/up1.log"; false; }'
check "env file has every contract variable" \
  'for v in PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE KAFKA_BOOTSTRAP_SERVERS FIRESTORE_EMULATOR_HOST GOOGLE_CLOUD_PROJECT; do grep -q "^export $v=" "$dir/env" || { echo "# missing $v"; exit 1; }; done; true'
check "env file is private" '[ "$(stat -c %a "$dir/env")" = 600 ]'
admin_sql() { PGPASSWORD=$(cat "$dir/secrets/postgres") PGSSLMODE=require psql -X -h 127.0.0.1 -p "$EKKLESIA_STACK_PG_PORT" -U postgres -d ekklesia -tAc "$1" 2>&1; }
check "PostgreSQL answers over TLS with wal_level=logical" '[ "$(admin_sql "SHOW wal_level")" = logical ]'
check "the superuser needs its password over TCP" \
  '! PGPASSWORD=wrong psql -X -h 127.0.0.1 -p "$EKKLESIA_STACK_PG_PORT" -U postgres -d ekklesia -tAc "SELECT 1" >/dev/null 2>&1'
if [ -f "$root/db/roles/producer.sql" ]; then
  check "the env file reaches the database as a least-privilege replication role" \
    '[ "$(set -a; . "$dir/env"; psql -X -tAc "SELECT rolsuper::text || rolreplication::text FROM pg_roles WHERE rolname = current_user" 2>&1)" = falsetrue ]'
fi
check "Kafka listens" 'port_open "$EKKLESIA_STACK_KAFKA_PORT"'
if [ -x "$root/build/bin/firestore-emulator" ]; then
  check "Firestore emulator listens" 'port_open "$EKKLESIA_STACK_FIRESTORE_PORT"'
fi
if [ -x "$root/build/bin/member-producer" ]; then
  check "producer is ready" 'curl -fsS "http://127.0.0.1:$EKKLESIA_STACK_PRODUCER_PORT/readyz" >/dev/null'
fi
if [ -x "$root/build/bin/member-producer" ] && [ -x "$root/build/bin/member-consumer" ]; then
  # the whole pipeline: PostgreSQL -> member-producer -> Kafka -> member-consumer -> Firestore
  project=$(. "$dir/env"; echo "$GOOGLE_CLOUD_PROJECT")
  doc_url="http://127.0.0.1:$EKKLESIA_STACK_FIRESTORE_PORT/v1/projects/$project/databases/(default)/documents/members/0101019999"
  doc_has() { curl -fsS "$doc_url" 2>/dev/null | grep -q -- "$1"; }
  admin_sql "BEGIN; WITH c AS (INSERT INTO membership_comrade (name, ssn, birthday) VALUES ('Þórunn Prófsdóttir', '0101019999', '2001-01-01') RETURNING id) INSERT INTO membership_contactinfo (comrade_id, email, phone) SELECT id, 'thorunn@example.is', '5551234' FROM c; COMMIT;" >/dev/null
  check "a new member reaches Firestore through the whole pipeline" \
    'wait_for 90 "the new member in Firestore" doc_has "thorunn@example.is" && doc_has "Þórunn Prófsdóttir"'
  admin_sql "UPDATE membership_contactinfo SET email = 'thorunn.ny@example.is' WHERE comrade_id = (SELECT id FROM membership_comrade WHERE ssn = '0101019999')" >/dev/null
  check "a changed e-mail follows" 'wait_for 60 "the new e-mail in Firestore" doc_has "thorunn.ny@example.is"'
  seeded_doc() { curl -fsS "http://127.0.0.1:$EKKLESIA_STACK_FIRESTORE_PORT/v1/projects/$project/databases/(default)/documents/members/$1" 2>/dev/null | grep -q '"django_id"'; }
  ssn=$(admin_sql "SELECT ssn FROM membership_comrade WHERE deleted_at IS NULL AND ssn <> '0101019999' AND ssn NOT LIKE '9999%' ORDER BY id DESC LIMIT 1")
  check "the seeded members arrived through the initial snapshot" 'wait_for 60 "a seeded member in Firestore" seeded_doc "$ssn"'
  # every event of every table applied or deliberately skipped: no partition waits for
  # a parent that will never come (the placeholders' rows)
  caught_up() { (set -a; . "$dir/env"; set +a; "$root/build/bin/memberctl" status 2>/dev/null) |
    awk '$1 ~ /^ekklesia\.public\./ { n++; if ($4 != 0) bad = 1 } END { exit (bad || n < 8) }'; }
  check "the consumers catch up on every table" 'wait_for 90 "consumer lag 0 on every topic" caught_up'
  # a write workload (joins, moves, new e-mails and phones, fees, departures), then
  # Firestore must equal PostgreSQL member by member, field by field, by an oracle
  # written apart from the consumer's mapping (tests/support/compare-members)
  EKKLESIA_STACK_DIR=$dir "$root/scripts/demo-activity" --rate 100 --duration 15 >"$dir/activity.log" 2>&1
  check "demo activity ran without failures" 'grep -q ", 0 failed" "$dir/activity.log"'
  target=$(admin_sql "SELECT pg_current_wal_lsn()")
  slot_passed() { [ "$(admin_sql "SELECT confirmed_flush_lsn >= '$target' FROM pg_replication_slots WHERE slot_name = 'ekklesia_sync'")" = t ]; }
  check "the producer has every change in Kafka (slot past the workload)" 'wait_for 60 "the slot to pass $target" slot_passed'
  check "after the workload the consumers catch up" 'wait_for 120 "consumer lag 0 on every topic" caught_up'
  compare() { (set -a; . "$dir/env"; set +a; PGUSER=postgres PGPASSWORD=$(cat "$dir/secrets/postgres") \
    "$root/tests/support/compare-members" "$FIRESTORE_EMULATOR_HOST" "$GOOGLE_CLOUD_PROJECT") >"$dir/compare.log" 2>&1; }
  compare; cmp_rc=$?
  check "Firestore equals PostgreSQL, member by member ($(tail -1 "$dir/compare.log"))" \
    '[ $cmp_rc -eq 0 ] || { head -20 "$dir/compare.log"; false; }'
fi

start=$(date +%s%N)
"$root/scripts/stack" up >"$dir/up2.log" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "second up is harmless (${ms} ms)" '[ $rc -eq 0 ] && [ $ms -lt 30000 ]'
check "second up started no second PostgreSQL" '[ "$(pgrep -fc -- "$dir/pg/data")" -le 1 ]'

"$root/scripts/stack" down >"$dir/down.log" 2>&1
rc=$?
check "down succeeds" '[ $rc -eq 0 ]'
gone() { ! pgrep -f -- "$dir" >/dev/null; }
check "down leaves no process of the stack" 'wait_for 10 "stack processes to exit" gone || { pgrep -af -- "$dir"; false; }'
echo "1..$n"
