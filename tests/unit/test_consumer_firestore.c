/* test_consumer_firestore.c - member-consumer's Firestore REST client: classification of
 * real Firestore/emulator response bodies (fixtures), request bodies, response parsing,
 * and fs_perform against a small in-process HTTP server (concurrency, kept-alive
 * connections, Retry-After, connection errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/fixture.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "services/consumer/firestore.h"
#include "services/consumer/fs_value.h"

static char *slurp(const char *name, size_t *len)
{
    char *buf = th_fixture("consumer", name, len);
    assert_non_null(buf);
    return buf;
}

static fs_class finish_fixture(const char *name, long http, fs_call *c)
{
    size_t len;
    char *body = slurp(name, &len);
    memset(c, 0, sizeof *c);
    fs_call_finish(c, http, body, len, -1);
    free(body);
    return c->cls;
}

static void error_bodies_are_classified(void **state)
{
    (void)state;
    fs_call c;
    assert_int_equal(finish_fixture("fs_error_unavailable.json", 503, &c), FS_TRANSIENT);
    assert_string_equal(c.status, "UNAVAILABLE");
    fs_call_clear(&c);
    assert_int_equal(finish_fixture("fs_error_aborted.json", 409, &c), FS_TRANSIENT); /* 409 but ABORTED */
    fs_call_clear(&c);
    assert_int_equal(finish_fixture("fs_error_exists.json", 409, &c), FS_PRECONDITION);
    fs_call_clear(&c);
    assert_int_equal(finish_fixture("fs_error_invalid.json", 400, &c), FS_PERMANENT);
    assert_string_equal(c.status, "INVALID_ARGUMENT");
    assert_non_null(strstr(c.message, "not valid"));
    fs_call_clear(&c);
    assert_int_equal(finish_fixture("fs_error_denied.json", 403, &c), FS_AUTH);
    fs_call_clear(&c);
    assert_int_equal(finish_fixture("fs_error_unauthenticated.json", 401, &c), FS_AUTH);
    fs_call_clear(&c);
    /* bare statuses without a Google body (a proxy in between) */
    long transient[] = { 0, 429, 500, 502, 503, 504 };
    for (size_t i = 0; i < sizeof transient / sizeof *transient; i++)
        assert_int_equal(fs_classify(transient[i], NULL), FS_TRANSIENT);
    assert_int_equal(fs_classify(401, ""), FS_AUTH);
    assert_int_equal(fs_classify(403, NULL), FS_AUTH);
    assert_int_equal(fs_classify(400, NULL), FS_PERMANENT);
    assert_int_equal(fs_classify(200, NULL), FS_OK);
    assert_int_equal(fs_classify_code(4), FS_TRANSIENT);  /* DEADLINE_EXCEEDED */
    assert_int_equal(fs_classify_code(8), FS_TRANSIENT);  /* RESOURCE_EXHAUSTED */
    assert_int_equal(fs_classify_code(13), FS_TRANSIENT); /* INTERNAL */
    assert_int_equal(fs_classify_code(3), FS_PERMANENT);
    assert_int_equal(fs_classify_code(9), FS_PRECONDITION);
    assert_int_equal(fs_classify_code(16), FS_AUTH);
    assert_string_equal(fs_code_name(10), "ABORTED");
    /* a 200 whose body is not JSON is retried, not trusted */
    memset(&c, 0, sizeof c);
    fs_call_finish(&c, 200, "<html>", 6, -1);
    assert_int_equal(c.cls, FS_TRANSIENT);
}

static void retry_after_values(void **state)
{
    (void)state;
    assert_int_equal(fs_parse_retry_after("2", 0), 2000);
    assert_int_equal(fs_parse_retry_after(" 30 ", 0), 30000);
    assert_int_equal(fs_parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480), 10000);
    assert_int_equal(fs_parse_retry_after("soon", 0), -1);
    assert_int_equal(fs_parse_retry_after(NULL, 0), -1);
}

static fs_client *client(const char *base, gauth **ga)
{
    *ga = gauth_new_emulator();
    fs_options o = { .base_url = base, .project = "p", .auth = *ga, .timeout_ms = 3000, .max_inflight = 4 };
    char err[128];
    fs_client *fc = fs_client_new(&o, err, sizeof err);
    assert_non_null(fc);
    return fc;
}

