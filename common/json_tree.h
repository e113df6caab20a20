/* json_tree.h - jansson trees from JSON text and back, at a fraction of jansson's cost.
 *
 * The emulator parses every request body into a tree and writes every response and
 * stored document from one; the consumer parses every Firestore response. jansson's own
 * reader goes through a byte-at-a-time stream and a token buffer, and its writer through
 * a callback per token: half of the emulator's CPU under load. json_tree_load() checks
 * the text with json_scan (which accepts exactly what jansson accepts) and then builds
 * the same tree as json_loadb would, member order and all, straight from the checked
 * text; json_tree_dump() writes a tree as json_dump_callback(JSON_COMPACT |
 * JSON_ENCODE_ANY) does, into a jbuf. Both are checked against jansson on arbitrary
 * input (tests/fuzz/fuzz_json_tree.c). */
#ifndef COMMON_JSON_TREE_H
#define COMMON_JSON_TREE_H

#include <jansson.h>
#include <stddef.h>

#include "common/jbuf.h"

/* json_loadb(buf, len, flags, err), the same tree or the same error. Flags: any of
 * JSON_REJECT_DUPLICATES, JSON_DECODE_ANY, JSON_ALLOW_NUL; text that json_scan refuses
 * (or with other flags, a NUL in a string, or a repeated key that must be refused) is
 * handed to json_loadb itself, so that errors read exactly as jansson's. */
json_t *json_tree_load(const void *buf, size_t len, size_t flags, json_error_t *err);

/* The tree of one JSON value that json_scan has already accepted (a span it gave, or a
 * whole checked text) as json_loadb(flags 0 or JSON_DECODE_ANY) builds it, without
 * checking it again. NULL only when memory runs out. */
json_t *json_tree_build(const char *text, size_t len);

/* Appends v as compact JSON: the bytes json_dump_callback(v, ..., JSON_COMPACT |
 * JSON_ENCODE_ANY) writes, except that a control character is escaped with lower-case
 * hex digits (jbuf_str's "\u001f" for jansson's "\u001F"), and a string that is not
 * valid UTF-8 (jansson writes nothing for it) gets U+FFFD for its bad bytes. */
void json_tree_dump(jbuf *b, const json_t *v);

#endif
