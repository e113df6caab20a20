/* settings.c - member-consumer's settings from config and environment (see consumer.h,
 * docs/consumer.md). Google's own variables win over the file, as the contract says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/consumer/consumer.h"

static const char *cons_env_or(const char *name, const char *value)
{
    const char *e = getenv(name);
    return e && *e ? e : value;
}

static int cons_strings(cfg_file *cf, cons_settings *s, cfg_error *err)
{
    const char *prefix;
    if (cfg_string(cf, "kafka.topic_prefix", "ekklesia", &prefix, err) ||
        cfg_string(cf, "kafka.group_id", "member-consumer", &s->group_id, err) ||
        cfg_string(cf, "kafka.group_instance_id", NULL, &s->group_instance_id, err) ||
        cfg_string(cf, "consumer.topics", NULL, &s->topics, err) ||
        cfg_string(cf, "consumer.dlq_suffix", ".dlq", &s->dlq_suffix, err) ||
        cfg_string(cf, "firestore.project", NULL, &s->project, err) ||
        cfg_string(cf, "firestore.database", "(default)", &s->database, err) ||
        cfg_string(cf, "firestore.emulator_host", NULL, &s->emulator_host, err) ||
        cfg_string(cf, "firestore.base_url", "https://firestore.googleapis.com", &s->base_url, err) ||
        cfg_string(cf, "firestore.token_uri", NULL, &s->token_uri, err) ||
        cfg_string(cf, "firestore.metadata_host", NULL, &s->metadata_host, err) ||
        cfg_string(cf, "http.bind", "0.0.0.0", &s->http_bind, err))
        return -1;
    if (!s->topics) {
        static char regex[256];
        char quoted[128] = "";
        size_t o = 0;
        for (const char *p = prefix; *p && o + 3 < sizeof quoted; p++) {
            if (strchr(".^$*+?()[]{}|\\", *p))
                quoted[o++] = '\\';
            quoted[o++] = *p;
        }
        quoted[o] = 0;
        snprintf(regex, sizeof regex, "^%s\\.[^.]+\\.[^.]+$", quoted);
        s->topics = regex;
    }
    s->project = cons_env_or("GOOGLE_CLOUD_PROJECT", s->project);
    s->emulator_host = cons_env_or("FIRESTORE_EMULATOR_HOST", s->emulator_host);
    if (s->group_instance_id && !*s->group_instance_id)
        s->group_instance_id = NULL;
    if (!s->project || !*s->project) {
        snprintf(err->where, sizeof err->where, "%s", cfg_path(cf));
        snprintf(err->reason, sizeof err->reason,
                 "firestore.project is not set (nor GOOGLE_CLOUD_PROJECT)");
        return -1;
    }
    return 0;
}

int cons_settings_load(cfg_file *cf, cons_settings *s, cfg_error *err)
{
    memset(s, 0, sizeof *s);
    if (cons_strings(cf, s, err) ||
        cfg_int(cf, "consumer.dlq_partitions", 1, 1, 10000, &s->dlq_partitions, err) ||
        cfg_int(cf, "consumer.batch_max_events", 700, 1, 100000, &s->batch_max_events, err) ||
        cfg_int(cf, "consumer.batch_max_ms", 0, 0, 60000, &s->batch_max_ms, err) ||
        cfg_bool(cf, "consumer.coalesce", true, &s->coalesce, err) ||
        cfg_bool(cf, "consumer.never_backwards", true, &s->never_backwards, err) ||
        cfg_int(cf, "consumer.max_buffered", 3000, 100, 10000000, &s->max_buffered, err) ||
        cfg_int(cf, "firestore.timeout_ms", 10000, 100, 600000, &s->timeout_ms, err) ||
        cfg_int(cf, "firestore.max_inflight", 8, 1, 256, &s->max_inflight, err) ||
        cfg_int(cf, "firestore.writes_per_request", 500, 1, 500, &s->writes_per_request, err) ||
        cfg_double(cf, "rate.max_writes_per_second", 0, 0, 1e9, &s->max_writes_per_second, err) ||
        cfg_bool(cf, "rate.ramp", true, &s->ramp, err) ||
        cfg_double(cf, "rate.ramp_start", 500, 1, 1e9, &s->ramp_start, err) ||
        cfg_int(cf, "retry.base_ms", 100, 1, 600000, &s->retry_base_ms, err) ||
        cfg_int(cf, "retry.max_ms", 30000, 1, 3600000, &s->retry_max_ms, err) ||
        cfg_int(cf, "http.port", 8082, -1, 65535, &s->http_port, err))
        return -1;
    if (!s->coalesce)
        s->batch_max_events = 1;
    return 0;
}
