/* dlq.c - `memberctl dlq list|show|replay`: the dead-letter topics as an operator
 * needs them. Records are shown with personal data masked (common/mask.h) unless
 * --reveal-personal-data is given; replay re-publishes a record's original key, value
 * and headers to the topic it came from (the __connect.errors.topic header), where
 * the consumer applies it again (a replay never overwrites newer data: the consumer's
 * never-backwards rule skips what is stale). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mask.h"
#include "tools/memberctl/ctl.h"

#define H_TOPIC "__connect.errors.topic"
#define H_PARTITION "__connect.errors.partition"
#define H_OFFSET "__connect.errors.offset"
#define H_CLASS "__connect.errors.exception.class.name"
#define H_MESSAGE "__connect.errors.exception.message"

/* The payload as JSON text: parsed and masked when it is JSON, else described. */
static json_t *dlq_payload(const void *data, size_t len, bool reveal)
{
    if (!data)
        return json_null();
    json_error_t jerr;
    json_t *j = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
    if (!j) {
        if (reveal)
            return json_stringn_nocheck(data, len);
        char buf[64];
        snprintf(buf, sizeof buf, "<%zu bytes, not JSON>", len);
        return json_string(buf);
    }
    if (!reveal)
        mask_json(j);
    return j;
}

static json_t *dlq_record_json(const rd_kafka_message_t *m, bool reveal, bool full)
{
    json_t *r = json_object();
    json_object_set_new(r, "topic", json_string(rd_kafka_topic_name(m->rkt)));
    json_object_set_new(r, "partition", json_integer(m->partition));
    json_object_set_new(r, "offset", json_integer(m->offset));
    rd_kafka_timestamp_type_t tt;
    json_object_set_new(r, "timestamp_ms", json_integer(rd_kafka_message_timestamp(m, &tt)));
    json_t *headers = json_object();
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *v;
        size_t vlen;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &v, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
            json_object_set_new(headers, name, v ? json_stringn_nocheck(v, vlen) : json_null());
    }
    json_object_set_new(r, "key", dlq_payload(m->key, m->key_len, reveal));
    if (full) {
        json_object_set_new(r, "headers", headers);
        json_object_set_new(r, "value", dlq_payload(m->payload, m->len, reveal));
    } else {
        const char *keys[] = { H_TOPIC, H_PARTITION, H_OFFSET, H_CLASS, H_MESSAGE };
        const char *names[] = { "source_topic", "source_partition", "source_offset", "error_class", "error" };
        for (size_t i = 0; i < 5; i++) {
            json_t *h = json_object_get(headers, keys[i]);
            json_object_set(r, names[i], h ? h : json_null());
        }
        json_decref(headers);
    }
    return r;
}

typedef struct dlq_list_state {
    ctl_ctx *ctx;
    json_t *records;
    size_t limit;
} dlq_list_state;

static int dlq_collect(const rd_kafka_message_t *m, void *ud)
{
    dlq_list_state *st = ud;
    json_array_append_new(st->records, dlq_record_json(m, st->ctx->reveal, false));
    return st->limit && json_array_size(st->records) >= st->limit;
}

static void dlq_print_line(const json_t *r)
{
    char *key = json_dumps(json_object_get(r, "key"), JSON_COMPACT | JSON_ENCODE_ANY);
    const char *msg = json_string_value(json_object_get(r, "error"));
    printf("%s[%" JSON_INTEGER_FORMAT "]@%" JSON_INTEGER_FORMAT "  %-32s key=%s  %.100s\n",
           json_string_value(json_object_get(r, "topic")), json_integer_value(json_object_get(r, "partition")),
           json_integer_value(json_object_get(r, "offset")),
           json_string_value(json_object_get(r, "error_class")) ? json_string_value(json_object_get(r, "error_class")) : "?",
           key ? key : "null", msg ? msg : "");
    free(key);
}

static int dlq_list(ctl_ctx *ctx, int argc, char **argv)
{
    rd_kafka_t *rk = ctl_kafka(ctx, RD_KAFKA_CONSUMER, NULL);
    json_t *topics = argc > 0 ? json_array() : ctl_list_topics(rk, ctx, true, NULL);
    for (int i = 0; i < argc; i++)
        json_array_append_new(topics, json_string(argv[i]));
    dlq_list_state st = { ctx, json_array(), 0 };
    int rc = topics ? CTL_OK : CTL_FAIL;
    size_t i;
    json_t *t;
    json_array_foreach(topics, i, t)
        if (ctl_read_topic(rk, json_string_value(t), -1, -1, dlq_collect, &st) != 0)
            rc = CTL_FAIL;
    json_decref(topics);
    rd_kafka_destroy(rk);
    if (ctx->json) {
        ctl_print_json(st.records);
    } else {
        json_array_foreach(st.records, i, t)
            dlq_print_line(t);
        printf("%zu dead-letter record%s\n", json_array_size(st.records), json_array_size(st.records) == 1 ? "" : "s");
        json_decref(st.records);
    }
    return rc;
}

/* TOPIC:PARTITION:OFFSET */
static int dlq_parse_coords(const char *arg, char *topic, size_t len, int32_t *p, int64_t *o)
{
    const char *c2 = strrchr(arg, ':');
    if (!c2 || c2 == arg)
        return -1;
    const char *c1 = c2 - 1;
    while (c1 > arg && *c1 != ':')
        c1--;
    if (c1 == arg || (size_t)(c1 - arg) >= len)
        return -1;
    char *end;
    *p = (int32_t)strtol(c1 + 1, &end, 10);
    if (end != c2 || *p < 0)
        return -1;
    *o = strtoll(c2 + 1, &end, 10);
    if (*end || *o < 0)
        return -1;
    memcpy(topic, arg, (size_t)(c1 - arg));
    topic[c1 - arg] = '\0';
    return 0;
}

