/* test_common.c - unit tests of common/: config and its environment overrides and
 * errors, the metrics text format, backoff bounds, LSN text, Kafka's murmur2, the
 * bound on a clean stop, JSON trees read and written as jansson does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/base64.h"
#include "common/cli.h"
#include "common/config.h"
#include "common/json_tree.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_common_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void config_file_env_and_defaults(void **state)
{
    (void)state;
    char *path = write_temp("slot = \"s1\";\nkafka = { partitions = 6; };\nflag = true;\n");
    cfg_error err;
    cfg_file *cf = cfg_open(path, &err);
    assert_non_null(cf);
    const char *s;
    long long n;
    bool b;
    assert_int_equal(cfg_string(cf, "slot", "d", &s, &err), 0);
    assert_string_equal(s, "s1");
    assert_int_equal(cfg_string(cf, "missing", "d", &s, &err), 0);
    assert_string_equal(s, "d");
    assert_int_equal(cfg_int(cf, "kafka.partitions", 1, 1, 100, &n, &err), 0);
    assert_int_equal(n, 6);
    setenv("EKKLESIA_KAFKA_PARTITIONS", "12", 1);
    assert_int_equal(cfg_int(cf, "kafka.partitions", 1, 1, 100, &n, &err), 0);
    assert_int_equal(n, 12);
    setenv("EKKLESIA_KAFKA_PARTITIONS", "twelve", 1);
    assert_int_equal(cfg_int(cf, "kafka.partitions", 1, 1, 100, &n, &err), -1);
    assert_string_equal(err.where, "environment EKKLESIA_KAFKA_PARTITIONS");
    unsetenv("EKKLESIA_KAFKA_PARTITIONS");
    assert_int_equal(cfg_bool(cf, "flag", false, &b, &err), 0);
    assert_true(b);
    cfg_close(cf);
    unlink(path);
}

static void config_errors_name_file_and_line(void **state)
{
    (void)state;
    char *path = write_temp("a = 1;\nkafka = {\n  partitions = 500;\n};\nname = 7;\n");
    cfg_error err;
    cfg_file *cf = cfg_open(path, &err);
    assert_non_null(cf);
    long long n;
    assert_int_equal(cfg_int(cf, "kafka.partitions", 1, 1, 100, &n, &err), -1);
    char expect[128];
    snprintf(expect, sizeof expect, "%s:3", path);
    assert_string_equal(err.where, expect);
    assert_non_null(strstr(err.reason, "out of range"));
    const char *s;
    assert_int_equal(cfg_string(cf, "name", NULL, &s, &err), -1);
    assert_non_null(strstr(err.reason, "must be a string"));
    static const char *const modes[] = { "initial", "never", NULL };
    int mode;
    assert_int_equal(cfg_enum(cf, "mode", "initial", modes, &mode, &err), 0);
    assert_int_equal(mode, 0);
    cfg_close(cf);
    unlink(path);

    path = write_temp("a = 1;\nb = [;\n");
    assert_null(cfg_open(path, &err));
    snprintf(expect, sizeof expect, "%s:2", path);
    assert_string_equal(err.where, expect);
    unlink(path);
    assert_null(cfg_open("/nonexistent/x.conf", &err));
    assert_non_null(strstr(err.reason, "cannot read file"));
}

static void metrics_text_format(void **state)
{
    (void)state;
    metrics_reset();
    metric *c = metric_counter("ekklesia_sync_events_total", "Events.", "table=\"t\",op=\"c\"");
    metric_add(c, 2);
    assert_ptr_equal(metric_counter("ekklesia_sync_events_total", "Events.", "table=\"t\",op=\"c\""), c);
    metric_add(metric_counter("ekklesia_sync_events_total", "Events.", "table=\"t\",op=\"u\""), 1);
    double bounds[] = { 0.1, 1 };
    metric *h = metric_histogram("ekklesia_sync_request_duration_seconds", "Durations.", NULL, bounds, 2);
    metric_observe(h, 0.05);
    metric_observe(h, 0.5);
    metric_observe(h, 5);
    char *text = metrics_render();
    assert_non_null(strstr(text, "# TYPE ekklesia_sync_events_total counter\n"
                                 "ekklesia_sync_events_total{table=\"t\",op=\"c\"} 2\n"
                                 "ekklesia_sync_events_total{table=\"t\",op=\"u\"} 1\n"));
    assert_non_null(strstr(text, "ekklesia_sync_request_duration_seconds_bucket{le=\"0.1\"} 1\n"
                                 "ekklesia_sync_request_duration_seconds_bucket{le=\"1\"} 2\n"
                                 "ekklesia_sync_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"
                                 "ekklesia_sync_request_duration_seconds_sum 5.5499999999999998\n"
                                 "ekklesia_sync_request_duration_seconds_count 3\n"));
    /* One HELP/TYPE header per name. */
    assert_null(strstr(strstr(text, "# TYPE ekklesia_sync_events_total") + 1, "# TYPE ekklesia_sync_events_total"));
    free(text);
    metrics_reset();
}

