/* state.c - the producer's own record of its initial snapshot, kept in a compacted
 * Kafka topic (kafka.state_topic, default "<prefix>.producer-state"), keyed by slot
 * name: {"slot":"...","snapshot":"running"|"done","consistent_lsn":N,"ts_ms":N}.
 * A slot whose snapshot record is not "done" had its snapshot interrupted, so the
 * snapshot is taken again from a new slot (docs/producer.md). Kafka keeps it, so the
 * producer itself needs no disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/kafka.h"
#include "common/log.h"
#include "services/producer/runtime.h"

static int state_consumer(producer *p, rd_kafka_t **out)
{
    cfg_error cerr;
    rd_kafka_conf_t *conf = kafka_conf_new(p->cf, "member-producer-state", &cerr);
    if (!conf) {
        log_error("%s: %s", cerr.where, cerr.reason);
        return -1;
    }
    rd_kafka_conf_set(conf, "group.id", "member-producer-state-reader", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    char err[512];
    *out = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!*out) {
        log_error("kafka: %s", err);
        return -1;
    }
    return 0;
}

static void parse_state(const rd_kafka_message_t *m, const char *slot, prod_state *st, uint64_t *lsn)
{
    if (m->key_len != strlen(slot) || memcmp(m->key, slot, m->key_len))
        return;
    if (!m->payload) { /* a tombstone forgets the slot */
        *st = STATE_NONE;
        return;
    }
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    const char *snap = json_string_value(json_object_get(j, "snapshot"));
    json_t *l = json_object_get(j, "consistent_lsn");
    if (snap && json_is_integer(l)) {
        *st = !strcmp(snap, "done") ? STATE_SNAPSHOT_DONE : STATE_SNAPSHOT_RUNNING;
        *lsn = (uint64_t)json_integer_value(l);
    }
    json_decref(j);
}

int state_read(producer *p, prod_state *st, uint64_t *consistent_lsn)
{
    *st = STATE_NONE;
    *consistent_lsn = 0;
    rd_kafka_t *c;
    if (state_consumer(p, &c) != 0)
        return -1;
    int64_t lo = 0, hi = 0;
    int rc = 0;
    rd_kafka_resp_err_t e;
    /* a topic created a moment ago may not be in every broker's metadata yet */
    for (int64_t until = clock_mono_ms() + 20000;;) {
        e = rd_kafka_query_watermark_offsets(c, p->set.state_topic, 0, &lo, &hi, 10000);
        if (!(e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
              e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE || e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
              e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) ||
            clock_mono_ms() > until)
            break;
        clock_sleep_ms(200);
    }
    if (e) {
        log_error("reading the state topic %s: %s", p->set.state_topic, rd_kafka_err2str(e));
        rc = -1;
    } else if (hi > lo) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, p->set.state_topic, 0)->offset = lo;
        rd_kafka_assign(c, l);
        rd_kafka_topic_partition_list_destroy(l);
        int64_t deadline = clock_mono_ms() + 30000;
        for (;;) {
            if (clock_mono_ms() > deadline) {
                log_error("reading the state topic %s: timed out", p->set.state_topic);
                rc = -1;
                break;
            }
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
            if (!m)
                continue;
            bool done = false;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                done = true;
            } else if (m->err) {
                log_error("reading the state topic %s: %s", p->set.state_topic, rd_kafka_message_errstr(m));
                rc = -1;
                done = true;
            } else {
                parse_state(m, p->set.slot_name, st, consistent_lsn);
                done = m->offset + 1 >= hi;
            }
            rd_kafka_message_destroy(m);
            if (done)
                break;
        }
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return rc;
}

int state_write(producer *p, prod_state st, uint64_t consistent_lsn)
{
    char value[256];
    int n = snprintf(value, sizeof value, "{\"slot\":\"%s\",\"snapshot\":\"%s\",\"consistent_lsn\":%llu,\"ts_ms\":%lld}",
                     p->set.slot_name, st == STATE_SNAPSHOT_DONE ? "done" : "running",
                     (unsigned long long)consistent_lsn, (long long)clock_wall_ms());
    rd_kafka_resp_err_t e =
        rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(p->set.state_topic), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_KEY(p->set.slot_name, strlen(p->set.slot_name)),
                          RD_KAFKA_V_VALUE(value, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_OPAQUE((void *)(uintptr_t)UINT64_MAX), RD_KAFKA_V_END);
    if (e) {
        log_error("writing the state topic %s: %s", p->set.state_topic, rd_kafka_err2str(e));
        return -1;
    }
    p->inflight_events++;
    p->inflight_bytes += n + (long long)strlen(p->set.slot_name);
    if (!kout_drain(p, 60000)) {
        log_error("writing the state topic %s: not acknowledged%s%s", p->set.state_topic, p->fatal ? ": " : "",
                  p->fatal ? p->fatal_reason : "");
        return -1;
    }
    return 0;
}
