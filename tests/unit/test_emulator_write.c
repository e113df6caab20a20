/* test_emulator_write.c - one Write applied to a document state: update masks,
 * preconditions and field transforms (emu_write_apply, pure, no server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tools/firestore-emulator/emu_write.h"

#define DB "projects/p/databases/(default)"
#define DOC DB "/documents/c/d"

static json_t *fields(const char *text)
{
    json_t *in = json_loads(text, 0, NULL), *out;
    emu_status st;
    assert_non_null(in);
    assert_int_equal(emu_fields_decode(in, 1, "f", &out, &st), 0);
    json_decref(in);
    return out;
}

static void expect_fields(const json_t *f, const char *want)
{
    char *got = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *w = fields(want);
    char *ws = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(got, ws);
    free(got);
    free(ws);
    json_decref(w);
}

/* Parses a Write and applies it to cur; returns the emu_write_apply result. */
static int apply(const char *write_json, const emu_docstate *cur, emu_docstate *next, json_t **results, emu_status *st)
{
    json_t *wj = json_loads(write_json, 0, NULL);
    assert_non_null(wj);
    emu_write w;
    int rc = emu_write_parse(wj, DB, &w, st);
    json_decref(wj);
    if (rc == 0)
        rc = emu_write_apply(&w, cur, 1000000, next, results, st);
    emu_write_clear(&w);
    return rc;
}

static emu_docstate existing(json_t *f)
{
    return (emu_docstate){ .exists = true, .fields = f, .create_us = 10, .update_us = 20 };
}

static void test_update_without_mask_replaces(void **state)
{
    (void)state;
    json_t *old = fields("{\"a\":{\"integerValue\":\"1\"},\"b\":{\"stringValue\":\"x\"}}");
    emu_docstate cur = existing(old), next;
    emu_status st;
    assert_int_equal(apply("{\"update\":{\"name\":\"" DOC "\",\"fields\":{\"c\":{\"booleanValue\":true}}}}", &cur, &next,
                           NULL, &st),
                     0);
    expect_fields(next.fields, "{\"c\":{\"booleanValue\":true}}");
    assert_int_equal(next.create_us, 10);
    assert_int_equal(next.update_us, 1000000);
    json_decref(next.fields);
    free(next.text);
    json_decref(old);
}

static void test_update_mask_sets_and_deletes(void **state)
{
    (void)state;
    json_t *old = fields("{\"a\":{\"integerValue\":\"1\"},\"keep\":{\"stringValue\":\"portal\"},"
                         "\"m\":{\"mapValue\":{\"fields\":{\"x\":{\"integerValue\":\"1\"},\"y\":{\"integerValue\":\"2\"}}}}}");
    emu_docstate cur = existing(old), next;
    emu_status st;
    /* a: deleted (masked, absent); m.x: set; m.y: deleted; `q.r`: a quoted name; ignored: outside the mask */
    assert_int_equal(apply("{\"update\":{\"name\":\"" DOC "\",\"fields\":{\"m\":{\"mapValue\":{\"fields\":{\"x\":"
                           "{\"integerValue\":\"9\"}}}},\"q.r\":{\"nullValue\":null},\"ignored\":{\"nullValue\":null}}},"
                           "\"updateMask\":{\"fieldPaths\":[\"a\",\"m.x\",\"m.y\",\"`q.r`\"]}}",
                           &cur, &next, NULL, &st),
                     0);
    expect_fields(next.fields, "{\"keep\":{\"stringValue\":\"portal\"},\"q.r\":{\"nullValue\":null},"
                               "\"m\":{\"mapValue\":{\"fields\":{\"x\":{\"integerValue\":\"9\"}}}}}");
    json_decref(next.fields);
    free(next.text);
    /* the stored fields were not touched */
    expect_fields(old, "{\"a\":{\"integerValue\":\"1\"},\"keep\":{\"stringValue\":\"portal\"},"
                       "\"m\":{\"mapValue\":{\"fields\":{\"x\":{\"integerValue\":\"1\"},\"y\":{\"integerValue\":\"2\"}}}}}");
    json_decref(old);
}

static void test_mask_on_missing_document_creates_it(void **state)
{
    (void)state;
    emu_docstate cur = { 0 }, next;
    emu_status st;
    assert_int_equal(apply("{\"update\":{\"name\":\"" DOC "\",\"fields\":{\"a\":{\"integerValue\":\"1\"}}},"
                           "\"updateMask\":{\"fieldPaths\":[\"a\",\"b.c\"]}}",
                           &cur, &next, NULL, &st),
                     0);
    expect_fields(next.fields, "{\"a\":{\"integerValue\":\"1\"}}");
    assert_int_equal(next.create_us, 1000000);
    json_decref(next.fields);
    free(next.text);
}

