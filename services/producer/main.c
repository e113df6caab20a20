/* main.c - member-producer: PostgreSQL logical replication (pgoutput) to Kafka.
 *
 * Start-up: settings (-c FILE, environment), a plain SQL connection and a
 * replication connection (TLS as libpq's sslmode says), the publication and the
 * tables checked (catalog.c), Kafka topics created when missing, then the slot:
 * created with an exported snapshot and the snapshot taken when snapshot.mode asks
 * for one (snapshot.c), then streaming (stream.c) until SIGTERM/SIGINT. A lost
 * PostgreSQL connection is retried with backoff and streaming resumes from the slot.
 * SIGTERM: stop reading, wait for Kafka to acknowledge, confirm, exit 0. A fatal
 * Kafka error exits 1 (the slot makes the restart safe). See docs/producer.md. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/cli.h"
#include "common/clock.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "services/producer/runtime.h"

#define prod_stop cli_stop

static void usage(FILE *out)
{
    fprintf(out,
            "usage: member-producer [-c FILE]\n"
            "\n"
            "Tails PostgreSQL logical replication (pgoutput) and publishes every change of the\n"
            "published tables to Kafka as a Debezium-compatible event, keyed by primary key; takes\n"
            "the initial snapshot when the slot is new. Settings come from FILE (see\n"
            "config/producer.conf) and the environment (EKKLESIA_<KEY>, libpq's PG* variables,\n"
            "KAFKA_BOOTSTRAP_SERVERS, KAFKA_<PROPERTY>).\n"
            "\n"
            "  -c, --config FILE   configuration file\n"
            "  -h, --help          this text\n"
            "\n"
            "Serves /healthz, /readyz, /metrics on http.port. Exit: 0 after SIGTERM/SIGINT,\n"
            "1 on a runtime failure, 2 on a usage or configuration error.\n");
}

static bool ready(void *ud, char *why, size_t len)
{
    producer *p = ud;
    switch (p->state) {
    case 1:
    case 2:
        if (!p->fatal)
            return true;
        snprintf(why, len, "kafka failed");
        return false;
    case 3:
        snprintf(why, len, "reconnecting to PostgreSQL");
        return false;
    default:
        snprintf(why, len, "starting");
        return false;
    }
}

static int connect_pg(producer *p)
{
    char err[512];
    PQfinish(p->repl);
    PQfinish(p->sql);
    p->repl = p->sql = NULL;
    p->sql = pg_connect_options(p->set.conninfo, false, PROD_SESSION_OPTIONS, err, sizeof err);
    if (p->sql)
        p->repl = pg_connect_options(p->set.conninfo, true, PROD_SESSION_OPTIONS, err, sizeof err);
    if (!p->sql || !p->repl) {
        log_error("%s", err);
        return -1;
    }
    snprintf(p->db, sizeof p->db, "%s", PQdb(p->sql));
    int v = PQserverVersion(p->repl);
    p->proto_version = v >= 160000 ? 4 : v >= 150000 ? 3 : v >= 140000 ? 2 : 1;
    log_info("connected to PostgreSQL %d.%d, database %s%s", v / 10000, v % 10000, p->db,
             PQsslInUse(p->repl) ? " (TLS)" : "");
    return 0;
}

typedef struct slot_info {
    bool exists, lost;
    uint64_t confirmed;
} slot_info;

static int read_slot(producer *p, slot_info *s)
{
    const char *params[] = { p->set.slot_name };
    PGresult *r = PQexecParams(p->sql,
                               "SELECT plugin, database, confirmed_flush_lsn, wal_status FROM pg_replication_slots"
                               " WHERE slot_name = $1",
                               1, NULL, params, NULL, NULL, 0);
    memset(s, 0, sizeof *s);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_error("reading pg_replication_slots: %s", PQerrorMessage(p->sql));
        rc = -1;
    } else if (PQntuples(r) == 1) {
        if (strcmp(PQgetvalue(r, 0, 0), "pgoutput") || strcmp(PQgetvalue(r, 0, 1), p->db)) {
            log_error("replication slot %s exists for plugin %s in database %s, not pgoutput in %s: choose another "
                      "postgres.slot_name or drop it", p->set.slot_name, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                      p->db);
            rc = -1;
        }
        s->exists = true;
        s->lost = !strcmp(PQgetvalue(r, 0, 3), "lost");
        if (!PQgetisnull(r, 0, 2))
            pg_lsn_parse(PQgetvalue(r, 0, 2), &s->confirmed);
    }
    PQclear(r);
    return rc;
}

static int ensure_topics(producer *p)
{
    const char **topics = calloc((size_t)p->ntables, sizeof *topics);
    char **owned = calloc((size_t)p->ntables, sizeof *owned);
    if (!topics || !owned)
        abort();
    for (int i = 0; i < p->ntables; i++) {
        size_t n = strlen(p->set.topic_prefix) + strlen(p->tables[i]) + 2;
        owned[i] = malloc(n);
        if (!owned[i])
            abort();
        snprintf(owned[i], n, "%s.%s", p->set.topic_prefix, p->tables[i]);
        topics[i] = owned[i];
    }
    char err[512], maxbytes[32];
    snprintf(maxbytes, sizeof maxbytes, "%lld", p->set.max_message_bytes + 65536);
    const char *const cfg[] = { "max.message.bytes", maxbytes, NULL };
    const char *const state_cfg[] = { "cleanup.policy", "compact", NULL };
    const char *const state[] = { p->set.state_topic };
    int rc = kafka_ensure_topics_config(p->rk, topics, p->ntables, (int)p->set.partitions,
                                        (int)p->set.replication_factor, cfg, 15000, err, sizeof err);
    if (rc == 0)
        rc = kafka_ensure_topics_config(p->rk, state, 1, 1, (int)p->set.replication_factor, state_cfg, 15000, err,
                                        sizeof err);
    if (rc != 0)
        log_error("kafka: %s", err);
    for (int i = 0; i < p->ntables; i++)
        free(owned[i]);
    free(owned);
    free(topics);
    return rc;
}

/* Creates the slot with an exported snapshot and takes the snapshot. 0 done, 1
 * stopped by a signal, -1 failed. A temporary slot (initial_only: a one-off snapshot,
 * memberctl's) goes with the connection, so that no failure leaves it holding WAL. */
