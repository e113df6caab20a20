/* fs_value.c - Firestore Value JSON and field paths (see fs_value.h). */
#include "services/consumer/fs_value.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FSV_MAX_DEPTH 32

static json_t *fsv_one(const char *type, json_t *v)
{
    json_t *o = json_object();
    json_object_set_new(o, type, v);
    return o;
}

json_t *fsv_null(void) { return fsv_one("nullValue", json_null()); }
json_t *fsv_bool(bool b) { return fsv_one("booleanValue", json_boolean(b)); }
json_t *fsv_double(double d) { return fsv_one("doubleValue", json_real(d)); }
json_t *fsv_string(const char *s) { return fsv_one("stringValue", json_string(s ? s : "")); }
json_t *fsv_timestamp(const char *ts) { return fsv_one("timestampValue", json_string(ts)); }

json_t *fsv_integer(int64_t i)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, i);
    return fsv_one("integerValue", json_string(buf));
}

json_t *fsv_map(json_t *fields)
{
    json_t *m = json_object();
    json_object_set_new(m, "fields", fields ? fields : json_object());
    return fsv_one("mapValue", m);
}

json_t *fsv_array(json_t *values)
{
    json_t *a = json_object();
    json_object_set_new(a, "values", values ? values : json_array());
    return fsv_one("arrayValue", a);
}

json_t *fsv_from_json(const json_t *plain)
{
    switch (json_typeof(plain)) {
    case JSON_NULL: return fsv_null();
    case JSON_TRUE: return fsv_bool(true);
    case JSON_FALSE: return fsv_bool(false);
    case JSON_INTEGER: return fsv_integer(json_integer_value(plain));
    case JSON_REAL: return fsv_double(json_real_value(plain));
    case JSON_STRING: return fsv_string(json_string_value(plain));
    case JSON_OBJECT: {
        json_t *fields = json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)plain, k, v)
            json_object_set_new(fields, k, fsv_from_json(v));
        return fsv_map(fields);
    }
    case JSON_ARRAY: {
        json_t *values = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(plain, i, v)
            json_array_append_new(values, fsv_from_json(v));
        return fsv_array(values);
    }
    }
    return fsv_null();
}

const char *fsv_type(const json_t *value)
{
    if (!json_is_object(value) || json_object_size(value) != 1)
        return NULL;
    return json_object_iter_key(json_object_iter((json_t *)value));
}

bool fsv_get_int(const json_t *value, int64_t *out)
{
    const json_t *s = json_object_get(value, "integerValue");
    if (json_is_integer(s)) {
        *out = json_integer_value(s);
        return true;
    }
    if (!json_is_string(s))
        return false;
    char *end;
    long long v = strtoll(json_string_value(s), &end, 10);
    if (*end || end == json_string_value(s))
        return false;
    *out = v;
    return true;
}

const char *fsv_get_string(const json_t *value)
{
    return json_string_value(json_object_get(value, "stringValue"));
}

json_t *fsv_to_json(const json_t *value)
{
    const char *t = fsv_type(value);
    if (!t)
        return NULL;
    const json_t *v = json_object_get(value, t);
    if (!strcmp(t, "integerValue")) {
        int64_t i;
        return fsv_get_int(value, &i) ? json_integer(i) : NULL;
    }
    if (!strcmp(t, "mapValue")) {
        json_t *out = json_object();
        const char *k;
        json_t *f;
        json_object_foreach(json_object_get(v, "fields"), k, f) {
            json_t *p = fsv_to_json(f);
            json_object_set_new(out, k, p ? p : json_null());
        }
        return out;
    }
    if (!strcmp(t, "arrayValue")) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(v, "values"), i, e) {
            json_t *p = fsv_to_json(e);
            json_array_append_new(out, p ? p : json_null());
        }
        return out;
    }
    if (!strcmp(t, "nullValue"))
        return json_null();
    return json_deep_copy(v); /* boolean, double, string, timestamp, reference, bytes */
}

/* --- timestamps --------------------------------------------------------- */