static void backoff_stays_within_bounds(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, 100, 5000);
    int64_t max_seen = 0;
    for (int i = 0; i < 200; i++) {
        int64_t d = backoff_next(&b);
        assert_true(d >= 0 && d <= 5000);
        if (i < 1)
            assert_true(d <= 100);
        if (d > max_seen)
            max_seen = d;
    }
    assert_true(max_seen > 1000); /* it did grow */
    backoff_reset(&b);
    assert_true(backoff_next(&b) <= 100);
}

static void lsn_text(void **state)
{
    (void)state;
    uint64_t lsn;
    char buf[32];
    assert_int_equal(pg_lsn_parse("16/B374D848", &lsn), 0);
    assert_true(lsn == 0x16B374D848ULL);
    assert_string_equal(pg_lsn_format(lsn, buf, sizeof buf), "16/B374D848");
    assert_int_equal(pg_lsn_parse("junk", &lsn), -1);
    assert_int_equal(pg_lsn_parse("1/2x", &lsn), -1);
    assert_int_equal(pg_lsn_parse(NULL, &lsn), -1);
}

/* Vectors from Kafka's own UtilsTest.testMurmur2 (int results). */
static void murmur2_matches_java_client(void **state)
{
    (void)state;
    struct { const char *key; int32_t hash; } cases[] = {
        { "21", -973932308 },
        { "foobar", -790332482 },
        { "a-little-bit-long-string", -985981536 },
        { "a-little-bit-longer-string", -1486304829 },
        { "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971 },
        { "abc", 479470107 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t want = (int32_t)((uint32_t)cases[i].hash & 0x7fffffff) % 1000003;
        assert_int_equal(kafka_partition_for_key(cases[i].key, strlen(cases[i].key), 1000003), want);
    }
}

static void kafka_properties_from_file_and_env(void **state)
{
    (void)state;
    char *path = write_temp("kafka = { bootstrap_servers = \"h:1\"; properties = { linger_ms = 7; compression_codec = \"lz4\"; }; };\n");
    cfg_error err;
    cfg_file *cf = cfg_open(path, &err);
    assert_non_null(cf);
    setenv("KAFKA_BATCH_NUM_MESSAGES", "1234", 1);
    rd_kafka_conf_t *conf = kafka_conf_new(cf, "t", &err);
    assert_non_null(conf);
    char v[64];
    size_t len = sizeof v;
    assert_int_equal(rd_kafka_conf_get(conf, "bootstrap.servers", v, &len), RD_KAFKA_CONF_OK);
    assert_string_equal(v, "h:1");
    len = sizeof v;
    assert_int_equal(rd_kafka_conf_get(conf, "linger.ms", v, &len), RD_KAFKA_CONF_OK);
    assert_string_equal(v, "7");
    len = sizeof v;
    assert_int_equal(rd_kafka_conf_get(conf, "batch.num.messages", v, &len), RD_KAFKA_CONF_OK);
    assert_string_equal(v, "1234");
    rd_kafka_conf_destroy(conf);
    /* A bad property names itself, never a secret's value. */
    setenv("KAFKA_SASL_PASSWORD_TYPO", "hunter2", 1);
    assert_null(kafka_conf_new(cf, "t", &err));
    assert_string_equal(err.where, "environment KAFKA_SASL_PASSWORD_TYPO");
    assert_null(strstr(err.reason, "hunter2"));
    unsetenv("KAFKA_SASL_PASSWORD_TYPO");
    unsetenv("KAFKA_BATCH_NUM_MESSAGES");
    cfg_close(cf);
    unlink(path);
}

/* RFC 4648 section 10's vectors, in both alphabets. */
static void base64_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *std[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    static const char *url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
    char out[16];
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        size_t n = strlen(in[i]);
        assert_int_equal(base64_encode((const unsigned char *)in[i], n, out, false), base64_encoded_len(n, false));
        assert_string_equal(out, std[i]);
        assert_int_equal(base64_encode((const unsigned char *)in[i], n, out, true), base64_encoded_len(n, true));
        assert_string_equal(out, url[i]);
    }
    const unsigned char hi[] = { 0xfb, 0xff }; /* the two alphabets differ in 62 and 63 */
    base64_encode(hi, 2, out, false);
    assert_string_equal(out, "+/8=");
    base64_encode(hi, 2, out, true);
    assert_string_equal(out, "-_8");
}

/* json_tree_dump's text of v (static, NUL-terminated). */
static const char *tree_text(const json_t *v)
{
    static jbuf b;
    jbuf_reset(&b);
    json_tree_dump(&b, v);
    return jbuf_cstr(&b);
}

/* json_tree_load gives json_loadb's tree, in the same member order, or its error;
 * json_tree_dump writes what json_dumps does (tests/fuzz/fuzz_json_tree.c checks both
 * on arbitrary bytes; these are the cases each path of the code takes). */
static void json_tree_reads_and_writes_as_jansson(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"b\":1,\"a\":{\"z\":[],\"y\":{}},\"\":\"\"}",
        " [ \"tab\\there\" , \"\\u00e9\\ud83d\\ude00\\/\\\"\\\\\" , \"\xc3\xa9\" ] ",
        "{\"k\\\"ey\":{\"\\u0041\":[true,false,null]},\"n\":-0}",
        "[0.1,1.0,-2.5e-7,1e20,1E+300,123456789012345678901234.5,-9223372036854775808,9223372036854775807]",
        "[\"\\u001f\\u0001\\b\\f\\n\\r\\t\"]",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        json_t *want = json_loads(texts[i], 0, NULL), *got = json_tree_load(texts[i], strlen(texts[i]), 0, NULL);
        assert_non_null(want);
        assert_non_null(got);
        assert_true(json_equal(want, got));
        char *dumped = json_dumps(want, JSON_COMPACT);
        if (i < 4)
            assert_string_equal(tree_text(got), dumped); /* order, escapes, reals */
        free(dumped);
        json_decref(want);
        json_decref(got);
    }
    json_t *v = json_tree_load(texts[3], strlen(texts[3]), 0, NULL);
    assert_string_equal(tree_text(v), "[0.10000000000000001,1.0,-2.4999999999999999e-7,1e20,1.0000000000000001e300,"
                                      "1.2345678901234569e23,-9223372036854775808,9223372036854775807]");
    json_decref(v);
    v = json_tree_load(texts[4], strlen(texts[4]), 0, NULL);
    assert_string_equal(tree_text(v), "[\"\\u001f\\u0001\\b\\f\\n\\r\\t\"]"); /* jansson: \u001F */
    json_decref(v);

    /* the text need not end in a NUL: a number at the very end stops there */
    v = json_tree_load("12345", 3, JSON_DECODE_ANY, NULL);
    assert_true(json_is_integer(v) && json_integer_value(v) == 123);
    json_decref(v);

    /* a repeated key: the last value wins, or jansson's error when refused */
    v = json_tree_load("{\"a\":1,\"b\":2,\"a\":3}", 19, 0, NULL);
    assert_int_equal(json_object_size(v), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 3);
    assert_string_equal(tree_text(v), "{\"a\":3,\"b\":2}");
    json_decref(v);
    json_error_t we, ge;
    assert_null(json_loadb("{\"a\":1,\"a\":2}", 13, JSON_REJECT_DUPLICATES, &we));
    assert_null(json_tree_load("{\"a\":1,\"a\":2}", 13, JSON_REJECT_DUPLICATES, &ge));
    assert_string_equal(ge.text, we.text);
    assert_int_equal(ge.position, we.position);

    /* errors are jansson's own, position and all */
    static const char *const bad[] = { "", "{\"a\":}", "[1,2", "\"x\"", "{\"a\":\"\xff\"}", "[1e400]" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_null(json_loadb(bad[i], strlen(bad[i]), 0, &we));
        assert_null(json_tree_load(bad[i], strlen(bad[i]), 0, &ge));
        assert_string_equal(ge.text, we.text);
        assert_int_equal(ge.column, we.column);
    }

    /* a NUL in a string, where the caller allows it, and written back escaped */
    v = json_tree_load("[\"a\\u0000b\"]", 12, JSON_ALLOW_NUL, NULL);
    assert_int_equal(json_string_length(json_array_get(v, 0)), 3);
    assert_string_equal(tree_text(v), "[\"a\\u0000b\"]");
    json_decref(v);
}

