/* fuzz_consumer_event.c - member-consumer's pure path on arbitrary record values: the
 * Debezium envelope parser, then the default mapping (config/consumer.conf) routing and
 * merging the event into documents, with every read answered "missing" or with what an
 * earlier round wrote. Nothing may crash, leak or trip a sanitizer. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/consumer/event.h"
#include "services/consumer/mapping.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    map_config *mc = fz_mapping();
    ev_event ev;
    char err[256];
    if (ev_parse(data, size, &ev, err, sizeof err) != EV_OK)
        return 0;
    json_t *key = json_pack("{s:i}", "id", 42), *cache = json_object();
    /* a parent index entry, so that child tables get as far as merging */
    json_object_set_new(cache, "sync_keys/membership_comrade:42",
                        json_pack("{s:{s:{s:s}}}", "fields", "doc", "stringValue", "members/0101302989"));
    map_route r;
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
    if (st == MAP_OK)
        map_merge(mc, &ev, &r, cache, err, sizeof err);
    json_decref(cache);
    json_decref(key);
    ev_free(&ev);
    return 0;
}
