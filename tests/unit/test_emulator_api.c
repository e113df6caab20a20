/* test_emulator_api.c - every emulator call through emu_api_handle (no sockets):
 * the exact JSON of responses, success and failure, and fault injection. Times
 * the server chooses (createTime, updateTime, readTime, commitTime, transaction
 * ids) are checked for their form and then replaced by "T" before comparing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tools/firestore-emulator/emu_api.h"
#include "tools/firestore-emulator/emu_persist.h"
#include "tools/firestore-emulator/emu_fault.h"

#define DB "projects/p/databases/(default)"
#define V1 "/v1/" DB "/documents"

/* Replaces server-chosen values by "T" after checking they are timestamps/ids. */
static void scrub(json_t *j)
{
    static const char *const times[] = { "createTime", "updateTime", "readTime", "commitTime" };
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) scrub(v);
        return;
    }
    if (!json_is_object(j))
        return;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        bool is_time = false;
        for (size_t i = 0; i < 4; i++)
            is_time |= strcmp(k, times[i]) == 0;
        if (is_time) {
            int64_t us;
            assert_true(json_is_string(v));
            assert_int_equal(emu_time_parse(json_string_value(v), &us), 0);
            json_object_set_new(j, k, json_string("T"));
        } else if (strcmp(k, "transaction") == 0 && json_is_string(v)) {
            json_object_set_new(j, k, json_string("X"));
        } else {
            scrub(v);
        }
    }
}

typedef struct {
    emu_ctx *ctx;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->ctx = emu_ctx_new(7);
    f->ctx->faults = emu_faults_new(7);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    emu_faults_free(f->ctx->faults);
    emu_ctx_free(f->ctx);
    free(f);
    return 0;
}

/* Calls method path?query with body; returns the response JSON (scrubbed) and its
 * HTTP status in *http. query is "k=v&k=v" (no escaping). */
static json_t *call_raw(fixture *f, const char *method, const char *path, const char *query, const char *body, int *http,
                        bool do_scrub)
{
    emu_param params[16];
    size_t n = 0;
    char *q = query ? strdup(query) : NULL, *save = NULL;
    for (char *tok = q ? strtok_r(q, "&", &save) : NULL; tok && n < 16; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        params[n++] = (emu_param){ tok, eq + 1 };
    }
    emu_request rq = { method, path, params, n, body, body ? strlen(body) : 0 };
    emu_response rs;
    emu_api_handle(f->ctx, &rq, &rs);
    free(q);
    *http = rs.http;
    json_t *out = rs.json ? json_incref(rs.json) : json_string(rs.text);
    emu_response_clear(&rs);
    if (do_scrub)
        scrub(out);
    return out;
}

static json_t *call(fixture *f, const char *method, const char *path, const char *query, const char *body, int *http)
{
    return call_raw(f, method, path, query, body, http, true);
}

static void expect_json(json_t *got, const char *want)
{
    json_error_t err;
    json_t *w = json_loads(want, JSON_DECODE_ANY, &err);
    if (!w)
        fail_msg("bad expected JSON: %s: %s", want, err.text);
    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS), *e = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("got  %s\nwant %s", g, e);
    }
    json_decref(w);
    json_decref(got);
}

/* Calls and compares the status and the body. */
static void expect_call(fixture *f, const char *method, const char *path, const char *query, const char *body,
                        int want_http, const char *want)
{
    int http;
    json_t *got = call(f, method, path, query, body, &http);
    if (http != want_http) {
        char *g = json_dumps(got, JSON_COMPACT);
        fail_msg("%s %s: HTTP %d, want %d: %s", method, path, http, want_http, g);
    }
    expect_json(got, want);
}

#define DOC_A DB "/documents/c/a"

static void test_patch_get_delete(void **state)
{
    fixture *f = *state;
    expect_call(f, "PATCH", V1 "/c/a", NULL,
                "{\"fields\":{\"i\":{\"integerValue\":7},\"t\":{\"timestampValue\":\"2024-01-01T01:00:00+01:00\"},"
                "\"n\":{\"nullValue\":\"NULL_VALUE\"},\"m\":{\"mapValue\":{}}}}",
                200,
                "{\"name\":\"" DOC_A "\",\"fields\":{\"i\":{\"integerValue\":\"7\"},"
                "\"t\":{\"timestampValue\":\"2024-01-01T00:00:00Z\"},\"n\":{\"nullValue\":null},\"m\":{\"mapValue\":{}}},"
                "\"createTime\":\"T\",\"updateTime\":\"T\"}");
    expect_call(f, "GET", V1 "/c/a", "mask.fieldPaths=i&mask.fieldPaths=zz", NULL, 200,
                "{\"name\":\"" DOC_A "\",\"fields\":{\"i\":{\"integerValue\":\"7\"}},\"createTime\":\"T\",\"updateTime\":\"T\"}");
    expect_call(f, "PATCH", V1 "/c/a", "updateMask.fieldPaths=i&updateMask.fieldPaths=x.y&mask.fieldPaths=x", 
                "{\"fields\":{\"x\":{\"mapValue\":{\"fields\":{\"y\":{\"booleanValue\":true}}}}}}", 200,
                "{\"name\":\"" DOC_A "\",\"fields\":{\"x\":{\"mapValue\":{\"fields\":{\"y\":{\"booleanValue\":true}}}}},"
                "\"createTime\":\"T\",\"updateTime\":\"T\"}");
    expect_call(f, "GET", V1 "/c/a", NULL, NULL, 200,
                "{\"name\":\"" DOC_A "\",\"fields\":{\"t\":{\"timestampValue\":\"2024-01-01T00:00:00Z\"},"
                "\"n\":{\"nullValue\":null},\"m\":{\"mapValue\":{}},"
                "\"x\":{\"mapValue\":{\"fields\":{\"y\":{\"booleanValue\":true}}}}},\"createTime\":\"T\",\"updateTime\":\"T\"}");
    expect_call(f, "DELETE", V1 "/c/a", NULL, NULL, 200, "{}");
    expect_call(f, "GET", V1 "/c/a", NULL, NULL, 404,
                "{\"error\":{\"code\":404,\"message\":\"Document \\\"" DOC_A "\\\" not found.\",\"status\":\"NOT_FOUND\"}}");
    expect_call(f, "DELETE", V1 "/c/a", "currentDocument.exists=true", NULL, 404,
                "{\"error\":{\"code\":404,\"message\":\"No document to update: " DOC_A "\",\"status\":\"NOT_FOUND\"}}");
    expect_call(f, "DELETE", V1 "/c/a", NULL, NULL, 200, "{}");
}

