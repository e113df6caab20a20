/* mapping_load.c - reads the mapping from libconfig (see mapping.h, docs/mapping.md).
 * Every bad setting is reported with its file and line; nothing is guessed. */
#include "services/consumer/mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct map_loader {
    cfg_file *cf;
    cfg_error *err;
} map_loader;

/* A plain JSON value from a scalar, array, list or group setting. */
static json_t *map_setting_json(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: return json_integer(config_setting_get_int(s));
    case CONFIG_TYPE_INT64: return json_integer(config_setting_get_int64(s));
    case CONFIG_TYPE_FLOAT: return json_real(config_setting_get_float(s));
    case CONFIG_TYPE_BOOL: return json_boolean(config_setting_get_bool(s));
    case CONFIG_TYPE_STRING: return json_string(config_setting_get_string(s));
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: {
        json_t *a = json_array();
        for (int i = 0; i < config_setting_length(s); i++)
            json_array_append_new(a, map_setting_json(config_setting_get_elem(s, i)));
        return a;
    }
    case CONFIG_TYPE_GROUP: {
        json_t *o = json_object();
        for (int i = 0; i < config_setting_length(s); i++) {
            config_setting_t *e = config_setting_get_elem(s, i);
            json_object_set_new(o, config_setting_name(e), map_setting_json(e));
        }
        return o;
    }
    }
    return json_null();
}

/* The scalar's text, for value maps and skip rules ("null" for the word null). */
static char *map_setting_text(const config_setting_t *s)
{
    char buf[64];
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING: return strdup(config_setting_get_string(s));
    case CONFIG_TYPE_INT: snprintf(buf, sizeof buf, "%d", config_setting_get_int(s)); return strdup(buf);
    case CONFIG_TYPE_INT64: snprintf(buf, sizeof buf, "%lld", config_setting_get_int64(s)); return strdup(buf);
    case CONFIG_TYPE_BOOL: return strdup(config_setting_get_bool(s) ? "true" : "false");
    default: return NULL;
    }
}

static int map_get_string(map_loader *ld, const config_setting_t *g, const char *name, bool required,
                          char **out)
{
    config_setting_t *s = config_setting_get_member(g, name);
    *out = NULL;
    if (!s) {
        if (required)
            return cfg_fail(ld->cf, g, ld->err, "\"%s\" is required here", name);
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING || !*config_setting_get_string(s))
        return cfg_fail(ld->cf, s, ld->err, "\"%s\" must be a non-empty string", name);
    *out = strdup(config_setting_get_string(s));
    return 0;
}

static int map_get_bool(map_loader *ld, const config_setting_t *g, const char *name, bool def, bool *out)
{
    config_setting_t *s = config_setting_get_member(g, name);
    *out = def;
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return cfg_fail(ld->cf, s, ld->err, "\"%s\" must be true or false", name);
    *out = config_setting_get_bool(s);
    return 0;
}

static const char *const map_conv_names[] = {
    "none", "string", "integer", "double", "bool", "timestamp", "date", "json",
    "kennitala", "kennitala_hyphen", "phone7", "not_null", NULL,
};

static int map_get_conv(map_loader *ld, const config_setting_t *g, map_conv *out)
{
    char *name;
    *out = MAP_CONV_NONE;
    if (map_get_string(ld, g, "convert", false, &name) != 0)
        return -1;
    if (!name)
        return 0;
    for (int i = 0; map_conv_names[i]; i++) {
        if (!strcmp(name, map_conv_names[i])) {
            *out = (map_conv)i;
            free(name);
            return 0;
        }
    }
    free(name);
    return cfg_fail(ld->cf, config_setting_get_member(g, "convert"), ld->err,
                    "unknown conversion (none, string, integer, double, bool, timestamp, date, json, "
                    "kennitala, kennitala_hyphen, phone7, not_null)");
}

static int map_load_values(map_loader *ld, const config_setting_t *g, map_field *f)
{
    config_setting_t *m = config_setting_get_member(g, "map");
    if (m) {
        if (!config_setting_is_list(m))
            return cfg_fail(ld->cf, m, ld->err, "\"map\" must be a list of (from, to) pairs");
        f->nvalues = (size_t)config_setting_length(m);
        f->values = calloc(f->nvalues ? f->nvalues : 1, sizeof *f->values);
        for (size_t i = 0; i < f->nvalues; i++) {
            config_setting_t *p = config_setting_get_elem(m, (unsigned)i);
            if (!config_setting_is_aggregate(p) || config_setting_length(p) != 2 ||
                !(f->values[i].from = map_setting_text(config_setting_get_elem(p, 0))))
                return cfg_fail(ld->cf, p, ld->err, "a \"map\" entry must be (from, to) with a scalar from");
            f->values[i].to = map_setting_json(config_setting_get_elem(p, 1));
        }
    }
    config_setting_t *d = config_setting_get_member(g, "default");
    if (d)
        f->value_default = map_setting_json(d);
    return 0;
}

