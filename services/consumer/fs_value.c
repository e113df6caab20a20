/* fs_value.c - Firestore values in the compact form, their wire form, and field paths
 * (see fs_value.h). */
#include "services/consumer/fs_value.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FSV_MAX_DEPTH 32

/* --- compact values ------------------------------------------------------ */

/* A tagged value: text, NUL, tag. */
static json_t *fsv_tagged(const char *text, size_t len, char tag)
{
    char stack[256], *buf = len + 2 <= sizeof stack ? stack : malloc(len + 2);
    if (!buf)
        return NULL;
    memcpy(buf, text, len);
    buf[len] = 0;
    buf[len + 1] = tag;
    json_t *v = json_stringn_nocheck(buf, len + 2);
    if (buf != stack)
        free(buf);
    return v;
}

/* The tag of a tagged value (its text and length in *text, *len), or 0. */
static char fsv_tag(const json_t *v, const char **text, size_t *len)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n < 2 || s[n - 2] != 0)
        return 0;
    if (text)
        *text = s;
    if (len)
        *len = n - 2;
    return s[n - 1];
}

json_t *fsv_null(void) { return json_null(); }
json_t *fsv_bool(bool b) { return json_boolean(b); }
json_t *fsv_double(double d) { return json_real(d); }
json_t *fsv_integer(int64_t i) { return json_integer((json_int_t)i); }
json_t *fsv_string(const char *s) { return json_string(s ? s : ""); }
json_t *fsv_timestamp(const char *ts) { return fsv_tagged(ts, strlen(ts), 'T'); }
json_t *fsv_map(json_t *fields) { return json_is_object(fields) ? fields : (json_decref(fields), json_object()); }
json_t *fsv_array(json_t *values) { return json_is_array(values) ? values : (json_decref(values), json_array()); }

json_t *fsv_from_json(const json_t *plain)
{
    json_t *v = plain ? json_deep_copy(plain) : NULL;
    return v ? v : json_null();
}

json_t *fsv_to_json(const json_t *value)
{
    const char *text;
    size_t len;
    switch (fsv_tag(value, &text, &len)) {
    case 0: return value ? json_deep_copy(value) : NULL;
    case 'J': {
        json_t *wire = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
        const char *t = json_object_size(wire) == 1 ? json_object_iter_key(json_object_iter(wire)) : NULL;
        json_t *inner = t ? json_incref(json_object_get(wire, t)) : NULL;
        json_decref(wire);
        return inner ? inner : json_null();
    }
    default: return json_stringn(text, len);
    }
}

const char *fsv_type(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_NULL: return "nullValue";
    case JSON_TRUE:
    case JSON_FALSE: return "booleanValue";
    case JSON_INTEGER: return "integerValue";
    case JSON_REAL: return "doubleValue";
    case JSON_OBJECT: return "mapValue";
    case JSON_ARRAY: return "arrayValue";
    case JSON_STRING:
        switch (fsv_tag(value, NULL, NULL)) {
        case 0: return "stringValue";
        case 'T': return "timestampValue";
        case 'B': return "bytesValue";
        case 'R': return "referenceValue";
        default: return NULL;
        }
    }
    return NULL;
}

bool fsv_get_int(const json_t *value, int64_t *out)
{
    if (!json_is_integer(value))
        return false;
    *out = (int64_t)json_integer_value(value);
    return true;
}

const char *fsv_get_string(const json_t *value)
{
    return json_is_string(value) && !fsv_tag(value, NULL, NULL) ? json_string_value(value) : NULL;
}

const char *fsv_get_timestamp(const json_t *value)
{
    return fsv_tag(value, NULL, NULL) == 'T' ? json_string_value(value) : NULL; /* the text ends at the NUL */
}

bool fsv_is_null(const json_t *value) { return json_is_null(value); }
bool fsv_is_true(const json_t *value) { return json_is_true(value); }
json_t *fsv_map_fields(const json_t *value) { return json_is_object(value) ? (json_t *)value : NULL; }
json_t *fsv_array_values(const json_t *value) { return json_is_array(value) ? (json_t *)value : NULL; }

/* --- the wire form --------------------------------------------------------- */