static void test_preconditions_over_api(void **state)
{
    fixture *f = *state;
    int http;
    json_t *doc = call_raw(f, "PATCH", V1 "/c/a", NULL, "{}", &http, false);
    char q[200];
    snprintf(q, sizeof q, "currentDocument.updateTime=%s", json_string_value(json_object_get(doc, "updateTime")));
    expect_call(f, "PATCH", V1 "/c/a", "currentDocument.exists=false", "{}", 409,
                "{\"error\":{\"code\":409,\"message\":\"Document already exists: " DOC_A "\",\"status\":\"ALREADY_EXISTS\"}}");
    expect_call(f, "PATCH", V1 "/c/b", "currentDocument.exists=true", "{}", 404,
                "{\"error\":{\"code\":404,\"message\":\"No document to update: " DB "/documents/c/b\",\"status\":\"NOT_FOUND\"}}");
    json_t *e = call(f, "PATCH", V1 "/c/a", "currentDocument.updateTime=2000-01-01T00:00:00Z", "{}", &http);
    assert_int_equal(http, 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "status")), "FAILED_PRECONDITION");
    json_decref(e);
    e = call(f, "PATCH", V1 "/c/a", q, "{\"fields\":{\"v\":{\"integerValue\":\"1\"}}}", &http);
    assert_int_equal(http, 200);
    json_decref(e);
    e = call(f, "PATCH", V1 "/c/a", "currentDocument.exists=maybe", "{}", &http);
    assert_int_equal(http, 400);
    json_decref(e);
    json_decref(doc);
}

static void test_create_and_list(void **state)
{
    fixture *f = *state;
    expect_call(f, "POST", V1 "/c", "documentId=x1", "{\"fields\":{\"k\":{\"integerValue\":\"2\"}}}", 200,
                "{\"name\":\"" DB "/documents/c/x1\",\"fields\":{\"k\":{\"integerValue\":\"2\"}},\"createTime\":\"T\","
                "\"updateTime\":\"T\"}");
    expect_call(f, "POST", V1 "/c", "documentId=x1", "{}", 409,
                "{\"error\":{\"code\":409,\"message\":\"Document already exists: " DB "/documents/c/x1\",\"status\":"
                "\"ALREADY_EXISTS\"}}");
    int http;
    json_t *gen = call(f, "POST", V1 "/c", NULL, "{\"fields\":{\"k\":{\"integerValue\":\"1\"}}}", &http);
    assert_int_equal(http, 200);
    const char *id = strrchr(json_string_value(json_object_get(gen, "name")), '/') + 1;
    assert_int_equal(strlen(id), 20);
    json_decref(gen);
    /* a subcollection document under a missing parent, and one deeper */
    json_decref(call(f, "PATCH", V1 "/c/ghost/sub/s1", NULL, "{}", &http));
    json_t *l = call(f, "GET", V1 "/c", "orderBy=k desc&pageSize=1", NULL, &http);
    assert_int_equal(http, 200);
    assert_int_equal(json_array_size(json_object_get(l, "documents")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(l, "documents"), 0), "name")),
                        DB "/documents/c/x1");
    char q[200];
    snprintf(q, sizeof q, "orderBy=k desc&pageSize=1&pageToken=%s", json_string_value(json_object_get(l, "nextPageToken")));
    json_decref(l);
    l = call(f, "GET", V1 "/c", q, NULL, &http);
    assert_int_equal(json_array_size(json_object_get(l, "documents")), 1);
    assert_null(json_object_get(l, "nextPageToken"));
    json_decref(l);
    l = call(f, "GET", V1 "/c", "showMissing=true&mask.fieldPaths=none", NULL, &http);
    json_t *docs = json_object_get(l, "documents");
    assert_int_equal(json_array_size(docs), 3); /* generated, ghost (missing), x1 */
    bool saw_ghost = false;
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        if (strcmp(json_string_value(json_object_get(d, "name")), DB "/documents/c/ghost") == 0) {
            saw_ghost = true;
            assert_int_equal(json_object_size(d), 1); /* only the name */
        }
    }
    assert_true(saw_ghost);
    json_decref(l);
    expect_call(f, "GET", V1 "/empty", NULL, NULL, 200, "{}");
    expect_call(f, "GET", V1 "/c", "pageToken=garbage", NULL, 400,
                "{\"error\":{\"code\":400,\"message\":\"Invalid pageToken.\",\"status\":\"INVALID_ARGUMENT\"}}");
}

static void test_commit_atomic(void **state)
{
    fixture *f = *state;
    expect_call(f, "POST", V1 ":commit", NULL,
                "{\"writes\":[{\"update\":{\"name\":\"" DB "/documents/c/1\",\"fields\":{\"n\":{\"integerValue\":\"1\"}}},"
                "\"updateTransforms\":[{\"fieldPath\":\"n\",\"increment\":{\"integerValue\":\"2\"}}]},"
                "{\"update\":{\"name\":\"" DB "/documents/c/1\",\"fields\":{\"x\":{\"stringValue\":\"y\"}}},"
                "\"updateMask\":{\"fieldPaths\":[\"x\"]}},{\"delete\":\"" DB "/documents/c/none\"}]}",
                200,
                "{\"writeResults\":[{\"updateTime\":\"T\",\"transformResults\":[{\"integerValue\":\"3\"}]},"
                "{\"updateTime\":\"T\"},{}],\"commitTime\":\"T\"}");
    expect_call(f, "GET", V1 "/c/1", NULL, NULL, 200,
                "{\"name\":\"" DB "/documents/c/1\",\"fields\":{\"n\":{\"integerValue\":\"3\"},\"x\":{\"stringValue\":\"y\"}},"
                "\"createTime\":\"T\",\"updateTime\":\"T\"}");
    /* the second write fails: the first must not be applied */
    expect_call(f, "POST", V1 ":commit", NULL,
                "{\"writes\":[{\"update\":{\"name\":\"" DB "/documents/c/2\"}},"
                "{\"update\":{\"name\":\"" DB "/documents/c/1\"},\"currentDocument\":{\"exists\":false}}]}",
                409,
                "{\"error\":{\"code\":409,\"message\":\"Document already exists: " DB "/documents/c/1\",\"status\":"
                "\"ALREADY_EXISTS\"}}");
    expect_call(f, "GET", V1 "/c/2", NULL, NULL, 404,
                "{\"error\":{\"code\":404,\"message\":\"Document \\\"" DB "/documents/c/2\\\" not found.\",\"status\":"
                "\"NOT_FOUND\"}}");
    expect_call(f, "POST", V1 ":commit", NULL, "{}", 200, "{\"commitTime\":\"T\"}");
    expect_call(f, "POST", V1 ":commit", NULL, "{\"writes\":{}}", 400,
                "{\"error\":{\"code\":400,\"message\":\"Invalid value at 'writes': expected a list\",\"status\":"
                "\"INVALID_ARGUMENT\"}}");
}

