/* test_producer_events.c - member-producer's pure event path: the relation cache
 * (services/producer/relation.c, no Kafka: rkt stays NULL), the Debezium key and value
 * JSON (event.c) checked field by field against proto/README.md, the COPY text-row
 * splitter of the snapshot (copy_text.c) and the transaction tracker that decides the
 * LSN the slot may confirm (positions.c). One test runs the captured all_types insert
 * (tests/unit/fixtures/producer/pgoutput_v1.hex) through decoder, cache and event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/fixture.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/producer/producer.h"

/* --- helpers ---------------------------------------------------------------- */

static json_t *parse(const jbuf *b)
{
    json_error_t e;
    json_t *j = json_loadb(b->data, b->len, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("not JSON (%s): %.*s", e.text, (int)b->len, b->data);
    return j;
}

static void assert_json_eq(json_t *got, const char *want_text)
{
    json_error_t e;
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, &e);
    if (!want)
        fail_msg("bad expectation (%s): %s", e.text, want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fail_msg("got %s, expected %s", g, want_text);
    }
    json_decref(want);
}

static pgo_value T(const char *s)
{
    return (pgo_value){ 't', (uint32_t)strlen(s), s };
}

static const pgo_value N = { 'n', 0, NULL };
static const pgo_value U = { 'u', 0, NULL };

static const ev_source src_stream = {
    .db = "ekklesia", .prefix = "ekklesia", .snapshot = "false", .commit_lsn = 24023928,
    .lsn = 24024032, .xid = 790, .commit_ts_ms = 1732543391490LL, .now_ms = 1732543391503LL,
};

/* member (id int4 key, name text, bio text, born date, tags text[]) */
static prod_relation *put_member(relcache *rc)
{
    const pgo_column cols[] = {
        { true, "id", 23, -1 },     { false, "name", 25, -1 },  { false, "bio", 25, -1 },
        { false, "born", 1082, -1 }, { false, "tags", 1009, -1 },
    };
    return relcache_put(rc, 16404, "public", "member", 'd', 5, cols, "ekklesia");
}

/* --- relation cache --------------------------------------------------------- */

static int lookups;
static bool lookup_stub(void *ud, uint32_t oid, pgv_type *out)
{
    (void)ud;
    lookups++;
    if (oid == 50001) { /* an extension's array of timestamps, say */
        *out = (pgv_type){ PGV_TIMESTAMPTZ, true };
        return true;
    }
    return false;
}

