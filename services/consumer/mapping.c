/* mapping.c - routing events to documents and folding them in (see mapping.h). */
#include "services/consumer/mapping.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json_tree.h"
#include "services/consumer/fs_value.h"

#define MAP_UNAVAILABLE "__debezium_unavailable_value"
#define MAP_DOC_MAX 1600   /* a document name: collection, "/", an id of up to 1,500 bytes */
#define MAP_ROWKEY_MAX 256 /* a row key's values joined with "," */

const char *map_status_class(map_status st)
{
    switch (st) {
    case MAP_ERR_TABLE: return "mapping.unknown_table";
    case MAP_ERR_APPLY: return "mapping.apply";
    default: return "mapping.ok";
    }
}

/* --- values ------------------------------------------------------------ */

/* The shortest of 15, 16 or 17 significant digits that reads back as d: a float8
 * column's 0.1 (the double nearest it) is "0.1", not "0.10000000000000001". */
static void map_real_text(double d, char *buf, size_t len)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, len, "%.*g", digits, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* An unchanged TOASTed value: the column's value is not in the event. */
static bool map_unavailable(const json_t *v)
{
    return json_is_string(v) && !strcmp(json_string_value(v), MAP_UNAVAILABLE);
}

/* The text of a scalar ("null" for null); false for objects and arrays. */
static bool map_text(const json_t *v, char *buf, size_t len)
{
    switch (json_typeof(v)) {
    case JSON_NULL: snprintf(buf, len, "null"); return true;
    case JSON_TRUE: snprintf(buf, len, "true"); return true;
    case JSON_FALSE: snprintf(buf, len, "false"); return true;
    case JSON_INTEGER: snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return true;
    case JSON_REAL: map_real_text(json_real_value(v), buf, len); return true;
    case JSON_STRING: snprintf(buf, len, "%s", json_string_value(v)); return true;
    default: return false;
    }
}

int map_kennitala(const char *in, bool hyphen, char *out, size_t len)
{
    char d[11];
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n == 10)
                return -1;
            d[n++] = *p;
        } else if (*p != '-' && *p != ' ') {
            return -1;
        }
    }
    if (n != 10)
        return -1;
    d[10] = 0;
    int w = hyphen ? snprintf(out, len, "%.6s-%s", d, d + 6) : snprintf(out, len, "%s", d);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

int map_phone7(const char *in, char *out, size_t len)
{
    char d[64];
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < sizeof d; p++)
        if (isdigit((unsigned char)*p))
            d[n++] = *p;
    d[n] = 0;
    const char *s = d;
    if (n > 7 && !strncmp(s, "00354", 5))
        s += 5;
    else if (n > 7 && !strncmp(s, "354", 3))
        s += 3;
    int w = snprintf(out, len, "%s", s);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

static json_t *map_fail(char *err, size_t errlen, const map_field *f, const char *why)
{
    snprintf(err, errlen, "column %s: %s", f->column, why);
    return NULL;
}

static const json_t *map_value_mapped(const map_field *f, const json_t *raw)
{
    if (f->nvalues == 0 && !f->value_default)
        return raw;
    char text[128];
    if (map_text(raw, text, sizeof text))
        for (size_t i = 0; i < f->nvalues; i++)
            if (!strcmp(text, f->values[i].from))
                return f->values[i].to;
    return f->value_default ? f->value_default : raw;
}

static json_t *map_conv_number(const map_field *f, const json_t *v, bool integer, char *err, size_t errlen)
{
    double d;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v)) {
        char *end;
        d = strtod(json_string_value(v), &end);
        if (*end || end == json_string_value(v) || !isfinite(d))
            return map_fail(err, errlen, f, "not a number");
    } else {
        return map_fail(err, errlen, f, "not a number");
    }
    if (!integer)
        return fsv_double(d);
    if (json_is_integer(v))
        return fsv_integer(json_integer_value(v));
    if (d != floor(d) || fabs(d) > 9.2e18)
        return map_fail(err, errlen, f, "not an integer");
    return fsv_integer((int64_t)d);
}

static json_t *map_conv_bool(const map_field *f, const json_t *v, char *err, size_t errlen)
{
    char t[16];
    if (json_is_boolean(v))
        return fsv_bool(json_is_true(v));
    if (!map_text(v, t, sizeof t))
        return map_fail(err, errlen, f, "not a boolean");
    if (!strcmp(t, "1") || !strcmp(t, "t") || !strcmp(t, "true"))
        return fsv_bool(true);
    if (!strcmp(t, "0") || !strcmp(t, "f") || !strcmp(t, "false"))
        return fsv_bool(false);
    return map_fail(err, errlen, f, "not a boolean");
}

static json_t *map_conv_time(const map_field *f, const json_t *v, bool date, char *err, size_t errlen)
{
    char ts[48];
    if (!json_is_string(v) || fsv_timestamp_normalize(json_string_value(v), ts, sizeof ts) != 0)
        return map_fail(err, errlen, f, "not an ISO-8601 date or timestamp");
    if (!date)
        return fsv_timestamp(ts);
    ts[10] = 0;
    return fsv_string(ts);
}

static json_t *map_conv_text(const map_field *f, const json_t *v, char *err, size_t errlen)
{
    char t[4096];
    char out[64];
    if (!map_text(v, t, sizeof t))
        return map_fail(err, errlen, f, "not a scalar");
    switch (f->conv) {
    case MAP_CONV_STRING: return fsv_string(t);
    case MAP_CONV_KENNITALA:
    case MAP_CONV_KENNITALA_HYPHEN:
        if (map_kennitala(t, f->conv == MAP_CONV_KENNITALA_HYPHEN, out, sizeof out) != 0)
            return map_fail(err, errlen, f, "not a kennitala (10 digits)");
        return fsv_string(out);
    case MAP_CONV_PHONE7:
        if (map_phone7(t, out, sizeof out) != 0)
            return map_fail(err, errlen, f, "phone number too long");
        return fsv_string(out);
    default: return map_fail(err, errlen, f, "internal: not a text conversion");
    }
}

json_t *map_convert(const map_field *f, const json_t *raw, char *err, size_t errlen)
{
    const json_t *v = map_value_mapped(f, raw);
    if (f->conv == MAP_CONV_NOT_NULL)
        return fsv_bool(!json_is_null(v));
    if (json_is_null(v))
        return fsv_null();
    switch (f->conv) {
    case MAP_CONV_NONE: return fsv_from_json(v);
    case MAP_CONV_INTEGER: return map_conv_number(f, v, true, err, errlen);
    case MAP_CONV_DOUBLE: return map_conv_number(f, v, false, err, errlen);
    case MAP_CONV_BOOL: return map_conv_bool(f, v, err, errlen);
    case MAP_CONV_TIMESTAMP: return map_conv_time(f, v, false, err, errlen);
    case MAP_CONV_DATE: return map_conv_time(f, v, true, err, errlen);
    case MAP_CONV_JSON: {
        if (!json_is_string(v))
            return fsv_from_json(v);
        json_t *j = json_tree_load(json_string_value(v), json_string_length(v), JSON_DECODE_ANY, NULL);
        if (!j)
            return map_fail(err, errlen, f, "not a JSON text");
        json_t *out = fsv_from_json(j);
        json_decref(j);
        return out;
    }
    default: return map_conv_text(f, v, err, errlen);
    }
}

/* --- routing ----------------------------------------------------------- */