static void test_batch_write(void **state)
{
    fixture *f = *state;
    json_decref(call(f, "PATCH", V1 "/c/e", NULL, "{}", &(int){ 0 }));
    expect_call(f, "POST", V1 ":batchWrite", NULL,
                "{\"writes\":[{\"update\":{\"name\":\"" DB "/documents/c/n\"}},"
                "{\"update\":{\"name\":\"" DB "/documents/c/e\"},\"currentDocument\":{\"exists\":false}},"
                "{\"delete\":\"" DB "/documents/c/zz\",\"currentDocument\":{\"exists\":true}}],\"labels\":{\"a\":\"b\"}}",
                200,
                "{\"writeResults\":[{\"updateTime\":\"T\"},{},{}],\"status\":[{},"
                "{\"code\":6,\"message\":\"Document already exists: " DB "/documents/c/e\"},"
                "{\"code\":5,\"message\":\"No document to update: " DB "/documents/c/zz\"}]}");
    expect_call(f, "POST", V1 ":batchWrite", NULL,
                "{\"writes\":[{\"delete\":\"" DB "/documents/c/n\"},{\"delete\":\"" DB "/documents/c/n\"}]}", 400,
                "{\"error\":{\"code\":400,\"message\":\"BatchWrite does not allow more than one write per document: " DB
                "/documents/c/n\",\"status\":\"INVALID_ARGUMENT\"}}");
    expect_call(f, "GET", V1 "/c/n", "mask.fieldPaths=q", NULL, 200,
                "{\"name\":\"" DB "/documents/c/n\",\"createTime\":\"T\",\"updateTime\":\"T\"}");
}

static void test_batch_get_and_transactions(void **state)
{
    fixture *f = *state;
    int http;
    json_decref(call(f, "PATCH", V1 "/c/a", NULL, "{\"fields\":{\"v\":{\"integerValue\":\"1\"}}}", &http));
    expect_call(f, "POST", V1 ":batchGet", NULL,
                "{\"documents\":[\"" DOC_A "\",\"" DB "/documents/c/no\"],\"newTransaction\":{\"readWrite\":{}}}", 200,
                "[{\"found\":{\"name\":\"" DOC_A "\",\"fields\":{\"v\":{\"integerValue\":\"1\"}},\"createTime\":\"T\","
                "\"updateTime\":\"T\"},\"transaction\":\"X\",\"readTime\":\"T\"},"
                "{\"missing\":\"" DB "/documents/c/no\",\"readTime\":\"T\"}]");
    /* begin, read, someone else writes, commit -> ABORTED, nothing written */
    json_t *b = call_raw(f, "POST", V1 ":beginTransaction", NULL, "{\"options\":{\"readWrite\":{}}}", &http, false);
    assert_int_equal(http, 200);
    const char *txn = json_string_value(json_object_get(b, "transaction"));
    char body[1024];
    snprintf(body, sizeof body, "{\"documents\":[\"" DOC_A "\"],\"transaction\":\"%s\"}", txn);
    json_decref(call(f, "POST", V1 ":batchGet", NULL, body, &http));
    assert_int_equal(http, 200);
    json_decref(call(f, "PATCH", V1 "/c/a", NULL, "{\"fields\":{\"v\":{\"integerValue\":\"2\"}}}", &http));
    snprintf(body, sizeof body,
             "{\"writes\":[{\"update\":{\"name\":\"" DOC_A "\",\"fields\":{\"v\":{\"integerValue\":\"9\"}}}}],"
             "\"transaction\":\"%s\"}", txn);
    json_t *e = call(f, "POST", V1 ":commit", NULL, body, &http);
    assert_int_equal(http, 409);
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "status")), "ABORTED");
    json_decref(e);
    expect_call(f, "GET", V1 "/c/a", "mask.fieldPaths=v", NULL, 200,
                "{\"name\":\"" DOC_A "\",\"fields\":{\"v\":{\"integerValue\":\"2\"}},\"createTime\":\"T\",\"updateTime\":\"T\"}");
    /* the aborted transaction is gone */
    expect_call(f, "POST", V1 ":commit", NULL, body, 400,
                "{\"error\":{\"code\":400,\"message\":\"The referenced transaction has expired or is no longer valid.\","
                "\"status\":\"INVALID_ARGUMENT\"}}");
    json_decref(b);
    /* a clean transaction commits; a read-only one cannot write; rollback */
    b = call_raw(f, "POST", V1 ":beginTransaction", NULL, "{}", &http, false);
    snprintf(body, sizeof body, "{\"transaction\":\"%s\"}", json_string_value(json_object_get(b, "transaction")));
    expect_call(f, "POST", V1 ":rollback", NULL, body, 200, "{}");
    expect_call(f, "POST", V1 ":rollback", NULL, body, 400,
                "{\"error\":{\"code\":400,\"message\":\"The referenced transaction has expired or is no longer valid.\","
                "\"status\":\"INVALID_ARGUMENT\"}}");
    json_decref(b);
    b = call_raw(f, "POST", V1 ":beginTransaction", NULL, "{\"options\":{\"readOnly\":{}}}", &http, false);
    snprintf(body, sizeof body, "{\"writes\":[{\"delete\":\"" DOC_A "\"}],\"transaction\":\"%s\"}",
             json_string_value(json_object_get(b, "transaction")));
    expect_call(f, "POST", V1 ":commit", NULL, body, 400,
                "{\"error\":{\"code\":400,\"message\":\"Cannot modify entities in a read-only transaction.\",\"status\":"
                "\"INVALID_ARGUMENT\"}}");
    json_decref(b);
    b = call_raw(f, "POST", V1 ":beginTransaction", NULL, "{}", &http, false);
    snprintf(body, sizeof body, "{\"writes\":[{\"delete\":\"" DOC_A "\"}],\"transaction\":\"%s\"}",
             json_string_value(json_object_get(b, "transaction")));
    expect_call(f, "POST", V1 ":commit", NULL, body, 200, "{\"writeResults\":[{}],\"commitTime\":\"T\"}");
    json_decref(b);
    expect_call(f, "POST", V1 ":batchGet", NULL, "{\"documents\":[\"bad\"]}", 400,
                "{\"error\":{\"code\":400,\"message\":\"Document name \\\"bad\\\" is not valid.\",\"status\":"
                "\"INVALID_ARGUMENT\"}}");
}

