/* test_producer_pgoutput.c - member-producer's pgoutput decoder (services/producer/
 * pgoutput.c) on real walsender bytes: tests/unit/fixtures/producer/pgoutput_v1.hex and
 * pgoutput_v3.hex, captured by capture.sh from capture_schema.sql and
 * capture_workload.sql (one message per line, in the workload's order). Every message
 * kind is checked field by field; every truncation of every message and hand-broken
 * messages must fail cleanly; Origin and the streaming messages, which the capture
 * does not produce, are built here byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/producer/pgoutput.h"

/* --- the fixtures ------------------------------------------------------------ */

typedef struct fx_msg {
    char lsn[32];
    unsigned char *data;
    size_t len;
} fx_msg;

typedef struct fx_file {
    fx_msg *msgs;
    size_t n;
} fx_file;

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static fx_file fx_load(const char *name)
{
    size_t len;
    char *text = th_fixture("producer", name, &len);
    assert_non_null(text);
    fx_file f = { 0 };
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        assert_non_null(sp);
        f.msgs = realloc(f.msgs, (f.n + 1) * sizeof *f.msgs);
        assert_non_null(f.msgs);
        fx_msg *m = &f.msgs[f.n++];
        snprintf(m->lsn, sizeof m->lsn, "%.*s", (int)(sp - line), line);
        const char *h = sp + 1;
        size_t hl = strlen(h);
        assert_int_equal(hl % 2, 0);
        m->len = hl / 2;
        m->data = malloc(m->len ? m->len : 1);
        for (size_t i = 0; i < m->len; i++) {
            int a = hexval(h[2 * i]), b = hexval(h[2 * i + 1]);
            assert_true(a >= 0 && b >= 0);
            m->data[i] = (unsigned char)(a << 4 | b);
        }
    }
    free(text);
    return f;
}

static void fx_free(fx_file *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->msgs[i].data);
    free(f->msgs);
    memset(f, 0, sizeof *f);
}

static const char *const fixture_names[] = { "pgoutput_v1.hex", "pgoutput_v3.hex" };
#define NFIXTURES (sizeof fixture_names / sizeof *fixture_names)

/* Decodes line i of f, asserting success and the message type. */
static void decode_ok(pgo_decoder *d, const fx_file *f, size_t i, pgo_type type, pgo_message *m)
{
    char err[256] = "";
    assert_true(i < f->n);
    int rc = pgo_decode(d, f->msgs[i].data, f->msgs[i].len, m, err, sizeof err);
    if (rc != 0)
        fail_msg("line %zu: %s", i, err);
    if (m->type != type)
        fail_msg("line %zu: type %c, expected %c", i, (char)m->type, (char)type);
    assert_int_equal(m->xid, 0);
}

static void assert_val(const pgo_tuple *t, int i, char kind, const char *text)
{
    assert_true(i < t->ncols);
    const pgo_value *v = &t->cols[i];
    if (v->kind != kind)
        fail_msg("column %d: kind %c, expected %c", i, v->kind, kind);
    if (kind == 't' || kind == 'b') {
        assert_non_null(v->data);
        if (v->len != strlen(text) || memcmp(v->data, text, v->len))
            fail_msg("column %d: \"%.*s\", expected \"%s\"", i, (int)v->len, v->data, text);
    } else {
        assert_int_equal(v->len, 0);
        assert_null(v->data);
    }
}

static void assert_col(const pgo_column *c, bool key, const char *name, uint32_t oid, int32_t typmod)
{
    assert_int_equal(c->key, key);
    assert_string_equal(c->name, name);
    assert_int_equal(c->type_oid, oid);
    assert_int_equal(c->typmod, typmod);
}

/* The workload's transactions: the line of each Begin and Commit, the xid, the final
 * LSN (Begin) and end LSN (Commit). The Commit's commit LSN is the Begin's final LSN. */
static const struct { size_t begin, commit; uint32_t xid; uint64_t final_lsn, end_lsn; } txns[] = {
    { 0, 5, 733, 26427696, 26427744 },   /* 1: insert of every type */
    { 6, 8, 734, 26427880, 26427928 },   /* 2: nulls */
    { 9, 14, 735, 26439504, 26439552 },  /* 3: two inserts and an update of member */
    { 15, 17, 737, 26439888, 26439936 }, /* 5: primary-key change (736 rolled back) */
    { 18, 20, 738, 26440000, 26440048 }, /* 6: delete */
    { 21, 24, 739, 26440112, 26440160 }, /* 7: full_ident insert */
    { 25, 27, 740, 26440248, 26440296 }, /* 7: full_ident update */
    { 28, 30, 741, 26440368, 26440416 }, /* 7: full_ident delete */
    { 32, 34, 742, 26440552, 26440600 }, /* 8: transactional message */
    { 35, 38, 744, 26441632, 26441680 }, /* 9: ADD COLUMN email, insert */
    { 39, 42, 746, 26443736, 26443808 }, /* 9: DROP COLUMN bio, update */
    { 43, 47, 747, 26448856, 26449432 }, /* 10: truncate */
};

