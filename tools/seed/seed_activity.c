/* seed_activity.c - keeps a membership database changing the way a party's register
 * does, at a chosen rate, so that a newcomer sees the sync live: members join (with
 * contact info, an address and this year's fee), move house, change e-mail or phone,
 * pay the fee, have a fee booked to them by mistake moved to the member who paid it
 * (comrade_id corrected) or refunded (deleted), and leave (soft delete). Each change is one transaction,
 * through libpq with the PG* variables. Prints counts per kind of change, never member
 * data. */
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "tools/seed/seed.h"
#include "tools/seed/seed_activity.h"

enum { ACT_JOIN, ACT_MOVE, ACT_EMAIL, ACT_PHONE, ACT_FEE, ACT_REBOOK, ACT_REFUND, ACT_LEAVE, ACT_COUNT };
static const char *const act_names[ACT_COUNT] = { "join", "move", "email", "phone", "fee", "rebook", "refund", "leave" };
static const unsigned act_weights[ACT_COUNT] = { 10, 25, 25, 15, 20, 5, 3, 5 };

static volatile sig_atomic_t act_stop;
static void act_on_signal(int sig) { (void)sig; act_stop = 1; }

static int act_exec(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "member-seed activity: %s", PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

/* A random existing, active member id (or 0). */
static long act_pick_member(PGconn *c, seed_rng *r)
{
    PGresult *b = PQexec(c, "SELECT min(id), max(id) FROM membership_comrade");
    long lo = 0, hi = 0;
    if (PQresultStatus(b) == PGRES_TUPLES_OK && !PQgetisnull(b, 0, 0)) {
        lo = atol(PQgetvalue(b, 0, 0));
        hi = atol(PQgetvalue(b, 0, 1));
    }
    PQclear(b);
    if (hi < lo || hi == 0)
        return 0;
    char from[32];
    snprintf(from, sizeof from, "%ld", lo + (long)seed_rng_below(r, (uint32_t)(hi - lo + 1)));
    const char *p[] = { from };
    PGresult *q = PQexecParams(c, "SELECT id FROM membership_comrade WHERE id >= $1 AND deleted_at IS NULL "
                                  "ORDER BY id LIMIT 1", 1, NULL, p, NULL, NULL, 0);
    long id = PQresultStatus(q) == PGRES_TUPLES_OK && PQntuples(q) ? atol(PQgetvalue(q, 0, 0)) : 0;
    PQclear(q);
    return id;
}

static int act_join(PGconn *c, uint64_t seed)
{
    PGresult *r = PQexec(c, "SELECT nextval('membership_comrade_id_seq')");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return -1;
    }
    uint64_t id = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    seed_member m;
    seed_member_make(seed, id, tm.tm_year + 1900, &m);
    char sid[24], gender[8], address[16], year[8], birthday[16];
    snprintf(sid, sizeof sid, "%llu", (unsigned long long)id);
    snprintf(gender, sizeof gender, "%d", m.gender < 0 ? 0 : m.gender);
    snprintf(address, sizeof address, "%d", m.address_id ? m.address_id : 1);
    snprintf(year, sizeof year, "%d", tm.tm_year + 1900);
    snprintf(birthday, sizeof birthday, "%04d-%02d-%02d", m.birth_year, m.birth_month, m.birth_day);
    const char *p1[] = { sid, m.name, m.ssn, m.placeholder ? NULL : birthday, gender };
    const char *p2[] = { sid, m.phone, m.email };
    const char *p3[] = { sid, address };
    const char *p4[] = { sid, year };
    return act_exec(c, "BEGIN", 0, NULL) || act_exec(c,
        "INSERT INTO membership_comrade (id, name, ssn, birthday, date_joined, gender) VALUES ($1, $2, $3, $4, now(), $5)", 5, p1) ||
        act_exec(c, "INSERT INTO membership_contactinfo (comrade_id, phone, email) VALUES ($1, $2, $3)", 3, p2) ||
        act_exec(c, "WITH a AS (INSERT INTO membership_newcomradeaddress (country_id, current, moved_in) "
                    "VALUES (109, true, current_date) RETURNING id) "
                    "INSERT INTO membership_newlocaladdress (newcomradeaddress_ptr_id, comrade_id, address_id) "
                    "SELECT id, $1, $2 FROM a", 2, p3) ||
        act_exec(c, "INSERT INTO billing_membershipfee (comrade_id, year, date_paid) VALUES ($1, $2, current_date)", 2, p4) ||
        act_exec(c, "COMMIT", 0, NULL) ? -1 : 0;
}