/* Writes collection/<prefix>0.. with the given fields. */
static void seed_docs(fixture *f, const char *collection, const char *prefix, const char *const *rows, int n)
{
    for (int i = 0; i < n; i++) {
        char path[128], body[512];
        snprintf(path, sizeof path, V1 "/%s/%s%d", collection, prefix, i);
        snprintf(body, sizeof body, "{\"fields\":%s}", rows[i]);
        json_decref(call(f, "PATCH", path, NULL, body, &(int){ 0 }));
    }
}

static void seed_people(fixture *f)
{
    const char *rows[] = { "{\"age\":{\"integerValue\":\"30\"},\"town\":{\"stringValue\":\"R\"},\"tags\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"}]}}}",
                           "{\"age\":{\"integerValue\":\"40\"},\"town\":{\"stringValue\":\"A\"}}",
                           "{\"age\":{\"doubleValue\":35.5},\"town\":{\"stringValue\":\"R\"}}",
                           "{\"town\":{\"stringValue\":\"R\"}}" };
    seed_docs(f, "people", "p", rows, 4);
    json_decref(call(f, "PATCH", V1 "/people/p0/pets/x", NULL, "{\"fields\":{\"age\":{\"integerValue\":\"1\"}}}", &(int){ 0 }));
}

/* Runs a structuredQuery and returns the ids of the documents in order, "a,b". */
static char *query_ids(fixture *f, const char *parent_path, const char *sq, int *http)
{
    char body[2048];
    snprintf(body, sizeof body, "{\"structuredQuery\":%s}", sq);
    json_t *r = call(f, "POST", parent_path, NULL, body, http);
    char *out = calloc(1, 512);
    size_t i;
    json_t *e;
    json_array_foreach(r, i, e) {
        json_t *d = json_object_get(e, "document");
        if (d) {
            if (*out)
                strcat(out, ",");
            strcat(out, strrchr(json_string_value(json_object_get(d, "name")), '/') + 1);
        }
    }
    json_decref(r);
    return out;
}

static void expect_query(fixture *f, const char *sq, const char *want)
{
    int http;
    char *ids = query_ids(f, V1 ":runQuery", sq, &http);
    assert_int_equal(http, 200);
    if (strcmp(ids, want) != 0)
        fail_msg("query %s: got [%s], want [%s]", sq, ids, want);
    free(ids);
}

static void test_run_query(void **state)
{
    fixture *f = *state;
    seed_people(f);
    const char *from = "\"from\":[{\"collectionId\":\"people\"}]";
    char sq[1024];
    snprintf(sq, sizeof sq, "{%s,\"where\":{\"fieldFilter\":{\"field\":{\"fieldPath\":\"town\"},\"op\":\"EQUAL\",\"value\":{\"stringValue\":\"R\"}}}}", from);
    expect_query(f, sq, "p0,p2,p3");
    snprintf(sq, sizeof sq, "{%s,\"where\":{\"fieldFilter\":{\"field\":{\"fieldPath\":\"age\"},\"op\":\"GREATER_THAN_OR_EQUAL\",\"value\":{\"integerValue\":\"35\"}}}}", from);
    expect_query(f, sq, "p2,p1"); /* implicit order by age */
    snprintf(sq, sizeof sq, "{%s,\"where\":{\"compositeFilter\":{\"op\":\"AND\",\"filters\":[{\"fieldFilter\":{\"field\":{\"fieldPath\":\"town\"},\"op\":5,\"value\":{\"stringValue\":\"R\"}}},{\"fieldFilter\":{\"field\":{\"fieldPath\":\"age\"},\"op\":\"LESS_THAN\",\"value\":{\"integerValue\":\"100\"}}}]}},\"orderBy\":[{\"field\":{\"fieldPath\":\"age\"},\"direction\":\"DESCENDING\"}]}", from);
    expect_query(f, sq, "p2,p0");
    snprintf(sq, sizeof sq, "{%s,\"where\":{\"fieldFilter\":{\"field\":{\"fieldPath\":\"age\"},\"op\":\"IN\",\"value\":{\"arrayValue\":{\"values\":[{\"integerValue\":\"40\"},{\"doubleValue\":30.0}]}}}}}", from);
    expect_query(f, sq, "p0,p1");
    snprintf(sq, sizeof sq, "{%s,\"where\":{\"fieldFilter\":{\"field\":{\"fieldPath\":\"tags\"},\"op\":\"ARRAY_CONTAINS\",\"value\":{\"stringValue\":\"a\"}}}}", from);
    expect_query(f, sq, "p0");
    snprintf(sq, sizeof sq, "{%s,\"where\":{\"fieldFilter\":{\"field\":{\"fieldPath\":\"town\"},\"op\":\"GREATER_THAN\",\"value\":{\"integerValue\":\"1\"}}}}", from);
    expect_query(f, sq, ""); /* range filters match only the same type */
    snprintf(sq, sizeof sq, "{%s,\"orderBy\":[{\"field\":{\"fieldPath\":\"age\"}}],\"offset\":1,\"limit\":2}", from);
    expect_query(f, sq, "p2,p1");
    snprintf(sq, sizeof sq, "{\"from\":[{\"collectionId\":\"pets\",\"allDescendants\":true}]}");
    expect_query(f, sq, "x");
    snprintf(sq, sizeof sq, "{%s,\"where\":{\"unaryFilter\":{\"op\":\"IS_NOT_NULL\",\"field\":{\"fieldPath\":\"age\"}}},\"orderBy\":[{\"field\":{\"fieldPath\":\"__name__\"},\"direction\":\"DESCENDING\"}]}", from);
    expect_query(f, sq, "p2,p1,p0");
    /* exact response shape: select, skippedResults, empty result */
    expect_call(f, "POST", V1 ":runQuery", NULL,
                "{\"structuredQuery\":{\"from\":[{\"collectionId\":\"people\"}],\"select\":{\"fields\":[{\"fieldPath\":\"town\"}]},"
                "\"orderBy\":[{\"field\":{\"fieldPath\":\"age\"}}],\"offset\":2,\"limit\":1}}",
                200,
                "[{\"document\":{\"name\":\"" DB "/documents/people/p1\",\"fields\":{\"town\":{\"stringValue\":\"A\"}},"
                "\"createTime\":\"T\",\"updateTime\":\"T\"},\"readTime\":\"T\",\"skippedResults\":2}]");
    expect_call(f, "POST", V1 ":runQuery", NULL, "{\"structuredQuery\":{\"from\":[{\"collectionId\":\"nobody\"}]}}", 200,
                "[{\"readTime\":\"T\"}]");
    expect_call(f, "POST", V1 ":runQuery", NULL, "{\"structuredQuery\":{\"from\":[]}}", 400,
                "{\"error\":{\"code\":400,\"message\":\"A structuredQuery needs exactly one 'from' collection.\",\"status\":"
                "\"INVALID_ARGUMENT\"}}");
    int http;
    char *ids = query_ids(f, V1 "/people/p0:runQuery", "{\"from\":[{\"collectionId\":\"pets\"}]}", &http);
    assert_string_equal(ids, "x");
    free(ids);
}

