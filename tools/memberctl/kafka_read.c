/* kafka_read.c - memberctl's Kafka reading: topic discovery and reading a topic from
 * its beginning to the end it has when the command starts (so a command over a live
 * topic finishes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka.h"
#include "common/log.h"
#include "tools/memberctl/ctl.h"

rd_kafka_t *ctl_kafka(ctl_ctx *ctx, rd_kafka_type_t type, const char *group)
{
    cfg_error cerr;
    rd_kafka_conf_t *conf = kafka_conf_new(ctx->cfg, "memberctl", &cerr);
    if (!conf) {
        fprintf(stderr, "memberctl: %s: %s\n", cerr.where, cerr.reason);
        exit(CTL_USAGE);
    }
    char err[512];
    if (type == RD_KAFKA_CONSUMER) {
        rd_kafka_conf_set(conf, "group.id", group ? group : "memberctl-reader", err, sizeof err);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, sizeof err);
    } else {
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
        rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "memberctl: cannot create Kafka client: %s\n", err);
        exit(CTL_FAIL);
    }
    return rk;
}

static bool ctl_has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

json_t *ctl_list_topics(rd_kafka_t *rk, const ctl_ctx *ctx, bool dlq, int *partitions_out_max)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (e) {
        fprintf(stderr, "memberctl: cannot read Kafka metadata: %s\n", rd_kafka_err2str(e));
        return NULL;
    }
    json_t *out = json_array();
    size_t plen = strlen(ctx->topic_prefix);
    int maxp = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        const char *name = md->topics[i].topic;
        if (strncmp(name, ctx->topic_prefix, plen) != 0 || name[plen] != '.')
            continue;
        if (ctl_has_suffix(name, ctx->dlq_suffix) != dlq)
            continue;
        json_array_append_new(out, json_string(name));
        if (md->topics[i].partition_cnt > maxp)
            maxp = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    if (partitions_out_max)
        *partitions_out_max = maxp;
    return out;
}

int ctl_topic_partitions(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    int n = -1;
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

const char *ctl_header(const rd_kafka_message_t *m, const char *name, char *buf, size_t len)
{
    rd_kafka_headers_t *hdrs;
    const void *v;
    size_t vlen;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (rd_kafka_header_get_last(hdrs, name, &v, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (!v)
        vlen = 0;
    if (vlen >= len)
        vlen = len - 1;
    memcpy(buf, v, vlen);
    buf[vlen] = '\0';
    return buf;
}

int ctl_read_topic(rd_kafka_t *consumer, const char *topic, int32_t only_partition,
                   int64_t only_offset, ctl_record_fn fn, void *ud)
{
    int np = ctl_topic_partitions(consumer, topic);
    if (np < 0) {
        fprintf(stderr, "memberctl: topic %s does not exist\n", topic);
        return -1;
    }
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(np);
    int64_t *end = calloc((size_t)np, sizeof *end);
    int remaining = 0;
    for (int32_t p = 0; p < np; p++) {
        if (only_partition >= 0 && p != only_partition)
            continue;
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(consumer, topic, p, &lo, &hi, 10000);
        if (e) {
            fprintf(stderr, "memberctl: %s[%d]: %s\n", topic, p, rd_kafka_err2str(e));
            free(end);
            rd_kafka_topic_partition_list_destroy(assign);
            return -1;
        }
        int64_t start = only_offset >= 0 ? only_offset : lo;
        end[p] = only_offset >= 0 ? (only_offset + 1 < hi ? only_offset + 1 : hi) : hi;
        if (start >= end[p])
            continue;
        rd_kafka_topic_partition_list_add(assign, topic, p)->offset = start;
        remaining++;
    }
    int rc = 0;
    if (remaining)
        rd_kafka_assign(consumer, assign);
    while (remaining > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 10000);
        if (!m) {
            fprintf(stderr, "memberctl: no record from %s for 10 s; stopping\n", topic);
            rc = -1;
            break;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            fprintf(stderr, "memberctl: reading %s: %s\n", topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            rc = -1;
            break;
        }
        int32_t p = m->partition;
        int stop = m->offset < end[p] ? fn(m, ud) : 0;
        if (m->offset + 1 >= end[p] && end[p] >= 0) {
            end[p] = -1; /* done with this partition */
            remaining--;
        }
        rd_kafka_message_destroy(m);
        if (stop)
            break;
    }
    rd_kafka_assign(consumer, NULL);
    free(end);
    rd_kafka_topic_partition_list_destroy(assign);
    return rc;
}

void ctl_print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(j);
}
