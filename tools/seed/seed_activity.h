/* seed_activity.h - `member-seed activity`: a stream of realistic member changes. */
#ifndef TOOLS_SEED_SEED_ACTIVITY_H
#define TOOLS_SEED_SEED_ACTIVITY_H

#include <stdint.h>

/* Runs until duration seconds pass (0: until SIGINT/SIGTERM). Exit status. */
int seed_activity_run(double rate_per_second, double duration_seconds, uint64_t seed);

#endif
