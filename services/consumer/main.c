/* main.c - member-consumer: applies change events from Kafka to Firestore.
 *
 * Reads its settings and mapping (-c FILE, environment), joins the consumer group
 * (cooperative-sticky, incremental assign, optional static membership), and runs one
 * loop: poll records into per-partition queues until a batch is full or its time is
 * up, apply the batch (apply.c), store the offsets of what is finished (partq.c),
 * pause partitions that back off or buffer too much. SIGTERM/SIGINT: the batch in
 * flight finishes, applied offsets are committed, the consumer leaves the group, exit 0.
 * See docs/consumer.md. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/clock.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/log.h"
#include "services/consumer/consumer.h"

#define cons_stop cli_stop

static void cons_usage(FILE *out)
{
    fprintf(out,
            "usage: member-consumer [-c FILE]\n"
            "\n"
            "Applies change events (Debezium JSON) from Kafka to Firestore, batched, in order\n"
            "per key, never letting an older event overwrite a newer state; dead-letters what\n"
            "it cannot apply. Settings and the mapping come from FILE (see config/consumer.conf)\n"
            "and the environment (EKKLESIA_<KEY>, FIRESTORE_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT,\n"
            "GOOGLE_APPLICATION_CREDENTIALS, KAFKA_BOOTSTRAP_SERVERS, KAFKA_<PROPERTY>).\n"
            "\n"
            "  -c, --config FILE   configuration file\n"
            "  -h, --help          this text\n"
            "\n"
            "Serves /healthz, /readyz, /metrics on http.port. Exit: 0 after SIGTERM/SIGINT,\n"
            "1 on a runtime failure, 2 on a usage or configuration error.\n");
}

/* --- the consumer group ----------------------------------------------------- */

static void cons_commit(cons *c, const char *why)
{
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("committing offsets (%s): %s", why, rd_kafka_err2str(err));
}