/* name = [ "...", ... ]: 1 to max strings into out (*n of them); steps: each must be a
 * lookup step, "table.column", else a table name. */
static int map_load_names(map_loader *ld, const config_setting_t *g, const char *name, int max, bool steps,
                          char **out, int *n)
{
    config_setting_t *l = config_setting_get_member(g, name);
    if (!l)
        return 0;
    const char *what = steps ? "\"table.column\" step" : "table name";
    if (!config_setting_is_aggregate(l) || config_setting_length(l) < 1 || config_setting_length(l) > max)
        return cfg_fail(ld->cf, l, ld->err, "\"%s\" must list 1 to %d of: %s", name, max, what);
    for (int i = 0; i < config_setting_length(l); i++) {
        const char *s = config_setting_get_string_elem(l, i);
        if (!s || !*s || (steps && (!strchr(s, '.') || s[0] == '.' || s[strlen(s) - 1] == '.')))
            return cfg_fail(ld->cf, l, ld->err, "%s entry %d must be a %s", name, i + 1, what);
        out[(*n)++] = strdup(s);
    }
    return 0;
}

static int map_load_lookup(map_loader *ld, const config_setting_t *g, map_field *f)
{
    return map_load_names(ld, g, "lookup", MAP_MAX_LOOKUP, true, f->lookup, &f->nlookup);
}

/* refreshes = [ "table", ... ]: checked against the whole mapping in map_check. */
static int map_load_refreshes(map_loader *ld, const config_setting_t *g, map_table *t)
{
    return map_load_names(ld, g, "refreshes", MAP_MAX_REFRESH, false, t->refreshes, &t->nrefreshes);
}

static int map_load_field(map_loader *ld, const config_setting_t *g, map_field *f)
{
    if (!config_setting_is_group(g))
        return cfg_fail(ld->cf, g, ld->err, "a field must be a group { column = ...; path = ...; }");
    if (map_get_string(ld, g, "column", true, &f->column) || map_get_string(ld, g, "path", true, &f->path) ||
        map_get_conv(ld, g, &f->conv) || map_load_values(ld, g, f) || map_load_lookup(ld, g, f))
        return -1;
    const config_setting_t *n = config_setting_get_member(g, "if_null");
    if (n && config_setting_is_aggregate(n))
        return cfg_fail(ld->cf, n, ld->err, "if_null must be a scalar");
    f->if_null = n ? map_setting_json(n) : NULL;
    return 0;
}

static int map_load_skip(map_loader *ld, const config_setting_t *g, map_skip *k)
{
    if (!config_setting_is_group(g))
        return cfg_fail(ld->cf, g, ld->err, "a skip rule must be a group { column; prefix|equals|not_equals; }");
    if (map_get_string(ld, g, "column", true, &k->column))
        return -1;
    const char *names[] = { "prefix", "equals", "not_equals" };
    char **outs[] = { &k->prefix, &k->equals, &k->not_equals };
    int n = 0;
    for (int i = 0; i < 3; i++) {
        config_setting_t *s = config_setting_get_member(g, names[i]);
        if (!s)
            continue;
        if (!(*outs[i] = map_setting_text(s)))
            return cfg_fail(ld->cf, s, ld->err, "\"%s\" must be a scalar", names[i]);
        n++;
    }
    if (n != 1)
        return cfg_fail(ld->cf, g, ld->err, "a skip rule needs exactly one of prefix, equals, not_equals");
    return 0;
}

static int map_load_set(map_loader *ld, const config_setting_t *g, map_set *st)
{
    if (!config_setting_is_group(g))
        return cfg_fail(ld->cf, g, ld->err, "a soft_delete entry must be a group { path; value; }");
    if (map_get_string(ld, g, "path", true, &st->path))
        return -1;
    config_setting_t *v = config_setting_get_member(g, "value");
    if (!v)
        return cfg_fail(ld->cf, g, ld->err, "\"value\" is required here");
    st->value = map_setting_json(v);
    return 0;
}