/* Row key text: the Kafka key's values joined with ','. */
static int map_rowkey(const json_t *key, char *out, size_t len)
{
    if (!json_is_object(key) || json_object_size(key) == 0)
        return -1;
    size_t o = 0;
    const char *k;
    json_t *v;
    out[0] = 0;
    json_object_foreach((json_t *)key, k, v) {
        char t[256];
        if (!map_text(v, t, sizeof t))
            return -1;
        int n = snprintf(out + o, len - o, "%s%s", o ? "," : "", t);
        if (n < 0 || (size_t)n >= len - o)
            return -1;
        o += (size_t)n;
    }
    return 0;
}

static bool map_skip_matches(const map_skip *k, const json_t *row, int year)
{
    const json_t *v = json_object_get(row, k->column);
    char t[256];
    if (!v || !map_text(v, t, sizeof t))
        return false;
    if (k->prefix)
        return !strncmp(t, k->prefix, strlen(k->prefix));
    if (k->equals)
        return !strcmp(t, k->equals);
    char want[32];
    if (!strcmp(k->not_equals, "$current_year"))
        snprintf(want, sizeof want, "%d", year);
    else
        snprintf(want, sizeof want, "%s", k->not_equals);
    return strcmp(t, want) != 0;
}

/* "$current_year" for an event: the UTC year of its commit in the source, so that a
 * consumer running across New Year applies next year's rows, and a replay decides as
 * the first run did (the wall clock when the event has no commit time). */
static int map_event_year(const map_config *mc, const ev_event *ev)
{
    if (mc->current_year)
        return mc->current_year;
    time_t t = ev->source_ts_ms > 0 ? (time_t)(ev->source_ts_ms / 1000) : time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    return tm.tm_year + 1900;
}

/* --- routes -------------------------------------------------------------- */

/* Sets one of a route's strings, growing its memory only when it is too small. Not a
 * jbuf: its 256-byte start, three per batch item, would cost 0.5 MB at the peak. */
static void map_route_set(char **s, size_t *cap, const char *value)
{
    size_t n = strlen(value) + 1;
    if (n > *cap) {
        size_t want = n < 64 ? 64 : n;
        char *grown = realloc(*s, want);
        if (!grown)
            abort(); /* as jbuf does: nothing sensible goes on without memory */
        *s = grown;
        *cap = want;
    }
    memcpy(*s, value, n);
}

void map_route_reset(map_route *r)
{
    r->t = NULL;
    r->skipped_row = false;
    r->unindexed_delete = false;
    r->as_insert = false;
    map_route_set(&r->doc, &r->doc_cap, "");
    map_route_set(&r->rowkey, &r->rowkey_cap, "");
    map_route_set(&r->own_index, &r->own_index_cap, "");
    map_route_set(&r->left_doc, &r->left_doc_cap, "");
    if (r->refresh_doc) /* allocated only by tables that refresh others */
        r->refresh_doc[0] = 0;
    r->refresh_t = NULL;
    json_decref(r->carried);
    r->carried = NULL;
}

void map_route_free(map_route *r)
{
    free(r->doc);
    free(r->rowkey);
    free(r->own_index);
    free(r->left_doc);
    free(r->refresh_doc);
    json_decref(r->carried);
    memset(r, 0, sizeof *r);
}

