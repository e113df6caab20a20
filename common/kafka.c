/* kafka.c - librdkafka configuration from file and environment, topic creation and
 * the Java client's key partitioner (see kafka.h). */
#include "common/kafka.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

extern char **environ;

bool kafka_property_is_secret(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, ".key.pem") ||
           strstr(key, "key.pem") || strstr(key, "sasl.oauthbearer.config") ||
           strstr(key, "sasl.username") || strstr(key, "keystore");
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, cfg_error *err)
{
    char why[512];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(err->reason, sizeof err->reason, "kafka property %s%s%s: %s", key,
                 kafka_property_is_secret(key) ? "" : " = ", kafka_property_is_secret(key) ? "" : value,
                 why);
        return -1;
    }
    return 0;
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_level l = level <= 3 ? LOG_ERROR : level <= 4 ? LOG_WARN : level <= 6 ? LOG_INFO : LOG_DEBUG;
    log_write(l, "kafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

/* Kafka's own scripts read these; they are not librdkafka properties. */
static bool kafka_env_is_foreign(const char *name)
{
    static const char *const foreign[] = { "KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS",
                                           "KAFKA_LOG4J_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_JMX_OPTS",
                                           "KAFKA_DEBUG", "KAFKA_HOME", NULL };
    for (int i = 0; foreign[i]; i++)
        if (strcmp(name, foreign[i]) == 0)
            return true;
    return false;
}

static int kafka_conf_from_env(rd_kafka_conf_t *conf, cfg_error *err)
{
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "KAFKA_", 6) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char name[256], key[256];
        size_t n = (size_t)(eq - *e);
        if (n >= sizeof name)
            continue;
        memcpy(name, *e, n);
        name[n] = '\0';
        if (kafka_env_is_foreign(name))
            continue;
        size_t k = 0;
        for (const char *p = name + 6; *p && k + 1 < sizeof key; p++)
            key[k++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        key[k] = '\0';
        if (kafka_conf_set(conf, key, eq + 1, err) != 0) {
            snprintf(err->where, sizeof err->where, "environment %s", name);
            return -1;
        }
    }
    return 0;
}

static int kafka_conf_from_file(rd_kafka_conf_t *conf, cfg_file *cf, cfg_error *err)
{
    /* the file's value or EKKLESIA_KAFKA_BOOTSTRAP_SERVERS (KAFKA_BOOTSTRAP_SERVERS,
     * applied after this, wins over both) */
    const char *bootstrap = NULL;
    if (cfg_string(cf, "kafka.bootstrap_servers", NULL, &bootstrap, err) != 0)
        return -1;
    if (bootstrap && kafka_conf_set(conf, "bootstrap.servers", bootstrap, err) != 0)
        return -1;
    config_setting_t *props = cfg_setting(cf, "kafka.properties");
    if (!props)
        return 0;
    if (!config_setting_is_group(props))
        return cfg_fail(cf, props, err, "kafka.properties must be a group of \"name\" = \"value\"");
    for (int i = 0; i < config_setting_length(props); i++) {
        config_setting_t *p = config_setting_get_elem(props, (unsigned)i);
        char value[64];
        const char *v = NULL;
        switch (config_setting_type(p)) {
        case CONFIG_TYPE_STRING: v = config_setting_get_string(p); break;
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
            snprintf(value, sizeof value, "%lld", config_setting_get_int64(p));
            v = value;
            break;
        case CONFIG_TYPE_BOOL: v = config_setting_get_bool(p) ? "true" : "false"; break;
        default: return cfg_fail(cf, p, err, "kafka property %s must be a string, number or boolean", config_setting_name(p));
        }
        /* libconfig names cannot hold '.': "sasl_mechanism" stands for
         * sasl.mechanism (no librdkafka property has a '_' of its own). */
        char key[256];
        snprintf(key, sizeof key, "%s", config_setting_name(p));
        for (char *c = key; *c; c++)
            if (*c == '_')
                *c = '.';
        if (kafka_conf_set(conf, key, v, err) != 0)
            return cfg_fail(cf, p, err, "%s", err->reason);
    }
    return 0;
}

