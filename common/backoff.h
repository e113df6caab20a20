/* backoff.h - exponential backoff with full jitter (AWS architecture blog's
 * "full jitter": sleep = random(0, min(cap, base * 2^attempt))). Every retry loop in
 * the project uses it so that many replicas never retry in step. */
#ifndef COMMON_BACKOFF_H
#define COMMON_BACKOFF_H

#include <stdint.h>

typedef struct backoff {
    int64_t base_ms;
    int64_t max_ms;
    unsigned attempt;
    uint64_t rng;
} backoff;

void backoff_init(backoff *b, int64_t base_ms, int64_t max_ms);
int64_t backoff_next(backoff *b);   /* the delay before the next attempt, in ms */
void backoff_reset(backoff *b);     /* after a success */

#endif
