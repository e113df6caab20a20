/* kennitala.c - Icelandic national id numbers: the mod-11 check digit and a
 * bijection from member ids onto valid kennitölur of people born 1940-2008.
 * Format: DDMMYY RR C K - birth date, two digits, check digit C (weights
 * 3,2,7,6,5,4,3,2 over the first eight digits; 11 - sum mod 11, 0 when 11, none when
 * 10), century digit K (9 for the 1900s, 0 for the 2000s). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/seed/seed.h"

int seed_kennitala_check(const char *first8)
{
    static const int w[8] = { 3, 2, 7, 6, 5, 4, 3, 2 };
    int sum = 0;
    for (int i = 0; i < 8; i++)
        sum += (first8[i] - '0') * w[i];
    int c = 11 - sum % 11;
    if (c == 11)
        return 0;
    return c == 10 ? -1 : c;
}

bool seed_kennitala_valid(const char *kt)
{
    if (strlen(kt) != 10)
        return false;
    for (int i = 0; i < 10; i++)
        if (kt[i] < '0' || kt[i] > '9')
            return false;
    int c = seed_kennitala_check(kt);
    return c >= 0 && kt[8] - '0' == c && (kt[9] == '9' || kt[9] == '0');
}

static bool seed_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int seed_days_in_month(int y, int m)
{
    static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && seed_leap(y) ? 29 : d[m - 1];
}

/* Day number n (0 = 1940-01-01) to a date. */
static void seed_date_of(uint64_t n, int *y, int *m, int *d)
{
    *y = 1940;
    for (;;) {
        int len = seed_leap(*y) ? 366 : 365;
        if (n < (uint64_t)len)
            break;
        n -= (uint64_t)len;
        (*y)++;
    }
    *m = 1;
    while (n >= (uint64_t)seed_days_in_month(*y, *m)) {
        n -= (uint64_t)seed_days_in_month(*y, *m);
        (*m)++;
    }
    *d = (int)n + 1;
}

#define SEED_DAYS 25202U  /* 1940-01-01 .. 2008-12-31 */
#define SEED_RR 80U       /* the two digits run 20..99 */
#define SEED_STEP 1299709ULL /* a prime; the count of valid slots is not a multiple of it */

/* Every (day, RR) slot whose check digit exists, in order: about 1.83 million. */
static uint32_t *seed_valid_slots;
static uint32_t seed_nvalid;

static void seed_slot_text(uint32_t slot, char first8[9], int *y, int *m, int *d)
{
    seed_date_of(slot / SEED_RR, y, m, d);
    snprintf(first8, 9, "%02d%02d%02d%02u", *d, *m, *y % 100, 20 + slot % SEED_RR);
}

static void seed_build_slots(void)
{
    seed_valid_slots = malloc(sizeof(uint32_t) * SEED_DAYS * SEED_RR);
    if (!seed_valid_slots)
        abort();
    for (uint32_t slot = 0; slot < SEED_DAYS * SEED_RR; slot++) {
        char first8[9];
        int y, m, d;
        seed_slot_text(slot, first8, &y, &m, &d);
        if (seed_kennitala_check(first8) >= 0)
            seed_valid_slots[seed_nvalid++] = slot;
    }
}

void seed_kennitala_for_id(uint64_t id, char kt[11], int *year, int *month, int *day)
{
    /* A permutation of the valid slots: distinct ids below the slot count get
     * distinct kennitölur, whatever the run that generates them. */
    if (!seed_valid_slots)
        seed_build_slots();
    uint32_t slot = seed_valid_slots[(id * SEED_STEP) % seed_nvalid];
    char first8[9];
    seed_slot_text(slot, first8, year, month, day);
    snprintf(kt, 11, "%s%d%d", first8, seed_kennitala_check(first8), *year >= 2000 ? 0 : 9);
}