static void cons_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                           void *opaque)
{
    cons *c = opaque;
    bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *e = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++)
            partq_add(c, parts->elems[i].topic, parts->elems[i].partition);
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        /* librdkafka keeps an application pause across revoke and assign: a partition
         * paused (backing off, or full) when it was revoked would come back paused for
         * good, its new queue not knowing it */
        rd_kafka_resume_partitions(rk, parts);
        log_info("assigned %d partition(s)", parts->cnt);
    } else {
        if (!rd_kafka_assignment_lost(rk))
            cons_commit(c, "revoke");
        for (int i = 0; i < parts->cnt; i++)
            partq_remove(c, parts->elems[i].topic, parts->elems[i].partition);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
        log_info("revoked %d partition(s)", parts->cnt);
    }
    if (e) {
        log_error("rebalance: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    c->assigned = c->parts != NULL;
    size_t owned = 0;
    for (partq *q = c->parts; q; q = q->next)
        owned++;
    cm_assigned(owned);
}

static int cons_subscribe(cons *c)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    char *list = strdup(c->set.topics), *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (*t)
            rd_kafka_topic_partition_list_add(l, t, RD_KAFKA_PARTITION_UA);
    }
    free(list);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        log_error("subscribing to %s: %s", c->set.topics, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static int cons_kafka(cons *c, cfg_file *cf)
{
    cfg_error cerr;
    rd_kafka_conf_t *conf = kafka_conf_new(cf, "member-consumer", &cerr);
    if (!conf) {
        fprintf(stderr, "member-consumer: %s: %s\n", cerr.where, cerr.reason);
        return 2;
    }
    struct { const char *k, *v; } props[] = {
        { "group.id", c->set.group_id },
        { "partition.assignment.strategy", "cooperative-sticky" },
        { "enable.auto.offset.store", "false" },
        { "enable.auto.commit", "true" },
        { "auto.commit.interval.ms", "1000" },
        { "group.instance.id", c->set.group_instance_id },
    };
    for (size_t i = 0; i < sizeof props / sizeof *props; i++)
        if (props[i].v && kafka_conf_set(conf, props[i].k, props[i].v, &cerr) != 0) {
            fprintf(stderr, "member-consumer: %s: %s\n", cerr.where, cerr.reason);
            rd_kafka_conf_destroy(conf);
            return 2;
        }
    /* defaults of ours where the file and the environment left librdkafka's */
    if (!getenv("KAFKA_AUTO_OFFSET_RESET")) /* a topic property: not readable from conf */
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
    /* bounded memory: librdkafka keeps what it fetched ahead until the loop takes it, and a
     * fetch response whole until its last record is taken; small fetches and a small
     * queue keep that small, cons_wake_fetchers keeps them fast (docs/consumer.md) */
    kafka_conf_default(conf, cf, "queued.max.messages.kbytes", "65536", "1536");
    char mmb[32] = "1000000", fmb[32];
    size_t mlen = sizeof mmb;
    rd_kafka_conf_get(conf, "message.max.bytes", mmb, &mlen);
    long long fetch = atoll(mmb) > 1048576 ? atoll(mmb) : 1048576; /* librdkafka wants >= message.max.bytes */
    snprintf(fmb, sizeof fmb, "%lld", fetch);
    kafka_conf_default(conf, cf, "fetch.max.bytes", "52428800", fmb);
    kafka_conf_default(conf, cf, "fetch.message.max.bytes", "1048576", "65536");
    rd_kafka_conf_set_rebalance_cb(conf, cons_rebalance);
    rd_kafka_conf_set_opaque(conf, c);
    char err[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!c->rk) {
        fprintf(stderr, "member-consumer: kafka: %s\n", err);
        return 2;
    }
    rd_kafka_poll_set_consumer(c->rk);
    return cons_subscribe(c) == 0 ? 0 : 1;
}

/* --- Firestore -------------------------------------------------------------- */

static int cons_firestore(cons *c)
{
    char err[512], base[600];
    const char *creds = getenv("GOOGLE_APPLICATION_CREDENTIALS");
    snprintf(base, sizeof base, "%s", c->set.base_url);
    if (c->set.emulator_host && *c->set.emulator_host) {
        c->auth = gauth_new_emulator();
        snprintf(base, sizeof base, "http://%s", c->set.emulator_host);
    } else if (creds && *creds) {
        c->auth = gauth_new_service_account(creds, c->set.token_uri, GAUTH_SCOPE_DATASTORE, err, sizeof err);
    } else {
        c->auth = gauth_new_metadata(c->set.metadata_host, err, sizeof err);
    }
    if (!c->auth) {
        fprintf(stderr, "member-consumer: credentials: %s\n", err);
        return 2;
    }
    fs_options o = { .base_url = base, .project = c->set.project, .database = c->set.database, .auth = c->auth,
                     .timeout_ms = (long)c->set.timeout_ms, .max_inflight = (int)c->set.max_inflight };
    c->fs = fs_client_new(&o, err, sizeof err);
    if (!c->fs) {
        fprintf(stderr, "member-consumer: %s\n", err);
        return 2;
    }
    log_info("writing to %s, project %s, database %s (%s credentials)", c->set.emulator_host ? "the emulator" : base,
             c->set.project, c->set.database,
             gauth_get_kind(c->auth) == GAUTH_EMULATOR ? "emulator"
             : gauth_get_kind(c->auth) == GAUTH_SERVICE_ACCOUNT ? "service-account" : "metadata-server");
    return 0;
}

static bool cons_ready(void *ud, char *why, size_t len)
{
    cons *c = ud;
    if (c->auth_failing) {
        snprintf(why, len, "firestore authentication failing");
        return false;
    }
    int64_t idle = clock_mono_ms() - c->last_progress_ms;
    if (c->buffered > 0 && idle > 120000) {
        snprintf(why, len, "no progress for %lld s with %zu records waiting", (long long)(idle / 1000), c->buffered);
        return false;
    }
    return true;
}

/* --- the loop --------------------------------------------------------------- */

static void cons_take(cons *c, rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn("consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return;
    }
    partq *q = partq_add(c, rd_kafka_topic_name(m->rkt), m->partition);
    partq_push(c, q, m);
}

static size_t cons_eligible(cons *c, int64_t now)
{
    size_t n = 0;
    for (partq *q = c->parts; q; q = q->next)
        if (q->blocked_until_ms <= now)
            for (size_t i = 0; i < q->count; i++) {
                const cev *e = partq_at(q, i);
                n += e->state != CEV_DONE && e->not_before_ms <= now; /* a waiting key holds back a few more */
            }
    return n;
}

/* librdkafka 2.0 does not fetch again for up to a second once its queue has passed
 * queued.max.messages.kbytes: the broker thread sleeps until a request, a response or
 * that second wakes it. When the loop has taken all librdkafka holds while partitions
 * have more on the broker (the high watermark the last fetch brought is past what was
 * taken), a ListOffsets request to their leaders wakes those threads, and they fetch at
 * once. The loop has nothing to do meanwhile, so the round trip costs nothing; a
 * consumer at the end of its partitions sends none, and a partition is woken once per
 * position (a transaction's commit marker ends a log past its last record for good). */
#define CONS_WAKE_TIMEOUT_MS 200

static void cons_wake_fetchers(cons *c)
{
    int64_t now = clock_mono_ms();
    rd_kafka_topic_partition_list_t *l = NULL;
    for (partq *q = c->parts; q; q = q->next) {
        int64_t lo, hi;
        if (q->kafka_paused || q->blocked_until_ms > now || q->next_offset < 0 || q->woken_at == q->next_offset ||
            rd_kafka_get_watermark_offsets(c->rk, q->topic, q->partition, &lo, &hi) != 0 || hi <= q->next_offset)
            continue;
        q->woken_at = q->next_offset;
        if (!l)
            l = rd_kafka_topic_partition_list_new(8);
        rd_kafka_topic_partition_list_add(l, q->topic, q->partition)->offset = -1; /* the latest */
    }
    if (!l)
        return;
    rd_kafka_offsets_for_times(c->rk, l, CONS_WAKE_TIMEOUT_MS); /* one request per leader */
    rd_kafka_topic_partition_list_destroy(l);
}

/* Polls until a batch's worth is waiting or batch_max_ms passed. */
static void cons_poll(cons *c)
{
    int64_t now = clock_mono_ms(), deadline = now + c->set.batch_max_ms;
    size_t want = (size_t)c->set.batch_max_events, have = cons_eligible(c, now);
    bool woke = false;
    while (!cons_stop && have < want && c->buffered < (size_t)c->set.max_buffered) {
        int64_t left = deadline - clock_mono_ms();
        int timeout = left > 0 ? (int)left : 0;
        if (have == 0 && timeout < 100)
            timeout = 100; /* nothing to do: wait for records without spinning */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, have == 0 && !woke ? 0 : timeout);
        if (m) {
            cons_take(c, m);
            have++;
        } else if (have == 0 && !woke) {
            cons_wake_fetchers(c); /* librdkafka's queue is empty: fetch now if there is more */
            woke = true;
        } else if (left <= 0 || have == 0) {
            break;
        }
    }
    /* and what has arrived of the next batch (without waiting): it is decoded while this
     * batch's requests are in flight (apply_decode_ahead) */
    size_t ahead = 2 * want;
    while (!cons_stop && have >= want && have < ahead && c->buffered < (size_t)c->set.max_buffered) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
        if (!m)
            break;
        cons_take(c, m);
        have++;
    }
}