static void relation_cache(void **state)
{
    (void)state;
    relcache rc = { 0 };
    assert_null(relcache_get(&rc, 1));
    prod_relation *m = put_member(&rc);
    assert_ptr_equal(relcache_get(&rc, 16404), m);
    assert_string_equal(m->schema, "public");
    assert_string_equal(m->table, "member");
    assert_string_equal(m->topic, "ekklesia.public.member");
    assert_int_equal(m->replident, 'd');
    assert_int_equal(m->ncols, 5);
    assert_string_equal(m->cols[0].name, "id");
    assert_true(m->cols[0].key);
    assert_false(m->cols[1].key);
    assert_int_equal(m->cols[0].type.kind, PGV_INT);
    assert_int_equal(m->cols[3].type.kind, PGV_DATE);
    assert_int_equal(m->cols[4].type.kind, PGV_TEXT);
    assert_true(m->cols[4].type.array);
    assert_false(m->published);
    assert_null(m->rkt);

    /* Type messages: an enum (and its array) by its own name, a domain named as its base
     * type in namespace "", an array domain */
    relcache_type(&rc, 16386, "public", "mood");
    relcache_type(&rc, 16385, "public", "_mood");
    relcache_type(&rc, 16394, "", "int4");
    relcache_type(&rc, 16400, "", "_timestamptz");
    relcache_type(&rc, 16401, "public", "int4"); /* a user type named int4: text */
    relcache_type(&rc, 16402, "", "inet");       /* a domain over a type we do not convert */
    for (uint32_t i = 0; i < 20; i++)            /* growth of the type table */
        relcache_type(&rc, 60000 + i, "ext", "thing");
    const pgo_column cols[] = {
        { true, "k", 20, -1 },        { false, "m", 16386, -1 },   { false, "ms", 16385, -1 },
        { false, "p", 16394, -1 },    { false, "ts", 16400, -1 },  { false, "u", 16401, -1 },
        { false, "ip", 16402, -1 },   { false, "x", 50001, -1 },   { false, "y", 50002, -1 },
        { false, "z", 60019, -1 },
    };
    rc.lookup = lookup_stub;
    lookups = 0;
    prod_relation *t = relcache_put(&rc, 16396, "public", "types", 'd', 10, cols, "pfx");
    assert_string_equal(t->topic, "pfx.public.types");
    static const pgv_type want[] = {
        { PGV_INT, false },  { PGV_TEXT, false }, { PGV_TEXT, true }, { PGV_INT, false }, { PGV_TIMESTAMPTZ, true },
        { PGV_TEXT, false }, { PGV_TEXT, false }, { PGV_TIMESTAMPTZ, true }, { PGV_TEXT, false }, { PGV_TEXT, false },
    };
    for (int i = 0; i < 10; i++) {
        if (t->cols[i].type.kind != want[i].kind || t->cols[i].type.array != want[i].array)
            fail_msg("column %s: kind %d array %d", t->cols[i].name, t->cols[i].type.kind, t->cols[i].type.array);
        assert_int_equal(t->cols[i].type_oid, cols[i].type_oid);
    }
    assert_int_equal(lookups, 2); /* only 50001 and 50002 went to the catalog */

    /* a Type message again replaces the entry: the catalog now answers it */
    relcache_type(&rc, 50002, "public", "mood2");
    rc.lookup = NULL;
    t = relcache_put(&rc, 16396, "public", "types", 'd', 10, cols, "pfx");
    assert_int_equal(t->cols[8].type.kind, PGV_TEXT);

    /* a new Relation replaces the old (ALTER TABLE), keeping what the runtime set */
    m->published = true;
    metric *ins = relation_op_metric(m, 'c');
    assert_non_null(ins);
    assert_ptr_equal(relation_op_metric(m, 'c'), ins);
    assert_null(relation_op_metric(m, 'x'));
    assert_null(relation_op_metric(m, 0));
    const pgo_column cols2[] = { { true, "id", 23, -1 }, { false, "email", 25, -1 } };
    prod_relation *m2 = relcache_put(&rc, 16404, "public", "member", 'f', 2, cols2, "ekklesia");
    assert_ptr_equal(relcache_get(&rc, 16404), m2);
    assert_true(m2->published);
    assert_ptr_equal(relation_op_metric(m2, 'c'), ins);
    assert_int_equal(m2->ncols, 2);
    assert_string_equal(m2->cols[1].name, "email");
    assert_int_equal(m2->replident, 'f');
    assert_int_equal(rc.n, 2);

    /* many relations, and one without columns */
    for (uint32_t i = 0; i < 40; i++)
        relcache_put(&rc, 70000 + i, "s", "t", 'n', 0, NULL, "p");
    assert_int_equal(rc.n, 42);
    assert_int_equal(relcache_get(&rc, 70039)->ncols, 0);
    assert_ptr_equal(relcache_get(&rc, 16404), m2);
    relcache_free(&rc);
    assert_int_equal(rc.n, 0);
    assert_null(rc.rels);
}

/* --- keys and values -------------------------------------------------------- */

static void insert_event(void **state)
{
    (void)state;
    relcache rc = { 0 };
    prod_relation *r = put_member(&rc);
    pgo_value v[] = { T("1"), T("J\xc3\xb3n \"J\" J\xc3\xb3nsson"), N, T("1989-03-12"), T("{a,\"b c\",NULL}") };
    pgo_tuple after = { 5, v };
    jbuf b = { 0 };
    assert_int_equal(event_key(&b, r, &after), 0);
    json_t *k = parse(&b);
    assert_json_eq(k, "{\"id\":1}");
    assert_string_equal(jbuf_cstr(&b), "{\"id\":1}");
    json_decref(k);

    jbuf_reset(&b);
    int odd = 0;
    event_value(&b, r, 'c', NULL, &after, &src_stream, &odd);
    assert_int_equal(odd, 0);
    json_t *e = parse(&b);
    assert_json_eq(e, "{\"before\":null,"
                      "\"after\":{\"id\":1,\"name\":\"J\xc3\xb3n \\\"J\\\" J\xc3\xb3nsson\",\"bio\":null,"
                      "\"born\":\"1989-03-12\",\"tags\":[\"a\",\"b c\",null]},"
                      "\"source\":{\"version\":\"ekklesia-sync 0.1.0\",\"connector\":\"postgresql\","
                      "\"name\":\"ekklesia\",\"ts_ms\":1732543391490,\"snapshot\":\"false\",\"db\":\"ekklesia\","
                      "\"sequence\":\"[\\\"24023928\\\",\\\"24024032\\\"]\",\"schema\":\"public\","
                      "\"table\":\"member\",\"txId\":790,\"lsn\":24024032,\"xmin\":null},"
                      "\"op\":\"c\",\"ts_ms\":1732543391503,\"transaction\":null}");
    /* the column order of the table is kept */
    const char *s = jbuf_cstr(&b);
    assert_true(strstr(s, "\"id\"") < strstr(s, "\"name\"") && strstr(s, "\"name\"") < strstr(s, "\"tags\""));
    json_decref(e);
    jbuf_free(&b);
    relcache_free(&rc);
}