/* A fields object of compact values in the wire form, parsed back (NULL if not JSON). */
static json_t *wire_of_fields(const json_t *fields)
{
    jbuf b = { 0 };
    fsv_write_fields(&b, fields);
    json_t *v = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    jbuf_free(&b);
    return v;
}

/* The masked fields written into a body are exactly what fsv_subset copies out of the
 * tree: masked values whole, maps on the way with only their masked members, nothing
 * else (no empty maps for unmasked branches), any quoting of the mask's segments. */
static void masked_fields_match_subset(void **state)
{
    (void)state;
    json_t *wire = json_loads(
        "{\"profile\":{\"mapValue\":{\"fields\":{\"name\":{\"stringValue\":\"J\\u00f3n \\\"x\\\"\"},"
        "\"gender\":{\"integerValue\":\"1\"},\"score\":{\"doubleValue\":2.0},"
        "\"address\":{\"mapValue\":{\"fields\":{\"street\":{\"stringValue\":\"A\"},\"zip\":{\"nullValue\":null}}}}}}},"
        "\"metadata\":{\"mapValue\":{\"fields\":{\"sync\":{\"mapValue\":{\"fields\":{"
        "\"t1\":{\"mapValue\":{\"fields\":{\"rows\":{\"mapValue\":{\"fields\":{\"42\":{\"integerValue\":\"7\"},"
        "\"43\":{\"integerValue\":\"8\"}}}}}}},\"t2\":{\"mapValue\":{\"fields\":{\"lsn\":{\"integerValue\":\"9\"}}}}}}}}}},"
        "\"portal\":{\"mapValue\":{\"fields\":{\"x\":{\"booleanValue\":true}}}},"
        "\"tags\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"}]}}}",
        0, NULL);
    assert_non_null(wire);
    json_t *fields = fsv_fields_from_firestore(wire);
    const char *masks[][6] = {
        { "profile.name", "profile.address.street", "metadata.sync.t1.rows.`42`", "tags", "absent.path", NULL },
        { "profile", "metadata.sync.`t2`", NULL },
        { "`profile`.`score`", "portal.y", NULL },
        { NULL },
    };
    for (size_t m = 0; m < sizeof masks / sizeof *masks; m++) {
        size_t n = 0;
        while (masks[m][n])
            n++;
        json_t *subset = fsv_subset(fields, masks[m], n);
        json_t *want = wire_of_fields(subset);
        jbuf b = { 0 };
        fs_json_masked_fields(&b, fields, masks[m], n);
        json_error_t jerr;
        json_t *got = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!got || !want || !json_equal(got, want)) {
            char *ws = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
            fail_msg("mask %zu: got %s\nwant %s", m, jbuf_cstr(&b), ws);
        }
        json_decref(got);
        json_decref(want);
        json_decref(subset);
        jbuf_free(&b);
    }
    /* read and written back, every kind of value is as it was (a double stays one) */
    json_t *back = wire_of_fields(fields);
    assert_true(json_equal(back, wire));
    json_decref(back);
    json_decref(fields);
    json_decref(wire);
}

/* Values whose type plain JSON lacks (timestamps, bytes, references, geo points, types
 * this code does not know) and strings holding a NUL survive a read and a write
 * unchanged; the readers tell them apart from plain strings. */