/* Details of the published v1 API that a client written to Google's reference relies on
 * (found in a review against it). */
static void test_published_api_details(void **state)
{
    fixture *f = *state;
    int http;
    json_decref(call(f, "PATCH", V1 "/c/a", NULL, "{\"fields\":{\"v\":{\"integerValue\":\"1\"}}}", &http));
    /* an empty DocumentMask is {} in proto3 JSON: existence only, no fields */
    expect_call(f, "POST", V1 ":batchGet", NULL, "{\"documents\":[\"" DOC_A "\"],\"mask\":{}}", 200,
                "[{\"found\":{\"name\":\"" DOC_A "\",\"createTime\":\"T\",\"updateTime\":\"T\"},\"readTime\":\"T\"}]");
    expect_call(f, "POST", V1 ":batchGet", NULL, "{\"documents\":[\"" DOC_A "\"],\"mask\":{\"paths\":[]}}", 400,
                "{\"error\":{\"code\":400,\"message\":\"Invalid value at 'mask': expected {\\\"fieldPaths\\\":[...]}\","
                "\"status\":\"INVALID_ARGUMENT\"}}");
    /* a field name that is not [A-Za-z_][A-Za-z0-9_]* must be backquoted in a path */
    const char *unquoted[] = { "updateMask.fieldPaths=a-b", "updateMask.fieldPaths=m.0101302989",
                               "updateMask.fieldPaths=24_hours" };
    for (size_t i = 0; i < sizeof unquoted / sizeof unquoted[0]; i++) {
        json_decref(call(f, "PATCH", V1 "/c/a", unquoted[i], "{}", &http));
        if (http != 400)
            fail_msg("%s: HTTP %d, want 400", unquoted[i], http);
    }
    json_decref(call(f, "PATCH", V1 "/c/a", "updateMask.fieldPaths=m.`0101302989`",
                     "{\"fields\":{\"m\":{\"mapValue\":{\"fields\":{\"0101302989\":{\"booleanValue\":true}}}}}}", &http));
    assert_int_equal(http, 200);
    /* a document id is one segment */
    json_decref(call(f, "POST", V1 "/c", "documentId=a/sub/b", "{}", &http));
    assert_int_equal(http, 400);
    /* list: showMissing with orderBy is refused; readTime is not kept */
    json_decref(call(f, "GET", V1 "/c", "showMissing=true&orderBy=v", NULL, &http));
    assert_int_equal(http, 400);
    json_decref(call(f, "GET", V1 "/c", "readTime=2026-01-01T00:00:00Z", NULL, &http));
    assert_int_equal(http, 400);
    /* every inequality field not ordered yet is appended, by name, in the last direction */
    const char *rows[] = { "{\"age\":{\"integerValue\":\"30\"},\"town\":{\"stringValue\":\"R\"}}",
                           "{\"age\":{\"integerValue\":\"40\"},\"town\":{\"stringValue\":\"A\"}}",
                           "{\"age\":{\"integerValue\":\"20\"},\"town\":{\"stringValue\":\"R\"}}" };
    seed_docs(f, "folk", "f", rows, 3);
    const char *both = "{\"from\":[{\"collectionId\":\"folk\"}],\"where\":{\"compositeFilter\":{\"op\":\"AND\",\"filters\":["
                       "{\"fieldFilter\":{\"field\":{\"fieldPath\":\"town\"},\"op\":\"GREATER_THAN\",\"value\":{\"stringValue\":\"\"}}},"
                       "{\"fieldFilter\":{\"field\":{\"fieldPath\":\"age\"},\"op\":\"LESS_THAN\",\"value\":{\"integerValue\":\"100\"}}}]}}";
    char sq[1024];
    snprintf(sq, sizeof sq, "%s}", both);
    expect_query(f, sq, "f2,f0,f1"); /* age, then town */
    snprintf(sq, sizeof sq, "%s,\"orderBy\":[{\"field\":{\"fieldPath\":\"town\"},\"direction\":\"DESCENDING\"}]}", both);
    expect_query(f, sq, "f0,f2,f1"); /* town descending, then age descending */
    /* times go on from an imported document's, even one from a clock far ahead */
    json_t *file = json_pack("{s:[{s:s,s:{},s:s,s:s}]}", "documents", "name", DB "/documents/c/late", "fields",
                             "createTime", "2100-01-01T00:00:00Z", "updateTime", "2100-01-01T00:00:00Z");
    emu_status st;
    assert_int_equal(emu_persist_import(f->ctx, file, &st), 0);
    json_decref(file);
    json_t *w = call_raw(f, "PATCH", V1 "/c/late", NULL, "{\"fields\":{\"v\":{\"integerValue\":\"2\"}}}", &http, false);
    assert_int_equal(http, 200);
    const char *ut = json_string_value(json_object_get(w, "updateTime"));
    if (strncmp(ut, "2100-01-01T00:00:00.", 20) != 0) /* a microsecond later, not now */
        fail_msg("updateTime %s after an import at 2100-01-01T00:00:00Z", ut);
    json_decref(w);
}