static int fsv_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int fsv_timestamp_normalize(const char *in, char *out, size_t len)
{
    int Y, M, D, h = 0, m = 0, sec = 0;
    if (!in || strlen(in) < 10 || fsv_digits(in, 4, &Y) || in[4] != '-' || fsv_digits(in + 5, 2, &M) ||
        in[7] != '-' || fsv_digits(in + 8, 2, &D) || M < 1 || M > 12 || D < 1 || D > 31)
        return -1;
    const char *p = in + 10;
    char frac[10] = "";
    int offset_min = 0;
    if (*p == 'T' || *p == ' ') {
        if (fsv_digits(p + 1, 2, &h) || p[3] != ':' || fsv_digits(p + 4, 2, &m) || h > 23 || m > 59)
            return -1;
        p += 6;
        if (*p == ':') {
            if (fsv_digits(p + 1, 2, &sec) || sec > 60)
                return -1;
            p += 3;
        }
        if (*p == '.') {
            size_t n = 0;
            p++;
            while (isdigit((unsigned char)*p)) {
                if (n < 9)
                    frac[n++] = *p;
                p++;
            }
            if (n == 0)
                return -1;
            frac[n] = 0;
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om = 0;
            int sign = *p == '-' ? -1 : 1;
            if (fsv_digits(p + 1, 2, &oh))
                return -1;
            p += 3;
            if (*p == ':')
                p++;
            if (isdigit((unsigned char)*p)) {
                if (fsv_digits(p, 2, &om))
                    return -1;
                p += 2;
            }
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (*p)
        return -1;
    struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec };
    time_t t = timegm(&tm) - (time_t)offset_min * 60;
    struct tm utc;
    gmtime_r(&t, &utc);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &utc);
    int n = snprintf(out, len, "%s%s%sZ", base, frac[0] ? "." : "", frac);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* --- field paths ------------------------------------------------------- */

static bool fsv_simple_segment(const char *s)
{
    if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

int fsv_path_split(const char *path, char *buf, size_t len, char **segs, int max)
{
    size_t o = 0;
    int n = 0;
    const char *p = path;
    if (!*p)
        return -1;
    while (*p) {
        if (n == max)
            return -1;
        segs[n++] = buf + o;
        if (*p == '`') {
            p++;
            while (*p && *p != '`') {
                if (*p == '\\' && p[1])
                    p++;
                if (o + 1 >= len)
                    return -1;
                buf[o++] = *p++;
            }
            if (*p != '`')
                return -1;
            p++;
        } else {
            while (*p && *p != '.') {
                if (o + 1 >= len)
                    return -1;
                buf[o++] = *p++;
            }
        }
        if (o + 1 >= len)
            return -1;
        if (buf + o == segs[n - 1])
            return -1; /* empty segment */
        buf[o++] = 0;
        if (*p == '.') {
            p++;
            if (!*p)
                return -1;
        } else if (*p) {
            return -1;
        }
    }
    return n;
}

int fsv_path_append(char *path, size_t len, const char *segment)
{
    size_t o = strlen(path);
    char *p = path + o, *end = path + len - 1; /* room for the NUL */
    if (o) {
        if (p >= end)
            return -1;
        *p++ = '.';
    }
    if (fsv_simple_segment(segment)) {
        size_t n = strlen(segment);
        if (n > (size_t)(end - p))
            return path[o] = 0, -1;
        memcpy(p, segment, n);
        p += n;
    } else {
        if (p >= end)
            return path[o] = 0, -1;
        *p++ = '`';
        for (const char *s = segment; *s; s++) {
            if ((*s == '`' || *s == '\\') && p < end)
                *p++ = '\\';
            if (p >= end)
                return path[o] = 0, -1;
            *p++ = *s;
        }
        if (p >= end)
            return path[o] = 0, -1;
        *p++ = '`';
    }
    *p = 0;
    return 0;
}

static json_t *fsv_map_fields(json_t *value)
{
    return json_object_get(json_object_get(value, "mapValue"), "fields");
}

json_t *fsv_get(json_t *fields, const char *path)
{
    char buf[1024];
    char *segs[FSV_MAX_DEPTH];
    int n = fsv_path_split(path, buf, sizeof buf, segs, FSV_MAX_DEPTH);
    json_t *cur = fields;
    for (int i = 0; i < n && cur; i++) {
        json_t *v = json_object_get(cur, segs[i]);
        if (i == n - 1)
            return v;
        cur = fsv_map_fields(v);
    }
    return NULL;
}

int fsv_set(json_t *fields, const char *path, json_t *value)
{
    char buf[1024];
    char *segs[FSV_MAX_DEPTH];
    int n = fsv_path_split(path, buf, sizeof buf, segs, FSV_MAX_DEPTH);
    if (n < 1 || !json_is_object(fields)) {
        json_decref(value);
        return -1;
    }
    json_t *cur = fields;
    for (int i = 0; i < n - 1; i++) {
        json_t *next = fsv_map_fields(json_object_get(cur, segs[i]));
        if (!json_is_object(next)) {
            json_t *m = fsv_map(NULL);
            json_object_set_new(cur, segs[i], m);
            next = fsv_map_fields(m);
        }
        cur = next;
    }
    return json_object_set_new(cur, segs[n - 1], value);
}

int fsv_remove(json_t *fields, const char *path)
{
    char buf[1024];
    char *segs[FSV_MAX_DEPTH];
    int n = fsv_path_split(path, buf, sizeof buf, segs, FSV_MAX_DEPTH);
    if (n < 1)
        return -1;
    json_t *cur = fields;
    for (int i = 0; i < n - 1 && cur; i++)
        cur = fsv_map_fields(json_object_get(cur, segs[i]));
    if (cur)
        json_object_del(cur, segs[n - 1]);
    return 0;
}

json_t *fsv_subset(json_t *fields, const char *const *paths, size_t npaths)
{
    json_t *out = json_object();
    for (size_t i = 0; i < npaths; i++) {
        json_t *v = fsv_get(fields, paths[i]);
        if (v)
            fsv_set(out, paths[i], json_deep_copy(v));
    }
    return out;
}
