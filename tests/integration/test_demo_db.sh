#!/usr/bin/env bash
# test_demo_db.sh - the demo membership database on the run's PostgreSQL: migrations
# apply once and again harmlessly, 1,000 seeded members with valid and unique
# kennitölur and Icelandic names, a second seed adds members without clashing, the
# producer role reads but cannot write, demo activity makes changes without failures.
set -uo pipefail
root=${EKKLESIA_TEST_ROOT:?run through tests/run}
export PGHOST=$EKKLESIA_TEST_PGHOST PGPORT=$EKKLESIA_TEST_PGPORT PGUSER=$EKKLESIA_TEST_PGUSER
db=demo_$$_$RANDOM
n=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fi; }
q() { psql -X -q -tA -d "$db" -c "$1" 2>&1; }
psql -X -q -d postgres -c "CREATE DATABASE $db" || exit 1
export PGDATABASE=$db
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; psql -X -q -d postgres -c "DROP ROLE IF EXISTS ekklesia_producer" >/dev/null 2>&1' EXIT

check "migrations apply" '"$root/scripts/migrate" 2>/dev/null'
check "migrations run again harmlessly" '"$root/scripts/migrate" 2>&1 | grep -q "up to date"'
check "Django table names" '[ "$(q "SELECT count(*) FROM information_schema.tables WHERE table_name IN (
  '\''membership_comrade'\'','\''membership_contactinfo'\'','\''membership_newcomradeaddress'\'','\''membership_newlocaladdress'\'',
  '\''membership_newforeignaddress'\'','\''membership_unionmembership'\'','\''membership_comradetitle'\'','\''billing_membershipfee'\'')")" = 8 ]'
check "every table has a primary key" '[ "$(q "SELECT count(*) FROM information_schema.tables t WHERE t.table_schema = '\''public'\'' AND t.table_type = '\''BASE TABLE'\''
  AND NOT EXISTS (SELECT 1 FROM information_schema.table_constraints c WHERE c.table_name = t.table_name AND c.constraint_type = '\''PRIMARY KEY'\'')")" = 0 ]'

check "seed 1,000 members" '"$root/scripts/seed" 1000 2>/dev/null && [ "$(q "SELECT count(*) FROM membership_comrade")" = 1000 ]'
# Kennitala check digit in SQL: weights 3,2,7,6,5,4,3,2; placeholders start 9999.
valid_sql="SELECT count(*) FROM membership_comrade WHERE ssn NOT LIKE '9999%' AND (
  (11 - (substr(ssn,1,1)::int*3 + substr(ssn,2,1)::int*2 + substr(ssn,3,1)::int*7 + substr(ssn,4,1)::int*6 +
         substr(ssn,5,1)::int*5 + substr(ssn,6,1)::int*4 + substr(ssn,7,1)::int*3 + substr(ssn,8,1)::int*2) % 11) % 11
   <> substr(ssn,9,1)::int OR substr(ssn,10,1) NOT IN ('0','9') OR length(ssn) <> 10)"
check "every kennitala has a valid check digit" '[ "$(q "$valid_sql")" = 0 ]'
check "some placeholder 9999 kennitölur" '[ "$(q "SELECT count(*) FROM membership_comrade WHERE ssn LIKE '\''9999%'\''")" -ge 1 ]'
check "names with Icelandic letters" '[ "$(q "SELECT count(*) FROM membership_comrade WHERE name ~ '\''[ÞÐÆÖáíúóéýþðæö]'\''")" -gt 500 ]'
check "contact info, addresses, fees, unions, titles" '[ "$(q "SELECT (SELECT count(*) FROM membership_contactinfo) = 1000
  AND (SELECT count(*) FROM membership_newlocaladdress) > 800 AND (SELECT count(*) FROM membership_newforeignaddress) > 20
  AND (SELECT count(*) FROM billing_membershipfee) > 500 AND (SELECT count(*) FROM membership_unionmembership) > 100
  AND (SELECT count(*) FROM membership_comradetitle) > 300")" = t ]'
check "a few soft-deleted members" '[ "$(q "SELECT count(*) BETWEEN 5 AND 80 FROM membership_comrade WHERE deleted_at IS NOT NULL")" = t ]'
check "a second seed adds 500 more without clashes" '"$root/scripts/seed" 500 2>/dev/null && [ "$(q "SELECT count(*), count(DISTINCT ssn) FROM membership_comrade")" = "1500|1500" ]'

check "producer role applies" 'psql -X -q -d "$db" -v producer_password=pw -f "$root/db/roles/producer.sql" >/dev/null 2>&1'
as_producer() { PGUSER=ekklesia_producer PGPASSWORD=pw psql -X -q -tA -h 127.0.0.1 -d "$db" -c "$1" 2>&1; }
check "producer role reads the published tables" '[ "$(as_producer "SELECT count(*) FROM membership_comrade")" = 1500 ]'
check "producer role cannot write" '[[ "$(as_producer "UPDATE membership_comrade SET name = name WHERE id = 1")" == *"permission denied"* ]]'
check "producer role is no superuser but may replicate" '[ "$(q "SELECT rolsuper::text || rolreplication::text FROM pg_roles WHERE rolname = '\''ekklesia_producer'\''")" = falsetrue ]'
check "the publication covers the member tables and the reference tables the mapping reads" '[ "$(q "SELECT count(*) FROM pg_publication_tables WHERE pubname = '\''ekklesia_sync'\''")" = 15 ]'

before=$(q "SELECT count(*) FROM membership_comrade")
out=$("$root/build/bin/member-seed" activity --rate 50 --duration 2 2>&1)
check "demo activity makes changes without failures" 'echo "$out" | grep -q ", 0 failed" && echo "$out" | grep -Eq "done, (9[0-9]|1[0-9][0-9]) changes"'
check "demo activity prints no member data" '! echo "$out" | grep -Eq "[0-9]{10}|@|dóttir|son "'
check "bad arguments are a usage error" '"$root/build/bin/member-seed" --count nope >/dev/null 2>&1; [ $? -eq 2 ]'
echo "1..$n"