/* A valid Firestore document id from a value's text. */
static int map_doc_id(const map_table *t, const json_t *v, char *out, size_t len, char *err, size_t errlen)
{
    char text[1024];
    if (json_is_null(v) || !map_text(v, text, sizeof text) || !*text) {
        snprintf(err, errlen, "table %s: id column %s is empty", t->table, t->id_columns[0]);
        return -1;
    }
    if (t->id_conv == MAP_CONV_KENNITALA || t->id_conv == MAP_CONV_KENNITALA_HYPHEN) {
        char k[16];
        if (map_kennitala(text, t->id_conv == MAP_CONV_KENNITALA_HYPHEN, k, sizeof k) != 0) {
            snprintf(err, errlen, "table %s: id column %s is not a kennitala", t->table, t->id_columns[0]);
            return -1;
        }
        snprintf(text, sizeof text, "%s", k);
    }
    if (strchr(text, '/') || !strcmp(text, ".") || !strcmp(text, "..") || strlen(text) > 1500) {
        snprintf(err, errlen, "table %s: id is not a valid document id", t->table);
        return -1;
    }
    int n = snprintf(out, len, "%s/%s", t->collection, text);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* "sync_keys/<table>:<key>": the name of a row's key index entry. */
static void map_index_name(const map_config *mc, const char *table, const char *key, char *out, size_t len)
{
    snprintf(out, len, "%s/%s:%s", mc->index_collection, table, key);
}

/* Looks a name up in the cache: 1 present, 0 known missing, -1 not read yet (added to needs). */
static int map_cached(json_t *cache, const char *name, json_t *needs, json_t **doc)
{
    json_t *e = json_object_get(cache, name);
    *doc = e;
    if (!e) {
        json_array_append_new(needs, json_string(name));
        return -1;
    }
    return json_is_null(e) ? 0 : 1;
}

/* The doc name an index entry points at, or NULL. */
static const char *map_index_target(json_t *entry)
{
    return fsv_get_string(json_object_get(json_object_get(entry, "fields"), "doc"));
}

/* Some table finds its document through rows of t. */
static bool map_is_parent(const map_config *mc, const map_table *t)
{
    for (size_t i = 0; i < mc->ntables; i++)
        if (mc->tables[i].parent && !strcmp(mc->tables[i].parent, t->table))
            return true;
    return false;
}

/* The entry of a row a skip rule left out (a placeholder): its children are left out. */
static bool map_index_skipped(json_t *entry)
{
    const char *doc = map_index_target(entry);
    return (!doc || !*doc) &&
           fsv_is_true(json_object_get(json_object_get(entry, "fields"), "skipped"));
}

/* Columns for the document are in the row: all of them, none, or some (an error). */
static int map_row_has(const json_t *row, char *const *cols, int n)
{
    int have = 0;
    for (int i = 0; i < n; i++) {
        const json_t *v = json_object_get(row, cols[i]);
        if (v && !json_is_null(v))
            have++;
    }
    return have == n;
}

static map_status map_parent_doc(const map_config *mc, const map_table *t, const json_t *row, json_t *cache,
                                 map_route *r, json_t *needs, char *err, size_t errlen)
{
    char vals[256] = "", idx[512];
    size_t o = 0;
    for (int i = 0; i < t->nid_columns; i++) {
        char text[128];
        map_text(json_object_get(row, t->id_columns[i]), text, sizeof text);
        o += (size_t)snprintf(vals + o, sizeof vals - o, "%s%s", i ? "," : "", text);
        if (o >= sizeof vals) {
            snprintf(err, errlen, "table %s: parent key too long", t->table);
            return MAP_ERR_APPLY;
        }
    }
    map_index_name(mc, t->parent, vals, idx, sizeof idx);
    json_t *e;
    int c = map_cached(cache, idx, needs, &e);
    if (c < 0)
        return MAP_NEED;
    if (c == 1 && map_index_skipped(e))
        return MAP_SKIP; /* the parent row was left out by a skip rule */
    if (c == 0 || !map_index_target(e)) {
        snprintf(err, errlen, "table %s: parent %s row %s not synced yet", t->table, t->parent, vals);
        return MAP_WAIT;
    }
    map_route_set(&r->doc, &r->doc_cap, map_index_target(e));
    return MAP_OK;
}

/* When the row lacks the columns that find the document (a delete whose "before" holds
 * only the key), the row's own index entry says where it went. */
static map_status map_own_index_doc(const map_table *t, const ev_event *ev, json_t *cache, map_route *r,
                                    json_t *needs, char *err, size_t errlen)
{
    if (!t->index) {
        snprintf(err, errlen, "table %s: the row does not hold the id columns and index = false", t->table);
        return MAP_ERR_APPLY;
    }
    json_t *e;
    int c = map_cached(cache, r->own_index, needs, &e);
    if (c < 0)
        return MAP_NEED;
    if (c == 1 && map_index_skipped(e))
        return MAP_SKIP;
    if (c == 0 || !map_index_target(e)) {
        if (ev->op == 'd') { /* never applied (a placeholder...), or by this batch: map_merge */
            r->unindexed_delete = true;
            return MAP_OK;
        }
        snprintf(err, errlen, "table %s: row not indexed yet", t->table);
        return MAP_WAIT;
    }
    map_route_set(&r->doc, &r->doc_cap, map_index_target(e));
    return MAP_OK;
}

static map_status map_find_doc(const map_config *mc, const map_table *t, const ev_event *ev, json_t *cache,
                               map_route *r, json_t *needs, char *err, size_t errlen)
{
    const json_t *row = ev_row(ev);
    char doc[MAP_DOC_MAX];
    switch (t->id_kind) {
    case MAP_ID_KEY: {
        json_t *k = json_string(r->rowkey);
        int rc = map_doc_id(t, k, doc, sizeof doc, err, errlen);
        json_decref(k);
        if (rc != 0)
            return MAP_ERR_APPLY;
        map_route_set(&r->doc, &r->doc_cap, doc);
        return MAP_OK;
    }
    case MAP_ID_COLUMN:
        if (map_row_has(row, t->id_columns, 1)) {
            if (map_doc_id(t, json_object_get(row, t->id_columns[0]), doc, sizeof doc, err, errlen) != 0)
                return MAP_ERR_APPLY;
            map_route_set(&r->doc, &r->doc_cap, doc);
            return MAP_OK;
        }
        return map_own_index_doc(t, ev, cache, r, needs, err, errlen);
    case MAP_ID_PARENT:
        if (map_row_has(row, t->id_columns, t->nid_columns))
            return map_parent_doc(mc, t, row, cache, r, needs, err, errlen);
        return map_own_index_doc(t, ev, cache, r, needs, err, errlen);
    }
    return MAP_ERR_APPLY;
}

/* Walks a field's lookup chain through the cache from step first, raw being the value
 * that step looks up. 1: *out holds the plain value; 0: a step is not read yet (added to
 * needs); -1: a reference row is missing. */
static int map_lookup_from(const map_config *mc, const map_field *f, int first, const json_t *raw, json_t *cache,
                           json_t *needs, json_t **out)
{
    json_t *v = json_incref((json_t *)raw);
    for (int s = first; s < f->nlookup; s++) {
        if (json_is_null(v))
            break;
        char table[256], text[256], name[1600];
        snprintf(table, sizeof table, "%s", f->lookup[s]);
        char *dot = strrchr(table, '.');
        *dot = 0;
        const map_table *rt = map_find(mc, table);
        if (!map_text(v, text, sizeof text)) {
            json_decref(v);
            return -1;
        }
        snprintf(name, sizeof name, "%s/%s", rt->collection, text);
        json_decref(v);
        json_t *doc;
        int c = map_cached(cache, name, needs, &doc);
        if (c <= 0)
            return c == 0 ? -1 : 0;
        json_t *fv = fsv_get(json_object_get(doc, "fields"), dot + 1);
        v = fv ? fsv_to_json(fv) : json_null();
        if (!v)
            v = json_null();
    }
    *out = v;
    return 1;
}

static int map_lookup(const map_config *mc, const map_field *f, const json_t *raw, json_t *cache, json_t *needs,
                      json_t **out)
{
    return map_lookup_from(mc, f, 0, raw, cache, needs, out);
}

static void map_position_path(const map_table *t, const map_route *r, char *path, size_t len);

/* An update of a parent row whose document holds no position of the table - a new
 * document - or one the row left may come from another document: a kennitala changed,
 * or changed back. So may an update of a row of a child table (per row) that the
 * document holds no live position of: a fee, a union membership or an address booked
 * to the wrong member and moved to the right one (comrade_id changed), or moved back.
 * Its index entry says from where; map_merge then takes the row out of that document
 * (map_leave), and repoints the entry. An update of a document holding the position
 * reads nothing more (a parent's position names no row: a key in it cost 0.7 MB at the
 * consumer's peak), nor does an insert or a snapshot read (a backfill would pay a round
 * of reads per batch; their entry is rewritten anyway). */
static bool map_moved_in(const map_config *mc, const map_table *t, const ev_event *ev, json_t *cache,
                         const map_route *r)
{
    if (!t->index || ev->op != 'u' || r->as_insert || (t->per_row ? t->id_kind != MAP_ID_PARENT : !map_is_parent(mc, t)))
        return false;
    char ppath[600];
    map_position_path(t, r, ppath, sizeof ppath);
    json_t *f = fsv_map_fields(fsv_get(json_object_get(json_object_get(cache, r->doc), "fields"), ppath));
    return !f || fsv_is_true(json_object_get(f, "left"));
}

/* The source columns an element of c keeps beside it (c->refreshed), as compact
 * values; NULL when the holder at ppath of doc has none. */
static json_t *map_kept_src(const json_t *doc, const char *ppath)
{
    json_t *hf = fsv_map_fields(fsv_get(json_object_get(doc, "fields"), ppath));
    return hf ? fsv_map_fields(json_object_get(hf, "src")) : NULL;
}

static bool map_is_stale(const map_table *t, const ev_event *ev, json_t *cache, const map_route *r, const char *ppath,
                         bool *known);

/* The element with this row's key in a table t refreshes (map_merge_refresh) reads, once
 * it is mapped again: the steps of its lookups that read this row, from the event's row
 * (the cache still holds the row as it was); the element itself, found through that
 * table's key index, its document, and the lookups of the source columns kept beside it,
 * as they are now. MAP_WAIT when a reference row the event's new values name is not there
 * yet - only for an event newer than the row as read (a replay waits for nothing). */
/* Whether the event's document is read and the event newer than it (not a replay). */
static bool map_is_fresh(const map_table *t, const ev_event *ev, json_t *cache, const map_route *r)
{
    char tpath[600];
    bool known;
    map_position_path(t, r, tpath, sizeof tpath);
    return json_object_get(cache, r->doc) && !map_is_stale(t, ev, cache, r, tpath, &known);
}

static map_status map_prepare_refresh(const map_config *mc, const map_table *t, const ev_event *ev, json_t *cache,
                                      map_route *r, json_t *needs, char *err, size_t errlen)
{
    size_t tl = strlen(t->table);
    for (int k = 0; k < t->nrefreshes; k++) {
        const map_table *c = map_find(mc, t->refreshes[k]);
        for (size_t i = 0; i < c->nfields; i++) {
            const map_field *f = &c->fields[i];
            if (!f->nlookup || strncmp(f->lookup[0], t->table, tl) || f->lookup[0][tl] != '.')
                continue;
            const json_t *step = json_object_get(ev->after, f->lookup[0] + tl + 1);
            json_t *v = NULL;
            if (step && map_lookup_from(mc, f, 1, step, cache, needs, &v) < 0 && map_is_fresh(t, ev, cache, r)) {
                snprintf(err, errlen, "table %s: reference row for %s not synced yet", c->table, f->lookup[1]);
                return MAP_WAIT;
            }
            json_decref(v);
        }
        char idx[MAP_DOC_MAX], ppath[600];
        map_index_name(mc, c->table, r->rowkey, idx, sizeof idx);
        json_t *e, *doc;
        if (map_cached(cache, idx, needs, &e) != 1 || !map_index_target(e) || !*map_index_target(e) ||
            map_cached(cache, map_index_target(e), needs, &doc) != 1)
            continue;
        map_position_path(c, r, ppath, sizeof ppath);
        json_t *src = map_kept_src(doc, ppath);
        for (size_t i = 0; src && i < c->nfields; i++) {
            const map_field *f = &c->fields[i];
            json_t *raw = f->nlookup ? json_object_get(src, f->column) : NULL, *v = NULL;
            if (!raw)
                continue;
            json_t *plain = fsv_to_json(raw);
            map_lookup(mc, f, plain, cache, needs, &v); /* as the row is now (a later stale event) */
            json_decref(v);
            json_decref(plain);
        }
    }
    return MAP_OK;
}

map_status map_prepare(const map_config *mc, const ev_event *ev, const json_t *key, json_t *cache,
                       map_route *r, json_t *needs, char *err, size_t errlen)
{
    map_route_reset(r);
    const map_table *t = r->t = map_find(mc, ev->table);
    if (!t) {
        snprintf(err, errlen, "table %s is not in the mapping", ev->table);
        return MAP_ERR_TABLE;
    }
    if (ev->op == 't')
        return MAP_SKIP;
    char rowkey[MAP_ROWKEY_MAX], own_index[MAP_DOC_MAX];
    if (map_rowkey(key, rowkey, sizeof rowkey) != 0) {
        snprintf(err, errlen, "table %s: record key is not a JSON object of key columns", t->table);
        return MAP_ERR_APPLY;
    }
    map_route_set(&r->rowkey, &r->rowkey_cap, rowkey);
    map_index_name(mc, t->table, rowkey, own_index, sizeof own_index);
    map_route_set(&r->own_index, &r->own_index_cap, own_index);
    const json_t *row = ev_row(ev);
    int year = t->nskips ? map_event_year(mc, ev) : 0;
    for (size_t i = 0; i < t->nskips; i++) {
        const json_t *v = json_object_get(row, t->skips[i].column);
        if (ev->op == 'd' && (!v || json_is_null(v)))
            continue; /* a delete's "before" holds only the key: the row's index entry decides */
        if (map_skip_matches(&t->skips[i], row, year)) {
            if (!t->index || ev->op == 'd' || !map_is_parent(mc, t))
                return MAP_SKIP;
            r->skipped_row = true; /* written as such into its index entry by map_merge */
            return MAP_OK;
        }
    }
    size_t before = json_array_size(needs);
    map_status st = map_find_doc(mc, t, ev, cache, r, needs, err, errlen);
    if (st != MAP_OK || r->unindexed_delete)
        return st;
    json_t *doc;
    int have = map_cached(cache, r->doc, needs, &doc);
    if (have == 0 && t->del == MAP_DEL_HARD && t->index)
        map_cached(cache, r->own_index, needs, &doc); /* a hard delete's position lives there */
    if (have >= 0 && map_moved_in(mc, t, ev, cache, r)) {
        json_t *idx; /* where the row was: map_merge */
        const char *from = map_cached(cache, r->own_index, needs, &idx) == 1 ? map_index_target(idx) : NULL;
        if (from && *from && strcmp(from, r->doc)) /* a child row: its other rows there (an array) and the
                                                      * rules' inputs; a parent row: its children's data */
            map_cached(cache, from, needs, &doc);
    }
    if (ev->op != 'd') {
        for (size_t i = 0; i < t->nfields; i++) {
            const map_field *f = &t->fields[i];
            const json_t *raw = json_object_get(row, f->column);
            json_t *v = NULL;
            if (f->nlookup == 0 || !raw)
                continue;
            int c = map_lookup(mc, f, raw, cache, needs, &v);
            json_decref(v);
            if (c < 0) {
                snprintf(err, errlen, "table %s: reference row for %s not synced yet", t->table, f->lookup[0]);
                return MAP_WAIT;
            }
        }
    }
    if (t->nrefreshes && ev->op != 'd') {
        st = map_prepare_refresh(mc, t, ev, cache, r, needs, err, errlen);
        if (st != MAP_OK)
            return st;
    }
    return json_array_size(needs) > before ? MAP_NEED : MAP_OK;
}

/* --- merging ------------------------------------------------------------ */

static void map_mask(json_t *entry, const char *path)
{
    json_t *m = json_object_get(entry, "_mask");
    if (!m) {
        m = json_object();
        json_object_set_new(entry, "_mask", m);
    }
    json_object_set_new(m, path, json_true());
}

static void map_put(json_t *entry, const char *path, json_t *value)
{
    fsv_set(json_object_get(entry, "fields"), path, value);
    map_mask(entry, path);
}

/* The cache entry for writing name: created empty (remembering it did not exist). */
static json_t *map_entry(json_t *cache, const char *name)
{
    json_t *e = json_object_get(cache, name);
    if (!json_is_object(e)) {
        e = json_object();
        json_object_set_new(e, "fields", json_object());
        json_object_set_new(cache, name, e);
    } else if (!json_object_get(e, "fields")) {
        json_object_set_new(e, "fields", json_object());
    }
    return e;
}

/* Points key index entry idx at doc (written blind: an entry holds no position). */
static void map_point_index(json_t *cache, const char *idx, const char *doc)
{
    json_t *ie = map_entry(cache, idx);
    map_put(ie, "doc", fsv_string(doc));
    json_object_set_new(ie, "_blind", json_true());
}

static bool map_position_of(json_t *holder, ev_position *pos)
{
    int64_t lsn, commit;
    json_t *fields = fsv_map_fields(holder);
    if (!fields || !fsv_get_int(json_object_get(fields, "lsn"), &lsn) ||
        !fsv_get_int(json_object_get(fields, "commit_lsn"), &commit))
        return false;
    pos->lsn = (uint64_t)lsn;
    pos->commit_lsn = (uint64_t)commit;
    return true;
}

/* A position, and for an array row its element ("v"), the source columns it keeps to be
 * mapped again ("src", compact map) and the position of the last row that refreshed it
 * ("ref"). Takes element and src. */
static json_t *map_row_holder(ev_position p, bool deleted, json_t *element, json_t *src, const ev_position *ref)
{
    json_t *f = json_object();
    json_object_set_new(f, "lsn", fsv_integer((int64_t)p.lsn));
    json_object_set_new(f, "commit_lsn", fsv_integer((int64_t)p.commit_lsn));
    if (deleted)
        json_object_set_new(f, "deleted", fsv_bool(true));
    if (element)
        json_object_set_new(f, "v", element);
    if (src)
        json_object_set_new(f, "src", src);
    if (ref)
        json_object_set_new(f, "ref", map_row_holder(*ref, false, NULL, NULL, NULL));
    return fsv_map(f);
}

static json_t *map_position_value(ev_position p, bool deleted, json_t *element)
{
    return map_row_holder(p, deleted, element, NULL, NULL);
}

/* "metadata.sync.<table>.rows": where a per-row table's positions live. */
static void map_rows_path(const char *table, char *path, size_t len)
{
    snprintf(path, len, "metadata.sync");
    fsv_path_append(path, len, table);
    fsv_path_append(path, len, "rows");
}

/* "metadata.sync.<table>" or "metadata.sync.<table>.rows.<key>". */
static void map_position_path(const map_table *t, const map_route *r, char *path, size_t len)
{
    if (!t->per_row) {
        snprintf(path, len, "metadata.sync");
        fsv_path_append(path, len, t->table);
        return;
    }
    map_rows_path(t->table, path, len);
    fsv_path_append(path, len, r->rowkey);
}

/* The rows (key -> holder) of a per-row table in a document's fields, or NULL. */
static json_t *map_rows_of(const char *table, json_t *fields)
{
    char path[300];
    map_rows_path(table, path, sizeof path);
    return fsv_map_fields(fsv_get(fields, path));
}

/* Whether the event is older than what the document (or a hard delete) holds; *known
 * says whether the document already held a position for this table or row. */
static bool map_is_stale(const map_table *t, const ev_event *ev, json_t *cache, const map_route *r, const char *ppath,
                         bool *known)
{
    ev_position have;
    json_t *entry = json_object_get(cache, r->doc);
    *known = false;
    if (json_is_object(entry) && map_position_of(fsv_get(json_object_get(entry, "fields"), ppath), &have)) {
        *known = true;
        return ev_position_cmp(ev->pos, have) <= 0;
    }
    if (t->del == MAP_DEL_HARD && t->index) {
        json_t *idx = json_object_get(cache, r->own_index);
        json_t *f = json_object_get(idx, "fields");
        if (f && map_position_of(json_object_get(f, "deleted_at"), &have))
            return ev_position_cmp(ev->pos, have) <= 0;
    }
    return false;
}

/* A field's Firestore value for this row, or NULL (with err) when it cannot map. */
static json_t *map_field_value(const map_config *mc, const map_field *f, const json_t *raw, json_t *cache,
                               char *err, size_t errlen)
{
    if (f->nlookup == 0)
        return map_convert(f, raw, err, errlen);
    json_t *needs = json_array(), *v = NULL;
    json_t *out = NULL;
    if (map_lookup(mc, f, raw, cache, needs, &v) == 1)
        out = map_convert(f, v, err, errlen);
    else
        snprintf(err, errlen, "column %s: lookup not resolved", f->column);
    json_decref(v);
    json_decref(needs);
    return out;
}

/* Sets the mapped fields of the row into target (document fields, or an element's). */
static map_status map_fields(const map_config *mc, const map_table *t, const json_t *row, json_t *cache,
                             json_t *entry, json_t *element, char *err, size_t errlen)
{
    if (t->all_columns) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)row, k, v) {
            char path[300] = "";
            if (map_unavailable(v))
                continue;
            fsv_path_append(path, sizeof path, k);
            map_put(entry, path, fsv_from_json(v));
        }
    }
    json_t *staged = json_object(); /* path -> value, applied when all converted */
    for (size_t i = 0; i < t->nfields; i++) {
        const map_field *f = &t->fields[i];
        const json_t *raw = json_object_get(row, f->column);
        if (!raw || map_unavailable(raw))
            continue; /* absent or an unchanged TOASTed value: leave the field alone */
        json_t *v = map_field_value(mc, f, raw, cache, err, errlen);
        if (!v) {
            json_decref(staged);
            return MAP_ERR_APPLY;
        }
        if (f->if_null && fsv_is_null(v)) {
            json_decref(v);
            v = fsv_from_json(f->if_null);
        }
        if (element && !strcmp(f->path, "."))
            json_object_set_new(element, ".", v);
        else if (element)
            fsv_set(element, f->path, v);
        else
            json_object_set_new(staged, f->path, v);
    }
    /* only now, when every field converted, does the document change */
    const char *path;
    json_t *v;
    json_object_foreach(staged, path, v)
        map_put(entry, path, json_incref(v));
    json_decref(staged);
    return MAP_OK;
}

