/* log.c - JSON-lines logger (see log.h). One write(2) per line so lines from
 * several threads never interleave. */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_service = "ekklesia-sync";
static volatile log_level log_min = LOG_INFO;
static volatile bool log_pii_on = false;
static const char *const log_names[] = { "debug", "info", "warn", "error", "off" };

int log_parse_level(const char *name, log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcasecmp(name, log_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

void log_init(const char *service)
{
    log_service = service;
    const char *lvl = getenv("EKKLESIA_LOG_LEVEL");
    log_level parsed;
    if (lvl && log_parse_level(lvl, &parsed) == 0)
        log_min = parsed;
    const char *pii = getenv("EKKLESIA_LOG_PERSONAL_DATA");
    log_pii_on = pii && (strcmp(pii, "1") == 0 || strcasecmp(pii, "true") == 0);
}

void log_set_level(log_level level) { log_min = level; }
log_level log_get_level(void) { return log_min; }
void log_set_pii(bool on) { log_pii_on = on; }
bool log_pii_enabled(void) { return log_pii_on; }

/* Appends s to buf as the body of a JSON string, escaping as RFC 8259 requires. */
static size_t log_escape(char *buf, size_t pos, size_t cap, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p && pos + 7 < cap; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c == '\n') {
            buf[pos++] = '\\';
            buf[pos++] = 'n';
        } else if (c < 0x20) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

static void log_vwrite(log_level level, const char *fmt, va_list ap)
{
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);

    char line[8192];
    size_t pos = (size_t)snprintf(line, sizeof line,
        "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"service\":\"",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        ts.tv_nsec / 1000000, log_names[level]);
    pos = log_escape(line, pos, sizeof line, log_service);
    pos += (size_t)snprintf(line + pos, sizeof line - pos, "\",\"msg\":\"");
    pos = log_escape(line, pos, sizeof line - 4, msg);
    memcpy(line + pos, "\"}\n", 3);
    pos += 3;
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}

void log_write(log_level level, const char *fmt, ...)
{
    if (level < log_min || level >= LOG_OFF)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}

void log_pii(log_level level, const char *fmt, ...)
{
    if (!log_pii_on || level < log_min || level >= LOG_OFF)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}
