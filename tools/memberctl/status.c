/* status.c - `memberctl status`: where the pipeline stands. The replication slot (is
 * it active, how much WAL it holds back), every source topic's end offsets against
 * the consumer group's committed offsets (the lag), and what the dead-letter topics
 * hold. Reads only; changes nothing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "tools/memberctl/ctl.h"

static json_t *status_slot(ctl_ctx *ctx)
{
    char err[512];
    json_t *out = json_object();
    json_object_set_new(out, "slot", json_string(ctx->slot_name));
    PGconn *c = pg_connect(ctx->pg_conninfo, false, err, sizeof err);
    if (!c) {
        json_object_set_new(out, "error", json_string(err));
        return out;
    }
    const char *params[] = { ctx->slot_name };
    PGresult *r = PQexecParams(c,
        "SELECT active, confirmed_flush_lsn::text, restart_lsn::text, wal_status,"
        " pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint,"
        " pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, pg_current_wal_lsn()::text"
        " FROM pg_replication_slots WHERE slot_name = $1", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        json_object_set_new(out, "error", json_string(PQerrorMessage(c)));
    } else if (PQntuples(r) == 0) {
        json_object_set_new(out, "error", json_string("no such replication slot (has the producer ever run?)"));
    } else {
        json_object_set_new(out, "active", json_boolean(PQgetvalue(r, 0, 0)[0] == 't'));
        json_object_set_new(out, "confirmed_flush_lsn", json_string(PQgetvalue(r, 0, 1)));
        json_object_set_new(out, "restart_lsn", json_string(PQgetvalue(r, 0, 2)));
        json_object_set_new(out, "wal_status", json_string(PQgetvalue(r, 0, 3)));
        json_object_set_new(out, "lag_bytes", json_integer(strtoll(PQgetvalue(r, 0, 4), NULL, 10)));
        json_object_set_new(out, "retained_bytes", json_integer(strtoll(PQgetvalue(r, 0, 5), NULL, 10)));
        json_object_set_new(out, "server_wal_lsn", json_string(PQgetvalue(r, 0, 6)));
    }
    PQclear(r);
    PQfinish(c);
    return out;
}

/* One topic: per-partition end offsets and, for source topics, the group's lag. */
static json_t *status_topic(rd_kafka_t *rk, const char *topic, const char *group_committed_from)
{
    json_t *t = json_object();
    json_object_set_new(t, "topic", json_string(topic));
    int np = ctl_topic_partitions(rk, topic);
    json_object_set_new(t, "partitions", json_integer(np));
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(np > 0 ? np : 1);
    for (int32_t p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(list, topic, p);
    bool have_committed = group_committed_from &&
                          rd_kafka_committed(rk, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    int64_t records = 0, lag = 0;
    for (int32_t p = 0; p < np; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        records += hi - lo;
        if (have_committed) {
            int64_t c = list->elems[p].offset;
            lag += hi - (c >= 0 ? c : lo);
        }
        (void)lo;
    }
    json_object_set_new(t, "records", json_integer(records));
    if (have_committed)
        json_object_set_new(t, "lag", json_integer(lag));
    rd_kafka_topic_partition_list_destroy(list);
    return t;
}

static void status_print(const json_t *st)
{
    const json_t *slot = json_object_get(st, "replication_slot");
    printf("replication slot %s: ", json_string_value(json_object_get(slot, "slot")));
    if (json_object_get(slot, "error")) {
        printf("%s\n", json_string_value(json_object_get(slot, "error")));
    } else {
        printf("%s, confirmed %s, lag %" JSON_INTEGER_FORMAT " bytes, holds %" JSON_INTEGER_FORMAT
               " bytes of WAL (%s)\n",
               json_is_true(json_object_get(slot, "active")) ? "active" : "INACTIVE",
               json_string_value(json_object_get(slot, "confirmed_flush_lsn")),
               json_integer_value(json_object_get(slot, "lag_bytes")),
               json_integer_value(json_object_get(slot, "retained_bytes")),
               json_string_value(json_object_get(slot, "wal_status")));
    }
    printf("\n%-48s %10s %12s %10s\n", "topic", "partitions", "records", "lag");
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(st, "topics"), i, t) {
        const json_t *lag = json_object_get(t, "lag");
        char lagbuf[32] = "-";
        if (lag)
            snprintf(lagbuf, sizeof lagbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(lag));
        printf("%-48s %10" JSON_INTEGER_FORMAT " %12" JSON_INTEGER_FORMAT " %10s\n",
               json_string_value(json_object_get(t, "topic")), json_integer_value(json_object_get(t, "partitions")),
               json_integer_value(json_object_get(t, "records")), lagbuf);
    }
    printf("\n%-48s %10s\n", "dead-letter topic", "records");
    json_array_foreach(json_object_get(st, "dead_letter_topics"), i, t)
        printf("%-48s %10" JSON_INTEGER_FORMAT "\n", json_string_value(json_object_get(t, "topic")),
               json_integer_value(json_object_get(t, "records")));
    if (json_array_size(json_object_get(st, "dead_letter_topics")) == 0)
        printf("(none)\n");
}

int ctl_status(ctl_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: memberctl status [--json]\n");
        return CTL_USAGE;
    }
    json_t *st = json_object();
    json_object_set_new(st, "replication_slot", status_slot(ctx));
    rd_kafka_t *rk = ctl_kafka(ctx, RD_KAFKA_CONSUMER, ctx->group_id);
    json_t *sources = ctl_list_topics(rk, ctx, false, NULL);
    json_t *dlqs = ctl_list_topics(rk, ctx, true, NULL);
    int rc = CTL_OK;
    if (!sources || !dlqs) {
        rc = CTL_FAIL;
    } else {
        json_t *topics = json_array(), *dead = json_array();
        size_t i;
        json_t *name;
        json_array_foreach(sources, i, name)
            json_array_append_new(topics, status_topic(rk, json_string_value(name), ctx->group_id));
        json_array_foreach(dlqs, i, name)
            json_array_append_new(dead, status_topic(rk, json_string_value(name), NULL));
        json_object_set_new(st, "consumer_group", json_string(ctx->group_id));
        json_object_set_new(st, "topics", topics);
        json_object_set_new(st, "dead_letter_topics", dead);
    }
    json_decref(sources);
    json_decref(dlqs);
    rd_kafka_destroy(rk);
    if (rc == CTL_OK) {
        if (ctx->json)
            ctl_print_json(json_incref(st));
        else
            status_print(st);
    }
    if (json_object_get(json_object_get(st, "replication_slot"), "error"))
        rc = CTL_FAIL;
    json_decref(st);
    return rc;
}
