/* backoff.c - exponential backoff with full jitter (see backoff.h). */
#include "common/backoff.h"

#include <time.h>
#include <unistd.h>

/* xorshift64*: small, fast, good enough for jitter; seeded per instance. */
static uint64_t backoff_rand(backoff *b)
{
    uint64_t x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void backoff_init(backoff *b, int64_t base_ms, int64_t max_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    b->base_ms = base_ms > 0 ? base_ms : 1;
    b->max_ms = max_ms >= b->base_ms ? max_ms : b->base_ms;
    b->attempt = 0;
    b->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)b ^ 0x9E3779B97F4A7C15ULL;
    if (!b->rng)
        b->rng = 1;
}

int64_t backoff_next(backoff *b)
{
    int64_t cap = b->base_ms;
    for (unsigned i = 0; i < b->attempt && cap < b->max_ms; i++)
        cap *= 2;
    if (cap > b->max_ms)
        cap = b->max_ms;
    if (b->attempt < 63)
        b->attempt++;
    return (int64_t)(backoff_rand(b) % (uint64_t)(cap + 1));
}

void backoff_reset(backoff *b) { b->attempt = 0; }
