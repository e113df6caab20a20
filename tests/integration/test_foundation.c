/* test_foundation.c - proves the stack before any feature stands on it: through
 * common/, open a logical replication connection, create and drop a slot with an
 * exported snapshot, create a topic, and produce and consume a message through the
 * real Kafka broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "tests/support/harness.h"

static void replication_slot_roundtrip(void **state)
{
    (void)state;
    char db[64], conninfo[512], err[512], snapshot[128], slot[64];
    th_unique_name("foundation", db, sizeof db);
    assert_int_equal(th_create_database(db, conninfo, sizeof conninfo), 0);

    PGconn *repl = pg_connect(conninfo, true, err, sizeof err);
    assert_non_null(repl);
    uint64_t lsn = 0;
    th_unique_name("slot", slot, sizeof slot);
    assert_int_equal(pg_create_logical_slot(repl, slot, false, snapshot, sizeof snapshot, &lsn, err, sizeof err), 0);
    assert_true(lsn > 0);
    assert_true(strlen(snapshot) > 0);

    char sql[256];
    snprintf(sql, sizeof sql, "SELECT plugin || ':' || slot_type FROM pg_replication_slots WHERE slot_name = '%s'", slot);
    char *kind = th_sql_value(conninfo, sql);
    assert_non_null(kind);
    assert_string_equal(kind, "pgoutput:logical");
    free(kind);

    /* The slot's consistent point is what CREATE_REPLICATION_SLOT reported. */
    snprintf(sql, sizeof sql, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '%s'", slot);
    char *confirmed = th_sql_value(conninfo, sql);
    uint64_t confirmed_lsn = 0;
    assert_int_equal(pg_lsn_parse(confirmed, &confirmed_lsn), 0);
    assert_true(confirmed_lsn == lsn);
    free(confirmed);
    PQfinish(repl); /* ends the exported snapshot */

    PGconn *plain = pg_connect(conninfo, false, err, sizeof err);
    assert_non_null(plain);
    assert_int_equal(pg_drop_slot(plain, slot, err, sizeof err), 0);
    /* A second drop fails with a clear error. */
    assert_int_equal(pg_drop_slot(plain, slot, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not exist"));
    PQfinish(plain);

    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'", slot);
    char *count = th_sql_value(conninfo, sql);
    assert_string_equal(count, "0");
    free(count);
}

typedef struct slot_probe {
    const char *conninfo, *slot;
} slot_probe;

static bool slot_is_gone(void *ud)
{
    slot_probe *p = ud;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'", p->slot);
    char *count = th_sql_value(p->conninfo, sql);
    bool gone = count && !strcmp(count, "0");
    free(count);
    return gone;
}

/* A temporary slot (memberctl snapshot's) is dropped by its own connection, and by the
 * server when that connection ends any other way: none is left holding WAL. */
static void temporary_slots_go_with_their_connection(void **state)
{
    (void)state;
    char db[64], conninfo[512], err[512], snapshot[128], slot[64];
    th_unique_name("foundation", db, sizeof db);
    assert_int_equal(th_create_database(db, conninfo, sizeof conninfo), 0);
    slot_probe probe = { conninfo, slot };
    uint64_t lsn = 0;
    th_unique_name("tslot", slot, sizeof slot);
    PGconn *repl = pg_connect(conninfo, true, err, sizeof err);
    assert_non_null(repl);
    assert_int_equal(pg_create_logical_slot(repl, slot, true, snapshot, sizeof snapshot, &lsn, err, sizeof err), 0);
    assert_false(slot_is_gone(&probe));
    assert_int_equal(pg_drop_own_slot(repl, slot, err, sizeof err), 0);
    assert_true(slot_is_gone(&probe));
    /* the connection lost instead (a killed process) */
    assert_int_equal(pg_create_logical_slot(repl, slot, true, snapshot, sizeof snapshot, &lsn, err, sizeof err), 0);
    assert_false(slot_is_gone(&probe));
    PQfinish(repl);
    assert_true(th_wait_until(slot_is_gone, &probe, 10000));
}

static void bad_connection_is_a_clear_error(void **state)
{
    (void)state;
    char err[512];
    int port = th_free_port();
    char conninfo[128];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=nobody dbname=x connect_timeout=2", port);
    assert_null(pg_connect(conninfo, true, err, sizeof err));
    assert_non_null(strstr(err, "cannot connect to PostgreSQL"));
}

static rd_kafka_t *new_client(rd_kafka_type_t type, const char *group)
{
    cfg_error cerr;
    rd_kafka_conf_t *conf = kafka_conf_new(NULL, "test-foundation", &cerr);
    assert_non_null(conf);
    assert_int_equal(kafka_conf_set(conf, "partitioner", "murmur2_random", &cerr), 0);
    if (group) {
        assert_int_equal(kafka_conf_set(conf, "group.id", group, &cerr), 0);
        assert_int_equal(kafka_conf_set(conf, "auto.offset.reset", "earliest", &cerr), 0);
        assert_int_equal(kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", &cerr), 0);
    } else {
        assert_int_equal(kafka_conf_set(conf, "enable.idempotence", "true", &cerr), 0);
    }
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    assert_non_null(rk);
    return rk;
}

static void kafka_produce_consume(void **state)
{
    (void)state;
    char topic[64], group[64], err[512];
    th_unique_name("foundation", topic, sizeof topic);
    th_unique_name("group", group, sizeof group);
    rd_kafka_t *p = new_client(RD_KAFKA_PRODUCER, NULL);
    const char *topics[] = { topic };
    assert_int_equal(kafka_ensure_topics(p, topics, 1, 3, 1, 10000, err, sizeof err), 0);
    /* Creating it again is harmless. */
    assert_int_equal(kafka_ensure_topics(p, topics, 1, 3, 1, 10000, err, sizeof err), 0);

    const char *key = "{\"id\":42}", *value = "{\"op\":\"c\"}";
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, strlen(key)),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(p, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);

    rd_kafka_t *c = new_client(RD_KAFKA_CONSUMER, group);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(c, sub), 0);
    rd_kafka_topic_partition_list_destroy(sub);
    bool got = false;
    for (int i = 0; i < 300 && !got; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err) {
            assert_int_equal(m->key_len, strlen(key));
            assert_memory_equal(m->key, key, m->key_len);
            assert_memory_equal(m->payload, value, m->len);
            /* The producer partitioned as the Java client would. */
            assert_int_equal(m->partition, kafka_partition_for_key(key, strlen(key), 3));
            got = true;
        }
        rd_kafka_message_destroy(m);
    }
    assert_true(got);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

static rd_kafka_resp_err_t last_delivery_err = RD_KAFKA_RESP_ERR_NO_ERROR;
static int deliveries;

static void record_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    last_delivery_err = m->err;
    deliveries++;
}