static json_t *fsv_verbatim(const json_t *wire)
{
    char *text = json_dumps(wire, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *v = text ? fsv_tagged(text, strlen(text), 'J') : NULL;
    free(text);
    return v ? v : json_null();
}

static json_t *fsv_from_wire(const json_t *wire, int depth)
{
    const char *t = json_object_size(wire) == 1 ? json_object_iter_key(json_object_iter((json_t *)wire)) : NULL;
    const json_t *x = t ? json_object_get(wire, t) : NULL;
    if (!t || depth > FSV_MAX_DEPTH * 4)
        return fsv_verbatim(wire);
    if (!strcmp(t, "nullValue"))
        return json_null();
    if (!strcmp(t, "booleanValue") && json_is_boolean(x))
        return json_incref((json_t *)x);
    if (!strcmp(t, "integerValue")) {
        if (json_is_integer(x))
            return json_incref((json_t *)x);
        const char *s = json_string_value(x);
        char *end;
        errno = 0;
        long long i = s ? strtoll(s, &end, 10) : 0;
        if (s && *s && !*end && errno == 0)
            return json_integer(i);
    }
    if (!strcmp(t, "doubleValue") && json_is_number(x))
        return json_real(json_number_value(x));
    if (json_is_string(x) && !memchr(json_string_value(x), 0, json_string_length(x))) {
        const char *s = json_string_value(x);
        size_t n = json_string_length(x);
        if (!strcmp(t, "stringValue"))
            return json_stringn_nocheck(s, n);
        if (!strcmp(t, "timestampValue"))
            return fsv_tagged(s, n, 'T');
        if (!strcmp(t, "bytesValue"))
            return fsv_tagged(s, n, 'B');
        if (!strcmp(t, "referenceValue"))
            return fsv_tagged(s, n, 'R');
    }
    if (!strcmp(t, "mapValue") && json_is_object(x)) {
        const json_t *f = json_object_get(x, "fields");
        if (!f || json_is_object(f)) {
            json_t *out = json_object();
            const char *k;
            json_t *m;
            json_object_foreach((json_t *)f, k, m)
                json_object_set_new(out, k, fsv_from_wire(m, depth + 1));
            return out;
        }
    }
    if (!strcmp(t, "arrayValue") && json_is_object(x)) {
        const json_t *vals = json_object_get(x, "values");
        if (!vals || json_is_array(vals)) {
            json_t *out = json_array();
            size_t i;
            json_t *m;
            json_array_foreach(vals, i, m)
                json_array_append_new(out, fsv_from_wire(m, depth + 1));
            return out;
        }
    }
    return fsv_verbatim(wire); /* geoPointValue, a type newer than this code, or malformed */
}

json_t *fsv_from_firestore(const json_t *wire) { return fsv_from_wire(wire, 0); }

json_t *fsv_fields_from_firestore(const json_t *wire_fields)
{
    json_t *out = json_object();
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)wire_fields, k, m)
        json_object_set_new(out, k, fsv_from_wire(m, 1));
    return out;
}

static void fsv_write_typed(jbuf *b, const char *type, const char *text, size_t len)
{
    jbuf_puts(b, "{\"");
    jbuf_puts(b, type);
    jbuf_puts(b, "\":");
    jbuf_str(b, text, len);
    jbuf_putc(b, '}');
}

void fsv_write_fields(jbuf *b, const json_t *fields)
{
    const char *k;
    json_t *m;
    bool first = true;
    jbuf_putc(b, '{');
    json_object_foreach((json_t *)fields, k, m) {
        if (!first)
            jbuf_putc(b, ',');
        first = false;
        jbuf_str(b, k, strlen(k));
        jbuf_putc(b, ':');
        fsv_write(b, m);
    }
    jbuf_putc(b, '}');
}

void fsv_write(jbuf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: jbuf_puts(b, "{\"nullValue\":null}"); return;
    case JSON_TRUE: jbuf_puts(b, "{\"booleanValue\":true}"); return;
    case JSON_FALSE: jbuf_puts(b, "{\"booleanValue\":false}"); return;
    case JSON_INTEGER:
        jbuf_puts(b, "{\"integerValue\":\"");
        jbuf_i64(b, (int64_t)json_integer_value(v));
        jbuf_puts(b, "\"}");
        return;
    case JSON_REAL:
        jbuf_puts(b, "{\"doubleValue\":");
        jbuf_real(b, json_real_value(v)); /* with a "." or an exponent: stays a double when read back */
        jbuf_putc(b, '}');
        return;
    case JSON_OBJECT:
        jbuf_puts(b, "{\"mapValue\":{\"fields\":");
        fsv_write_fields(b, v);
        jbuf_puts(b, "}}");
        return;
    case JSON_ARRAY:
        jbuf_puts(b, "{\"arrayValue\":{\"values\":[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                jbuf_putc(b, ',');
            fsv_write(b, json_array_get(v, i));
        }
        jbuf_puts(b, "]}}");
        return;
    case JSON_STRING: {
        const char *text;
        size_t len;
        switch (fsv_tag(v, &text, &len)) {
        case 0: fsv_write_typed(b, "stringValue", json_string_value(v), json_string_length(v)); return;
        case 'T': fsv_write_typed(b, "timestampValue", text, len); return;
        case 'B': fsv_write_typed(b, "bytesValue", text, len); return;
        case 'R': fsv_write_typed(b, "referenceValue", text, len); return;
        default: jbuf_put(b, text, len); return; /* 'J': the wire text as it was read */
        }
    }
    }
}

json_t *fsv_to_firestore(const json_t *value)
{
    jbuf b = { 0 };
    fsv_write(&b, value);
    json_t *v = json_loadb(b.data, b.len, 0, NULL);
    jbuf_free(&b);
    return v;
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
        if (!next) {
            next = json_object();
            json_object_set_new(cur, segs[i], next);
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
