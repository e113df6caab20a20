/* test_consumer_dlq.c - the dead-letter producer (services/consumer/dlq.c) against
 * librdkafka's mock cluster, for the failures a real broker will not stage on demand: a
 * dead-letter topic that cannot be created (a principal without CREATE) is produced to
 * anyway, and a flush that times out takes every outstanding report at once, so that no
 * late report can reach a record the consumer has released (run under AddressSanitizer,
 * such a report is a heap-use-after-free). The records' bytes and headers on a real broker
 * are tested in tests/integration/test_consumer.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/consumer/consumer.h"

#define API_KEY_CREATE_TOPICS 19 /* Kafka protocol ApiKey of CreateTopics */
#define MOCK_BROKER 1            /* the mock cluster numbers its brokers from 1 */

typedef struct fixture {
    rd_kafka_t *owner; /* the mock cluster lives in this handle */
    rd_kafka_mock_cluster_t *mc;
    cons_settings set;
    dlq *d;
} fixture;

/* One producer for both tests, in order: the first finds that the topic cannot be
 * created (librdkafka 2.0's mock cluster names no controller either: each try of
 * CreateTopics waits its 10 s out), the second needs the topic not to be tried again. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
    f->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(f->owner);
    f->mc = rd_kafka_mock_cluster_new(f->owner, 1);
    assert_non_null(f->mc);
    setenv("KAFKA_BOOTSTRAP_SERVERS", rd_kafka_mock_cluster_bootstraps(f->mc), 1);
    f->set.group_id = "unit-group";
    f->set.dlq_suffix = ".dlq";
    f->set.dlq_partitions = 1;
    f->d = dlq_new(NULL, &f->set, err, sizeof err);
    unsetenv("KAFKA_BOOTSTRAP_SERVERS");
    assert_non_null(f->d);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dlq_free(f->d);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->owner);
    free(f);
    return 0;
}

/* A record of ekk.public.membership_comrade that failed to decode. */
static cev *failed_record(int64_t offset)
{
    cev *e = calloc(1, sizeof *e);
    e->rec.topic = "ekk.public.membership_comrade";
    e->rec.partition = 0;
    e->rec.payload = "{\"before\":";
    e->rec.len = strlen(e->rec.payload);
    e->rec.key = "{\"id\":7}";
    e->rec.key_len = strlen(e->rec.key);
    e->offset = offset;
    e->attempts = 1;
    cev_set_error(e, "decode.json", "not JSON: unexpected end of input");
    return e;
}

static void free_record(cev *e)
{
    free(e->err);
    free(e);
}

static void a_topic_that_cannot_be_created_is_produced_to_anyway(void **state)
{
    fixture *f = *state;
    rd_kafka_mock_push_request_errors(f->mc, API_KEY_CREATE_TOPICS, 3, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    cev *e = failed_record(17);
    assert_int_equal(dlq_send(f->d, e), 0);
    assert_int_equal(dlq_flush(f->d, 10000), 0); /* acknowledged: its offset may be stored */
    assert_int_equal(e->state, CEV_DONE);
    free_record(e);
}

static void a_flush_that_times_out_leaves_no_late_report(void **state)
{
    fixture *f = *state;
    /* the broker answers in 3 s; the flush waits 100 ms */
    rd_kafka_mock_broker_set_rtt(f->mc, MOCK_BROKER, 3000);
    cev *late = failed_record(2);
    assert_int_equal(dlq_send(f->d, late), 0);
    assert_int_equal(dlq_flush(f->d, 100), 1);
    assert_int_equal(late->state, CEV_PENDING); /* not dead-lettered: to be retried */
    free_record(late); /* released, as a revoke would */

    /* the next record's answer comes after the purged one's would have: by then a late
     * report would have reached the released record */
    cev *next = failed_record(3);
    assert_int_equal(dlq_send(f->d, next), 0);
    assert_int_equal(dlq_flush(f->d, 10000), 0);
    assert_int_equal(next->state, CEV_DONE);
    free_record(next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_topic_that_cannot_be_created_is_produced_to_anyway),
        cmocka_unit_test(a_flush_that_times_out_leaves_no_late_report),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
