/* test_consumer.c - member-consumer against the real Kafka broker and the project's
 * Firestore emulator: poison events dead-lettered with Connect's headers and the
 * original bytes while everything after them is applied; order per key over many keys
 * and partitions; a replay from the beginning that changes nothing; 20% injected
 * Firestore failures with nothing dead-lettered; portal-owned fields surviving; soft
 * and hard deletes; SIGTERM leaving the group promptly with exit 0; three consumers in
 * a group, one killed with SIGKILL mid-work and another stopped and started, ending
 * with every document at its last version and none ever seen going backwards;
 * authentication failures turning readiness off without dead-lettering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>

#include "common/clock.h"
#include "common/kafka.h"
#include "tests/support/harness.h"

#define PROJECT "itest"

typedef struct fixture {
    char prefix[64], group[96];
    pid_t emu, consumer;
    int emu_port, http_port;
    rd_kafka_t *producer;
} fixture;

static rd_kafka_t *kafka(rd_kafka_type_t type, const char *group)
{
    cfg_error cerr;
    rd_kafka_conf_t *conf = kafka_conf_new(NULL, "test-consumer", &cerr);
    assert_non_null(conf);
    kafka_conf_set(conf, "message.max.bytes", "4000000", &cerr);
    if (type == RD_KAFKA_PRODUCER) {
        kafka_conf_set(conf, "partitioner", "murmur2_random", &cerr);
        kafka_conf_set(conf, "linger.ms", "5", &cerr);
    } else {
        kafka_conf_set(conf, "group.id", group, &cerr);
        kafka_conf_set(conf, "enable.auto.commit", "false", &cerr);
        kafka_conf_set(conf, "auto.offset.reset", "earliest", &cerr);
    }
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    assert_non_null(rk);
    return rk;
}

/* Topics with room for a 2 MB record (max.message.bytes), as a real deployment
 * that wants such records dead-lettered needs. */
static void create_topic(rd_kafka_t *rk, const char *name, int partitions)
{
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, 1, err, sizeof err);
    assert_non_null(nt);
    rd_kafka_NewTopic_set_config(nt, "max.message.bytes", "4000000");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    assert_non_null(ev);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    assert_int_equal(n, 1);
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[0]);
    assert_true(e == 0 || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS);
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

static void topic_name(const fixture *f, const char *table, char *buf, size_t len)
{
    snprintf(buf, len, "%s.public.%s", f->prefix, table);
}

static void make_topic(fixture *f, const char *table, int partitions)
{
    char t[160];
    topic_name(f, table, t, sizeof t);
    create_topic(f->producer, t, partitions);
    strcat(t, ".dlq");
    create_topic(f->producer, t, 1);
}

static void make_topics(fixture *f, int partitions)
{
    make_topic(f, "membership_comrade", partitions);
    make_topic(f, "membership_contactinfo", partitions);
}

static void produce(fixture *f, const char *table, const char *key, const char *value, size_t vlen)
{
    char topic[160];
    topic_name(f, table, topic, sizeof topic);
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(f->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key ? strlen(key) : 0),
                                    RD_KAFKA_V_VALUE((void *)value, value ? vlen : 0),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(f->producer, 10);
    assert_int_equal(err, 0);
}

static void flush(fixture *f)
{
    assert_int_equal(rd_kafka_flush(f->producer, 30000), 0);
}

/* A Debezium event of a comrade row. */
static char *comrade_event(char op, long id, const char *ssn, const char *name, uint64_t lsn, const char *deleted_at)
{
    char seq[80];
    snprintf(seq, sizeof seq, "[\"%llu\",\"%llu\"]", (unsigned long long)lsn - 1, (unsigned long long)lsn);
    json_t *row = json_pack("{s:i,s:s,s:s,s:s,s:b,s:b,s:i,s:i,s:s?}", "id", (int)id, "name", name, "ssn", ssn,
                            "date_joined", "2020-05-17T10:11:12", "reachable", 1, "groupable", 1, "gender", 1,
                            "housing_situation", 2, "deleted_at", deleted_at);
    json_t *ev = json_pack("{s:o,s:o,s:{s:s,s:s,s:I,s:s,s:s,s:s,s:I},s:s#,s:I}",
                           "before", op == 'd' ? json_pack("{s:i}", "id", (int)id) : json_null(),
                           "after", op == 'd' ? json_null() : json_incref(row),
                           "source", "connector", "postgresql", "name", "ekklesia", "ts_ms", (json_int_t)clock_wall_ms(),
                           "schema", "public", "table", "membership_comrade", "sequence", seq, "lsn", (json_int_t)lsn,
                           "op", &op, (size_t)1, "ts_ms", (json_int_t)clock_wall_ms());
    json_decref(row);
    char *s = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return s;
}

static void produce_comrade(fixture *f, char op, long id, const char *ssn, const char *name, uint64_t lsn,
                            const char *deleted_at)
{
    char key[32];
    snprintf(key, sizeof key, "{\"id\":%ld}", id);
    char *v = comrade_event(op, id, ssn, name, lsn, deleted_at);
    produce(f, "membership_comrade", key, v, strlen(v));
    free(v);
}

/* A contact info row of the member with comrade_id (created), keyed by comrade_id. */
static void produce_contact(fixture *f, long comrade_id, const char *phone, uint64_t lsn)
{
    char key[40], v[512];
    snprintf(key, sizeof key, "{\"comrade_id\":%ld}", comrade_id);
    snprintf(v, sizeof v,
             "{\"before\":null,\"after\":{\"comrade_id\":%ld,\"phone\":\"%s\",\"email\":\"m%ld@example.is\","
             "\"facebook\":\"\",\"foreign_phone\":\"\"},\"source\":{\"table\":\"membership_contactinfo\","
             "\"schema\":\"public\",\"lsn\":%llu,\"ts_ms\":1},\"op\":\"c\"}",
             comrade_id, phone, comrade_id, (unsigned long long)lsn);
    produce(f, "membership_contactinfo", key, v, strlen(v));
}