/* --- every message of both files -------------------------------------------- */

static void all_lines_decode(void **state)
{
    (void)state;
    for (size_t k = 0; k < NFIXTURES; k++) {
        fx_file f = fx_load(fixture_names[k]);
        assert_int_equal(f.n, 48);
        pgo_decoder *d = pgo_decoder_new();
        static const char types[] = "BYYRICBICBRIIUCBUCBDCBRICBUCBDCMBMCBRICBRUCBRRTC";
        for (size_t i = 0; i < f.n; i++) {
            pgo_message m;
            decode_ok(d, &f, i, (pgo_type)types[i], &m);
            assert_string_not_equal(pgo_type_name(m.type), "unknown");
        }
        pgo_decoder_free(d);
        fx_free(&f);
    }
}

static void begin_and_commit(void **state)
{
    (void)state;
    for (size_t k = 0; k < NFIXTURES; k++) {
        fx_file f = fx_load(fixture_names[k]);
        pgo_decoder *d = pgo_decoder_new();
        int64_t last_ts = 0;
        for (size_t t = 0; t < sizeof txns / sizeof *txns; t++) {
            pgo_message b, c;
            decode_ok(d, &f, txns[t].begin, PGO_BEGIN, &b);
            assert_int_equal(b.u.begin.xid, txns[t].xid);
            assert_int_equal(b.u.begin.final_lsn, txns[t].final_lsn);
            /* commit times in microseconds since 2000: late 2026 (when captured) */
            assert_true(b.u.begin.commit_ts > 0);
            int64_t unix_s = (b.u.begin.commit_ts + PGO_EPOCH_OFFSET_US) / 1000000;
            assert_true(unix_s > 1700000000 && unix_s < 2000000000);
            assert_true(b.u.begin.commit_ts >= last_ts);
            last_ts = b.u.begin.commit_ts;
            decode_ok(d, &f, txns[t].commit, PGO_COMMIT, &c);
            assert_int_equal(c.u.commit.flags, 0);
            assert_int_equal(c.u.commit.commit_lsn, txns[t].final_lsn);
            assert_int_equal(c.u.commit.end_lsn, txns[t].end_lsn);
            assert_int_equal(c.u.commit.commit_ts, b.u.begin.commit_ts);
        }
        /* exact values of the first transaction */
        pgo_message b;
        decode_ok(d, &f, 0, PGO_BEGIN, &b);
        assert_int_equal(b.u.begin.final_lsn, 0x1934130);
        assert_int_equal(b.u.begin.commit_ts, 848926962473293LL);
        pgo_decoder_free(d);
        fx_free(&f);
    }
}

static void relation_all_types_and_type_messages(void **state)
{
    (void)state;
    for (size_t k = 0; k < NFIXTURES; k++) {
        fx_file f = fx_load(fixture_names[k]);
        pgo_decoder *d = pgo_decoder_new();
        pgo_message m;

        /* the enum, by its own name */
        decode_ok(d, &f, 1, PGO_TYPE, &m);
        assert_int_equal(m.u.type.oid, 16386);
        assert_string_equal(m.u.type.nspname, "public");
        assert_string_equal(m.u.type.name, "mood");
        /* the domain posint: named as its base type, namespace "" */
        decode_ok(d, &f, 2, PGO_TYPE, &m);
        assert_int_equal(m.u.type.oid, 16394);
        assert_string_equal(m.u.type.nspname, "");
        assert_string_equal(m.u.type.name, "int4");

        decode_ok(d, &f, 3, PGO_RELATION, &m);
        assert_int_equal(m.u.relation.relid, 16396);
        assert_string_equal(m.u.relation.nspname, "public");
        assert_string_equal(m.u.relation.relname, "all_types");
        assert_int_equal(m.u.relation.replident, 'd');
        assert_int_equal(m.u.relation.ncols, 25);
        static const struct { const char *name; uint32_t oid; int32_t typmod; } cols[] = {
            { "id", 20, -1 },     { "i2", 21, -1 },    { "i4", 23, -1 },    { "f4", 700, -1 },
            { "f8", 701, -1 },    { "num", 1700, 786439 }, /* numeric(12,3): (12 << 16 | 3) + 4 */
            { "b", 16, -1 },      { "t", 25, -1 },     { "vc", 1043, 24 },  { "c", 1042, 7 },
            { "d", 1082, -1 },    { "tm", 1083, -1 },  { "ttz", 1266, -1 }, { "ts", 1114, -1 },
            { "tstz", 1184, -1 }, { "iv", 1186, -1 },  { "u", 2950, -1 },   { "j", 114, -1 },
            { "jb", 3802, -1 },   { "by", 17, -1 },    { "ia", 1007, -1 },  { "ta", 1009, -1 },
            { "m", 16386, -1 },   { "p", 16394, -1 },  { "mo", 790, -1 },
        };
        for (int i = 0; i < 25; i++)
            assert_col(&m.u.relation.cols[i], i == 0, cols[i].name, cols[i].oid, cols[i].typmod);
        pgo_decoder_free(d);
        fx_free(&f);
    }
}

