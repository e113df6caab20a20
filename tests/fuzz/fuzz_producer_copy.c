/* fuzz_producer_copy.c - member-producer's snapshot path on arbitrary bytes: one row of
 * COPY's text format through copy_text_row, then every field through pgv_to_json as
 * every kind, scalar and array, and the row as a snapshot read through event_value.
 * Every JSON written must parse; nothing may crash, leak or trip a sanitizer. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/producer/producer.h"
#include "tests/fuzz/must_be_json.h"

#define NKINDS (PGV_UUID + 1)
#define MAXCOLS 32


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jbuf b;
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    pgo_value vals[MAXCOLS];
    int n = copy_text_row(buf, size, vals, MAXCOLS);
    if (n < -1 || n == 0 || n > MAXCOLS)
        abort();
    if (n < 0) {
        free(buf);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (vals[i].kind == 'n') {
            if (vals[i].data || vals[i].len)
                abort();
            continue;
        }
        if (vals[i].kind != 't' || vals[i].data < buf || vals[i].data + vals[i].len > buf + size)
            abort();
        for (int k = 0; k < NKINDS; k++) {
            for (int a = 0; a < 2; a++) {
                jbuf_reset(&b);
                int rc = pgv_to_json(&b, (pgv_type){ (pgv_kind)k, a }, vals[i].data, vals[i].len);
                if (rc != 0 && rc != -1)
                    abort();
                must_be_json(&b);
            }
        }
    }
    /* the row as a snapshot read of a table whose column types follow the first byte */
    static const uint32_t oids[] = { 25, 20, 701, 1700, 16, 3802, 17, 1082, 1083, 1266, 1114, 1184, 1186, 2950,
                                     1009, 1016, 1022, 1231, 1000, 3807, 1001, 1182, 1183, 1270, 1115, 1185 };
    pgo_column cols[MAXCOLS];
    char names[MAXCOLS][8];
    unsigned seed = size ? data[0] : 0;
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        cols[i] = (pgo_column){ i == 0, names[i], oids[(seed + (unsigned)i * 7) % (sizeof oids / sizeof *oids)], -1 };
    }
    relcache rc = { 0 };
    prod_relation *r = relcache_put(&rc, 1, "public", "snap", 'd', n, cols, "ekklesia");
    pgo_tuple t = { (uint16_t)n, vals };
    ev_source src = { .db = "db", .prefix = "ekklesia", .snapshot = "true", .commit_lsn = 5, .lsn = 5 };
    jbuf_reset(&b);
    if (event_key(&b, r, &t) != 0)
        abort();
    must_be_json(&b);
    jbuf_reset(&b);
    int odd = 0;
    event_value(&b, r, 'r', NULL, &t, &src, &odd);
    must_be_json(&b);
    if (odd < 0 || odd > n)
        abort();
    relcache_free(&rc);
    free(buf);
    return 0;
}