static void ssn_of(long id, char *buf, size_t len)
{
    snprintf(buf, len, "%010ld", 1000000000L + id);
}

static void start_emulator(fixture *f, const char *const *faults)
{
    f->emu = th_start_emulator(&f->emu_port, faults);
    assert_true(f->emu > 0);
}

static pid_t spawn_consumer(fixture *f, const char *group, const char *const *extra, int *http_port);

static void start_consumer(fixture *f, const char *group, const char *const *extra)
{
    f->consumer = spawn_consumer(f, group, extra, &f->http_port);
}

static pid_t spawn_consumer(fixture *f, const char *group, const char *const *extra, int *http_port)
{
    char cfg[600], emu[64], grp[160], pfx[120], port[48];
    snprintf(cfg, sizeof cfg, "%s/config/consumer.conf", th_env("EKKLESIA_TEST_ROOT"));
    snprintf(emu, sizeof emu, "FIRESTORE_EMULATOR_HOST=127.0.0.1:%d", f->emu_port);
    snprintf(grp, sizeof grp, "EKKLESIA_KAFKA_GROUP_ID=%s", group);
    snprintf(pfx, sizeof pfx, "EKKLESIA_KAFKA_TOPIC_PREFIX=%s", f->prefix);
    *http_port = th_free_port();
    snprintf(port, sizeof port, "EKKLESIA_HTTP_PORT=%d", *http_port);
    const char *env[24] = { emu, grp, pfx, port, "GOOGLE_CLOUD_PROJECT=" PROJECT, "EKKLESIA_RATE_RAMP=false",
                            "EKKLESIA_CONSUMER_BATCH_MAX_MS=5", "EKKLESIA_RETRY_BASE_MS=20", "EKKLESIA_RETRY_MAX_MS=500",
                            "KAFKA_MESSAGE_MAX_BYTES=4000000", "KAFKA_TOPIC_METADATA_REFRESH_INTERVAL_MS=1000" };
    int n = 11;
    for (const char *const *e = extra; e && *e && n < 23; e++)
        env[n++] = *e;
    env[n] = NULL;
    char log[600];
    snprintf(log, sizeof log, "%s/consumer-%s.log", th_env("EKKLESIA_TEST_TMPDIR"), group);
    const char *argv[] = { "member-consumer", "-c", cfg, NULL };
    pid_t pid = th_spawn(argv, env, log);
    assert_true(pid > 0);
    assert_true(th_wait_port(*http_port, 10000));
    return pid;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    th_unique_name("cons", f->prefix, sizeof f->prefix);
    snprintf(f->group, sizeof f->group, "%s-group", f->prefix);
    f->producer = kafka(RD_KAFKA_PRODUCER, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->consumer > 0)
        th_stop(f->consumer, SIGKILL, 5000);
    if (f->emu > 0)
        th_stop(f->emu, SIGTERM, 5000);
    rd_kafka_destroy(f->producer);
    free(f);
    return 0;
}

/* --- reading state ----------------------------------------------------------- */

static double metric_of(int http_port, const char *name_and_labels)
{
    char *body = NULL;
    double v = 0;
    if (th_http("GET", http_port, "/metrics", NULL, &body) == 200 && body) {
        size_t nl = strlen(name_and_labels);
        for (char *line = body; line && *line;) {
            char *end = strchr(line, '\n');
            if (!strncmp(line, name_and_labels, nl) && line[nl] == ' ')
                v += strtod(line + nl + 1, NULL);
            line = end ? end + 1 : NULL;
        }
    }
    free(body);
    return v;
}

static double metric(fixture *f, const char *name_and_labels)
{
    return metric_of(f->http_port, name_and_labels);
}

typedef struct wait_metric {
    fixture *f;
    const char *name;
    double want;
} wait_metric;

static bool metric_reached(void *ud)
{
    wait_metric *w = ud;
    return metric(w->f, w->name) >= w->want;
}

static void wait_metric_at_least(fixture *f, const char *name, double want, int timeout_ms)
{
    wait_metric w = { f, name, want };
    if (!th_wait_until(metric_reached, &w, timeout_ms))
        fprintf(stderr, "metric %s = %g, wanted %g\n", name, metric(f, name), want);
    assert_true(metric(f, name) >= want);
}

static json_t *get_doc(fixture *f, const char *name)
{
    char path[400], *body = NULL;
    snprintf(path, sizeof path, "/v1/projects/" PROJECT "/databases/(default)/documents/%s", name);
    int st = th_http("GET", f->emu_port, path, NULL, &body);
    json_t *doc = st == 200 && body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return doc;
}

static const char *field_string(json_t *doc, const char *a, const char *b)
{
    json_t *m = json_object_get(json_object_get(json_object_get(doc, "fields"), a), "mapValue");
    return json_string_value(json_object_get(json_object_get(json_object_get(m, "fields"), b), "stringValue"));
}

static void patch_doc(fixture *f, const char *name, const char *body)
{
    char path[500], *resp = NULL;
    snprintf(path, sizeof path,
             "/v1/projects/" PROJECT "/databases/(default)/documents/%s?updateMask.fieldPaths=metadata.firebase_uid",
             name);
    assert_int_equal(th_http("PATCH", f->emu_port, path, body, &resp), 200);
    free(resp);
}

/* --- dead-letter records ------------------------------------------------------ */

