#!/usr/bin/env bash
# deploy/compose/initdb.sh - run once by the postgres image's entrypoint on an empty
# data directory (mounted into /docker-entrypoint-initdb.d by docker-compose.yml):
# applies the demo schema the way scripts/migrate does and creates the producer's
# least-privilege role (db/roles/producer.sql) with the password from the compose secret.
set -euo pipefail
db=${POSTGRES_DB:-ekklesia}
psql_q() { psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "$db" "$@"; }
psql_q -c "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
for f in /ekklesia/db/migrations/*.sql; do
  name=$(basename "$f")
  psql_q -1 -f "$f" -c "INSERT INTO schema_migrations (name) VALUES ('$name') ON CONFLICT DO NOTHING" >/dev/null
  echo "initdb: applied $name"
done
pw_file=${EKKLESIA_PRODUCER_PASSWORD_FILE:-/run/secrets/pg_producer_password}
[ -s "$pw_file" ] || { echo "initdb: $pw_file is missing or empty" >&2; exit 1; }
psql_q -v producer_password="$(tr -d '\n' <"$pw_file")" -f /ekklesia/db/roles/producer.sql >/dev/null
echo "initdb: role ekklesia_producer and publication ekklesia_sync ready"