static void update_delete_read_truncate(void **state)
{
    (void)state;
    relcache rc = { 0 };
    prod_relation *r = put_member(&rc);
    jbuf b = { 0 };
    json_t *e;

    /* update with the unchanged TOASTed bio and without before (replica identity DEFAULT) */
    pgo_value nv[] = { T("1"), T("Jón yngri"), U, N, T("{}") };
    pgo_tuple nt = { 5, nv };
    event_value(&b, r, 'u', NULL, &nt, &src_stream, NULL);
    e = parse(&b);
    assert_json_eq(json_object_get(e, "before"), "null");
    assert_json_eq(json_object_get(e, "after"), "{\"id\":1,\"name\":\"Jón yngri\","
                                                "\"bio\":\"__debezium_unavailable_value\",\"born\":null,\"tags\":[]}");
    assert_string_equal(json_string_value(json_object_get(e, "op")), "u");
    json_decref(e);

    /* update with a whole old row (replica identity FULL) */
    pgo_value ov[] = { T("1"), T("Jón"), T("bio"), T("0044-03-15 BC"), N };
    pgo_tuple ot = { 5, ov };
    jbuf_reset(&b);
    event_value(&b, r, 'u', &ot, &nt, &src_stream, NULL);
    e = parse(&b);
    assert_json_eq(json_object_get(e, "before"),
                   "{\"id\":1,\"name\":\"Jón\",\"bio\":\"bio\",\"born\":\"-0043-03-15\",\"tags\":null}");
    assert_json_eq(json_object_get(e, "after"), "{\"id\":1,\"name\":\"Jón yngri\","
                                                "\"bio\":\"__debezium_unavailable_value\",\"born\":null,\"tags\":[]}");
    json_decref(e);

    /* delete with the key-only old tuple: the others are null */
    pgo_value kv[] = { T("10"), N, N, N, N };
    pgo_tuple kt = { 5, kv };
    jbuf_reset(&b);
    assert_int_equal(event_key(&b, r, &kt), 0);
    assert_string_equal(jbuf_cstr(&b), "{\"id\":10}");
    jbuf_reset(&b);
    event_value(&b, r, 'd', &kt, NULL, &src_stream, NULL);
    e = parse(&b);
    assert_json_eq(json_object_get(e, "before"), "{\"id\":10,\"name\":null,\"bio\":null,\"born\":null,\"tags\":null}");
    assert_json_eq(json_object_get(e, "after"), "null");
    assert_string_equal(json_string_value(json_object_get(e, "op")), "d");
    json_decref(e);

    /* a snapshot read: no transaction, sequence [null, lsn] */
    ev_source snap = { .db = "ekklesia", .prefix = "ekklesia", .snapshot = "first", .commit_lsn = 24019640,
                       .lsn = 24019640, .xid = 0, .commit_ts_ms = 1732089604911LL, .now_ms = 1732089605037LL };
    pgo_value rv[] = { T("4711"), T("Sigríður"), N, T("1989-03-12"), N };
    pgo_tuple rt = { 5, rv };
    jbuf_reset(&b);
    event_value(&b, r, 'r', NULL, &rt, &snap, NULL);
    e = parse(&b);
    assert_json_eq(e, "{\"before\":null,"
                      "\"after\":{\"id\":4711,\"name\":\"Sigríður\",\"bio\":null,\"born\":\"1989-03-12\",\"tags\":null},"
                      "\"source\":{\"version\":\"ekklesia-sync 0.1.0\",\"connector\":\"postgresql\","
                      "\"name\":\"ekklesia\",\"ts_ms\":1732089604911,\"snapshot\":\"first\",\"db\":\"ekklesia\","
                      "\"sequence\":\"[null,\\\"24019640\\\"]\",\"schema\":\"public\","
                      "\"table\":\"member\",\"txId\":null,\"lsn\":24019640,\"xmin\":null},"
                      "\"op\":\"r\",\"ts_ms\":1732089605037,\"transaction\":null}");
    json_decref(e);

    /* truncate: no rows */
    jbuf_reset(&b);
    event_value(&b, r, 't', NULL, NULL, &src_stream, NULL);
    e = parse(&b);
    assert_json_eq(json_object_get(e, "before"), "null");
    assert_json_eq(json_object_get(e, "after"), "null");
    assert_string_equal(json_string_value(json_object_get(e, "op")), "t");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "source"), "sequence")),
                        "[\"24023928\",\"24024032\"]");
    json_decref(e);

    /* names and prefixes that need escaping stay valid JSON */
    const pgo_column odd_cols[] = { { true, "a\"b", 25, -1 }, { false, "t\\ab\tle\x01", 25, -1 } };
    prod_relation *o = relcache_put(&rc, 5, "sch\"ema", "ta\nble", 'd', 2, odd_cols, "p");
    ev_source s2 = src_stream;
    s2.prefix = "pre\"fix";
    s2.db = "d\\b";
    pgo_value ovals[] = { T("k"), T("v") };
    pgo_tuple otup = { 2, ovals };
    jbuf_reset(&b);
    event_value(&b, o, 'c', NULL, &otup, &s2, NULL);
    e = parse(&b);
    assert_json_eq(json_object_get(e, "after"), "{\"a\\\"b\":\"k\",\"t\\\\ab\\tle\\u0001\":\"v\"}");
    json_t *src = json_object_get(e, "source");
    assert_string_equal(json_string_value(json_object_get(src, "name")), "pre\"fix");
    assert_string_equal(json_string_value(json_object_get(src, "db")), "d\\b");
    assert_string_equal(json_string_value(json_object_get(src, "schema")), "sch\"ema");
    assert_string_equal(json_string_value(json_object_get(src, "table")), "ta\nble");
    json_decref(e);
    jbuf_free(&b);
    relcache_free(&rc);
}