typedef struct dlq_rec {
    char *key, *value;
    size_t vlen;
    json_t *headers; /* name -> value */
} dlq_rec;

static size_t read_dlq(fixture *f, const char *table, dlq_rec *out, size_t max, int timeout_ms)
{
    char topic[200], group[200];
    topic_name(f, table, topic, sizeof topic);
    strcat(topic, ".dlq");
    snprintf(group, sizeof group, "%s-reader", f->prefix);
    rd_kafka_t *c = kafka(RD_KAFKA_CONSUMER, group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    size_t n = 0;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (n < max && clock_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (!m->err) {
            out[n].key = strndup(m->key, m->key_len);
            out[n].value = malloc(m->len + 1);
            memcpy(out[n].value, m->payload, m->len);
            out[n].value[m->len] = 0;
            out[n].vlen = m->len;
            out[n].headers = json_object();
            rd_kafka_headers_t *h;
            if (rd_kafka_message_headers(m, &h) == 0) {
                const char *hn;
                const void *hv;
                size_t hl;
                for (size_t i = 0; rd_kafka_header_get_all(h, i, &hn, &hv, &hl) == 0; i++) {
                    char *s = strndup(hv, hl);
                    json_object_set_new(out[n].headers, hn, json_string(s));
                    free(s);
                }
            }
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

static void free_recs(dlq_rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].key);
        free(r[i].value);
        json_decref(r[i].headers);
    }
}

static const char *hdr(const dlq_rec *r, const char *name)
{
    return json_string_value(json_object_get(r->headers, name));
}

/* --- tests -------------------------------------------------------------------- */

static void poison_events_are_dead_lettered_and_the_rest_applied(void **state)
{
    fixture *f = *state;
    start_emulator(f, NULL);
    make_topics(f, 1);
    const char *not_json = "{\"before\":null,\"after\":{\"id\":1";
    produce(f, "membership_comrade", "{\"id\":1}", not_json, strlen(not_json));
    const char *bad_op = "{\"before\":null,\"after\":{\"id\":2},\"source\":{\"table\":\"membership_comrade\",\"lsn\":5},\"op\":\"x\"}";
    produce(f, "membership_comrade", "{\"id\":2}", bad_op, strlen(bad_op));
    const char *unknown = "{\"before\":null,\"after\":{\"id\":3},\"source\":{\"table\":\"auth_user\",\"lsn\":6},\"op\":\"c\"}";
    produce(f, "membership_comrade", "{\"id\":3}", unknown, strlen(unknown));
    size_t big = 2 * 1024 * 1024;
    char *name = malloc(big + 1);
    memset(name, 'a', big);
    name[big] = 0;
    char *huge = comrade_event('c', 4, "0101302989", name, 100, NULL);
    free(name);
    produce(f, "membership_comrade", "{\"id\":4}", huge, strlen(huge));
    produce(f, "membership_comrade", "{\"id\":5}", NULL, 0); /* a tombstone: ignored */
    const char *truncate = "{\"before\":null,\"after\":null,\"source\":{\"table\":\"membership_comrade\","
                           "\"schema\":\"public\",\"lsn\":150,\"ts_ms\":1},\"op\":\"t\"}";
    produce(f, "membership_comrade", NULL, truncate, strlen(truncate)); /* skipped, with a warning */
    produce_comrade(f, 'c', 6, "0202022020", "Guðrún Jónsdóttir", 200, NULL);
    flush(f);
    start_consumer(f, f->group, NULL);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"c\"}", 1, 60000);
    json_t *doc = get_doc(f, "members/0202022020");
    assert_non_null(doc);
    assert_string_equal(field_string(doc, "profile", "name"), "Guðrún Jónsdóttir");
    json_decref(doc);
    assert_null(get_doc(f, "members/0101302989"));

    dlq_rec r[8];
    size_t n = read_dlq(f, "membership_comrade", r, 8, 30000);
    assert_int_equal(n, 4);
    const char *classes[] = { "decode.json", "decode.op", "mapping.unknown_table", "firestore.INVALID_ARGUMENT" };
    const char *values[] = { not_json, bad_op, unknown, huge };
    char topic[160];
    topic_name(f, "membership_comrade", topic, sizeof topic);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(hdr(&r[i], "__connect.errors.exception.class.name"), classes[i]);
        assert_string_equal(hdr(&r[i], "__connect.errors.topic"), topic);
        assert_string_equal(hdr(&r[i], "__connect.errors.partition"), "0");
        char off[16];
        snprintf(off, sizeof off, "%zu", i);
        assert_string_equal(hdr(&r[i], "__connect.errors.offset"), off);
        assert_string_equal(hdr(&r[i], "__connect.errors.connector.name"), f->group);
        assert_non_null(hdr(&r[i], "__connect.errors.stage"));
        assert_non_null(hdr(&r[i], "__connect.errors.exception.message"));
        assert_non_null(hdr(&r[i], "ekklesia.dlq.first_failure"));
        assert_non_null(hdr(&r[i], "ekklesia.dlq.last_failure"));
        assert_true(atoi(hdr(&r[i], "ekklesia.dlq.attempts")) >= 1);
        assert_int_equal(r[i].vlen, strlen(values[i]));
        assert_memory_equal(r[i].value, values[i], r[i].vlen);
    }
    assert_string_equal(hdr(&r[0], "__connect.errors.stage"), "VALUE_CONVERTER");
    assert_string_equal(r[3].key, "{\"id\":4}");
    /* the message names no member data */
    assert_null(strstr(hdr(&r[3], "__connect.errors.exception.message"), "0101302989"));
    free_recs(r, n);
    free(huge);
    assert_int_equal(metric(f, "ekklesia_sync_consumer_dead_letters_total{class=\"decode.json\"}"), 1);
    assert_int_equal(metric(f, "ekklesia_sync_consumer_events_skipped_total"), 2);
    char log[600];
    snprintf(log, sizeof log, "%s/consumer-%s.log", th_env("EKKLESIA_TEST_TMPDIR"), f->group);
    assert_true(th_file_has(log, "TRUNCATE of membership_comrade skipped"));
    /* SIGTERM: exit 0, promptly */
    int64_t t0 = clock_mono_ms();
    int st = th_stop(f->consumer, SIGTERM, 30000);
    f->consumer = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(clock_mono_ms() - t0 < 30000);
}

