/* test_emulator_write.c - one Write applied to a document state: update masks,
 * preconditions and field transforms (emu_write_apply, pure, no server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/empty_maps.h"
#include "tools/firestore-emulator/emu_store.h"
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

/* The fields a write produced: its tree when it made one, else its text (always set). */
static void expect_next(const emu_docstate *next, const char *want)
{
    assert_non_null(next->text);
    json_t *t = json_loads(next->text, 0, NULL);
    assert_non_null(t);
    expect_fields(t, want);
    json_decref(t);
    if (next->fields)
        expect_fields(next->fields, want);
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
    expect_next(&next, "{\"c\":{\"booleanValue\":true}}");
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
    expect_next(&next, "{\"keep\":{\"stringValue\":\"portal\"},\"q.r\":{\"nullValue\":null},"
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
    expect_next(&next, "{\"a\":{\"integerValue\":\"1\"}}");
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
    expect_next(&next,
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


/* ---------- writes applied to stored text (the store's form) ---------- */

/* Two outcomes of one write, compared and freed by the equivalence checks below. */
static void expect_same_times(const emu_docstate *a, const emu_docstate *b)
{
    assert_int_equal(a->create_us, b->create_us);
    assert_int_equal(a->update_us, b->update_us);
    assert_int_equal(a->unchanged, b->unchanged);
}

static void free_pair(emu_docstate *a, emu_docstate *b, json_t *ra, json_t *rb)
{
    json_decref(a->fields);
    json_decref(b->fields);
    free(a->text);
    free(b->text);
    json_decref(ra);
    json_decref(rb);
}

/* Applies write_json to old given as a tree and as stored text, and checks that
 * both give the same result: status, fields, update time, transform results. */
static void expect_text_like_tree(const char *old_json, const char *write_json)
{
    json_t *old = old_json ? fields(old_json) : NULL;
    char *text = old ? emu_fields_text(old) : NULL;
    emu_docstate tree_cur = old ? existing(old) : (emu_docstate){ 0 };
    emu_docstate text_cur = old ? (emu_docstate){ .exists = true, .text = text, .create_us = 10, .update_us = 20 }
                                : (emu_docstate){ 0 };
    emu_docstate a, b;
    json_t *ra = NULL, *rb = NULL;
    emu_status sa, sb;
    int rca = apply(write_json, &tree_cur, &a, &ra, &sa), rcb = apply(write_json, &text_cur, &b, &rb, &sb);
    if (rca != rcb)
        fail_msg("tree rc %d, text rc %d for %s", rca, rcb, write_json);
    if (rca == 0) {
        assert_int_equal(a.exists, b.exists);
        if (a.exists) {
            json_t *ta = json_loads(a.text, 0, NULL), *tb = json_loads(b.text, 0, NULL);
            th_empty_maps(ta);
            th_empty_maps(tb);
            if (!ta || !tb || !json_equal(ta, tb))
                fail_msg("tree %s, text %s for %s", a.text, b.text, write_json);
            json_decref(ta);
            json_decref(tb);
        }
        expect_same_times(&a, &b);
        assert_true(ra == rb || json_equal(ra, rb));
    } else {
        assert_int_equal(sa.code, sb.code);
        assert_string_equal(sa.msg, sb.msg);
    }
    free_pair(&a, &b, ra, rb);
    free(text);
    json_decref(old);
}

#define MEMBER                                                                                                         \
    "{\"name\":{\"stringValue\":\"Jón\"},\"email\":{\"stringValue\":\"j@example.invalid\"},"                        \
    "\"n\":{\"integerValue\":\"5\"},\"tags\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"}]}},"              \
    "\"address\":{\"mapValue\":{\"fields\":{\"street\":{\"stringValue\":\"S 1\"},\"postal\":{\"stringValue\":\"101\"}}}},"  \
    "\"metadata\":{\"mapValue\":{\"fields\":{\"synced_at\":{\"timestampValue\":\"2026-01-01T00:00:00Z\"},"           \
    "\"lsn\":{\"integerValue\":\"16\"}}}}}"