void kafka_conf_default(rd_kafka_conf_t *conf, cfg_file *cf, const char *key, const char *libdefault,
                        const char *ours)
{
    char env[256] = "KAFKA_", path[256] = "kafka.properties.";
    size_t e = strlen(env), f = strlen(path);
    for (const char *k = key; *k && e + 1 < sizeof env && f + 1 < sizeof path; k++) {
        env[e++] = *k == '.' ? '_' : (char)toupper((unsigned char)*k);
        path[f++] = *k == '.' ? '_' : *k;
    }
    env[e] = path[f] = 0;
    if (getenv(env) || (cf && cfg_setting(cf, path)))
        return;
    char v[128];
    size_t len = sizeof v;
    rd_kafka_conf_res_t r = rd_kafka_conf_get(conf, key, v, &len);
    if (r == RD_KAFKA_CONF_UNKNOWN) { /* a topic property (partitioner, message.timeout.ms...) */
        rd_kafka_topic_conf_t *tc = rd_kafka_conf_get_default_topic_conf(conf);
        len = sizeof v;
        r = tc ? rd_kafka_topic_conf_get(tc, key, v, &len) : RD_KAFKA_CONF_OK;
        if (!tc)
            snprintf(v, sizeof v, "%s", libdefault); /* no topic property set at all */
    }
    if (r == RD_KAFKA_CONF_OK && !strcmp(v, libdefault) &&
        rd_kafka_conf_set(conf, key, ours, NULL, 0) != RD_KAFKA_CONF_OK)
        log_warn("kafka: could not set %s", key);
}

rd_kafka_conf_t *kafka_conf_new(cfg_file *cf, const char *client_id, cfg_error *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    if (kafka_conf_set(conf, "client.id", client_id, err) != 0 ||
        kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:9092", err) != 0 ||
        (cf && kafka_conf_from_file(conf, cf, err) != 0) || kafka_conf_from_env(conf, err) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

int kafka_ensure_topics(rd_kafka_t *rk, const char *const *topics, int ntopics, int partitions,
                        int replication_factor, int timeout_ms, char *err, size_t errlen)
{
    return kafka_ensure_topics_config(rk, topics, ntopics, partitions, replication_factor, NULL, timeout_ms, err,
                                      errlen);
}

int kafka_ensure_topics_config(rd_kafka_t *rk, const char *const *topics, int ntopics, int partitions,
                               int replication_factor, const char *const *configs, int timeout_ms, char *err,
                               size_t errlen)
{
    rd_kafka_NewTopic_t **nt = calloc((size_t)ntopics, sizeof *nt);
    if (!nt)
        abort();
    int rc = 0;
    for (int i = 0; i < ntopics; i++) {
        nt[i] = rd_kafka_NewTopic_new(topics[i], partitions, replication_factor, err, errlen);
        if (!nt[i]) {
            rc = -1;
            ntopics = i;
            goto out;
        }
        for (int k = 0; configs && configs[k] && configs[k + 1]; k += 2)
            if (rd_kafka_NewTopic_set_config(nt[i], configs[k], configs[k + 1]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(err, errlen, "topic config %s: not accepted", configs[k]);
                rc = -1;
                ntopics = i + 1;
                goto out;
            }
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(rk, nt, (size_t)ntopics, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        snprintf(err, errlen, "creating topics: no answer from Kafka within %d ms", timeout_ms);
        rc = -1;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "creating topics: %s", rd_kafka_event_error_string(ev));
        rc = -1;
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(err, errlen, "creating topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                         rd_kafka_topic_result_error_string(tr[i]) ? rd_kafka_topic_result_error_string(tr[i])
                                                                   : rd_kafka_err2str(e));
                rc = -1;
                break;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
out:
    for (int i = 0; i < ntopics; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    return rc;
}

/* Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), seed 0x9747b28c. */
static uint32_t kafka_murmur2(const unsigned char *data, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = 0x9747b28cU ^ (uint32_t)len;
    size_t len4 = len / 4;
    for (size_t i = 0; i < len4; i++) {
        size_t i4 = i * 4;
        uint32_t k = (uint32_t)data[i4] | (uint32_t)data[i4 + 1] << 8 | (uint32_t)data[i4 + 2] << 16 |
                     (uint32_t)data[i4 + 3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (len % 4) {
    case 3: h ^= (uint32_t)data[(len & ~3u) + 2] << 16; /* fall through */
    case 2: h ^= (uint32_t)data[(len & ~3u) + 1] << 8;  /* fall through */
    case 1:
        h ^= (uint32_t)data[len & ~3u];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t kafka_partition_for_key(const void *key, size_t len, int32_t partitions)
{
    return (int32_t)((kafka_murmur2(key, len) & 0x7fffffff) % (uint32_t)partitions);
}