#define KEYS 200
#define VERSIONS 5

static void produce_versions(fixture *f, uint64_t base_lsn)
{
    /* key-major order is what a database would never give, so interleave: version by
     * version over all keys; positions grow with every event */
    uint64_t lsn = base_lsn;
    for (int v = 0; v < VERSIONS; v++)
        for (long id = 1; id <= KEYS; id++) {
            char ssn[16], name[32];
            ssn_of(id, ssn, sizeof ssn);
            snprintf(name, sizeof name, "member %ld v%d", id, v);
            produce_comrade(f, v ? 'u' : 'c', id, ssn, name, lsn += 10, NULL);
        }
    flush(f);
}

static void check_final_versions(fixture *f)
{
    for (long id = 1; id <= KEYS; id++) {
        char ssn[16], doc[40], want[32];
        ssn_of(id, ssn, sizeof ssn);
        snprintf(doc, sizeof doc, "members/%s", ssn);
        snprintf(want, sizeof want, "member %ld v%d", id, VERSIONS - 1);
        json_t *d = get_doc(f, doc);
        assert_non_null(d);
        assert_string_equal(field_string(d, "profile", "name"), want);
        json_decref(d);
    }
}

static void order_per_key_and_replay_changes_nothing(void **state)
{
    fixture *f = *state;
    start_emulator(f, NULL);
    make_topics(f, 4);
    produce_versions(f, 1000);
    start_consumer(f, f->group, NULL);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_total", KEYS * VERSIONS, 60000);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"u\"}", 1, 10000);
    check_final_versions(f);
    /* a batch holds several versions of a key (fetched together): the earlier ones
     * were folded into the last, not mapped one by one */
    assert_true(metric(f, "ekklesia_sync_consumer_events_folded_total") >= 1);
    json_t *before = get_doc(f, "members/1000000007");
    th_stop(f->consumer, SIGTERM, 30000);
    /* a new group reads the topic from the beginning: every event is stale */
    char group2[128];
    snprintf(group2, sizeof group2, "%s-replay", f->group);
    start_consumer(f, group2, NULL);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_stale_total", KEYS * VERSIONS, 60000);
    assert_int_equal(metric(f, "ekklesia_sync_consumer_writes_total"), 0);
    json_t *after = get_doc(f, "members/1000000007");
    assert_string_equal(json_string_value(json_object_get(before, "updateTime")),
                        json_string_value(json_object_get(after, "updateTime")));
    json_decref(before);
    json_decref(after);
    check_final_versions(f);
}

static void failures_are_retried_and_nothing_dead_lettered(void **state)
{
    fixture *f = *state;
    const char *faults[] = { "--fault", "status=UNAVAILABLE,rate=0.1", "--fault", "status=ABORTED,rate=0.05",
                             "--fault", "status=RESOURCE_EXHAUSTED,rate=0.05,retry_after=1", NULL };
    start_emulator(f, faults);
    make_topics(f, 4);
    produce_versions(f, 5000);
    start_consumer(f, f->group, (const char *const[]){ "EKKLESIA_CONSUMER_BATCH_MAX_EVENTS=100", NULL });
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_total", KEYS * VERSIONS, 60000);
    wait_metric_at_least(f, "ekklesia_sync_consumer_retries_total{reason=\"firestore.UNAVAILABLE\"}", 1, 60000);
    /* everything ends applied: the last version of every member */
    for (long id = 1; id <= KEYS; id++) {
        char ssn[16], doc[40], want[32];
        ssn_of(id, ssn, sizeof ssn);
        snprintf(doc, sizeof doc, "members/%s", ssn);
        snprintf(want, sizeof want, "member %ld v%d", id, VERSIONS - 1);
        int64_t deadline = clock_mono_ms() + 60000;
        const char *got = NULL;
        json_t *d = NULL;
        while (clock_mono_ms() < deadline) {
            json_decref(d);
            d = get_doc(f, doc);
            got = d ? field_string(d, "profile", "name") : NULL;
            if (got && !strcmp(got, want))
                break;
            clock_sleep_ms(20);
        }
        assert_non_null(got);
        assert_string_equal(got, want);
        json_decref(d);
    }
    double dead = 0;
    const char *classes[] = { "firestore.UNAVAILABLE", "firestore.ABORTED", "firestore.RESOURCE_EXHAUSTED" };
    for (int i = 0; i < 3; i++) {
        char m[160];
        snprintf(m, sizeof m, "ekklesia_sync_consumer_dead_letters_total{class=\"%s\"}", classes[i]);
        dead += metric(f, m);
    }
    assert_int_equal(dead, 0);
    dlq_rec r[1];
    assert_int_equal(read_dlq(f, "membership_comrade", r, 1, 3000), 0);
}