static void test_unchanged_write_keeps_update_time(void **state)
{
    (void)state;
    json_t *old = fields("{\"a\":{\"integerValue\":\"1\"}}");
    emu_docstate cur = existing(old), next;
    emu_status st;
    assert_int_equal(apply("{\"update\":{\"name\":\"" DOC "\",\"fields\":{\"a\":{\"integerValue\":1}}}}", &cur, &next, NULL,
                           &st),
                     0);
    assert_int_equal(next.update_us, 20);
    json_decref(next.fields);
    free(next.text);
    json_decref(old);
}

static void expect_precondition(const char *write_json, const emu_docstate *cur, emu_code code, const char *msg)
{
    emu_docstate next;
    emu_status st;
    assert_int_equal(apply(write_json, cur, &next, NULL, &st), -1);
    assert_int_equal(st.code, code);
    if (!strstr(st.msg, msg))
        fail_msg("message \"%s\" lacks \"%s\"", st.msg, msg);
}

static void test_preconditions(void **state)
{
    (void)state;
    json_t *old = fields("{}");
    emu_docstate present = existing(old), missing = { 0 }, next;
    emu_status st;
    expect_precondition("{\"update\":{\"name\":\"" DOC "\"},\"currentDocument\":{\"exists\":false}}", &present,
                        EMU_ALREADY_EXISTS, "Document already exists: " DOC);
    expect_precondition("{\"update\":{\"name\":\"" DOC "\"},\"currentDocument\":{\"exists\":true}}", &missing,
                        EMU_NOT_FOUND, "No document to update: " DOC);
    expect_precondition("{\"delete\":\"" DOC "\",\"currentDocument\":{\"exists\":true}}", &missing, EMU_NOT_FOUND,
                        "No document to update");
    expect_precondition("{\"update\":{\"name\":\"" DOC "\"},\"currentDocument\":{\"updateTime\":\"1970-01-01T00:00:00.000021Z\"}}",
                        &present, EMU_FAILED_PRECONDITION, "the stored version (20) does not match the required base version (21)");
    expect_precondition("{\"update\":{\"name\":\"" DOC "\"},\"currentDocument\":{\"updateTime\":\"1970-01-01T00:00:00.000020Z\"}}",
                        &missing, EMU_FAILED_PRECONDITION, "the stored version (0) does not match the required base version (20)");
    assert_int_equal(apply("{\"update\":{\"name\":\"" DOC "\"},\"currentDocument\":{\"updateTime\":"
                           "\"1970-01-01T00:00:00.000020Z\"}}",
                           &present, &next, NULL, &st),
                     0);
    json_decref(next.fields);
    free(next.text);
    assert_int_equal(apply("{\"delete\":\"" DOC "\"}", &missing, &next, NULL, &st), 0); /* deleting nothing is fine */
    assert_false(next.exists);
    json_decref(old);
}

static void test_transforms(void **state)
{
    (void)state;
    json_t *old = fields("{\"n\":{\"integerValue\":\"9223372036854775800\"},\"d\":{\"doubleValue\":1.5},"
                         "\"s\":{\"stringValue\":\"x\"},\"arr\":{\"arrayValue\":{\"values\":[{\"integerValue\":\"1\"},"
                         "{\"stringValue\":\"a\"},{\"integerValue\":\"1\"}]}},\"mx\":{\"integerValue\":\"3\"}}");
    emu_docstate cur = existing(old), next;
    emu_status st;
    json_t *res;
    assert_int_equal(
        apply("{\"transform\":{\"document\":\"" DOC "\",\"fieldTransforms\":["
              "{\"fieldPath\":\"n\",\"increment\":{\"integerValue\":\"100\"}},"
              "{\"fieldPath\":\"d\",\"increment\":{\"integerValue\":\"1\"}},"
              "{\"fieldPath\":\"s\",\"increment\":{\"integerValue\":\"5\"}},"
              "{\"fieldPath\":\"arr\",\"removeAllFromArray\":{\"values\":[{\"doubleValue\":1.0}]}},"
              "{\"fieldPath\":\"new\",\"appendMissingElements\":{\"values\":[{\"stringValue\":\"z\"},{\"stringValue\":\"z\"}]}},"
              "{\"fieldPath\":\"mx\",\"maximum\":{\"doubleValue\":3.0}},"
              "{\"fieldPath\":\"mn\",\"minimum\":{\"integerValue\":\"-2\"}},"
              "{\"fieldPath\":\"t.at\",\"setToServerValue\":\"REQUEST_TIME\"}]}}",
              &cur, &next, &res, &st),
        0);
    expect_fields(next.fields,
                  "{\"n\":{\"integerValue\":\"9223372036854775807\"},\"d\":{\"doubleValue\":2.5},"
                  "\"s\":{\"integerValue\":\"5\"},\"arr\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"}]}},"
                  "\"new\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"z\"}]}},\"mx\":{\"integerValue\":\"3\"},"
                  "\"mn\":{\"integerValue\":\"-2\"},"
                  "\"t\":{\"mapValue\":{\"fields\":{\"at\":{\"timestampValue\":\"1970-01-01T00:00:01Z\"}}}}}");
    char *r = json_dumps(res, JSON_COMPACT);
    assert_string_equal(r, "[{\"integerValue\":\"9223372036854775807\"},{\"doubleValue\":2.5},{\"integerValue\":\"5\"},"
                           "{\"nullValue\":null},{\"nullValue\":null},{\"integerValue\":\"3\"},{\"integerValue\":\"-2\"},"
                           "{\"timestampValue\":\"1970-01-01T00:00:01Z\"}]");
    free(r);
    json_decref(res);
    json_decref(next.fields);
    free(next.text);
    json_decref(old);
}

