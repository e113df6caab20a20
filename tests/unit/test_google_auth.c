/* test_google_auth.c - Google credentials with a real RSA key: a local token endpoint
 * verifies the RS256 signature and the claims of the JWT assertion before it hands
 * out a token; caching and renewal; the metadata server's required header; refusals
 * and bad key files give clear errors that hold no secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/google_auth.h"
#include "common/log.h"

/* The fake Google: a token endpoint and a metadata server on one port. */
typedef struct fake_google {
    struct MHD_Daemon *d;
    int port;
    EVP_PKEY *trusted;      /* public key the endpoint verifies with */
    char token_uri[128];
    int issued;
    int expires_in;
    char last_error[256];
} fake_google;

static fake_google fg;
static EVP_PKEY *key_a, *key_b;

static unsigned char *b64url_decode(const char *in, size_t len, size_t *out_len)
{
    char *std = calloc(1, len + 4);
    size_t i;
    for (i = 0; i < len; i++)
        std[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    while (i % 4)
        std[i++] = '=';
    unsigned char *out = malloc(i);
    int n = EVP_DecodeBlock(out, (unsigned char *)std, (int)i);
    free(std);
    size_t pad = 0;
    while (len % 4 && pad < (4 - len % 4))
        pad++;
    *out_len = n > 0 ? (size_t)n - pad : 0;
    return out;
}

/* Returns NULL when the assertion is valid, else why not. */
static const char *verify_assertion(const char *jwt)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2)
        return "not a JWT";
    size_t slen, clen;
    unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &slen);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, fg.trusted) == 1 &&
             EVP_DigestVerify(md, sig, slen, (const unsigned char *)jwt, (size_t)(d2 - jwt)) == 1;
    EVP_MD_CTX_free(md);
    free(sig);
    if (!ok)
        return "Invalid JWT Signature.";
    unsigned char *claims = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &clen);
    json_t *c = json_loadb((char *)claims, clen, 0, NULL);
    free(claims);
    const char *why = NULL;
    if (!c)
        why = "claims are not JSON";
    else if (strcmp(json_string_value(json_object_get(c, "aud")), fg.token_uri) != 0)
        why = "wrong audience";
    else if (strcmp(json_string_value(json_object_get(c, "iss")), "sync@ekklesia-test.iam.gserviceaccount.com") != 0)
        why = "wrong issuer";
    else if (strcmp(json_string_value(json_object_get(c, "scope")), GAUTH_SCOPE_DATASTORE) != 0)
        why = "wrong scope";
    else if (json_integer_value(json_object_get(c, "exp")) - json_integer_value(json_object_get(c, "iat")) != 3600)
        why = "lifetime is not one hour";
    json_decref(c);
    return why;
}