static void keys(void **state)
{
    (void)state;
    relcache rc = { 0 };
    jbuf b = { 0 };
    /* no key column: -1 (the Kafka key is then null) */
    const pgo_column nokey[] = { { false, "a", 23, -1 }, { false, "b", 25, -1 } };
    prod_relation *r = relcache_put(&rc, 1, "public", "nokey", 'n', 2, nokey, "p");
    pgo_value v[] = { T("1"), T("x") };
    pgo_tuple t = { 2, v };
    assert_int_equal(event_key(&b, r, &t), -1);
    assert_string_equal(jbuf_cstr(&b), "{}");

    /* a composite key, in column order, with its types' encodings */
    const pgo_column comp[] = {
        { false, "v", 25, -1 }, { true, "org", 2950, -1 }, { false, "w", 25, -1 }, { true, "day", 1082, -1 },
        { true, "n", 20, -1 },
    };
    r = relcache_put(&rc, 2, "public", "comp", 'd', 5, comp, "p");
    pgo_value cv[] = { T("v"), T("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), T("w"), T("2024-02-29"), T("-7") };
    pgo_tuple ct = { 5, cv };
    jbuf_reset(&b);
    assert_int_equal(event_key(&b, r, &ct), 0);
    assert_string_equal(jbuf_cstr(&b), "{\"org\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\",\"day\":\"2024-02-29\",\"n\":-7}");

    /* a tuple shorter than the relation (a column added since): missing values are null */
    pgo_tuple shortt = { 2, cv };
    jbuf_reset(&b);
    assert_int_equal(event_key(&b, r, &shortt), 0);
    assert_string_equal(jbuf_cstr(&b), "{\"org\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\",\"day\":null,\"n\":null}");
    jbuf_reset(&b);
    event_value(&b, r, 'c', NULL, &shortt, &src_stream, NULL);
    json_t *e = parse(&b);
    assert_json_eq(json_object_get(e, "after"),
                   "{\"v\":\"v\",\"org\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\",\"w\":null,\"day\":null,\"n\":null}");
    json_decref(e);

    /* values not in their type's form are strings and counted */
    pgo_value bad[] = { T("v"), T("x"), T("w"), T("2024-02-30x"), T("seven") };
    pgo_tuple bt = { 5, bad };
    int odd = 0;
    jbuf_reset(&b);
    event_value(&b, r, 'u', &bt, &bt, &src_stream, &odd);
    assert_int_equal(odd, 4); /* two columns, before and after */
    e = parse(&b);
    assert_json_eq(json_object_get(e, "after"), "{\"v\":\"v\",\"org\":\"x\",\"w\":\"w\",\"day\":\"2024-02-30x\",\"n\":\"seven\"}");
    json_decref(e);
    jbuf_reset(&b);
    event_value(&b, r, 'u', &bt, &bt, &src_stream, NULL); /* odd may be NULL */
    jbuf_reset(&b);
    assert_int_equal(event_key(&b, r, &bt), 0);
    assert_string_equal(jbuf_cstr(&b), "{\"org\":\"x\",\"day\":\"2024-02-30x\",\"n\":\"seven\"}");

    /* binary values (never asked for) are base64 */
    pgo_value bin[] = { { 'b', 3, "\x01\x02\x03" }, T("x"), U, N, T("1") };
    pgo_tuple bint = { 5, bin };
    jbuf_reset(&b);
    event_value(&b, r, 'c', NULL, &bint, &src_stream, NULL);
    e = parse(&b);
    assert_json_eq(json_object_get(e, "after"),
                   "{\"v\":\"AQID\",\"org\":\"x\",\"w\":\"__debezium_unavailable_value\",\"day\":null,\"n\":1}");
    json_decref(e);
    jbuf_free(&b);
    relcache_free(&rc);
}

static void key_changes(void **state)
{
    (void)state;
    relcache rc = { 0 };
    const pgo_column cols[] = { { true, "a", 23, -1 }, { false, "x", 25, -1 }, { true, "b", 25, -1 } };
    prod_relation *r = relcache_put(&rc, 1, "public", "t", 'd', 3, cols, "p");
    pgo_value v1[] = { T("1"), T("x"), T("k") };
    pgo_value v2[] = { T("1"), T("y"), T("k") };  /* only a non-key column differs */
    pgo_value v3[] = { T("2"), T("x"), T("k") };  /* a */
    pgo_value v4[] = { T("1"), T("x"), T("kk") }; /* b, longer */
    pgo_value v5[] = { T("1"), T("x"), N };       /* b NULL */
    pgo_value v6[] = { T("1"), N, U };            /* b unchanged TOAST */
    pgo_value v7[] = { T("1"), T("x"), T("j") };  /* b, same length */
    pgo_tuple t1 = { 3, v1 }, t2 = { 3, v2 }, t3 = { 3, v3 }, t4 = { 3, v4 }, t5 = { 3, v5 }, t6 = { 3, v6 },
              t7 = { 3, v7 }, t_short = { 1, v1 };
    assert_false(event_key_changed(r, &t1, &t1));
    assert_false(event_key_changed(r, &t1, &t2));
    assert_true(event_key_changed(r, &t1, &t3));
    assert_true(event_key_changed(r, &t1, &t4));
    assert_true(event_key_changed(r, &t1, &t5));
    assert_true(event_key_changed(r, &t5, &t1));
    assert_false(event_key_changed(r, &t5, &t5));
    assert_false(event_key_changed(r, &t1, &t6));
    assert_true(event_key_changed(r, &t1, &t7));
    assert_true(event_key_changed(r, &t1, &t_short));
    assert_true(event_key_changed(r, &t_short, &t1));
    assert_false(event_key_changed(r, &t_short, &t_short));
    /* a relation without a key never changes key */
    const pgo_column nokey[] = { { false, "a", 23, -1 } };
    prod_relation *n = relcache_put(&rc, 2, "public", "n", 'n', 1, nokey, "p");
    assert_false(event_key_changed(n, &t1, &t3));
    relcache_free(&rc);
}

/* The captured all_types insert, its Type and Relation messages, through the decoder,
 * the cache and event_value: every column as proto/README.md encodes it. */
static void captured_all_types(void **state)
{
    (void)state;
    size_t len;
    char *text = th_fixture("producer", "pgoutput_v1.hex", &len);
    assert_non_null(text);
    unsigned char *msgs[5];
    size_t lens[5];
    char *line = text;
    for (int i = 0; i < 5; i++) {
        char *nl = strchr(line, '\n'), *hex = strchr(line, ' ') + 1;
        lens[i] = (size_t)(nl - hex) / 2;
        msgs[i] = malloc(lens[i]);
        for (size_t k = 0; k < lens[i]; k++) {
            unsigned x;
            sscanf(hex + 2 * k, "%2x", &x);
            msgs[i][k] = (unsigned char)x;
        }
        line = nl + 1;
    }
    free(text);
    pgo_decoder *d = pgo_decoder_new();
    relcache rc = { 0 };
    pgo_message m;
    char err[256];
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(pgo_decode(d, msgs[i], lens[i], &m, err, sizeof err), 0);
        assert_int_equal(m.type, PGO_TYPE);
        relcache_type(&rc, m.u.type.oid, m.u.type.nspname, m.u.type.name);
    }
    assert_int_equal(pgo_decode(d, msgs[3], lens[3], &m, err, sizeof err), 0);
    prod_relation *r = relcache_put(&rc, m.u.relation.relid, m.u.relation.nspname, m.u.relation.relname,
                                    m.u.relation.replident, m.u.relation.ncols, m.u.relation.cols, "ekklesia");
    assert_int_equal(pgo_decode(d, msgs[4], lens[4], &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_INSERT);
    jbuf b = { 0 };
    assert_int_equal(event_key(&b, r, &m.u.change.new_), 0);
    assert_string_equal(jbuf_cstr(&b), "{\"id\":1}");
    jbuf_reset(&b);
    int odd = 0;
    event_value(&b, r, 'c', NULL, &m.u.change.new_, &src_stream, &odd);
    assert_int_equal(odd, 0);
    json_t *e = parse(&b);
    assert_json_eq(json_object_get(e, "after"),
                   "{\"id\":1,\"i2\":-2,\"i4\":40000,\"f4\":1.5,\"f8\":\"NaN\",\"num\":\"123.450\",\"b\":true,"
                   "\"t\":\"\xc3\x9e\xc3\xb3rd\xc3\xads \xc3\x86gisd\xc3\xb3ttir\",\"vc\":\"vc\",\"c\":\"ab \","
                   "\"d\":\"2024-02-29\",\"tm\":\"13:14:15.5\",\"ttz\":\"11:14:15Z\","
                   "\"ts\":\"2024-02-29T13:14:15.123456\",\"tstz\":\"2024-02-29T13:14:15Z\","
                   "\"iv\":\"1 year 2 mons 3 days 04:05:06.5\",\"u\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\","
                   "\"j\":\"{\\\"a\\\": [1, 2]}\",\"jb\":\"{\\\"b\\\": null}\",\"by\":\"3q2+7w==\","
                   "\"ia\":[1,null,3],\"ta\":[\"a b\",\"c,d\",null],\"m\":\"happy\",\"p\":7,\"mo\":\"$12.34\"}");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "source"), "table")), "all_types");
    json_decref(e);
    jbuf_free(&b);
    relcache_free(&rc);
    pgo_decoder_free(d);
    for (int i = 0; i < 5; i++)
        free(msgs[i]);
}

