/* json_tree.c - jansson trees built from checked JSON text, and written back as text
 * (see json_tree.h). The builder trusts its input: json_scan has checked it, so it only
 * finds where each token ends. */
#include "common/json_tree.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_scan.h"

typedef struct jtree {
    const char *p, *end;
    bool reject_duplicates;
    bool failed;   /* out of memory, or a repeated key with reject_duplicates */
    char *tmp;     /* decoded strings that hold escapes */
    size_t tmp_cap;
} jtree;

static void jt_ws(jtree *t)
{
    while (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r')
        t->p++;
}

/* The string at t->p (on its opening quote): its text, decoded when it holds escapes
 * (then in t->tmp), and its length; t->p ends past the closing quote. NULL when out of
 * memory. */
static const char *jt_string(jtree *t, size_t *len)
{
    const char *s = ++t->p, *q = s;
    bool plain = true;
    for (;;) {
        q += strcspn(q, "\"\\");
        if (*q == '"')
            break;
        plain = false;
        q += 2; /* a backslash and the byte after it: neither ends the string */
    }
    t->p = q + 1;
    size_t n = (size_t)(q - s);
    if (plain) {
        *len = n;
        return s;
    }
    if (n > t->tmp_cap) {
        char *grown = realloc(t->tmp, n);
        if (!grown)
            return NULL;
        t->tmp = grown;
        t->tmp_cap = n;
    }
    *len = (size_t)json_scan_decode(s, n, t->tmp, t->tmp_cap); /* never longer than n */
    return t->tmp;
}

static json_t *jt_number(jtree *t)
{
    const char *s = t->p;
    bool neg = *t->p == '-', integer = true;
    t->p += neg;
    uint64_t u = 0;
    while (t->p < t->end && *t->p >= '0' && *t->p <= '9')
        u = u * 10 + (uint64_t)(*t->p++ - '0'); /* checked: within 64 bits when an integer */
    while (t->p < t->end && ((*t->p >= '0' && *t->p <= '9') || *t->p == '.' || *t->p == 'e' || *t->p == 'E' ||
                             *t->p == '+' || *t->p == '-')) {
        integer = false;
        t->p++;
    }
    if (integer)
        return json_integer(neg ? (json_int_t)(0 - u) : (json_int_t)u);
    char text[64], *heap = NULL, *buf = text;
    size_t n = (size_t)(t->p - s);
    if (n >= sizeof text && !(buf = heap = malloc(n + 1)))
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    json_t *r = json_real(strtod(buf, NULL)); /* checked: does not overflow */
    free(heap);
    return r;
}

static json_t *jt_value(jtree *t);

static json_t *jt_object(jtree *t)
{
    json_t *o = json_object();
    t->p++;
    jt_ws(t);
    if (*t->p == '}') {
        t->p++;
        return o;
    }
    while (o) {
        size_t klen;
        const char *k = jt_string(t, &klen);
        char small[64], *key = small;
        if (k && k == t->tmp) { /* the next string reuses tmp: keep the key apart */
            key = klen < sizeof small ? small : malloc(klen);
            if (key)
                memcpy(key, k, klen);
            k = key;
        }
        jt_ws(t);
        t->p++; /* ':' */
        jt_ws(t);
        json_t *v = k ? jt_value(t) : NULL;
        size_t before = json_object_size(o);
        if (!v || json_object_setn_new_nocheck(o, k, klen, v) != 0 ||
            (t->reject_duplicates && json_object_size(o) == before)) {
            t->failed = true;
            json_decref(o);
            o = NULL;
        }
        if (key != small)
            free(key);
        if (!o)
            break;
        jt_ws(t);
        if (*t->p++ == '}')
            break;
        jt_ws(t); /* past ',' */
    }
    return o;
}

static json_t *jt_array(jtree *t)
{
    json_t *a = json_array();
    t->p++;
    jt_ws(t);
    if (*t->p == ']') {
        t->p++;
        return a;
    }
    while (a) {
        json_t *v = jt_value(t);
        if (!v || json_array_append_new(a, v) != 0) {
            t->failed = true;
            json_decref(a);
            return NULL;
        }
        jt_ws(t);
        if (*t->p++ == ']')
            break;
        jt_ws(t);
    }
    return a;
}

static json_t *jt_value(jtree *t)
{
    json_t *v;
    size_t n;
    const char *s;
    switch (*t->p) {
    case '{': v = jt_object(t); break;
    case '[': v = jt_array(t); break;
    case '"':
        s = jt_string(t, &n);
        v = s ? json_stringn_nocheck(s, n) : NULL;
        break;
    case 't': t->p += 4; v = json_true(); break;
    case 'f': t->p += 5; v = json_false(); break;
    case 'n': t->p += 4; v = json_null(); break;
    default: v = jt_number(t); break;
    }
    if (!v)
        t->failed = true;
    return v;
}

json_t *json_tree_build(const char *text, size_t len)
{
    jtree t = { .p = text, .end = text + len };
    jt_ws(&t);
    json_t *v = jt_value(&t);
    free(t.tmp);
    if (v && t.failed) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

json_t *json_tree_load(const void *buf, size_t len, size_t flags, json_error_t *err)
{
    const size_t known = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL;
    bool object;
    char why[128];
    if ((flags & ~known) || json_scan(buf, len, NULL, NULL, 0, &object, why, sizeof why) != 0)
        return json_loadb(buf, len, flags, err);
    /* json_scan checked buf[0..len), which need not end in a NUL: the builder reads no
     * further than the value's last byte (numbers check t.end; a string's strcspn stops
     * at its closing quote, and containers at their closing bracket). */
    jtree t = { .p = buf, .end = (const char *)buf + len, .reject_duplicates = flags & JSON_REJECT_DUPLICATES };
    jt_ws(&t);
    if (!(flags & JSON_DECODE_ANY) && *t.p != '{' && *t.p != '[')
        return json_loadb(buf, len, flags, err);
    json_t *v = jt_value(&t);
    free(t.tmp);
    if (!v || t.failed) {
        json_decref(v);
        return json_loadb(buf, len, flags, err); /* jansson says why (or runs out of memory too) */
    }
    return v;
}

/* ---------- writing ---------- */

void json_tree_dump(jbuf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        jbuf_putc(b, '{');
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            if (!first)
                jbuf_putc(b, ',');
            first = false;
            jbuf_str(b, json_object_iter_key(it), json_object_iter_key_len(it));
            jbuf_putc(b, ':');
            json_tree_dump(b, json_object_iter_value(it));
        }
        jbuf_putc(b, '}');
        break;
    }
    case JSON_ARRAY:
        jbuf_putc(b, '[');
        for (size_t i = 0, n = json_array_size(v); i < n; i++) {
            if (i)
                jbuf_putc(b, ',');
            json_tree_dump(b, json_array_get(v, i));
        }
        jbuf_putc(b, ']');
        break;
    case JSON_STRING: jbuf_str(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: jbuf_i64(b, (int64_t)json_integer_value(v)); break;
    case JSON_REAL: jbuf_real(b, json_real_value(v)); break;
    case JSON_TRUE: jbuf_put(b, "true", 4); break;
    case JSON_FALSE: jbuf_put(b, "false", 5); break;
    case JSON_NULL: jbuf_put(b, "null", 4); break;
    }
}
