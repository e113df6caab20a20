/* fuzz_producer_pgoutput.c - member-producer's pure stream path on arbitrary bytes: one
 * pgoutput message into the decoder (the first byte chooses whether the decoder is
 * inside a stream), then every text value of a decoded Insert, Update or Delete through
 * pgv_to_json as every kind, scalar and array, and the tuples through the relation
 * cache and event_key/event_value. Every JSON written must parse; nothing may crash,
 * leak or trip a sanitizer. Seeds: captured messages (tests/unit/fixtures/producer). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/producer/producer.h"
#include "tests/fuzz/must_be_json.h"

#define NKINDS (PGV_UUID + 1)


static void values(jbuf *b, const pgo_tuple *t)
{
    for (uint16_t i = 0; i < t->ncols; i++) {
        const pgo_value *v = &t->cols[i];
        if (v->kind != 't')
            continue;
        for (int k = 0; k < NKINDS; k++) {
            for (int a = 0; a < 2; a++) {
                jbuf_reset(b);
                size_t before = b->len;
                int rc = pgv_to_json(b, (pgv_type){ (pgv_kind)k, a }, v->data, v->len);
                if ((rc != 0 && rc != -1) || b->len == before)
                    abort();
                must_be_json(b);
            }
        }
    }
}

/* A relation shaped like the tuple: column i of kind i % NKINDS, every third an array,
 * the first column the key. */
static void events(jbuf *b, const pgo_message *m)
{
    const pgo_tuple *t = m->u.change.new_.ncols ? &m->u.change.new_ : &m->u.change.old;
    int n = t->ncols < 64 ? t->ncols : 64;
    static const uint32_t oids[NKINDS][2] = {
        { 25, 1009 }, { 20, 1016 }, { 701, 1022 }, { 1700, 1231 }, { 16, 1000 }, { 3802, 3807 }, { 17, 1001 },
        { 1082, 1182 }, { 1083, 1183 }, { 1266, 1270 }, { 1114, 1115 }, { 1184, 1185 }, { 1186, 1187 }, { 2950, 2951 },
    };
    pgo_column cols[64];
    char names[64][8];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        cols[i] = (pgo_column){ i == 0, names[i], oids[i % NKINDS][i % 3 == 2], -1 };
    }
    relcache rc = { 0 };
    prod_relation *r = relcache_put(&rc, m->u.change.relid, "public", "fuzz", 'd', n, cols, "ekklesia");
    ev_source src = { .db = "db", .prefix = "ekklesia", .snapshot = "false", .commit_lsn = 1, .lsn = 2,
                      .xid = m->xid, .commit_ts_ms = 3, .now_ms = 4 };
    jbuf_reset(b);
    if (event_key(b, r, t) == 0)
        must_be_json(b);
    const pgo_tuple *old = m->u.change.old_kind ? &m->u.change.old : NULL;
    const pgo_tuple *nw = m->u.change.new_.ncols ? &m->u.change.new_ : NULL;
    int odd = 0;
    jbuf_reset(b);
    event_value(b, r, m->type == PGO_INSERT ? 'c' : m->type == PGO_DELETE ? 'd' : 'u', old, nw, &src, &odd);
    must_be_json(b);
    if (old && nw)
        (void)event_key_changed(r, old, nw);
    relcache_free(&rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static pgo_decoder *d;
    static jbuf b;
    if (!d)
        d = pgo_decoder_new();
    pgo_decoder_set_streaming(d, data[0] & 1);
    pgo_message m;
    char err[256];
    /* the rest, in a buffer of its own size, so a read past the end is caught */
    uint8_t *msg = malloc(size - 1 ? size - 1 : 1);
    memcpy(msg, data + 1, size - 1);
    if (pgo_decode(d, msg, size - 1, &m, err, sizeof err) != 0) {
        if (!err[0] || !memchr(err, 0, sizeof err))
            abort();
        free(msg);
        return 0;
    }
    switch (m.type) {
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE:
        values(&b, &m.u.change.new_);
        values(&b, &m.u.change.old);
        events(&b, &m);
        break;
    case PGO_RELATION: {
        relcache rc = { 0 };
        prod_relation *r = relcache_put(&rc, m.u.relation.relid, m.u.relation.nspname, m.u.relation.relname,
                                        m.u.relation.replident, m.u.relation.ncols, m.u.relation.cols, "p");
        if (r->ncols != m.u.relation.ncols)
            abort();
        relcache_free(&rc);
        break;
    }
    case PGO_TYPE: {
        relcache rc = { 0 };
        relcache_type(&rc, m.u.type.oid, m.u.type.nspname, m.u.type.name);
        relcache_free(&rc);
        break;
    }
    case PGO_TRUNCATE:
        for (uint32_t i = 0; i < m.u.truncate.nrels; i++)
            (void)pgo_truncate_relid(&m, i);
        break;
    case PGO_MESSAGE:
        jbuf_reset(&b);
        jbuf_str(&b, m.u.message.content, m.u.message.len);
        must_be_json(&b);
        break;
    default:
        break;
    }
    (void)pgo_type_name(m.type);
    free(msg);
    return 0;
}