static int map_key_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strlen(x), ly = strlen(y);
    if (lx != ly && isdigit((unsigned char)*x) && isdigit((unsigned char)*y))
        return lx < ly ? -1 : 1; /* numeric keys in numeric order */
    return strcmp(x, y);
}

/* Rebuilds an array field from the rows every table gathering into it keeps. */
static void map_rebuild_array(const map_config *mc, const map_table *t, json_t *entry)
{
    json_t *values = json_array();
    for (size_t i = 0; i < mc->ntables; i++) {
        const map_table *o = &mc->tables[i];
        if (!o->array || strcmp(o->array, t->array) || strcmp(o->collection, t->collection))
            continue;
        json_t *rows = map_rows_of(o->table, json_object_get(entry, "fields"));
        size_t n = json_object_size(rows), k = 0;
        const char **keys = calloc(n ? n : 1, sizeof *keys);
        const char *key;
        json_t *v;
        json_object_foreach(rows, key, v)
            keys[k++] = key;
        qsort(keys, n, sizeof *keys, map_key_cmp);
        for (k = 0; k < n; k++) {
            json_t *rf = fsv_map_fields(json_object_get(rows, keys[k]));
            json_t *el = json_object_get(rf, "v");
            if (el)
                json_array_append(values, el);
        }
        free(keys);
    }
    map_put(entry, t->array, fsv_array(values));
}

