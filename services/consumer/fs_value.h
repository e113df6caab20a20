/* fs_value.h - Firestore's Value JSON encoding (REST v1) and field paths.
 *
 * A Firestore value is an object with exactly one member naming its type:
 *   {"nullValue":null} {"booleanValue":true} {"integerValue":"42"} (a string: int64)
 *   {"doubleValue":1.5} {"timestampValue":"2026-01-02T03:04:05.123456Z"}
 *   {"stringValue":"x"} {"mapValue":{"fields":{...}}} {"arrayValue":{"values":[...]}}
 * A document's "fields" is an object of such values. Field paths are dotted segments;
 * a segment that is not [A-Za-z_][A-Za-z_0-9]* is quoted with backticks ("rows.`42`").
 * Constructors return new references; functions taking a value "steal" it as jansson's
 * *_new functions do. */
#ifndef SERVICES_CONSUMER_FS_VALUE_H
#define SERVICES_CONSUMER_FS_VALUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * integerValue, objects mapValue, arrays arrayValue). */
json_t *fsv_from_json(const json_t *plain);
/* The reverse: integerValue -> integer, timestampValue -> its string... NULL if not a value. */
json_t *fsv_to_json(const json_t *value);

/* The type member of a value ("stringValue"...) or NULL. */
const char *fsv_type(const json_t *value);
/* Convenience readers: false when the value is absent or of another type. */
bool fsv_get_int(const json_t *value, int64_t *out);
const char *fsv_get_string(const json_t *value);

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