/* Loads a list setting of groups with one loader per element. */
#define MAP_LOAD_LIST(ld, g, name, arr, n, fn)                                                     \
    do {                                                                                         \
        config_setting_t *l_ = config_setting_get_member(g, name);                               \
        if (l_) {                                                                                \
            if (!config_setting_is_list(l_))                                                     \
                return cfg_fail((ld)->cf, l_, (ld)->err, "\"%s\" must be a list ( ... )", name);   \
            (n) = (size_t)config_setting_length(l_);                                             \
            (arr) = calloc((n) ? (n) : 1, sizeof *(arr));                                        \
            for (size_t i_ = 0; i_ < (n); i_++)                                                  \
                if (fn(ld, config_setting_get_elem(l_, (unsigned)i_), &(arr)[i_]) != 0)          \
                    return -1;                                                                   \
        }                                                                                        \
    } while (0)

static int map_load_id(map_loader *ld, const config_setting_t *g, map_table *t)
{
    config_setting_t *id = config_setting_get_member(g, "id");
    if (!id || !config_setting_is_group(id))
        return cfg_fail(ld->cf, id ? id : g, ld->err,
                        "\"id\" must be a group: { column = \"...\"; } or { key = true; } or "
                        "{ parent = \"table\"; columns = [ ... ]; }");
    char *column;
    bool key;
    if (map_get_string(ld, id, "column", false, &column) || map_get_bool(ld, id, "key", false, &key) ||
        map_get_string(ld, id, "parent", false, &t->parent) || map_get_conv(ld, id, &t->id_conv))
        return -1;
    int kinds = (column != NULL) + key + (t->parent != NULL);
    if (kinds != 1) {
        free(column);
        return cfg_fail(ld->cf, id, ld->err, "\"id\" needs exactly one of column, key, parent");
    }
    if (column) {
        t->id_kind = MAP_ID_COLUMN;
        t->id_columns[t->nid_columns++] = column;
    } else if (key) {
        t->id_kind = MAP_ID_KEY;
    } else {
        t->id_kind = MAP_ID_PARENT;
        config_setting_t *cols = config_setting_get_member(id, "columns");
        if (!cols || !config_setting_is_aggregate(cols) || config_setting_length(cols) < 1 ||
            config_setting_length(cols) > MAP_MAX_COLUMNS)
            return cfg_fail(ld->cf, cols ? cols : id, ld->err, "\"columns\" must list the parent key columns");
        for (int i = 0; i < config_setting_length(cols); i++) {
            const char *c = config_setting_get_string_elem(cols, i);
            if (!c)
                return cfg_fail(ld->cf, cols, ld->err, "\"columns\" must hold strings");
            t->id_columns[t->nid_columns++] = strdup(c);
        }
    }
    return 0;
}

static int map_load_delete(map_loader *ld, const config_setting_t *g, map_table *t)
{
    char *mode;
    if (map_get_string(ld, g, "delete", false, &mode))
        return -1;
    MAP_LOAD_LIST(ld, g, "soft_delete", t->soft, t->nsoft, map_load_set);
    /* default: soft when it says how, clear for a child table, hard otherwise */
    t->del = t->nsoft ? MAP_DEL_SOFT : t->id_kind == MAP_ID_PARENT ? MAP_DEL_CLEAR : MAP_DEL_HARD;
    if (mode) {
        const char *names[] = { "soft", "clear", "hard", "ignore" };
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(mode, names[i]))
                found = i;
        free(mode);
        if (found < 0)
            return cfg_fail(ld->cf, config_setting_get_member(g, "delete"), ld->err,
                            "\"delete\" must be soft, clear, hard or ignore");
        t->del = (map_delete)found;
    }
    return 0;
}

