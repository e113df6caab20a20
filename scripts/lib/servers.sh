# scripts/lib/servers.sh - start, wait for and stop the real servers the project runs
# on: PostgreSQL (Debian's postgresql-15) and Apache Kafka (KRaft, one combined
# broker/controller). Sourced by scripts/stack (the local stack) and tests/run (one
# set of servers per test run, in a temporary directory). Every wait is for a
# condition with a deadline, never a fixed sleep.

ekk_root=${ekk_root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
pg_bin=${PG_BIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
[ -x "$pg_bin/postgres" ] || pg_bin=/usr/lib/postgresql/15/bin

ekk_log() { printf '%s\n' "$*" >&2; }

# PostgreSQL refuses to run as root: as root we run it as the 'postgres' user that
# Debian's package creates.
pg_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
  until "$@" >/dev/null 2>&1; do
    if [ $(( $(date +%s%N) / 1000000 )) -ge $deadline ]; then
      ekk_log "timed out after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.1
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port on 127.0.0.1 nothing listens on, from a random start.
free_port() {
  local p=$(( 20000 + RANDOM % 30000 ))
  while port_open "$p"; do p=$(( p + 1 )); done
  echo "$p"
}

# tls_material DIR: a private CA and a server certificate for localhost/127.0.0.1
# (DIR/ca.crt, DIR/server.crt, DIR/server.key, DIR/server.pem = key + chain), made
# once. The stack and the tests use it for PostgreSQL and Kafka's SASL_SSL listener.
tls_material() {
  local dir=$1
  [ -f "$dir/server.pem" ] && return 0
  mkdir -p "$dir"
  (
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=ekklesia-sync local CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1 &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/server.key" \
      -out "$dir/server.csr" >/dev/null 2>&1 &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/san.ext" &&
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 825 -extfile "$dir/san.ext" -out "$dir/server.crt" >/dev/null 2>&1 &&
    openssl pkcs8 -topk8 -nocrypt -in "$dir/server.key" -out "$dir/server.pk8" >/dev/null 2>&1 &&
    cat "$dir/server.pk8" "$dir/server.crt" >"$dir/server.pem"
  ) || { ekk_log "could not make TLS certificates with openssl"; return 1; }
  chmod 644 "$dir/ca.crt" "$dir/server.crt"
}

# pg_init DIR PORT [SUPERUSER_PASSWORD_FILE] [TLS_DIR]: a cluster with
# wal_level=logical; with TLS_DIR (from tls_material), TLS on.
pg_init() {
  local dir=$1 port=$2 pwfile=${3:-} tls=${4:-}
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    local auth=(--auth-local=trust --auth-host=trust)
    if [ -n "$pwfile" ]; then
      [ "$(id -u)" -eq 0 ] && chown postgres: "$pwfile"
      auth=(--auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile")
    fi
    pg_as "$pg_bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 "${auth[@]}" \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
    mkdir -p "$dir/run"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/run"
    cat >>"$dir/data/postgresql.conf" <<CONF
# ekklesia-sync
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/run'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_slot_wal_keep_size = 4GB
wal_sender_timeout = 60s
fsync = off
synchronous_commit = on
full_page_writes = off
shared_buffers = 128MB
max_connections = 200
log_min_messages = warning
CONF
    if [ -n "$tls" ]; then
      install -m 600 "$tls/server.key" "$dir/data/server.key"
      install -m 644 "$tls/server.crt" "$dir/data/server.crt"
      [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/data/server.key" "$dir/data/server.crt"
      echo "ssl = on" >>"$dir/data/postgresql.conf"
    fi
  fi
}

pg_start() {
  local dir=$1 port=$2
  if ! pg_as "$pg_bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    pg_as "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "-p $port" -w -t 60 start \
      >/dev/null || { tail -20 "$dir/postgres.log" >&2; return 1; }
  fi
  wait_for 60 "PostgreSQL on port $port" "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port"
}

pg_stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  pg_as "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# kafka_init DIR PORT CONTROLLER_PORT [SASL_SSL_PORT TLS_DIR USER PASSWORD]: KRaft
# storage formatted once. With the optional arguments the broker also listens with
# SASL_SSL (PLAIN for USER/PASSWORD, the certificate from TLS_DIR). SCRAM credentials
# made by `kafka-storage format --add-scram` were refused to librdkafka 2.0.2 here
# (see docs/security.md), so the tests exercise PLAIN over TLS.
kafka_init() {
  local dir=$1 port=$2 cport=$3 sport=${4:-} tls=${5:-} user=${6:-} password=${7:-}
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ -n "$sport" ]; then
    listeners+=",SASL_SSL://127.0.0.1:$sport"
    advertised+=",SASL_SSL://localhost:$sport"
    protocols+=",SASL_SSL:SASL_SSL"
  fi
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<CONF
# Written by ekklesia-sync scripts/lib/servers.sh; one combined broker/controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
log.flush.interval.messages=9223372036854775807
CONF
  if [ -n "$sport" ]; then
    cat >>"$dir/server.properties" <<CONF
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$tls/server.pem
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$user="$password";
CONF
    chmod 600 "$dir/server.properties"
  fi
  cat >"$dir/log4j2.properties" <<CONF
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
CONF
  if [ ! -f "$dir/data/meta.properties" ]; then
    local id
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    id="A${id:1}" # never a leading '-', which the tool would take for an option
    java -cp "$ekk_root/.local/kafka/libs/*" kafka.tools.StorageTool format --cluster-id="$id" \
      -c "$dir/server.properties" >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; return 1; }
  fi
}

kafka_start() {
  local dir=$1 port=$2
  if [ -f "$dir/kafka.pid" ] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
    return 0
  fi
  : >"$dir/server.log"
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dekklesia.sync.kafka="$dir" \
    -cp "$ekk_root/.local/kafka/libs/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
  kafka_ready() { grep -q "Kafka Server started" "$dir/server.log" && port_open "$port"; }
  if ! wait_for 90 "Kafka on port $port" kafka_ready; then
    tail -20 "$dir/server.log" "$dir/stdout.log" >&2
    return 1
  fi
}

kafka_stop() { stop_pidfile "$1/kafka.pid"; }

# stop_pidfile FILE: SIGTERM the process in FILE, SIGKILL after 30 s.
stop_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    gone() { ! kill -0 "$pid" 2>/dev/null; }
    wait_for 30 "pid $pid to stop" gone || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
