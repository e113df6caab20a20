/* must_be_json.h - for the producer's fuzzers: abort unless a jbuf holds exactly one
 * JSON value, by the grammar (json_valid.h) and, where its numbers fit, by jansson. */
#ifndef TESTS_FUZZ_MUST_BE_JSON_H
#define TESTS_FUZZ_MUST_BE_JSON_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jbuf.h"
#include "tests/fuzz/json_valid.h"

/* Valid JSON by the grammar (json_valid.h); jansson must parse it too unless it holds a
 * number beyond jansson's range, which the grammar allows. */
static inline void must_be_json(const jbuf *b)
{
    if (!json_valid(b->data, b->len)) {
        fprintf(stderr, "not JSON: %.*s\n", (int)b->len, b->data);
        abort();
    }
    json_error_t e;
    json_t *j = json_loadb(b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j && !strstr(e.text, "too big") && !strstr(e.text, "overflow")) {
        fprintf(stderr, "jansson: %s: %.*s\n", e.text, (int)b->len, b->data);
        abort();
    }
    json_decref(j);
}

#endif