static void insert_every_type(void **state)
{
    (void)state;
    for (size_t k = 0; k < NFIXTURES; k++) {
        fx_file f = fx_load(fixture_names[k]);
        pgo_decoder *d = pgo_decoder_new();
        pgo_message m;
        decode_ok(d, &f, 4, PGO_INSERT, &m);
        assert_int_equal(m.u.change.relid, 16396);
        assert_int_equal(m.u.change.old_kind, 0);
        assert_int_equal(m.u.change.old.ncols, 0);
        const pgo_tuple *t = &m.u.change.new_;
        assert_int_equal(t->ncols, 25);
        static const char *const want[] = {
            "1", "-2", "40000", "1.5", "NaN", "123.450", "t",
            "\xc3\x9e\xc3\xb3rd\xc3\xads \xc3\x86gisd\xc3\xb3ttir", /* Þórdís Ægisdóttir */
            "vc", "ab ", "2024-02-29", "13:14:15.5", "13:14:15+02", "2024-02-29 13:14:15.123456",
            "2024-02-29 13:14:15+00", "1 year 2 mons 3 days 04:05:06.5", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "{\"a\": [1, 2]}", "{\"b\": null}", "\\xdeadbeef", "{1,NULL,3}", "{\"a b\",\"c,d\",NULL}", "happy", "7",
            "$12.34",
        };
        for (int i = 0; i < 25; i++)
            assert_val(t, i, 't', want[i]);

        /* 2: all but the key NULL */
        decode_ok(d, &f, 7, PGO_INSERT, &m);
        assert_int_equal(m.u.change.new_.ncols, 25);
        assert_val(&m.u.change.new_, 0, 't', "2");
        for (int i = 1; i < 25; i++)
            assert_val(&m.u.change.new_, i, 'n', NULL);
        pgo_decoder_free(d);
        fx_free(&f);
    }
}

static void member_transaction_with_toast(void **state)
{
    (void)state;
    for (size_t k = 0; k < NFIXTURES; k++) {
        fx_file f = fx_load(fixture_names[k]);
        pgo_decoder *d = pgo_decoder_new();
        pgo_message m;
        decode_ok(d, &f, 10, PGO_RELATION, &m);
        assert_int_equal(m.u.relation.relid, 16404);
        assert_string_equal(m.u.relation.nspname, "public");
        assert_string_equal(m.u.relation.relname, "member");
        assert_int_equal(m.u.relation.replident, 'd');
        assert_int_equal(m.u.relation.ncols, 3);
        assert_col(&m.u.relation.cols[0], true, "id", 23, -1);
        assert_col(&m.u.relation.cols[1], false, "name", 25, -1);
        assert_col(&m.u.relation.cols[2], false, "bio", 25, -1);

        /* the 10000-byte bio arrives whole in the Insert */
        decode_ok(d, &f, 11, PGO_INSERT, &m);
        assert_int_equal(m.u.change.relid, 16404);
        assert_int_equal(m.u.change.new_.ncols, 3);
        assert_val(&m.u.change.new_, 0, 't', "1");
        assert_val(&m.u.change.new_, 1, 't', "J\xc3\xb3n J\xc3\xb3nsson");
        const pgo_value *bio = &m.u.change.new_.cols[2];
        assert_int_equal(bio->kind, 't');
        assert_int_equal(bio->len, 10000);
        for (uint32_t i = 0; i < bio->len; i++)
            if (bio->data[i] != 'x')
                fail_msg("bio byte %u", i);

        decode_ok(d, &f, 12, PGO_INSERT, &m);
        assert_val(&m.u.change.new_, 0, 't', "2");
        assert_val(&m.u.change.new_, 1, 't', "Gu\xc3\xb0r\xc3\xban");
        assert_val(&m.u.change.new_, 2, 'n', NULL);

        /* the Update of member 1: no old tuple, the TOASTed bio unchanged ('u') */
        decode_ok(d, &f, 13, PGO_UPDATE, &m);
        assert_int_equal(m.u.change.relid, 16404);
        assert_int_equal(m.u.change.old_kind, 0);
        assert_int_equal(m.u.change.old.ncols, 0);
        assert_int_equal(m.u.change.new_.ncols, 3);
        assert_val(&m.u.change.new_, 0, 't', "1");
        assert_val(&m.u.change.new_, 1, 't', "J\xc3\xb3n J\xc3\xb3nsson yngri");
        assert_val(&m.u.change.new_, 2, 'u', NULL);
        pgo_decoder_free(d);
        fx_free(&f);
    }
}

