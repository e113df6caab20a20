/* empty_maps.h - test helper: an empty Firestore map has two JSON spellings,
 * {"mapValue":{}} and {"mapValue":{"fields":{}}}; tests comparing documents written by
 * different paths of the emulator (stored text, tree) compare them as the first. */
#ifndef TESTS_SUPPORT_EMPTY_MAPS_H
#define TESTS_SUPPORT_EMPTY_MAPS_H

#include <jansson.h>

/* Rewrites every empty map Value in v to {"mapValue":{}}. */
static inline void th_empty_maps(json_t *v)
{
    const char *k;
    json_t *m;
    size_t i;
    if (json_is_array(v))
        json_array_foreach(v, i, m) th_empty_maps(m);
    if (!json_is_object(v))
        return;
    json_t *f = json_object_get(json_object_get(v, "mapValue"), "fields");
    if (json_is_object(f) && json_object_size(f) == 0)
        json_object_del(json_object_get(v, "mapValue"), "fields");
    json_object_foreach(v, k, m) th_empty_maps(m);
}

#endif
