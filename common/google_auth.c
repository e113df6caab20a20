/* google_auth.c - access tokens for Google APIs (see google_auth.h): RS256 JWTs with
 * OpenSSL, token requests with libcurl, a cached token under a mutex. */
#include "common/google_auth.h"

#include "common/base64.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

struct gauth {
    gauth_kind kind;
    pthread_mutex_t lock;
    char *token;        /* current access token */
    int64_t expires_at; /* wall-clock seconds */
    int renew_margin;
    uint64_t fetches;
    /* service account */
    char *client_email, *key_id, *private_key, *token_uri, *scope;
    /* metadata server */
    char *metadata_url;
};

static gauth *gauth_alloc(gauth_kind kind)
{
    gauth *ga = calloc(1, sizeof *ga);
    if (!ga)
        abort();
    ga->kind = kind;
    ga->renew_margin = 300;
    pthread_mutex_init(&ga->lock, NULL);
    return ga;
}

gauth *gauth_new_emulator(void) { return gauth_alloc(GAUTH_EMULATOR); }

static char *gauth_dup_field(json_t *obj, const char *name)
{
    const char *v = json_string_value(json_object_get(obj, name));
    return v ? strdup(v) : NULL;
}

gauth *gauth_new_service_account(const char *key_file, const char *token_uri, const char *scope,
                                 char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *key = json_load_file(key_file, 0, &jerr);
    if (!key) {
        snprintf(err, errlen, "service-account key %s: %s (line %d)", key_file, jerr.text, jerr.line);
        return NULL;
    }
    const char *type = json_string_value(json_object_get(key, "type"));
    if (!type || strcmp(type, "service_account") != 0) {
        snprintf(err, errlen, "service-account key %s: \"type\" is not \"service_account\"", key_file);
        json_decref(key);
        return NULL;
    }
    gauth *ga = gauth_alloc(GAUTH_SERVICE_ACCOUNT);
    ga->client_email = gauth_dup_field(key, "client_email");
    ga->key_id = gauth_dup_field(key, "private_key_id");
    ga->private_key = gauth_dup_field(key, "private_key");
    ga->token_uri = token_uri ? strdup(token_uri) : gauth_dup_field(key, "token_uri");
    ga->scope = strdup(scope ? scope : GAUTH_SCOPE_DATASTORE);
    json_decref(key);
    const char *missing = !ga->client_email ? "client_email" : !ga->private_key ? "private_key"
                        : !ga->token_uri ? "token_uri" : NULL;
    if (missing) {
        snprintf(err, errlen, "service-account key %s: no \"%s\"", key_file, missing);
        gauth_free(ga);
        return NULL;
    }
    /* Fail at start-up, not at the first write, when the key cannot sign. */
    char *probe = gauth_service_account_jwt(ga->client_email, ga->key_id, ga->private_key, ga->token_uri,
                                            ga->scope, (int64_t)time(NULL), err, errlen);
    if (!probe) {
        gauth_free(ga);
        return NULL;
    }
    free(probe);
    return ga;
}

gauth *gauth_new_metadata(const char *base, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    char url[512];
    const char *host = getenv("GCE_METADATA_HOST");
    if (base)
        snprintf(url, sizeof url, "%s", base);
    else
        snprintf(url, sizeof url, "http://%s", host && *host ? host : "metadata.google.internal");
    gauth *ga = gauth_alloc(GAUTH_METADATA);
    size_t n = strlen(url) + 80;
    ga->metadata_url = malloc(n);
    snprintf(ga->metadata_url, n, "%s/computeMetadata/v1/instance/service-accounts/default/token", url);
    return ga;
}

gauth *gauth_from_environment(const char *scope, char *err, size_t errlen)
{
    const char *emu = getenv("FIRESTORE_EMULATOR_HOST");
    if (emu && *emu)
        return gauth_new_emulator();
    const char *key = getenv("GOOGLE_APPLICATION_CREDENTIALS");
    if (key && *key)
        return gauth_new_service_account(key, NULL, scope, err, errlen);
    return gauth_new_metadata(NULL, err, errlen);
}

void gauth_free(gauth *ga)
{
    if (!ga)
        return;
    if (ga->private_key)
        OPENSSL_cleanse(ga->private_key, strlen(ga->private_key));
    if (ga->token)
        OPENSSL_cleanse(ga->token, strlen(ga->token));
    free(ga->token);
    free(ga->client_email);
    free(ga->key_id);
    free(ga->private_key);
    free(ga->token_uri);
    free(ga->scope);
    free(ga->metadata_url);
    pthread_mutex_destroy(&ga->lock);
    free(ga);
}

gauth_kind gauth_get_kind(const gauth *ga) { return ga->kind; }
void gauth_set_renew_margin(gauth *ga, int seconds) { ga->renew_margin = seconds; }
uint64_t gauth_fetch_count(const gauth *ga) { return ga->fetches; }

char *gauth_base64url(const unsigned char *data, size_t len)
{
    char *out = malloc(base64_encoded_len(len, true) + 1);
    if (!out)
        abort();
    base64_encode(data, len, out, true);
    return out;
}

static char *gauth_b64_json(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *b = gauth_base64url((const unsigned char *)text, strlen(text));
    free(text);
    json_decref(j);
    return b;
}