static void every_value_survives_the_compact_form(void **state)
{
    (void)state;
    const char *text =
        "{\"ts\":{\"timestampValue\":\"2026-01-02T03:04:05.123456Z\"},\"b\":{\"bytesValue\":\"AAE=\"},"
        "\"r\":{\"referenceValue\":\"projects/p/databases/(default)/documents/members/1\"},"
        "\"geo\":{\"geoPointValue\":{\"latitude\":64.1,\"longitude\":-21.9}},"
        "\"future\":{\"vectorValue\":{\"values\":[1,2]}},\"nul\":{\"stringValue\":\"a\\u0000T\"},"
        "\"big\":{\"integerValue\":\"-9223372036854775808\"},\"odd\":{\"integerValue\":\"12x\"},"
        "\"nan\":{\"doubleValue\":\"NaN\"},\"empty\":{\"mapValue\":{}},\"none\":{\"arrayValue\":{}},"
        "\"s\":{\"stringValue\":\"plain\"},\"n\":{\"nullValue\":null}}";
    json_t *wire = json_loads(text, JSON_ALLOW_NUL, NULL);
    assert_non_null(wire);
    json_t *fields = fsv_fields_from_firestore(wire);
    assert_string_equal(fsv_get_timestamp(json_object_get(fields, "ts")), "2026-01-02T03:04:05.123456Z");
    assert_string_equal(fsv_type(json_object_get(fields, "ts")), "timestampValue");
    assert_null(fsv_get_string(json_object_get(fields, "ts")));
    assert_string_equal(fsv_type(json_object_get(fields, "b")), "bytesValue");
    assert_string_equal(fsv_type(json_object_get(fields, "r")), "referenceValue");
    assert_null(fsv_type(json_object_get(fields, "geo")));
    assert_null(fsv_get_string(json_object_get(fields, "nul")));
    assert_null(fsv_get_timestamp(json_object_get(fields, "nul")));
    int64_t i;
    assert_true(fsv_get_int(json_object_get(fields, "big"), &i));
    assert_true(i == INT64_MIN);
    assert_false(fsv_get_int(json_object_get(fields, "odd"), &i));
    assert_string_equal(fsv_get_string(json_object_get(fields, "s")), "plain");
    assert_true(fsv_is_null(json_object_get(fields, "n")));
    assert_non_null(fsv_map_fields(json_object_get(fields, "empty")));
    assert_non_null(fsv_array_values(json_object_get(fields, "none")));
    json_t *back = wire_of_fields(fields);
    json_t *want = json_loads(
        "{\"ts\":{\"timestampValue\":\"2026-01-02T03:04:05.123456Z\"},\"b\":{\"bytesValue\":\"AAE=\"},"
        "\"r\":{\"referenceValue\":\"projects/p/databases/(default)/documents/members/1\"},"
        "\"geo\":{\"geoPointValue\":{\"latitude\":64.1,\"longitude\":-21.9}},"
        "\"future\":{\"vectorValue\":{\"values\":[1,2]}},\"nul\":{\"stringValue\":\"a\\u0000T\"},"
        "\"big\":{\"integerValue\":\"-9223372036854775808\"},\"odd\":{\"integerValue\":\"12x\"},"
        "\"nan\":{\"doubleValue\":\"NaN\"},\"empty\":{\"mapValue\":{\"fields\":{}}},"
        "\"none\":{\"arrayValue\":{\"values\":[]}},\"s\":{\"stringValue\":\"plain\"},\"n\":{\"nullValue\":null}}",
        JSON_ALLOW_NUL, NULL);
    if (!back || !json_equal(back, want)) {
        char *got = back ? json_dumps(back, JSON_COMPACT) : NULL;
        fail_msg("written back: %s", got ? got : "(not JSON)");
    }
    /* as plain JSON (for lookups): a timestamp is its text, a geo point its object */
    json_t *plain = fsv_to_json(json_object_get(fields, "ts"));
    assert_string_equal(json_string_value(plain), "2026-01-02T03:04:05.123456Z");
    json_decref(plain);
    plain = fsv_to_json(json_object_get(fields, "geo"));
    assert_true(json_is_real(json_object_get(plain, "latitude")));
    json_decref(plain);
    json_decref(want);
    json_decref(back);
    json_decref(fields);
    json_decref(wire);
}