static const char *conf_value(rd_kafka_conf_t *conf, const char *key, char *v, size_t len)
{
    size_t n = len;
    if (rd_kafka_conf_get(conf, key, v, &n) == RD_KAFKA_CONF_OK)
        return v;
    rd_kafka_topic_conf_t *tc = rd_kafka_conf_get_default_topic_conf(conf); /* a topic property */
    assert_non_null(tc);
    assert_int_equal(rd_kafka_topic_conf_get(tc, key, v, &len), RD_KAFKA_CONF_OK);
    return v;
}

/* A service's default applies only where the user set nothing, even when the user
 * set librdkafka's own default value. */
static void kafka_service_defaults_yield_to_the_user(void **state)
{
    (void)state;
    char *path = write_temp("kafka = { properties = { linger_ms = 5; }; };\n");
    cfg_error err;
    cfg_file *cf = cfg_open(path, &err);
    assert_non_null(cf);
    setenv("KAFKA_COMPRESSION_TYPE", "none", 1);
    rd_kafka_conf_t *conf = kafka_conf_new(cf, "t", &err);
    assert_non_null(conf);
    kafka_conf_default(conf, cf, "linger.ms", "5", "10");                /* the file said 5 */
    kafka_conf_default(conf, cf, "compression.type", "none", "lz4");     /* the environment said none */
    kafka_conf_default(conf, cf, "partitioner", "consistent_random", "murmur2_random"); /* nobody */
    kafka_conf_default(conf, NULL, "message.timeout.ms", "300000", "0"); /* nobody, no file */
    char v[64];
    assert_string_equal(conf_value(conf, "linger.ms", v, sizeof v), "5");
    assert_string_equal(conf_value(conf, "compression.type", v, sizeof v), "none");
    assert_string_equal(conf_value(conf, "partitioner", v, sizeof v), "murmur2_random");
    assert_string_equal(conf_value(conf, "message.timeout.ms", v, sizeof v), "0");
    rd_kafka_conf_destroy(conf);
    unsetenv("KAFKA_COMPRESSION_TYPE");
    cfg_close(cf);
    unlink(path);
}

