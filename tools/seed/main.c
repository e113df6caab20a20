/* main.c - member-seed: demo members for the membership register.
 *
 *   member-seed [--count N] [--start-id ID] [--row-base ID] [--seed S] [--year Y]
 *       writes a psql script to stdout: one COPY block per table, then the sequences
 *       moved past what it wrote; pipe it into `psql -v ON_ERROR_STOP=1 -1`.
 *   member-seed activity [--rate PER_SECOND] [--duration SECONDS] [--seed S]
 *       keeps changing the database that the PG* variables name, as members do: join,
 *       move house, change e-mail or phone, pay the fee, leave. Prints counts, never
 *       member data.
 * Members are a pure function of (seed, id), see seed.h. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/seed/seed.h"
#include "tools/seed/seed_activity.h"

typedef struct seed_opts {
    uint64_t count, start_id, row_base, seed;
    int year;
} seed_opts;

/* COPY text format: escape backslash, tab, newline; NULL is \N. */
static void seed_field(FILE *out, const char *s, bool last)
{
    if (!s) {
        fputs("\\N", out);
    } else {
        for (const char *p = s; *p; p++) {
            if (*p == '\\' || *p == '\t' || *p == '\n')
                fputc('\\', out);
            fputc(*p == '\n' ? 'n' : *p == '\t' ? 't' : *p, out);
        }
    }
    fputc(last ? '\n' : '\t', out);
}

static void seed_int(FILE *out, long long v, bool null, bool last)
{
    if (null)
        fputs("\\N", out);
    else
        fprintf(out, "%lld", v);
    fputc(last ? '\n' : '\t', out);
}

typedef void (*seed_table_fn)(FILE *out, const seed_opts *o, const seed_member *m, uint64_t row);

static void seed_table(FILE *out, const seed_opts *o, const char *copy, seed_table_fn fn)
{
    fprintf(out, "COPY %s FROM STDIN;\n", copy);
    seed_member m;
    for (uint64_t i = 0; i < o->count; i++) {
        seed_member_make(o->seed, o->start_id + i, o->year, &m);
        fn(out, o, &m, o->row_base + 2 * i);
    }
    fputs("\\.\n", out);
}

static void row_comrade(FILE *out, const seed_opts *o, const seed_member *m, uint64_t row)
{
    (void)o;
    (void)row;
    char birthday[16], at[40];
    snprintf(birthday, sizeof birthday, "%04d-%02d-%02d", m->birth_year, m->birth_month, m->birth_day);
    seed_int(out, (long long)m->id, false, false);
    seed_field(out, m->name, false);
    seed_field(out, m->ssn, false);
    seed_field(out, m->has_birthday ? birthday : NULL, false);
    seed_field(out, m->date_joined, false);
    seed_field(out, m->reachable ? "t" : "f", false);
    seed_field(out, m->groupable ? "t" : "f", false);
    seed_int(out, m->housing, m->housing < 0, false);
    seed_int(out, m->gender, m->gender < 0, false);
    seed_field(out, m->deleted ? m->deleted_at : NULL, false);
    snprintf(at, sizeof at, "%.10s 00:00:00+00", m->date_joined);
    seed_field(out, m->id % 3 ? "t" : "f", false);
    seed_field(out, at, false);
    seed_field(out, m->id % 4 ? "f" : "t", false);
    seed_field(out, at, true);
}

static void row_contact(FILE *out, const seed_opts *o, const seed_member *m, uint64_t row)
{
    (void)o;
    (void)row;
    seed_int(out, (long long)m->id, false, false);
    seed_field(out, m->phone, false);
    seed_field(out, m->email, false);
    seed_field(out, m->facebook, false);
    seed_field(out, m->foreign_phone, true);
}

/* Row ids: the current address is row, the previous one row + 1. */
static void row_address(FILE *out, const seed_opts *o, const seed_member *m, uint64_t row)
{
    char moved_in[16];
    snprintf(moved_in, sizeof moved_in, "%.10s", m->date_joined);
    seed_int(out, (long long)row, false, false);
    seed_int(out, m->country_id, false, false);
    seed_field(out, "t", false);
    seed_field(out, moved_in, false);
    seed_field(out, NULL, true);
    if (m->has_old_address) {
        char moved[16];
        snprintf(moved, sizeof moved, "%04d-01-15", m->join_year - 3 > 1990 ? m->join_year - 3 : 1990);
        seed_int(out, (long long)row + 1, false, false);
        seed_int(out, 109, false, false);
        seed_field(out, "f", false);
        seed_field(out, moved, false);
        seed_field(out, moved_in, true);
    }
    (void)o;
}

static void row_local(FILE *out, const seed_opts *o, const seed_member *m, uint64_t row)
{
    (void)o;
    if (!m->foreign) {
        seed_int(out, (long long)row, false, false);
        seed_int(out, (long long)m->id, false, false);
        seed_int(out, m->address_id, false, false);
        seed_field(out, "f", true);
    }
    if (m->has_old_address) {
        seed_int(out, (long long)row + 1, false, false);
        seed_int(out, (long long)m->id, false, false);
        seed_int(out, m->old_address_id, false, false);
        seed_field(out, "f", true);
    }
}

static void row_foreign(FILE *out, const seed_opts *o, const seed_member *m, uint64_t row)
{
    (void)o;
    if (!m->foreign)
        return;
    seed_int(out, (long long)row, false, false);
    seed_int(out, (long long)m->id, false, false);
    seed_field(out, m->foreign_address, false);
    seed_field(out, m->foreign_postal, false);
    seed_field(out, m->foreign_city, true);
}