static int act_change(PGconn *c, seed_rng *r, int kind, uint64_t seed)
{
    long id = act_pick_member(c, r);
    if (!id)
        return act_join(c, seed);
    char sid[24], value[64], year[8];
    snprintf(sid, sizeof sid, "%ld", id);
    const char *p[] = { sid, value };
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    switch (kind) {
    case ACT_MOVE:
        snprintf(value, sizeof value, "%u", 1 + seed_rng_below(r, SEED_ADDRESSES));
        return act_exec(c, "BEGIN", 0, NULL) ||
               act_exec(c, "UPDATE membership_newcomradeaddress SET current = false, moved_out = current_date "
                           "WHERE current AND id IN (SELECT newcomradeaddress_ptr_id FROM membership_newlocaladdress WHERE comrade_id = $1 "
                           "UNION SELECT newcomradeaddress_ptr_id FROM membership_newforeignaddress WHERE comrade_id = $1)", 1, p) ||
               act_exec(c, "WITH a AS (INSERT INTO membership_newcomradeaddress (country_id, current, moved_in) "
                           "VALUES (109, true, current_date) RETURNING id) "
                           "INSERT INTO membership_newlocaladdress (newcomradeaddress_ptr_id, comrade_id, address_id) "
                           "SELECT id, $1, $2 FROM a", 2, p) ||
               act_exec(c, "COMMIT", 0, NULL) ? -1 : 0;
    case ACT_EMAIL:
        snprintf(value, sizeof value, "member%ld.%u@example.is", id, seed_rng_below(r, 100000));
        return act_exec(c, "UPDATE membership_contactinfo SET email = $2 WHERE comrade_id = $1", 2, p);
    case ACT_PHONE:
        snprintf(value, sizeof value, "%u%06u", 6 + seed_rng_below(r, 3), seed_rng_below(r, 1000000));
        return act_exec(c, "UPDATE membership_contactinfo SET phone = $2 WHERE comrade_id = $1", 2, p);
    case ACT_FEE:
        snprintf(year, sizeof year, "%d", tm.tm_year + 1900);
        p[1] = year;
        return act_exec(c, "INSERT INTO billing_membershipfee (comrade_id, year, date_paid) VALUES ($1, $2, current_date) "
                           "ON CONFLICT (comrade_id, year) DO UPDATE SET date_paid = current_date", 2, p);
    case ACT_REFUND: /* this year's fee refunded: its row deleted */
        snprintf(year, sizeof year, "%d", tm.tm_year + 1900);
        p[1] = year;
        return act_exec(c, "DELETE FROM billing_membershipfee WHERE comrade_id = $1 AND year = $2", 2, p);
    case ACT_REBOOK: { /* this year's fee of member id was another's: moved to a member without one */
        long to = act_pick_member(c, r);
        if (!to)
            return 0;
        snprintf(value, sizeof value, "%ld", to);
        snprintf(year, sizeof year, "%d", tm.tm_year + 1900);
        const char *q[] = { sid, value, year };
        return act_exec(c, "UPDATE billing_membershipfee SET comrade_id = $2 WHERE comrade_id = $1 AND year = $3 "
                           "AND $1 <> $2 AND NOT EXISTS (SELECT 1 FROM billing_membershipfee "
                           "WHERE comrade_id = $2 AND year = $3)", 3, q);
    }
    default:
        return act_exec(c, "UPDATE membership_comrade SET deleted_at = now() WHERE id = $1", 1, p);
    }
}

static void act_report(const char *when, long done, const long *counts, long failures)
{
    char kinds[256];
    size_t o = 0;
    for (int i = 0; i < ACT_COUNT && o < sizeof kinds; i++)
        o += (size_t)snprintf(kinds + o, sizeof kinds - o, "%s%s %ld", i ? ", " : "", act_names[i], counts[i]);
    fprintf(stderr, "member-seed activity: %s%ld changes (%s), %ld failed\n", when, done, kinds, failures);
}

int seed_activity_run(double rate, double duration, uint64_t seed)
{
    PGconn *c = PQconnectdb("");
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "member-seed activity: cannot connect (PG* variables): %s", PQerrorMessage(c));
        PQfinish(c);
        return 1;
    }
    signal(SIGINT, act_on_signal);
    signal(SIGTERM, act_on_signal);
    seed_rng r;
    seed_rng_init(&r, seed ^ (uint64_t)time(NULL), 0xac7);
    unsigned total_weight = 0;
    for (int i = 0; i < ACT_COUNT; i++)
        total_weight += act_weights[i];
    long counts[ACT_COUNT] = { 0 }, failures = 0, done = 0;
    int64_t start = clock_mono_us(), last_report = start;
    fprintf(stderr, "member-seed activity: %.1f changes/s%s\n", rate, duration > 0 ? "" : " until stopped");
    while (!act_stop) {
        int64_t now = clock_mono_us();
        if (duration > 0 && now - start >= (int64_t)(duration * 1e6))
            break;
        int64_t due = start + (int64_t)((double)done * 1e6 / rate);
        if (due > now) {
            clock_sleep_ms((due - now) / 1000 + 1);
            continue;
        }
        unsigned pick = seed_rng_below(&r, total_weight);
        int kind = 0;
        while (pick >= act_weights[kind])
            pick -= act_weights[kind++];
        int rc = kind == ACT_JOIN ? act_join(c, seed) : act_change(c, &r, kind, seed);
        if (rc != 0) {
            failures++;
            PGresult *rb = PQexec(c, "ROLLBACK");
            PQclear(rb);
            if (PQstatus(c) != CONNECTION_OK)
                PQreset(c);
        } else {
            counts[kind]++;
        }
        done++;
        if (now - last_report >= 10 * 1000000 || act_stop) {
            last_report = now;
            act_report("", done, counts, failures);
        }
    }
    act_report("done, ", done, counts, failures);
    PQfinish(c);
    return failures && failures == done ? 1 : 0;
}