static void test_invalid_writes(void **state)
{
    (void)state;
    static const struct {
        const char *w, *msg;
    } bad[] = {
        { "{\"update\":{\"name\":\"" DOC "\"},\"delete\":\"" DOC "\"}", "exactly one" },
        { "{\"delete\":\"" DOC "\",\"updateMask\":{\"fieldPaths\":[]}}", "only allowed with update" },
        { "{\"update\":{\"fields\":{}}}", "needs a document name" },
        { "{\"update\":{\"name\":\"projects/x/databases/(default)/documents/c/d\"}}", "is not in database" },
        { "{\"update\":{\"name\":\"" DOC "\",\"bogus\":1}}", "Unknown name \"bogus\"" },
        { "{\"update\":{\"name\":\"" DOC "\"},\"currentDocument\":{\"exists\":true,\"updateTime\":\"2020-01-01T00:00:00Z\"}}",
          "only one of" },
        { "{\"update\":{\"name\":\"" DOC "\"},\"updateTransforms\":[{\"fieldPath\":\"a\",\"increment\":{\"stringValue\":\"1\"}}]}",
          "integer or double" },
        { "{\"update\":{\"name\":\"" DOC "\"},\"updateTransforms\":[{\"fieldPath\":\"a\",\"setToServerValue\":\"NOW\"}]}",
          "REQUEST_TIME" },
        { "{\"update\":{\"name\":\"" DOC "\"},\"updateTransforms\":[{\"fieldPath\":\"a\",\"increment\":{\"integerValue\":1}},"
          "{\"fieldPath\":\"a.b\",\"increment\":{\"integerValue\":1}}]}",
          "only once" },
        { "{\"update\":{\"name\":\"" DOC "\"},\"updateMask\":{\"fieldPaths\":[\"a..b\"]}}", "Invalid field path" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        emu_docstate cur = { 0 }, next;
        emu_status st;
        if (apply(bad[i].w, &cur, &next, NULL, &st) == 0)
            fail_msg("accepted: %s", bad[i].w);
        assert_int_equal(st.code, EMU_INVALID_ARGUMENT);
        if (!strstr(st.msg, bad[i].msg))
            fail_msg("message \"%s\" lacks \"%s\"", st.msg, bad[i].msg);
    }
}

static void test_document_size_limit(void **state)
{
    (void)state;
    size_t n = 1048576;
    char *big = malloc(n + 200);
    memset(big, 'x', n);
    big[n] = '\0';
    json_t *w = json_pack("{s:{s:s,s:{s:{s:s}}}}", "update", "name", DOC, "fields", "s", "stringValue", big);
    free(big);
    emu_write wr;
    emu_status st;
    assert_int_equal(emu_write_parse(w, DB, &wr, &st), 0);
    emu_docstate cur = { 0 }, next;
    assert_int_equal(emu_write_apply(&wr, &cur, 1, &next, NULL, &st), -1);
    assert_int_equal(st.code, EMU_INVALID_ARGUMENT);
    assert_non_null(strstr(st.msg, "exceeds the maximum allowed size of 1,048,576 bytes"));
    emu_write_clear(&wr);
    json_decref(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_without_mask_replaces), cmocka_unit_test(test_update_mask_sets_and_deletes),
        cmocka_unit_test(test_mask_on_missing_document_creates_it), cmocka_unit_test(test_unchanged_write_keeps_update_time),
        cmocka_unit_test(test_preconditions),                cmocka_unit_test(test_transforms),
        cmocka_unit_test(test_invalid_writes),               cmocka_unit_test(test_document_size_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