static void key_change_and_delete(void **state)
{
    (void)state;
    for (size_t k = 0; k < NFIXTURES; k++) {
        fx_file f = fx_load(fixture_names[k]);
        pgo_decoder *d = pgo_decoder_new();
        pgo_message m;
        /* UPDATE member SET id = 10 WHERE id = 2: the old key as a K tuple */
        decode_ok(d, &f, 16, PGO_UPDATE, &m);
        assert_int_equal(m.u.change.relid, 16404);
        assert_int_equal(m.u.change.old_kind, 'K');
        assert_int_equal(m.u.change.old.ncols, 3);
        assert_val(&m.u.change.old, 0, 't', "2");
        assert_val(&m.u.change.old, 1, 'n', NULL);
        assert_val(&m.u.change.old, 2, 'n', NULL);
        assert_int_equal(m.u.change.new_.ncols, 3);
        assert_val(&m.u.change.new_, 0, 't', "10");
        assert_val(&m.u.change.new_, 1, 't', "Gu\xc3\xb0r\xc3\xban");
        assert_val(&m.u.change.new_, 2, 'n', NULL);
        /* the old and new tuples do not share storage */
        assert_ptr_not_equal(m.u.change.old.cols, m.u.change.new_.cols);

        /* DELETE FROM member WHERE id = 10 */
        decode_ok(d, &f, 19, PGO_DELETE, &m);
        assert_int_equal(m.u.change.relid, 16404);
        assert_int_equal(m.u.change.old_kind, 'K');
        assert_int_equal(m.u.change.old.ncols, 3);
        assert_val(&m.u.change.old, 0, 't', "10");
        assert_val(&m.u.change.old, 1, 'n', NULL);
        assert_val(&m.u.change.old, 2, 'n', NULL);
        assert_int_equal(m.u.change.new_.ncols, 0);
        pgo_decoder_free(d);
        fx_free(&f);
    }
}

static void replica_identity_full(void **state)
{
    (void)state;
    for (size_t k = 0; k < NFIXTURES; k++) {
        fx_file f = fx_load(fixture_names[k]);
        pgo_decoder *d = pgo_decoder_new();
        pgo_message m;
        decode_ok(d, &f, 22, PGO_RELATION, &m);
        assert_int_equal(m.u.relation.relid, 16412);
        assert_string_equal(m.u.relation.relname, "full_ident");
        assert_int_equal(m.u.relation.replident, 'f');
        assert_int_equal(m.u.relation.ncols, 2);
        /* with REPLICA IDENTITY FULL every column is flagged as part of the identity */
        assert_col(&m.u.relation.cols[0], true, "a", 23, -1);
        assert_col(&m.u.relation.cols[1], true, "b", 25, -1);

        decode_ok(d, &f, 23, PGO_INSERT, &m);
        assert_int_equal(m.u.change.relid, 16412);
        assert_val(&m.u.change.new_, 0, 't', "1");
        assert_val(&m.u.change.new_, 1, 't', "one");

        decode_ok(d, &f, 26, PGO_UPDATE, &m);
        assert_int_equal(m.u.change.old_kind, 'O');
        assert_int_equal(m.u.change.old.ncols, 2);
        assert_val(&m.u.change.old, 0, 't', "1");
        assert_val(&m.u.change.old, 1, 't', "one");
        assert_int_equal(m.u.change.new_.ncols, 2);
        assert_val(&m.u.change.new_, 0, 't', "1");
        assert_val(&m.u.change.new_, 1, 't', "uno");

        decode_ok(d, &f, 29, PGO_DELETE, &m);
        assert_int_equal(m.u.change.relid, 16412);
        assert_int_equal(m.u.change.old_kind, 'O');
        assert_val(&m.u.change.old, 0, 't', "1");
        assert_val(&m.u.change.old, 1, 't', "uno");
        assert_int_equal(m.u.change.new_.ncols, 0);
        pgo_decoder_free(d);
        fx_free(&f);
    }
}

static void logical_messages(void **state)
{
    (void)state;
    for (size_t k = 0; k < NFIXTURES; k++) {
        fx_file f = fx_load(fixture_names[k]);
        pgo_decoder *d = pgo_decoder_new();
        pgo_message m;
        /* not transactional: outside any Begin/Commit */
        decode_ok(d, &f, 31, PGO_MESSAGE, &m);
        assert_false(m.u.message.transactional);
        assert_int_equal(m.u.message.lsn, 0x1937320);
        assert_string_equal(m.u.message.prefix, "ekklesia");
        assert_int_equal(m.u.message.len, 5);
        assert_memory_equal(m.u.message.content, "hello", 5);
        assert_string_equal(f.msgs[31].lsn, "0/1937320");

        decode_ok(d, &f, 33, PGO_MESSAGE, &m);
        assert_true(m.u.message.transactional);
        assert_int_equal(m.u.message.lsn, 0x1937368);
        assert_string_equal(m.u.message.prefix, "ekklesia");
        assert_int_equal(m.u.message.len, 6);
        assert_memory_equal(m.u.message.content, "in txn", 6);
        pgo_decoder_free(d);
        fx_free(&f);
    }
}

