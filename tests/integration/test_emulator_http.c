/* test_emulator_http.c - the real firestore-emulator binary over HTTP: options and
 * exit codes, keep-alive, exact JSON and headers, bad requests (malformed JSON,
 * huge and chunked bodies, slow clients), fault injection from the admin API and
 * the command line (status, Retry-After, latency without blocking others, failure
 * after apply), --data-dir across a restart, and clean shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/emulator_client.h"
#include "tests/support/harness.h"

#define DB "projects/it/databases/(default)"
#define V1 "/v1/" DB "/documents"

static void expect_body(const ec_response *r, long status, const char *want)
{
    json_t *got = ec_json(r), *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(w);
    if (r->status != status || !got || !json_equal(got, w))
        fail_msg("got HTTP %ld %s\nwant HTTP %ld %s", r->status, r->body, status, want);
    json_decref(got);
    json_decref(w);
}

/* The error status string of a Google error body. */
static const char *error_status(const ec_response *r, char *buf, size_t len)
{
    json_t *j = ec_json(r);
    const char *s = json_string_value(json_object_get(json_object_get(j, "error"), "status"));
    snprintf(buf, len, "%s", s ? s : "(none)");
    json_decref(j);
    return buf;
}

static void stop_ok(pid_t pid)
{
    int status = th_stop(pid, SIGTERM, 10000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_options(void **state)
{
    (void)state;
    char *out = NULL;
    const char *help[] = { "firestore-emulator", "--help", NULL };
    assert_int_equal(th_run(help, NULL, &out, 10000), 0);
    assert_non_null(strstr(out, "--data-dir"));
    assert_non_null(strstr(out, "--fault"));
    free(out);
    const char *bad[] = { "firestore-emulator", "--port", "99999", NULL };
    assert_int_equal(th_run(bad, NULL, NULL, 10000), 2);
    const char *badfault[] = { "firestore-emulator", "--fault", "status=NOPE", NULL };
    assert_int_equal(th_run(badfault, NULL, NULL, 10000), 2);
}

static void test_calls_keep_alive_and_json(void **state)
{
    (void)state;
    int port;
    pid_t pid = th_start_emulator(&port, NULL);
    assert_true(pid > 0);
    CURL *h = curl_easy_init();
    ec_response r;
    const char *auth[] = { "Authorization: Bearer owner", NULL };
    assert_int_equal(ec_call(h, port, "PATCH", V1 "/c/a?updateMask.fieldPaths=n&mask.fieldPaths=n",
                             "{\"fields\":{\"n\":{\"integerValue\":5},\"skip\":{\"nullValue\":null}}}", auth, &r), 0);
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_non_null(ec_header(&r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "application/json; charset=UTF-8");
    json_t *doc = ec_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), DB "/documents/c/a");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(doc, "fields"), "n"),
                                                          "integerValue")), "5");
    assert_null(json_object_get(json_object_get(doc, "fields"), "skip"));
    json_decref(doc);
    ec_response_free(&r);
    for (int i = 0; i < 20; i++) { /* the same connection serves them all */
        assert_int_equal(ec_call(h, port, "GET", V1 "/c/a?mask.fieldPaths=n", NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.new_connections, 0);
        ec_response_free(&r);
    }
    assert_int_equal(ec_call(h, port, "GET", V1 "/c/none", NULL, NULL, &r), 0);
    expect_body(&r, 404, "{\"error\":{\"code\":404,\"message\":\"Document \\\"" DB "/documents/c/none\\\" not found.\","
                         "\"status\":\"NOT_FOUND\"}}");
    ec_response_free(&r);
    assert_int_equal(ec_call(h, port, "POST", V1 ":commit", "{\"writes\":[{\"delete\":\"" DB "/documents/c/a\"}]}", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *cj = ec_json(&r);
    assert_int_equal(json_array_size(json_object_get(cj, "writeResults")), 1);
    assert_true(json_is_string(json_object_get(cj, "commitTime")));
    json_decref(cj);
    ec_response_free(&r);
    assert_int_equal(ec_call(h, port, "GET", "/", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "Ok\n");
    ec_response_free(&r);
    curl_easy_cleanup(h);
    stop_ok(pid);
}

static void test_bad_requests(void **state)
{
    (void)state;
    int port;
    const char *args[] = { "--max-body-bytes", "4096", "--conn-timeout", "1", NULL };
    pid_t pid = th_start_emulator(&port, args);
    assert_true(pid > 0);
    ec_response r;
    char st[64];
    assert_int_equal(ec_call(NULL, port, "POST", V1 ":commit", "{\"writes\":[{]", NULL, &r), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_status(&r, st, sizeof st), "INVALID_ARGUMENT");
    ec_response_free(&r);
    char *big = malloc(5001);
    memset(big, ' ', 5000);
    big[0] = '{';
    big[4998] = '}';
    big[5000] = '\0';
    assert_int_equal(ec_call(NULL, port, "POST", V1 ":commit", big, NULL, &r), 0);
    expect_body(&r, 400, "{\"error\":{\"code\":400,\"message\":\"Request payload size exceeds the limit: 4096 bytes.\","
                         "\"status\":\"INVALID_ARGUMENT\"}}");
    ec_response_free(&r);
    const char *chunked[] = { "Transfer-Encoding: chunked", NULL };
    assert_int_equal(ec_call(NULL, port, "POST", V1 ":commit", big, chunked, &r), 0);
    expect_body(&r, 400, "{\"error\":{\"code\":400,\"message\":\"Request payload size exceeds the limit: 4096 bytes.\","
                         "\"status\":\"INVALID_ARGUMENT\"}}");
    ec_response_free(&r);
    free(big);
    assert_int_equal(ec_call(NULL, port, "GET", "/v1/projects/it/databases", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(error_status(&r, st, sizeof st), "NOT_FOUND");
    ec_response_free(&r);
    /* a slow client: half a request line, then nothing; it is cut off, others are served */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, "GET /v1/pro", 11), 11);
    assert_int_equal(ec_call(NULL, port, "GET", "/", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    ec_response_free(&r);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 10000), 1); /* closed by the server within the deadline */
    char tmp[256];
    assert_true(read(fd, tmp, sizeof tmp) <= 0);
    close(fd);
    assert_int_equal(ec_call(NULL, port, "GET", "/", NULL, NULL, &r), 0); /* still alive */
    assert_int_equal(r.status, 200);
    ec_response_free(&r);
    stop_ok(pid);
}

typedef struct {
    int port;
    ec_response r;
} delayed_call;

static void *delayed_thread(void *arg)
{
    delayed_call *d = arg;
    ec_call(NULL, d->port, "GET", V1 "/slow/x", NULL, NULL, &d->r);
    return NULL;
}

static void test_faults_admin(void **state)
{
    (void)state;
    int port;
    pid_t pid = th_start_emulator(&port, NULL);
    assert_true(pid > 0);
    ec_response r;
    char buf[64];
    assert_int_equal(ec_call(NULL, port, "POST", "/emulator/v1/faults",
                             "{\"status\":\"RESOURCE_EXHAUSTED\",\"count\":1,\"retryAfterSeconds\":2,\"method\":\"POST\"}",
                             NULL, &r), 0);
    assert_int_equal(r.status, 200);
    ec_response_free(&r);
    assert_int_equal(ec_call(NULL, port, "POST", V1 ":commit", "{}", NULL, &r), 0);
    expect_body(&r, 429, "{\"error\":{\"code\":429,\"message\":\"Injected fault: RESOURCE_EXHAUSTED\",\"status\":"
                         "\"RESOURCE_EXHAUSTED\"}}");
    assert_non_null(ec_header(&r, "Retry-After", buf, sizeof buf));
    assert_string_equal(buf, "2");
    ec_response_free(&r);
    assert_int_equal(ec_call(NULL, port, "POST", V1 ":commit", "{}", NULL, &r), 0);
    assert_int_equal(r.status, 200); /* count=1: only the next one */
    ec_response_free(&r);
    /* DEADLINE_EXCEEDED is applied first, then reported */
    assert_int_equal(ec_call(NULL, port, "POST", "/emulator/v1/faults",
                             "{\"status\":\"DEADLINE_EXCEEDED\",\"count\":1,\"method\":\"PATCH\"}", NULL, &r), 0);
    ec_response_free(&r);
    assert_int_equal(ec_call(NULL, port, "PATCH", V1 "/c/late", "{}", NULL, &r), 0);
    assert_int_equal(r.status, 504);
    assert_string_equal(error_status(&r, buf, sizeof buf), "DEADLINE_EXCEEDED");
    ec_response_free(&r);
    assert_int_equal(ec_call(NULL, port, "GET", V1 "/c/late", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    ec_response_free(&r);
    /* latency: a delayed request does not hold up others */
    assert_int_equal(ec_call(NULL, port, "POST", "/emulator/v1/faults",
                             "{\"latencyMs\":800,\"pathPrefix\":\"/v1/" DB "/documents/slow\"}", NULL, &r), 0);
    ec_response_free(&r);
    delayed_call d = { .port = port };
    pthread_t th;
    pthread_create(&th, NULL, delayed_thread, &d);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ec_call(NULL, port, "GET", V1 "/c/late", NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        ec_response_free(&r);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(th, NULL);
    assert_int_equal(d.r.status, 404);
    assert_true(d.r.seconds >= 0.8);
    double fast = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (fast >= 0.8)
        fail_msg("other requests took %.3f s while one was delayed", fast);
    ec_response_free(&d.r);
    assert_int_equal(ec_call(NULL, port, "GET", "/emulator/v1/faults", NULL, NULL, &r), 0);
    json_t *j = ec_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "rules")), 3);
    json_decref(j);
    ec_response_free(&r);
    assert_int_equal(ec_call(NULL, port, "DELETE", "/emulator/v1/faults", NULL, NULL, &r), 0);
    expect_body(&r, 200, "{\"rules\":[],\"seed\":1}");
    ec_response_free(&r);
    stop_ok(pid);
}

static void test_fault_flag_and_data_dir(void **state)
{
    (void)state;
    char dir[512], name[64];
    snprintf(dir, sizeof dir, "%s/%s", th_env("EKKLESIA_TEST_TMPDIR"), th_unique_name("emu", name, sizeof name));
    int port;
    const char *args[] = { "--data-dir", dir, "--fault", "status=UNAVAILABLE,count=1,method=PATCH", "--seed", "5", NULL };
    pid_t pid = th_start_emulator(&port, args);
    assert_true(pid > 0);
    ec_response r;
    char st[64];
    assert_int_equal(ec_call(NULL, port, "PATCH", V1 "/keep/k", "{\"fields\":{\"v\":{\"stringValue\":\"x\"}}}", NULL, &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(error_status(&r, st, sizeof st), "UNAVAILABLE");
    ec_response_free(&r);
    assert_int_equal(ec_call(NULL, port, "PATCH", V1 "/keep/k", "{\"fields\":{\"v\":{\"stringValue\":\"x\"}}}", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *before = ec_json(&r);
    ec_response_free(&r);
    stop_ok(pid);
    pid = th_start_emulator(&port, (const char *[]){ "--data-dir", dir, NULL });
    assert_true(pid > 0);
    assert_int_equal(ec_call(NULL, port, "GET", V1 "/keep/k", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *after = ec_json(&r);
    assert_true(json_equal(before, after)); /* same fields and times */
    json_decref(before);
    json_decref(after);
    ec_response_free(&r);
    assert_int_equal(ec_call(NULL, port, "DELETE", "/emulator/v1/" DB "/documents", NULL, NULL, &r), 0);
    expect_body(&r, 200, "{}");
    ec_response_free(&r);
    assert_int_equal(ec_call(NULL, port, "GET", "/emulator/v1/" DB "/documents", NULL, NULL, &r), 0);
    expect_body(&r, 200, "{\"documents\":[]}");
    ec_response_free(&r);
    stop_ok(pid);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),      cmocka_unit_test(test_calls_keep_alive_and_json),
        cmocka_unit_test(test_bad_requests), cmocka_unit_test(test_faults_admin),
        cmocka_unit_test(test_fault_flag_and_data_dir),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