typedef struct { char *buf; size_t len; } upload;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)cls;
    (void)version;
    upload *u = *con_cls;
    if (!u) {
        *con_cls = u = calloc(1, sizeof *u);
        return MHD_YES;
    }
    if (*size) {
        u->buf = realloc(u->buf, u->len + *size + 1);
        memcpy(u->buf + u->len, data, *size);
        u->len += *size;
        u->buf[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    char body[256];
    if (strcmp(method, "GET") == 0 && strstr(url, "/computeMetadata/v1/instance/service-accounts/default/token")) {
        const char *flavor = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Metadata-Flavor");
        if (!flavor || strcmp(flavor, "Google") != 0)
            return reply(conn, 403, "{\"error\":\"missing Metadata-Flavor\"}");
        snprintf(body, sizeof body, "{\"access_token\":\"meta-%d\",\"expires_in\":%d,\"token_type\":\"Bearer\"}",
                 ++fg.issued, fg.expires_in);
        return reply(conn, 200, body);
    }
    if (strcmp(method, "POST") != 0 || strcmp(url, "/token") != 0)
        return reply(conn, 404, "{\"error\":\"not_found\"}");
    const char *a = u->buf ? strstr(u->buf, "assertion=") : NULL;
    if (!u->buf || !strstr(u->buf, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer") || !a)
        return reply(conn, 400, "{\"error\":\"unsupported_grant_type\"}");
    const char *why = verify_assertion(a + 10);
    if (why) {
        snprintf(fg.last_error, sizeof fg.last_error, "%s", why);
        snprintf(body, sizeof body, "{\"error\":\"invalid_grant\",\"error_description\":\"%s\"}", why);
        return reply(conn, 400, body);
    }
    snprintf(body, sizeof body, "{\"access_token\":\"tok-%d\",\"expires_in\":%d,\"token_type\":\"Bearer\"}",
             ++fg.issued, fg.expires_in);
    return reply(conn, 200, body);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    upload *u = *con_cls;
    if (u) {
        free(u->buf);
        free(u);
    }
}

static char *pem_of(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static char key_path[64];

static void write_key_file(EVP_PKEY *k)
{
    char *pem = pem_of(k);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "service_account", "project_id", "ekklesia-test",
                          "private_key_id", "abc123", "private_key", pem, "client_email",
                          "sync@ekklesia-test.iam.gserviceaccount.com", "token_uri", fg.token_uri);
    assert_int_equal(json_dump_file(j, key_path, 0), 0);
    json_decref(j);
    free(pem);
}

static int setup(void **state)
{
    (void)state;
    key_a = EVP_RSA_gen(2048);
    key_b = EVP_RSA_gen(2048);
    fg.trusted = key_a;
    fg.expires_in = 3600;
    fg.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, NULL,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    fg.port = MHD_get_daemon_info(fg.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(fg.token_uri, sizeof fg.token_uri, "http://127.0.0.1:%d/token", fg.port);
    snprintf(key_path, sizeof key_path, "/tmp/test_gauth_XXXXXX");
    int fd = mkstemp(key_path);
    close(fd);
    return fg.d ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(fg.d);
    EVP_PKEY_free(key_a);
    EVP_PKEY_free(key_b);
    unlink(key_path);
    return 0;
}

static void service_account_token_is_fetched_once_and_cached(void **state)
{
    (void)state;
    write_key_file(key_a);
    fg.issued = 0;
    fg.expires_in = 3600;
    char err[256], auth[256];
    gauth *ga = gauth_new_service_account(key_path, NULL, NULL, err, sizeof err);
    assert_non_null(ga);
    assert_int_equal(gauth_get_kind(ga), GAUTH_SERVICE_ACCOUNT);
    int status;
    assert_int_equal(gauth_authorization(ga, auth, sizeof auth, &status, err, sizeof err), 0);
    assert_string_equal(auth, "Bearer tok-1");
    assert_int_equal(gauth_authorization(ga, auth, sizeof auth, &status, err, sizeof err), 0);
    assert_string_equal(auth, "Bearer tok-1");
    assert_int_equal(fg.issued, 1);
    assert_int_equal(gauth_fetch_count(ga), 1);
    gauth_free(ga);
}

static void token_is_renewed_before_it_expires(void **state)
{
    (void)state;
    write_key_file(key_a);
    fg.issued = 0;
    fg.expires_in = 120; /* inside the 300 s renewal margin: every use renews */
    char err[256], auth[256];
    gauth *ga = gauth_new_service_account(key_path, NULL, NULL, err, sizeof err);
    assert_int_equal(gauth_authorization(ga, auth, sizeof auth, NULL, err, sizeof err), 0);
    assert_string_equal(auth, "Bearer tok-1");
    assert_int_equal(gauth_authorization(ga, auth, sizeof auth, NULL, err, sizeof err), 0);
    assert_string_equal(auth, "Bearer tok-2");
    gauth_set_renew_margin(ga, 60); /* now 120 s is comfortably valid */
    assert_int_equal(gauth_authorization(ga, auth, sizeof auth, NULL, err, sizeof err), 0);
    assert_string_equal(auth, "Bearer tok-2");
    gauth_free(ga);
    fg.expires_in = 3600;
}

static void wrong_key_is_refused_with_a_clear_error(void **state)
{
    (void)state;
    write_key_file(key_b); /* signed with a key Google does not know */
    char err[512], auth[256];
    gauth *ga = gauth_new_service_account(key_path, NULL, NULL, err, sizeof err);
    assert_non_null(ga);
    int status = 0;
    assert_int_equal(gauth_authorization(ga, auth, sizeof auth, &status, err, sizeof err), -1);
    assert_int_equal(status, 400);
    assert_string_equal(fg.last_error, "Invalid JWT Signature.");
    assert_non_null(strstr(err, "invalid_grant"));
    assert_null(strstr(err, "eyJ")); /* no JWT in the message */
    gauth_free(ga);
}

static void token_endpoint_down_is_an_error(void **state)
{
    (void)state;
    write_key_file(key_a);
    char err[512], auth[256];
    gauth *ga = gauth_new_service_account(key_path, "http://127.0.0.1:1/token", NULL, err, sizeof err);
    assert_non_null(ga);
    int status = -1;
    assert_int_equal(gauth_authorization(ga, auth, sizeof auth, &status, err, sizeof err), -1);
    assert_int_equal(status, 0);
    assert_non_null(strstr(err, "token endpoint"));
    gauth_free(ga);
}

static void metadata_server_token(void **state)
{
    (void)state;
    fg.issued = 0;
    char base[64], err[256], auth[256];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", fg.port);
    gauth *ga = gauth_new_metadata(base, err, sizeof err);
    assert_int_equal(gauth_authorization(ga, auth, sizeof auth, NULL, err, sizeof err), 0);
    assert_string_equal(auth, "Bearer meta-1");
    gauth_free(ga);
    /* GCE_METADATA_HOST is honoured as Google's libraries honour it. */
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", fg.port);
    setenv("GCE_METADATA_HOST", host, 1);
    unsetenv("FIRESTORE_EMULATOR_HOST");
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    ga = gauth_from_environment(NULL, err, sizeof err);
    assert_int_equal(gauth_get_kind(ga), GAUTH_METADATA);
    assert_int_equal(gauth_authorization(ga, auth, sizeof auth, NULL, err, sizeof err), 0);
    assert_string_equal(auth, "Bearer meta-2");
    gauth_free(ga);
    unsetenv("GCE_METADATA_HOST");
}

static void emulator_is_owner(void **state)
{
    (void)state;
    setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080", 1);
    char err[256], auth[64];
    gauth *ga = gauth_from_environment(NULL, err, sizeof err);
    assert_int_equal(gauth_get_kind(ga), GAUTH_EMULATOR);
    assert_int_equal(gauth_authorization(ga, auth, sizeof auth, NULL, err, sizeof err), 0);
    assert_string_equal(auth, "Bearer owner");
    gauth_free(ga);
    unsetenv("FIRESTORE_EMULATOR_HOST");
}

static void bad_key_files(void **state)
{
    (void)state;
    char err[512];
    FILE *f = fopen(key_path, "w");
    fputs("{not json", f);
    fclose(f);
    assert_null(gauth_new_service_account(key_path, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, key_path));
    f = fopen(key_path, "w");
    fputs("{\"type\":\"authorized_user\"}", f);
    fclose(f);
    assert_null(gauth_new_service_account(key_path, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "service_account"));
    f = fopen(key_path, "w");
    fputs("{\"type\":\"service_account\",\"client_email\":\"a@b\",\"token_uri\":\"http://x\",\"private_key\":\"garbage\"}", f);
    fclose(f);
    assert_null(gauth_new_service_account(key_path, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "not a PEM private key"));
    assert_null(gauth_new_service_account("/nonexistent/key.json", NULL, NULL, err, sizeof err));
}

static void base64url_vectors(void **state)
{
    (void)state;
    const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar", "\xfb\xff" };
    const char *out[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy", "-_8" };
    for (size_t i = 0; i < 8; i++) {
        char *b = gauth_base64url((const unsigned char *)in[i], strlen(in[i]));
        assert_string_equal(b, out[i]);
        free(b);
    }
}

int main(void)
{
    log_init("test-google-auth");
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(service_account_token_is_fetched_once_and_cached),
        cmocka_unit_test(token_is_renewed_before_it_expires),
        cmocka_unit_test(wrong_key_is_refused_with_a_clear_error),
        cmocka_unit_test(token_endpoint_down_is_an_error),
        cmocka_unit_test(metadata_server_token),
        cmocka_unit_test(emulator_is_owner),
        cmocka_unit_test(bad_key_files),
        cmocka_unit_test(base64url_vectors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