#define DEEP                                                                                                           \
    "{\"m\":{\"mapValue\":{\"fields\":{\"s\":{\"stringValue\":\"v\"},\"sync\":{\"mapValue\":{\"fields\":{\"t\":{\"mapValue\":"     \
    "{\"fields\":{\"lsn\":{\"integerValue\":\"8\"},\"commit\":{\"integerValue\":\"7\"}}}}}}},\"e\":{\"mapValue\":{\"fields\":"     \
    "{\"a\\nb\":{\"integerValue\":\"1\"},\"k\":{\"integerValue\":\"1\"}}}},\"other\":{\"booleanValue\":true}}}},"                   \
    "\"p\":{\"integerValue\":\"1\"}}"
#define UPD(fields, rest) "{\"update\":{\"name\":\"" DOC "\",\"fields\":" fields "}," rest "}"

static void test_text_writes_match_tree_writes(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        /* the consumer's write: masked update, synced_at by the server, a precondition */
        { MEMBER, UPD("{\"name\":{\"stringValue\":\"Jóna\"},\"metadata\":{\"mapValue\":{\"fields\":{\"lsn\":{\"integerValue\":\"17\"}}}}}",
                      "\"updateMask\":{\"fieldPaths\":[\"name\",\"email\",\"metadata.lsn\"]},"
                      "\"updateTransforms\":[{\"fieldPath\":\"metadata.synced_at\",\"setToServerValue\":\"REQUEST_TIME\"}],"
                      "\"currentDocument\":{\"updateTime\":\"1970-01-01T00:00:00.000020Z\"}") },
        { MEMBER, UPD("{}", "\"updateMask\":{\"fieldPaths\":[\"name\"]},\"currentDocument\":{\"exists\":true}") },
        { NULL, UPD("{}", "\"updateMask\":{\"fieldPaths\":[\"name\"]},\"currentDocument\":{\"exists\":true}") },
        { MEMBER, UPD("{}", "\"updateMask\":{\"fieldPaths\":[\"name\"]},\"currentDocument\":{\"updateTime\":\"1970-01-01T00:00:00.000021Z\"}") },
        /* the same values again (nested map keys in another order): unchanged */
        { MEMBER, UPD("{\"address\":{\"mapValue\":{\"fields\":{\"postal\":{\"stringValue\":\"101\"},\"street\":{\"stringValue\":\"S 1\"}}}},"
                      "\"n\":{\"integerValue\":5},\"name\":{\"stringValue\":\"Jón\"}}",
                      "\"updateMask\":{\"fieldPaths\":[\"address\",\"n\",\"name\",\"absent.x\"]}") },
        /* nested set, nested delete, delete, a path through a non-map, new fields */
        { MEMBER, UPD("{\"address\":{\"mapValue\":{\"fields\":{\"city\":{\"stringValue\":\"R\"}}}},\"name\":{\"mapValue\":{\"fields\":{\"first\":{\"stringValue\":\"J\"}}}},"
                      "\"new\":{\"booleanValue\":false},\"q\\\"uote\":{\"nullValue\":null}}",
                      "\"updateMask\":{\"fieldPaths\":[\"address.city\",\"address.postal\",\"email\",\"name.first\",\"new\",\"n.deep\",\"`q\\\"uote`\"]}") },
        { MEMBER, UPD("{\"tags\":{\"nullValue\":null}}", "\"updateMask\":{\"fieldPaths\":[\"tags\",\"tags.x\",\"metadata\"]}") },
        { MEMBER, UPD("{}", "\"updateMask\":{\"fieldPaths\":[]}") },
        { "{}", UPD("{\"a\":{\"integerValue\":\"1\"}}", "\"updateMask\":{\"fieldPaths\":[\"a\",\"b.c\"]}") },
        /* down the maps, field by field: three levels deep, a map emptied, a path into a
         * stored non-map and into an absent map, the same values (unchanged), a nested key
         * with an escape (that map as a tree) */
        { DEEP, UPD("{\"m\":{\"mapValue\":{\"fields\":{\"sync\":{\"mapValue\":{\"fields\":{\"t\":{\"mapValue\":{\"fields\":{\"lsn\":{\"integerValue\":\"9\"}}}}}}}}}}}",
                    "\"updateMask\":{\"fieldPaths\":[\"m.sync.t.lsn\",\"m.sync.t.commit\",\"m.other\",\"m.x.y\",\"m.s.z\",\"p.q\"]}") },
        { DEEP, UPD("{}", "\"updateMask\":{\"fieldPaths\":[\"m.sync.t.lsn\",\"m.sync.t.commit\",\"m.sync.u\"]}") },
        { DEEP, UPD("{\"m\":{\"mapValue\":{\"fields\":{\"sync\":{\"mapValue\":{\"fields\":{\"t\":{\"mapValue\":{\"fields\":{\"commit\":{\"integerValue\":\"7\"},\"lsn\":{\"integerValue\":\"8\"}}}}}}},\"s\":{\"stringValue\":\"v\"}}}}}",
                    "\"updateMask\":{\"fieldPaths\":[\"m.sync.t.lsn\",\"m.sync.t.commit\",\"m.s\"]}") },
        { DEEP, UPD("{\"m\":{\"mapValue\":{\"fields\":{\"e\":{\"mapValue\":{\"fields\":{\"k\":{\"integerValue\":\"2\"}}}}}}}}",
                    "\"updateMask\":{\"fieldPaths\":[\"m.e.k\",\"m.sync\"]}") },
        { DEEP, UPD("{\"m\":{\"mapValue\":{\"fields\":{\"sync\":{\"mapValue\":{}}}}}}", "\"updateMask\":{\"fieldPaths\":[\"m.sync.t.lsn\",\"m.sync\"]}") },
        /* transforms that read the stored value, alone and with a mask */
        { MEMBER, UPD("{\"n\":{\"integerValue\":\"1\"}}",
                      "\"updateMask\":{\"fieldPaths\":[\"n\"]},\"updateTransforms\":[{\"fieldPath\":\"n\",\"increment\":{\"integerValue\":\"2\"}},"
                      "{\"fieldPath\":\"tags\",\"appendMissingElements\":{\"values\":[{\"stringValue\":\"a\"},{\"stringValue\":\"b\"}]}},"
                      "{\"fieldPath\":\"address.postal\",\"maximum\":{\"integerValue\":\"3\"}}]") },
        { MEMBER, "{\"transform\":{\"document\":\"" DOC "\",\"fieldTransforms\":[{\"fieldPath\":\"n\",\"minimum\":{\"integerValue\":\"9\"}},"
                  "{\"fieldPath\":\"tags\",\"removeAllFromArray\":{\"values\":[{\"stringValue\":\"x\"}]}}]}}" },
        { NULL, "{\"transform\":{\"document\":\"" DOC "\",\"fieldTransforms\":[{\"fieldPath\":\"m.t\",\"setToServerValue\":\"REQUEST_TIME\"}]}}" },
        /* a stored key with an escape in its text: the tree path, same result */
        { "{\"a\\nb\":{\"integerValue\":\"1\"},\"c\":{\"integerValue\":\"2\"}}",
          UPD("{\"c\":{\"integerValue\":\"3\"}}", "\"updateMask\":{\"fieldPaths\":[\"c\"]}") },
        { MEMBER, "{\"update\":{\"name\":\"" DOC "\",\"fields\":{\"x\":{\"stringValue\":\"1\"}}}}" },
        { MEMBER, "{\"delete\":\"" DOC "\",\"currentDocument\":{\"exists\":true}}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_text_like_tree(cases[i][0], cases[i][1]);
}

/* A masked update of stored text copies every other field byte for byte, nested
 * maps included, and keeps the stored field order. */
static void test_text_update_keeps_other_fields_exactly(void **state)
{
    (void)state;
    const char *stored = "{\"z\":{\"mapValue\":{\"fields\":{\"b\":{\"stringValue\":\"}{\\\\\\\"\"},\"a\":{\"arrayValue\":{\"values\":"
                         "[{\"mapValue\":{}},{\"doubleValue\":1.5}]}}}}},\"k\":{\"integerValue\":\"1\"},"
                         "\"m\":{\"mapValue\":{\"fields\":{\"y\":{\"integerValue\":\"2\"},\"x\":{\"integerValue\":\"1\"}}}},"
                         "\"e\":{\"stringValue\":\"é\"}}";
    char *text = strdup(stored);
    emu_docstate cur = { .exists = true, .text = text, .create_us = 10, .update_us = 20 }, next;
    emu_status st;
    assert_int_equal(apply(UPD("{\"k\":{\"integerValue\":\"7\"},\"m\":{\"mapValue\":{\"fields\":{\"x\":{\"integerValue\":\"3\"}}}}}",
                               "\"updateMask\":{\"fieldPaths\":[\"k\",\"m.x\",\"new\"]}"),
                           &cur, &next, NULL, &st),
                     0);
    assert_null(next.fields);
    assert_string_equal(next.text,
                        "{\"z\":{\"mapValue\":{\"fields\":{\"b\":{\"stringValue\":\"}{\\\\\\\"\"},\"a\":{\"arrayValue\":{\"values\":"
                        "[{\"mapValue\":{}},{\"doubleValue\":1.5}]}}}}},\"k\":{\"integerValue\":\"7\"},"
                        "\"m\":{\"mapValue\":{\"fields\":{\"y\":{\"integerValue\":\"2\"},\"x\":{\"integerValue\":\"3\"}}}},"
                        "\"e\":{\"stringValue\":\"é\"}}");
    assert_false(next.unchanged);
    assert_int_equal(next.update_us, 1000000);
    assert_int_equal(next.create_us, 10);
    free(next.text);
    free(text);
}

static void test_text_fields_split(void **state)
{
    (void)state;
    emu_text_field *f;
    assert_int_equal(emu_text_fields("{}", &f), 0);
    free(f);
    const char *t = "{\"a\":{\"stringValue\":\"x\\\"}\"},\"bb\":{\"arrayValue\":{\"values\":[{\"mapValue\":{}}]}}}";
    assert_int_equal(emu_text_fields(t, &f), 2);
    assert_int_equal(f[0].klen, 1);
    assert_memory_equal(f[0].val, "{\"stringValue\":\"x\\\"}\"}", f[0].vlen);
    assert_int_equal(f[1].klen, 2);
    assert_memory_equal(f[1].val, "{\"arrayValue\":{\"values\":[{\"mapValue\":{}}]}}", f[1].vlen);
    assert_int_equal(emu_text_field_find(f, 2, "bb", 2), 1);
    assert_int_equal(emu_text_field_find(f, 2, "b", 1), -1);
    free(f);
    static const char *const bad[] = { "", "{", "{\"a\":{}", "{\"a\\n\":{}}", "{\"a\":1}", "{\"a\":{}}x", "{\"a\":{\"s\":\"}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(emu_text_fields(bad[i], &f), -1);
        free(f);
    }
}


/* ---------- writes prepared before the commit time is known ---------- */

static void parse_write(const char *write_json, emu_write *w)
{
    json_t *wj = json_loads(write_json, 0, NULL);
    emu_status st;
    assert_non_null(wj);
    assert_int_equal(emu_write_parse(wj, DB, w, &st), 0);
    json_decref(wj);
}

/* Applies write_json to cur at now_us under the lock's way (emu_write_apply) and the
 * prepared way (emu_write_prepare against floor_us, then emu_write_finish at now_us),
 * and checks both give the same: status, text byte for byte, times, results.
 * Returns how many placeholders the prepared write had. */
static int expect_prepared_like_applied(const emu_docstate *cur, const char *write_json, int64_t floor_us, int64_t now_us)
{
    emu_write w;
    parse_write(write_json, &w);
    emu_docstate a, b;
    json_t *ra = NULL, *rb = NULL;
    emu_status sa, sb;
    emu_timeslots slots;
    int rca = emu_write_apply(&w, cur, now_us, &a, &ra, &sa);
    int rcb = emu_write_prepare(&w, cur, floor_us, &b, &rb, &slots, &sb);
    if (rca != rcb)
        fail_msg("applied rc %d, prepared rc %d for %s", rca, rcb, write_json);
    if (rca == 0) {
        emu_write_finish(&w, cur, now_us, &b, rb, &slots);
        assert_int_equal(a.exists, b.exists);
        if (a.exists)
            assert_string_equal(a.text, b.text);
        if (slots.n > 0)
            assert_null(b.fields); /* the tree held placeholders */
        expect_same_times(&a, &b);
        if (!(ra == rb || json_equal(ra, rb))) {
            char *x = json_dumps(ra, JSON_COMPACT), *y = json_dumps(rb, JSON_COMPACT);
            fail_msg("applied results %s, prepared %s for %s", x, y, write_json);
        }
    } else {
        assert_int_equal(sa.code, sb.code);
        assert_string_equal(sa.msg, sb.msg);
    }
    free_pair(&a, &b, ra, rb);
    int n = rca == 0 ? slots.n : 0;
    emu_timeslots_free(&slots);
    emu_write_clear(&w);
    return n;
}

static void test_prepared_request_time_like_applied(void **state)
{
    (void)state;
    static const char *const writes[] = {
        /* the consumer's write */
        UPD("{\"name\":{\"stringValue\":\"Jóna\"},\"metadata\":{\"mapValue\":{\"fields\":{\"lsn\":{\"integerValue\":\"17\"}}}}}",
            "\"updateMask\":{\"fieldPaths\":[\"name\",\"email\",\"metadata.lsn\",\"metadata.synced_at\"]},"
            "\"updateTransforms\":[{\"fieldPath\":\"metadata.synced_at\",\"setToServerValue\":\"REQUEST_TIME\"}],"
            "\"currentDocument\":{\"updateTime\":\"1970-01-01T00:00:00.000020Z\"}"),
        /* the same with a stale version, and a create on an existing document */
        UPD("{}", "\"updateMask\":{\"fieldPaths\":[\"name\"]},\"updateTransforms\":[{\"fieldPath\":\"metadata.synced_at\","
                  "\"setToServerValue\":\"REQUEST_TIME\"}],\"currentDocument\":{\"updateTime\":\"1970-01-01T00:00:00.000021Z\"}"),
        UPD("{}", "\"updateMask\":{\"fieldPaths\":[\"name\"]},\"updateTransforms\":[{\"fieldPath\":\"t\","
                  "\"setToServerValue\":\"REQUEST_TIME\"}],\"currentDocument\":{\"exists\":false}"),
        /* several server times, top level and nested, with other transforms between */
        UPD("{\"n\":{\"integerValue\":\"1\"}}",
            "\"updateMask\":{\"fieldPaths\":[\"n\"]},\"updateTransforms\":[{\"fieldPath\":\"t1\",\"setToServerValue\":\"REQUEST_TIME\"},"
            "{\"fieldPath\":\"n\",\"increment\":{\"integerValue\":\"2\"}},{\"fieldPath\":\"address.at\",\"setToServerValue\":1},"
            "{\"fieldPath\":\"tags\",\"appendMissingElements\":{\"values\":[{\"stringValue\":\"b\"}]}},"
            "{\"fieldPath\":\"name\",\"setToServerValue\":\"REQUEST_TIME\"}]"),
        /* without a mask (the whole document is replaced), and as a transform write */
        UPD("{\"x\":{\"stringValue\":\"1\"},\"m\":{\"mapValue\":{\"fields\":{\"y\":{\"nullValue\":null}}}}}",
            "\"updateTransforms\":[{\"fieldPath\":\"m.t\",\"setToServerValue\":\"REQUEST_TIME\"}]"),
        "{\"transform\":{\"document\":\"" DOC "\",\"fieldTransforms\":[{\"fieldPath\":\"metadata.synced_at\",\"setToServerValue\":\"REQUEST_TIME\"}]}}",
        /* a placeholder's text in a string stays a string */
        UPD("{\"s\":{\"stringValue\":\"\\\"timestampValue\\\":\\\"~~~~-~~-~~T~~:~~:~~.~~~~~~Z\\\"\"}}",
            "\"updateMask\":{\"fieldPaths\":[\"s\"]},\"updateTransforms\":[{\"fieldPath\":\"t\",\"setToServerValue\":\"REQUEST_TIME\"}]"),
        /* no server time: as before */
        UPD("{\"n\":{\"integerValue\":\"5\"}}", "\"updateMask\":{\"fieldPaths\":[\"n\"]}"),
        "{\"delete\":\"" DOC "\",\"currentDocument\":{\"exists\":true}}",
    };
    /* commit times whose text has 6, 3 and no fraction digits */
    static const int64_t times[] = { 1795793434712468, 1795793434712000, 1795793434000000 };
    json_t *member = fields(MEMBER);
    char *text = emu_fields_text(member);
    emu_docstate curs[] = {
        existing(member),
        { .exists = true, .text = text, .create_us = 10, .update_us = 20 },
        { 0 },
    };
    /* placeholders per write, on an existing document and on none (the rest fail or have no server time) */
    static const int want[][9] = { { 1, 0, 0, 3, 1, 1, 1, 0, 0 }, { 0, 0, 1, 3, 1, 1, 1, 0, 0 } };
    for (size_t c = 0; c < sizeof curs / sizeof curs[0]; c++)
        for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
            for (size_t t = 0; t < sizeof times / sizeof times[0]; t++)
                assert_int_equal(expect_prepared_like_applied(&curs[c], writes[i], 1767225600000000, times[t]),
                                 want[c == 2][i]);
    free(text);
    json_decref(member);
}

/* A REQUEST_TIME field that holds a timestamp later than every commit so far might
 * be set to the value it has (then the write changes nothing and keeps its
 * updateTime): such a write is not prepared. */
static void test_prepare_defers_when_time_may_match(void **state)
{
    (void)state;
    const char *stored = "{\"t\":{\"timestampValue\":\"2026-11-25T15:30:34.712468Z\"},\"n\":{\"integerValue\":\"1\"}}";
    int64_t t_us;
    assert_int_equal(emu_time_parse("2026-11-25T15:30:34.712468Z", &t_us), 0);
    emu_write masked, whole;
    parse_write(UPD("{}", "\"updateMask\":{\"fieldPaths\":[]},\"updateTransforms\":[{\"fieldPath\":\"t\",\"setToServerValue\":\"REQUEST_TIME\"}]"),
                &masked);
    parse_write(UPD("{\"n\":{\"integerValue\":\"1\"}}", "\"updateTransforms\":[{\"fieldPath\":\"t\",\"setToServerValue\":\"REQUEST_TIME\"}]"),
                &whole);
    json_t *tree = fields(stored);
    char *text = strdup(stored);
    emu_docstate curs[] = { { .exists = true, .text = text, .create_us = 10, .update_us = 20 }, existing(tree) };
    const emu_write *ws[] = { &masked, &whole };
    for (size_t c = 0; c < 2; c++) {
        for (size_t i = 0; i < 2; i++) {
            emu_docstate next;
            json_t *res;
            emu_status st;
            emu_timeslots slots;
            /* the stored time is later than the floor: the commit time might be it */
            assert_int_equal(emu_write_prepare(ws[i], &curs[c], t_us - 1, &next, &res, &slots, &st), 1);
            assert_null(next.text);
            assert_null(res);
            assert_int_equal(slots.n, 0);
            /* and indeed, at that time the write is no change */
            assert_int_equal(emu_write_apply(ws[i], &curs[c], t_us, &next, &res, &st), 0);
            assert_true(next.unchanged);
            assert_int_equal(next.update_us, 20);
            json_decref(next.fields);
            free(next.text);
            json_decref(res);
            /* not later than the floor: prepared, and a change */
            assert_int_equal(emu_write_prepare(ws[i], &curs[c], t_us, &next, &res, &slots, &st), 0);
            assert_int_equal(slots.n, 1);
            assert_false(next.unchanged);
            emu_write_finish(ws[i], &curs[c], t_us + 1, &next, res, &slots);
            assert_int_equal(next.update_us, t_us + 1);
            json_decref(next.fields);
            free(next.text);
            json_decref(res);
            emu_timeslots_free(&slots);
        }
    }
    free(text);
    json_decref(tree);
    emu_write_clear(&masked);
    emu_write_clear(&whole);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_without_mask_replaces), cmocka_unit_test(test_update_mask_sets_and_deletes),
        cmocka_unit_test(test_mask_on_missing_document_creates_it), cmocka_unit_test(test_unchanged_write_keeps_update_time),
        cmocka_unit_test(test_preconditions),                cmocka_unit_test(test_transforms),
        cmocka_unit_test(test_invalid_writes),               cmocka_unit_test(test_document_size_limit),
        cmocka_unit_test(test_text_writes_match_tree_writes), cmocka_unit_test(test_text_update_keeps_other_fields_exactly),
        cmocka_unit_test(test_text_fields_split),
        cmocka_unit_test(test_prepared_request_time_like_applied), cmocka_unit_test(test_prepare_defers_when_time_may_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