static void test_bad_requests(void **state)
{
    fixture *f = *state;
    int http;
    json_t *e = call(f, "POST", V1 ":commit", NULL, "{\"writes\":[", &http);
    assert_int_equal(http, 400);
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
                           "Invalid JSON payload received."));
    json_decref(e);
    expect_call(f, "POST", V1 ":commit", NULL, "[]", 400,
                "{\"error\":{\"code\":400,\"message\":\"Invalid JSON payload received. Expected an object.\",\"status\":"
                "\"INVALID_ARGUMENT\"}}");
    expect_call(f, "GET", "/nowhere", NULL, NULL, 404,
                "{\"error\":{\"code\":404,\"message\":\"Unknown path; the API is under /v1/projects/{project}/databases/"
                "{database}/documents\",\"status\":\"NOT_FOUND\"}}");
    expect_call(f, "PUT", V1 "/c/d", NULL, NULL, 404,
                "{\"error\":{\"code\":404,\"message\":\"Method PUT is not supported on this path.\",\"status\":\"NOT_FOUND\"}}");
    expect_call(f, "POST", V1 ":listen", NULL, "{}", 501,
                "{\"error\":{\"code\":501,\"message\":\"Method :listen is not implemented by this emulator.\",\"status\":"
                "\"UNIMPLEMENTED\"}}");
    expect_call(f, "PATCH", V1 "/c/d", NULL, "{\"fields\":{\"a\":{\"integerValue\":\"1\",\"stringValue\":\"x\"}}}", 400,
                "{\"error\":{\"code\":400,\"message\":\"Invalid value at 'document.fields': a Value must have exactly one "
                "of its kinds set\",\"status\":\"INVALID_ARGUMENT\"}}");
    expect_call(f, "PATCH", V1 "/c/__x__", NULL, "{}", 400,
                "{\"error\":{\"code\":400,\"message\":\"Resource name \\\"" DB "/documents/c/__x__\\\" has an invalid path "
                "segment.\",\"status\":\"INVALID_ARGUMENT\"}}");
    expect_call(f, "POST", V1 ":commit", NULL, "{\"writes\":[],\"extra\":1}", 400,
                "{\"error\":{\"code\":400,\"message\":\"Invalid JSON payload received. Unknown name \\\"extra\\\" at "
                "'commit': Cannot find field.\",\"status\":\"INVALID_ARGUMENT\"}}");
    expect_call(f, "POST", V1 ":batchGet", NULL, "{\"document\":[]}", 400,
                "{\"error\":{\"code\":400,\"message\":\"Invalid JSON payload received. Unknown name \\\"document\\\" at "
                "'batch_get': Cannot find field.\",\"status\":\"INVALID_ARGUMENT\"}}");
    expect_call(f, "GET", "/", NULL, NULL, 200, "\"Ok\\n\"");
}

static void test_reset_and_export(void **state)
{
    fixture *f = *state;
    int http;
    json_decref(call(f, "PATCH", V1 "/c/a", NULL, "{}", &http));
    json_decref(call(f, "PATCH", "/v1/projects/other/databases/(default)/documents/c/a", NULL, "{}", &http));
    expect_call(f, "GET", "/emulator/v1/" DB "/documents", NULL, NULL, 200,
                "{\"documents\":[{\"name\":\"" DOC_A "\",\"createTime\":\"T\",\"updateTime\":\"T\"}]}");
    expect_call(f, "DELETE", "/emulator/v1/" DB "/documents", NULL, NULL, 200, "{}");
    expect_call(f, "GET", "/emulator/v1/" DB "/documents", NULL, NULL, 200, "{\"documents\":[]}");
    json_t *other = call(f, "GET", "/v1/projects/other/databases/(default)/documents/c/a", NULL, NULL, &http);
    assert_int_equal(http, 200); /* another project is untouched */
    json_decref(other);
}

/* A write rule fails single writes of :batchWrite: their per-write status says so, the
 * request's other writes are applied, and requests as such are not faulted. */
static void test_write_faults(void **state)
{
    fixture *f = *state;
    emu_status st;
    assert_int_equal(emu_faults_add_spec(f->ctx->faults, "status=ABORTED,count=1,document=c/w1", &st), 0);
    emu_fault_decision d;
    emu_faults_decide(f->ctx->faults, "POST", V1 ":batchWrite", &d);
    assert_int_equal(d.code, EMU_OK);
    const char *body = "{\"writes\":[{\"update\":{\"name\":\"" DB "/documents/c/w1\",\"fields\":{}}},"
                       "{\"update\":{\"name\":\"" DB "/documents/c/w2\",\"fields\":{}}}]}";
    int http;
    json_t *r = call(f, "POST", V1 ":batchWrite", NULL, body, &http);
    assert_int_equal(http, 200);
    json_t *status = json_object_get(r, "status");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(status, 0), "code")), 10); /* ABORTED */
    assert_null(json_object_get(json_array_get(status, 1), "code"));
    json_decref(r);
    json_decref(call(f, "GET", V1 "/c/w1", NULL, NULL, &http));
    assert_int_equal(http, 404);
    json_decref(call(f, "GET", V1 "/c/w2", NULL, NULL, &http));
    assert_int_equal(http, 200);
    r = call(f, "POST", V1 ":batchWrite", NULL, body, &http); /* the count is used up */
    assert_null(json_object_get(json_array_get(json_object_get(r, "status"), 0), "code"));
    json_decref(r);
    assert_int_equal(emu_faults_add_spec(f->ctx->faults, "status=ABORTED,document=c/w1,path=/v1/", &st), -1);
    assert_non_null(strstr(st.msg, "document must be a document path"));
}

