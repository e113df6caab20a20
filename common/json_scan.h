/* json_scan.h - checks JSON text and finds the members of its top-level object without
 * building a tree.
 *
 * The consumer needs a few members of each Debezium envelope ("op", "source", the row
 * in "after" or "before"); parsing the whole record into a jansson tree spent half its
 * decoding time and memory on parts it never reads. json_scan() walks the text once,
 * accepting exactly what jansson's json_loadb(..., JSON_DECODE_ANY) accepts (RFC 8259,
 * UTF-8 without overlong forms or surrogates, no \u0000, integers within 64 bits, reals
 * that do not overflow, at most 2048 levels), so a record jansson would refuse as "not
 * JSON" is refused here too; the wanted members' values are then parsed on their own. */
#ifndef COMMON_JSON_SCAN_H
#define COMMON_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A value's text inside the scanned buffer; p == NULL when the member is absent. */
typedef struct json_span {
    const char *p;
    size_t len;
} json_span;

#define JSON_SCAN_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

/* Checks that buf[0..len) is one JSON text. When it is an object, spans[i] is the value
 * of member names[i] (the last one when a name repeats, as jansson keeps it) and
 * *is_object is true. Returns 0, or -1 with a reason and a byte offset in err (never a
 * quote of the text). */
int json_scan(const void *buf, size_t len, const char *const *names, json_span *spans, size_t n,
              bool *is_object, char *err, size_t errlen);

/* Whether a span holds exactly the literal null. */
bool json_span_is_null(json_span s);

/* The text of a string span (from json_scan, so checked) into out, NUL-terminated: its
 * length, or -1 when the span is not a string or its text needs more than cap - 1 bytes. */
int json_span_string(json_span s, char *out, size_t cap);

/* Decodes the text between the quotes of a checked string (escapes resolved) into out:
 * its length, or -1 when it needs more than cap bytes. It never needs more than len. */
long json_scan_decode(const char *text, size_t len, char *out, size_t cap);

/* The value of an integer span (no fraction, no exponent): 0, or -1 when not one. */
int json_span_int64(json_span s, int64_t *out);

#endif
