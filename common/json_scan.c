/* json_scan.c - one pass over JSON text: is it what jansson accepts, and where are the
 * top-level members asked for (see json_scan.h). Recursive descent with a depth limit. */
#include "common/json_scan.h"

#include "common/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jscan {
    const unsigned char *start, *p, *end;
    const char *why; /* set on the first error */
    const char *const *names;
    json_span *spans;
    size_t n;
} jscan;

static int js_fail(jscan *j, const char *why)
{
    if (!j->why)
        j->why = why;
    return -1;
}

static void js_ws(jscan *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int js_hex4(jscan *j, unsigned *out)
{
    if (j->end - j->p < 4)
        return js_fail(j, "invalid escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = j->p[i];
        unsigned d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10u
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10u : 16u;
        if (d > 15)
            return js_fail(j, "invalid escape");
        v = v << 4 | d;
    }
    j->p += 4;
    *out = v;
    return 0;
}

/* One UTF-8 sequence at j->p (its first byte >= 0x80). */
static int js_utf8(jscan *j)
{
    size_t n = utf8_seq_len(j->p, (size_t)(j->end - j->p));
    if (n == 0)
        return js_fail(j, "invalid UTF-8");
    j->p += n;
    return 0;
}

/* A string at j->p (on its quote). *plain: it has no escapes, so its bytes are its text. */
static int js_string(jscan *j, bool *plain)
{
    j->p++;
    *plain = true;
    while (j->p < j->end) {
        unsigned char c = *j->p;
        if (c == '"') {
            j->p++;
            return 0;
        }
        if (c < 0x20)
            return js_fail(j, "control character in a string");
        if (c >= 0x80) {
            if (js_utf8(j) != 0)
                return -1;
            continue;
        }
        j->p++;
        if (c != '\\')
            continue;
        *plain = false;
        if (j->p >= j->end)
            break;
        c = *j->p++;
        if (c != 'u') {
            if (!strchr("\"\\/bfnrt", c) || c == '\0')
                return js_fail(j, "invalid escape");
            continue;
        }
        unsigned v, lo;
        if (js_hex4(j, &v) != 0)
            return -1;
        if (v == 0)
            return js_fail(j, "\\u0000 in a string");
        if (v >= 0xDC00 && v <= 0xDFFF)
            return js_fail(j, "invalid Unicode escape (a lone low surrogate)");
        if (v >= 0xD800 && v <= 0xDBFF) {
            if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                return js_fail(j, "invalid Unicode escape (a lone high surrogate)");
            j->p += 2;
            if (js_hex4(j, &lo) != 0)
                return -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return js_fail(j, "invalid Unicode escape (a high surrogate without its low half)");
        }
    }
    return js_fail(j, "unterminated string");
}

static void js_digits(jscan *j)
{
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
}

/* A number, with jansson's limits: an integer must fit 64 bits, a real must not overflow. */
static int js_number(jscan *j)
{
    const unsigned char *s = j->p;
    bool integer = true;
    if (*j->p == '-')
        j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return js_fail(j, "invalid number");
    if (*j->p == '0') {
        j->p++;
        if (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            return js_fail(j, "invalid number (a leading zero)");
    } else {
        js_digits(j);
    }
    if (j->p < j->end && *j->p == '.') {
        integer = false;
        j->p++;
        const unsigned char *d = j->p;
        js_digits(j);
        if (j->p == d)
            return js_fail(j, "invalid number");
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        integer = false;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        const unsigned char *d = j->p;
        js_digits(j);
        if (j->p == d)
            return js_fail(j, "invalid number");
    }
    size_t len = (size_t)(j->p - s);
    if (integer && len <= 18)
        return 0; /* 18 digits always fit 64 bits: no need to convert */
    char text[64], *heap = NULL, *t = text;
    if (len >= sizeof text)
        t = heap = malloc(len + 1);
    if (!t)
        return js_fail(j, "out of memory");
    memcpy(t, s, len);
    t[len] = '\0';
    errno = 0;
    int rc = 0;
    if (integer) {
        (void)strtoll(t, NULL, 10);
        if (errno == ERANGE)
            rc = js_fail(j, "integer out of 64-bit range");
    } else {
        double d = strtod(t, NULL);
        if (errno == ERANGE && isinf(d))
            rc = js_fail(j, "real number overflow");
    }
    free(heap);
    return rc;
}

static int js_literal(jscan *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return js_fail(j, "invalid token");
    j->p += n;
    return 0;
}

static unsigned js_hex_at(const unsigned char *k)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 4 | (unsigned)(k[i] <= '9' ? k[i] - '0' : (k[i] | 0x20) - 'a' + 10);
    return v;
}

long json_scan_decode(const char *text, size_t len, char *out_, size_t cap)
{
    const unsigned char *k = (const unsigned char *)text, *end = k + len;
    unsigned char *out = (unsigned char *)out_;
    size_t o = 0;
    while (k < end) {
        unsigned char u[4];
        size_t n = 1;
        if (*k != '\\') {
            u[0] = *k++;
        } else if (k[1] != 'u') {
            const char *from = "bfnrt", *to = "\b\f\n\r\t", *at = strchr(from, k[1]);
            u[0] = at ? (unsigned char)to[at - from] : k[1]; /* " \\ / stand for themselves */
            k += 2;
        } else {
            uint32_t v = js_hex_at(k + 2);
            k += 6;
            if (v >= 0xD800 && v <= 0xDBFF) { /* checked: its low half follows */
                v = 0x10000 + ((v - 0xD800) << 10) + (js_hex_at(k + 2) - 0xDC00);
                k += 6;
            }
            if (v < 0x80) {
                u[0] = (unsigned char)v;
            } else if (v < 0x800) {
                u[0] = (unsigned char)(0xC0 | v >> 6);
                u[1] = (unsigned char)(0x80 | (v & 0x3F));
                n = 2;
            } else if (v < 0x10000) {
                u[0] = (unsigned char)(0xE0 | v >> 12);
                u[1] = (unsigned char)(0x80 | (v >> 6 & 0x3F));
                u[2] = (unsigned char)(0x80 | (v & 0x3F));
                n = 3;
            } else {
                u[0] = (unsigned char)(0xF0 | v >> 18);
                u[1] = (unsigned char)(0x80 | (v >> 12 & 0x3F));
                u[2] = (unsigned char)(0x80 | (v >> 6 & 0x3F));
                u[3] = (unsigned char)(0x80 | (v & 0x3F));
                n = 4;
            }
        }
        if (o + n > cap)
            return -1;
        memcpy(out + o, u, n);
        o += n;
    }
    return (long)o;
}

/* Whether the key at [k, k + len) (its text between the quotes, already checked; escaped
 * when !plain) is name (UTF-8; an escaped key matches names of up to 64 bytes). */
static bool js_key_is(const unsigned char *k, size_t len, bool plain, const char *name)
{
    if (plain && (len == 0 || k[0] != (unsigned char)name[0])) /* most keys differ at once */
        return len == 0 && name[0] == '\0';
    size_t nl = strlen(name);
    if (plain)
        return nl == len && memcmp(k, name, len) == 0;
    unsigned char text[64];
    long n = json_scan_decode((const char *)k, len, (char *)text, sizeof text);
    return n >= 0 && (size_t)n == nl && memcmp(text, name, nl) == 0;
}

static int js_value(jscan *j, int depth);

/* After a member or an element: 0 at the container's end (passed), 1 after a comma, -1. */
static int js_next(jscan *j, char close, const char *why)
{
    js_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    if (j->p >= j->end || *j->p != ',')
        return js_fail(j, why);
    j->p++;
    js_ws(j);
    return 1;
}

/* Past a container's opening bracket: whether it closes at once (then past that too). */
static bool js_empty(jscan *j, char close)
{
    j->p++;
    js_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return true;
    }
    return false;
}

