/* topic_reader.c - Kafka records into memory for tests (see topic_reader.h). */
#include "tests/support/topic_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/clock.h"
#include "common/kafka.h"
#include "tests/support/harness.h"

struct th_reader {
    rd_kafka_t *rk;
    th_record *recs;
    size_t n, cap;
};

th_reader *th_reader_open(const char *regex)
{
    cfg_error cerr;
    char group[64], err[512];
    rd_kafka_conf_t *conf = kafka_conf_new(NULL, "test-reader", &cerr);
    if (!conf)
        return NULL;
    th_unique_name("reader", group, sizeof group);
    kafka_conf_set(conf, "group.id", group, &cerr);
    kafka_conf_set(conf, "enable.auto.commit", "false", &cerr);
    kafka_conf_set(conf, "auto.offset.reset", "earliest", &cerr);
    kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "1000", &cerr);
    kafka_conf_set(conf, "fetch.max.bytes", "52428800", &cerr);
    th_reader *r = calloc(1, sizeof *r);
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!r->rk) {
        fprintf(stderr, "reader: %s\n", err);
        free(r);
        return NULL;
    }
    rd_kafka_poll_set_consumer(r->rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, regex, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return r;
}

static char *dup_bytes(const void *p, size_t n)
{
    if (!p)
        return NULL;
    char *d = malloc(n + 1);
    memcpy(d, p, n);
    d[n] = 0;
    return d;
}

size_t th_reader_poll(th_reader *r, int timeout_ms)
{
    int64_t until = clock_mono_ms() + timeout_ms;
    do {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            if (r->n == r->cap) {
                r->cap = r->cap ? r->cap * 2 : 256;
                r->recs = realloc(r->recs, r->cap * sizeof *r->recs);
            }
            th_record *x = &r->recs[r->n++];
            x->topic = strdup(rd_kafka_topic_name(m->rkt));
            x->key = dup_bytes(m->key, m->key_len);
            x->key_len = m->key_len;
            x->value = dup_bytes(m->payload, m->len);
            x->value_len = m->len;
            x->partition = m->partition;
            x->offset = m->offset;
        }
        rd_kafka_message_destroy(m);
    } while (clock_mono_ms() < until);
    return r->n;
}

bool th_reader_wait(th_reader *r, size_t n, int timeout_ms)
{
    int64_t until = clock_mono_ms() + timeout_ms;
    while (r->n < n && clock_mono_ms() < until)
        th_reader_poll(r, 200);
    return r->n >= n;
}

size_t th_reader_count(const th_reader *r)
{
    return r->n;
}

const th_record *th_reader_get(const th_reader *r, size_t i)
{
    return i < r->n ? &r->recs[i] : NULL;
}

void th_reader_close(th_reader *r)
{
    if (!r)
        return;
    rd_kafka_consumer_close(r->rk);
    rd_kafka_destroy(r->rk);
    for (size_t i = 0; i < r->n; i++) {
        free(r->recs[i].topic);
        free(r->recs[i].key);
        free(r->recs[i].value);
    }
    free(r->recs);
    free(r);
}
