/* fs_value.h - Firestore values (REST v1), held compactly, and field paths.
 *
 * On the wire a Firestore value is an object naming its type:
 *   {"nullValue":null} {"booleanValue":true} {"integerValue":"42"} (a string: int64)
 *   {"doubleValue":1.5} {"timestampValue":"2026-01-02T03:04:05.123456Z"}
 *   {"stringValue":"x"} {"mapValue":{"fields":{...}}} {"arrayValue":{"values":[...]}}
 * Held as jansson trees in that form, a member document cost some 20 kB (each value an
 * object with its own hash table). The consumer holds values compactly instead, as the
 * plain JSON value of the same type:
 *   null, true/false, integer (int64), real, string, object (a map: its members are the
 *   fields), array
 * and the types plain JSON lacks as a tagged string: the value's text, a NUL, a tag:
 *   "2026-01-02T03:04:05Z\0T" timestampValue, "...\0B" bytesValue (base64),
 *   "...\0R" referenceValue, "{\"geoPointValue\":...}\0J" any other value, kept as its
 *   wire text.
 * A plain string never holds a NUL (jansson refuses \u0000 when it parses, and a
 * stringValue read from Firestore that holds one is kept as "J"), so the two cannot be
 * confused. fsv_write writes the wire form; fsv_from_firestore reads it. A document's
 * "fields" is an object of compact values.
 * Field paths are dotted segments; a segment that is not [A-Za-z_][A-Za-z_0-9]* is
 * quoted with backticks ("rows.`42`").
 * Constructors return new references; functions taking a value "steal" it as jansson's
 * *_new functions do. */
#ifndef SERVICES_CONSUMER_FS_VALUE_H
#define SERVICES_CONSUMER_FS_VALUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jbuf.h"

json_t *fsv_null(void);
json_t *fsv_bool(bool b);
json_t *fsv_integer(int64_t i);
json_t *fsv_double(double d);
json_t *fsv_string(const char *s);
/* rfc3339 must already be normalised (fsv_timestamp_normalize). */
json_t *fsv_timestamp(const char *rfc3339);
json_t *fsv_map(json_t *fields);  /* steals fields (an object of values); NULL: empty */
json_t *fsv_array(json_t *values); /* steals values (an array of values); NULL: empty */

/* A plain JSON value as the natural Firestore value (numbers that are integers become
 * integerValue, objects mapValue, arrays arrayValue): a deep copy. */
json_t *fsv_from_json(const json_t *plain);
/* The reverse: a timestamp, bytes or reference becomes its string, other types their
 * value's JSON. New reference, or NULL when value is NULL. */
json_t *fsv_to_json(const json_t *value);

/* Wire form <-> compact form. fsv_from_firestore reads one value, fsv_fields_from_firestore
 * a document's "fields" (NULL: an empty object); both return new references and keep
 * what they cannot read as the wire text ("J"). */
json_t *fsv_from_firestore(const json_t *wire);
json_t *fsv_fields_from_firestore(const json_t *wire_fields);
/* Writes a value, or a fields object (as a document's "fields"), in the wire form. */
void fsv_write(jbuf *b, const json_t *value);
void fsv_write_fields(jbuf *b, const json_t *fields);
/* The wire form as a tree (tests, tools): new reference. */
json_t *fsv_to_firestore(const json_t *value);

/* The wire type name of a value ("stringValue", "mapValue"...), or NULL for a "J"
 * value. */
const char *fsv_type(const json_t *value);
/* Readers: false/NULL when the value is absent or of another type. */
bool fsv_get_int(const json_t *value, int64_t *out);
const char *fsv_get_string(const json_t *value);
const char *fsv_get_timestamp(const json_t *value);
bool fsv_is_null(const json_t *value);
bool fsv_is_true(const json_t *value);
/* The fields of a map value, or NULL when it is not a map. */
json_t *fsv_map_fields(const json_t *value);
/* The values of an array value, or NULL when it is not an array. */
json_t *fsv_array_values(const json_t *value);

/* An ISO-8601 date ("2026-01-02"), timestamp without zone (taken as UTC), or with
 * "Z"/"+hh:mm" as RFC 3339 UTC "YYYY-MM-DDThh:mm:ss[.ffffff]Z". 0 on success. */
int fsv_timestamp_normalize(const char *in, char *out, size_t len);

/* Field paths. Splits path into at most max segments (backticks removed, "\`" kept);
 * returns the count or -1 when malformed. Segments point into buf (len >= strlen+1). */
int fsv_path_split(const char *path, char *buf, size_t len, char **segs, int max);
/* Appends segment to path (quoted when needed): path + "." + segment. */
int fsv_path_append(char *path, size_t len, const char *segment);

/* Borrowed value at path inside a fields object, or NULL. */
json_t *fsv_get(json_t *fields, const char *path);
/* Sets the value at path, creating maps on the way (replacing non-maps). Steals value. */
int fsv_set(json_t *fields, const char *path, json_t *value);
/* Removes the value at path; 0 when removed or absent. */
int fsv_remove(json_t *fields, const char *path);
/* A new fields object holding only the given paths of fields (for an updateMask). */
json_t *fsv_subset(json_t *fields, const char *const *paths, size_t npaths);

#endif
