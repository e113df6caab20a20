/* fuzz_emulator_text_writes.c - differential libFuzzer target for the emulator's writes
 * on stored text: a write applied to a document given as stored text (a masked update or
 * a transform works on the touched top-level fields and copies the rest as text) must
 * give what the same write gives on the document as a tree - status, fields (an empty map
 * in either spelling), update time, transform results. Any difference aborts.
 *
 * Input: the stored fields (a JSON object of Values), a newline, then a Write. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/empty_maps.h"
#include "tools/firestore-emulator/emu_store.h"
#include "tools/firestore-emulator/emu_write.h"

#define FUZZ_DB "projects/p/databases/(default)"

#include <stdio.h>

/* A difference: both results on stderr (for the developer replaying the input), abort. */
static void fuzz_differ(const char *what, const emu_docstate *a, const emu_docstate *b)
{
    fprintf(stderr, "text and tree differ (%s)\ntree: %s\ntext: %s\n", what, a->text ? a->text : "-",
            b->text ? b->text : "-");
    abort();
}

static int fuzz_apply(json_t *wj, const emu_docstate *cur, emu_docstate *next, json_t **res, emu_status *st)
{
    emu_write w;
    int rc = emu_write_parse(wj, FUZZ_DB, &w, st);
    if (rc == 0)
        rc = emu_write_apply(&w, cur, 1000000, next, res, st);
    emu_write_clear(&w);
    return rc;
}

static void fuzz_free(emu_docstate *d, json_t *res)
{
    json_decref(d->fields);
    free(d->text);
    json_decref(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    size_t olen = (size_t)(nl - (const char *)data);
    json_t *oj = json_loadb((const char *)data, olen, 0, NULL);
    json_t *wj = json_loadb(nl + 1, size - olen - 1, 0, NULL);
    json_t *old = NULL;
    emu_status st;
    if (!json_is_object(oj) || !wj || emu_fields_decode(oj, 1, "f", &old, &st) != 0) {
        json_decref(oj);
        json_decref(wj);
        return 0;
    }
    char *text = emu_fields_text(old);
    emu_docstate tree_cur = { .exists = true, .fields = old, .create_us = 10, .update_us = 20 };
    emu_docstate text_cur = { .exists = true, .text = text, .create_us = 10, .update_us = 20 };
    emu_docstate a = { 0 }, b = { 0 };
    json_t *ra = NULL, *rb = NULL;
    emu_status sa, sb;
    int rca = fuzz_apply(wj, &tree_cur, &a, &ra, &sa), rcb = fuzz_apply(wj, &text_cur, &b, &rb, &sb);
    if (rca != rcb)
        fuzz_differ("status", &a, &b);
    if (rca == 0) {
        if (a.exists != b.exists || a.update_us != b.update_us || a.create_us != b.create_us)
            fuzz_differ("existence or times", &a, &b);
        if (a.exists) {
            json_t *ta = json_loads(a.text, 0, NULL), *tb = json_loads(b.text, 0, NULL);
            th_empty_maps(ta);
            th_empty_maps(tb);
            if (!ta || !tb || !json_equal(ta, tb))
                fuzz_differ("fields", &a, &b);
            json_decref(ta);
            json_decref(tb);
        }
        if (!(ra == rb || json_equal(ra, rb)))
            fuzz_differ("transform results", &a, &b);
    } else if (sa.code != sb.code || strcmp(sa.msg, sb.msg)) {
        fuzz_differ("error", &a, &b);
    }
    fuzz_free(&a, ra);
    fuzz_free(&b, rb);
    free(text);
    json_decref(old);
    json_decref(oj);
    json_decref(wj);
    return 0;
}