static int map_load_table(map_loader *ld, const config_setting_t *g, map_table *t)
{
    if (!config_setting_is_group(g))
        return cfg_fail(ld->cf, g, ld->err, "a table must be a group { table = ...; collection = ...; }");
    if (map_get_string(ld, g, "table", true, &t->table) || map_get_string(ld, g, "collection", true, &t->collection) ||
        map_load_id(ld, g, t) || map_get_bool(ld, g, "index", false, &t->index) ||
        map_get_bool(ld, g, "all_columns", false, &t->all_columns) || map_get_string(ld, g, "array", false, &t->array) ||
        map_get_bool(ld, g, "per_row", false, &t->per_row) || map_get_string(ld, g, "element_if", false, &t->element_if) ||
        map_load_delete(ld, g, t) || map_load_refreshes(ld, g, t))
        return -1;
    if (strchr(t->collection, '/'))
        return cfg_fail(ld->cf, g, ld->err, "collection \"%s\" must not contain '/'", t->collection);
    if (t->array) {
        t->per_row = true;
        if (t->id_kind != MAP_ID_PARENT)
            return cfg_fail(ld->cf, g, ld->err, "an array table's id must be { parent = ...; }");
    }
    MAP_LOAD_LIST(ld, g, "fields", t->fields, t->nfields, map_load_field);
    MAP_LOAD_LIST(ld, g, "skip", t->skips, t->nskips, map_load_skip);
    if (t->element_if) {
        bool found = false;
        for (size_t i = 0; i < t->nfields && !found; i++)
            found = !strcmp(t->fields[i].path, t->element_if);
        if (!t->array || !found)
            return cfg_fail(ld->cf, g, ld->err, "element_if = \"%s\" must name a field of an array table's element",
                            t->element_if);
    }
    if (t->per_row && !t->array && t->del == MAP_DEL_HARD)
        return cfg_fail(ld->cf, g, ld->err,
                        "table %s has positions per row: delete = \"hard\" would delete the document of all its "
                        "rows; use \"clear\" or \"soft\"", t->table);
    if (t->del == MAP_DEL_SOFT && t->nsoft == 0 && !t->array)
        return cfg_fail(ld->cf, g, ld->err, "delete = \"soft\" needs a soft_delete list of { path; value; }");
    if (t->nfields == 0 && !t->all_columns)
        return cfg_fail(ld->cf, g, ld->err, "table %s maps no fields (give fields or all_columns = true)", t->table);
    return 0;
}

#define MAP_RULE_TESTS "not_null|true|null|false|not_current_year"

static int map_load_rule(map_loader *ld, const config_setting_t *l, map_rule *r)
{
    if (!config_setting_is_aggregate(l) || config_setting_length(l) != 3)
        return cfg_fail(ld->cf, l, ld->err, "a rule must be (\"field.path\", \"" MAP_RULE_TESTS "\", value)");
    const char *field = config_setting_get_string_elem(l, 0), *test = config_setting_get_string_elem(l, 1);
    const char *tests[] = { "not_null", "true", "null", "false", "not_current_year" };
    r->test = -1;
    for (int i = 0; test && i < 5; i++)
        if (!strcmp(test, tests[i]))
            r->test = i;
    if (!field || r->test < 0)
        return cfg_fail(ld->cf, l, ld->err, "a rule must be (\"field.path\", \"" MAP_RULE_TESTS "\", value)");
    r->field = strdup(field);
    r->value = map_setting_json(config_setting_get_elem(l, 2));
    return 0;
}

static int map_load_derived(map_loader *ld, const config_setting_t *g, map_derived *d)
{
    if (!config_setting_is_group(g))
        return cfg_fail(ld->cf, g, ld->err, "a derived field must be a group");
    if (map_get_string(ld, g, "collection", true, &d->collection) || map_get_string(ld, g, "path", true, &d->path))
        return -1;
    MAP_LOAD_LIST(ld, g, "rules", d->rules, d->nrules, map_load_rule);
    config_setting_t *def = config_setting_get_member(g, "default");
    d->value_default = def ? map_setting_json(def) : json_null();
    return 0;
}

/* Checks what needs the whole mapping: parents and lookups name known tables. */
static int map_check(map_loader *ld, map_config *mc, const config_setting_t *group)
{
    for (size_t i = 0; i < mc->ntables; i++) {
        map_table *t = &mc->tables[i];
        for (size_t j = 0; j < i; j++)
            if (!strcmp(mc->tables[j].table, t->table))
                return cfg_fail(ld->cf, group, ld->err, "table %s is mapped twice", t->table);
        for (int k = 0; k < t->nrefreshes; k++) {
            map_table *c = (map_table *)map_find(mc, t->refreshes[k]);
            if (!c || !c->array || !c->index)
                return cfg_fail(ld->cf, group, ld->err,
                                "table %s: refreshes %s, which must be mapped as an array table with index = true",
                                t->table, t->refreshes[k]);
            c->refreshed = true;
        }
        if (t->parent) {
            const map_table *p = map_find(mc, t->parent);
            if (!p || !p->index)
                return cfg_fail(ld->cf, group, ld->err, "table %s: parent %s must be mapped with index = true",
                                t->table, t->parent);
        }
        for (size_t f = 0; f < t->nfields; f++) {
            for (int s = 0; s < t->fields[f].nlookup; s++) {
                char name[256];
                snprintf(name, sizeof name, "%s", t->fields[f].lookup[s]);
                *strrchr(name, '.') = 0;
                const map_table *r = map_find(mc, name);
                if (!r || r->id_kind != MAP_ID_KEY)
                    return cfg_fail(ld->cf, group, ld->err,
                                    "table %s: lookup step %s needs table %s mapped with id = { key = true; }",
                                    t->table, t->fields[f].lookup[s], name);
            }
        }
    }
    return 0;
}