static void bodies_and_parsing(void **state)
{
    (void)state;
    gauth *ga;
    fs_client *fc = client("http://127.0.0.1:1/", &ga);
    assert_string_equal(fs_root(fc), "projects/p/databases/(default)/documents");
    const char *names[] = { "members/1", "members/9" };
    json_t *read_mask = json_pack("[s]", "metadata.sync");
    jbuf b = { 0 };
    fs_body_batch_get(fc, &b, names, 2, read_mask);
    json_decref(read_mask);
    assert_string_equal(jbuf_cstr(&b), "{\"documents\":[\"projects/p/databases/(default)/documents/members/1\","
                                      "\"projects/p/databases/(default)/documents/members/9\"],"
                                      "\"mask\":{\"fieldPaths\":[\"metadata.sync\"]}}");
    json_t *fields = json_pack("{s:I,s:s}", "a", (json_int_t)1, "z", "not masked"); /* compact values */
    const char *mask[] = { "a", "b.c" };
    jbuf_reset(&b);
    fs_body_writes_begin(&b);
    fs_body_write_update(fc, &b, "members/1", fields, mask, 2, "2026-01-01T00:00:00.5Z", "metadata.synced_at");
    fs_body_write_delete(fc, &b, "members/1", "");
    fs_body_write_update(fc, &b, "members/2", fields, mask, 1, NULL, NULL);
    fs_body_writes_end(&b);
    json_decref(fields);
    json_error_t jerr;
    json_t *w = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(w);
    char *s = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"writes\":[{\"currentDocument\":{\"updateTime\":\"2026-01-01T00:00:00.5Z\"},"
                           "\"update\":{\"fields\":{\"a\":{\"integerValue\":\"1\"}},"
                           "\"name\":\"projects/p/databases/(default)/documents/members/1\"},"
                           "\"updateMask\":{\"fieldPaths\":[\"a\",\"b.c\"]},"
                           "\"updateTransforms\":[{\"fieldPath\":\"metadata.synced_at\",\"setToServerValue\":\"REQUEST_TIME\"}]},"
                           "{\"currentDocument\":{\"exists\":false},\"delete\":\"projects/p/databases/(default)/documents/members/1\"},"
                           "{\"update\":{\"fields\":{\"a\":{\"integerValue\":\"1\"}},"
                           "\"name\":\"projects/p/databases/(default)/documents/members/2\"},"
                           "\"updateMask\":{\"fieldPaths\":[\"a\"]}}]}");
    free(s);
    json_decref(w);
    jbuf_free(&b);

    size_t len;
    char *body = slurp("fs_batchget.json", &len);
    json_t *resp = json_loads(body, 0, NULL);
    free(body);
    json_t *docs = fs_parse_batch_get(fc, resp);
    assert_int_equal(json_object_size(docs), 2);
    assert_true(json_is_null(json_object_get(docs, "members/9")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(docs, "members/1"), "updateTime")),
                        "2026-11-25T04:37:19.215115Z");
    int64_t a;
    assert_true(fsv_get_int(fsv_get(json_object_get(json_object_get(docs, "members/1"), "fields"), "a"), &a));
    assert_int_equal(a, 1); /* read into the compact form */
    json_decref(docs);
    json_decref(resp);
    assert_null(fs_parse_batch_get(fc, NULL));

    body = slurp("fs_batchwrite_mixed.json", &len);
    resp = json_loads(body, 0, NULL);
    free(body);
    fs_class cls[5];
    char msg[5][160], code[5][40];
    assert_int_equal(fs_parse_batch_write(resp, 5, cls, msg, code), 0);
    assert_int_equal(cls[0], FS_OK);
    assert_int_equal(cls[1], FS_PRECONDITION);
    assert_int_equal(cls[2], FS_OK);
    assert_int_equal(cls[3], FS_PERMANENT);
    assert_string_equal(code[3], "INVALID_ARGUMENT");
    assert_non_null(strstr(msg[3], "maximum size"));
    assert_int_equal(cls[4], FS_TRANSIENT);
    assert_int_equal(fs_parse_batch_write(resp, 4, cls, NULL, NULL), -1); /* count mismatch */
    json_decref(resp);
    fs_client_free(fc);
    gauth_free(ga);
}

/* --- a scripted local server -------------------------------------------------- */

typedef struct server {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    int requests, connections, active, max_active;
    int fail_first;      /* the first N requests get 503 with Retry-After: 1 */
    int delay_ms;
    char last_auth[128];
    char last_url[256];
} server;

