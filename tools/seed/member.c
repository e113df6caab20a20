/* member.c - one demo member as a pure function of (seed, id) (see seed.h). The
 * shares are rough guesses at a real register: most members reachable, one in five
 * with a union, a few percent abroad, a few percent soft-deleted, every 500th with a
 * 9999 placeholder kennitala. */
#include <stdio.h>
#include <string.h>

#include "tools/seed/seed.h"

void seed_rng_init(seed_rng *r, uint64_t seed, uint64_t stream)
{
    r->s = seed * 0x9E3779B97F4A7C15ULL ^ (stream + 1) * 0xD1B54A32D192ED03ULL;
    seed_rng_next(r);
}

/* splitmix64 */
uint64_t seed_rng_next(seed_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint32_t seed_rng_below(seed_rng *r, uint32_t n) { return (uint32_t)(seed_rng_next(r) % n); }
bool seed_rng_chance(seed_rng *r, unsigned percent) { return seed_rng_below(r, 100) < percent; }

static const char *const domains[] = { "gmail.com", "simnet.is", "internet.is", "hi.is", "visir.is", "outlook.com" };
static const struct { int country; const char *city, *postal, *street; } abroad[] = {
    { 59, "København", "2200", "Nørrebrogade" }, { 165, "Oslo", "0557", "Thorvald Meyers gate" },
    { 210, "Stockholm", "118 20", "Götgatan" }, { 82, "Berlin", "10999", "Oranienstraße" },
    { 177, "Gdańsk", "80-831", "Długa" }, { 74, "Tórshavn", "100", "Niels Finsens gøta" },
};

static void seed_phone(seed_rng *r, char *buf, size_t len)
{
    unsigned first = "678"[seed_rng_below(r, 3)] - '0';
    unsigned rest = seed_rng_below(r, 1000000);
    switch (seed_rng_below(r, 10)) { /* the formats people type */
    case 0: snprintf(buf, len, "+354 %u%02u-%04u", first, rest / 10000, rest % 10000); break;
    case 1: snprintf(buf, len, "%u%02u %04u", first, rest / 10000, rest % 10000); break;
    case 2: snprintf(buf, len, "00354%u%06u", first, rest); break;
    default: snprintf(buf, len, "%u%06u", first, rest); break;
    }
}

void seed_member_make(uint64_t seed, uint64_t id, int this_year, seed_member *m)
{
    seed_rng r;
    seed_rng_init(&r, seed, id);
    memset(m, 0, sizeof *m);
    m->id = id;
    m->gender = seed_rng_chance(&r, 2) ? -1 : (int)(seed_rng_chance(&r, 3) ? 3 : seed_rng_chance(&r, 2) ? 0 : 1 + seed_rng_below(&r, 2));
    seed_name(&r, m->gender, m->name, sizeof m->name);
    seed_kennitala_for_id(id, m->ssn, &m->birth_year, &m->birth_month, &m->birth_day);
    m->has_birthday = !seed_rng_chance(&r, 3);
    if (id % 500 == 0) { /* a placeholder kennitala, as the old register has */
        m->placeholder = true;
        snprintf(m->ssn, sizeof m->ssn, "9999%06u", (unsigned)(id % 1000000));
        m->has_birthday = false;
    }
    m->join_year = 2016 + (int)seed_rng_below(&r, (unsigned)(this_year - 2016 + 1));
    snprintf(m->date_joined, sizeof m->date_joined, "%04d-%02u-%02u %02u:%02u:%02u", m->join_year,
             1 + seed_rng_below(&r, 12), 1 + seed_rng_below(&r, 28), 8 + seed_rng_below(&r, 14),
             seed_rng_below(&r, 60), seed_rng_below(&r, 60));
    m->reachable = !seed_rng_chance(&r, 8);
    m->groupable = !seed_rng_chance(&r, 15);
    m->housing = seed_rng_chance(&r, 30) ? -1 : (int)seed_rng_below(&r, 7);
    m->deleted = seed_rng_chance(&r, 3);
    if (m->deleted)
        snprintf(m->deleted_at, sizeof m->deleted_at, "%04d-%02u-%02u 12:00:00+00", m->join_year + 1 > this_year ? this_year : m->join_year + 1,
                 1 + seed_rng_below(&r, 12), 1 + seed_rng_below(&r, 28));

    char ascii[128];
    seed_ascii_name(m->name, ascii, sizeof ascii);
    if (!seed_rng_chance(&r, 4))
        snprintf(m->email, sizeof m->email, "%s%u@%s", ascii, (unsigned)(id % 1000),
                 domains[seed_rng_below(&r, sizeof domains / sizeof domains[0])]);
    if (!seed_rng_chance(&r, 6))
        seed_phone(&r, m->phone, sizeof m->phone);
    if (seed_rng_chance(&r, 20))
        snprintf(m->facebook, sizeof m->facebook, "https://facebook.com/%s", ascii);

    m->foreign = seed_rng_chance(&r, 7);
    if (m->foreign) {
        size_t k = seed_rng_below(&r, sizeof abroad / sizeof abroad[0]);
        m->country_id = abroad[k].country;
        snprintf(m->foreign_address, sizeof m->foreign_address, "%s %u", abroad[k].street, 1 + seed_rng_below(&r, 120));
        snprintf(m->foreign_postal, sizeof m->foreign_postal, "%s", abroad[k].postal);
        snprintf(m->foreign_city, sizeof m->foreign_city, "%s", abroad[k].city);
        snprintf(m->foreign_phone, sizeof m->foreign_phone, "+%u %u", 45 + seed_rng_below(&r, 5), 20000000 + seed_rng_below(&r, 70000000));
    } else {
        m->country_id = 109;
        m->address_id = 1 + (int)seed_rng_below(&r, SEED_ADDRESSES);
    }
    m->has_old_address = seed_rng_chance(&r, 35);
    m->old_address_id = 1 + (int)seed_rng_below(&r, SEED_ADDRESSES);

    m->nunions = seed_rng_chance(&r, 20) ? 1 + (int)seed_rng_chance(&r, 15) : 0;
    m->unions[0] = 1 + (int)seed_rng_below(&r, 8);
    m->unions[1] = 1 + (m->unions[0] % 8); /* a different one */
    m->title = seed_rng_chance(&r, 60) ? 1 + (int)seed_rng_below(&r, 12) : 0;
    m->fee_paid_this_year = !m->deleted && seed_rng_chance(&r, 70);
    m->fee_paid_last_year = m->join_year < this_year && seed_rng_chance(&r, 80);
}
