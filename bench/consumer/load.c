/* load.c - bench/consumer's event source: produces N Debezium change events of
 * membership_comrade over K keys (version by version, positions growing) to
 * <prefix>.public.membership_comrade, partitioned by key as the producer does.
 * ORDER "interleaved" (default): version by version over all keys, so a batch rarely
 * holds two events of one key; "bursts": each key's versions back to back, as when an
 * admin edits a member several times (coalescing applies).
 * Usage: consumer-load BOOTSTRAP PREFIX EVENTS KEYS PARTITIONS [ORDER] */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what, const char *why)
{
    fprintf(stderr, "consumer-load: %s: %s\n", what, why);
    exit(1);
}

static void create_topic(rd_kafka_t *rk, const char *topic, int partitions)
{
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
    if (!nt)
        die("topic", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev)
        die("topic", "no answer");
    size_t n;
    const rd_kafka_topic_result_t **r = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    if (n != 1 || (rd_kafka_topic_result_error(r[0]) && rd_kafka_topic_result_error(r[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
        die("topic", n ? rd_kafka_err2str(rd_kafka_topic_result_error(r[0])) : "no result");
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: consumer-load BOOTSTRAP PREFIX EVENTS KEYS PARTITIONS [interleaved|bursts]\n");
        return 2;
    }
    long events = atol(argv[3]), keys = atol(argv[4]);
    int partitions = atoi(argv[5]);
    int bursts = argc == 7 && !strcmp(argv[6], "bursts");
    long per_key = events / keys;
    char err[256], topic[256];
    snprintf(topic, sizeof topic, "%s.public.membership_comrade", argv[2]);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) ||
        rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err) ||
        rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err) ||
        rd_kafka_conf_set(conf, "compression.type", "lz4", err, sizeof err) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof err))
        die("config", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        die("producer", err);
    create_topic(rk, topic, partitions);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long lsn = 100000000ULL;
    long long now_ms = (long long)time(NULL) * 1000;
    char key[32], value[1024];
    for (long i = 0; i < events; i++) {
        long id = bursts ? i / per_key % keys + 1 : i % keys + 1;
        long version = bursts ? i % per_key : i / keys;
        lsn += 8;
        int kl = snprintf(key, sizeof key, "{\"id\":%ld}", id);
        int vl = snprintf(value, sizeof value,
                          "{\"before\":null,\"after\":{\"id\":%ld,\"name\":\"Member %ld version %ld\",\"ssn\":\"%010ld\","
                          "\"birthday\":\"1980-02-03\",\"date_joined\":\"2020-05-17T10:11:12.345678\",\"reachable\":true,"
                          "\"groupable\":false,\"housing_situation\":2,\"gender\":%ld,\"deleted_at\":null},"
                          "\"source\":{\"version\":\"2.5.0\",\"connector\":\"postgresql\",\"name\":\"ekklesia\","
                          "\"ts_ms\":%lld,\"snapshot\":\"false\",\"db\":\"ekklesia\",\"sequence\":\"[\\\"%llu\\\",\\\"%llu\\\"]\","
                          "\"schema\":\"public\",\"table\":\"membership_comrade\",\"txId\":%ld,\"lsn\":%llu,\"xmin\":null},"
                          "\"op\":\"%c\",\"ts_ms\":%lld,\"transaction\":null}",
                          id, id, version, 1000000000L + id, id % 4, now_ms, lsn - 4, lsn, 1000 + i, lsn,
                          version ? 'u' : 'c', now_ms);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, (size_t)kl),
                                      RD_KAFKA_V_VALUE(value, (size_t)vl), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        if (e)
            die("produce", rd_kafka_err2str(e));
    }
    if (rd_kafka_flush(rk, 120000))
        die("flush", "timed out");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("produced %ld events over %ld keys (%s) to %s (%d partitions) in %.1f s\n", events, keys,
           bursts ? "bursts" : "interleaved", topic, partitions, secs);
    rd_kafka_destroy(rk);
    return 0;
}
