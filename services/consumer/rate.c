/* rate.c - how fast the consumer may write: Firestore's "500/50/5" ramp (start at 500
 * operations per second, raise by 50% every 5 minutes) and an optional fixed ceiling,
 * as a token bucket. */
#include <math.h>

#include "common/clock.h"
#include "services/consumer/consumer.h"

#define RATE_STEP_MS (5 * 60 * 1000)

void rate_init(rate_limiter *r, double max_per_s, bool ramp, double start_per_s)
{
    r->max_per_s = max_per_s;
    r->ramp = ramp;
    r->start_per_s = start_per_s;
    r->t0_ms = r->last_ms = clock_mono_ms();
    r->tokens = 0;
}

double rate_current(const rate_limiter *r, int64_t now_ms)
{
    double limit = r->max_per_s;
    if (r->ramp) {
        double steps = floor((double)(now_ms - r->t0_ms) / RATE_STEP_MS);
        double ramp = r->start_per_s * pow(1.5, steps > 60 ? 60 : steps);
        if (limit <= 0 || ramp < limit)
            limit = ramp;
    }
    return limit;
}

void rate_acquire(rate_limiter *r, double n)
{
    for (;;) {
        int64_t now = clock_mono_ms();
        double limit = rate_current(r, now);
        if (limit <= 0)
            return;
        r->tokens += (double)(now - r->last_ms) * limit / 1000.0;
        r->last_ms = now;
        if (r->tokens > limit) /* at most a second's worth saved up */
            r->tokens = limit;
        if (r->tokens >= n || (n > limit && r->tokens >= limit)) {
            r->tokens -= n;
            return;
        }
        double wait_ms = (n - r->tokens) * 1000.0 / limit;
        clock_sleep_ms(wait_ms > 100 ? 100 : (int64_t)wait_ms + 1);
    }
}
