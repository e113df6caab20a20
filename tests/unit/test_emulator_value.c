/* test_emulator_value.c - the emulator's Value codec, timestamps, ordering, sizes,
 * field paths and resource names (pure functions, no server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tools/firestore-emulator/emu_path.h"
#include "tools/firestore-emulator/emu_value.h"

/* Decodes text as a Value; returns the canonical JSON text (malloc'd) or NULL with st. */
static char *decode(const char *text, emu_status *st)
{
    json_error_t err;
    json_t *in = json_loads(text, 0, &err), *out;
    assert_non_null(in);
    int rc = emu_value_decode(in, 1, "v", &out, st);
    json_decref(in);
    if (rc != 0)
        return NULL;
    char *s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(out);
    return s;
}

static void expect_canonical(const char *in, const char *want)
{
    emu_status st;
    char *got = decode(in, &st);
    if (!got)
        fail_msg("%s rejected: %s", in, st.msg);
    assert_string_equal(got, want);
    free(got);
}

static void expect_invalid(const char *in, const char *msg_part)
{
    emu_status st;
    char *got = decode(in, &st);
    if (got)
        fail_msg("%s accepted as %s", in, got);
    assert_int_equal(st.code, EMU_INVALID_ARGUMENT);
    if (msg_part && !strstr(st.msg, msg_part))
        fail_msg("message \"%s\" lacks \"%s\"", st.msg, msg_part);
}

static void test_value_kinds_canonical(void **state)
{
    (void)state;
    expect_canonical("{\"nullValue\":null}", "{\"nullValue\":null}");
    expect_canonical("{\"nullValue\":\"NULL_VALUE\"}", "{\"nullValue\":null}");
    expect_canonical("{\"booleanValue\":false}", "{\"booleanValue\":false}");
    expect_canonical("{\"integerValue\":42}", "{\"integerValue\":\"42\"}");
    expect_canonical("{\"integerValue\":\"-9223372036854775808\"}", "{\"integerValue\":\"-9223372036854775808\"}");
    expect_canonical("{\"integerValue\":\"007\"}", "{\"integerValue\":\"7\"}");
    expect_canonical("{\"doubleValue\":1.5}", "{\"doubleValue\":1.5}");
    expect_canonical("{\"doubleValue\":2}", "{\"doubleValue\":2.0}");
    expect_canonical("{\"doubleValue\":\"NaN\"}", "{\"doubleValue\":\"NaN\"}");
    expect_canonical("{\"doubleValue\":\"-Infinity\"}", "{\"doubleValue\":\"-Infinity\"}");
    expect_canonical("{\"timestampValue\":\"2024-01-02T03:04:05+01:00\"}", "{\"timestampValue\":\"2024-01-02T02:04:05Z\"}");
    expect_canonical("{\"timestampValue\":\"2024-01-02T03:04:05.120000000Z\"}",
                     "{\"timestampValue\":\"2024-01-02T03:04:05.120Z\"}");
    expect_canonical("{\"timestampValue\":\"2024-01-02T03:04:05.1234567Z\"}",
                     "{\"timestampValue\":\"2024-01-02T03:04:05.123456Z\"}");
    expect_canonical("{\"stringValue\":\"Þór\"}", "{\"stringValue\":\"Þór\"}");
    expect_canonical("{\"bytesValue\":\"_-8\"}", "{\"bytesValue\":\"/+8=\"}");
    expect_canonical("{\"referenceValue\":\"projects/p/databases/(default)/documents/c/d\"}",
                     "{\"referenceValue\":\"projects/p/databases/(default)/documents/c/d\"}");
    expect_canonical("{\"geoPointValue\":{\"latitude\":64.5,\"longitude\":0}}", "{\"geoPointValue\":{\"latitude\":64.5}}");
    expect_canonical("{\"arrayValue\":{\"values\":[]}}", "{\"arrayValue\":{}}");
    expect_canonical("{\"arrayValue\":{\"values\":[{\"integerValue\":1}]}}",
                     "{\"arrayValue\":{\"values\":[{\"integerValue\":\"1\"}]}}");
    expect_canonical("{\"mapValue\":{\"fields\":{}}}", "{\"mapValue\":{}}");
    expect_canonical("{\"mapValue\":{\"fields\":{\"a\":{\"integerValue\":\"1\"}}}}",
                     "{\"mapValue\":{\"fields\":{\"a\":{\"integerValue\":\"1\"}}}}");
}