/* The array element of row (a new reference in *element), or *gone when element_if
 * leaves the row out of the array. */
static map_status map_array_element(const map_config *mc, const map_table *t, const json_t *row, json_t *cache,
                                    json_t *entry, json_t **element, bool *gone, char *err, size_t errlen)
{
    json_t *el = json_object();
    map_status st = map_fields(mc, t, row, cache, entry, el, err, errlen);
    *element = NULL;
    *gone = false;
    if (st == MAP_OK && t->element_if && !fsv_is_true(fsv_get(el, t->element_if))) {
        *gone = true; /* not (or no longer) in the array: as if deleted, at this position */
    } else if (st == MAP_OK) {
        json_t *whole = json_object_get(el, ".");
        *element = whole ? json_incref(whole) : fsv_map(json_incref(el));
    }
    json_decref(el);
    return st;
}

/* The columns of row the fields of t read, as compact values; an unchanged TOASTed one
 * as it was kept (old, the source columns kept so far; may be NULL). */
static json_t *map_src_of(const map_table *t, const json_t *row, const json_t *old)
{
    json_t *src = json_object();
    for (size_t i = 0; i < t->nfields; i++) {
        const char *col = t->fields[i].column;
        const json_t *v = json_object_get(row, col), *kept = json_object_get(old, col);
        if (v && !map_unavailable(v))
            json_object_set_new(src, col, fsv_from_json(v));
        else if (v && kept)
            json_object_set_new(src, col, json_deep_copy(kept));
    }
    return fsv_map(src);
}

/* The position of the last row that refreshed the element at ppath, if any. */
static bool map_ref_of(json_t *entry, const char *ppath, ev_position *ref)
{
    json_t *hf = fsv_map_fields(fsv_get(json_object_get(entry, "fields"), ppath));
    return hf && map_position_of(json_object_get(hf, "ref"), ref);
}

