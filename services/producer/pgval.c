/* pgval.c - PostgreSQL text values to JSON (see pgval.h). */
#include "services/producer/pgval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { uint32_t oid, array_oid; const char *name; pgv_kind kind; } builtin[] = {
    { 16, 1000, "bool", PGV_BOOL },          { 17, 1001, "bytea", PGV_BYTEA },
    { 18, 1002, "char", PGV_TEXT },          { 19, 1003, "name", PGV_TEXT },
    { 20, 1016, "int8", PGV_INT },           { 21, 1005, "int2", PGV_INT },
    { 23, 1007, "int4", PGV_INT },           { 25, 1009, "text", PGV_TEXT },
    { 26, 1028, "oid", PGV_INT },            { 114, 199, "json", PGV_JSON },
    { 142, 143, "xml", PGV_TEXT },           { 700, 1021, "float4", PGV_FLOAT },
    { 701, 1022, "float8", PGV_FLOAT },      { 790, 791, "money", PGV_TEXT },
    { 1042, 1014, "bpchar", PGV_TEXT },      { 1043, 1015, "varchar", PGV_TEXT },
    { 1082, 1182, "date", PGV_DATE },        { 1083, 1183, "time", PGV_TIME },
    { 1114, 1115, "timestamp", PGV_TIMESTAMP }, { 1184, 1185, "timestamptz", PGV_TIMESTAMPTZ },
    { 1186, 1187, "interval", PGV_INTERVAL }, { 1266, 1270, "timetz", PGV_TIMETZ },
    { 1700, 1231, "numeric", PGV_NUMERIC },  { 2950, 2951, "uuid", PGV_UUID },
    { 3802, 3807, "jsonb", PGV_JSON },
};
#define NBUILTIN (sizeof builtin / sizeof *builtin)

bool pgv_builtin(uint32_t oid, pgv_type *out)
{
    for (size_t i = 0; i < NBUILTIN; i++) {
        if (builtin[i].oid == oid || builtin[i].array_oid == oid) {
            out->kind = builtin[i].kind;
            out->array = builtin[i].array_oid == oid;
            return true;
        }
    }
    return false;
}

bool pgv_by_name(const char *name, pgv_type *out)
{
    bool array = name[0] == '_';
    for (size_t i = 0; i < NBUILTIN; i++) {
        if (!strcmp(builtin[i].name, name + array)) {
            out->kind = builtin[i].kind;
            out->array = array;
            return true;
        }
    }
    return false;
}

/* --- dates and times -------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (long long)yoe + era * 400 + (*m <= 2);
}

typedef struct cursor {
    const char *p, *end;
} cursor;

static bool cur_digits(cursor *c, int min, int max, long long *v)
{
    int n = 0;
    *v = 0;
    while (c->p < c->end && n < max && *c->p >= '0' && *c->p <= '9') {
        *v = *v * 10 + (*c->p++ - '0');
        n++;
    }
    return n >= min;
}

static bool cur_lit(cursor *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool ends_with_bc(const char *s, size_t *n)
{
    if (*n >= 3 && !memcmp(s + *n - 3, " BC", 3)) {
        *n -= 3;
        return true;
    }
    return false;
}

/* "YYYY-MM-DD" (year may be longer) into y, m, d; BC years become astronomical. */
static bool parse_date(cursor *c, bool bc, long long *y, unsigned *m, unsigned *d)
{
    long long mm, dd;
    if (!cur_digits(c, 4, 9, y) || !cur_lit(c, '-') || !cur_digits(c, 2, 2, &mm) || !cur_lit(c, '-') ||
        !cur_digits(c, 2, 2, &dd) || mm < 1 || mm > 12 || dd < 1 || dd > 31)
        return false;
    if (bc)
        *y = 1 - *y;
    *m = (unsigned)mm;
    *d = (unsigned)dd;
    return true;
}

static void put_year(jbuf *out, long long y, unsigned m, unsigned d)
{
    char buf[48];
    int n = y < 0 ? snprintf(buf, sizeof buf, "-%04lld-%02u-%02u", -y, m, d)
                  : snprintf(buf, sizeof buf, "%04lld-%02u-%02u", y, m, d);
    jbuf_put(out, buf, (size_t)n);
}