static void schema_change_and_truncate(void **state)
{
    (void)state;
    for (size_t k = 0; k < NFIXTURES; k++) {
        fx_file f = fx_load(fixture_names[k]);
        pgo_decoder *d = pgo_decoder_new();
        pgo_message m;
        /* ADD COLUMN email: a new Relation with four columns before the insert */
        decode_ok(d, &f, 36, PGO_RELATION, &m);
        assert_int_equal(m.u.relation.relid, 16404);
        assert_string_equal(m.u.relation.relname, "member");
        assert_int_equal(m.u.relation.ncols, 4);
        assert_col(&m.u.relation.cols[0], true, "id", 23, -1);
        assert_col(&m.u.relation.cols[1], false, "name", 25, -1);
        assert_col(&m.u.relation.cols[2], false, "bio", 25, -1);
        assert_col(&m.u.relation.cols[3], false, "email", 25, -1);
        decode_ok(d, &f, 37, PGO_INSERT, &m);
        assert_int_equal(m.u.change.new_.ncols, 4);
        assert_val(&m.u.change.new_, 0, 't', "4"); /* 3 went to the rolled-back insert */
        assert_val(&m.u.change.new_, 1, 't', "\xc3\x81sa");
        assert_val(&m.u.change.new_, 2, 'n', NULL);
        assert_val(&m.u.change.new_, 3, 't', "asa@example.is");

        /* DROP COLUMN bio: three columns again */
        decode_ok(d, &f, 40, PGO_RELATION, &m);
        assert_int_equal(m.u.relation.ncols, 3);
        assert_col(&m.u.relation.cols[0], true, "id", 23, -1);
        assert_col(&m.u.relation.cols[1], false, "name", 25, -1);
        assert_col(&m.u.relation.cols[2], false, "email", 25, -1);
        decode_ok(d, &f, 41, PGO_UPDATE, &m);
        assert_int_equal(m.u.change.old_kind, 0);
        assert_int_equal(m.u.change.new_.ncols, 3);
        assert_val(&m.u.change.new_, 0, 't', "1");
        assert_val(&m.u.change.new_, 1, 't', "J\xc3\xb3n J\xc3\xb3nsson yngri");
        assert_val(&m.u.change.new_, 2, 't', "jon@example.is");

        /* TRUNCATE member, full_ident: both Relations again, then one Truncate */
        decode_ok(d, &f, 44, PGO_RELATION, &m);
        assert_int_equal(m.u.relation.relid, 16404);
        decode_ok(d, &f, 45, PGO_RELATION, &m);
        assert_int_equal(m.u.relation.relid, 16412);
        assert_int_equal(m.u.relation.replident, 'f');
        decode_ok(d, &f, 46, PGO_TRUNCATE, &m);
        assert_int_equal(m.u.truncate.nrels, 2);
        assert_int_equal(m.u.truncate.options, 0);
        assert_int_equal(pgo_truncate_relid(&m, 0), 16404);
        assert_int_equal(pgo_truncate_relid(&m, 1), 16412);
        pgo_decoder_free(d);
        fx_free(&f);
    }
}

/* --- bad input ------------------------------------------------------------- */

/* Decodes a private copy of exactly len bytes (so ASan sees any read past the end);
 * returns pgo_decode's result and leaves the reason in err. The copy, which the
 * message points into, lives until the next call (decode_copy(NULL, ...) frees it). */
static int decode_copy(pgo_decoder *d, const void *p, size_t len, pgo_message *m, char *err, size_t errlen)
{
    static unsigned char *copy;
    free(copy);
    copy = NULL;
    if (!d)
        return 0;
    copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, p, len);
    err[0] = 0;
    return pgo_decode(d, copy, len, m, err, errlen);
}

static void every_truncation_fails(void **state)
{
    (void)state;
    for (size_t k = 0; k < NFIXTURES; k++) {
        fx_file f = fx_load(fixture_names[k]);
        pgo_decoder *d = pgo_decoder_new();
        for (size_t i = 0; i < f.n; i++) {
            for (size_t len = 0; len < f.msgs[i].len; len++) {
                pgo_message m;
                char err[256];
                if (decode_copy(d, f.msgs[i].data, len, &m, err, sizeof err) != -1)
                    fail_msg("line %zu cut to %zu of %zu bytes decoded", i, len, f.msgs[i].len);
                if (!err[0])
                    fail_msg("line %zu cut to %zu bytes: no reason", i, len);
            }
            /* and the whole message, one byte longer, has trailing bytes */
            unsigned char *longer = malloc(f.msgs[i].len + 1);
            memcpy(longer, f.msgs[i].data, f.msgs[i].len);
            longer[f.msgs[i].len] = 0;
            pgo_message m;
            char err[256];
            assert_int_equal(decode_copy(d, longer, f.msgs[i].len + 1, &m, err, sizeof err), -1);
            assert_non_null(strstr(err, "unexpected bytes"));
            free(longer);
        }
        pgo_decoder_free(d);
        fx_free(&f);
    }
    decode_copy(NULL, NULL, 0, NULL, NULL, 0);
}

/* A tiny big-endian message builder. */
typedef struct mb {
    unsigned char b[512];
    size_t n;
} mb;