static map_status map_merge_array_row(const map_config *mc, const map_table *t, const ev_event *ev, json_t *cache,
                                      json_t *entry, const char *ppath, char *err, size_t errlen)
{
    json_t *element = NULL, *src = NULL;
    bool gone = ev->op == 'd';
    if (!gone) {
        map_status st = map_array_element(mc, t, ev->after, cache, entry, &element, &gone, err, errlen);
        if (st != MAP_OK)
            return st;
        if (t->refreshed)
            src = map_src_of(t, ev->after, map_kept_src(entry, ppath));
    }
    ev_position ref;
    bool refreshed = map_ref_of(entry, ppath, &ref);
    map_put(entry, ppath, map_row_holder(ev->pos, gone, element, src, refreshed ? &ref : NULL));
    map_rebuild_array(mc, t, entry);
    return MAP_OK;
}

static json_t *map_set_value(const map_set *s, const ev_event *ev)
{
    if (json_is_string(s->value) && !strcmp(json_string_value(s->value), "$event_time")) {
        char ts[40];
        time_t secs = (time_t)(ev->source_ts_ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(ev->source_ts_ms % 1000));
        return fsv_timestamp(ts);
    }
    return fsv_from_json(s->value);
}

/* Whether the document holds a live row of per-row table t other than this one (its
 * fields are that row's now: a fee booked to this member after one moved away). */
static bool map_other_live_row(const map_table *t, json_t *entry, const char *rowkey)
{
    const char *k;
    json_t *v;
    json_object_foreach(map_rows_of(t->table, json_object_get(entry, "fields")), k, v) {
        json_t *f = fsv_map_fields(v);
        if (strcmp(k, rowkey) && f && !fsv_is_true(json_object_get(f, "deleted")))
            return true;
    }
    return false;
}

/* A "clear" delete: the table's fields removed (or set to their if_null). */
static void map_clear_fields(const map_table *t, json_t *entry)
{
    for (size_t i = 0; i < t->nfields; i++) {
        const map_field *f = &t->fields[i];
        if (f->if_null) {
            map_put(entry, f->path, fsv_from_json(f->if_null));
            continue;
        }
        fsv_remove(json_object_get(entry, "fields"), f->path);
        map_mask(entry, f->path);
    }
}

/* The newest live row of per-row table t in a document's fields (its position in *pos),
 * or NULL when none is live. */
static const char *map_newest_live_row(const map_table *t, json_t *fields, ev_position *pos)
{
    const char *key, *best = NULL;
    json_t *h;
    ev_position p;
    json_object_foreach(map_rows_of(t->table, fields), key, h) {
        if (fsv_is_true(json_object_get(fsv_map_fields(h), "deleted")) || !map_position_of(h, &p))
            continue;
        if (!best || ev_position_cmp(p, *pos) > 0) {
            best = key;
            *pos = p;
        }
    }
    return best;
}

static map_status map_merge_delete(const map_config *mc, const map_table *t, const ev_event *ev, json_t *cache,
                                   const map_route *r, json_t *entry)
{
    if (t->per_row && !t->array && t->del != MAP_DEL_IGNORE && map_other_live_row(t, entry, r->rowkey))
        return MAP_OK; /* the fields belong to that row */
    switch (t->del) {
    case MAP_DEL_IGNORE: return MAP_SKIP;
    case MAP_DEL_SOFT:
        for (size_t i = 0; i < t->nsoft; i++)
            map_put(entry, t->soft[i].path, map_set_value(&t->soft[i], ev));
        return MAP_OK;
    case MAP_DEL_CLEAR: map_clear_fields(t, entry); return MAP_OK;
    case MAP_DEL_HARD:
        json_object_set_new(entry, "_delete", json_true());
        json_object_set_new(entry, "fields", json_object());
        json_object_del(entry, "_mask");
        if (t->index) {
            json_t *idx = map_entry(cache, r->own_index);
            map_put(idx, "deleted_at", map_position_value(ev->pos, true, NULL));
            json_object_set_new(idx, "_blind", json_true());
        }
        return MAP_OK;
    }
    (void)mc;
    return MAP_ERR_APPLY;
}

/* year: "$current_year" for the event being merged (not_current_year). */
static bool map_rule_holds(const map_rule *r, json_t *fields, int year)
{
    json_t *v = fsv_get(fields, r->field);
    bool is_null = !v || fsv_is_null(v);
    bool is_true = fsv_is_true(v);
    int64_t i;
    switch (r->test) {
    case 0: return !is_null;
    case 1: return is_true;
    case 2: return is_null;
    case 3: return !is_true;
    default: return !fsv_get_int(v, &i) || i != year;
    }
}

static void map_derive(const map_config *mc, const map_table *t, json_t *entry, int year)
{
    json_t *fields = json_object_get(entry, "fields");
    for (size_t i = 0; i < mc->nderived; i++) {
        const map_derived *d = &mc->derived[i];
        if (strcmp(d->collection, t->collection))
            continue;
        const json_t *value = d->value_default;
        for (size_t r = 0; r < d->nrules; r++) {
            if (map_rule_holds(&d->rules[r], fields, year)) {
                value = d->rules[r].value;
                break;
            }
        }
        map_put(entry, d->path, fsv_from_json(value));
    }
}

static void map_count(json_t *entry)
{
    json_t *n = json_object_get(entry, "_events");
    json_object_set_new(entry, "_events", json_integer(n ? json_integer_value(n) + 1 : 1));
}

/* The row's index entry names its document: written earlier in this batch (or read). */
static bool map_index_names(json_t *cache, const map_route *r)
{
    const char *at = map_index_target(json_object_get(cache, r->own_index));
    return at && !strcmp(at, r->doc);
}

/* A parent row moved from document from to document to (a kennitala corrected): the
 * rows of its child tables come along - for each child table, its position (per row:
 * each row's) and what it maps, where from holds a newer state than to; an array is
 * rebuilt from its rows; the rows' key index entries are repointed (their deletes, and
 * address refreshes, find them through it). from was read whole enough: its positions
 * and the child tables' fields are in the read mask (map_read_mask). */