typedef struct dlq_one { ctl_ctx *ctx; json_t *record; } dlq_one;

static int dlq_take(const rd_kafka_message_t *m, void *ud)
{
    dlq_one *one = ud;
    one->record = dlq_record_json(m, one->ctx->reveal, true);
    return 1;
}

static int dlq_show(ctl_ctx *ctx, int argc, char **argv)
{
    char topic[256];
    int32_t p;
    int64_t o;
    if (argc != 1 || dlq_parse_coords(argv[0], topic, sizeof topic, &p, &o) != 0) {
        fprintf(stderr, "usage: memberctl dlq show TOPIC:PARTITION:OFFSET [--reveal-personal-data]\n");
        return CTL_USAGE;
    }
    rd_kafka_t *rk = ctl_kafka(ctx, RD_KAFKA_CONSUMER, NULL);
    dlq_one one = { ctx, NULL };
    int rc = ctl_read_topic(rk, topic, p, o, dlq_take, &one);
    rd_kafka_destroy(rk);
    if (rc != 0)
        return CTL_FAIL;
    if (!one.record) {
        fprintf(stderr, "memberctl: no record at %s\n", argv[0]);
        return CTL_FAIL;
    }
    ctl_print_json(one.record);
    return CTL_OK;
}

typedef struct dlq_replay_state {
    rd_kafka_t *producer;
    int32_t only_partition;
    int64_t only_offset;
    bool dry_run;
    long sent, skipped;
} dlq_replay_state;

static int dlq_replay_one(const rd_kafka_message_t *m, void *ud)
{
    dlq_replay_state *st = ud;
    char source[256];
    if (!ctl_header(m, H_TOPIC, source, sizeof source)) {
        fprintf(stderr, "memberctl: %s[%d]@%" PRId64 " has no %s header; skipped\n",
                rd_kafka_topic_name(m->rkt), m->partition, m->offset, H_TOPIC);
        st->skipped++;
        return 0;
    }
    if (st->dry_run) {
        printf("would replay %s[%d]@%" PRId64 " to %s\n", rd_kafka_topic_name(m->rkt), m->partition, m->offset, source);
        st->sent++;
        return 0;
    }
    /* Original headers without the dead-letter ones, plus where it was replayed from. */
    rd_kafka_headers_t *in, *out = rd_kafka_headers_new(8);
    if (rd_kafka_message_headers(m, &in) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *v;
        size_t vlen;
        for (size_t i = 0; rd_kafka_header_get_all(in, i, &name, &v, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
            if (strncmp(name, "__connect.errors.", 17) != 0 && strncmp(name, "ekklesia.dlq.", 13) != 0)
                rd_kafka_header_add(out, name, -1, v, (ssize_t)vlen);
    }
    char from[320];
    snprintf(from, sizeof from, "%s:%d:%" PRId64, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
    rd_kafka_header_add(out, "ekklesia.replayed.from", -1, from, -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(st->producer, RD_KAFKA_V_TOPIC(source),
                                              RD_KAFKA_V_KEY(m->key, m->key_len),
                                              RD_KAFKA_V_VALUE(m->payload, m->len),
                                              RD_KAFKA_V_HEADERS(out), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                              RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(out);
        fprintf(stderr, "memberctl: cannot replay to %s: %s\n", source, rd_kafka_err2str(e));
        return -1;
    }
    st->sent++;
    return 0;
}

static int dlq_replay(ctl_ctx *ctx, int argc, char **argv)
{
    dlq_replay_state st = { NULL, -1, -1, false, 0, 0 };
    const char *topic = NULL;
    char coords_topic[256];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0) {
            st.dry_run = true;
        } else if (!topic && strchr(argv[i], ':') &&
                   dlq_parse_coords(argv[i], coords_topic, sizeof coords_topic, &st.only_partition, &st.only_offset) == 0) {
            topic = coords_topic;
        } else if (!topic && argv[i][0] != '-') {
            topic = argv[i];
        } else {
            topic = NULL;
            break;
        }
    }
    if (!topic) {
        fprintf(stderr, "usage: memberctl dlq replay DLQ_TOPIC[:PARTITION:OFFSET] [--dry-run]\n");
        return CTL_USAGE;
    }
    rd_kafka_t *rk = ctl_kafka(ctx, RD_KAFKA_CONSUMER, NULL);
    st.producer = ctl_kafka(ctx, RD_KAFKA_PRODUCER, NULL);
    int rc = ctl_read_topic(rk, topic, st.only_partition, st.only_offset, dlq_replay_one, &st);
    rd_kafka_resp_err_t fe = rd_kafka_flush(st.producer, 30000);
    if (fe || rd_kafka_outq_len(st.producer) > 0) {
        fprintf(stderr, "memberctl: not every replayed record was acknowledged: %s\n", rd_kafka_err2str(fe));
        rc = -1;
    }
    rd_kafka_destroy(st.producer);
    rd_kafka_destroy(rk);
    printf("%s %ld record%s from %s%s\n", st.dry_run ? "would replay" : "replayed", st.sent, st.sent == 1 ? "" : "s",
           topic, st.skipped ? " (some skipped: no source topic header)" : "");
    return rc == 0 ? CTL_OK : CTL_FAIL;
}

int ctl_dlq(ctl_ctx *ctx, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return dlq_list(ctx, argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return dlq_show(ctx, argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "replay") == 0)
        return dlq_replay(ctx, argc - 2, argv + 2);
    fprintf(stderr, "usage: memberctl dlq list [TOPIC...] | show TOPIC:PARTITION:OFFSET | replay TOPIC[:P:O] [--dry-run]\n");
    return CTL_USAGE;
}
