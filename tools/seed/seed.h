/* seed.h - realistic demo members for the membership register.
 *
 * A member is a pure function of (seed, id): every table's rows for member id can be
 * generated independently, in any order, by any process, and always agree. That lets
 * member-seed stream one COPY block per table for a million members in constant memory,
 * and lets later runs add members (--start-id) without colliding with earlier ones:
 * the kennitala is a bijection of the id onto valid kennitölur. */
#ifndef TOOLS_SEED_SEED_H
#define TOOLS_SEED_SEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct seed_rng { uint64_t s; } seed_rng;

void seed_rng_init(seed_rng *r, uint64_t seed, uint64_t stream);
uint64_t seed_rng_next(seed_rng *r);
uint32_t seed_rng_below(seed_rng *r, uint32_t n); /* 0 <= x < n */
bool seed_rng_chance(seed_rng *r, unsigned percent);

/* Kennitala check digit for the first 8 digits; -1 when no valid digit exists (10). */
int seed_kennitala_check(const char *first8);
bool seed_kennitala_valid(const char *kt);
/* The id-th valid kennitala of a person born 1940-2008 (id >= 1, unique per id),
 * and its birth date. Placeholders "9999xxxxxx" are made by the member generator. */
void seed_kennitala_for_id(uint64_t id, char kt[11], int *year, int *month, int *day);

typedef struct seed_member {
    uint64_t id;
    char name[128];
    char ssn[11];
    bool placeholder;       /* a 9999 placeholder kennitala */
    int birth_year, birth_month, birth_day;
    bool has_birthday;
    char date_joined[32];   /* timestamp */
    int join_year;
    bool reachable, groupable;
    int housing;            /* -1: NULL */
    int gender;             /* -1: NULL */
    bool deleted;
    char deleted_at[40];
    char phone[32], email[124], facebook[128], foreign_phone[32];
    bool foreign;           /* lives abroad: a foreign address */
    int country_id;
    int address_id;         /* map_address id (local) */
    char foreign_address[128], foreign_postal[16], foreign_city[64];
    bool has_old_address;   /* a previous (moved out) local address too */
    int old_address_id;
    int unions[2], nunions;
    int title;              /* 0: none */
    bool fee_paid_this_year, fee_paid_last_year;
} seed_member;

void seed_member_make(uint64_t seed, uint64_t id, int this_year, seed_member *m);

/* Names: a first name and a patronymic, with Icelandic letters. */
void seed_name(seed_rng *r, int gender, char *buf, size_t len);
/* ASCII e-mail local part from a name ("Þórdís Jónsdóttir" -> "thordis.jonsdottir"). */
void seed_ascii_name(const char *name, char *buf, size_t len);

#define SEED_ADDRESSES 1920 /* map_address rows made by migration 0001 */

#endif