static void map_carry(const map_config *mc, const map_table *t, json_t *cache, map_route *r, const char *from,
                      const char *to)
{
    json_t *src = json_object_get(json_object_get(cache, from), "fields"), *dst = map_entry(cache, to);
    for (size_t i = 0; i < mc->ntables; i++) {
        const map_table *c = &mc->tables[i];
        if (!c->parent || strcmp(c->parent, t->table) || strcmp(c->collection, t->collection))
            continue;
        char path[600] = "metadata.sync";
        bool moved = false;
        ev_position ps, pd;
        if (c->per_row) {
            map_rows_path(c->table, path, sizeof path);
            const char *key;
            json_t *hs;
            json_object_foreach(map_rows_of(c->table, src), key, hs) {
                char rp[700];
                snprintf(rp, sizeof rp, "%s", path);
                fsv_path_append(rp, sizeof rp, key);
                bool here = map_position_of(fsv_get(json_object_get(dst, "fields"), rp), &pd);
                if (!map_position_of(hs, &ps) || (here && ev_position_cmp(pd, ps) > 0))
                    continue; /* to holds a newer state of the row */
                bool newer = !here || ev_position_cmp(pd, ps) < 0;
                if (newer)
                    map_put(dst, rp, json_deep_copy(hs));
                if (fsv_is_true(json_object_get(fsv_map_fields(hs), "deleted")))
                    continue;
                moved |= newer;
                if (c->index) { /* the row lives in to now (as it did before, when moved back) */
                    char idx[MAP_DOC_MAX];
                    map_index_name(mc, c->table, key, idx, sizeof idx);
                    map_point_index(cache, idx, to);
                    if (!r->carried)
                        r->carried = json_array();
                    json_array_append_new(r->carried, json_string(idx));
                }
            }
            if (c->array) {
                map_rebuild_array(mc, c, dst);
            } else { /* the fields are the newest live row's: from's if it is that one, none if none */
                ev_position pn, pf;
                const char *newest = map_newest_live_row(c, json_object_get(dst, "fields"), &pn);
                const char *theirs = map_newest_live_row(c, src, &pf);
                if (!newest)
                    map_clear_fields(c, dst);
                moved = newest && theirs && !strcmp(newest, theirs) && ev_position_cmp(pn, pf) == 0 && moved;
            }
        } else {
            fsv_path_append(path, sizeof path, c->table);
            json_t *hs = fsv_get(src, path);
            if (!map_position_of(hs, &ps) ||
                (map_position_of(fsv_get(json_object_get(dst, "fields"), path), &pd) && ev_position_cmp(pd, ps) >= 0))
                continue;
            map_put(dst, path, json_deep_copy(hs));
            moved = true;
        }
        for (size_t f = 0; moved && !c->array && f < c->nfields; f++) {
            json_t *v = fsv_get(src, c->fields[f].path);
            if (v) {
                map_put(dst, c->fields[f].path, json_deep_copy(v));
            } else { /* absent there (a null, a cleared row): not left over from an older state */
                fsv_remove(json_object_get(dst, "fields"), c->fields[f].path);
                map_mask(dst, c->fields[f].path);
            }
        }
    }
}

/* The row moved out of document from (its index entry named it). A parent row's: that
 * document is marked as left by the row (so that a move back is seen: map_moved_in) and
 * gets the table's soft delete, as when the row is deleted - the member is no longer
 * there; a masked write without a precondition when the batch did not read it (no other
 * event of the batch changes it). A child row's (per row): its position there becomes a
 * deleted one, and the array is rebuilt or the fields cleared, as a delete would. Not
 * when the document is known to be gone. */
static void map_leave(const map_config *mc, const map_table *t, const ev_event *ev, json_t *cache, map_route *r,
                      const char *from, const char *ppath)
{
    json_t *have = json_object_get(cache, from);
    if (json_is_null(have) || (t->per_row && !json_is_object(have)))
        return;
    map_route_set(&r->left_doc, &r->left_doc_cap, from);
    json_t *x = map_entry(cache, from);
    if (t->per_row) { /* read (map_prepare): the row goes as if deleted there, at this position */
        json_t *gone = map_position_value(ev->pos, true, NULL);
        json_object_set_new(fsv_map_fields(gone), "left", fsv_bool(true)); /* a move back is seen */
        map_put(x, ppath, gone);
        if (t->array)
            map_rebuild_array(mc, t, x);
        else if (t->del == MAP_DEL_CLEAR || t->del == MAP_DEL_SOFT)
            map_merge_delete(mc, t, ev, cache, r, x);
        map_derive(mc, t, x, map_event_year(mc, ev));
        map_count(x);
        return;
    }
    if (!have)
        json_object_set_new(x, "_blind", json_true());
    char path[700];
    snprintf(path, sizeof path, "%s", ppath);
    fsv_path_append(path, sizeof path, "left");
    map_put(x, path, fsv_bool(true));
    if (t->del == MAP_DEL_SOFT) {
        for (size_t i = 0; i < t->nsoft; i++)
            map_put(x, t->soft[i].path, map_set_value(&t->soft[i], ev));
        map_derive(mc, t, x, map_event_year(mc, ev));
    }
    map_count(x);
}

/* Maps again the element map_prepare_refresh found, from the source columns kept beside
 * it; the lookups of this row read it as merged (or newer). The element keeps its own
 * position; this event's goes beside it as "ref", so that an older one is stale. */
static map_status map_merge_refresh(const map_config *mc, const ev_event *ev, map_route *r, json_t *cache,
                                    bool row_stale, char *err, size_t errlen)
{
    const map_table *c = r->refresh_t;
    json_t *entry = json_object_get(cache, r->refresh_doc);
    char ppath[600];
    map_position_path(c, r, ppath, sizeof ppath);
    ev_position own, ref, newest = ev->pos;
    json_t *src = json_is_object(entry) ? map_kept_src(entry, ppath) : NULL;
    if (!src || !map_position_of(fsv_get(json_object_get(entry, "fields"), ppath), &own))
        return MAP_SKIP; /* the row is deleted, or its element keeps no columns */
    if (map_ref_of(entry, ppath, &ref)) {
        /* a newer row event refreshed it already: this one changes nothing - unless its
         * row's own write is what failed before (the row is not stale), when the element
         * is mapped again from the row as the cache has it */
        if (ev_position_cmp(ev->pos, ref) <= 0 && row_stale)
            return MAP_STALE;
        if (ev_position_cmp(ev->pos, ref) < 0)
            newest = ref;
    }
    json_t *row = json_object();
    const char *col;
    json_t *v;
    json_object_foreach(src, col, v)
        json_object_set_new(row, col, fsv_to_json(v));
    json_t *element;
    bool gone;
    map_status st = map_array_element(mc, c, row, cache, entry, &element, &gone, err, errlen);
    json_decref(row);
    if (st != MAP_OK)
        return st;
    json_t *kept = fsv_map(json_deep_copy(src)); /* src lives in the holder replaced next */
    map_put(entry, ppath, map_row_holder(own, gone, element, kept, &newest));
    map_rebuild_array(mc, c, entry);
    map_derive(mc, c, entry, map_event_year(mc, ev));
    map_count(entry);
    return MAP_OK;
}

static map_status map_merge_row(const map_config *mc, const ev_event *ev, map_route *r, json_t *cache, char *err,
                                size_t errlen);

/* The element a refreshing row's event maps again: through the key index entry of a
 * refreshed table as the cache has it now - read by map_prepare, or written by an earlier
 * event of the batch (an address row inserted just before its base row changed). */
static bool map_find_refresh(const map_config *mc, const map_table *t, map_route *r, json_t *cache)
{
    for (int k = 0; k < t->nrefreshes; k++) {
        char idx[MAP_DOC_MAX];
        map_index_name(mc, t->refreshes[k], r->rowkey, idx, sizeof idx);
        const char *doc = map_index_target(json_object_get(cache, idx));
        if (doc && *doc && json_is_object(json_object_get(cache, doc))) {
            map_route_set(&r->refresh_doc, &r->refresh_doc_cap, doc);
            r->refresh_t = map_find(mc, t->refreshes[k]);
            return true;
        }
    }
    return false;
}