static void mb_u8(mb *m, unsigned v) { m->b[m->n++] = (unsigned char)v; }
static void mb_u16(mb *m, unsigned v) { mb_u8(m, v >> 8 & 0xff); mb_u8(m, v & 0xff); }
static void mb_u32(mb *m, uint32_t v) { mb_u16(m, v >> 16); mb_u16(m, v & 0xffff); }
static void mb_u64(mb *m, uint64_t v) { mb_u32(m, (uint32_t)(v >> 32)); mb_u32(m, (uint32_t)v); }
static void mb_str(mb *m, const char *s) { size_t l = strlen(s) + 1; memcpy(m->b + m->n, s, l); m->n += l; }
static void mb_bytes(mb *m, const void *p, size_t l) { memcpy(m->b + m->n, p, l); m->n += l; }

static void bad_messages(void **state)
{
    (void)state;
    pgo_decoder *d = pgo_decoder_new();
    pgo_message m;
    char err[256];

    assert_int_equal(decode_copy(d, "", 0, &m, err, sizeof err), -1);
    assert_string_equal(err, "empty message");

    /* unknown message types, including the two-phase ones we do not ask for */
    const char *unknown = "XzbPKr\x00\xff";
    for (size_t i = 0; i < 8; i++) {
        unsigned char msg[32] = { (unsigned char)unknown[i] };
        assert_int_equal(decode_copy(d, msg, sizeof msg, &m, err, sizeof err), -1);
        assert_non_null(strstr(err, "unknown pgoutput message type"));
    }

    /* unknown tuple column kind */
    mb x = { .n = 0 };
    mb_u8(&x, 'I'); mb_u32(&x, 16404); mb_u8(&x, 'N'); mb_u16(&x, 2);
    mb_u8(&x, 't'); mb_u32(&x, 1); mb_bytes(&x, "1", 1);
    mb_u8(&x, 'q');
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown tuple column kind 0x71"));

    /* a column count larger than the bytes */
    x.n = 0;
    mb_u8(&x, 'I'); mb_u32(&x, 16404); mb_u8(&x, 'N'); mb_u16(&x, 60000);
    mb_u8(&x, 'n'); mb_u8(&x, 'n');
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "claims 60000 columns"));
    x.n = 0;
    mb_u8(&x, 'R'); mb_u32(&x, 1); mb_str(&x, "public"); mb_str(&x, "t"); mb_u8(&x, 'd'); mb_u16(&x, 65535);
    mb_u8(&x, 1); mb_str(&x, "id"); mb_u32(&x, 23); mb_u32(&x, (uint32_t)-1);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "Relation claims 65535 columns"));
    x.n = 0;
    mb_u8(&x, 'T'); mb_u32(&x, 0x40000000); mb_u8(&x, 0); mb_u32(&x, 16404);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "Truncate claims"));
    /* a value length beyond the message */
    x.n = 0;
    mb_u8(&x, 'I'); mb_u32(&x, 16404); mb_u8(&x, 'N'); mb_u16(&x, 1);
    mb_u8(&x, 't'); mb_u32(&x, 0xffffffffu); mb_bytes(&x, "abc", 3);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    /* a Message whose content length is beyond the message */
    x.n = 0;
    mb_u8(&x, 'M'); mb_u8(&x, 1); mb_u64(&x, 1); mb_str(&x, "p"); mb_u32(&x, 0x7fffffff); mb_bytes(&x, "ab", 2);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    /* an unterminated string */
    x.n = 0;
    mb_u8(&x, 'Y'); mb_u32(&x, 1); mb_str(&x, "public"); mb_bytes(&x, "mood", 4);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "unterminated string"));

    /* wrong tuple tags */
    x.n = 0;
    mb_u8(&x, 'I'); mb_u32(&x, 1); mb_u8(&x, 'K'); mb_u16(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    x.n = 0;
    mb_u8(&x, 'D'); mb_u32(&x, 1); mb_u8(&x, 'N'); mb_u16(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    x.n = 0;
    mb_u8(&x, 'U'); mb_u32(&x, 1); mb_u8(&x, 'O'); mb_u16(&x, 0); mb_u8(&x, 'O'); mb_u16(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    x.n = 0;
    mb_u8(&x, 'U'); mb_u32(&x, 1); mb_u8(&x, 'X'); mb_u16(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);

    /* trailing bytes after a complete message */
    x.n = 0;
    mb_u8(&x, 'E'); mb_u8(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "1 unexpected bytes after a Stream Stop message"));

    /* a zero-column tuple and empty strings are fine */
    x.n = 0;
    mb_u8(&x, 'I'); mb_u32(&x, 7); mb_u8(&x, 'N'); mb_u16(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.u.change.new_.ncols, 0);
    x.n = 0;
    mb_u8(&x, 'R'); mb_u32(&x, 9); mb_str(&x, ""); mb_str(&x, ""); mb_u8(&x, 'n'); mb_u16(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.u.relation.ncols, 0);
    assert_int_equal(m.u.relation.replident, 'n');
    pgo_decoder_free(d);
    decode_copy(NULL, NULL, 0, NULL, NULL, 0);
}

static void origin_and_streaming(void **state)
{
    (void)state;
    pgo_decoder *d = pgo_decoder_new();
    pgo_message m;
    char err[256];
    mb x = { .n = 0 };

    mb_u8(&x, 'O'); mb_u64(&x, 0x123456789abcULL); mb_str(&x, "pg_1234");
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_ORIGIN);
    assert_int_equal(m.u.origin.commit_lsn, 0x123456789abcULL);
    assert_string_equal(m.u.origin.name, "pg_1234");
    assert_string_equal(pgo_type_name(m.type), "Origin");

    /* Stream Start: the data messages that follow carry the xid first */
    x.n = 0;
    mb_u8(&x, 'S'); mb_u32(&x, 901); mb_u8(&x, 1);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_STREAM_START);
    assert_int_equal(m.xid, 901);
    assert_true(m.u.stream_start.first_segment);

    x.n = 0;
    mb_u8(&x, 'R'); mb_u32(&x, 901); mb_u32(&x, 16404); mb_str(&x, "public"); mb_str(&x, "member");
    mb_u8(&x, 'd'); mb_u16(&x, 1); mb_u8(&x, 1); mb_str(&x, "id"); mb_u32(&x, 23); mb_u32(&x, (uint32_t)-1);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_RELATION);
    assert_int_equal(m.xid, 901);
    assert_int_equal(m.u.relation.relid, 16404);
    assert_string_equal(m.u.relation.relname, "member");

    x.n = 0;
    mb_u8(&x, 'Y'); mb_u32(&x, 901); mb_u32(&x, 16386); mb_str(&x, "public"); mb_str(&x, "mood");
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.xid, 901);
    assert_int_equal(m.u.type.oid, 16386);

    x.n = 0;
    mb_u8(&x, 'I'); mb_u32(&x, 902); mb_u32(&x, 16404); mb_u8(&x, 'N'); mb_u16(&x, 1);
    mb_u8(&x, 't'); mb_u32(&x, 2); mb_bytes(&x, "42", 2);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_INSERT);
    assert_int_equal(m.xid, 902); /* a subtransaction's xid */
    assert_int_equal(m.u.change.relid, 16404);
    assert_val(&m.u.change.new_, 0, 't', "42");

    x.n = 0;
    mb_u8(&x, 'U'); mb_u32(&x, 901); mb_u32(&x, 16404); mb_u8(&x, 'K'); mb_u16(&x, 1);
    mb_u8(&x, 't'); mb_u32(&x, 2); mb_bytes(&x, "42", 2);
    mb_u8(&x, 'N'); mb_u16(&x, 1); mb_u8(&x, 't'); mb_u32(&x, 2); mb_bytes(&x, "43", 2);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.xid, 901);
    assert_int_equal(m.u.change.old_kind, 'K');
    assert_val(&m.u.change.old, 0, 't', "42");
    assert_val(&m.u.change.new_, 0, 't', "43");

    x.n = 0;
    mb_u8(&x, 'D'); mb_u32(&x, 901); mb_u32(&x, 16404); mb_u8(&x, 'K'); mb_u16(&x, 1); mb_u8(&x, 'n');
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_DELETE);
    assert_int_equal(m.xid, 901);

    x.n = 0;
    mb_u8(&x, 'T'); mb_u32(&x, 901); mb_u32(&x, 1); mb_u8(&x, 1); mb_u32(&x, 16404);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_TRUNCATE);
    assert_int_equal(m.xid, 901);
    assert_int_equal(m.u.truncate.nrels, 1);
    assert_int_equal(m.u.truncate.options, 1); /* CASCADE */
    assert_int_equal(pgo_truncate_relid(&m, 0), 16404);

    x.n = 0;
    mb_u8(&x, 'M'); mb_u32(&x, 901); mb_u8(&x, 1); mb_u64(&x, 77); mb_str(&x, "ekklesia"); mb_u32(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_MESSAGE);
    assert_int_equal(m.xid, 901);
    assert_true(m.u.message.transactional);
    assert_int_equal(m.u.message.lsn, 77);
    assert_int_equal(m.u.message.len, 0);

    /* the same Insert without the xid is now wrong (4 bytes short) */
    x.n = 0;
    mb_u8(&x, 'I'); mb_u32(&x, 16404); mb_u8(&x, 'N'); mb_u16(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), -1);

    x.n = 0;
    mb_u8(&x, 'E');
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_STREAM_STOP);
    assert_string_equal(pgo_type_name(m.type), "Stream Stop");

    /* after Stream Stop, data messages have no xid again */
    x.n = 0;
    mb_u8(&x, 'I'); mb_u32(&x, 16404); mb_u8(&x, 'N'); mb_u16(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.xid, 0);
    assert_int_equal(m.u.change.relid, 16404);

    /* a later segment of the same transaction */
    x.n = 0;
    mb_u8(&x, 'S'); mb_u32(&x, 901); mb_u8(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_false(m.u.stream_start.first_segment);
    x.n = 0;
    mb_u8(&x, 'E');
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);

    x.n = 0;
    mb_u8(&x, 'c'); mb_u32(&x, 901); mb_u8(&x, 0); mb_u64(&x, 0x1000); mb_u64(&x, 0x1030); mb_u64(&x, 848926962473293ULL);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_STREAM_COMMIT);
    assert_int_equal(m.xid, 901);
    assert_int_equal(m.u.stream_commit.flags, 0);
    assert_int_equal(m.u.stream_commit.commit_lsn, 0x1000);
    assert_int_equal(m.u.stream_commit.end_lsn, 0x1030);
    assert_int_equal(m.u.stream_commit.commit_ts, 848926962473293LL);
    assert_string_equal(pgo_type_name(m.type), "Stream Commit");

    /* Stream Abort: protocol 2/3 form, and protocol 4's with abort LSN and time */
    x.n = 0;
    mb_u8(&x, 'A'); mb_u32(&x, 903); mb_u32(&x, 904);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.type, PGO_STREAM_ABORT);
    assert_int_equal(m.xid, 903);
    assert_int_equal(m.u.stream_abort.subxid, 904);
    mb_u64(&x, 0x2000); mb_u64(&x, 848926962473293ULL);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.xid, 903);
    assert_int_equal(m.u.stream_abort.subxid, 904);
    assert_string_equal(pgo_type_name(m.type), "Stream Abort");

    /* truncated streaming messages fail */
    static const unsigned char short_msgs[][8] = { "S\0\0\x03", "c\0\0\x03\x85", "A\0\0\x03\x87\0", "O\0\0\0" };
    static const size_t short_lens[] = { 4, 5, 6, 4 };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(decode_copy(d, short_msgs[i], short_lens[i], &m, err, sizeof err), -1);
    /* a failed Stream Start does not enter the stream */
    x.n = 0;
    mb_u8(&x, 'I'); mb_u32(&x, 16404); mb_u8(&x, 'N'); mb_u16(&x, 0);
    assert_int_equal(decode_copy(d, x.b, x.n, &m, err, sizeof err), 0);
    assert_int_equal(m.xid, 0);

    /* the caller can say so too: fixture messages with an xid put in front */
    fx_file f = fx_load("pgoutput_v3.hex");
    pgo_decoder_set_streaming(d, true);
    static const size_t data_lines[] = { 1, 2, 3, 4, 13, 16, 19, 26, 29, 33, 46 };
    for (size_t i = 0; i < sizeof data_lines / sizeof *data_lines; i++) {
        const fx_msg *fm = &f.msgs[data_lines[i]];
        unsigned char *buf = malloc(fm->len + 4);
        buf[0] = fm->data[0];
        buf[1] = 0, buf[2] = 0, buf[3] = 0x03, buf[4] = 0x84; /* xid 900 */
        memcpy(buf + 5, fm->data + 1, fm->len - 1);
        assert_int_equal(decode_copy(d, buf, fm->len + 4, &m, err, sizeof err), 0);
        assert_int_equal(m.type, fm->data[0]);
        assert_int_equal(m.xid, 900);
        free(buf);
    }
    pgo_decoder_set_streaming(d, false);
    for (size_t i = 0; i < f.n; i++)
        decode_ok(d, &f, i, (pgo_type)f.msgs[i].data[0], &m);
    fx_free(&f);
    pgo_decoder_free(d);
    pgo_decoder_free(NULL);
    decode_copy(NULL, NULL, 0, NULL, NULL, 0);
}

