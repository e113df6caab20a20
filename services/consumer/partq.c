/* partq.c - the records of each assigned partition, in offset order, until they are
 * applied, skipped or dead-lettered. Only the contiguous finished head is released and
 * its next offset stored (at least once: nothing past an unfinished record is stored).
 * A partition that failed backs off alone (blocked_until_ms, fetching paused). */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "services/consumer/consumer.h"

partq *partq_find(cons *c, const char *topic, int32_t partition)
{
    for (partq *q = c->parts; q; q = q->next)
        if (q->partition == partition && !strcmp(q->topic, topic))
            return q;
    return NULL;
}

partq *partq_add(cons *c, const char *topic, int32_t partition)
{
    partq *q = partq_find(c, topic, partition);
    if (q)
        return q;
    q = calloc(1, sizeof *q);
    q->topic = strdup(topic);
    q->partition = partition;
    q->cap = 256;
    q->items = calloc(q->cap, sizeof *q->items);
    q->stored_offset = -1;
    q->next_offset = -1;
    q->woken_at = -1;
    backoff_init(&q->bo, c->set.retry_base_ms, c->set.retry_max_ms);
    q->next = c->parts;
    c->parts = q;
    return q;
}

static void cev_free(cev *e)
{
    ev_free(&e->ev);
    json_decref(e->key);
    if (e->rec.headers)
        rd_kafka_headers_destroy(e->rec.headers);
    free(e->err);
    free(e->leave_doc);
    free(e);
}

void cev_set_error(cev *e, const char *cls, const char *msg)
{
    if (!e->err && !(e->err = calloc(1, sizeof *e->err)))
        abort();
    if (cls != e->err->cls)
        snprintf(e->err->cls, sizeof e->err->cls, "%s", cls);
    if (msg != e->err->msg)
        snprintf(e->err->msg, sizeof e->err->msg, "%s", msg);
}

bool cev_same_key(const cev *a, const cev *b)
{
    return a->rec.key_len == b->rec.key_len && (a->rec.key_len == 0 || !memcmp(a->rec.key, b->rec.key, a->rec.key_len));
}

static void partq_free(cons *c, partq *q)
{
    for (size_t i = 0; i < q->count; i++)
        cev_free(partq_at(q, i));
    c->buffered -= q->count;
    free(q->items);
    free(q->topic);
    free(q);
}

void partq_remove(cons *c, const char *topic, int32_t partition)
{
    for (partq **pp = &c->parts; *pp; pp = &(*pp)->next) {
        if ((*pp)->partition == partition && !strcmp((*pp)->topic, topic)) {
            partq *q = *pp;
            *pp = q->next;
            partq_free(c, q);
            return;
        }
    }
}

void partq_free_all(cons *c)
{
    while (c->parts) {
        partq *q = c->parts;
        c->parts = q->next;
        partq_free(c, q);
    }
}

cev *partq_at(partq *q, size_t i)
{
    return q->items[(q->head + i) % q->cap];
}

void partq_push(cons *c, partq *q, rd_kafka_message_t *msg)
{
    if (q->count == q->cap) {
        cev **n = calloc(q->cap * 2, sizeof *n);
        for (size_t i = 0; i < q->count; i++)
            n[i] = partq_at(q, i);
        free(q->items);
        q->items = n;
        q->head = 0;
        q->cap *= 2;
    }
    size_t len = msg->payload ? msg->len : 0, klen = msg->key ? msg->key_len : 0;
    cev *e = calloc(1, sizeof *e + len + klen + 2);
    char *bytes = (char *)(e + 1);
    e->rec.topic = q->topic;
    e->rec.partition = q->partition;
    e->rec.timestamp = rd_kafka_message_timestamp(msg, NULL);
    if (e->rec.timestamp < 0)
        e->rec.timestamp = 0;
    if (msg->payload) {
        memcpy(bytes, msg->payload, len);
        e->rec.payload = bytes;
        e->rec.len = len;
    }
    if (msg->key) {
        memcpy(bytes + len + 1, msg->key, klen);
        e->rec.key = bytes + len + 1;
        e->rec.key_len = klen;
    }
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(msg, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
        e->rec.headers = rd_kafka_headers_copy(h);
    e->offset = msg->offset;
    q->next_offset = msg->offset + 1;
    rd_kafka_message_destroy(msg);
    q->items[(q->head + q->count) % q->cap] = e;
    q->count++;
    c->buffered++;
}

static void partq_store(cons *c, partq *q, int64_t next_offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, q->topic, q->partition)->offset = next_offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, l);
    if (err)
        log_warn("storing offset of %s[%d]: %s", q->topic, q->partition, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
    q->stored_offset = next_offset;
}

