/* clock.c - monotonic and wall clocks (see clock.h). */
#include "common/clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

static int64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_mono_us(void) { return clock_us(CLOCK_MONOTONIC); }
int64_t clock_mono_ms(void) { return clock_us(CLOCK_MONOTONIC) / 1000; }
int64_t clock_wall_us(void) { return clock_us(CLOCK_REALTIME); }
int64_t clock_wall_ms(void) { return clock_us(CLOCK_REALTIME) / 1000; }

void clock_sleep_ms(int64_t ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

char *clock_format_rfc3339_us(int64_t wall_us, char *buf, size_t len)
{
    time_t secs = (time_t)(wall_us / 1000000);
    long us = (long)(wall_us % 1000000);
    if (us < 0) {
        us += 1000000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
    return buf;
}