static void portal_fields_survive_and_deletes_apply(void **state)
{
    fixture *f = *state;
    start_emulator(f, NULL);
    make_topics(f, 2);
    produce_comrade(f, 'c', 42, "0101302989", "Jón Jónsson", 100, NULL);
    flush(f);
    start_consumer(f, f->group, NULL);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"c\"}", 1, 60000);
    patch_doc(f, "members/0101302989",
              "{\"fields\":{\"metadata\":{\"mapValue\":{\"fields\":{\"firebase_uid\":{\"stringValue\":\"uid-1\"}}}}}}");
    /* contact info finds its member through comrade_id */
    produce_contact(f, 42, "+354 690 3635", 150);
    produce_comrade(f, 'u', 42, "0101302989", "Jón Jónsson yngri", 200, NULL);
    flush(f);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"u\"}", 1, 60000);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"c\"}", 2, 60000);
    json_t *d = get_doc(f, "members/0101302989");
    assert_string_equal(field_string(d, "profile", "name"), "Jón Jónsson yngri");
    assert_string_equal(field_string(d, "profile", "phone"), "6903635");
    assert_string_equal(field_string(d, "metadata", "firebase_uid"), "uid-1");
    json_decref(d);
    /* soft delete (deleted_at set), then the row deleted: the document stays, inactive */
    produce_comrade(f, 'u', 42, "0101302989", "Jón Jónsson yngri", 300, "2026-11-25T03:30:14Z");
    produce_comrade(f, 'd', 42, "0101302989", "", 400, NULL);
    flush(f);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"d\"}", 1, 60000);
    d = get_doc(f, "members/0101302989");
    assert_non_null(d);
    assert_string_equal(field_string(d, "membership", "status"), "inactive");
    assert_string_equal(field_string(d, "metadata", "firebase_uid"), "uid-1");
    assert_non_null(json_object_get(json_object_get(json_object_get(json_object_get(d, "fields"), "metadata"), "mapValue"),
                                    "fields"));
    json_decref(d);
}

/* The version a member document holds ("member 7 v12" -> 12), -1 when absent. */
static int doc_version(fixture *f, long id)
{
    char ssn[16], doc[40];
    ssn_of(id, ssn, sizeof ssn);
    snprintf(doc, sizeof doc, "members/%s", ssn);
    json_t *d = get_doc(f, doc);
    const char *name = d ? field_string(d, "profile", "name") : NULL;
    const char *v = name ? strrchr(name, 'v') : NULL;
    int version = v ? atoi(v + 1) : -1;
    json_decref(d);
    return version;
}

#define GKEYS 300
#define GVERSIONS 24
#define GSAMPLE 12

static void produce_range(fixture *f, int from, int to, uint64_t *lsn)
{
    for (int v = from; v < to; v++)
        for (long id = 1; id <= GKEYS; id++) {
            char ssn[16], name[40];
            ssn_of(id, ssn, sizeof ssn);
            snprintf(name, sizeof name, "member %ld v%d", id, v);
            produce_comrade(f, v ? 'u' : 'c', id, ssn, name, *lsn += 10, NULL);
        }
    flush(f);
}

/* Reads the sample documents; fails if one ever went back to an older version. */
static void sample_never_backwards(fixture *f, int *seen)
{
    for (int s = 0; s < GSAMPLE; s++) {
        long id = 1 + s * (GKEYS / GSAMPLE);
        int v = doc_version(f, id);
        if (v < seen[s])
            fprintf(stderr, "member %ld went back from v%d to v%d\n", id, seen[s], v);
        assert_true(v >= seen[s]);
        seen[s] = v;
    }
}

static void wait_sampling(fixture *f, int *seen, int ms)
{
    int64_t end = clock_mono_ms() + ms;
    while (clock_mono_ms() < end)
        sample_never_backwards(f, seen);
}

/* Waits for a string field of a document (map.field) to hold want. */
typedef struct field_wait {
    fixture *f;
    const char *doc, *map, *field, *want;
} field_wait;

static bool field_is(void *ud)
{
    field_wait *w = ud;
    json_t *d = get_doc(w->f, w->doc);
    const char *got = field_string(d, w->map, w->field);
    bool ok = got && !strcmp(got, w->want);
    json_decref(d);
    return ok;
}

/* A child row whose parent is not synced yet waits alone: the rows after it in its
 * partition (other keys) are applied meanwhile, and it is applied once its parent is. */

static void a_waiting_child_holds_back_only_its_key(void **state)
{
    fixture *f = *state;
    start_emulator(f, NULL);
    make_topics(f, 1); /* one partition: the waiting row is ahead of the others */
    produce_comrade(f, 'c', 42, "0101302989", "Jón Jónsson", 100, NULL);
    produce_contact(f, 77, "+354 611 1111", 110); /* member 77 is not there yet */
    produce_contact(f, 42, "+354 690 3635", 120);
    flush(f);
    start_consumer(f, f->group, NULL);
    field_wait w42 = { f, "members/0101302989", "profile", "phone", "6903635" };
    assert_true(th_wait_until(field_is, &w42, 30000));
    assert_true(metric(f, "ekklesia_sync_consumer_retries_total{reason=\"mapping.wait\"}") >= 1);
    char ssn[16];
    ssn_of(77, ssn, sizeof ssn);
    char doc[40];
    snprintf(doc, sizeof doc, "members/%s", ssn);
    json_t *d = get_doc(f, doc);
    assert_null(d); /* nothing was made up for the missing member */
    produce_comrade(f, 'c', 77, ssn, "Anna", 130, NULL);
    flush(f);
    field_wait w77 = { f, doc, "profile", "phone", "6111111" };
    assert_true(th_wait_until(field_is, &w77, 30000));
}

