/* emu_store.h - the in-memory document store: a skip list ordered by name.
 *
 * One ordered structure serves both lookups (O(log n)) and the ordered scans that
 * list and runQuery need (seek to "collection/" and walk). A document's fields are
 * kept as compact JSON text of canonical Values: one allocation per document and
 * about its JSON size in memory, where a tree of JSON nodes cost ten times that and
 * fragmented the heap. Readers parse the text when they need values
 * (emu_doc_fields), or only the top-level fields a mask names (emu_doc_fields_for);
 * masked updates and transforms rewrite only the fields they touch and copy the
 * rest as text (emu_text_fields, used by emu_write_apply). One rwlock guards the whole
 * store; a commit holds the write lock while it checks and applies all of its
 * writes, which makes it atomic. Memory is the documents and nothing else (the skip
 * list adds on average 1.33 pointers per document). */
#ifndef EMU_STORE_H
#define EMU_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tools/firestore-emulator/emu_value.h"

typedef struct emu_doc {
    char *name;
    char *text;          /* JSON of the fields object (canonical Values): "{}" when empty */
    int64_t create_us;
    int64_t update_us;
} emu_doc;

typedef struct emu_store emu_store;

emu_store *emu_store_new(void);
void emu_store_free(emu_store *s);

void emu_store_rdlock(emu_store *s);
void emu_store_wrlock(emu_store *s);
void emu_store_unlock(emu_store *s);

/* All below: the caller holds the lock (write lock for changes). */
const emu_doc *emu_store_get(emu_store *s, const char *name);
/* Inserts or replaces; takes ownership of text (malloc'd canonical fields JSON). */
void emu_store_put(emu_store *s, const char *name, char *text, int64_t create_us, int64_t update_us);
/* The fields of d parsed (new reference). */
json_t *emu_doc_fields(const emu_doc *d);
/* One top-level entry of a document's fields text: the key as written (between its
 * quotes), the entry from its opening quote, and its Value's JSON text. */
typedef struct {
    const char *key;
    size_t klen;
    const char *entry;
    const char *val;
    size_t vlen;
} emu_text_field;
/* Splits fields text (as emu_fields_text writes it) into its top-level entries
 * without parsing the values: *out (malloc'd, the caller frees it even when empty)
 * and the count, or -1 when the text is not in that form or a key holds an escape
 * (callers then parse the text). */
int emu_text_fields(const char *text, emu_text_field **out);
/* Index of the entry named key (no escapes in key: exact bytes), or -1. */
int emu_text_field_find(const emu_text_field *f, int n, const char *key, size_t klen);
/* The fields of d restricted to the top-level fields that paths start with, parsed
 * (new reference): enough to project d by that mask without parsing the rest. */
json_t *emu_doc_fields_for(const emu_doc *d, const emu_fieldpath *paths, int n);
/* Text of a fields object (malloc'd): compact, keys in the object's order. */
char *emu_fields_text(const json_t *fields);
/* True when the stored text and fields hold the same values (key order aside). */
bool emu_fields_same(const char *text, const char *new_text, const json_t *new_fields);
bool emu_store_delete(emu_store *s, const char *name);
/* First document whose name is >= key (emu_name_compare), NULL at the end. */
const emu_doc *emu_store_seek(emu_store *s, const char *key);
const emu_doc *emu_store_next(const emu_doc *d);
size_t emu_store_count(emu_store *s);
/* Deletes every document whose name starts with prefix; returns how many. */
size_t emu_store_clear_prefix(emu_store *s, const char *prefix);
/* The next commit time in µs: wall clock, but strictly greater than the last one,
 * so that update times identify versions. Needs the write lock. */
int64_t emu_store_tick(emu_store *s);
/* A read time for reads: the wall clock, but not before the last commit time. */
int64_t emu_store_now(emu_store *s);
/* The last commit time handed out (0 before the first); the next is greater. */
int64_t emu_store_last(emu_store *s);

/* Document JSON {"name","fields"?,"createTime","updateTime"} with d's fields, or
 * fields_override when not NULL (already parsed, or a projection by a mask). */
json_t *emu_doc_json(const emu_doc *d, const json_t *fields_override);

#endif
