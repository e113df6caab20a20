/* mapping.h - from change events to Firestore documents, as configuration says.
 *
 * The mapping (a libconfig group, documented in docs/mapping.md) names, per source
 * table: the collection, how the document id is found (a column, the row's key, or a
 * parent row through the key index), the fields (renamed, nested, value-mapped,
 * converted, looked up in reference tables), rows to skip, how deletes are applied, and
 * whether the table's rows gather into an array of the parent document (junctions,
 * addresses). Everything here is pure: the runtime reads documents into a cache, asks
 * map_prepare() what else it needs, and map_merge() folds events into the cached
 * documents, recording the update mask of each. The runtime then writes the dirty
 * documents with preconditions on what it read.
 *
 * The document cache is a JSON object: name ("members/0101302989") -> either JSON null
 * (read: does not exist) or {"fields":{...},"updateTime":"..."} as Firestore returns
 * it, the fields as compact values (fs_value.h). map_merge adds bookkeeping members to
 * dirty entries:
 *   "_mask":   {path: true, ...}  the updateMask of the write
 *   "_delete": true               delete the document instead
 *   "_blind":  true               write without a precondition (key index entries)
 *   "_events": n                  how many events were folded in
 * Every written document carries, per source table, the position of the last event it
 * applied (metadata.sync.<table>.lsn/.commit_lsn, or per row for array tables under
 * metadata.sync.<table>.rows.<key>), which map_merge compares to skip stale events. */
#ifndef SERVICES_CONSUMER_MAPPING_H
#define SERVICES_CONSUMER_MAPPING_H

#include <jansson.h>
#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "services/consumer/event.h"

typedef enum {
    MAP_CONV_NONE = 0,
    MAP_CONV_STRING,       /* any scalar as its text */
    MAP_CONV_INTEGER,      /* number or numeric string -> integerValue */
    MAP_CONV_DOUBLE,       /* number or numeric string -> doubleValue */
    MAP_CONV_BOOL,         /* true/false, 0/1, "t"/"f" -> booleanValue */
    MAP_CONV_TIMESTAMP,    /* ISO-8601 date/timestamp -> timestampValue (UTC) */
    MAP_CONV_DATE,         /* ISO-8601 date/timestamp -> "YYYY-MM-DD" */
    MAP_CONV_JSON,         /* a JSON text -> the value it holds (map, array...) */
    MAP_CONV_KENNITALA,    /* 10 digits, hyphen and spaces dropped */
    MAP_CONV_KENNITALA_HYPHEN, /* "DDMMYY-NNNN" */
    MAP_CONV_PHONE7,       /* Icelandic phone: digits only, "354"/"00354"/"+354" dropped */
    MAP_CONV_NOT_NULL,     /* true when the value is not null */
} map_conv;

typedef enum { MAP_ID_COLUMN, MAP_ID_KEY, MAP_ID_PARENT } map_id_kind;
typedef enum { MAP_DEL_SOFT, MAP_DEL_CLEAR, MAP_DEL_HARD, MAP_DEL_IGNORE } map_delete;

#define MAP_MAX_COLUMNS 4
#define MAP_MAX_LOOKUP 4
#define MAP_MAX_REFRESH 4

typedef struct map_value_pair {
    char *from; /* text of the source value; "null" matches JSON null */
    json_t *to; /* plain JSON */
} map_value_pair;

typedef struct map_field {
    char *column;
    char *path;        /* field path in the document (or in the array element; "." = the element) */
    map_conv conv;
    map_value_pair *values; /* value map, applied before conv */
    size_t nvalues;
    json_t *value_default;  /* for a value not in the map; NULL: keep the value */
    json_t *if_null;        /* written for a null value and by a "clear" delete ("" for the
                             * portal's email); NULL: null, and the clear removes the field */
    char *lookup[MAP_MAX_LOOKUP]; /* chain of "table.column" steps through reference tables */
    int nlookup;
} map_field;