static void test_faults(void **state)
{
    fixture *f = *state;
    emu_fault_decision d;
    emu_status st;
    /* count: the next 2 matching requests fail, then none */
    assert_int_equal(emu_faults_add_spec(f->ctx->faults, "status=UNAVAILABLE,count=2,method=POST,path=/v1/", &st), 0);
    emu_faults_decide(f->ctx->faults, "GET", V1 "/c/a", &d);
    assert_int_equal(d.code, EMU_OK);
    emu_faults_decide(f->ctx->faults, "POST", "/emulator/v1/faults", &d);
    assert_int_equal(d.code, EMU_OK); /* admin paths are never faulted */
    for (int i = 0; i < 2; i++) {
        emu_faults_decide(f->ctx->faults, "POST", V1 ":commit", &d);
        assert_int_equal(d.code, EMU_UNAVAILABLE);
    }
    emu_faults_decide(f->ctx->faults, "POST", V1 ":commit", &d);
    assert_int_equal(d.code, EMU_OK);
    expect_call(f, "DELETE", "/emulator/v1/faults", NULL, NULL, 200, "{\"rules\":[],\"seed\":7}");
    /* the admin API reports rules */
    expect_call(f, "POST", "/emulator/v1/faults", NULL,
                "{\"rules\":[{\"status\":\"RESOURCE_EXHAUSTED\",\"rate\":0.5,\"latencyMs\":5,\"jitterMs\":3}]}", 200,
                "{\"rules\":[{\"status\":\"RESOURCE_EXHAUSTED\",\"rate\":0.5,\"latencyMs\":5,\"jitterMs\":3,\"afterApply\":"
                "false,\"retryAfterSeconds\":1,\"hits\":0}],\"seed\":7}");
    expect_call(f, "POST", "/emulator/v1/faults", NULL, "{\"status\":\"NOPE\"}", 400,
                "{\"error\":{\"code\":400,\"message\":\"fault rule: status must be a google.rpc.Code name other than OK\","
                "\"status\":\"INVALID_ARGUMENT\"}}");
    /* rate: seeded, so a second generator with the same seed decides the same */
    emu_faults *twin = emu_faults_new(7);
    assert_int_equal(emu_faults_add_spec(twin, "status=RESOURCE_EXHAUSTED,rate=0.5,latency=5,jitter=3", &st), 0);
    int fired = 0;
    for (int i = 0; i < 200; i++) {
        emu_fault_decision a, b;
        emu_faults_decide(f->ctx->faults, "GET", V1 "/c/a", &a);
        emu_faults_decide(twin, "GET", V1 "/c/a", &b);
        assert_int_equal(a.code, b.code);
        assert_int_equal(a.latency_ms, b.latency_ms);
        assert_in_range(a.latency_ms, 5, 8);
        fired += a.code == EMU_RESOURCE_EXHAUSTED;
        if (a.code != EMU_OK)
            assert_int_equal(a.retry_after, 1);
    }
    assert_in_range(fired, 70, 130);
    emu_faults_free(twin);
    emu_faults_clear(f->ctx->faults);
    /* before apply: nothing written; after apply: written, and still an error */
    emu_request rq = { "PATCH", V1 "/c/f1", NULL, 0, "{}", 2 };
    emu_response rs;
    d = (emu_fault_decision){ .code = EMU_ABORTED };
    emu_fault_respond(f->ctx, &rq, &d, &rs);
    assert_int_equal(rs.http, 409);
    emu_response_clear(&rs);
    expect_call(f, "GET", V1 "/c/f1", NULL, NULL, 404,
                "{\"error\":{\"code\":404,\"message\":\"Document \\\"" DB "/documents/c/f1\\\" not found.\",\"status\":"
                "\"NOT_FOUND\"}}");
    d = (emu_fault_decision){ .code = EMU_DEADLINE_EXCEEDED, .after_apply = true };
    emu_fault_respond(f->ctx, &rq, &d, &rs);
    assert_int_equal(rs.http, 504);
    expect_json(json_incref(rs.json), "{\"error\":{\"code\":504,\"message\":\"Injected fault: DEADLINE_EXCEEDED (after the "
                                      "request was applied)\",\"status\":\"DEADLINE_EXCEEDED\"}}");
    emu_response_clear(&rs);
    json_t *g = call(f, "GET", V1 "/c/f1", NULL, NULL, &(int){ 0 });
    assert_non_null(json_object_get(g, "name"));
    json_decref(g);
}


/* ---------- REQUEST_TIME writes prepared outside the write lock ---------- */

static fixture *hook_fixture;
static const char *hook_body; /* a :commit run between preparing and the write lock, once */

static void change_in_between(emu_ctx *ctx)
{
    (void)ctx;
    emu_batch_prepared_hook = NULL; /* the commit below prepares too */
    int http;
    json_t *r = call(hook_fixture, "POST", V1 ":commit", NULL, hook_body, &http);
    assert_int_equal(http, 200);
    json_decref(r);
}

