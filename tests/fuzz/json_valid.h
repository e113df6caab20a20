/* json_valid.h - for the fuzzers: is a buffer exactly one JSON value (RFC 8259
 * grammar, UTF-8 text)? Unlike a parser it puts no limit on the size of numbers, which
 * the grammar does not either (jansson rejects integers beyond 64 bits). */
#ifndef TESTS_FUZZ_JSON_VALID_H
#define TESTS_FUZZ_JSON_VALID_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct jv {
    const unsigned char *p, *end;
    int depth;
} jv;

static void jv_ws(jv *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool jv_digits(jv *j)
{
    const unsigned char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s;
}

static bool jv_number(jv *j)
{
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (!(j->p < j->end && *j->p >= '1' && *j->p <= '9') || !jv_digits(j))
        return false;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!jv_digits(j))
            return false;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!jv_digits(j))
            return false;
    }
    return true;
}

static bool jv_string(jv *j)
{
    j->p++; /* the opening quote */
    while (j->p < j->end) {
        unsigned char c = *j->p;
        if (c == '"') {
            j->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (++j->p >= j->end)
                return false;
            c = *j->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++, j->p++) {
                    if (j->p >= j->end)
                        return false;
                    unsigned char h = *j->p;
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                        return false;
                }
            } else if (!strchr("\"\\/bfnrt", c) || !c) {
                return false;
            }
            continue;
        }
        if (c < 0x80) {
            j->p++;
            continue;
        }
        /* one well-formed UTF-8 sequence (no overlongs, surrogates or > U+10FFFF) */
        size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len || (size_t)(j->end - j->p) < len)
            return false;
        unsigned long cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
        for (size_t i = 1; i < len; i++) {
            if ((j->p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (j->p[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        j->p += len;
    }
    return false;
}

static bool jv_value(jv *j)
{
    jv_ws(j);
    if (j->p >= j->end || ++j->depth > 64)
        return false;
    bool ok;
    unsigned char c = *j->p;
    if (c == '"') {
        ok = jv_string(j);
    } else if (c == '{' || c == '[') {
        unsigned char close = c == '{' ? '}' : ']';
        j->p++;
        jv_ws(j);
        ok = true;
        if (j->p < j->end && *j->p == close) {
            j->p++;
        } else {
            for (;;) {
                if (c == '{') {
                    jv_ws(j);
                    if (!(j->p < j->end && *j->p == '"') || !jv_string(j)) {
                        ok = false;
                        break;
                    }
                    jv_ws(j);
                    if (!(j->p < j->end && *j->p == ':')) {
                        ok = false;
                        break;
                    }
                    j->p++;
                }
                if (!jv_value(j)) {
                    ok = false;
                    break;
                }
                jv_ws(j);
                if (j->p < j->end && *j->p == ',') {
                    j->p++;
                    continue;
                }
                ok = j->p < j->end && *j->p == close;
                if (ok)
                    j->p++;
                break;
            }
        }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        ok = jv_number(j);
    } else {
        static const char *const lits[] = { "true", "false", "null" };
        ok = false;
        for (int i = 0; i < 3 && !ok; i++) {
            size_t l = strlen(lits[i]);
            if ((size_t)(j->end - j->p) >= l && !memcmp(j->p, lits[i], l)) {
                j->p += l;
                ok = true;
            }
        }
    }
    j->depth--;
    return ok;
}

/* True when s[0..n) is exactly one JSON value, with optional white space around it. */
static bool json_valid(const char *s, size_t n)
{
    jv j = { (const unsigned char *)s, (const unsigned char *)s + n, 0 };
    if (!jv_value(&j))
        return false;
    jv_ws(&j);
    return j.p == j.end;
}

#endif