#define CONS_WAITING_KEYS 256 /* keys of one partition waiting for a parent, at most */

static bool cons_key_in(const cev *e, cev *const *keys, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (cev_same_key(keys[k], e))
            return true;
    return false;
}

/* Takes up to max pending events from the partitions that are not backing off. An event
 * waiting for its parent row is left out until its time, and so is every later event of
 * its key; a partition with more waiting keys than that is left for later altogether. */
static size_t cons_collect(cons *c, cev **batch, partq **qs, size_t max)
{
    size_t n = 0;
    int64_t now = clock_mono_ms();
    /* an event to apply alone goes first once it heads its partition: taken only when a
     * batch was empty, it would wait for as long as any partition before its own had
     * something pending */
    for (partq *q = c->parts; q; q = q->next) {
        if (q->blocked_until_ms > now)
            continue;
        for (size_t i = 0; i < q->count; i++) {
            cev *e = partq_at(q, i);
            if (e->state == CEV_DONE)
                continue;
            if (e->isolate && e->not_before_ms <= now) {
                q->blocked_until_ms = 0;
                batch[0] = e;
                qs[0] = q;
                return 1;
            }
            break;
        }
    }
    for (partq *q = c->parts; q && n < max; q = q->next) {
        if (q->blocked_until_ms > now)
            continue;
        q->blocked_until_ms = 0;
        cev *waiting[CONS_WAITING_KEYS];
        size_t nwaiting = 0;
        for (size_t i = 0; i < q->count && n < max; i++) {
            cev *e = partq_at(q, i);
            if (e->state == CEV_DONE)
                continue;
            if (e->not_before_ms > now || cons_key_in(e, waiting, nwaiting)) {
                if (nwaiting == CONS_WAITING_KEYS)
                    break;
                if (!cons_key_in(e, waiting, nwaiting))
                    waiting[nwaiting++] = e;
                continue;
            }
            if (e->isolate) {
                if (n == 0) { /* alone in its batch */
                    batch[0] = e;
                    qs[0] = q;
                    return 1;
                }
                break;
            }
            batch[n] = e;
            qs[n++] = q;
        }
    }
    return n;
}