size_t partq_advance(cons *c, partq *q)
{
    size_t n = 0;
    int64_t next = -1;
    while (q->count > 0 && partq_at(q, 0)->state == CEV_DONE) {
        cev *e = partq_at(q, 0);
        next = e->offset + 1;
        cev_free(e);
        q->head = (q->head + 1) % q->cap;
        q->count--;
        c->buffered--;
        n++;
    }
    if (next >= 0)
        partq_store(c, q, next);
    return n;
}

static void partq_pause(cons *c, partq *q, bool pause)
{
    if (q->kafka_paused == pause)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, q->topic, q->partition);
    rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        log_warn("%s %s[%d]: %s", pause ? "pausing" : "resuming", q->topic, q->partition, rd_kafka_err2str(err));
    else
        q->kafka_paused = pause;
}

void partq_block(cons *c, partq *q, int64_t retry_after_ms)
{
    int64_t delay = backoff_next(&q->bo);
    if (retry_after_ms > delay)
        delay = retry_after_ms;
    q->blocked_until_ms = clock_mono_ms() + delay;
    partq_pause(c, q, true);
}

int64_t partq_wait_delay(cons *c, int attempts)
{
    if (attempts <= PARTQ_PARENT_QUICK_RETRIES)
        return PARTQ_PARENT_RETRY_MS;
    backoff b;
    backoff_init(&b, c->set.retry_base_ms, c->set.retry_max_ms);
    b.attempt = (unsigned)(attempts - PARTQ_PARENT_QUICK_RETRIES < 30 ? attempts - PARTQ_PARENT_QUICK_RETRIES : 30);
    int64_t d = backoff_next(&b);
    if (d > PARTQ_PARENT_MAX_WAIT_MS)
        d = PARTQ_PARENT_MAX_WAIT_MS;
    return d > PARTQ_PARENT_RETRY_MS ? d : PARTQ_PARENT_RETRY_MS;
}

void partq_unblock(partq *q)
{
    q->blocked_until_ms = 0;
    backoff_reset(&q->bo);
}

/* partq_flow: each partition holding records may hold its share of max_buffered;
 * partitions with nothing buffered take no share. (Shared among all assigned partitions,
 * in the stack's 45 the one busy topic's partitions could hold 111 records each: paused
 * and resumed all the time, each pause dropping what librdkafka had fetched ahead, the
 * consumers sat idle 85% of the time while the lag grew.) */
size_t partq_share(const cons *c, const partq *q)
{
    size_t nparts = 0;
    for (const partq *p = c->parts; p; p = p->next)
        nparts += p->count > 0 || p == q;
    size_t limit = (size_t)c->set.max_buffered / (nparts ? nparts : 1);
    return limit < 64 ? 64 : limit;
}

void partq_flow(cons *c, partq *q)
{
    size_t limit = partq_share(c, q);
    bool blocked = q->blocked_until_ms > clock_mono_ms();
    if (blocked || q->count >= limit)
        partq_pause(c, q, true);
    else if (q->count < limit / 2)
        partq_pause(c, q, false);
}
