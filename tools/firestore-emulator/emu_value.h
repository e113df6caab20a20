/* emu_value.h - Firestore's Value JSON encoding: decode + validate, compare, size.
 *
 * The emulator keeps every value in its canonical proto3 JSON form, exactly what
 * Firestore returns, so that reading a document is just handing back stored JSON:
 *   {"nullValue":null} {"booleanValue":true} {"integerValue":"42"} (a string)
 *   {"doubleValue":1.5} ("NaN", "Infinity", "-Infinity" as strings)
 *   {"timestampValue":"2026-01-02T03:04:05.123456Z"} (UTC, 0/3/6 fraction digits, µs)
 *   {"stringValue":"..."} {"bytesValue":"<base64>"} {"referenceValue":"projects/..."}
 *   {"geoPointValue":{"latitude":1,"longitude":2}} (zeros omitted, as proto3 does)
 *   {"arrayValue":{"values":[...]}} / {"arrayValue":{}}
 *   {"mapValue":{"fields":{...}}}  / {"mapValue":{}}
 * emu_value_decode() accepts what a proto3 JSON parser accepts (integers as numbers
 * or strings, nullValue as null/"NULL_VALUE"/0, timestamps with any offset) and
 * rejects everything else with INVALID_ARGUMENT. Stored values are immutable and
 * shared by reference count; changes copy the path they touch (emu_fields_set).
 * The ordering is Firestore's: null < booleans < numbers < timestamps < strings <
 * bytes < references < geo points < arrays < maps. */
#ifndef EMU_VALUE_H
#define EMU_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tools/firestore-emulator/emu_error.h"

#define EMU_MAX_DEPTH 20             /* nesting of maps and arrays, as production */
#define EMU_MAX_DOC_SIZE 1048576     /* bytes, Firestore's storage size */
#define EMU_MAX_FIELD_NAME 1500      /* bytes */

typedef enum {
    EMU_V_NULL,
    EMU_V_BOOL,
    EMU_V_INT,
    EMU_V_DOUBLE,
    EMU_V_TIMESTAMP,
    EMU_V_STRING,
    EMU_V_BYTES,
    EMU_V_REF,
    EMU_V_GEO,
    EMU_V_ARRAY,
    EMU_V_MAP,
    EMU_V_INVALID,
} emu_vkind;

/* --- timestamps: microseconds since the Unix epoch --- */
/* RFC 3339 ("2026-01-02T03:04:05.123456789+01:00"); sub-µs digits are truncated as
 * Firestore does. Years 0001..9999. 0 on success. */
int emu_time_parse(const char *s, int64_t *us);
/* UTC with Z and 0, 3 or 6 fraction digits (proto3 JSON); out needs 40 bytes. */
void emu_time_format(int64_t us, char *out, size_t len);
json_t *emu_time_json(int64_t us);

/* --- base64 (standard alphabet out; standard or URL-safe in) --- */
char *emu_b64_encode(const unsigned char *data, size_t len);
/* Returns malloc'd bytes and *len, NULL when not valid base64. */
unsigned char *emu_b64_decode(const char *s, size_t slen, size_t *len);

/* --- decoding and validation --- */
/* Decodes one Value object at nesting depth (top-level fields are depth 1) into its
 * canonical form (*out, new reference). where names it in error messages. */
int emu_value_decode(const json_t *in, int depth, const char *where, json_t **out, emu_status *st);
/* Decodes a map of field name -> Value ("fields" of a Document or mapValue). */
int emu_fields_decode(const json_t *in, int depth, const char *where, json_t **out, emu_status *st);
/* True when name may be a field name (non-empty, <= 1500 bytes, not __x__). */
bool emu_field_name_valid(const char *name);

/* --- canonical values --- */
emu_vkind emu_value_kind(const json_t *v);
json_t *emu_value_null(void);
json_t *emu_value_int(int64_t n);
json_t *emu_value_double(double d);
json_t *emu_value_timestamp(int64_t us);
json_t *emu_value_array(json_t *values);  /* steals values (a JSON array) */
json_t *emu_value_map(json_t *fields);    /* steals fields (a JSON object) */
int64_t emu_value_get_int(const json_t *v);
double emu_value_get_double(const json_t *v); /* ints are converted */
/* Borrowed: the elements array / fields object, or NULL when v is not that kind or
 * is empty. */
json_t *emu_value_array_items(const json_t *v);
json_t *emu_value_map_fields(const json_t *v);

/* Firestore ordering: <0, 0, >0. Numbers compare across int/double; NaN is lowest. */
int emu_value_compare(const json_t *a, const json_t *b);
bool emu_value_equal(const json_t *a, const json_t *b);

/* Storage sizes as Firestore counts them (bytes). */
size_t emu_value_size(const json_t *v);
size_t emu_fields_size(const json_t *fields);
size_t emu_doc_name_size(const char *name);
size_t emu_document_size(const char *name, const json_t *fields);

/* --- field paths: "a.b", "`a.b`.c", "`x\`y`" --- */
typedef struct {
    int n;
    char **seg;
} emu_fieldpath;

int emu_fieldpath_parse(const char *text, emu_fieldpath *fp, emu_status *st);
/* A copy of src that dst owns (freed with emu_fieldpath_free). */
void emu_fieldpath_copy(emu_fieldpath *dst, const emu_fieldpath *src);
void emu_fieldpath_free(emu_fieldpath *fp);
/* True when a is b or a prefix of b (segment-wise). */
bool emu_fieldpath_prefix(const emu_fieldpath *a, const emu_fieldpath *b);
/* Value at fp inside a fields object (borrowed), NULL when absent. */
json_t *emu_fields_lookup(const json_t *fields, const emu_fieldpath *fp);
/* Sets (value != NULL, borrowed) or deletes (NULL) fp inside fields, which the
 * caller owns exclusively; a nested map on the path is copied unless fields holds the
 * only reference to it (then nobody else can see it change: every holder of a value
 * keeps a reference), and a non-map on the path is replaced by a map. */
void emu_fields_set(json_t *fields, const emu_fieldpath *fp, json_t *value);
/* A new fields object holding only the given paths of fields (a DocumentMask). */
json_t *emu_fields_project(const json_t *fields, const emu_fieldpath *paths, int n);

#endif