/* --- COPY text rows --------------------------------------------------------- */

/* Splits a copy of row; asserts the field count and each field (NULL in want: SQL NULL). */
static void check_row(const char *row, size_t len, int maxcols, int want_n, const char *const *want,
                      const uint32_t *want_lens)
{
    char *buf = malloc(len ? len : 1);
    memcpy(buf, row, len);
    pgo_value vals[16];
    int n = copy_text_row(buf, len, vals, maxcols);
    if (n != want_n)
        fail_msg("row \"%.*s\": %d fields, expected %d", (int)len, row, n, want_n);
    for (int i = 0; i < n; i++) {
        if (!want[i]) {
            assert_int_equal(vals[i].kind, 'n');
            assert_null(vals[i].data);
            assert_int_equal(vals[i].len, 0);
            continue;
        }
        uint32_t wl = want_lens ? want_lens[i] : (uint32_t)strlen(want[i]);
        assert_int_equal(vals[i].kind, 't');
        if (vals[i].len != wl || memcmp(vals[i].data, want[i], wl))
            fail_msg("row \"%.*s\" field %d: \"%.*s\", expected \"%s\"", (int)len, row, i, (int)vals[i].len,
                     vals[i].data, want[i]);
        assert_true(vals[i].data >= buf && vals[i].data + vals[i].len <= buf + len);
    }
    free(buf);
}

