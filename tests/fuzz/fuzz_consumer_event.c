/* fuzz_consumer_event.c - member-consumer's pure path on arbitrary record values: the
 * Debezium envelope parser, then the default mapping (config/consumer.conf) routing and
 * merging the event into documents, twice: with every read answered "missing", and
 * against a small store (a member whose document holds positions, an address element
 * with its kept columns, key index entries and reference rows, all for key 42, and a fee
 * row 42 in another member's document: the lookups, the staleness checks, an address
 * base row's refresh, a child row's move and a member row's move with its rows carried
 * along get exercised); then
 * the :batchWrite body of every document it changed, which must be JSON and carry
 * exactly the masked fields (fsv_subset's copy). The envelope, read from its text, must
 * agree with jansson's whole tree. Nothing may crash, leak or trip a sanitizer. */
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

/* Documents as the consumer holds them (compact values, fs_value.h). */
static const char fz_store_text[] =
    "{\"members/0101302989\":{\"updateTime\":\"2026-01-01T00:00:00Z\",\"fields\":{"
    "\"profile\":{\"name\":\"J\",\"addresses\":[{\"street\":\"Old\"}]},\"membership\":{\"fee_year\":2025},"
    "\"metadata\":{\"sync\":{\"membership_comrade\":{\"lsn\":100,\"commit_lsn\":100},"
    "\"membership_newforeignaddress\":{\"rows\":{\"42\":{\"lsn\":200,\"commit_lsn\":200,\"v\":{\"street\":\"Old\"},"
    "\"src\":{\"newcomradeaddress_ptr_id\":42,\"address\":\"Old\",\"postal_code\":\"0150\"},"
    "\"ref\":{\"lsn\":150,\"commit_lsn\":150}}}}}}}},"
    "\"sync_keys/membership_comrade:42\":{\"fields\":{\"doc\":\"members/0101302989\"}},"
    "\"sync_keys/membership_newforeignaddress:42\":{\"fields\":{\"doc\":\"members/0101302989\"}},"
    "\"sync_ref_newcomradeaddress/42\":{\"fields\":{\"id\":42,\"country_id\":109,\"current\":true,"
    "\"metadata\":{\"sync\":{\"membership_newcomradeaddress\":{\"lsn\":150,\"commit_lsn\":150}}}}},"
    "\"sync_ref_map_country/109\":{\"fields\":{\"id\":109,\"code\":\"IS\"}},"
    "\"sync_keys/billing_membershipfee:42\":{\"fields\":{\"doc\":\"members/0202022020\"}},"
    "\"members/0202022020\":{\"updateTime\":\"2026-01-01T00:00:00Z\",\"fields\":{"
    "\"membership\":{\"fees_paid\":true,\"fee_year\":2026},"
    "\"metadata\":{\"sync\":{\"billing_membershipfee\":{\"rows\":{\"42\":{\"lsn\":50,\"commit_lsn\":50}}}}}}}}";

static json_t *fz_store(void)
{
    static json_t *store;
    if (!store && !(store = json_loads(fz_store_text, 0, NULL)))
        abort();
    return store;
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
    json_t *key = json_pack("{s:i}", "id", 42);
    for (int pass = 0; pass < 2; pass++) {
        json_t *cache = json_object(), *store = pass ? fz_store() : NULL;
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
            json_array_foreach(needs, i, n) {
                json_t *have = json_object_get(store, json_string_value(n));
                json_object_set_new(cache, json_string_value(n), have ? json_deep_copy(have) : json_null());
            }
            json_decref(needs);
        }
        if (st == MAP_OK && map_merge(mc, &ev, &r, cache, err, sizeof err) == MAP_OK)
            fz_bodies(cache);
        map_route_free(&r);
        json_decref(cache);
    }
    json_decref(key);
    ev_free(&ev);
    return 0;
}
