/* jbuf.c - growable JSON output buffer (see jbuf.h). */
#include "common/jbuf.h"

#include "common/utf8.h"

#include "common/base64.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jbuf_free(jbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void jbuf_reset(jbuf *b)
{
    b->len = 0;
}

void jbuf_reserve(jbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t n = b->cap ? b->cap : 256;
    while (n < b->len + more + 1)
        n *= 2;
    char *p = realloc(b->data, n);
    if (!p)
        abort();
    b->data = p;
    b->cap = n;
}

int jbuf_sink(const char *buf, size_t size, void *ud)
{
    jbuf_put(ud, buf, size);
    return 0;
}

void jbuf_put(jbuf *b, const void *p, size_t n)
{
    jbuf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void jbuf_puts(jbuf *b, const char *s)
{
    jbuf_put(b, s, strlen(s));
}

void jbuf_putc(jbuf *b, char c)
{
    jbuf_reserve(b, 1);
    b->data[b->len++] = c;
}

void jbuf_i64(jbuf *b, int64_t v)
{
    jbuf_reserve(b, 24);
    b->len += (size_t)snprintf(b->data + b->len, 24, "%" PRId64, v);
}

void jbuf_u64(jbuf *b, uint64_t v)
{
    jbuf_reserve(b, 24);
    b->len += (size_t)snprintf(b->data + b->len, 24, "%" PRIu64, v);
}

void jbuf_real(jbuf *b, double d)
{
    char text[40];
    int n = snprintf(text, sizeof text, "%.17g", d);
    if (n <= 0 || (size_t)n >= sizeof text)
        return;
    char *e = strchr(text, 'e');
    if (!e) {
        jbuf_put(b, text, (size_t)n);
        if (!strchr(text, '.'))
            jbuf_put(b, ".0", 2);
        return;
    }
    jbuf_put(b, text, (size_t)(e + 1 - text));
    const char *x = e + 1;
    if (*x == '+')
        x++;
    else if (*x == '-')
        jbuf_putc(b, *x++);
    while (*x == '0' && x[1])
        x++;
    jbuf_puts(b, x);
}

void jbuf_str(jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    jbuf_reserve(b, n + 2);
    b->data[b->len++] = '"';
    while (p < end) {
        /* copy the longest run that needs no escaping in one go */
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            jbuf_put(b, run, (size_t)(p - run));
        if (p >= end)
            break;
        unsigned char c = *p;
        if (c >= 0x80) {
            size_t l = utf8_seq_len(p, (size_t)(end - p));
            if (l) {
                jbuf_put(b, p, l);
                p += l;
            } else {
                jbuf_put(b, "\xef\xbf\xbd", 3);
                p++;
            }
            continue;
        }
        jbuf_reserve(b, 6);
        b->data[b->len++] = '\\';
        switch (c) {
        case '"': b->data[b->len++] = '"'; break;
        case '\\': b->data[b->len++] = '\\'; break;
        case '\n': b->data[b->len++] = 'n'; break;
        case '\r': b->data[b->len++] = 'r'; break;
        case '\t': b->data[b->len++] = 't'; break;
        case '\b': b->data[b->len++] = 'b'; break;
        case '\f': b->data[b->len++] = 'f'; break;
        default:
            b->data[b->len++] = 'u';
            b->data[b->len++] = '0';
            b->data[b->len++] = '0';
            b->data[b->len++] = hex[c >> 4];
            b->data[b->len++] = hex[c & 15];
        }
        p++;
    }
    jbuf_putc(b, '"');
}

void jbuf_base64(jbuf *b, const unsigned char *p, size_t n)
{
    jbuf_reserve(b, base64_encoded_len(n, false) + 2);
    b->data[b->len++] = '"';
    b->len += base64_encode(p, n, b->data + b->len, false);
    b->data[b->len++] = '"';
}

const char *jbuf_cstr(jbuf *b)
{
    jbuf_reserve(b, 0);
    b->data[b->len] = 0;
    return b->data;
}
