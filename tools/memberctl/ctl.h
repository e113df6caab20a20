/* ctl.h - what memberctl's commands share: the settings they read (the same keys and
 * EKKLESIA_* variables as the services), output mode, and Kafka helpers for reading a
 * whole topic up to its current end. */
#ifndef TOOLS_MEMBERCTL_CTL_H
#define TOOLS_MEMBERCTL_CTL_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

typedef struct ctl_ctx {
    cfg_file *cfg;
    bool json;          /* --json: machine-readable output */
    bool reveal;        /* --reveal-personal-data */
    const char *topic_prefix;
    const char *group_id;
    const char *slot_name;
    const char *pg_conninfo;
    const char *dlq_suffix;
} ctl_ctx;

/* Exit codes, as the contract fixes them. */
enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

rd_kafka_t *ctl_kafka(ctl_ctx *ctx, rd_kafka_type_t type, const char *group);

/* Topics of the pipeline: names starting with the prefix; dlq selects the dead-letter
 * ones (or the source ones). Returned as a JSON array of strings. */
json_t *ctl_list_topics(rd_kafka_t *rk, const ctl_ctx *ctx, bool dlq, int *partitions_out_max);
int ctl_topic_partitions(rd_kafka_t *rk, const char *topic);

/* Calls fn for every record of topic from the start to the end it has now. Stops
 * early when fn returns non-zero. Returns 0, or -1 on a Kafka error. */
typedef int (*ctl_record_fn)(const rd_kafka_message_t *m, void *ud);
int ctl_read_topic(rd_kafka_t *consumer, const char *topic, int32_t only_partition,
                   int64_t only_offset, ctl_record_fn fn, void *ud);

/* A header's value as a string (NULL when absent); buf holds it. */
const char *ctl_header(const rd_kafka_message_t *m, const char *name, char *buf, size_t len);

void ctl_print_json(json_t *j); /* prints and frees */

int ctl_status(ctl_ctx *ctx, int argc, char **argv);
int ctl_dlq(ctl_ctx *ctx, int argc, char **argv);
int ctl_replay(ctl_ctx *ctx, int argc, char **argv);
int ctl_snapshot(ctl_ctx *ctx, int argc, char **argv);

#endif
