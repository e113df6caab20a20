/* config.h - service configuration: a libconfig file plus environment overrides.
 *
 * Every setting has a dotted key ("kafka.topic_prefix"). Its value comes from, in
 * order: the environment variable EKKLESIA_<KEY> (upper-cased, '.' -> '_', e.g.
 * EKKLESIA_KAFKA_TOPIC_PREFIX), the file, the default given by the caller. A bad value
 * gives a cfg_error naming the file and line (or the variable) and the reason, which the
 * services print before exiting with status 2. Strings returned stay valid until
 * cfg_close(). */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct cfg_file cfg_file;

typedef struct cfg_error {
    char where[320]; /* "config/producer.conf:12" or "environment EKKLESIA_X" */
    char reason[512];
} cfg_error;

/* Opens path (NULL: no file, environment and defaults only). NULL on error. */
cfg_file *cfg_open(const char *path, cfg_error *err);
void cfg_close(cfg_file *cf);
const char *cfg_path(const cfg_file *cf);

int cfg_string(cfg_file *cf, const char *key, const char *def, const char **out, cfg_error *err);
int cfg_int(cfg_file *cf, const char *key, long long def, long long min, long long max,
            long long *out, cfg_error *err);
int cfg_double(cfg_file *cf, const char *key, double def, double min, double max,
               double *out, cfg_error *err);
int cfg_bool(cfg_file *cf, const char *key, bool def, bool *out, cfg_error *err);
/* One of the allowed words (NULL-terminated list); *out is its index. */
int cfg_enum(cfg_file *cf, const char *key, const char *def, const char *const *allowed,
             int *out, cfg_error *err);
/* Raw libconfig access for structured settings (lists, groups); NULL when absent. */
config_setting_t *cfg_setting(cfg_file *cf, const char *key);
/* Fills err for a setting found bad by the caller. Returns -1. */
int cfg_fail(cfg_file *cf, const config_setting_t *s, cfg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "file:line: reason" for printing. */
const char *cfg_error_str(const cfg_error *err, char *buf, size_t len);

#endif