static void on_conn(void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code)
{
    (void)c;
    (void)socket_context;
    server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&s->mu);
        s->connections++;
        pthread_mutex_unlock(&s->mu);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    (void)method;
    (void)version;
    (void)upload;
    server *s = cls;
    if (!*ctx) {
        *ctx = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&s->mu);
    int n = ++s->requests;
    s->active++;
    if (s->active > s->max_active)
        s->max_active = s->active;
    const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    snprintf(s->last_auth, sizeof s->last_auth, "%s", a ? a : "");
    snprintf(s->last_url, sizeof s->last_url, "%s", url);
    pthread_mutex_unlock(&s->mu);
    if (s->delay_ms)
        clock_sleep_ms(s->delay_ms);
    const char *body = "[]";
    unsigned status = 200;
    if (n <= s->fail_first) {
        body = "{\"error\":{\"code\":503,\"message\":\"try later\",\"status\":\"UNAVAILABLE\"}}";
        status = 503;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == 503)
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    pthread_mutex_lock(&s->mu);
    s->active--;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static server *server_start(void)
{
    server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                            on_request, s, MHD_OPTION_NOTIFY_CONNECTION, on_conn, s, MHD_OPTION_END);
    assert_non_null(s->d);
    s->port = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return s;
}

static void server_stop(server *s)
{
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void perform_runs_calls_concurrently_on_kept_alive_connections(void **state)
{
    (void)state;
    server *s = server_start();
    s->delay_ms = 50;
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s->port);
    gauth *ga;
    fs_client *fc = client(base, &ga);
    const char *body = "{\"documents\":[]}";
    fs_call calls[8];
    for (int round = 0; round < 3; round++) {
        memset(calls, 0, sizeof calls);
        for (int i = 0; i < 8; i++) {
            calls[i].verb = ":batchGet";
            calls[i].body = body;
            calls[i].body_len = strlen(body);
        }
        int64_t t0 = clock_mono_ms();
        assert_int_equal(fs_perform(fc, calls, 8), 0);
        int64_t took = clock_mono_ms() - t0;
        /* 8 calls of 50 ms, 4 at a time: about 100 ms, far less than 400 */
        assert_true(took < 350);
        for (int i = 0; i < 8; i++) {
            assert_int_equal(calls[i].cls, FS_OK);
            assert_int_equal(calls[i].http_status, 200);
            assert_true(json_is_array(calls[i].response));
            fs_call_clear(&calls[i]);
        }
    }
    assert_int_equal(s->requests, 24);
    assert_true(s->max_active >= 2);
    assert_true(s->max_active <= 4);
    assert_true(s->connections <= 4); /* 24 requests over at most 4 kept-alive connections */
    assert_string_equal(s->last_auth, "Bearer owner");
    assert_string_equal(s->last_url, "/v1/projects/p/databases/(default)/documents:batchGet");
    fs_client_free(fc);
    gauth_free(ga);
    server_stop(s);
}

static void perform_reports_retry_after_and_connection_errors(void **state)
{
    (void)state;
    server *s = server_start();
    s->fail_first = 1;
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s->port);
    gauth *ga;
    fs_client *fc = client(base, &ga);
    fs_call c = { .verb = ":batchGet", .body = "{\"documents\":[]}", .body_len = 16 };
    assert_int_equal(fs_perform(fc, &c, 1), 1);
    assert_int_equal(c.cls, FS_TRANSIENT);
    assert_int_equal(c.http_status, 503);
    assert_int_equal(c.retry_after_ms, 1000);
    assert_string_equal(c.status, "UNAVAILABLE");
    assert_int_equal(fs_perform(fc, &c, 1), 0);
    assert_int_equal(c.retry_after_ms, -1);
    fs_call_clear(&c);
    fs_client_free(fc);
    gauth_free(ga);
    server_stop(s);
    /* nobody listening: a transient failure, not a crash or a permanent error */
    fc = client("http://127.0.0.1:1", &ga);
    assert_int_equal(fs_perform(fc, &c, 1), 1);
    assert_int_equal(c.cls, FS_TRANSIENT);
    assert_int_equal(c.http_status, 0);
    assert_true(strlen(c.message) > 0);
    fs_call_clear(&c);
    fs_client_free(fc);
    gauth_free(ga);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_bodies_are_classified),
        cmocka_unit_test(retry_after_values),
        cmocka_unit_test(bodies_and_parsing),
        cmocka_unit_test(masked_fields_match_subset),
        cmocka_unit_test(every_value_survives_the_compact_form),
        cmocka_unit_test(perform_runs_calls_concurrently_on_kept_alive_connections),
        cmocka_unit_test(perform_reports_retry_after_and_connection_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