/* A stop that hangs (Kafka gone during the final commit) ends anyway: the process exits
 * with status 0 once the budget from the stop signal is spent, saying what it left. */
static void stop_within_bounds_a_hanging_stop(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        alarm(20); /* a safety net: killed by SIGALRM, the parent sees a failure */
        log_init("test-stop");
        cli_catch_stop_signals();
        raise(SIGTERM);
        cli_stop_within(1, "the step that hangs");
        for (;;)
            pause(); /* the stop that never finishes */
    }
    close(fds[1]);
    char out[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n; /* until the child's end closes the pipe */
    out[len] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, "\"level\":\"warn\""));
    assert_non_null(strstr(out, "stopping took over 1 s: exiting without the step that hangs"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kafka_service_defaults_yield_to_the_user),
        cmocka_unit_test(base64_rfc4648_vectors),
        cmocka_unit_test(json_tree_reads_and_writes_as_jansson),
        cmocka_unit_test(config_file_env_and_defaults),
        cmocka_unit_test(config_errors_name_file_and_line),
        cmocka_unit_test(metrics_text_format),
        cmocka_unit_test(backoff_stays_within_bounds),
        cmocka_unit_test(lsn_text),
        cmocka_unit_test(murmur2_matches_java_client),
        cmocka_unit_test(kafka_properties_from_file_and_env),
        cmocka_unit_test(stop_within_bounds_a_hanging_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