static void group_of_three_survives_kill_and_restart(void **state)
{
    fixture *f = *state;
    start_emulator(f, NULL);
    make_topics(f, 6);
    const char *small[] = { "EKKLESIA_CONSUMER_BATCH_MAX_EVENTS=200", "EKKLESIA_RETRY_MAX_MS=200",
                            "KAFKA_SESSION_TIMEOUT_MS=6000", "KAFKA_HEARTBEAT_INTERVAL_MS=500", NULL };
    pid_t c[3];
    int port[3];
    for (int i = 0; i < 3; i++)
        c[i] = spawn_consumer(f, f->group, small, &port[i]);
    int seen[GSAMPLE];
    for (int s = 0; s < GSAMPLE; s++)
        seen[s] = -1;
    uint64_t lsn = 10000;
    produce_range(f, 0, 8, &lsn);
    wait_sampling(f, seen, 1500);
    /* kill -9 in the middle of the work: its unfinished records go to the others */
    assert_int_equal(kill(c[0], SIGKILL), 0);
    int st;
    th_stop(c[0], SIGKILL, 5000);
    produce_range(f, 8, 16, &lsn);
    wait_sampling(f, seen, 1000);
    /* a clean stop and a start of another one, mid-workload */
    st = th_stop(c[1], SIGTERM, 30000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    c[1] = spawn_consumer(f, f->group, small, &port[1]);
    produce_range(f, 16, GVERSIONS, &lsn);
    /* the end: every member at its last version, none ever seen going back */
    int64_t deadline = clock_mono_ms() + 120000;
    long done = 0;
    while (clock_mono_ms() < deadline && done < GKEYS) {
        sample_never_backwards(f, seen);
        done = 0;
        for (long id = 1; id <= GKEYS; id++) {
            if (doc_version(f, id) != GVERSIONS - 1)
                break;
            done++;
        }
    }
    if (done < GKEYS)
        fprintf(stderr, "member %ld is at v%d\n", done + 1, doc_version(f, done + 1));
    assert_int_equal(done, GKEYS);
    for (int i = 1; i < 3; i++) {
        st = th_stop(c[i], SIGTERM, 30000);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

/* ten members, one event each, in one batch */
static void produce_ten_members(fixture *f, uint64_t base_lsn)
{
    for (long id = 1; id <= 10; id++) {
        char ssn[16], name[32];
        ssn_of(id, ssn, sizeof ssn);
        snprintf(name, sizeof name, "member %ld", id);
        produce_comrade(f, 'c', id, ssn, name, base_lsn + (uint64_t)id * 10, NULL);
    }
    flush(f);
}

/* An emulator failing as fault says (a --fault spec), ten members on one partition,
 * and a consumer. */
static void ten_members_against(fixture *f, const char *fault, uint64_t base_lsn)
{
    start_emulator(f, (const char *const[]){ "--fault", fault, NULL });
    make_topics(f, 1);
    produce_ten_members(f, base_lsn);
    start_consumer(f, f->group, NULL);
}

static void clear_faults(fixture *f)
{
    char *resp = NULL;
    assert_int_equal(th_http("DELETE", f->emu_port, "/emulator/v1/faults", NULL, &resp), 200);
    free(resp);
}

typedef struct ready_state {
    fixture *f;
    int want;
} ready_state;

static bool readyz_is(void *ud)
{
    ready_state *r = ud;
    char *body = NULL;
    int st = th_http("GET", r->f->http_port, "/readyz", NULL, &body);
    free(body);
    return st == r->want;
}

static void auth_failures_are_not_dead_lettered(void **state)
{
    fixture *f = *state;
    const char *faults[] = { "--fault", "status=UNAUTHENTICATED", NULL };
    start_emulator(f, faults);
    make_topics(f, 1);
    produce_comrade(f, 'c', 7, "0707077070", "Sigríður Jónsdóttir", 100, NULL);
    flush(f);
    start_consumer(f, f->group, NULL);
    wait_metric_at_least(f, "ekklesia_sync_consumer_auth_failures_total", 2, 30000);
    ready_state r = { f, 503 };
    assert_true(th_wait_until(readyz_is, &r, 10000));
    assert_int_equal(metric(f, "ekklesia_sync_consumer_events_finished_total"), 0);
    /* credentials fixed: the event goes through, readiness returns, nothing dead-lettered */
    clear_faults(f);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"c\"}", 1, 30000);
    r.want = 200;
    assert_true(th_wait_until(readyz_is, &r, 10000));
    json_t *d = get_doc(f, "members/0707077070");
    assert_non_null(d);
    json_decref(d);
    dlq_rec rec[1];
    assert_int_equal(read_dlq(f, "membership_comrade", rec, 1, 3000), 0);
    /* a replay writes nothing (every event stale): its reads alone bring readiness back */
    th_stop(f->consumer, SIGTERM, 30000);
    f->consumer = 0;
    char *body = NULL;
    assert_int_equal(th_http("POST", f->emu_port, "/emulator/v1/faults", "{\"status\":\"UNAUTHENTICATED\"}", &body), 200);
    free(body);
    char replay[200];
    snprintf(replay, sizeof replay, "%s-replay", f->group);
    start_consumer(f, replay, NULL);
    r.want = 503;
    assert_true(th_wait_until(readyz_is, &r, 10000));
    clear_faults(f);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_stale_total", 1, 30000);
    assert_int_equal(metric(f, "ekklesia_sync_consumer_writes_total"), 0);
    r.want = 200;
    assert_true(th_wait_until(readyz_is, &r, 10000));
}

/* A :batchWrite refused as a whole (INVALID_ARGUMENT names no write) is narrowed down
 * event by event: the refusal was one request's, not ten events' fault. */
static void a_refused_request_is_narrowed_down_not_dead_lettered(void **state)
{
    fixture *f = *state;
    ten_members_against(f, "status=INVALID_ARGUMENT,count=1,path=/v1/projects/" PROJECT "/databases/(default)/documents:batchWrite",
                        9000);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"c\"}", 10, 60000);
    assert_int_equal(metric(f, "ekklesia_sync_consumer_dead_letters_total{class=\"firestore.INVALID_ARGUMENT\"}"), 0);
    dlq_rec r[1];
    assert_int_equal(read_dlq(f, "membership_comrade", r, 1, 3000), 0);
}

/* One write of a :batchWrite fails (its per-write status): only that document is
 * written again; the others of the request were written once. */
static void a_failed_write_is_retried_alone(void **state)
{
    fixture *f = *state;
    ten_members_against(f, "status=ABORTED,count=1,document=members/1000000001", 9700);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"c\"}", 10, 60000);
    assert_true(metric(f, "ekklesia_sync_consumer_retries_total{reason=\"firestore.ABORTED\"}") >= 1);
    for (long id = 1; id <= 10; id++) {
        char ssn[16], doc[40];
        ssn_of(id, ssn, sizeof ssn);
        snprintf(doc, sizeof doc, "members/%s", ssn);
        json_t *d = get_doc(f, doc);
        assert_non_null(d);
        assert_string_equal(json_string_value(json_object_get(d, "createTime")),
                            json_string_value(json_object_get(d, "updateTime"))); /* one successful write */
        json_decref(d);
    }
    dlq_rec r[1];
    assert_int_equal(read_dlq(f, "membership_comrade", r, 1, 3000), 0);
}

