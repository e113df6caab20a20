/* test_security.c - the secure transports, end to end through common/: PostgreSQL
 * over TLS with the server certificate verified, Kafka over SASL_SSL with
 * SASL PLAIN set only through KAFKA_* variables (as a container would), and the
 * failures an operator must see clearly: a wrong password, an unknown CA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "tests/support/harness.h"

static void postgres_tls_verified(void **state)
{
    (void)state;
    char conninfo[512], err[512];
    snprintf(conninfo, sizeof conninfo, "host=localhost port=%s user=%s dbname=postgres sslmode=verify-full sslrootcert=%s",
             th_env("EKKLESIA_TEST_PGPORT"), th_env("EKKLESIA_TEST_PGUSER"), th_env("EKKLESIA_TEST_CA"));
    PGconn *c = pg_connect(conninfo, true, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(PQsslInUse(c), 1);
    PQfinish(c);
    /* A certificate no trusted CA signed is refused. */
    snprintf(conninfo, sizeof conninfo, "host=localhost port=%s user=%s dbname=postgres sslmode=verify-full sslrootcert=/etc/ssl/certs/ca-certificates.crt",
             th_env("EKKLESIA_TEST_PGPORT"), th_env("EKKLESIA_TEST_PGUSER"));
    assert_null(pg_connect(conninfo, false, err, sizeof err));
    assert_non_null(strstr(err, "certificate"));
}

static rd_kafka_resp_err_t last_error;

static void record_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)reason;
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL || last_error == 0)
        last_error = (rd_kafka_resp_err_t)err;
}

static void set_sasl_env(const char *mechanism, const char *password, const char *ca)
{
    setenv("KAFKA_BOOTSTRAP_SERVERS", th_env("EKKLESIA_TEST_KAFKA_SASL_BOOTSTRAP"), 1);
    setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL", 1);
    setenv("KAFKA_SASL_MECHANISM", mechanism, 1);
    setenv("KAFKA_SASL_USERNAME", th_env("EKKLESIA_TEST_KAFKA_USER"), 1);
    setenv("KAFKA_SASL_PASSWORD", password, 1);
    setenv("KAFKA_SSL_CA_LOCATION", ca, 1);
}

static void clear_sasl_env(const char *plaintext_bootstrap)
{
    setenv("KAFKA_BOOTSTRAP_SERVERS", plaintext_bootstrap, 1);
    unsetenv("KAFKA_SECURITY_PROTOCOL");
    unsetenv("KAFKA_SASL_MECHANISM");
    unsetenv("KAFKA_SASL_USERNAME");
    unsetenv("KAFKA_SASL_PASSWORD");
    unsetenv("KAFKA_SSL_CA_LOCATION");
}

/* Creates a topic, produces one record and reads it back, all over SASL_SSL. */
static rd_kafka_resp_err_t sasl_roundtrip(const char *mechanism, const char *password, const char *ca)
{
    char plaintext[128];
    snprintf(plaintext, sizeof plaintext, "%s", th_env("KAFKA_BOOTSTRAP_SERVERS"));
    set_sasl_env(mechanism, password, ca);
    cfg_error cerr;
    rd_kafka_conf_t *conf = kafka_conf_new(NULL, "test-security", &cerr);
    assert_non_null(conf);
    rd_kafka_conf_set_error_cb(conf, record_error);
    last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
    char err[512];
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(p);
    char topic[64];
    th_unique_name("secure", topic, sizeof topic);
    const char *topics[] = { topic };
    rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (kafka_ensure_topics(p, topics, 1, 1, 1, 4000, err, sizeof err) != 0) {
        rd_kafka_poll(p, 100); /* serves the error callback */
        result = last_error ? last_error : RD_KAFKA_RESP_ERR__FAIL;
        goto out;
    }
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE((void *)"secret-free", 11), RD_KAFKA_V_END);
    result = rd_kafka_flush(p, 15000);
    if (result == RD_KAFKA_RESP_ERR_NO_ERROR) {
        int64_t lo, hi;
        result = rd_kafka_query_watermark_offsets(p, topic, 0, &lo, &hi, 10000);
        if (!result && hi - lo != 1)
            result = RD_KAFKA_RESP_ERR__FAIL;
    }
out:
    rd_kafka_destroy(p);
    clear_sasl_env(plaintext);
    return result;
}

static void kafka_sasl_plain_over_tls(void **state)
{
    (void)state;
    assert_int_equal(sasl_roundtrip("PLAIN", th_env("EKKLESIA_TEST_KAFKA_PASSWORD"), th_env("EKKLESIA_TEST_CA")), 0);
}

static void kafka_wrong_password_is_an_authentication_error(void **state)
{
    (void)state;
    assert_int_not_equal(sasl_roundtrip("PLAIN", "not-the-password", th_env("EKKLESIA_TEST_CA")), 0);
    assert_int_equal(last_error, RD_KAFKA_RESP_ERR__AUTHENTICATION);
}

static void kafka_unknown_ca_is_refused(void **state)
{
    (void)state;
    assert_int_not_equal(sasl_roundtrip("PLAIN", th_env("EKKLESIA_TEST_KAFKA_PASSWORD"),
                                        "/etc/ssl/certs/ca-certificates.crt"), 0);
    assert_int_equal(last_error, RD_KAFKA_RESP_ERR__SSL);
}

int main(void)
{
    log_init("test-security");
    log_set_level(LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(postgres_tls_verified),
        cmocka_unit_test(kafka_sasl_plain_over_tls),
        cmocka_unit_test(kafka_wrong_password_is_an_authentication_error),
        cmocka_unit_test(kafka_unknown_ca_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