map_config *map_load(cfg_file *cf, config_setting_t *group, cfg_error *err)
{
    map_loader ld = { cf, err };
    if (!group || !config_setting_is_group(group)) {
        snprintf(err->where, sizeof err->where, "%s", cfg_path(cf));
        snprintf(err->reason, sizeof err->reason, "no \"mapping\" group");
        return NULL;
    }
    map_config *mc = calloc(1, sizeof *mc);
    if (map_get_string(&ld, group, "index_collection", false, &mc->index_collection) ||
        map_get_bool(&ld, group, "synced_at", true, &mc->synced_at))
        goto fail;
    if (!mc->index_collection)
        mc->index_collection = strdup("sync_keys");
    config_setting_t *tables = config_setting_get_member(group, "tables");
    if (!tables || !config_setting_is_list(tables) || config_setting_length(tables) == 0) {
        cfg_fail(cf, tables ? tables : group, err, "\"tables\" must be a non-empty list ( { ... }, ... )");
        goto fail;
    }
    mc->ntables = (size_t)config_setting_length(tables);
    mc->tables = calloc(mc->ntables, sizeof *mc->tables);
    for (size_t i = 0; i < mc->ntables; i++)
        if (map_load_table(&ld, config_setting_get_elem(tables, (unsigned)i), &mc->tables[i]) != 0)
            goto fail;
    config_setting_t *derived = config_setting_get_member(group, "derived");
    if (derived) {
        if (!config_setting_is_list(derived)) {
            cfg_fail(cf, derived, err, "\"derived\" must be a list");
            goto fail;
        }
        mc->nderived = (size_t)config_setting_length(derived);
        mc->derived = calloc(mc->nderived ? mc->nderived : 1, sizeof *mc->derived);
        for (size_t i = 0; i < mc->nderived; i++)
            if (map_load_derived(&ld, config_setting_get_elem(derived, (unsigned)i), &mc->derived[i]) != 0)
                goto fail;
    }
    if (map_check(&ld, mc, group) != 0)
        goto fail;
    return mc;
fail:
    map_free(mc);
    return NULL;
}

map_config *map_load_file(const char *path, cfg_error *err)
{
    cfg_file *cf = cfg_open(path, err);
    if (!cf)
        return NULL;
    map_config *mc = map_load(cf, cfg_setting(cf, "mapping"), err);
    cfg_close(cf);
    return mc;
}

static void map_free_field(map_field *f)
{
    free(f->column);
    free(f->path);
    for (size_t i = 0; i < f->nvalues; i++) {
        free(f->values[i].from);
        json_decref(f->values[i].to);
    }
    free(f->values);
    json_decref(f->value_default);
    json_decref(f->if_null);
    for (int i = 0; i < f->nlookup; i++)
        free(f->lookup[i]);
}

static void map_free_table(map_table *t)
{
    free(t->table);
    free(t->collection);
    free(t->parent);
    free(t->array);
    free(t->element_if);
    for (int i = 0; i < t->nrefreshes; i++)
        free(t->refreshes[i]);
    for (int i = 0; i < t->nid_columns; i++)
        free(t->id_columns[i]);
    for (size_t i = 0; i < t->nfields; i++)
        map_free_field(&t->fields[i]);
    free(t->fields);
    for (size_t i = 0; i < t->nskips; i++) {
        free(t->skips[i].column);
        free(t->skips[i].prefix);
        free(t->skips[i].equals);
        free(t->skips[i].not_equals);
    }
    free(t->skips);
    for (size_t i = 0; i < t->nsoft; i++) {
        free(t->soft[i].path);
        json_decref(t->soft[i].value);
    }
    free(t->soft);
}

void map_free(map_config *mc)
{
    if (!mc)
        return;
    for (size_t i = 0; i < mc->ntables; i++)
        map_free_table(&mc->tables[i]);
    free(mc->tables);
    for (size_t i = 0; i < mc->nderived; i++) {
        map_derived *d = &mc->derived[i];
        free(d->collection);
        free(d->path);
        for (size_t r = 0; r < d->nrules; r++) {
            free(d->rules[r].field);
            json_decref(d->rules[r].value);
        }
        free(d->rules);
        json_decref(d->value_default);
    }
    free(mc->derived);
    free(mc->index_collection);
    free(mc);
}

const map_table *map_find(const map_config *mc, const char *table)
{
    for (size_t i = 0; i < mc->ntables; i++)
        if (!strcmp(mc->tables[i].table, table))
            return &mc->tables[i];
    return NULL;
}
