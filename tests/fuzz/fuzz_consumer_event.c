/* fuzz_consumer_event.c - member-consumer's pure path on arbitrary record values: the
 * Debezium envelope parser, then the default mapping (config/consumer.conf) routing and
 * merging the event into documents, with every read answered "missing" or with what an
 * earlier round wrote, then the :batchWrite body of every document it changed, which
 * must be JSON and carry exactly the masked fields (fsv_subset's copy). The envelope,
 * read from its text, must agree with jansson's whole tree. Nothing may crash, leak or
 * trip a sanitizer. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/consumer/event.h"
#include "services/consumer/firestore.h"
#include "services/consumer/fs_value.h"
#include "services/consumer/mapping.h"
#include "tests/fuzz/must_be_json.h"

static map_config *fz_mapping(void)
{
    static map_config *mc;
    if (!mc) {
        cfg_error err;
        const char *root = getenv("EKKLESIA_TEST_ROOT");
        char path[1024];
        snprintf(path, sizeof path, "%s/config/consumer.conf", root ? root : ".");
        mc = map_load_file(path, &err);
        if (!mc)
            abort();
    }
    return mc;
}

/* The write body of each changed document: JSON, and its fields what the mask selects. */
static void fz_bodies(json_t *cache)
{
    const char *name;
    json_t *entry;
    json_object_foreach(cache, name, entry) {
        json_t *mask = json_object_get(entry, "_mask");
        if (!mask)
            continue;
        const char *paths[256];
        size_t n = 0;
        const char *p;
        json_t *v;
        json_object_foreach(mask, p, v)
            if (n < 256)
                paths[n++] = p;
        jbuf b = { 0 };
        fs_json_masked_fields(&b, json_object_get(entry, "fields"), paths, n);
        must_be_json(&b);
        json_t *subset = fsv_subset(json_object_get(entry, "fields"), paths, n);
        jbuf w = { 0 };
        fsv_write_fields(&w, subset);
        json_decref(subset);
        json_t *got = json_loadb(b.data, b.len, JSON_ALLOW_NUL, NULL), *want = json_loadb(w.data, w.len, JSON_ALLOW_NUL, NULL);
        jbuf_free(&w);
        if (got && !json_equal(got, want)) {
            fprintf(stderr, "masked fields differ from fsv_subset: %.*s\n", (int)b.len, b.data);
            abort();
        }
        json_decref(got);
        json_decref(want);
        jbuf_free(&b);
    }
}

/* ev_parse reads the envelope from its text; the whole tree must agree: "not JSON"
 * exactly when jansson refuses it (but for jansson skipping a NUL after a number or a
 * literal), and a parsed event's op, table, schema and row as the tree holds them. */
static void fz_agrees_with_tree(const uint8_t *data, size_t size, ev_error e, const ev_event *ev)
{
    json_t *tree = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    bool nul_quirk = false;
    for (size_t i = 1; i < size; i++)
        nul_quirk |= data[i] == 0 && ((data[i - 1] >= '0' && data[i - 1] <= '9') || (data[i - 1] >= 'a' && data[i - 1] <= 'z'));
    if (!nul_quirk && (e == EV_ERR_JSON) != !tree)
        abort();
    if (e == EV_OK) {
        const json_t *src = json_object_get(tree, "source");
        const char *schema = json_string_value(json_object_get(src, "schema"));
        if (strcmp(ev->table, json_string_value(json_object_get(src, "table"))) != 0 ||
            (!schema != !ev->schema) || (schema && strcmp(schema, ev->schema) != 0) ||
            json_string_value(json_object_get(tree, "op"))[0] != ev->op)
            abort();
        const json_t *row = json_object_get(tree, ev->op == 'd' ? "before" : "after");
        if (json_is_object(row) ? !json_equal(row, ev_row(ev)) : ev_row(ev) != NULL)
            abort();
    }
    json_decref(tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    map_config *mc = fz_mapping();
    ev_event ev;
    char err[256];
    ev_error e = ev_parse(data, size, &ev, err, sizeof err);
    fz_agrees_with_tree(data, size, e, &ev);
    if (e != EV_OK)
        return 0;
    json_t *key = json_pack("{s:i}", "id", 42), *cache = json_object();
    /* a parent index entry, so that child tables get as far as merging */
    json_object_set_new(cache, "sync_keys/membership_comrade:42",
                        json_pack("{s:{s:s}}", "fields", "doc", "members/0101302989"));
    map_route r = { 0 };
    map_status st = MAP_NEED;
    for (int round = 0; round < 8 && st == MAP_NEED; round++) {
        json_t *needs = json_array();
        st = map_prepare(mc, &ev, key, cache, &r, needs, err, sizeof err);
        size_t i;
        json_t *n;
        json_array_foreach(needs, i, n)
            json_object_set_new(cache, json_string_value(n), json_null());
        json_decref(needs);
    }
    if (st == MAP_OK && map_merge(mc, &ev, &r, cache, err, sizeof err) == MAP_OK)
        fz_bodies(cache);
    map_route_free(&r);
    json_decref(cache);
    json_decref(key);
    ev_free(&ev);
    return 0;
}
