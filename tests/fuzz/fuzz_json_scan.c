/* fuzz_json_scan.c - json_scan against jansson on arbitrary bytes: it must accept
 * exactly what json_loadb(JSON_DECODE_ANY) accepts, and for an object each member span
 * it reports must parse to the value jansson keeps for that name (the last one).
 * One jansson quirk is left out: it skips a NUL byte right after a number or a literal
 * ("[1\0]", "true\0" parse), which json_scan refuses as the byte it is. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/json_scan.h"

static const char *const fz_names[] = { "op", "source", "before", "after", "", "a", "\xc3\xa9" };
#define FZ_N (sizeof fz_names / sizeof *fz_names)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 1; i < size; i++)
        if (data[i] == 0 && ((data[i - 1] >= '0' && data[i - 1] <= '9') || (data[i - 1] >= 'a' && data[i - 1] <= 'z')))
            return 0;
    json_span spans[FZ_N];
    bool object;
    char err[128];
    int rc = json_scan(data, size, fz_names, spans, FZ_N, &object, err, sizeof err);
    json_t *tree = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if ((rc == 0) != (tree != NULL)) {
        fprintf(stderr, "json_scan %s, jansson %s (%s)\n", rc == 0 ? "accepts" : "refuses",
                tree ? "accepts" : "refuses", rc == 0 ? "" : err);
        abort();
    }
    if (tree && object != json_is_object(tree))
        abort();
    for (size_t i = 0; object && i < FZ_N; i++) {
        json_t *want = json_object_get(tree, fz_names[i]);
        if (!want != !spans[i].p)
            abort();
        if (!want)
            continue;
        json_t *got = json_loadb(spans[i].p, spans[i].len, JSON_DECODE_ANY, NULL);
        if (!got || !json_equal(got, want))
            abort();
        json_decref(got);
    }
    json_decref(tree);
    return 0;
}