/* This year's fee event of row id for member comrade_id, committed now. */
static void produce_fee(fixture *f, char op, long id, long comrade_id, uint64_t lsn)
{
    char key[32], v[600];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(key, sizeof key, "{\"id\":%ld}", id);
    snprintf(v, sizeof v,
             "{\"before\":null,\"after\":{\"id\":%ld,\"comrade_id\":%ld,\"year\":%d,\"date_paid\":\"%d-03-01\"},"
             "\"source\":{\"table\":\"billing_membershipfee\",\"schema\":\"public\",\"lsn\":%llu,\"ts_ms\":%lld},"
             "\"op\":\"%c\"}",
             id, comrade_id, tm.tm_year + 1900, tm.tm_year + 1900, (unsigned long long)lsn, (long long)now * 1000, op);
    produce(f, "billing_membershipfee", key, v, strlen(v));
}

/* An emulator, the member and fee topics, and member 1 (1000000001) with this year's fee
 * (row 6); the consumer is started by the test. */
static void member_with_fee(fixture *f)
{
    start_emulator(f, NULL);
    make_topics(f, 1);
    make_topic(f, "billing_membershipfee", 1);
    produce_comrade(f, 'c', 1, "1000000001", "member 1", 9800, NULL);
    produce_fee(f, 'c', 6, 1, 9820);
}

/* A fee booked to the wrong member is moved to the right one, and the write that takes
 * it out of the first member's document fails once while the others land: the retry
 * (stale where the fee went) still takes it out - the first member is not left
 * "active" on a fee that is not theirs. */
static void a_fee_moved_away_leaves_even_when_that_write_fails(void **state)
{
    fixture *f = *state;
    member_with_fee(f);
    produce_comrade(f, 'c', 2, "1000000002", "member 2", 9810, NULL);
    flush(f);
    start_consumer(f, f->group, NULL);
    field_wait first = { f, "members/1000000001", "membership", "status", "active" };
    field_wait second = { f, "members/1000000002", "membership", "status", "unpaid" };
    assert_true(th_wait_until(field_is, &first, 60000));
    assert_true(th_wait_until(field_is, &second, 60000));
    char *resp = NULL;
    assert_int_equal(th_http("POST", f->emu_port, "/emulator/v1/faults",
                             "{\"status\":\"ABORTED\",\"count\":1,\"document\":\"members/1000000001\"}", &resp),
                     200);
    free(resp);
    produce_fee(f, 'u', 6, 2, 9900);
    flush(f);
    second.want = "active";
    first.want = "unpaid";
    assert_true(th_wait_until(field_is, &second, 60000));
    assert_true(th_wait_until(field_is, &first, 60000));
    assert_true(metric(f, "ekklesia_sync_consumer_retries_total{reason=\"firestore.ABORTED\"}") >= 1);
}

/* A corrected kennitala: the member's new document gets the member's fee (still
 * "active") and contact info, and the fee row's key index entry follows it. */
static void a_corrected_kennitala_keeps_the_fee(void **state)
{
    fixture *f = *state;
    member_with_fee(f);
    produce_contact(f, 1, "+354 690 3635", 9805);
    flush(f);
    start_consumer(f, f->group, NULL);
    field_wait old = { f, "members/1000000001", "membership", "status", "active" };
    assert_true(th_wait_until(field_is, &old, 60000));
    produce_comrade(f, 'u', 1, "1000000091", "member 1", 9900, NULL);
    flush(f);
    field_wait fixed = { f, "members/1000000091", "membership", "status", "active" };
    assert_true(th_wait_until(field_is, &fixed, 60000));
    field_wait phone = { f, "members/1000000091", "profile", "phone", "6903635" };
    assert_true(field_is(&phone));
    old.want = "inactive";
    assert_true(field_is(&old));
    json_t *idx = get_doc(f, "sync_keys/billing_membershipfee:6");
    assert_non_null(idx);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(idx, "fields"), "doc"),
                                                          "stringValue")),
                        "members/1000000091");
    json_decref(idx);
}

/* A database that does not exist answers every request NOT_FOUND: not the data's fault,
 * and not worth a busy loop. The partition backs off (the gauge says so) and everything
 * is applied once the database is there. */