/* "HH:MM:SS[.ffffff]" into seconds of the day; frac points at the '.' part. */
static bool parse_time(cursor *c, long long *secs, const char **frac, size_t *fraclen)
{
    long long h, mi, s;
    if (!cur_digits(c, 2, 2, &h) || !cur_lit(c, ':') || !cur_digits(c, 2, 2, &mi) || !cur_lit(c, ':') ||
        !cur_digits(c, 2, 2, &s))
        return false;
    *frac = c->p;
    if (cur_lit(c, '.')) {
        long long ignored;
        if (!cur_digits(c, 1, 9, &ignored))
            return false;
    }
    *fraclen = (size_t)(c->p - *frac);
    *secs = h * 3600 + mi * 60 + s;
    return h <= 24 && mi < 60 && s < 61;
}

/* "+HH[:MM[:SS]]" into seconds east of UTC. */
static bool parse_offset(cursor *c, long long *off)
{
    int sign = cur_lit(c, '+') ? 1 : cur_lit(c, '-') ? -1 : 0;
    long long h, m = 0, s = 0;
    if (!sign || !cur_digits(c, 2, 2, &h))
        return false;
    if (cur_lit(c, ':') && !cur_digits(c, 2, 2, &m))
        return false;
    if (cur_lit(c, ':') && !cur_digits(c, 2, 2, &s))
        return false;
    *off = sign * (h * 3600 + m * 60 + s);
    return true;
}

static void put_hms(jbuf *out, long long secs, const char *frac, size_t fraclen)
{
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", secs / 3600, secs / 60 % 60, secs % 60);
    jbuf_put(out, buf, (size_t)n);
    jbuf_put(out, frac, fraclen);
}

static int date_json(jbuf *out, const char *s, size_t n)
{
    bool bc = ends_with_bc(s, &n);
    cursor c = { s, s + n };
    long long y;
    unsigned m, d;
    if (!parse_date(&c, bc, &y, &m, &d) || c.p != c.end)
        return -1;
    jbuf_putc(out, '"');
    put_year(out, y, m, d);
    jbuf_putc(out, '"');
    return 0;
}

static int timetz_json(jbuf *out, const char *s, size_t n)
{
    cursor c = { s, s + n };
    long long secs, off;
    const char *frac;
    size_t fraclen;
    if (!parse_time(&c, &secs, &frac, &fraclen) || !parse_offset(&c, &off) || c.p != c.end)
        return -1;
    secs = ((secs - off) % 86400 + 86400) % 86400;
    jbuf_putc(out, '"');
    put_hms(out, secs, frac, fraclen);
    jbuf_puts(out, "Z\"");
    return 0;
}

/* timestamp (tz false) and timestamptz (tz true, converted to UTC with 'Z'). */
static int timestamp_json(jbuf *out, const char *s, size_t n, bool tz)
{
    bool bc = ends_with_bc(s, &n);
    cursor c = { s, s + n };
    long long y, secs, off = 0;
    unsigned m, d;
    const char *frac;
    size_t fraclen;
    if (!parse_date(&c, bc, &y, &m, &d) || !cur_lit(&c, ' ') || !parse_time(&c, &secs, &frac, &fraclen))
        return -1;
    if (tz && !parse_offset(&c, &off))
        return -1;
    if (c.p != c.end)
        return -1;
    if (off) {
        long long t = days_from_civil(y, m, d) * 86400 + secs - off;
        long long days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
        secs = t - days * 86400;
        civil_from_days(days, &y, &m, &d);
    }
    jbuf_putc(out, '"');
    put_year(out, y, m, d);
    jbuf_putc(out, 'T');
    put_hms(out, secs, frac, fraclen);
    jbuf_puts(out, tz ? "Z\"" : "\"");
    return 0;
}

/* --- the other scalar kinds ------------------------------------------------- */

static int bytea_json(jbuf *out, const char *s, size_t n)
{
    if (n < 2 || s[0] != '\\' || s[1] != 'x' || n % 2)
        return -1;
    size_t bytes = (n - 2) / 2;
    unsigned char stackbuf[256], *bin = bytes <= sizeof stackbuf ? stackbuf : malloc(bytes);
    if (!bin)
        abort();
    int rc = 0;
    for (size_t i = 0; i < bytes && rc == 0; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char h = s[2 + 2 * i + (size_t)k];
            int x = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                  : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (x < 0)
                rc = -1;
            v = v * 16 + x;
        }
        bin[i] = (unsigned char)v;
    }
    if (rc == 0)
        jbuf_base64(out, bin, bytes);
    if (bin != stackbuf)
        free(bin);
    return rc;
}

