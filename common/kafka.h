/* kafka.h - librdkafka set-up shared by the services and memberctl.
 *
 * kafka_conf_new() builds an rd_kafka_conf_t from, in increasing precedence:
 *   the file's kafka.bootstrap_servers and the group kafka.properties
 *   { security_protocol = "SASL_SSL"; ... } (any librdkafka property, '_' for '.'
 *   because libconfig names cannot hold dots);
 *   KAFKA_BOOTSTRAP_SERVERS; and every KAFKA_<PROPERTY> environment variable
 *   (upper-cased, '_' for '.', e.g. KAFKA_SASL_MECHANISM -> sasl.mechanism).
 * Errors name the property; values of secret properties (passwords, keys) are never
 * printed. Log and error callbacks go to log.h. */
#ifndef COMMON_KAFKA_H
#define COMMON_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "common/config.h"

rd_kafka_conf_t *kafka_conf_new(cfg_file *cf, const char *client_id, cfg_error *err);
/* Sets one property on conf; a NULL-returning failure fills err. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, cfg_error *err);
bool kafka_property_is_secret(const char *key);
/* A service's own default for a property: set unless the user set it, in the file's
 * kafka.properties or as KAFKA_<PROPERTY>, or it no longer holds librdkafka's default
 * (libdefault) because an alias of it was set. */
void kafka_conf_default(rd_kafka_conf_t *conf, cfg_file *cf, const char *key, const char *libdefault,
                        const char *ours);

/* Creates the topics that do not exist yet, with the given partitions and replication
 * factor; topics that exist are left alone. 0 on success. */
int kafka_ensure_topics(rd_kafka_t *rk, const char *const *topics, int ntopics, int partitions,
                        int replication_factor, int timeout_ms, char *err, size_t errlen);

/* The same, with topic configs for the topics it creates: "name", "value", ... NULL
 * (e.g. "cleanup.policy", "compact"). */
int kafka_ensure_topics_config(rd_kafka_t *rk, const char *const *topics, int ntopics, int partitions,
                               int replication_factor, const char *const *configs, int timeout_ms, char *err,
                               size_t errlen);

/* Partition for a key as the Java client computes it (murmur2, positive, modulo n). */
int32_t kafka_partition_for_key(const void *key, size_t len, int32_t partitions);

#endif
