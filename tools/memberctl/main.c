/* main.c - memberctl, the operator's tool: one subcommand per job, output for people
 * by default and JSON with --json, exit 0 on success, 1 on failure, 2 on misuse.
 * It reads the same settings as the services (-c FILE, EKKLESIA_*, PG*, KAFKA_*). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tools/memberctl/ctl.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: memberctl [-c FILE] [--json] [--reveal-personal-data] COMMAND\n"
            "\n"
            "commands:\n"
            "  status                              replication slot, topics and consumer-group lag,\n"
            "                                      dead-letter topics\n"
            "  dlq list [TOPIC...]                 dead-letter records, one line each (all DLQ topics\n"
            "                                      when none is named)\n"
            "  dlq show TOPIC:PARTITION:OFFSET     one record with its headers, key and value\n"
            "  dlq replay TOPIC[:PARTITION:OFFSET] [--dry-run]\n"
            "                                      re-publish records to the topic they came from\n"
            "  replay TOPIC... --to-earliest|--to-timestamp MS|--to-offset N [--group G] [--execute]\n"
            "                                      move the consumer group back to re-read (backfill)\n"
            "  snapshot [--tables T,...] [--producer-config FILE] [--execute]\n"
            "                                      a new snapshot of the tables into the topics, beside\n"
            "                                      the running producer (a temporary slot)\n"
            "\n"
            "options:\n"
            "  -c, --config FILE          settings file (as member-consumer's; keys below)\n"
            "  --json                     JSON output\n"
            "  --reveal-personal-data     show member data unmasked (it is masked by default)\n"
            "  -h, --help                 this text\n"
            "\n"
            "settings (file key / environment): kafka.topic_prefix / EKKLESIA_KAFKA_TOPIC_PREFIX\n"
            "  (ekklesia), consumer.group_id / EKKLESIA_CONSUMER_GROUP_ID (member-consumer),\n"
            "  producer.slot_name / EKKLESIA_PRODUCER_SLOT_NAME (else the producer's postgres.slot_name,\n"
            "  ekklesia_sync), postgres.conninfo /\n"
            "  EKKLESIA_POSTGRES_CONNINFO (else PG* variables), dead_letter.suffix (.dlq);\n"
            "  KAFKA_BOOTSTRAP_SERVERS and KAFKA_<PROPERTY> as for the services.\n");
}

static int load_settings(ctl_ctx *ctx)
{
    cfg_error err;
    if (cfg_string(ctx->cfg, "kafka.topic_prefix", "ekklesia", &ctx->topic_prefix, &err) ||
        cfg_string(ctx->cfg, "consumer.group_id", "member-consumer", &ctx->group_id, &err) ||
        cfg_string(ctx->cfg, "producer.slot_name", "ekklesia_sync", &ctx->slot_name, &err) ||
        (!cfg_setting(ctx->cfg, "producer.slot_name") && !getenv("EKKLESIA_PRODUCER_SLOT_NAME") &&
         cfg_string(ctx->cfg, "postgres.slot_name", "ekklesia_sync", &ctx->slot_name, &err)) ||
        cfg_string(ctx->cfg, "postgres.conninfo", "", &ctx->pg_conninfo, &err) ||
        cfg_string(ctx->cfg, "dead_letter.suffix", ".dlq", &ctx->dlq_suffix, &err)) {
        fprintf(stderr, "memberctl: %s: %s\n", err.where, err.reason);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    log_init("memberctl");
    log_set_level(LOG_WARN);
    ctl_ctx ctx = { 0 };
    const char *config_path = NULL;
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { "reveal-personal-data", no_argument, NULL, 'R' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    /* '+': stop at the first non-option, the command's own options follow it. */
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'j': ctx.json = true; break;
        case 'R': ctx.reveal = true; break;
        case 'h': usage(stdout); return CTL_OK;
        default: usage(stderr); return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    /* --json and --reveal-personal-data may also follow the command. */
    int n = 0;
    char **rest = argv + optind;
    for (int i = 0; i < argc - optind; i++) {
        if (strcmp(rest[i], "--json") == 0)
            ctx.json = true;
        else if (strcmp(rest[i], "--reveal-personal-data") == 0)
            ctx.reveal = true;
        else
            rest[n++] = rest[i];
    }
    cfg_error err;
    ctx.cfg = cfg_open(config_path, &err);
    if (!ctx.cfg) {
        fprintf(stderr, "memberctl: %s: %s\n", err.where, err.reason);
        return CTL_USAGE;
    }
    int rc;
    if (load_settings(&ctx) != 0)
        rc = CTL_USAGE;
    else if (strcmp(rest[0], "status") == 0)
        rc = ctl_status(&ctx, n, rest);
    else if (strcmp(rest[0], "dlq") == 0)
        rc = ctl_dlq(&ctx, n, rest);
    else if (strcmp(rest[0], "replay") == 0)
        rc = ctl_replay(&ctx, n, rest);
    else if (strcmp(rest[0], "snapshot") == 0)
        rc = ctl_snapshot(&ctx, n, rest);
    else {
        fprintf(stderr, "memberctl: unknown command '%s'\n", rest[0]);
        usage(stderr);
        rc = CTL_USAGE;
    }
    cfg_close(ctx.cfg);
    return rc;
}
