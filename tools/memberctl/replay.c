/* replay.c - `memberctl replay`: backfill by moving the consumer group's committed
 * offsets back (to the beginning, a time, or an offset), so that the consumers read
 * the topic again. Prints the plan; changes nothing without --execute. Kafka accepts
 * the new offsets only while no consumer of the group is running: stop them first
 * (the consumers' never-backwards rule makes re-reading harmless: stale events are
 * skipped, missing documents are written). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/memberctl/ctl.h"

typedef enum { REPLAY_NONE, REPLAY_EARLIEST, REPLAY_TIMESTAMP, REPLAY_OFFSET } replay_target;

static int replay_usage(void)
{
    fprintf(stderr,
            "usage: memberctl replay TOPIC... (--to-earliest | --to-timestamp MS | --to-offset OFFSET)\n"
            "                        [--group GROUP] [--execute]\n");
    return CTL_USAGE;
}

/* Fills list (all partitions of every topic) with the target offsets. */
static int replay_resolve(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list, replay_target target, int64_t arg)
{
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi, 10000);
        if (e) {
            fprintf(stderr, "memberctl: %s[%d]: %s\n", tp->topic, tp->partition, rd_kafka_err2str(e));
            return -1;
        }
        tp->offset = target == REPLAY_EARLIEST ? lo : target == REPLAY_OFFSET ? (arg < lo ? lo : arg > hi ? hi : arg) : arg;
    }
    if (target == REPLAY_TIMESTAMP) {
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, list, 10000);
        if (e) {
            fprintf(stderr, "memberctl: looking up offsets by time: %s\n", rd_kafka_err2str(e));
            return -1;
        }
        for (int i = 0; i < list->cnt; i++) {
            if (list->elems[i].offset < 0) { /* nothing at or after that time: the end */
                int64_t lo, hi;
                rd_kafka_query_watermark_offsets(rk, list->elems[i].topic, list->elems[i].partition, &lo, &hi, 10000);
                list->elems[i].offset = hi;
            }
        }
    }
    return 0;
}

int ctl_replay(ctl_ctx *ctx, int argc, char **argv)
{
    replay_target target = REPLAY_NONE;
    int64_t arg = 0;
    bool execute = false;
    const char *group = ctx->group_id;
    const char *topics[64];
    int ntopics = 0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--to-earliest") == 0) {
            target = REPLAY_EARLIEST;
        } else if (strcmp(argv[i], "--to-timestamp") == 0 && i + 1 < argc) {
            target = REPLAY_TIMESTAMP;
            arg = strtoll(argv[++i], &end, 10);
            if (*end || arg < 0)
                return replay_usage();
        } else if (strcmp(argv[i], "--to-offset") == 0 && i + 1 < argc) {
            target = REPLAY_OFFSET;
            arg = strtoll(argv[++i], &end, 10);
            if (*end || arg < 0)
                return replay_usage();
        } else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc) {
            group = argv[++i];
        } else if (strcmp(argv[i], "--execute") == 0) {
            execute = true;
        } else if (argv[i][0] != '-' && ntopics < 64) {
            topics[ntopics++] = argv[i];
        } else {
            return replay_usage();
        }
    }
    if (target == REPLAY_NONE || ntopics == 0)
        return replay_usage();

    rd_kafka_t *rk = ctl_kafka(ctx, RD_KAFKA_CONSUMER, group);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < ntopics; t++) {
        int np = ctl_topic_partitions(rk, topics[t]);
        if (np < 0) {
            fprintf(stderr, "memberctl: topic %s does not exist\n", topics[t]);
            rd_kafka_topic_partition_list_destroy(list);
            rd_kafka_destroy(rk);
            return CTL_FAIL;
        }
        for (int32_t p = 0; p < np; p++)
            rd_kafka_topic_partition_list_add(list, topics[t], p);
    }
    rd_kafka_topic_partition_list_t *current = rd_kafka_topic_partition_list_copy(list);
    int rc = CTL_OK;
    if (replay_resolve(rk, list, target, arg) != 0 || rd_kafka_committed(rk, current, 10000) != 0) {
        rc = CTL_FAIL;
        goto out;
    }
    json_t *plan = json_array();
    for (int i = 0; i < list->cnt; i++) {
        json_t *row = json_pack("{s:s,s:i,s:I,s:I}", "topic", list->elems[i].topic, "partition",
                                list->elems[i].partition, "committed", (json_int_t)current->elems[i].offset,
                                "new_offset", (json_int_t)list->elems[i].offset);
        json_array_append_new(plan, row);
        if (!ctx->json)
            printf("%s[%d]: committed %" PRId64 " -> %" PRId64 "\n", list->elems[i].topic, list->elems[i].partition,
                   current->elems[i].offset, list->elems[i].offset);
    }
    if (ctx->json)
        ctl_print_json(json_pack("{s:s,s:b,s:o}", "group", group, "executed", execute, "partitions", plan));
    else
        json_decref(plan);
    if (!execute) {
        if (!ctx->json)
            printf("dry run: add --execute to commit these offsets for group %s (its consumers must be stopped)\n", group);
        goto out;
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, list, 0);
    if (e) {
        fprintf(stderr, "memberctl: Kafka refused the new offsets for group %s: %s%s\n", group, rd_kafka_err2str(e),
                (e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
                 e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
                    ? " (stop the group's consumers first)" : "");
        rc = CTL_FAIL;
    } else if (!ctx->json) {
        printf("committed: group %s will re-read from these offsets when its consumers start\n", group);
    }
out:
    rd_kafka_topic_partition_list_destroy(current);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    return rc;
}