static void a_missing_database_backs_off(void **state)
{
    fixture *f = *state;
    ten_members_against(f, "status=NOT_FOUND", 9500);
    wait_metric_at_least(f, "ekklesia_sync_consumer_partitions_backing_off", 1, 30000);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_retrying", 10, 10000);
    assert_true(metric(f, "ekklesia_sync_consumer_retries_total{reason=\"precondition\"}") >= 3 * 10);
    clear_faults(f);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"c\"}", 10, 30000);
    assert_int_equal(metric(f, "ekklesia_sync_consumer_events_finished_total"), 10);
    dlq_rec r[1];
    assert_int_equal(read_dlq(f, "membership_comrade", r, 1, 3000), 0);
}

static bool metric_equals(void *ud)
{
    wait_metric *m = ud;
    return metric(m->f, m->name) == m->want;
}

/* librdkafka keeps an application's pause across revoke and assign: a partition revoked
 * while it backed off came back paused, and its events were never fetched again. */
static void a_partition_revoked_while_backing_off_comes_back_fetching(void **state)
{
    fixture *f = *state;
    start_emulator(f, (const char *const[]){ "--fault", "status=UNAVAILABLE", NULL });
    make_topic(f, "membership_comrade", 2); /* the group shares two partitions, no more */
    for (long id = 1; id <= 40; id++) { /* both partitions get some */
        char ssn[16], name[32];
        ssn_of(id, ssn, sizeof ssn);
        snprintf(name, sizeof name, "member %ld", id);
        produce_comrade(f, 'c', id, ssn, name, 12000 + (uint64_t)id * 10, NULL);
    }
    flush(f);
    /* long backoffs: paused nearly all the time */
    const char *slow[] = { "EKKLESIA_RETRY_BASE_MS=3000", "EKKLESIA_RETRY_MAX_MS=4000", "KAFKA_SESSION_TIMEOUT_MS=6000",
                           "KAFKA_HEARTBEAT_INTERVAL_MS=500", NULL };
    start_consumer(f, f->group, slow);
    wait_metric owns = { f, "ekklesia_sync_consumer_assigned_partitions", 2 };
    assert_true(th_wait_until(metric_equals, &owns, 30000));
    wait_metric_at_least(f, "ekklesia_sync_consumer_partitions_backing_off", 2, 30000);
    /* another replica takes one partition, then leaves: it comes back */
    int other_port;
    pid_t other = spawn_consumer(f, f->group, slow, &other_port);
    owns.want = 1;
    assert_true(th_wait_until(metric_equals, &owns, 30000));
    int st = th_stop(other, SIGTERM, 30000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    owns.want = 2;
    assert_true(th_wait_until(metric_equals, &owns, 30000));
    clear_faults(f);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"c\"}", 40, 30000);
}

static bool consumer_talks_to_emulator(void *ud)
{
    return th_tcp_established(((fixture *)ud)->emu_port);
}

/* SIGTERM while Firestore does not answer: the batch in flight is abandoned and the
 * consumer still exits 0 within its budget (25 s from the signal, inside compose's 30 s
 * grace); the next consumer applies everything. */
static void stop_with_firestore_stuck_is_bounded(void **state)
{
    fixture *f = *state;
    start_emulator(f, (const char *const[]){ "--fault", "latency=60000", NULL });
    make_topics(f, 1);
    produce_ten_members(f, 7000);
    /* a short session: it will leave without a goodbye, and the group waits that long */
    start_consumer(f, f->group,
                   (const char *const[]){ "EKKLESIA_FIRESTORE_TIMEOUT_MS=60000", "KAFKA_SESSION_TIMEOUT_MS=6000", NULL });
    /* its first read is in flight (held for a minute) */
    assert_true(th_wait_until(consumer_talks_to_emulator, f, 20000));
    int64_t t0 = clock_mono_ms();
    int st = th_stop(f->consumer, SIGTERM, 30000); /* killed (not exited) past 30 s */
    f->consumer = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(clock_mono_ms() - t0 < 30000);
    char log[600];
    snprintf(log, sizeof log, "%s/consumer-%s.log", th_env("EKKLESIA_TEST_TMPDIR"), f->group);
    assert_true(th_file_has(log, "stopping took over 25 s"));
    /* nothing was committed past what was applied: a consumer on a working Firestore
     * applies all ten */
    th_stop(f->emu, SIGTERM, 5000);
    start_emulator(f, NULL);
    start_consumer(f, f->group, NULL);
    wait_metric_at_least(f, "ekklesia_sync_consumer_events_applied_total{collection=\"members\",op=\"c\"}", 10, 30000);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(poison_events_are_dead_lettered_and_the_rest_applied),
        T(order_per_key_and_replay_changes_nothing),
        T(failures_are_retried_and_nothing_dead_lettered),
        T(portal_fields_survive_and_deletes_apply),
        T(a_waiting_child_holds_back_only_its_key),
        T(group_of_three_survives_kill_and_restart),
        T(auth_failures_are_not_dead_lettered),
        T(stop_with_firestore_stuck_is_bounded),
        T(a_refused_request_is_narrowed_down_not_dead_lettered),
        T(a_missing_database_backs_off),
        T(a_partition_revoked_while_backing_off_comes_back_fetching),
        T(a_failed_write_is_retried_alone),
        T(a_fee_moved_away_leaves_even_when_that_write_fails),
        T(a_corrected_kennitala_keeps_the_fee),
    };
    if (getenv("EKKLESIA_TEST_FILTER")) /* one test by name (wildcards *, ?) */
        cmocka_set_test_filter(getenv("EKKLESIA_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