/* What is held back, for the operator: partitions backing off, and buffered events that
 * failed at least once and are not finished (waiting for a parent row, retrying), with
 * the age of the oldest first failure - a row whose parent never comes shows there. */
static void cons_report_held(cons *c, int64_t now_mono)
{
    size_t backing_off = 0, retrying = 0;
    int64_t oldest = 0, now = clock_wall_ms();
    for (partq *q = c->parts; q; q = q->next) {
        backing_off += q->blocked_until_ms > now_mono;
        for (size_t i = 0; i < q->count; i++) {
            const cev *e = partq_at(q, i);
            if (e->state == CEV_DONE || !e->first_fail_ms)
                continue;
            retrying++;
            if (!oldest || e->first_fail_ms < oldest)
                oldest = e->first_fail_ms;
        }
    }
    cm_held(backing_off, retrying, oldest ? (double)(now - oldest) / 1000.0 : 0);
}

static void cons_housekeeping(cons *c, int64_t *last_lag_ms)
{
    int64_t now = clock_mono_ms();
    bool lag = now - *last_lag_ms >= 1000;
    for (partq *q = c->parts; q; q = q->next) {
        partq_advance(c, q);
        partq_flow(c, q);
        if (lag) {
            int64_t lo, hi;
            if (rd_kafka_get_watermark_offsets(c->rk, q->topic, q->partition, &lo, &hi) == 0 && hi >= 0) {
                int64_t pos = q->count ? partq_at(q, 0)->offset : q->stored_offset >= 0 ? q->stored_offset : hi;
                cm_lag(q->topic, q->partition, hi > pos ? hi - pos : 0);
            }
        }
    }
    if (lag) {
        cons_report_held(c, now);
        *last_lag_ms = now;
    }
}

static int cons_run(cons *c)
{
    size_t max = (size_t)c->set.batch_max_events;
    cev **batch = calloc(max, sizeof *batch);
    partq **qs = calloc(max, sizeof *qs);
    int64_t last_lag = 0;
    while (!cons_stop) {
        int64_t t0 = clock_mono_us();
        cons_poll(c);
        log_debug("polled %lld us, %zu buffered", (long long)(clock_mono_us() - t0), c->buffered);
        if (cons_stop)
            break; /* no new batch once the stop is asked for */
        size_t n = cons_collect(c, batch, qs, max);
        if (n) {
            apply_batch(c, batch, qs, n);
        } else if (c->buffered > 0) { /* only events waiting for their parents: wait a little */
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, PARTQ_PARENT_RETRY_MS / 2);
            if (m)
                cons_take(c, m);
        }
        cons_housekeeping(c, &last_lag);
    }
    free(batch);
    free(qs);
    return 0;
}