#define ROW(s, ...)                                                                    \
    do {                                                                               \
        static const char *const w_[] = { __VA_ARGS__ };                               \
        check_row(s, sizeof s - 1, 16, (int)(sizeof w_ / sizeof *w_), w_, NULL);       \
    } while (0)
#define BAD_ROW(s, max) check_row(s, sizeof s - 1, max, -1, NULL, NULL)

static void copy_rows(void **state)
{
    (void)state;
    ROW("1\tJ\xc3\xb3n\t\\N\n", "1", "J\xc3\xb3n", NULL);
    ROW("1\tJ\xc3\xb3n\t\\N", "1", "J\xc3\xb3n", NULL);
    ROW("\\N\n", NULL);
    ROW("\\N\t\\N", NULL, NULL);
    ROW("\\N\t", NULL, "");
    ROW("\n", "");
    ROW("", "");
    ROW("\t\n", "", "");
    ROW("a\t\tb", "a", "", "b");
    ROW("a\t", "a", "");
    ROW("\\\\N", "\\N"); /* an escaped backslash and N: the text \N */
    ROW("a\\tb\\nc\\rd\\\\e\\bf\\fg\\vh", "a\tb\nc\rd\\e\bf\fg\vh");
    ROW("\\101\\0612\\7\\1010", "A12\x07" "A0");   /* octal: up to three digits */
    ROW("\\x41\\x4a2\\xa\\xFfz", "AJ2\n\xffz");     /* hex: up to two digits */
    ROW("\\N\\N", "NN"); /* only a whole field is NULL; else \N is N, as in PostgreSQL */
    ROW("\\Nx\tb", "Nx", "b");
    ROW("x\\N", "xN");
    ROW("\\q\\\"", "q\"");                          /* other escaped characters are themselves */
    ROW("{\"a b\",\"c\\\\\\\\d\"}\t\\\\x0102", "{\"a b\",\"c\\\\d\"}", "\\x0102");
    ROW("\\\t\tx", "\t", "x"); /* an escaped tab is data */
    ROW("a\\\nb", "a\nb");     /* so is an escaped newline */

    /* malformed */
    BAD_ROW("abc\\", 16);
    BAD_ROW("abc\\\n", 16); /* the newline is the row's end: a lone backslash */
    BAD_ROW("a\t\\", 16);
    BAD_ROW("\\x", 16);
    BAD_ROW("\\xg", 16);
    /* too many columns */
    BAD_ROW("a\tb\tc", 2);
    BAD_ROW("a", 0);
    BAD_ROW("\t", 1);
    check_row("a\tb", 3, 2, 2, (const char *const[]){ "a", "b" }, NULL);
    /* a NUL from octal or hex escapes is kept with its length */
    check_row("a\\0b\\x00", 8, 4, 1, (const char *const[]){ "a\0b\0" }, (const uint32_t[]){ 4 });
    /* 1000 fields */
    char big[2000];
    for (int i = 0; i < 1000; i++) {
        big[2 * i] = (char)('0' + i % 10);
        big[2 * i + 1] = '\t';
    }
    pgo_value *vals = malloc(1000 * sizeof *vals);
    assert_int_equal(copy_text_row(big, 1999, vals, 1000), 1000);
    assert_int_equal(vals[999].len, 1);
    assert_int_equal(vals[999].data[0], '9');
    big[1999] = '\t';
    assert_int_equal(copy_text_row(big, 2000, vals, 1000), -1);
    free(vals);
}

