/* kafka_out.c - the idempotent Kafka producer: defaults chosen for at-least-once
 * without reordering (enable.idempotence, acks=all, no message timeout: a broker that
 * is away only delays), compression, Java-compatible murmur2 partitioning by key,
 * bounded in-flight events and bytes, and delivery reports that feed positions.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/kafka.h"
#include "common/log.h"
#include "services/producer/runtime.h"

static void set_fatal(producer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_fatal(producer *p, const char *fmt, ...)
{
    if (p->fatal)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->fatal_reason, sizeof p->fatal_reason, fmt, ap);
    va_end(ap);
    p->fatal = 1;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    producer *p = opaque;
    p->inflight_events--;
    p->inflight_bytes -= (long long)(m->len + m->key_len);
    if (m->err) {
        metric_add(p->m.delivery_errors, 1);
        /* with idempotence and no message timeout, a failed delivery is permanent:
         * the slot has not confirmed it, so a restart sends it again */
        set_fatal(p, "delivery to %s failed: %s", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        return;
    }
    pos_acked(&p->pos, (uint64_t)(uintptr_t)m->_private);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    producer *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        set_fatal(p, "fatal Kafka error: %s: %s", rd_kafka_err2name(orig), why);
    } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        log_warn("kafka: all brokers are down (%s); holding events until they return", reason);
    } else {
        log_warn("kafka: %s: %s", rd_kafka_err2name(err), reason);
    }
}

int kout_open(producer *p)
{
    cfg_error cerr;
    rd_kafka_conf_t *conf = kafka_conf_new(p->cf, "member-producer", &cerr);
    if (!conf) {
        log_error("%s: %s", cerr.where, cerr.reason);
        return 2;
    }
    char num[32];
    if (kafka_conf_set(conf, "enable.idempotence", "true", &cerr) != 0) {
        log_error("%s: %s", cerr.where, cerr.reason);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    kafka_conf_default(conf, p->cf, "compression.type", "none", "lz4");
    kafka_conf_default(conf, p->cf, "linger.ms", "5", "1"); /* latency first: docs/producer.md */
    kafka_conf_default(conf, p->cf, "message.timeout.ms", "300000", "0"); /* wait for the broker, never drop */
    kafka_conf_default(conf, p->cf, "partitioner", "consistent_random", "murmur2_random"); /* as the Java client */
    snprintf(num, sizeof num, "%lld", p->set.max_message_bytes + 65536);
    kafka_conf_default(conf, p->cf, "message.max.bytes", "1000000", num);
    snprintf(num, sizeof num, "%lld", p->set.max_inflight_events * 2 + 1000);
    kafka_conf_default(conf, p->cf, "queue.buffering.max.messages", "100000", num);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, p);
    char err[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!p->rk) {
        log_error("kafka: %s", err);
        return 2;
    }
    /* wake the main loop's poll() when a delivery report is waiting */
    if (pipe2(p->kafka_wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        log_error("pipe: %s", strerror(errno));
        return 1;
    }
    rd_kafka_queue_t *mq = rd_kafka_queue_get_main(p->rk);
    rd_kafka_queue_io_event_enable(mq, p->kafka_wake[1], "1", 1);
    rd_kafka_queue_destroy(mq);
    return 0;
}

void kout_poll(producer *p, int timeout_ms)
{
    if (timeout_ms > 0) {
        struct pollfd pfd = { .fd = p->kafka_wake[0], .events = POLLIN };
        poll(&pfd, 1, timeout_ms);
    }
    char drain[64];
    while (read(p->kafka_wake[0], drain, sizeof drain) > 0)
        ;
    rd_kafka_poll(p->rk, 0);
    if (p->m.inflight_events) {
        metric_set(p->m.inflight_events, (double)p->inflight_events);
        metric_set(p->m.inflight_bytes, (double)p->inflight_bytes);
    }
}

bool kout_backpressured(const producer *p)
{
    return p->inflight_events >= p->set.max_inflight_events || p->inflight_bytes >= p->set.max_inflight_bytes;
}

int kout_send(producer *p, prod_relation *r, const jbuf *key, const jbuf *value, uint64_t seq)
{
    if (!r->rkt) {
        r->rkt = rd_kafka_topic_new(p->rk, r->topic, NULL);
        if (!r->rkt) {
            set_fatal(p, "kafka topic %s: %s", r->topic, rd_kafka_err2str(rd_kafka_last_error()));
            return -1;
        }
    }
    size_t klen = key ? key->len : 0, vlen = value ? value->len : 0;
    if ((long long)(klen + vlen) > p->set.max_message_bytes) {
        set_fatal(p, "an event of %s is %zu bytes, over kafka.max_message_bytes (%lld): raise it, and the topic's "
                  "max.message.bytes", r->topic, klen + vlen, p->set.max_message_bytes);
        return -1;
    }
    for (;;) {
        if (p->fatal)
            return -1;
        if (rd_kafka_produce(r->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value ? value->data : NULL, vlen,
                             key ? key->data : NULL, klen, (void *)(uintptr_t)seq) == 0)
            break;
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            set_fatal(p, "producing to %s: %s", r->topic, rd_kafka_err2str(e));
            return -1;
        }
        kout_poll(p, 50);
    }
    p->inflight_events++;
    p->inflight_bytes += (long long)(klen + vlen);
    pos_sent(&p->pos, seq);
    metric_add(p->m.bytes, (double)(klen + vlen));
    return 0;
}

bool kout_drain(producer *p, int timeout_ms)
{
    int64_t until = clock_mono_ms() + timeout_ms;
    while (p->inflight_events > 0 && !p->fatal && clock_mono_ms() < until)
        kout_poll(p, 100);
    return p->inflight_events == 0;
}

void kout_close(producer *p)
{
    if (!p->rk)
        return;
    for (int i = 0; i < p->rels.n; i++)
        if (p->rels.rels[i]->rkt) {
            rd_kafka_topic_destroy(p->rels.rels[i]->rkt);
            p->rels.rels[i]->rkt = NULL;
        }
    rd_kafka_destroy(p->rk);
    p->rk = NULL;
    close(p->kafka_wake[0]);
    close(p->kafka_wake[1]);
}
