/* config.c - libconfig file + EKKLESIA_* environment overrides (see config.h). */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cfg_file {
    config_t lc;
    char *path;
};

cfg_file *cfg_open(const char *path, cfg_error *err)
{
    cfg_file *cf = calloc(1, sizeof *cf);
    if (!cf)
        abort();
    config_init(&cf->lc);
    if (path) {
        cf->path = strdup(path);
        if (config_read_file(&cf->lc, path) != CONFIG_TRUE) {
            if (config_error_type(&cf->lc) == CONFIG_ERR_FILE_IO) {
                snprintf(err->where, sizeof err->where, "%s", path);
                snprintf(err->reason, sizeof err->reason, "cannot read file: %s", strerror(errno));
            } else {
                snprintf(err->where, sizeof err->where, "%s:%d",
                         config_error_file(&cf->lc) ? config_error_file(&cf->lc) : path,
                         config_error_line(&cf->lc));
                snprintf(err->reason, sizeof err->reason, "%s", config_error_text(&cf->lc));
            }
            cfg_close(cf);
            return NULL;
        }
    }
    return cf;
}

void cfg_close(cfg_file *cf)
{
    if (!cf)
        return;
    config_destroy(&cf->lc);
    free(cf->path);
    free(cf);
}

const char *cfg_path(const cfg_file *cf) { return cf->path ? cf->path : "(no file)"; }

/* EKKLESIA_<KEY>: "kafka.topic_prefix" -> "EKKLESIA_KAFKA_TOPIC_PREFIX". */
static const char *cfg_env(const char *key, char *name, size_t len)
{
    size_t pos = (size_t)snprintf(name, len, "EKKLESIA_");
    for (const char *p = key; *p && pos + 1 < len; p++)
        name[pos++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    name[pos] = '\0';
    return getenv(name);
}

config_setting_t *cfg_setting(cfg_file *cf, const char *key)
{
    return config_lookup(&cf->lc, key);
}

static void cfg_where_setting(cfg_file *cf, const config_setting_t *s, cfg_error *err)
{
    const char *file = s ? config_setting_source_file(s) : NULL;
    snprintf(err->where, sizeof err->where, "%s:%d", file ? file : cfg_path(cf),
             s ? config_setting_source_line(s) : 0);
}

int cfg_fail(cfg_file *cf, const config_setting_t *s, cfg_error *err, const char *fmt, ...)
{
    cfg_where_setting(cf, s, err);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
    va_end(ap);
    return -1;
}

static int cfg_env_fail(const char *env, cfg_error *err, const char *reason, const char *key)
{
    snprintf(err->where, sizeof err->where, "environment %s", env);
    snprintf(err->reason, sizeof err->reason, "%s: %s", key, reason);
    return -1;
}

const char *cfg_error_str(const cfg_error *err, char *buf, size_t len)
{
    snprintf(buf, len, "%s: %s", err->where, err->reason);
    return buf;
}

int cfg_string(cfg_file *cf, const char *key, const char *def, const char **out, cfg_error *err)
{
    char env[256];
    const char *v = cfg_env(key, env, sizeof env);
    if (v) {
        *out = v;
        return 0;
    }
    config_setting_t *s = config_lookup(&cf->lc, key);
    if (!s) {
        *out = def;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return cfg_fail(cf, s, err, "%s must be a string", key);
    *out = config_setting_get_string(s);
    return 0;
}

static int cfg_parse_ll(const char *text, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 0);
    if (errno || end == text || *end)
        return -1;
    *out = v;
    return 0;
}

int cfg_int(cfg_file *cf, const char *key, long long def, long long min, long long max,
            long long *out, cfg_error *err)
{
    char env[256];
    const char *v = cfg_env(key, env, sizeof env);
    long long val = def;
    config_setting_t *s = NULL;
    if (v) {
        if (cfg_parse_ll(v, &val) != 0)
            return cfg_env_fail(env, err, "not an integer", key);
    } else if ((s = config_lookup(&cf->lc, key))) {
        int t = config_setting_type(s);
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
            return cfg_fail(cf, s, err, "%s must be an integer", key);
        val = config_setting_get_int64(s);
    }
    if (val < min || val > max) {
        if (v)
            return cfg_env_fail(env, err, "out of range", key);
        return cfg_fail(cf, s, err, "%s = %lld is out of range [%lld, %lld]", key, val, min, max);
    }
    *out = val;
    return 0;
}

int cfg_double(cfg_file *cf, const char *key, double def, double min, double max, double *out,
               cfg_error *err)
{
    char env[256];
    const char *v = cfg_env(key, env, sizeof env);
    double val = def;
    config_setting_t *s = NULL;
    if (v) {
        char *end;
        val = strtod(v, &end);
        if (end == v || *end)
            return cfg_env_fail(env, err, "not a number", key);
    } else if ((s = config_lookup(&cf->lc, key))) {
        int t = config_setting_type(s);
        if (t == CONFIG_TYPE_FLOAT)
            val = config_setting_get_float(s);
        else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
            val = (double)config_setting_get_int64(s);
        else
            return cfg_fail(cf, s, err, "%s must be a number", key);
    }
    if (!(val >= min && val <= max)) {
        if (v)
            return cfg_env_fail(env, err, "out of range", key);
        return cfg_fail(cf, s, err, "%s = %g is out of range [%g, %g]", key, val, min, max);
    }
    *out = val;
    return 0;
}

int cfg_bool(cfg_file *cf, const char *key, bool def, bool *out, cfg_error *err)
{
    char env[256];
    const char *v = cfg_env(key, env, sizeof env);
    if (v) {
        if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
            *out = true;
        else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
            *out = false;
        else
            return cfg_env_fail(env, err, "not a boolean (true/false)", key);
        return 0;
    }
    config_setting_t *s = config_lookup(&cf->lc, key);
    if (!s) {
        *out = def;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return cfg_fail(cf, s, err, "%s must be true or false", key);
    *out = config_setting_get_bool(s);
    return 0;
}

int cfg_enum(cfg_file *cf, const char *key, const char *def, const char *const *allowed, int *out,
             cfg_error *err)
{
    const char *v;
    if (cfg_string(cf, key, def, &v, err) != 0)
        return -1;
    for (int i = 0; allowed[i]; i++) {
        if (v && strcmp(v, allowed[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    char list[256] = "";
    size_t pos = 0;
    for (int i = 0; allowed[i] && pos < sizeof list; i++)
        pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s%s", i ? ", " : "", allowed[i]);
    char env[256];
    if (cfg_env(key, env, sizeof env))
        return cfg_env_fail(env, err, "must be one of the allowed values", key);
    return cfg_fail(cf, config_lookup(&cf->lc, key), err, "%s = \"%s\" must be one of: %s", key,
                    v ? v : "", list);
}