static int js_object(jscan *j, int depth)
{
    if (js_empty(j, '}'))
        return 0;
    for (;;) {
        if (j->p >= j->end || *j->p != '"')
            return js_fail(j, "a string (an object's key) expected");
        const unsigned char *k = j->p + 1;
        bool plain;
        if (js_string(j, &plain) != 0)
            return -1;
        size_t klen = (size_t)(j->p - 1 - k);
        js_ws(j);
        if (j->p >= j->end || *j->p != ':')
            return js_fail(j, "':' expected");
        j->p++;
        js_ws(j);
        const unsigned char *v = j->p;
        if (js_value(j, depth) != 0)
            return -1;
        if (depth == 1)
            for (size_t i = 0; i < j->n; i++)
                if (js_key_is(k, klen, plain, j->names[i]))
                    j->spans[i] = (json_span){ (const char *)v, (size_t)(j->p - v) };
        int more = js_next(j, '}', "',' or '}' expected");
        if (more <= 0)
            return more;
    }
}

static int js_array(jscan *j, int depth)
{
    if (js_empty(j, ']'))
        return 0;
    for (;;) {
        if (js_value(j, depth) != 0)
            return -1;
        int more = js_next(j, ']', "',' or ']' expected");
        if (more <= 0)
            return more;
    }
}

