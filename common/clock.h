/* clock.h - the two clocks the project uses: monotonic for timeouts and rates,
 * wall-clock for event timestamps. */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);
int64_t clock_wall_ms(void);
int64_t clock_wall_us(void);
void clock_sleep_ms(int64_t ms);
/* RFC 3339 UTC with microseconds: "2026-11-25T03:30:14.123456Z"; buf >= 32. */
char *clock_format_rfc3339_us(int64_t wall_us, char *buf, size_t len);

#endif