static const char *str_at(const json_t *j, const char *path)
{
    char *p = strdup(path), *save = NULL;
    const json_t *v = j;
    for (char *k = strtok_r(p, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
    free(p);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* The consumer's writes: the commit time lands in the document, its updateTime and
 * the transform results alike; failed preconditions are reported per write. */
static void test_request_time_writes(void **state)
{
    fixture *f = *state;
    int http;
    json_decref(call(f, "PATCH", V1 "/c/r", NULL,
                     "{\"fields\":{\"a\":{\"integerValue\":\"1\"},\"m\":{\"mapValue\":{\"fields\":{\"t\":{\"timestampValue\":"
                     "\"2020-01-01T00:00:00Z\"},\"k\":{\"stringValue\":\"keep\"}}}}}}",
                     &http));
    json_t *r = call_raw(f, "POST", V1 ":batchWrite", NULL,
                         "{\"writes\":[{\"update\":{\"name\":\"" DB "/documents/c/r\",\"fields\":{\"a\":{\"integerValue\":\"2\"}}},"
                         "\"updateMask\":{\"fieldPaths\":[\"a\",\"m.t\"]},\"updateTransforms\":[{\"fieldPath\":\"m.t\","
                         "\"setToServerValue\":\"REQUEST_TIME\"}],\"currentDocument\":{\"exists\":true}},"
                         "{\"update\":{\"name\":\"" DB "/documents/c/new\",\"fields\":{}},\"updateTransforms\":[{\"fieldPath\":"
                         "\"t\",\"setToServerValue\":\"REQUEST_TIME\"}],\"currentDocument\":{\"exists\":false}},"
                         "{\"update\":{\"name\":\"" DB "/documents/c/none\",\"fields\":{}},\"updateTransforms\":[{\"fieldPath\":"
                         "\"t\",\"setToServerValue\":\"REQUEST_TIME\"}],\"currentDocument\":{\"exists\":true}}]}",
                         &http, false);
    assert_int_equal(http, 200);
    char t[64];
    snprintf(t, sizeof t, "%s", str_at(r, "writeResults.0.updateTime"));
    assert_string_equal(str_at(r, "writeResults.0.transformResults.0.timestampValue"), t);
    assert_string_equal(str_at(r, "writeResults.1.updateTime"), t);
    assert_string_equal(str_at(r, "writeResults.1.transformResults.0.timestampValue"), t);
    json_t *g = call_raw(f, "GET", V1 "/c/r", NULL, NULL, &http, false);
    assert_string_equal(str_at(g, "updateTime"), t);
    assert_string_equal(str_at(g, "fields.m.mapValue.fields.t.timestampValue"), t);
    assert_string_equal(str_at(g, "fields.m.mapValue.fields.k.stringValue"), "keep");
    json_decref(g);
    g = call_raw(f, "GET", V1 "/c/new", NULL, NULL, &http, false);
    assert_string_equal(str_at(g, "createTime"), t);
    assert_string_equal(str_at(g, "fields.t.timestampValue"), t);
    json_decref(g);
    scrub(r);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"writeResults\":[{\"updateTime\":\"T\",\"transformResults\":[{\"timestampValue\":\"%s\"}]},"
             "{\"updateTime\":\"T\",\"transformResults\":[{\"timestampValue\":\"%s\"}]},{}],"
             "\"status\":[{},{},{\"code\":5,\"message\":\"No document to update: " DB "/documents/c/none\"}]}",
             t, t);
    expect_json(r, want);
}

/* A document changed between preparing a write and the write lock: the write is
 * applied to the new version (or fails its precondition against it), per write in
 * :batchWrite, all or nothing in :commit. */
static void test_request_time_document_changed_in_between(void **state)
{
    fixture *f = *state;
    int http;
    json_t *r = call_raw(f, "POST", V1 ":commit", NULL,
                         "{\"writes\":[{\"update\":{\"name\":\"" DB "/documents/c/r\",\"fields\":{\"a\":{\"integerValue\":\"1\"}}}},"
                         "{\"update\":{\"name\":\"" DB "/documents/c/s\",\"fields\":{\"a\":{\"integerValue\":\"1\"}}}}]}",
                         &http, false);
    char v1[64], body[2048];
    snprintf(v1, sizeof v1, "%s", str_at(r, "commitTime"));
    json_decref(r);
    hook_fixture = f;
    hook_body = "{\"writes\":[{\"update\":{\"name\":\"" DB "/documents/c/r\",\"fields\":{\"b\":{\"integerValue\":\"9\"}}},"
                "\"updateMask\":{\"fieldPaths\":[\"b\"]}},"
                "{\"update\":{\"name\":\"" DB "/documents/c/s\",\"fields\":{\"b\":{\"integerValue\":\"9\"}}},"
                "\"updateMask\":{\"fieldPaths\":[\"b\"]}}]}";
    emu_batch_prepared_hook = change_in_between;
    /* c/r: exists, still true after the change; c/s: the version read is gone */
    snprintf(body, sizeof body,
             "{\"writes\":[{\"update\":{\"name\":\"" DB "/documents/c/r\",\"fields\":{\"a\":{\"integerValue\":\"2\"}}},"
             "\"updateMask\":{\"fieldPaths\":[\"a\"]},\"updateTransforms\":[{\"fieldPath\":\"t\",\"setToServerValue\":"
             "\"REQUEST_TIME\"}],\"currentDocument\":{\"exists\":true}},"
             "{\"update\":{\"name\":\"" DB "/documents/c/s\",\"fields\":{\"a\":{\"integerValue\":\"2\"}}},"
             "\"updateMask\":{\"fieldPaths\":[\"a\"]},\"updateTransforms\":[{\"fieldPath\":\"t\",\"setToServerValue\":"
             "\"REQUEST_TIME\"}],\"currentDocument\":{\"updateTime\":\"%s\"}}]}",
             v1);
    r = call_raw(f, "POST", V1 ":batchWrite", NULL, body, &http, false);
    assert_null(emu_batch_prepared_hook); /* it ran */
    assert_int_equal(http, 200);
    char t[64];
    snprintf(t, sizeof t, "%s", str_at(r, "writeResults.0.updateTime"));
    assert_string_equal(str_at(r, "writeResults.0.transformResults.0.timestampValue"), t);
    json_t *g = call_raw(f, "GET", V1 "/c/r", NULL, NULL, &http, false);
    assert_string_equal(str_at(g, "updateTime"), t);
    json_object_del(g, "createTime");
    json_object_del(g, "updateTime");
    char want[1024];
    snprintf(want, sizeof want,
             "{\"name\":\"" DB "/documents/c/r\",\"fields\":{\"a\":{\"integerValue\":\"2\"},\"b\":{\"integerValue\":\"9\"},"
             "\"t\":{\"timestampValue\":\"%s\"}}}",
             t);
    expect_json(g, want);
    scrub(r);
    int64_t v1_us;
    assert_int_equal(emu_time_parse(v1, &v1_us), 0);
    json_t *s = call_raw(f, "GET", V1 "/c/s", NULL, NULL, &http, false);
    int64_t v2_us;
    assert_int_equal(emu_time_parse(str_at(s, "updateTime"), &v2_us), 0);
    json_decref(s);
    snprintf(want, sizeof want,
             "{\"writeResults\":[{\"updateTime\":\"T\",\"transformResults\":[{\"timestampValue\":\"%s\"}]},{}],"
             "\"status\":[{},{\"code\":9,\"message\":\"the stored version (%lld) does not match the required base "
             "version (%lld)\"}]}",
             t, (long long)v2_us, (long long)v1_us);
    expect_json(r, want);
    expect_call(f, "GET", V1 "/c/s", NULL, NULL, 200,
                "{\"name\":\"" DB "/documents/c/s\",\"fields\":{\"a\":{\"integerValue\":\"1\"},\"b\":{\"integerValue\":\"9\"}},"
                "\"createTime\":\"T\",\"updateTime\":\"T\"}");

    /* :commit: c/s's version changes in between, so neither write is applied */
    snprintf(v1, sizeof v1, "%s", str_at(g = call_raw(f, "GET", V1 "/c/s", NULL, NULL, &http, false), "updateTime"));
    json_decref(g);
    emu_batch_prepared_hook = change_in_between;
    snprintf(body, sizeof body,
             "{\"writes\":[{\"update\":{\"name\":\"" DB "/documents/c/q\",\"fields\":{}},\"updateTransforms\":[{\"fieldPath\":"
             "\"t\",\"setToServerValue\":\"REQUEST_TIME\"}]},"
             "{\"update\":{\"name\":\"" DB "/documents/c/s\",\"fields\":{}},\"updateMask\":{\"fieldPaths\":[]},"
             "\"updateTransforms\":[{\"fieldPath\":\"t\",\"setToServerValue\":\"REQUEST_TIME\"}],"
             "\"currentDocument\":{\"updateTime\":\"%s\"}}]}",
             v1);
    hook_body = "{\"writes\":[{\"update\":{\"name\":\"" DB "/documents/c/s\",\"fields\":{\"b\":{\"integerValue\":\"10\"}}},"
                "\"updateMask\":{\"fieldPaths\":[\"b\"]}}]}";
    r = call_raw(f, "POST", V1 ":commit", NULL, body, &http, false);
    assert_null(emu_batch_prepared_hook);
    assert_int_equal(http, 400);
    assert_string_equal(str_at(r, "error.status"), "FAILED_PRECONDITION");
    json_decref(r);
    expect_call(f, "GET", V1 "/c/q", NULL, NULL, 404,
                "{\"error\":{\"code\":404,\"message\":\"Document \\\"" DB "/documents/c/q\\\" not found.\",\"status\":"
                "\"NOT_FOUND\"}}");
    expect_call(f, "GET", V1 "/c/s", NULL, NULL, 200,
                "{\"name\":\"" DB "/documents/c/s\",\"fields\":{\"a\":{\"integerValue\":\"1\"},\"b\":{\"integerValue\":\"10\"}},"
                "\"createTime\":\"T\",\"updateTime\":\"T\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_patch_get_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preconditions_over_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_get_and_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_published_api_details, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_time_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_time_document_changed_in_between, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