/* The value at j->p (no leading whitespace); depth: the containers around it. */
static int js_value(jscan *j, int depth)
{
    if (j->p >= j->end)
        return js_fail(j, "unexpected end of text");
    bool plain;
    switch (*j->p) {
    case '{':
    case '[':
        if (depth + 1 > JSON_SCAN_MAX_DEPTH)
            return js_fail(j, "nested too deep");
        return *j->p == '{' ? js_object(j, depth + 1) : js_array(j, depth + 1);
    case '"': return js_string(j, &plain);
    case 't': return js_literal(j, "true");
    case 'f': return js_literal(j, "false");
    case 'n': return js_literal(j, "null");
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return js_number(j);
        return js_fail(j, "invalid token");
    }
}

int json_scan(const void *buf, size_t len, const char *const *names, json_span *spans, size_t n,
              bool *is_object, char *err, size_t errlen)
{
    jscan j = { .start = buf, .p = buf, .end = (const unsigned char *)buf + len, .names = names, .spans = spans, .n = n };
    for (size_t i = 0; i < n; i++)
        spans[i] = (json_span){ NULL, 0 };
    *is_object = false;
    js_ws(&j);
    if (j.p < j.end && *j.p == '{')
        *is_object = true;
    if (js_value(&j, 0) == 0) {
        js_ws(&j);
        if (j.p == j.end)
            return 0;
        js_fail(&j, "text after the value");
    }
    snprintf(err, errlen, "%s at byte %zu", j.why, (size_t)(j.p - j.start));
    for (size_t i = 0; i < n; i++)
        spans[i] = (json_span){ NULL, 0 };
    *is_object = false;
    return -1;
}

int json_span_string(json_span s, char *out, size_t cap)
{
    if (!s.p || s.len < 2 || s.p[0] != '"' || cap == 0)
        return -1;
    long n = json_scan_decode(s.p + 1, s.len - 2, out, cap - 1);
    if (n < 0)
        return -1;
    out[n] = '\0';
    return (int)n;
}

int json_span_int64(json_span s, int64_t *out)
{
    if (!s.p || s.len == 0 || s.len > 20 || !(s.p[0] == '-' || (s.p[0] >= '0' && s.p[0] <= '9')) ||
        memchr(s.p, '.', s.len) || memchr(s.p, 'e', s.len) || memchr(s.p, 'E', s.len))
        return -1;
    char text[24];
    memcpy(text, s.p, s.len);
    text[s.len] = '\0';
    *out = strtoll(text, NULL, 10); /* checked: within 64 bits */
    return 0;
}

bool json_span_is_null(json_span s)
{
    return s.p && s.len == 4 && memcmp(s.p, "null", 4) == 0;
}