typedef struct map_skip {
    char *column;
    char *prefix;     /* skip when the value's text starts with it */
    char *equals;     /* skip when it equals ("null" for null) */
    char *not_equals; /* skip unless it equals ("$current_year": the event's commit year) */
} map_skip;

typedef struct map_set {
    char *path;
    json_t *value; /* plain JSON; the string "$event_time" is the event's commit time */
} map_set;

typedef struct map_table {
    char *table;
    char *collection;
    map_id_kind id_kind;
    char *id_columns[MAP_MAX_COLUMNS]; /* column (1) or parent key columns */
    int nid_columns;
    map_conv id_conv;
    char *parent;      /* MAP_ID_PARENT: the parent table (must have index = true) */
    bool index;        /* keep sync_keys/<table>:<key> -> document (for children, deletes) */
    bool all_columns;  /* every column as a field of the same name (reference tables) */
    map_field *fields;
    size_t nfields;
    map_skip *skips;
    size_t nskips;
    map_delete del;
    map_set *soft;     /* what a soft delete sets */
    size_t nsoft;
    char *array;       /* rows gather into this array field of the document; NULL: 1:1 */
    char *element_if;  /* an element field that must be true for the row to be in the array
                        * (the current address); NULL: every row */
    bool per_row;      /* positions per row (always for array tables) */
    char *refreshes[MAP_MAX_REFRESH]; /* array tables whose rows have this row's key and look
                                       * it up (Django's multi-table inheritance: an address
                                       * row and its base row): a change of this row maps
                                       * their element again (membership_newcomradeaddress
                                       * .current flipped by a move) */
    int nrefreshes;
    bool refreshed;    /* some table refreshes this one: its rows keep their source columns
                        * ("src" beside the element) to be mapped again */
} map_table;

typedef struct map_rule {
    char *field;  /* a path of the document */
    int test;     /* 0 not_null, 1 true, 2 null, 3 false, 4 not_current_year (not an integer
                   * equal to the merged event's "$current_year") */
    json_t *value;
} map_rule;

typedef struct map_derived {
    char *collection;
    char *path;
    map_rule *rules; /* first match wins */
    size_t nrules;
    json_t *value_default;
} map_derived;

typedef struct map_config {
    char *index_collection;
    bool synced_at;    /* set metadata.synced_at to the server's request time */
    map_table *tables;
    size_t ntables;
    map_derived *derived;
    size_t nderived;
    int current_year;  /* "$current_year" for every event (tests set it); 0: each event's
                        * commit year (UTC) */
} map_config;

/* Builds the mapping from the group at setting (e.g. cfg_setting(cf, "mapping")); on a
 * bad setting fills err (file:line: reason) through cfg_fail and returns NULL. */
map_config *map_load(cfg_file *cf, config_setting_t *group, cfg_error *err);
/* The same from a file holding a top-level "mapping" group (tests, tools). */
map_config *map_load_file(const char *path, cfg_error *err);
void map_free(map_config *mc);
const map_table *map_find(const map_config *mc, const char *table);

typedef enum {
    MAP_OK = 0,
    MAP_NEED,        /* read the documents appended to needs, then call again */
    MAP_SKIP,        /* a row the mapping skips (placeholder, truncate...) */
    MAP_STALE,       /* older than what the document holds */
    MAP_WAIT,        /* a parent or a reference row is not there yet: retry later */
    MAP_ERR_TABLE,   /* the mapping does not know the table */
    MAP_ERR_APPLY,   /* the mapping cannot apply to this event */
} map_status;

/* The dead-letter class of an error status: "mapping.unknown_table", "mapping.apply". */
const char *map_status_class(map_status st);