static void row_unions(FILE *out, const seed_opts *o, const seed_member *m, uint64_t row)
{
    (void)o;
    for (int k = 0; k < m->nunions; k++) {
        seed_int(out, (long long)row + k, false, false);
        seed_int(out, (long long)m->id, false, false);
        seed_int(out, m->unions[k], false, true);
    }
}

static void row_title(FILE *out, const seed_opts *o, const seed_member *m, uint64_t row)
{
    (void)o;
    if (!m->title)
        return;
    seed_int(out, (long long)row, false, false);
    seed_int(out, (long long)m->id, false, false);
    seed_int(out, m->title, false, true);
}

static void row_fees(FILE *out, const seed_opts *o, const seed_member *m, uint64_t row)
{
    char paid[16];
    if (m->fee_paid_this_year) {
        snprintf(paid, sizeof paid, "%04d-02-%02d", o->year, 1 + (int)(m->id % 28));
        seed_int(out, (long long)row, false, false);
        seed_int(out, (long long)m->id, false, false);
        seed_int(out, o->year, false, false);
        seed_field(out, paid, true);
    }
    if (m->fee_paid_last_year) {
        snprintf(paid, sizeof paid, "%04d-03-%02d", o->year - 1, 1 + (int)(m->id % 28));
        seed_int(out, (long long)row + 1, false, false);
        seed_int(out, (long long)m->id, false, false);
        seed_int(out, o->year - 1, false, false);
        seed_field(out, paid, true);
    }
}

static void seed_script(FILE *out, const seed_opts *o)
{
    fputs("SET client_encoding = 'UTF8';\nSET synchronous_commit = off;\n", out);
    seed_table(out, o, "membership_comrade (id, name, ssn, birthday, date_joined, reachable, groupable, "
                       "housing_situation, gender, deleted_at, email_marketing, email_marketing_updated_at, "
                       "sms_marketing, sms_marketing_updated_at)", row_comrade);
    seed_table(out, o, "membership_contactinfo (comrade_id, phone, email, facebook, foreign_phone)", row_contact);
    seed_table(out, o, "membership_newcomradeaddress (id, country_id, current, moved_in, moved_out)", row_address);
    seed_table(out, o, "membership_newlocaladdress (newcomradeaddress_ptr_id, comrade_id, address_id, unlocated)", row_local);
    seed_table(out, o, "membership_newforeignaddress (newcomradeaddress_ptr_id, comrade_id, address, postal_code, municipality)", row_foreign);
    seed_table(out, o, "membership_unionmembership (id, comrade_id, union_id)", row_unions);
    seed_table(out, o, "membership_comradetitle (id, comrade_id, title_id)", row_title);
    seed_table(out, o, "billing_membershipfee (id, comrade_id, year, date_paid)", row_fees);
    static const char *const seqs[] = { "membership_comrade", "membership_newcomradeaddress", "membership_unionmembership",
                                        "membership_comradetitle", "billing_membershipfee" };
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++)
        fprintf(out, "SELECT setval('%s_id_seq', GREATEST((SELECT max(id) FROM %s), 1));\n", seqs[i], seqs[i]);
    fputs("ANALYZE;\n", out);
}

static void usage(FILE *f)
{
    fputs("usage: member-seed [--count N] [--start-id ID] [--row-base ID] [--seed S] [--year Y]\n"
          "       member-seed activity [--rate PER_SECOND] [--duration SECONDS] [--seed S]\n"
          "The first form writes a psql script (COPY blocks) for N members to stdout;\n"
          "the second keeps changing the database named by the PG* variables.\n", f);
}

static int seed_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    bool activity = argc > 1 && strcmp(argv[1], "activity") == 0;
    if (activity) {
        argv++;
        argc--;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    seed_opts o = { 1000, 1, 1, 42, tm.tm_year + 1900 };
    double rate = 2, duration = 0;
    static const struct option opts[] = {
        { "count", required_argument, NULL, 'n' }, { "start-id", required_argument, NULL, 's' },
        { "row-base", required_argument, NULL, 'b' }, { "seed", required_argument, NULL, 'S' },
        { "year", required_argument, NULL, 'y' }, { "rate", required_argument, NULL, 'r' },
        { "duration", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'n': if (seed_parse_u64(optarg, &o.count)) goto bad; break;
        case 's': if (seed_parse_u64(optarg, &o.start_id) || o.start_id == 0) goto bad; break;
        case 'b': if (seed_parse_u64(optarg, &o.row_base) || o.row_base == 0) goto bad; break;
        case 'S': if (seed_parse_u64(optarg, &o.seed)) goto bad; break;
        case 'y': if (seed_parse_u64(optarg, &v) || v < 2017 || v > 2100) goto bad; o.year = (int)v; break;
        case 'r': rate = strtod(optarg, &end); if (*end || rate <= 0 || rate > 10000) goto bad; break;
        case 'd': duration = strtod(optarg, &end); if (*end || duration < 0) goto bad; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc)
        goto bad;
    if (activity)
        return seed_activity_run(rate, duration, o.seed);
    if (o.start_id + o.count > 1500000) {
        fprintf(stderr, "member-seed: at most 1,500,000 members (distinct kennitölur run out)\n");
        return 2;
    }
    seed_script(stdout, &o);
    return fflush(stdout) == 0 ? 0 : 1;
bad:
    fprintf(stderr, "member-seed: bad argument%s%s\n", optind <= argc && optarg ? ": " : "", optarg ? optarg : "");
    usage(stderr);
    return 2;
}