static void test_value_invalid(void **state)
{
    (void)state;
    expect_invalid("{}", "exactly one");
    expect_invalid("{\"integerValue\":\"1\",\"stringValue\":\"x\"}", "exactly one");
    expect_invalid("{\"fooValue\":1}", "Unknown name \"fooValue\"");
    expect_invalid("{\"integerValue\":\"9223372036854775808\"}", "integer_value");
    expect_invalid("{\"integerValue\":\"1.5\"}", "integer_value");
    expect_invalid("{\"integerValue\":true}", "integer_value");
    expect_invalid("{\"doubleValue\":\"abc\"}", "double_value");
    expect_invalid("{\"timestampValue\":\"2024-13-01T00:00:00Z\"}", "timestamp_value");
    expect_invalid("{\"timestampValue\":\"2024-02-30T00:00:00Z\"}", "timestamp_value");
    expect_invalid("{\"timestampValue\":\"2024-01-01 00:00:00\"}", "timestamp_value");
    expect_invalid("{\"booleanValue\":\"true\"}", "boolean_value");
    expect_invalid("{\"stringValue\":1}", "string_value");
    expect_invalid("{\"bytesValue\":\"a\"}", "bytes_value");
    expect_invalid("{\"referenceValue\":\"projects/p/databases/d/documents/c\"}", "reference_value");
    expect_invalid("{\"geoPointValue\":{\"latitude\":91}}", "geo_point_value");
    expect_invalid("{\"arrayValue\":{\"values\":[{\"arrayValue\":{}}]}}", "array value directly inside");
    expect_invalid("{\"mapValue\":{\"fields\":{\"__x__\":{\"nullValue\":null}}}}", "reserved");
    expect_invalid("{\"mapValue\":{\"fields\":{\"\":{\"nullValue\":null}}}}", "Invalid field name");
    expect_invalid("{\"mapValue\":{\"other\":{}}}", "map_value");
}

/* A chain of n nested maps around a null. */
static json_t *nested(int n)
{
    json_t *v = emu_value_null();
    for (int i = 0; i < n; i++)
        v = emu_value_map(json_pack("{s:o}", "a", v));
    return v;
}

static void test_value_depth_limit(void **state)
{
    (void)state;
    json_t *out, *ok = nested(EMU_MAX_DEPTH - 1), *deep = nested(EMU_MAX_DEPTH);
    emu_status st;
    assert_int_equal(emu_value_decode(ok, 1, "v", &out, &st), 0);
    json_decref(out);
    assert_int_equal(emu_value_decode(deep, 1, "v", &out, &st), -1);
    assert_int_equal(st.code, EMU_INVALID_ARGUMENT);
    assert_non_null(strstr(st.msg, "deeper than 20"));
    json_decref(ok);
    json_decref(deep);
}

