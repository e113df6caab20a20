/* test_consumer_event.c - Debezium envelope parsing and the Firestore Value codec of
 * member-consumer, on fixture events (tests/unit/fixtures/consumer/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/consumer/event.h"
#include "services/consumer/fs_value.h"

static char *slurp(const char *name, size_t *len)
{
    char *buf = th_fixture("consumer", name, len);
    assert_non_null(buf);
    return buf;
}

static ev_error parse_fixture(const char *name, ev_event *ev, char *err, size_t errlen)
{
    size_t len;
    char *buf = slurp(name, &len);
    ev_error e = ev_parse(buf, len, ev, err, errlen);
    free(buf);
    return e;
}

static void parses_create_with_position(void **state)
{
    (void)state;
    ev_event ev;
    char err[256];
    assert_int_equal(parse_fixture("comrade_create.json", &ev, err, sizeof err), EV_OK);
    assert_int_equal(ev.op, 'c');
    assert_string_equal(ev.table, "membership_comrade");
    assert_string_equal(ev.schema, "public");
    assert_null(ev.before);
    assert_non_null(ev.after);
    assert_int_equal(ev.pos.lsn, 24023928);
    assert_int_equal(ev.pos.commit_lsn, 24023000);
    assert_int_equal(ev.source_ts_ms, 1764041414123LL);
    assert_false(ev.snapshot);
    assert_ptr_equal(ev_row(&ev), ev.after);
    ev_free(&ev);
}

static void delete_row_is_before(void **state)
{
    (void)state;
    ev_event ev;
    char err[256];
    assert_int_equal(parse_fixture("comrade_delete.json", &ev, err, sizeof err), EV_OK);
    assert_int_equal(ev.op, 'd');
    assert_ptr_equal(ev_row(&ev), ev.before);
    assert_int_equal(json_integer_value(json_object_get(ev.before, "id")), 42);
    ev_free(&ev);
}

static void error_classes(void **state)
{
    (void)state;
    ev_event ev;
    char err[256];
    assert_int_equal(parse_fixture("not_json.json", &ev, err, sizeof err), EV_ERR_JSON);
    assert_string_equal(ev_error_class(EV_ERR_JSON), "decode.json");
    assert_int_equal(parse_fixture("not_envelope.json", &ev, err, sizeof err), EV_ERR_ENVELOPE);
    assert_string_equal(ev_error_class(EV_ERR_ENVELOPE), "decode.envelope");
    assert_int_equal(parse_fixture("bad_op.json", &ev, err, sizeof err), EV_ERR_OP);
    assert_string_equal(ev_error_class(EV_ERR_OP), "decode.op");
    assert_null(ev.root);
    const char *bad[] = {
        "[1,2]", "\"x\"", "{\"op\":\"c\",\"source\":{\"table\":\"t\",\"lsn\":1}}", /* no after */
        "{\"op\":\"d\",\"before\":null,\"source\":{\"table\":\"t\",\"lsn\":1}}",
        "{\"op\":\"c\",\"after\":{},\"source\":{\"lsn\":1}}",
        "{\"op\":\"c\",\"after\":{},\"source\":{\"table\":\"t\"}}",
        "{\"op\":\"c\",\"after\":{},\"source\":{\"table\":\"t\",\"lsn\":1,\"sequence\":\"[1]\"}}",
        "{\"op\":\"c\",\"after\":[],\"source\":{\"table\":\"t\",\"lsn\":1}}",
        "{\"schema\":{},\"payload\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(ev_parse(bad[i], strlen(bad[i]), &ev, err, sizeof err), EV_ERR_ENVELOPE);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(ev_parse("", 0, &ev, err, sizeof err), EV_ERR_JSON);
}

/* "source" is read from its text, not a tree: escapes, types and odd values as jansson
 * would have given them; the row of the op is the only tree. */
