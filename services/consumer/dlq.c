/* dlq.c - dead-letter records (contract section 6): the original key, value, headers and
 * timestamp, to <source topic><suffix>, with Kafka Connect's error headers
 * (__connect.errors.*) and the project's own (ekklesia.dlq.attempts, first_failure,
 * last_failure). A record counts as dead-lettered only once Kafka acknowledged it; only
 * then may the source offset be stored. Messages never carry member data. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/kafka.h"
#include "common/log.h"
#include "services/consumer/consumer.h"

struct dlq {
    rd_kafka_t *rk;
    const cons_settings *set;
    json_t *ensured; /* topic names created or found */
    size_t sent, acked;
};

static void dlq_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    dlq *d = opaque;
    cev *e = m->_private;
    if (m->err) {
        log_warn("dead-letter record to %s not acknowledged: %s", rd_kafka_topic_name(m->rkt),
                 rd_kafka_err2str(m->err));
        return;
    }
    d->acked++;
    e->state = CEV_DONE;
    cm_dead_letter(e->err->cls);
    cm_finished(1);
}

dlq *dlq_new(cfg_file *cf, const cons_settings *s, char *err, size_t errlen)
{
    cfg_error cerr;
    rd_kafka_conf_t *conf = kafka_conf_new(cf, "member-consumer-dlq", &cerr);
    if (!conf) {
        snprintf(err, errlen, "%s: %s", cerr.where, cerr.reason);
        return NULL;
    }
    dlq *d = calloc(1, sizeof *d);
    d->set = s;
    d->ensured = json_object();
    rd_kafka_conf_set(conf, "acks", "all", NULL, 0);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
    rd_kafka_conf_set(conf, "linger.ms", "5", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(conf, dlq_on_delivery);
    rd_kafka_conf_set_opaque(conf, d);
    char e2[256];
    d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e2, sizeof e2);
    if (!d->rk) {
        snprintf(err, errlen, "dead-letter producer: %s", e2);
        json_decref(d->ensured);
        free(d);
        return NULL;
    }
    return d;
}

void dlq_free(dlq *d)
{
    if (!d)
        return;
    rd_kafka_flush(d->rk, 5000);
    rd_kafka_destroy(d->rk);
    json_decref(d->ensured);
    free(d);
}

void dlq_scrub(const char *in, char *out, size_t len)
{
    size_t o = 0;
    bool quoted = false;
    for (const char *p = in; *p && o + 4 < len; p++) {
        if (*p == '"') {
            quoted = !quoted;
            if (quoted) {
                if (o + 5 >= len) /* the five bytes and the NUL must fit */
                    break;
                memcpy(out + o, "\"…\"", 5);
                o += 5;
            }
            continue;
        }
        if (quoted)
            continue;
        if (isdigit((unsigned char)*p)) {
            size_t run = 0;
            while (isdigit((unsigned char)p[run]))
                run++;
            if (run >= 6) { /* could be a kennitala or a phone number */
                out[o++] = '#';
                p += run - 1;
                continue;
            }
        }
        out[o++] = *p;
    }
    out[o] = 0;
}

static const char *dlq_stage(const char *cls)
{
    if (!strncmp(cls, "decode.", 7))
        return "VALUE_CONVERTER";
    if (!strncmp(cls, "mapping.", 8))
        return "TRANSFORMATION";
    return "TASK_PUT";
}

static void dlq_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
    rd_kafka_header_add(h, name, -1, value, -1);
}

static void dlq_time(int64_t ms, char *buf, size_t len)
{
    clock_format_rfc3339_us(ms * 1000, buf, len);
}

#define DLQ_ENSURE_AGAIN_MS 30000

/* Creates the dead-letter topic if it is missing, once. When that fails the record is
 * produced all the same: a principal may write to a topic an operator created but not
 * create topics (CreateTopics then answers TOPIC_AUTHORIZATION_FAILED even for an
 * existing topic), or a policy may refuse creation. If the topic really is missing the
 * record's delivery fails and it is retried; the creation is tried again after
 * DLQ_ENSURE_AGAIN_MS, never once per record (each try can wait 12 s for Kafka). */
static void dlq_ensure(dlq *d, const char *topic)
{
    json_t *seen = json_object_get(d->ensured, topic); /* true, or when to try again */
    if (json_is_true(seen) || (json_is_integer(seen) && clock_mono_ms() < json_integer_value(seen)))
        return;
    char err[256];
    const char *t[] = { topic };
    if (kafka_ensure_topics(d->rk, t, 1, (int)d->set->dlq_partitions, -1, 10000, err, sizeof err) != 0) {
        log_warn("creating dead-letter topic %s: %s (producing to it anyway)", topic, err);
        json_object_set_new(d->ensured, topic, json_integer(clock_mono_ms() + DLQ_ENSURE_AGAIN_MS));
        return;
    }
    json_object_set_new(d->ensured, topic, json_true());
}

int dlq_send(dlq *d, cev *e)
{
    const crec *m = &e->rec;
    char topic[512], num[32], t1[40], t2[40], msg[256];
    snprintf(topic, sizeof topic, "%s%s", m->topic, d->set->dlq_suffix);
    dlq_ensure(d, topic);
    rd_kafka_headers_t *h = m->headers ? rd_kafka_headers_copy(m->headers) : rd_kafka_headers_new(12);
    dlq_header(h, "__connect.errors.topic", m->topic);
    snprintf(num, sizeof num, "%d", (int)m->partition);
    dlq_header(h, "__connect.errors.partition", num);
    snprintf(num, sizeof num, "%lld", (long long)e->offset);
    dlq_header(h, "__connect.errors.offset", num);
    dlq_header(h, "__connect.errors.connector.name", d->set->group_id);
    dlq_header(h, "__connect.errors.stage", dlq_stage(e->err->cls));
    dlq_header(h, "__connect.errors.exception.class.name", e->err->cls);
    dlq_scrub(e->err->msg, msg, sizeof msg);
    dlq_header(h, "__connect.errors.exception.message", msg);
    snprintf(num, sizeof num, "%d", e->attempts);
    dlq_header(h, "ekklesia.dlq.attempts", num);
    dlq_time(e->first_fail_ms, t1, sizeof t1);
    dlq_time(e->last_fail_ms, t2, sizeof t2);
    dlq_header(h, "ekklesia.dlq.first_failure", t1);
    dlq_header(h, "ekklesia.dlq.last_failure", t2);
    int64_t ts = m->timestamp;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        d->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE((void *)m->payload, m->len),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(e), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h);
        log_warn("dead-letter record to %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    d->sent++;
    return 0;
}

#define DLQ_PURGE_WAIT_MS 5000

size_t dlq_flush(dlq *d, int timeout_ms)
{
    if (d->sent == 0)
        return 0;
    if (rd_kafka_flush(d->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Not all acknowledged in time: the records go back to be retried, so no report
         * may come later - its opaque is a record that may be freed by then (a revoke) or
         * sent again. Purged records get their (failed) reports now. */
        rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int waited = 0; rd_kafka_outq_len(d->rk) > 0 && waited < DLQ_PURGE_WAIT_MS; waited += 100)
            rd_kafka_poll(d->rk, 100);
        if (rd_kafka_outq_len(d->rk) > 0) {
            log_error("dead-letter producer: reports still outstanding after a purge; exiting so that no "
                      "late report can touch a released record (offsets of unacknowledged records were not stored)");
            _exit(1);
        }
    }
    size_t failed = d->sent - d->acked;
    d->sent = d->acked = 0;
    return failed;
}