/* --- positions -------------------------------------------------------------- */

static void positions_in_order(void **state)
{
    (void)state;
    pos_tracker t;
    pos_init(&t, 100);
    assert_true(pos_idle(&t));
    assert_int_equal(pos_advance(&t), 100);

    uint64_t a = pos_begin(&t);
    assert_false(pos_idle(&t));
    pos_sent(&t, a);
    pos_sent(&t, a);
    assert_int_equal(pos_advance(&t), 100); /* not committed */
    pos_commit(&t, a, 200);
    assert_int_equal(pos_advance(&t), 100); /* two in flight */
    pos_acked(&t, a);
    assert_int_equal(pos_advance(&t), 100);
    pos_acked(&t, a);
    assert_int_equal(pos_advance(&t), 200);
    assert_true(pos_idle(&t));
    /* late or extra acks of a popped transaction change nothing */
    pos_acked(&t, a);
    pos_sent(&t, a);
    pos_commit(&t, a, 999);
    assert_int_equal(pos_advance(&t), 200);
    assert_true(pos_idle(&t));

    /* an empty transaction (nothing published) is confirmable at its Commit */
    uint64_t b = pos_begin(&t);
    assert_int_equal(b, a + 1);
    pos_commit(&t, b, 300);
    assert_int_equal(pos_advance(&t), 300);

    /* never decreases: a commit below the confirmed LSN */
    uint64_t c = pos_begin(&t);
    pos_commit(&t, c, 250);
    assert_int_equal(pos_advance(&t), 300);
    /* unknown sequence numbers are ignored */
    pos_sent(&t, 12345);
    pos_acked(&t, 12345);
    pos_commit(&t, 12345, 5000);
    assert_int_equal(pos_advance(&t), 300);
    pos_free(&t);
    assert_null(t.ring);
}