static void source_members_from_text(void **state)
{
    (void)state;
    ev_event ev;
    char err[256];
    const char *esc = "{\"op\":\"\\u0075\",\"before\":{\"id\":1,\"big\":[1,2,{\"x\":\"y\"}]},\"after\":{\"id\":2},"
                      "\"source\":{\"schema\":\"p\\u00fablic\",\"table\":\"membership\\u005fcomrade\",\"lsn\":\"0/10\","
                      "\"sequence\":\"[\\\"0/8\\\",\\\"0/10\\\"]\",\"ts_ms\":1700000000123,\"snapshot\":\"last\","
                      "\"extra\":{\"table\":\"no\"}}}";
    assert_int_equal(ev_parse(esc, strlen(esc), &ev, err, sizeof err), EV_OK);
    assert_int_equal(ev.op, 'u');
    assert_string_equal(ev.schema, "p\xc3\xba" "blic");
    assert_string_equal(ev.table, "membership_comrade");
    assert_int_equal(ev.pos.lsn, 0x10);
    assert_int_equal(ev.pos.commit_lsn, 0x8);
    assert_int_equal(ev.source_ts_ms, 1700000000123LL);
    assert_true(ev.snapshot);
    assert_null(ev.before); /* an update's before is never parsed */
    assert_int_equal(json_integer_value(json_object_get(ev_row(&ev), "id")), 2);
    ev_free(&ev);
    const char *plain = "{\"op\":\"c\",\"after\":{\"id\":3},\"source\":{\"table\":\"t\",\"lsn\":7,\"snapshot\":\"false\","
                        "\"ts_ms\":1.5,\"schema\":5}}";
    assert_int_equal(ev_parse(plain, strlen(plain), &ev, err, sizeof err), EV_OK);
    assert_null(ev.schema);       /* not a string */
    assert_int_equal(ev.source_ts_ms, 0); /* not an integer */
    assert_false(ev.snapshot);
    assert_int_equal(ev.pos.commit_lsn, 7);
    ev_free(&ev);
    const char *bad[] = {
        "{\"op\":\"c\",\"after\":{},\"source\":{\"table\":\"\",\"lsn\":1}}",
        "{\"op\":\"c\",\"after\":{},\"source\":{\"table\":\"t\",\"lsn\":-1}}",
        "{\"op\":\"c\",\"after\":{},\"source\":{\"table\":\"t\",\"lsn\":1.0}}",
        "{\"op\":\"c\",\"after\":{},\"source\":{\"table\":\"t\",\"lsn\":1,\"sequence\":[\"1\",\"2\"]}}",
        "{\"op\":\"c\",\"after\":{},\"before\":7,\"source\":{\"table\":\"t\",\"lsn\":1}}",
        "{\"op\":\"c\",\"after\":{},\"source\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ev_parse(bad[i], strlen(bad[i]), &ev, err, sizeof err), EV_ERR_ENVELOPE);
    /* not JSON anywhere, even in a part never parsed: the reason places it, quoting nothing */
    const char *broken = "{\"op\":\"c\",\"after\":{\"id\":1},\"source\":{\"table\":\"t\",\"lsn\":1},\"x\":\"Jon \\q\"}";
    assert_int_equal(ev_parse(broken, strlen(broken), &ev, err, sizeof err), EV_ERR_JSON);
    assert_string_equal(err, "not JSON: invalid escape at byte 69");
    assert_null(ev.root);
    assert_null(ev.names);
}

static void positions_compare_commit_then_lsn(void **state)
{
    (void)state;
    ev_position a = { 100, 150 }, b = { 100, 160 }, c = { 200, 120 };
    assert_true(ev_position_cmp(a, b) < 0);
    assert_true(ev_position_cmp(b, c) < 0);
    assert_true(ev_position_cmp(c, a) > 0);
    assert_int_equal(ev_position_cmp(a, a), 0);
    uint64_t lsn;
    assert_int_equal(ev_parse_lsn("0/16E8AD8", &lsn), 0);
    assert_int_equal(lsn, 0x16E8AD8);
    assert_int_equal(ev_parse_lsn("1/0", &lsn), 0);
    assert_int_equal(lsn, 1ULL << 32);
    assert_int_equal(ev_parse_lsn("24023928", &lsn), 0);
    assert_int_equal(lsn, 24023928);
    assert_int_equal(ev_parse_lsn("x", &lsn), -1);
    assert_int_equal(ev_parse_lsn("12a", &lsn), -1);
    /* a snapshot read without sequence is at its own position */
    const char *snap = "{\"op\":\"r\",\"after\":{\"id\":1},\"source\":{\"table\":\"t\",\"lsn\":500,\"snapshot\":\"true\"}}";
    ev_event ev;
    char err[128];
    assert_int_equal(ev_parse(snap, strlen(snap), &ev, err, sizeof err), EV_OK);
    assert_true(ev.snapshot);
    assert_int_equal(ev.pos.commit_lsn, 500);
    ev_free(&ev);
}

/* got (a compact value, consumed) in the wire form equals want. */
static void assert_json(json_t *got, const char *want)
{
    json_t *wire = fsv_to_firestore(got);
    char *s = json_dumps(wire, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(wire);
    assert_string_equal(s, want);
    free(s);
    json_decref(got);
}

static void value_encoding(void **state)
{
    (void)state;
    assert_json(fsv_integer(9007199254740993LL), "{\"integerValue\":\"9007199254740993\"}");
    assert_json(fsv_null(), "{\"nullValue\":null}");
    assert_json(fsv_double(1.5), "{\"doubleValue\":1.5}");
    assert_json(fsv_double(2), "{\"doubleValue\":2.0}");
    assert_json(fsv_timestamp("2026-01-02T03:04:05Z"), "{\"timestampValue\":\"2026-01-02T03:04:05Z\"}");
    assert_json(fsv_string("2026-01-02T03:04:05Z"), "{\"stringValue\":\"2026-01-02T03:04:05Z\"}");
    json_t *plain = json_loads("{\"a\":[1,\"x\",true,null],\"b\":{\"c\":2.5}}", 0, NULL);
    json_t *v = fsv_from_json(plain);
    assert_json(json_incref(v),
                "{\"mapValue\":{\"fields\":{\"a\":{\"arrayValue\":{\"values\":[{\"integerValue\":\"1\"},"
                "{\"stringValue\":\"x\"},{\"booleanValue\":true},{\"nullValue\":null}]}},"
                "\"b\":{\"mapValue\":{\"fields\":{\"c\":{\"doubleValue\":2.5}}}}}}}");
    json_t *back = fsv_to_json(v);
    assert_true(json_equal(back, plain));
    json_decref(back);
    json_decref(v);
    json_decref(plain);
}

static void timestamps_normalise_to_utc(void **state)
{
    (void)state;
    char out[48];
    struct { const char *in, *want; } ok[] = {
        { "2026-01-02", "2026-01-02T00:00:00Z" },
        { "2026-01-02T03:04:05", "2026-01-02T03:04:05Z" },
        { "2026-01-02 03:04:05.123456", "2026-01-02T03:04:05.123456Z" },
        { "2026-01-02T03:04:05.5Z", "2026-01-02T03:04:05.5Z" },
        { "2026-01-01T01:30:00+02:00", "2025-12-31T23:30:00Z" },
        { "2026-01-02T03:04:05-0130", "2026-01-02T04:34:05Z" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(fsv_timestamp_normalize(ok[i].in, out, sizeof out), 0);
        assert_string_equal(out, ok[i].want);
    }
    const char *bad[] = { "", "2026", "2026-13-01", "2026-01-02T25:00", "2026-01-02X", "2026-01-02T03:04:05." };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(fsv_timestamp_normalize(bad[i], out, sizeof out), -1);
}

static void field_paths(void **state)
{
    (void)state;
    char buf[256], *segs[8];
    assert_int_equal(fsv_path_split("a.`b.c`.d", buf, sizeof buf, segs, 8), 3);
    assert_string_equal(segs[1], "b.c");
    assert_int_equal(fsv_path_split("a..b", buf, sizeof buf, segs, 8), -1);
    assert_int_equal(fsv_path_split("a.", buf, sizeof buf, segs, 8), -1);
    assert_int_equal(fsv_path_split("`a", buf, sizeof buf, segs, 8), -1);
    char path[128] = "metadata";
    fsv_path_append(path, sizeof path, "rows");
    fsv_path_append(path, sizeof path, "42");
    assert_string_equal(path, "metadata.rows.`42`");
    char q[32] = "";
    assert_int_equal(fsv_path_append(q, sizeof q, "a`b\\c"), 0);
    assert_string_equal(q, "`a\\`b\\\\c`");
    assert_int_equal(fsv_path_split(q, buf, sizeof buf, segs, 8), 1);
    assert_string_equal(segs[0], "a`b\\c");
    char small[8] = "ab";
    assert_int_equal(fsv_path_append(small, sizeof small, "cdefgh"), -1); /* no room: unchanged */
    assert_string_equal(small, "ab");
    assert_int_equal(fsv_path_append(small, sizeof small, "cdef"), 0);
    assert_string_equal(small, "ab.cdef");
    assert_int_equal(fsv_path_append(small, sizeof small, "x"), -1);
    assert_string_equal(small, "ab.cdef");

    json_t *fields = json_object();
    assert_int_equal(fsv_set(fields, "profile.address.street", fsv_string("Túngata")), 0);
    assert_int_equal(fsv_set(fields, path, fsv_integer(1)), 0);
    assert_string_equal(fsv_get_string(fsv_get(fields, "profile.address.street")), "Túngata");
    int64_t i;
    assert_true(fsv_get_int(fsv_get(fields, path), &i));
    assert_int_equal(i, 1);
    const char *mask[] = { "profile.address.street" };
    assert_json(fsv_map(fsv_subset(fields, mask, 1)),
                "{\"mapValue\":{\"fields\":{\"profile\":{\"mapValue\":{\"fields\":{\"address\":{\"mapValue\":"
                "{\"fields\":{\"street\":{\"stringValue\":\"Túngata\"}}}}}}}}}}");
    fsv_remove(fields, "profile.address.street");
    assert_null(fsv_get(fields, "profile.address.street"));
    json_decref(fields);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_create_with_position),
        cmocka_unit_test(delete_row_is_before),
        cmocka_unit_test(error_classes),
        cmocka_unit_test(source_members_from_text),
        cmocka_unit_test(positions_compare_commit_then_lsn),
        cmocka_unit_test(value_encoding),
        cmocka_unit_test(timestamps_normalise_to_utc),
        cmocka_unit_test(field_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
