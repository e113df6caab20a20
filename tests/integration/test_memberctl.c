/* test_memberctl.c - memberctl against the real broker and PostgreSQL: status of a
 * slot and topics, dead-letter list/show (masked unless asked) and replay to the
 * source topic, consumer-group replay (dry run, then executed), and misuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "tests/support/harness.h"

static char prefix[64], source[128], dlq[128], env_prefix[160];
static const char *env[4];

static rd_kafka_t *client(rd_kafka_type_t type, const char *group)
{
    cfg_error cerr;
    rd_kafka_conf_t *conf = kafka_conf_new(NULL, "test-memberctl", &cerr);
    assert_non_null(conf);
    if (group) {
        assert_int_equal(kafka_conf_set(conf, "group.id", group, &cerr), 0);
        assert_int_equal(kafka_conf_set(conf, "enable.auto.commit", "false", &cerr), 0);
    }
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    assert_non_null(rk);
    return rk;
}

static void produce(rd_kafka_t *p, const char *topic, const char *key, const char *value, rd_kafka_headers_t *h)
{
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, strlen(key)),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_PARTITION(0),
                                       RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
}

static int setup(void **state)
{
    (void)state;
    th_unique_name("ctl", prefix, sizeof prefix);
    snprintf(source, sizeof source, "%s.public.membership_comrade", prefix);
    snprintf(dlq, sizeof dlq, "%s.dlq", source);
    snprintf(env_prefix, sizeof env_prefix, "EKKLESIA_KAFKA_TOPIC_PREFIX=%s", prefix);
    env[0] = env_prefix;
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, NULL);
    char err[256];
    const char *topics[] = { source, dlq };
    assert_int_equal(kafka_ensure_topics(p, topics, 2, 2, 1, 10000, err, sizeof err), 0);
    for (int i = 0; i < 2; i++) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(8);
        rd_kafka_header_add(h, "__connect.errors.topic", -1, source, -1);
        rd_kafka_header_add(h, "__connect.errors.partition", -1, "0", -1);
        rd_kafka_header_add(h, "__connect.errors.offset", -1, i ? "17" : "16", -1);
        rd_kafka_header_add(h, "__connect.errors.exception.class.name", -1, "firestore.INVALID_ARGUMENT", -1);
        rd_kafka_header_add(h, "__connect.errors.exception.message", -1, "document too large", -1);
        rd_kafka_header_add(h, "traceparent", -1, "00-abc-def-01", -1);
        produce(p, dlq, i ? "{\"id\":2}" : "{\"id\":1}",
                "{\"op\":\"c\",\"after\":{\"id\":1,\"ssn\":\"1203894569\",\"name\":\"Þórdís Jónsdóttir\"}}", h);
    }
    produce(p, source, "{\"id\":9}", "{\"op\":\"c\"}", NULL);
    assert_int_equal(rd_kafka_flush(p, 15000), 0);
    rd_kafka_destroy(p);
    return 0;
}

static json_t *run_json(const char *const *argv, int want_rc)
{
    char *out = NULL;
    int rc = th_run(argv, env, &out, 60000);
    assert_int_equal(rc, want_rc);
    json_error_t jerr;
    json_t *j = json_loads(out ? out : "", 0, &jerr);
    if (!j)
        fprintf(stderr, "not JSON: %s\n", out ? out : "(none)");
    free(out);
    assert_non_null(j);
    return j;
}

static void dlq_list_is_masked(void **state)
{
    (void)state;
    const char *argv[] = { "memberctl", "--json", "dlq", "list", NULL };
    json_t *j = run_json(argv, 0);
    assert_int_equal(json_array_size(j), 2);
    json_t *r = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(r, "error_class")), "firestore.INVALID_ARGUMENT");
    assert_string_equal(json_string_value(json_object_get(r, "source_topic")), source);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "key"), "id")), 1);
    json_decref(j);
}

static void dlq_show_masks_unless_asked(void **state)
{
    (void)state;
    char coords[192];
    snprintf(coords, sizeof coords, "%s:0:0", dlq);
    const char *argv[] = { "memberctl", "dlq", "show", coords, "--json", NULL };
    json_t *j = run_json(argv, 0);
    json_t *after = json_object_get(json_object_get(j, "value"), "after");
    assert_string_equal(json_string_value(json_object_get(after, "ssn")), "120389-****");
    assert_null(strstr(json_string_value(json_object_get(after, "name")), "Jónsdóttir"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "headers"), "__connect.errors.offset")), "16");
    json_decref(j);

    const char *reveal[] = { "memberctl", "dlq", "show", coords, "--json", "--reveal-personal-data", NULL };
    j = run_json(reveal, 0);
    after = json_object_get(json_object_get(j, "value"), "after");
    assert_string_equal(json_string_value(json_object_get(after, "ssn")), "1203894569");
    json_decref(j);
}

static void dlq_replay_goes_to_the_source_topic(void **state)
{
    (void)state;
    char *out = NULL;
    const char *argv[] = { "memberctl", "dlq", "replay", dlq, NULL };
    assert_int_equal(th_run(argv, env, &out, 60000), 0);
    assert_non_null(strstr(out, "replayed 2 records"));
    free(out);
    /* The source topic now holds its own record plus the two replayed ones. */
    rd_kafka_t *c = client(RD_KAFKA_CONSUMER, "reader");
    int64_t lo, hi;
    assert_int_equal(rd_kafka_query_watermark_offsets(c, source, 0, &lo, &hi, 10000), 0);
    assert_int_equal(hi - lo, 3);
    rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(a, source, 0)->offset = 1;
    rd_kafka_assign(c, a);
    rd_kafka_topic_partition_list_destroy(a);
    rd_kafka_message_t *m = NULL;
    for (int i = 0; i < 100 && !m; i++) {
        m = rd_kafka_consumer_poll(c, 100);
        if (m && m->err) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    assert_non_null(m);
    assert_memory_equal(m->key, "{\"id\":1}", m->key_len);
    rd_kafka_headers_t *h;
    assert_int_equal(rd_kafka_message_headers(m, &h), 0);
    const void *v;
    size_t vl;
    assert_int_not_equal(rd_kafka_header_get_last(h, "__connect.errors.topic", &v, &vl), 0);
    assert_int_equal(rd_kafka_header_get_last(h, "traceparent", &v, &vl), 0);
    assert_int_equal(rd_kafka_header_get_last(h, "ekklesia.replayed.from", &v, &vl), 0);
    rd_kafka_message_destroy(m);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

static void status_reports_slot_topics_and_lag(void **state)
{
    (void)state;
    char db[64], conninfo[512], err[256], slot[64], snap[64];
    th_unique_name("ctl", db, sizeof db);
    assert_int_equal(th_create_database(db, conninfo, sizeof conninfo), 0);
    PGconn *repl = pg_connect(conninfo, true, err, sizeof err);
    assert_non_null(repl);
    uint64_t lsn;
    th_unique_name("slot", slot, sizeof slot);
    assert_int_equal(pg_create_logical_slot(repl, slot, false, NULL, 0, &lsn, err, sizeof err), 0);
    (void)snap;
    PQfinish(repl);
    char e1[600], e2[128];
    snprintf(e1, sizeof e1, "EKKLESIA_POSTGRES_CONNINFO=%s", conninfo);
    snprintf(e2, sizeof e2, "EKKLESIA_PRODUCER_SLOT_NAME=%s", slot);
    const char *envs[] = { env_prefix, e1, e2, "EKKLESIA_CONSUMER_GROUP_ID=nobody", NULL };
    const char *argv[] = { "memberctl", "status", "--json", NULL };
    char *out = NULL;
    assert_int_equal(th_run(argv, envs, &out, 60000), 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    json_t *s = json_object_get(j, "replication_slot");
    assert_false(json_is_true(json_object_get(s, "active")));
    assert_true(json_integer_value(json_object_get(s, "lag_bytes")) >= 0);
    json_t *topics = json_object_get(j, "topics");
    assert_int_equal(json_array_size(topics), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(topics, 0), "topic")), source);
    json_t *dead = json_object_get(j, "dead_letter_topics");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(dead, 0), "records")), 2);
    json_decref(j);

    /* A slot that does not exist is reported, with a failing exit code. */
    const char *envs2[] = { env_prefix, e1, "EKKLESIA_PRODUCER_SLOT_NAME=no_such_slot", NULL };
    out = NULL;
    assert_int_equal(th_run(argv, envs2, &out, 60000), 1);
    assert_non_null(strstr(out, "no such replication slot"));
    free(out);
    char drop[256];
    snprintf(drop, sizeof drop, "SELECT pg_drop_replication_slot('%s')", slot);
    assert_int_equal(th_sql(conninfo, drop), 0);
}