typedef struct map_route {
    const map_table *t;
    char *doc;        /* "members/0101302989"; "" until found */
    char *rowkey;     /* the row's key values joined with ',' */
    char *own_index;  /* "sync_keys/membership_comrade:42" (whether or not t->index) */
    char *left_doc;   /* set by map_merge: the document the row moved out of, written too
                       * (marked as left, soft-deleted); "" when none */
    char *refresh_doc; /* the document holding the element of refresh_t with this row's key,
                        * mapped again by this event (t->refreshes); "" when none, or when
                        * map_merge found nothing to change there */
    const map_table *refresh_t;
    json_t *carried;   /* names of the key index entries a parent row's move repointed
                        * (map_carry), written too; NULL when none */
    size_t doc_cap, rowkey_cap, own_index_cap, left_doc_cap, refresh_doc_cap; /* kept for the next event */
    bool skipped_row;    /* a skip rule matched a row whose children find it through its
                          * index entry: the entry says "skipped", so they are skipped too */
    bool unindexed_delete; /* a delete whose row has no index entry in Firestore: map_merge
                            * decides, once the batch's earlier events of the row are folded
                            * in (an insert just before it indexes the row) */
    bool as_insert;      /* an insert or snapshot read of the row was folded into this
                          * update (map_supersedes): it merges as the insert would have
                          * begun, writing the index entry, not looking for where it moved from */
} map_route;

/* A route starts zeroed ({0}). map_route_reset empties it (t NULL, the strings ""),
 * keeping its strings' memory; map_prepare does so first. map_route_free releases them. */
void map_route_reset(map_route *r);
void map_route_free(map_route *r);

/* Finds the event's document. key: the Kafka record key (JSON object of the primary
 * key columns; may be NULL when the row holds them). Appends names it needs but the
 * cache lacks to needs (a JSON array) and returns MAP_NEED; MAP_OK when the target
 * document and every reference row the fields look up are in the cache. */
map_status map_prepare(const map_config *mc, const ev_event *ev, const json_t *key, json_t *cache,
                       map_route *route, json_t *needs, char *err, size_t errlen);

/* Folds the event into cache[route->doc] (and the key index entry): MAP_OK, MAP_STALE,
 * MAP_SKIP or an error. Events of one batch are merged in their order; a delete that
 * map_prepare could not place (unindexed_delete) gets its document here. */
map_status map_merge(const map_config *mc, const ev_event *ev, map_route *route, json_t *cache, char *err,
                     size_t errlen);

/* Whether the merge of `later` (the next event of the same row in the batch, prepared:
 * MAP_OK; no event between them goes to the same document) sets everything the merge of
 * ev would, in the same document: then ev needs no merge of its own, and shares later's
 * outcome and writes (coalescing before mapping, not after). Only inserts, updates and
 * snapshot reads of rows mapped 1:1 into a document (no array, no positions per row, no
 * refreshes), a later update at a later position, a later row image holding every column
 * ev's holds, and an ev that is neither stale against cache nor moving the row in from
 * another document (whose leaving would carry ev's time). */
bool map_supersedes(const map_config *mc, json_t *cache, const map_route *later_r, const ev_event *later,
                    const map_route *r, const ev_event *ev);

/* The field paths map_prepare and map_merge ever read from a document (positions and
 * rows under metadata.sync, derived rules' inputs, index entries, looked-up columns):
 * the :batchGet mask, so reads return only these. New JSON array of strings. */
json_t *map_read_mask(const map_config *mc);

/* The retry of an event whose row moved out of document from and one of whose writes
 * failed (maybe that one): takes the row out of from again (cache[from] read), unless
 * from shows it gone already or back at a later position. True when from changed
 * (route->left_doc names it then). */
bool map_leave_again(const map_config *mc, const ev_event *ev, map_route *route, json_t *cache, const char *from);

/* Writes the row's key index entry (doc path) into the cache, as map_merge does for an
 * applied event; for a retry whose index write failed after its document was written. */
void map_touch_index(const map_config *mc, const map_route *route, json_t *cache);

/* The value of one field of a row after value map and conversion (a compact value,
 * fs_value.h; new reference), or NULL with a reason. Exposed for tests. */
json_t *map_convert(const map_field *f, const json_t *raw, char *err, size_t errlen);
/* Normalisers, exposed for tests: 0 on success. */
int map_kennitala(const char *in, bool hyphen, char *out, size_t len);
int map_phone7(const char *in, char *out, size_t len);

#endif