static int take_snapshot(producer *p, uint64_t *start, bool temporary)
{
    char err[512], snapshot[128];
    uint64_t cp;
    if (pg_create_logical_slot(p->repl, p->set.slot_name, temporary, snapshot, sizeof snapshot, &cp, err,
                               sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    log_info("created %sreplication slot %s at %X/%X; taking the initial snapshot", temporary ? "temporary " : "",
             p->set.slot_name, (unsigned)(cp >> 32), (unsigned)cp);
    if (state_write(p, STATE_SNAPSHOT_RUNNING, cp) != 0)
        return -1;
    pos_init(&p->pos, cp);
    int rc = snapshot_run(p, snapshot, cp);
    if (rc != 0)
        return rc;
    if (state_write(p, STATE_SNAPSHOT_DONE, cp) != 0)
        return -1;
    *start = cp;
    return 0;
}

static int drop_slot(producer *p)
{
    char err[512];
    if (pg_drop_slot(p->sql, p->set.slot_name, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}

/* Decides between snapshot and streaming (snapshot.mode, the slot, the state topic).
 * 0: stream from *start; 1: stop (initial_only done, or a signal); -1: failed. */
static int prepare(producer *p, uint64_t *start)
{
    slot_info s;
    prod_state st;
    uint64_t st_lsn;
    if (read_slot(p, &s) != 0 || state_read(p, &st, &st_lsn) != 0)
        return -1;
    int mode = p->set.snapshot_mode;
    if (s.exists && s.lost) {
        if (mode != SNAP_WHEN_NEEDED) {
            log_error("replication slot %s was invalidated by the server (max_slot_wal_keep_size): changes were lost; "
                      "set snapshot.mode = \"when_needed\" to take a new snapshot, or drop the slot", p->set.slot_name);
            return -1;
        }
        log_warn("replication slot %s was invalidated: dropping it and taking a new snapshot", p->set.slot_name);
        if (drop_slot(p) != 0)
            return -1;
        s.exists = false;
    }
    if (mode == SNAP_NEVER) {
        if (!s.exists) {
            char err[512];
            if (pg_create_logical_slot(p->repl, p->set.slot_name, false, NULL, 0, &s.confirmed, err, sizeof err) != 0) {
                log_error("%s", err);
                return -1;
            }
            log_info("created replication slot %s (snapshot.mode = never)", p->set.slot_name);
        }
        *start = s.confirmed;
        pos_init(&p->pos, s.confirmed);
        return 0;
    }
    if (s.exists && st == STATE_SNAPSHOT_DONE && mode != SNAP_INITIAL_ONLY) {
        *start = s.confirmed;
        pos_init(&p->pos, s.confirmed);
        return 0;
    }
    if (s.exists) {
        log_warn("replication slot %s has no finished snapshot (%s): dropping it and taking the snapshot again",
                 p->set.slot_name, st == STATE_SNAPSHOT_RUNNING ? "it was interrupted" : "none recorded");
        if (drop_slot(p) != 0)
            return -1;
    }
    int rc = take_snapshot(p, start, mode == SNAP_INITIAL_ONLY);
    if (rc == 0 && mode == SNAP_INITIAL_ONLY) {
        char err[512];
        log_info("snapshot.mode = initial_only: dropping the temporary slot and stopping");
        if (pg_drop_own_slot(p->repl, p->set.slot_name, err, sizeof err) != 0)
            log_warn("%s (the server drops it when the connection ends)", err);
        return 1;
    }
    return rc;
}

/* Seconds a stop may take after its drain (the last status update, ending the stream,
 * librdkafka's shutdown) before the watchdog ends the process. */
#define PROD_STOP_AFTER_DRAIN_S 5

static int finish(producer *p)
{
    if (p->fatal) {
        log_error("%s", p->fatal_reason);
        return 1;
    }
    /* A stop by signal is bounded: stop_drain_ms for acknowledgements, then a few seconds
     * (with Kafka away, 30 s of draining and librdkafka's shutdown had kept it past
     * docker compose's 30 s grace). Anything unacknowledged is sent again after the
     * restart, from the confirmed position. */
    long long drain_ms = 30000;
    if (prod_stop) {
        drain_ms = p->set.stop_drain_ms;
        cli_stop_within((int)(drain_ms / 1000) + PROD_STOP_AFTER_DRAIN_S,
                        "confirming its position to PostgreSQL (Kafka did not answer in time); the restart sends "
                        "everything after the last confirmed position again");
    }
    if (!kout_drain(p, (int)drain_ms))
        log_warn("stopping with %lld event(s) not acknowledged by Kafka: they will be sent again",
                 p->inflight_events);
    if (p->repl && p->state == 2) {
        stream_send_status(p, false);
        PQputCopyEnd(p->repl, NULL);
        PQflush(p->repl);
    }
    uint64_t c = pos_advance(&p->pos);
    log_info("stopped; confirmed %X/%X", (unsigned)(c >> 32), (unsigned)c);
    return p->fatal ? 1 : 0;
}

static int run(producer *p)
{
    backoff bo;
    backoff_init(&bo, p->set.reconnect_base_ms, p->set.reconnect_max_ms);
    uint64_t start = 0;
    if (connect_pg(p) != 0)
        return 1;
    if (catalog_setup(p) != 0)
        return 2; /* the publication or a table is not as configured */
    if (ensure_topics(p) != 0)
        return 1;
    int rc = prepare(p, &start);
    if (rc != 0 || prod_stop)
        return rc < 0 ? (p->fatal ? finish(p) : 1) : finish(p);
    for (;;) {
        int64_t streamed_at = clock_mono_ms();
        rc = stream_run(p, start);
        if (rc <= 0 || prod_stop)
            break;
        /* connection lost: let Kafka acknowledge everything in flight (the positions
         * of a half-read transaction are then forgotten), and resume from the
         * confirmed position */
        p->state = 3;
        metric_add(p->m.reconnects, 1);
        while (!kout_drain(p, 5000) && !p->fatal)
            log_warn("waiting for Kafka to acknowledge %lld event(s) before reconnecting", p->inflight_events);
        if (p->fatal)
            break;
        uint64_t confirmed = pos_advance(&p->pos);
        pos_free(&p->pos);
        pos_init(&p->pos, confirmed);
        start = confirmed;
        p->in_txn = false;
        while (!prod_stop) {
            int64_t delay = backoff_next(&bo);
            log_warn("reconnecting to PostgreSQL in %lld ms", (long long)delay);
            for (int64_t until = clock_mono_ms() + delay; clock_mono_ms() < until && !prod_stop;)
                kout_poll(p, 100);
            if (prod_stop || connect_pg(p) != 0)
                continue;
            slot_info s;
            if (read_slot(p, &s) != 0)
                continue;
            if (!s.exists || s.lost) {
                snprintf(p->fatal_reason, sizeof p->fatal_reason,
                         "replication slot %s %s while the producer was away: restart it to take a new snapshot "
                         "(snapshot.mode = when_needed) or recreate the slot", p->set.slot_name,
                         s.exists ? "was invalidated" : "was dropped");
                p->fatal = 1;
            }
            break;
        }
        if (prod_stop || p->fatal)
            break;
        if (clock_mono_ms() - streamed_at > 10000) /* it had been streaming well */
            backoff_reset(&bo);
    }
    return finish(p);
}

int main(int argc, char **argv)
{
    const char *path;
    int exit_code = cli_start(argc, argv, "member-producer", usage, &path);
    if (exit_code >= 0)
        return exit_code;
    producer p = { 0 };
    p.stop = &prod_stop;
    cfg_error cerr;
    char buf[900];
    p.cf = cfg_open(path, &cerr);
    if (!p.cf || prod_settings_load(p.cf, &p.set, &cerr) != 0) {
        fprintf(stderr, "member-producer: %s\n", cfg_error_str(&cerr, buf, sizeof buf));
        cfg_close(p.cf);
        return 2;
    }
    char state_topic[512];
    if (!p.set.state_topic || !*p.set.state_topic) {
        snprintf(state_topic, sizeof state_topic, "%s.producer-state", p.set.topic_prefix);
        p.set.state_topic = state_topic;
    }
    prod_metrics_init(&p.m);
    p.rels.lookup = catalog_type_lookup;
    p.rels.lookup_ud = &p;
    p.dec = pgo_decoder_new();
    int rc = kout_open(&p);
    if (rc == 0) {
        cli_catch_stop_signals();
        char err[256];
        ops_server *ops = ops_server_start(p.set.http_bind, (int)p.set.http_port, ready, &p, err, sizeof err);
        if (!ops) {
            log_error("http: %s", err);
            rc = 1;
        } else {
            rc = run(&p);
            ops_server_stop(ops);
        }
        kout_close(&p);
    } else if (p.rk) { /* set up, but its wake-up pipe was not */
        rd_kafka_destroy(p.rk);
    }
    PQfinish(p.repl);
    PQfinish(p.sql);
    relcache_free(&p.rels);
    pgo_decoder_free(p.dec);
    pos_free(&p.pos);
    jbuf_free(&p.key);
    jbuf_free(&p.val);
    for (int i = 0; i < p.ntables; i++)
        free(p.tables[i]);
    free(p.tables);
    cfg_close(p.cf);
    return rc;
}
