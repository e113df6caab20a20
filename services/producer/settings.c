/* settings.c - member-producer's settings from the config file and the environment
 * (see config/producer.conf and docs/producer.md). */
#include <stdio.h>
#include <string.h>

#include "services/producer/producer.h"

int prod_settings_load(cfg_file *cf, prod_settings *s, cfg_error *err)
{
    static const char *const snapshot_modes[] = { "initial", "never", "initial_only", "when_needed", NULL };
    static const char *const publication_modes[] = { "filtered", "disabled", NULL };
    memset(s, 0, sizeof *s);
    if (cfg_string(cf, "postgres.conninfo", "", &s->conninfo, err) ||
        cfg_string(cf, "postgres.slot_name", "ekklesia_sync", &s->slot_name, err) ||
        cfg_string(cf, "postgres.publication", "ekklesia_sync", &s->publication, err) ||
        cfg_enum(cf, "postgres.publication_autocreate", "filtered", publication_modes, &s->publication_mode, err) ||
        cfg_string(cf, "postgres.tables", NULL, &s->tables, err) ||
        cfg_int(cf, "postgres.status_interval_ms", 1000, 10, 60000, &s->status_interval_ms, err) ||
        cfg_int(cf, "postgres.reconnect_base_ms", 200, 1, 600000, &s->reconnect_base_ms, err) ||
        cfg_int(cf, "postgres.reconnect_max_ms", 30000, 1, 3600000, &s->reconnect_max_ms, err) ||
        cfg_enum(cf, "snapshot.mode", "initial", snapshot_modes, &s->snapshot_mode, err) ||
        cfg_string(cf, "kafka.topic_prefix", "ekklesia", &s->topic_prefix, err) ||
        cfg_string(cf, "kafka.state_topic", NULL, &s->state_topic, err) ||
        cfg_int(cf, "kafka.partitions", 6, 1, 100000, &s->partitions, err) ||
        cfg_int(cf, "kafka.replication_factor", 1, 1, 100, &s->replication_factor, err) ||
        cfg_int(cf, "kafka.max_message_bytes", 8388608, 1024, 1000000000, &s->max_message_bytes, err) ||
        cfg_bool(cf, "kafka.tombstones", true, &s->tombstones, err) ||
        cfg_int(cf, "producer.max_inflight_events", 20000, 1, 10000000, &s->max_inflight_events, err) ||
        cfg_int(cf, "producer.max_inflight_bytes", 8388608, 1024, 1LL << 40, &s->max_inflight_bytes, err) ||
        cfg_int(cf, "producer.stop_drain_ms", 20000, 0, 600000, &s->stop_drain_ms, err) ||
        cfg_string(cf, "http.bind", "0.0.0.0", &s->http_bind, err) ||
        cfg_int(cf, "http.port", 8081, -1, 65535, &s->http_port, err))
        return -1;
    if (s->tables && !*s->tables)
        s->tables = NULL;
    if (s->publication_mode == PUB_FILTERED && !s->tables) {
        snprintf(err->where, sizeof err->where, "%s", cfg_path(cf) ? cfg_path(cf) : "environment");
        snprintf(err->reason, sizeof err->reason,
                 "postgres.tables must list the tables when postgres.publication_autocreate is \"filtered\"");
        return -1;
    }
    return 0;
}
