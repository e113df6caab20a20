/* fuzz_json_tree.c - json_tree_load and json_tree_dump against jansson on arbitrary
 * bytes. The first byte picks the flags (JSON_REJECT_DUPLICATES, JSON_DECODE_ANY,
 * JSON_ALLOW_NUL), the rest is the text. json_tree_load must give what json_loadb
 * gives: both fail with the same error and position, or both give equal trees whose
 * members are in the same order. json_tree_dump of that tree must be the bytes
 * json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) writes, save the case of the hex digits
 * in a control character's escape. Where json_scan accepts the text, json_tree_build
 * (no second check) must build that same tree. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_scan.h"
#include "common/json_tree.h"

/* jansson's "\u001F" as jbuf_str writes it, "\u001f" (escapes are read pairwise, so an
 * escaped backslash followed by "u001F" is left alone). */
static void fz_lower_escapes(char *s)
{
    for (; *s; s++) {
        if (*s != '\\')
            continue;
        if (s[1] == 'u')
            for (int i = 2; i < 6 && s[i]; i++)
                if (s[i] >= 'A' && s[i] <= 'F')
                    s[i] = (char)(s[i] - 'A' + 'a');
        if (s[1])
            s++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t flags = (data[0] & 1 ? JSON_REJECT_DUPLICATES : 0) | (data[0] & 2 ? JSON_DECODE_ANY : 0) |
                   (data[0] & 4 ? JSON_ALLOW_NUL : 0);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    json_error_t we, ge;
    json_t *want = json_loadb(text, len, flags, &we);
    json_t *got = json_tree_load(text, len, flags, &ge);
    if (!want != !got) {
        fprintf(stderr, "jansson %s, json_tree_load %s\n", want ? "accepts" : "refuses", got ? "accepts" : "refuses");
        abort();
    }
    if (!want) {
        if (strcmp(we.text, ge.text) != 0 || we.position != ge.position || we.line != ge.line)
            abort();
        return 0;
    }
    if (!json_equal(want, got))
        abort();
    char *dumped = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!dumped)
        abort();
    fz_lower_escapes(dumped);
    jbuf b = { 0 };
    json_tree_dump(&b, got);
    if (b.len != strlen(dumped) || memcmp(b.data, dumped, b.len) != 0) {
        fprintf(stderr, "json_tree_dump wrote %.*s\njansson wrote        %s\n", (int)b.len, b.data, dumped);
        abort();
    }
    bool object;
    char why[128];
    if (!(flags & JSON_REJECT_DUPLICATES) && json_scan(text, len, NULL, NULL, 0, &object, why, sizeof why) == 0) {
        json_t *built = json_tree_build(text, len);
        jbuf bb = { 0 };
        json_tree_dump(&bb, built);
        if (!json_equal(want, built) || bb.len != b.len || memcmp(bb.data, b.data, b.len) != 0)
            abort();
        jbuf_free(&bb);
        json_decref(built);
    }
    free(dumped);
    jbuf_free(&b);
    json_decref(want);
    json_decref(got);
    return 0;
}