char *gauth_service_account_jwt(const char *client_email, const char *key_id, const char *private_key_pem,
                                const char *audience, const char *scope, int64_t now, char *err, size_t errlen)
{
    json_t *header = json_pack("{s:s,s:s}", "alg", "RS256", "typ", "JWT");
    if (key_id)
        json_object_set_new(header, "kid", json_string(key_id));
    json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", client_email, "scope", scope, "aud", audience,
                               "iat", (json_int_t)now, "exp", (json_int_t)(now + 3600));
    char *h = gauth_b64_json(header), *c = gauth_b64_json(claims);
    size_t ilen = strlen(h) + 1 + strlen(c);
    char *input = malloc(ilen + 1);
    snprintf(input, ilen + 1, "%s.%s", h, c);
    free(h);
    free(c);

    char *jwt = NULL;
    BIO *bio = BIO_new_mem_buf(private_key_pem, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t siglen = sizeof sig;
    if (!pkey) {
        snprintf(err, errlen, "service-account key: private_key is not a PEM private key");
    } else if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "service-account key: private_key is not an RSA key");
    } else if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
               EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, ilen) != 1) {
        snprintf(err, errlen, "service-account key: signing the JWT failed");
    } else {
        char *s = gauth_base64url(sig, siglen);
        jwt = malloc(ilen + 2 + strlen(s));
        sprintf(jwt, "%s.%s", input, s);
        free(s);
    }
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    free(input);
    return jwt;
}

typedef struct { char *buf; size_t len; } gauth_body;

static size_t gauth_collect(char *data, size_t size, size_t n, void *ud)
{
    gauth_body *b = ud;
    size_t add = size * n;
    if (b->len + add > 1 << 20)
        return 0; /* a token response is small; refuse anything huge */
    char *nb = realloc(b->buf, b->len + add + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->len, data, add);
    b->buf = nb;
    b->len += add;
    b->buf[b->len] = '\0';
    return add;
}

/* Performs the token request; on success stores the token and its expiry. */
static int gauth_fetch(gauth *ga, int *http_status, char *err, size_t errlen)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    gauth_body body = { NULL, 0 };
    struct curl_slist *headers = NULL;
    char *form = NULL;
    const char *what;
    if (ga->kind == GAUTH_SERVICE_ACCOUNT) {
        what = "token endpoint";
        char *jwt = gauth_service_account_jwt(ga->client_email, ga->key_id, ga->private_key, ga->token_uri,
                                              ga->scope, (int64_t)time(NULL), err, errlen);
        if (!jwt) {
            curl_easy_cleanup(curl);
            return -1;
        }
        size_t n = strlen(jwt) + 80;
        form = malloc(n);
        snprintf(form, n, "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s", jwt);
        free(jwt);
        curl_easy_setopt(curl, CURLOPT_URL, ga->token_uri);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
        headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
    } else {
        what = "metadata server";
        curl_easy_setopt(curl, CURLOPT_URL, ga->metadata_url);
        headers = curl_slist_append(headers, "Metadata-Flavor: Google");
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, gauth_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    *http_status = (int)status;
    int rc = -1;
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", what, curl_easy_strerror(cc));
    } else if (status != 200) {
        /* Google's OAuth errors are {"error": "...", "error_description": "..."}; they
         * hold no secret, and say why (invalid_grant, ...). */
        json_t *j = body.buf ? json_loads(body.buf, 0, NULL) : NULL;
        const char *e = j ? json_string_value(json_object_get(j, "error")) : NULL;
        const char *d = j ? json_string_value(json_object_get(j, "error_description")) : NULL;
        snprintf(err, errlen, "%s answered HTTP %ld%s%s%s%s", what, status, e ? ": " : "", e ? e : "",
                 d ? " - " : "", d ? d : "");
        json_decref(j);
    } else {
        json_t *j = json_loads(body.buf ? body.buf : "", 0, NULL);
        const char *tok = j ? json_string_value(json_object_get(j, "access_token")) : NULL;
        json_int_t expires = j ? json_integer_value(json_object_get(j, "expires_in")) : 0;
        if (!tok || !*tok) {
            snprintf(err, errlen, "%s answered without an access_token", what);
        } else {
            if (ga->token)
                OPENSSL_cleanse(ga->token, strlen(ga->token));
            free(ga->token);
            ga->token = strdup(tok);
            ga->expires_at = (int64_t)time(NULL) + (expires > 0 ? expires : 3600);
            ga->fetches++;
            rc = 0;
            log_info("google auth: new access token from the %s, valid %lld s", what, (long long)(expires > 0 ? expires : 3600));
        }
        json_decref(j);
    }
    if (form) {
        OPENSSL_cleanse(form, strlen(form));
        free(form);
    }
    free(body.buf);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

int gauth_authorization(gauth *ga, char *buf, size_t len, int *http_status, char *err, size_t errlen)
{
    int status = 0;
    if (http_status)
        *http_status = 0;
    if (ga->kind == GAUTH_EMULATOR) {
        snprintf(buf, len, "Bearer owner");
        return 0;
    }
    pthread_mutex_lock(&ga->lock);
    int rc = 0;
    if (!ga->token || (int64_t)time(NULL) >= ga->expires_at - ga->renew_margin) {
        rc = gauth_fetch(ga, &status, err, errlen);
        /* A token that still works is better than none while the endpoint is down. */
        if (rc != 0 && ga->token && (int64_t)time(NULL) < ga->expires_at - 10) {
            log_warn("google auth: renewing the token failed (%s); using the current one", err);
            rc = 0;
        }
    }
    if (rc == 0)
        snprintf(buf, len, "Bearer %s", ga->token);
    else if (http_status)
        *http_status = status;
    pthread_mutex_unlock(&ga->lock);
    return rc;
}