/* Seconds from the stop signal to the exit, at most: within docker compose's 30 s grace
 * (deploy/k8s gives 60 s). */
#define CONS_STOP_BUDGET_S 25

static void cons_shutdown(cons *c)
{
    int64_t t0 = clock_mono_ms();
    log_info("stopping: committing applied offsets and leaving the group");
    for (partq *q = c->parts; q; q = q->next)
        partq_advance(c, q);
    cons_commit(c, "shutdown");
    rd_kafka_consumer_close(c->rk);
    partq_free_all(c);
    rd_kafka_destroy(c->rk);
    log_info("stopped after %lld ms", (long long)(clock_mono_ms() - t0));
}

static int cons_load(cons *c, const char *path, cfg_file **cfp)
{
    cfg_error err;
    char buf[1024];
    cfg_file *cf = cfg_open(path, &err);
    if (!cf || cons_settings_load(cf, &c->set, &err) != 0 || !(c->mc = map_load(cf, cfg_setting(cf, "mapping"), &err))) {
        fprintf(stderr, "member-consumer: %s\n", cfg_error_str(&err, buf, sizeof buf));
        if (cf)
            cfg_close(cf);
        return 2;
    }
    c->read_mask = map_read_mask(c->mc);
    *cfp = cf;
    return 0;
}

int main(int argc, char **argv)
{
    const char *path;
    int exit_code = cli_start(argc, argv, "member-consumer", cons_usage, &path);
    if (exit_code >= 0)
        return exit_code;
    /* No fast bins: glibc merges them on every allocation of 1 kB or more (each
     * record's copy), walking all the small blocks jansson freed since: that merging
     * was 14% of the consumer's CPU (bench/consumer with BENCH_PERF). */
    mallopt(M_MXFAST, 0);
    cons c = { 0 };
    cfg_file *cf = NULL;
    int rc = cons_load(&c, path, &cf);
    if (rc == 0)
        rc = cons_firestore(&c);
    if (rc == 0)
        rc = cons_kafka(&c, cf);
    char err[512];
    if (rc == 0 && !(c.dlq = dlq_new(cf, &c.set, err, sizeof err))) {
        fprintf(stderr, "member-consumer: %s\n", err);
        rc = 2;
    }
    ops_server *ops = NULL;
    if (rc == 0 && !(ops = ops_server_start(c.set.http_bind, (int)c.set.http_port, cons_ready, &c, err, sizeof err))) {
        fprintf(stderr, "member-consumer: http: %s\n", err);
        rc = 1;
    }
    if (rc == 0) {
        cli_catch_stop_signals();
        /* armed now, counted from the stop signal: a batch that outlasts it (Firestore or
         * Kafka not answering) cannot push the exit past the budget */
        cli_stop_within(CONS_STOP_BUDGET_S, "its batch, its final commit or leaving the group (Firestore or Kafka "
                                            "did not answer in time); the next owner of its partitions reads from "
                                            "the last committed offsets and skips what was applied");
        rate_init(&c.rate, c.set.max_writes_per_second, c.set.ramp, c.set.ramp_start);
        fs_set_idle(c.fs, apply_decode_ahead, &c);
        c.last_progress_ms = clock_mono_ms();
        log_info("consuming %s as group %s (http port %d)", c.set.topics, c.set.group_id, ops_server_port(ops));
        rc = cons_run(&c);
        cons_shutdown(&c);
    } else if (c.rk) {
        rd_kafka_destroy(c.rk);
    }
    ops_server_stop(ops);
    dlq_free(c.dlq);
    apply_free(&c);
    fs_client_free(c.fs);
    gauth_free(c.auth);
    map_free(c.mc);
    json_decref(c.read_mask);
    cfg_close(cf);
    return rc;
}