/* True when s[0..n) is a number in JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
        return false;
    if (s[i] == '0')
        i++;
    else
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    return i == n;
}

static int number_json(jbuf *out, const char *s, size_t n)
{
    if (!json_number(s, n))
        return -1;
    jbuf_put(out, s, n);
    return 0;
}

static int scalar_json(jbuf *out, pgv_kind kind, const char *s, size_t n)
{
    switch (kind) {
    case PGV_INT:
        return number_json(out, s, n);
    case PGV_FLOAT:
        if ((n == 3 && !memcmp(s, "NaN", 3)) || (n == 8 && !memcmp(s, "Infinity", 8)) ||
            (n == 9 && !memcmp(s, "-Infinity", 9))) {
            jbuf_str(out, s, n);
            return 0;
        }
        return number_json(out, s, n);
    case PGV_BOOL:
        if (n == 1 && (s[0] == 't' || s[0] == 'f')) {
            jbuf_puts(out, s[0] == 't' ? "true" : "false");
            return 0;
        }
        return -1;
    case PGV_BYTEA:
        return bytea_json(out, s, n);
    case PGV_DATE:
        if ((n == 8 && !memcmp(s, "infinity", 8)) || (n == 9 && !memcmp(s, "-infinity", 9)))
            break;
        return date_json(out, s, n);
    case PGV_TIMETZ:
        return timetz_json(out, s, n);
    case PGV_TIMESTAMP:
    case PGV_TIMESTAMPTZ:
        if ((n == 8 && !memcmp(s, "infinity", 8)) || (n == 9 && !memcmp(s, "-infinity", 9)))
            break;
        return timestamp_json(out, s, n, kind == PGV_TIMESTAMPTZ);
    case PGV_TEXT:
    case PGV_NUMERIC:
    case PGV_JSON:
    case PGV_TIME:
    case PGV_INTERVAL:
    case PGV_UUID:
        break;
    }
    jbuf_str(out, s, n);
    return 0;
}

/* --- arrays ----------------------------------------------------------------- */

/* Parses one array level starting at '{' (c->p) and writes a JSON array. */
static int array_level(jbuf *out, pgv_kind kind, cursor *c, jbuf *scratch, int depth)
{
    if (depth > 6 || !cur_lit(c, '{')) /* PostgreSQL allows at most 6 dimensions */
        return -1;
    jbuf_putc(out, '[');
    bool first = true;
    while (c->p < c->end && *c->p == ' ')
        c->p++;
    if (cur_lit(c, '}')) {
        jbuf_putc(out, ']');
        return 0;
    }
    for (;;) {
        if (!first)
            jbuf_putc(out, ',');
        first = false;
        while (c->p < c->end && *c->p == ' ')
            c->p++;
        if (c->p >= c->end)
            return -1;
        if (*c->p == '{') {
            if (array_level(out, kind, c, scratch, depth + 1) != 0)
                return -1;
        } else if (*c->p == '"') {
            c->p++;
            jbuf_reset(scratch);
            while (c->p < c->end && *c->p != '"') {
                if (*c->p == '\\' && c->p + 1 < c->end)
                    c->p++;
                jbuf_putc(scratch, *c->p++);
            }
            if (!cur_lit(c, '"'))
                return -1;
            if (scalar_json(out, kind, scratch->data ? scratch->data : "", scratch->len) != 0)
                return -1;
        } else {
            const char *start = c->p;
            while (c->p < c->end && *c->p != ',' && *c->p != '}')
                c->p++;
            size_t n = (size_t)(c->p - start);
            while (n && start[n - 1] == ' ')
                n--;
            if (n == 4 && !strncasecmp(start, "NULL", 4))
                jbuf_puts(out, "null");
            else if (scalar_json(out, kind, start, n) != 0)
                return -1;
        }
        while (c->p < c->end && *c->p == ' ')
            c->p++;
        if (cur_lit(c, '}'))
            break;
        if (!cur_lit(c, ','))
            return -1;
    }
    jbuf_putc(out, ']');
    return 0;
}

static int array_json(jbuf *out, pgv_kind kind, const char *s, size_t n)
{
    cursor c = { s, s + n };
    if (c.p < c.end && *c.p == '[') { /* dimension decoration "[0:2]={...}" */
        const char *eq = memchr(s, '=', n);
        if (!eq)
            return -1;
        c.p = eq + 1;
    }
    jbuf scratch = { 0 };
    int rc = array_level(out, kind, &c, &scratch, 1);
    jbuf_free(&scratch);
    return rc == 0 && c.p == c.end ? 0 : -1;
}

int pgv_to_json(jbuf *out, pgv_type t, const char *s, size_t n)
{
    size_t mark = out->len;
    int rc = t.array ? array_json(out, t.kind, s, n) : scalar_json(out, t.kind, s, n);
    if (rc != 0) {
        out->len = mark;
        jbuf_str(out, s, n);
    }
    return rc;
}