static void test_time_roundtrip(void **state)
{
    (void)state;
    int64_t us;
    char buf[40];
    assert_int_equal(emu_time_parse("1970-01-01T00:00:00Z", &us), 0);
    assert_int_equal(us, 0);
    assert_int_equal(emu_time_parse("0001-01-01T00:00:00Z", &us), 0);
    emu_time_format(us, buf, sizeof buf);
    assert_string_equal(buf, "0001-01-01T00:00:00Z");
    assert_int_equal(emu_time_parse("1969-12-31T23:59:59.999999Z", &us), 0);
    assert_int_equal(us, -1);
    emu_time_format(us, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
    assert_int_equal(emu_time_parse("2024-02-29T12:00:00.5-00:30", &us), 0);
    emu_time_format(us, buf, sizeof buf);
    assert_string_equal(buf, "2024-02-29T12:30:00.500Z");
    assert_int_equal(emu_time_parse("9999-12-31T23:59:59Z", &us), 0);
    assert_int_not_equal(emu_time_parse("9999-12-31T23:59:59-01:00", &us), 0);
    assert_int_not_equal(emu_time_parse("2024-01-01T00:00:00.Z", &us), 0);
    assert_int_not_equal(emu_time_parse("2024-01-01T00:00:00.1234567890Z", &us), 0);
}

static json_t *val(const char *text)
{
    json_t *in = json_loads(text, 0, NULL), *out;
    emu_status st;
    assert_int_equal(emu_value_decode(in, 1, "v", &out, &st), 0);
    json_decref(in);
    return out;
}

static int cmp(const char *a, const char *b)
{
    json_t *x = val(a), *y = val(b);
    int c = emu_value_compare(x, y);
    json_decref(x);
    json_decref(y);
    return c;
}

static void test_value_ordering(void **state)
{
    (void)state;
    /* Firestore's type order */
    const char *order[] = { "{\"nullValue\":null}", "{\"booleanValue\":false}", "{\"booleanValue\":true}",
                            "{\"doubleValue\":\"NaN\"}", "{\"doubleValue\":\"-Infinity\"}", "{\"integerValue\":\"-5\"}",
                            "{\"doubleValue\":1.5}", "{\"integerValue\":\"2\"}",
                            "{\"timestampValue\":\"2020-01-01T00:00:00Z\"}", "{\"stringValue\":\"a\"}",
                            "{\"stringValue\":\"b\"}", "{\"bytesValue\":\"AA==\"}",
                            "{\"referenceValue\":\"projects/p/databases/d/documents/a/b\"}",
                            "{\"geoPointValue\":{\"latitude\":1}}", "{\"arrayValue\":{}}",
                            "{\"arrayValue\":{\"values\":[{\"integerValue\":\"1\"}]}}", "{\"mapValue\":{}}" };
    size_t n = sizeof order / sizeof order[0];
    for (size_t i = 0; i + 1 < n; i++) {
        if (cmp(order[i], order[i + 1]) >= 0)
            fail_msg("%s should sort before %s", order[i], order[i + 1]);
    }
    assert_int_equal(cmp("{\"integerValue\":\"1\"}", "{\"doubleValue\":1.0}"), 0);
    assert_int_equal(cmp("{\"doubleValue\":\"NaN\"}", "{\"doubleValue\":\"NaN\"}"), 0);
    assert_true(cmp("{\"integerValue\":\"9007199254740993\"}", "{\"doubleValue\":9007199254740992.0}") > 0);
}

static void test_sizes(void **state)
{
    (void)state;
    const char *name = "projects/p/databases/(default)/documents/members/abc";
    /* name: "members"(7+1) + "abc"(3+1) + 16 */
    assert_int_equal(emu_doc_name_size(name), 28);
    json_t *fields = json_pack("{s:o,s:o,s:o}", "s", val("{\"stringValue\":\"hello\"}"), "i", val("{\"integerValue\":1}"),
                               "m", val("{\"mapValue\":{\"fields\":{\"b\":{\"booleanValue\":true}}}}"));
    /* s: 2 + 6; i: 2 + 8; m: 2 + (2 + 1) */
    assert_int_equal(emu_fields_size(fields), 8 + 10 + 5);
    assert_int_equal(emu_document_size(name, fields), 28 + 23 + 32);
    json_decref(fields);
}

static void test_fieldpaths(void **state)
{
    (void)state;
    emu_fieldpath fp;
    emu_status st;
    assert_int_equal(emu_fieldpath_parse("a.b.c", &fp, &st), 0);
    assert_int_equal(fp.n, 3);
    assert_string_equal(fp.seg[2], "c");
    emu_fieldpath_free(&fp);
    assert_int_equal(emu_fieldpath_parse("`a.b`.`c\\`d`.e", &fp, &st), 0);
    assert_int_equal(fp.n, 3);
    assert_string_equal(fp.seg[0], "a.b");
    assert_string_equal(fp.seg[1], "c`d");
    emu_fieldpath_free(&fp);
    const char *bad[] = { "", "a.", ".a", "a..b", "`a", "a`b`", "__name__", "a.__x__" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (emu_fieldpath_parse(bad[i], &fp, &st) == 0)
            fail_msg("field path \"%s\" accepted", bad[i]);
        assert_int_equal(st.code, EMU_INVALID_ARGUMENT);
    }
}

static void test_fields_set_copies_on_write(void **state)
{
    (void)state;
    json_t *orig = json_pack("{s:o}", "m", val("{\"mapValue\":{\"fields\":{\"a\":{\"integerValue\":\"1\"}}}}"));
    json_t *copy = json_copy(orig), *two = val("{\"integerValue\":\"2\"}");
    emu_fieldpath fp;
    emu_status st;
    assert_int_equal(emu_fieldpath_parse("m.b", &fp, &st), 0);
    emu_fields_set(copy, &fp, two);
    emu_fieldpath_free(&fp);
    char *o = json_dumps(orig, JSON_COMPACT | JSON_SORT_KEYS), *c = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(o, "{\"m\":{\"mapValue\":{\"fields\":{\"a\":{\"integerValue\":\"1\"}}}}}");
    assert_string_equal(c, "{\"m\":{\"mapValue\":{\"fields\":{\"a\":{\"integerValue\":\"1\"},\"b\":{\"integerValue\":\"2\"}}}}}");
    free(o);
    free(c);
    json_decref(orig);
    json_decref(copy);
    json_decref(two);
}

static void test_names_and_routes(void **state)
{
    (void)state;
    emu_status st;
    emu_route r;
    assert_int_equal(emu_name_check_document("projects/p/databases/(default)/documents/a/b/c/d", NULL, &st), 0);
    assert_int_not_equal(emu_name_check_document("projects/p/databases/(default)/documents/a", NULL, &st), 0);
    assert_int_not_equal(emu_name_check_document("projects/p/databases/(default)/documents/a/..", NULL, &st), 0);
    assert_int_not_equal(emu_name_check_document("projects/p/databases/(default)/documents/a/__x__", NULL, &st), 0);
    assert_int_not_equal(emu_name_check_document("projects/p/databases/(default)/documents/a//b", NULL, &st), 0);
    assert_int_not_equal(emu_name_check_document("projects/q/databases/(default)/documents/a/b",
                                                 "projects/p/databases/(default)", &st), 0);
    assert_true(emu_name_compare("a/b", "a/b/c") < 0);
    assert_true(emu_name_compare("a/b/c", "a/b-c") < 0); /* '/' sorts first */
    assert_int_equal(emu_route_parse("/v1/projects/p/databases/(default)/documents/c/d", &r, &st), 0);
    assert_int_equal(r.kind, EMU_ROUTE_DOCUMENT);
    assert_string_equal(r.database, "projects/p/databases/(default)");
    assert_int_equal(emu_route_parse("/v1/projects/p/databases/(default)/documents/c/d/e", &r, &st), 0);
    assert_int_equal(r.kind, EMU_ROUTE_COLLECTION);
    assert_int_equal(emu_route_parse("/v1/projects/p/databases/(default)/documents:commit", &r, &st), 0);
    assert_int_equal(r.kind, EMU_ROUTE_VERB);
    assert_string_equal(r.verb, "commit");
    assert_int_equal(emu_route_parse("/v1/projects/p/databases/(default)/documents/c/d:runQuery", &r, &st), 0);
    assert_string_equal(r.name, "projects/p/databases/(default)/documents/c/d");
    assert_int_equal(emu_route_parse("/v1/projects/p/databases/(default)/documents/c/a:b", &r, &st), 0);
    assert_int_equal(r.kind, EMU_ROUTE_DOCUMENT); /* ':' inside an id is not a verb */
    assert_int_equal(emu_route_parse("/v2/x", &r, &st), -1);
    assert_int_equal(st.code, EMU_NOT_FOUND);
    assert_int_equal(emu_route_parse("/v1/projects/p/databases/(default)/documents", &r, &st), -1);
    assert_int_equal(emu_route_parse("/v1/projects/p/databases/(default)/documents/c//d", &r, &st), -1);
    assert_int_equal(st.code, EMU_INVALID_ARGUMENT);
}

static void test_codes(void **state)
{
    (void)state;
    static const struct {
        emu_code c;
        int http;
        const char *name;
    } want[] = { { EMU_OK, 200, "OK" },
                 { EMU_CANCELLED, 499, "CANCELLED" },
                 { EMU_UNKNOWN, 500, "UNKNOWN" },
                 { EMU_INVALID_ARGUMENT, 400, "INVALID_ARGUMENT" },
                 { EMU_DEADLINE_EXCEEDED, 504, "DEADLINE_EXCEEDED" },
                 { EMU_NOT_FOUND, 404, "NOT_FOUND" },
                 { EMU_ALREADY_EXISTS, 409, "ALREADY_EXISTS" },
                 { EMU_PERMISSION_DENIED, 403, "PERMISSION_DENIED" },
                 { EMU_RESOURCE_EXHAUSTED, 429, "RESOURCE_EXHAUSTED" },
                 { EMU_FAILED_PRECONDITION, 400, "FAILED_PRECONDITION" },
                 { EMU_ABORTED, 409, "ABORTED" },
                 { EMU_OUT_OF_RANGE, 400, "OUT_OF_RANGE" },
                 { EMU_UNIMPLEMENTED, 501, "UNIMPLEMENTED" },
                 { EMU_INTERNAL, 500, "INTERNAL" },
                 { EMU_UNAVAILABLE, 503, "UNAVAILABLE" },
                 { EMU_DATA_LOSS, 500, "DATA_LOSS" },
                 { EMU_UNAUTHENTICATED, 401, "UNAUTHENTICATED" } };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        emu_code parsed;
        assert_int_equal(emu_code_http(want[i].c), want[i].http);
        assert_string_equal(emu_code_name(want[i].c), want[i].name);
        assert_int_equal(emu_code_parse(want[i].name, &parsed), 0);
        assert_int_equal(parsed, want[i].c);
    }
    emu_code c;
    assert_int_equal(emu_code_parse("NOPE", &c), -1);
    assert_int_equal(emu_code_parse("17", &c), -1);
    emu_status st;
    emu_fail(&st, EMU_ABORTED, "x %d", 1);
    json_t *body = emu_error_body(&st);
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"error\":{\"code\":409,\"message\":\"x 1\",\"status\":\"ABORTED\"}}");
    free(s);
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_kinds_canonical), cmocka_unit_test(test_value_invalid),
        cmocka_unit_test(test_value_depth_limit),     cmocka_unit_test(test_time_roundtrip),
        cmocka_unit_test(test_value_ordering),        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_fieldpaths),            cmocka_unit_test(test_fields_set_copies_on_write),
        cmocka_unit_test(test_names_and_routes),      cmocka_unit_test(test_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