static void type_names(void **state)
{
    (void)state;
    static const struct { pgo_type t; const char *name; } names[] = {
        { PGO_BEGIN, "Begin" },     { PGO_COMMIT, "Commit" },         { PGO_ORIGIN, "Origin" },
        { PGO_RELATION, "Relation" }, { PGO_TYPE, "Type" },           { PGO_INSERT, "Insert" },
        { PGO_UPDATE, "Update" },   { PGO_DELETE, "Delete" },         { PGO_TRUNCATE, "Truncate" },
        { PGO_MESSAGE, "Message" }, { PGO_STREAM_START, "Stream Start" }, { PGO_STREAM_STOP, "Stream Stop" },
        { PGO_STREAM_COMMIT, "Stream Commit" }, { PGO_STREAM_ABORT, "Stream Abort" },
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        assert_string_equal(pgo_type_name(names[i].t), names[i].name);
    assert_string_equal(pgo_type_name((pgo_type)'Z'), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_lines_decode),
        cmocka_unit_test(begin_and_commit),
        cmocka_unit_test(relation_all_types_and_type_messages),
        cmocka_unit_test(insert_every_type),
        cmocka_unit_test(member_transaction_with_toast),
        cmocka_unit_test(key_change_and_delete),
        cmocka_unit_test(replica_identity_full),
        cmocka_unit_test(logical_messages),
        cmocka_unit_test(schema_change_and_truncate),
        cmocka_unit_test(every_truncation_fails),
        cmocka_unit_test(bad_messages),
        cmocka_unit_test(origin_and_streaming),
        cmocka_unit_test(type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