static void replay_moves_group_offsets_only_when_executed(void **state)
{
    (void)state;
    char group[64];
    th_unique_name("grp", group, sizeof group);
    rd_kafka_t *c = client(RD_KAFKA_CONSUMER, group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, source, 0)->offset = 3;
    assert_int_equal(rd_kafka_commit(c, l, 0), 0);
    rd_kafka_topic_partition_list_destroy(l);

    const char *dry[] = { "memberctl", "replay", source, "--to-earliest", "--group", group, "--json", NULL };
    json_t *j = run_json(dry, 0);
    assert_false(json_is_true(json_object_get(j, "executed")));
    json_decref(j);
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, source, 0);
    assert_int_equal(rd_kafka_committed(c, l, 10000), 0);
    assert_int_equal(l->elems[0].offset, 3);

    const char *exec[] = { "memberctl", "replay", source, "--to-earliest", "--group", group, "--execute", NULL };
    char *out = NULL;
    assert_int_equal(th_run(exec, env, &out, 60000), 0);
    free(out);
    assert_int_equal(rd_kafka_committed(c, l, 10000), 0);
    assert_int_equal(l->elems[0].offset, 0);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(c);
}

static void misuse_exits_2(void **state)
{
    (void)state;
    const char *cases[][6] = {
        { "memberctl", NULL },
        { "memberctl", "frobnicate", NULL },
        { "memberctl", "dlq", "show", "no-coordinates", NULL },
        { "memberctl", "replay", "sometopic", NULL },
        { "memberctl", "-c", "/nonexistent.conf", "status", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(th_run(cases[i], env, NULL, 20000), 2);
    const char *unknown[] = { "memberctl", "dlq", "list", "no.such.topic.dlq", NULL };
    assert_int_equal(th_run(unknown, env, NULL, 30000), 1);
}

int main(void)
{
    log_init("test-memberctl");
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dlq_list_is_masked),
        cmocka_unit_test(dlq_show_masks_unless_asked),
        cmocka_unit_test(dlq_replay_goes_to_the_source_topic),
        cmocka_unit_test(status_reports_slot_topics_and_lag),
        cmocka_unit_test(replay_moves_group_offsets_only_when_executed),
        cmocka_unit_test(misuse_exits_2),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