map_status map_merge(const map_config *mc, const ev_event *ev, map_route *r, json_t *cache, char *err,
                     size_t errlen)
{
    map_status st = map_merge_row(mc, ev, r, cache, err, errlen);
    if (r->refresh_doc)
        r->refresh_doc[0] = 0;
    if (!r->t->nrefreshes || ev->op == 'd' || (st != MAP_OK && st != MAP_STALE) || !map_find_refresh(mc, r->t, r, cache))
        return st;
    /* a refresh that cannot map (a reference row of the element's own columns missing)
     * is dropped: the row's change stands, and the element waits for its row's next change */
    char why[256];
    if (map_merge_refresh(mc, ev, r, cache, st == MAP_STALE, why, sizeof why) != MAP_OK) {
        r->refresh_doc[0] = 0;
        return st;
    }
    if (st == MAP_STALE) /* only the element changed (its row's own write landed earlier) */
        map_route_set(&r->doc, &r->doc_cap, "");
    return MAP_OK;
}

static map_status map_merge_row(const map_config *mc, const ev_event *ev, map_route *r, json_t *cache, char *err,
                                size_t errlen)
{
    const map_table *t = r->t;
    if (r->unindexed_delete) {
        /* an earlier event of this batch may have indexed the row (and read its document) */
        json_t *idx = json_object_get(cache, r->own_index);
        const char *at = map_index_target(idx);
        if (!at || !*at || !json_is_object(json_object_get(cache, at)))
            return MAP_SKIP; /* never applied: nothing to delete */
        map_route_set(&r->doc, &r->doc_cap, at);
        r->unindexed_delete = false;
    }
    if (r->skipped_row) {
        json_t *idx = map_entry(cache, r->own_index);
        map_put(idx, "skipped", fsv_bool(true));
        json_object_set_new(idx, "_blind", json_true());
        return MAP_OK;
    }
    char ppath[600];
    map_position_path(t, r, ppath, sizeof ppath);
    bool known;
    if (map_is_stale(t, ev, cache, r, ppath, &known))
        return MAP_STALE;
    if (ev->op == 'd' && t->del == MAP_DEL_IGNORE)
        return MAP_SKIP;
    bool moved_in = map_moved_in(mc, t, ev, cache, r); /* before the merge writes the position */
    json_t *entry = map_entry(cache, r->doc);
    map_status st;
    if (t->array) {
        st = map_merge_array_row(mc, t, ev, cache, entry, ppath, err, errlen);
    } else if (ev->op == 'd') {
        st = map_merge_delete(mc, t, ev, cache, r, entry);
    } else {
        json_object_del(entry, "_delete");
        st = map_fields(mc, t, ev->after, cache, entry, NULL, err, errlen);
    }
    if (st != MAP_OK)
        return st;
    if (!json_is_true(json_object_get(entry, "_delete"))) {
        if (!t->array) /* a per-row table's deleted row says so (map_other_live_row) */
            map_put(entry, ppath, map_position_value(ev->pos, ev->op == 'd' && t->per_row, NULL));
        map_derive(mc, t, entry, map_event_year(mc, ev));
    }
    /* The index entry is written with the row's first state in this document, and with
     * every insert or snapshot read of the row: a member who rejoins under a new id goes
     * into a document that already holds member data (and a position for the table),
     * and the new row needs its entry all the same. An update of a document holding the
     * table's position leaves the entry as it is (reading it for every event cost 7% of
     * the rate and 2.7 MB at the peak): see docs/mapping.md on rows that move. */
    const char *from = moved_in ? map_index_target(json_object_get(cache, r->own_index)) : NULL;
    if (from && *from && strcmp(from, r->doc)) {
        if (!t->per_row && json_is_object(json_object_get(cache, from))) {
            map_carry(mc, t, cache, r, from, r->doc); /* the member's other rows come along */
            map_derive(mc, t, entry, map_event_year(mc, ev));
        }
        map_leave(mc, t, ev, cache, r, from, ppath);
    }
    if (t->index && ev->op != 'd' && (!known || moved_in || ev->op == 'c' || ev->op == 'r' || r->as_insert) &&
        !map_index_names(cache, r))
        map_touch_index(mc, r, cache);
    map_count(entry);
    return MAP_OK;
}

bool map_supersedes(const map_config *mc, json_t *cache, const map_route *later_r, const ev_event *later,
                    const map_route *r, const ev_event *ev)
{
    const map_table *t = r->t;
    if (!t || later_r->t != t || t->array || t->per_row || t->nrefreshes || t->refreshed || later->op != 'u' ||
        (ev->op != 'c' && ev->op != 'u' && ev->op != 'r') || r->skipped_row || later_r->skipped_row ||
        r->unindexed_delete || later_r->unindexed_delete || !r->doc[0] || strcmp(r->doc, later_r->doc) ||
        strcmp(r->own_index, later_r->own_index) || ev_position_cmp(later->pos, ev->pos) <= 0 ||
        !json_is_object(ev->after) || !json_is_object(later->after))
        return false;
    const char *col;
    json_t *v;
    json_object_foreach((json_t *)ev->after, col, v) { /* a column later leaves alone keeps ev's value */
        json_t *lv = json_object_get(later->after, col);
        if (!map_unavailable(v) && (!lv || map_unavailable(lv)))
            return false;
    }
    char ppath[600];
    bool known;
    map_position_path(t, r, ppath, sizeof ppath);
    return !map_is_stale(t, ev, cache, r, ppath, &known) && !map_moved_in(mc, t, ev, cache, r);
}

bool map_leave_again(const map_config *mc, const ev_event *ev, map_route *r, json_t *cache, const char *from)
{
    const map_table *t = r->t;
    json_t *have = json_object_get(cache, from);
    if (!t || !strcmp(from, r->doc) || !json_is_object(have))
        return false;
    char ppath[600];
    map_position_path(t, r, ppath, sizeof ppath);
    json_t *holder = fsv_get(json_object_get(have, "fields"), ppath);
    ev_position pos;
    bool later = map_position_of(holder, &pos) && ev_position_cmp(pos, ev->pos) > 0; /* came back since */
    if (later || fsv_is_true(json_object_get(fsv_map_fields(holder), "left")))
        return false;
    map_leave(mc, t, ev, cache, r, from, ppath);
    return r->left_doc[0] != 0;
}

void map_touch_index(const map_config *mc, const map_route *r, json_t *cache)
{
    (void)mc;
    if (!r->t->index || !r->doc[0])
        return;
    map_point_index(cache, r->own_index, r->doc);
}

json_t *map_read_mask(const map_config *mc)
{
    json_t *set = json_object(), *out = json_array();
    json_object_set_new(set, "metadata.sync", json_true());
    json_object_set_new(set, "doc", json_true());
    json_object_set_new(set, "skipped", json_true());
    json_object_set_new(set, "deleted_at", json_true());
    for (size_t i = 0; i < mc->nderived; i++)
        for (size_t r = 0; r < mc->derived[i].nrules; r++)
            json_object_set_new(set, mc->derived[i].rules[r].field, json_true());
    for (size_t i = 0; i < mc->ntables; i++) {
        const map_table *t = &mc->tables[i];
        for (size_t f = 0; f < t->nfields; f++) {
            if (t->parent && !t->array) /* carried along when the parent row moves (map_carry) */
                json_object_set_new(set, t->fields[f].path, json_true());
            for (int k = 0; k < t->fields[f].nlookup; k++) {
                char path[300] = "";
                fsv_path_append(path, sizeof path, strrchr(t->fields[f].lookup[k], '.') + 1);
                json_object_set_new(set, path, json_true());
            }
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v)
        json_array_append_new(out, json_string(k));
    json_decref(set);
    return out;
}
