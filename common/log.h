/* log.h - structured logs: one JSON object per line on stderr.
 *
 * Every service logs through here so that operators get one format:
 *   {"ts":"2026-11-25T03:30:14.123Z","level":"info","service":"member-producer","msg":"..."}
 * Messages are printf-formatted; they must never contain member data (kennitala,
 * names, e-mail, phone, address) or secrets. Personal data may only be logged through
 * log_pii(), which prints nothing unless the explicit switch log_set_pii(true)
 * (EKKLESIA_LOG_PERSONAL_DATA=1) is on. */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdbool.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level;

void log_init(const char *service);            /* reads EKKLESIA_LOG_LEVEL, EKKLESIA_LOG_PERSONAL_DATA */
void log_set_level(log_level level);
log_level log_get_level(void);
int log_parse_level(const char *name, log_level *out); /* "debug".."error" -> 0, else -1 */
void log_set_pii(bool on);
bool log_pii_enabled(void);

void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like log_write but only when personal-data logging was switched on explicitly. */
void log_pii(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_get_level() <= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