static void positions_out_of_order(void **state)
{
    (void)state;
    pos_tracker t;
    pos_init(&t, 0);
    uint64_t s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = pos_begin(&t);
        pos_sent(&t, s[i]);
        pos_sent(&t, s[i]);
        pos_commit(&t, s[i], 1000 * (uint64_t)(i + 1));
    }
    /* the newer transactions are acknowledged first: nothing moves */
    pos_acked(&t, s[3]);
    pos_acked(&t, s[3]);
    pos_acked(&t, s[2]);
    pos_acked(&t, s[1]);
    pos_acked(&t, s[1]);
    assert_int_equal(pos_advance(&t), 0);
    pos_acked(&t, s[0]);
    assert_int_equal(pos_advance(&t), 0);
    /* the oldest completes: it and the complete one after it go, up to the gap */
    pos_acked(&t, s[0]);
    assert_int_equal(pos_advance(&t), 2000);
    assert_false(pos_idle(&t));
    /* an extra ack of a finished transaction does not finish another */
    pos_acked(&t, s[3]);
    assert_int_equal(pos_advance(&t), 2000);
    pos_acked(&t, s[2]);
    assert_int_equal(pos_advance(&t), 4000);
    assert_true(pos_idle(&t));

    /* a transaction still being read holds back the ones after it */
    uint64_t open = pos_begin(&t);
    pos_sent(&t, open);
    uint64_t later = pos_begin(&t);
    pos_commit(&t, later, 6000);
    pos_acked(&t, open);
    assert_int_equal(pos_advance(&t), 4000);
    pos_commit(&t, open, 5000);
    assert_int_equal(pos_advance(&t), 6000);
    pos_free(&t);
}

static void positions_follow(void **state)
{
    (void)state;
    pos_tracker t;
    pos_init(&t, 500);
    pos_follow(&t, 400); /* never backwards */
    assert_int_equal(pos_advance(&t), 500);
    pos_follow(&t, 600);
    assert_int_equal(pos_advance(&t), 600);
    uint64_t a = pos_begin(&t);
    pos_follow(&t, 900); /* a transaction is open: no */
    assert_int_equal(pos_advance(&t), 600);
    pos_commit(&t, a, 700);
    pos_follow(&t, 900); /* committed but not yet popped: still no */
    assert_int_equal(t.confirmed, 600);
    assert_int_equal(pos_advance(&t), 700);
    pos_follow(&t, 900);
    assert_int_equal(pos_advance(&t), 900);
    /* after following, an older commit does not pull it back */
    a = pos_begin(&t);
    pos_commit(&t, a, 800);
    assert_int_equal(pos_advance(&t), 900);
    pos_free(&t);
}

static void positions_ring_growth(void **state)
{
    (void)state;
    pos_tracker t;
    pos_init(&t, 0);
    /* wrap the ring first, so growth has to unwrap it */
    for (int i = 0; i < 40; i++) {
        uint64_t s = pos_begin(&t);
        pos_commit(&t, s, (uint64_t)i + 1);
    }
    assert_int_equal(pos_advance(&t), 40);
    assert_int_equal(t.cap, 64);
    enum { OPEN = 1000 };
    uint64_t *seq = malloc(OPEN * sizeof *seq);
    for (int i = 0; i < OPEN; i++) {
        seq[i] = pos_begin(&t);
        pos_sent(&t, seq[i]);
        pos_commit(&t, seq[i], 1000 + (uint64_t)i);
        if (i)
            assert_int_equal(seq[i], seq[i - 1] + 1);
    }
    assert_true(t.cap >= OPEN);
    assert_int_equal(t.count, OPEN);
    /* acknowledge from the newest down: nothing moves until the oldest */
    for (int i = OPEN - 1; i >= 1; i--)
        pos_acked(&t, seq[i]);
    assert_int_equal(pos_advance(&t), 40);
    pos_acked(&t, seq[0]);
    assert_int_equal(pos_advance(&t), 1000 + OPEN - 1);
    assert_true(pos_idle(&t));

    /* growth while the head is in the middle of the ring */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            seq[i] = pos_begin(&t);
            pos_sent(&t, seq[i]);
            pos_commit(&t, seq[i], 5000 + (uint64_t)round * 1000 + (uint64_t)i);
        }
        for (int i = 0; i < 50; i++)
            pos_acked(&t, seq[i]);
        assert_int_equal(pos_advance(&t), 5000 + (uint64_t)round * 1000 + 49);
        for (int i = 100; i < 400; i++) {
            seq[i] = pos_begin(&t);
            pos_sent(&t, seq[i]);
            pos_commit(&t, seq[i], 5000 + (uint64_t)round * 1000 + (uint64_t)i);
        }
        for (int i = 399; i >= 50; i--)
            pos_acked(&t, seq[i]);
        assert_int_equal(pos_advance(&t), 5000 + (uint64_t)round * 1000 + 399);
        assert_true(pos_idle(&t));
    }
    free(seq);
    pos_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relation_cache),
        cmocka_unit_test(insert_event),
        cmocka_unit_test(update_delete_read_truncate),
        cmocka_unit_test(keys),
        cmocka_unit_test(key_changes),
        cmocka_unit_test(captured_all_types),
        cmocka_unit_test(copy_rows),
        cmocka_unit_test(positions_in_order),
        cmocka_unit_test(positions_out_of_order),
        cmocka_unit_test(positions_follow),
        cmocka_unit_test(positions_ring_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