static void unknown_topic_is_an_error_not_a_new_topic(void **state)
{
    (void)state;
    char topic[64];
    th_unique_name("typo", topic, sizeof topic);
    cfg_error cerr;
    rd_kafka_conf_t *conf = kafka_conf_new(NULL, "test-foundation", &cerr);
    assert_int_equal(kafka_conf_set(conf, "message.timeout.ms", "3000", &cerr), 0);
    rd_kafka_conf_set_dr_msg_cb(conf, record_delivery);
    char err[512];
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE((void *)"x", 1), RD_KAFKA_V_END);
    rd_kafka_flush(p, 8000);
    assert_int_equal(deliveries, 1);
    assert_int_not_equal(last_delivery_err, RD_KAFKA_RESP_ERR_NO_ERROR);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(p, topic, NULL);
    assert_int_equal(rd_kafka_metadata(p, 0, t, &md, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->topic_cnt, 1);
    assert_int_equal(md->topics[0].err, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(p);
}

int main(void)
{
    log_init("test-foundation");
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replication_slot_roundtrip),
        cmocka_unit_test(temporary_slots_go_with_their_connection),
        cmocka_unit_test(bad_connection_is_a_clear_error),
        cmocka_unit_test(kafka_produce_consume),
        cmocka_unit_test(unknown_topic_is_an_error_not_a_new_topic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
