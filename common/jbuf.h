/* jbuf.h - a growable byte buffer for writing JSON quickly.
 *
 * The producer builds every event with it, and the consumer its Firestore request
 * bodies, instead of a JSON tree: one pass, no allocation once the buffer has grown
 * to the largest text. */
#ifndef COMMON_JBUF_H
#define COMMON_JBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct jbuf {
    char *data;
    size_t len, cap;
} jbuf;

void jbuf_free(jbuf *b);
void jbuf_reset(jbuf *b);                 /* len = 0, keeps the memory */
void jbuf_reserve(jbuf *b, size_t more);  /* aborts when memory runs out */
void jbuf_put(jbuf *b, const void *p, size_t n);
void jbuf_puts(jbuf *b, const char *s);
void jbuf_putc(jbuf *b, char c);
void jbuf_i64(jbuf *b, int64_t v);
void jbuf_u64(jbuf *b, uint64_t v);
/* A finite double as jansson writes a real: 17 significant digits, ".0" when that would
 * read as an integer, the exponent without "+" or leading zeros ("1e20", "1e-7"). */
void jbuf_real(jbuf *b, double d);
/* A JSON string with quotes: escapes '"', '\\' and control characters; bytes that
 * are not valid UTF-8 become U+FFFD, so the output is always valid JSON. */
void jbuf_str(jbuf *b, const char *s, size_t n);
/* Standard base64 with padding, in quotes. */
void jbuf_base64(jbuf *b, const unsigned char *p, size_t n);
/* The buffer as a NUL-terminated string (the NUL is not counted in len). */
const char *jbuf_cstr(jbuf *b);
/* A sink for jansson's json_dump_callback (ud: the jbuf): appends, returns 0. Lets a
 * tree be serialised into a buffer that grew once, instead of json_dumps' doubling. */
int jbuf_sink(const char *buf, size_t size, void *ud);

#endif
