/* firestore.c - Firestore REST v1 client over libcurl multi (see firestore.h). */
#include "services/consumer/firestore.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/json_tree.h"
#include "services/consumer/fs_value.h"

#define FS_POOL 64
#define FS_KEEP_BUFFER (1 << 20) /* response buffers up to this size are reused */

struct fs_client {
    char *base;
    char root[600];
    gauth *auth;
    long timeout_ms;
    int max_inflight;
    CURLM *multi;
    CURL *pool[FS_POOL]; /* idle easy handles, reused */
    int npool;
    struct fs_xfer *xs;  /* max_inflight transfer slots; their buffers are kept */
    fs_idle_fn idle;
    void *idle_ud;
};

typedef struct fs_xfer {
    fs_call *call;
    CURL *easy;
    char *buf;
    size_t len, cap;
    int64_t retry_after_ms;
    struct curl_slist *headers;
    int64_t t0_us;
} fs_xfer;

static const char *const fs_codes[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *fs_code_name(int code)
{
    return code >= 0 && code < (int)(sizeof fs_codes / sizeof *fs_codes) ? fs_codes[code] : "UNKNOWN";
}

const char *fs_class_name(fs_class c)
{
    switch (c) {
    case FS_OK: return "ok";
    case FS_TRANSIENT: return "transient";
    case FS_PRECONDITION: return "precondition";
    case FS_AUTH: return "auth";
    case FS_PERMANENT: return "permanent";
    }
    return "unknown";
}

static fs_class fs_classify_name(const char *s)
{
    static const char *const transient[] = { "ABORTED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL",
                                             "RESOURCE_EXHAUSTED", "CANCELLED", "UNKNOWN" };
    static const char *const precondition[] = { "FAILED_PRECONDITION", "NOT_FOUND", "ALREADY_EXISTS" };
    if (!strcmp(s, "OK"))
        return FS_OK;
    for (size_t i = 0; i < sizeof transient / sizeof *transient; i++)
        if (!strcmp(s, transient[i]))
            return FS_TRANSIENT;
    for (size_t i = 0; i < sizeof precondition / sizeof *precondition; i++)
        if (!strcmp(s, precondition[i]))
            return FS_PRECONDITION;
    if (!strcmp(s, "UNAUTHENTICATED") || !strcmp(s, "PERMISSION_DENIED"))
        return FS_AUTH;
    return FS_PERMANENT;
}

fs_class fs_classify_code(int code)
{
    return fs_classify_name(fs_code_name(code));
}

fs_class fs_classify(long http, const char *status)
{
    if (status && *status)
        return fs_classify_name(status);
    if (http >= 200 && http < 300)
        return FS_OK;
    if (http == 0 || http == 408 || http == 429 || http == 500 || http == 502 || http == 503 || http == 504)
        return FS_TRANSIENT;
    if (http == 401 || http == 403)
        return FS_AUTH;
    if (http == 409 || http == 412 || http == 404)
        return FS_PRECONDITION;
    return http >= 500 ? FS_TRANSIENT : FS_PERMANENT;
}

int64_t fs_parse_retry_after(const char *v, int64_t now_s)
{
    if (!v)
        return -1;
    while (isspace((unsigned char)*v))
        v++;
    if (isdigit((unsigned char)*v)) {
        char *end;
        long long s = strtoll(v, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        return *end ? -1 : s * 1000;
    }
    time_t t = curl_getdate(v, NULL);
    if (t < 0)
        return -1;
    return t > now_s ? (int64_t)(t - now_s) * 1000 : 0;
}

void fs_call_finish(fs_call *c, long http, const char *body, size_t len, int64_t retry_after_ms)
{
    c->http_status = http;
    c->retry_after_ms = retry_after_ms;
    c->status[0] = 0;
    c->message[0] = 0;
    json_decref(c->response);
    c->response = body && len ? json_tree_load(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    const json_t *e = json_object_get(c->response, "error");
    if (json_is_object(e)) {
        const char *st = json_string_value(json_object_get(e, "status"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        snprintf(c->status, sizeof c->status, "%s", st ? st : "");
        snprintf(c->message, sizeof c->message, "%s", msg ? msg : "");
    } else if (http < 200 || http >= 300) {
        snprintf(c->message, sizeof c->message, "HTTP %ld", http);
    }
    c->cls = fs_classify(http, c->status);
    if (c->cls == FS_OK && !c->response) {
        c->cls = FS_TRANSIENT; /* a 2xx with an unreadable body: try again */
        snprintf(c->message, sizeof c->message, "response body is not JSON");
    }
}

void fs_call_clear(fs_call *c)
{
    json_decref(c->response);
    c->response = NULL;
}

fs_client *fs_client_new(const fs_options *o, char *err, size_t errlen)
{
    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    if (!o->base_url || !o->project || !*o->project) {
        snprintf(err, errlen, "firestore: base URL and project are required");
        return NULL;
    }
    fs_client *fc = calloc(1, sizeof *fc);
    fc->base = strdup(o->base_url);
    size_t bl = strlen(fc->base);
    if (bl && fc->base[bl - 1] == '/')
        fc->base[bl - 1] = 0;
    snprintf(fc->root, sizeof fc->root, "projects/%s/databases/%s/documents", o->project,
             o->database ? o->database : "(default)");
    fc->auth = o->auth;
    fc->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    fc->max_inflight = o->max_inflight > 0 ? o->max_inflight : 8;
    fc->xs = calloc((size_t)fc->max_inflight, sizeof *fc->xs);
    fc->multi = curl_multi_init();
    curl_multi_setopt(fc->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)fc->max_inflight);
    curl_multi_setopt(fc->multi, CURLMOPT_MAXCONNECTS, (long)fc->max_inflight * 2);
    return fc;
}

void fs_client_free(fs_client *fc)
{
    if (!fc)
        return;
    for (int i = 0; i < fc->npool; i++)
        curl_easy_cleanup(fc->pool[i]);
    curl_multi_cleanup(fc->multi);
    for (int i = 0; i < fc->max_inflight; i++)
        free(fc->xs[i].buf);
    free(fc->xs);
    free(fc->base);
    free(fc);
}

const char *fs_root(const fs_client *fc) { return fc->root; }

void fs_set_idle(fs_client *fc, fs_idle_fn fn, void *ud)
{
    fc->idle = fn;
    fc->idle_ud = ud;
}

static size_t fs_on_body(char *p, size_t size, size_t n, void *ud)
{
    fs_xfer *x = ud;
    size_t add = size * n;
    if (x->len + add + 1 > x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16384;
        while (cap < x->len + add + 1)
            cap *= 2;
        char *nb = realloc(x->buf, cap);
        if (!nb)
            return 0;
        x->buf = nb;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, p, add);
    x->len += add;
    x->buf[x->len] = 0;
    return add;
}

static size_t fs_on_header(char *p, size_t size, size_t n, void *ud)
{
    fs_xfer *x = ud;
    size_t len = size * n;
    if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
        char v[128];
        size_t vl = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
        memcpy(v, p + 12, vl);
        v[vl] = 0;
        char *e = v + strlen(v);
        while (e > v && isspace((unsigned char)e[-1]))
            *--e = 0;
        x->retry_after_ms = fs_parse_retry_after(v, time(NULL));
    }
    return len;
}

static CURL *fs_easy(fs_client *fc)
{
    if (fc->npool > 0) {
        CURL *e = fc->pool[--fc->npool];
        curl_easy_reset(e);
        return e;
    }
    return curl_easy_init();
}

static void fs_release(fs_client *fc, fs_xfer *x)
{
    curl_multi_remove_handle(fc->multi, x->easy);
    if (fc->npool < FS_POOL)
        fc->pool[fc->npool++] = x->easy;
    else
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    if (x->cap > FS_KEEP_BUFFER) { /* an outsized response: give it back */
        free(x->buf);
        x->buf = NULL;
        x->cap = 0;
    }
    x->call = NULL;
    x->easy = NULL;
    x->headers = NULL;
    x->len = 0;
}

static void fs_start(fs_client *fc, fs_xfer *x, fs_call *c, const char *authz)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/v1/%s%s", fc->base, fc->root, c->verb);
    x->call = c;
    x->len = 0;
    x->easy = fs_easy(fc);
    x->retry_after_ms = -1;
    x->headers = curl_slist_append(NULL, "Content-Type: application/json");
    x->headers = curl_slist_append(x->headers, authz);
    x->headers = curl_slist_append(x->headers, "Expect:"); /* no 100-continue round trip */
    x->t0_us = clock_mono_us();
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)c->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fs_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, fs_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, fc->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, fc->timeout_ms < 5000 ? fc->timeout_ms : 5000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_multi_add_handle(fc->multi, e);
}

static void fs_done(fs_client *fc, fs_xfer *x, CURLcode rc)
{
    fs_call *c = x->call;
    c->seconds = (double)(clock_mono_us() - x->t0_us) / 1e6;
    if (rc != CURLE_OK) {
        json_decref(c->response);
        c->response = NULL;
        c->http_status = 0;
        c->cls = FS_TRANSIENT;
        c->retry_after_ms = -1;
        snprintf(c->status, sizeof c->status, "%s", rc == CURLE_OPERATION_TIMEDOUT ? "DEADLINE_EXCEEDED" : "");
        snprintf(c->message, sizeof c->message, "%s", curl_easy_strerror(rc));
    } else {
        long http = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &http);
        fs_call_finish(c, http, x->buf, x->len, x->retry_after_ms);
    }
    fs_release(fc, x);
}

/* Every call fails the same way (no token). */
static size_t fs_fail_all(fs_call *calls, size_t n, fs_class cls, const char *msg)
{
    for (size_t i = 0; i < n; i++) {
        fs_call_clear(&calls[i]);
        calls[i].cls = cls;
        calls[i].http_status = 0;
        calls[i].retry_after_ms = -1;
        snprintf(calls[i].status, sizeof calls[i].status, "%s", cls == FS_AUTH ? "UNAUTHENTICATED" : "UNAVAILABLE");
        snprintf(calls[i].message, sizeof calls[i].message, "%s", msg);
    }
    return n;
}

size_t fs_perform(fs_client *fc, fs_call *calls, size_t n)
{
    char authz[4096], err[256];
    int token_status = 0;
    if (n == 0)
        return 0;
    if (gauth_authorization(fc->auth, authz + 15, sizeof authz - 15, &token_status, err, sizeof err) != 0) {
        bool refused = token_status == 400 || token_status == 401 || token_status == 403;
        return fs_fail_all(calls, n, refused ? FS_AUTH : FS_TRANSIENT, err);
    }
    memcpy(authz, "Authorization: ", 15);
    fs_xfer *xs = fc->xs;
    size_t next = 0, running = 0, failed = 0;
    bool idle_work = fc->idle != NULL;
    while (next < n || running > 0) {
        for (int s = 0; s < fc->max_inflight && next < n; s++) {
            if (!xs[s].call) {
                fs_start(fc, &xs[s], &calls[next++], authz);
                running++;
            }
        }
        int still;
        curl_multi_perform(fc->multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(fc->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            fs_xfer *x;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            fs_call *c = x->call;
            fs_done(fc, x, m->data.result);
            if (c->cls != FS_OK)
                failed++;
            running--;
        }
        if (running > 0 && (next >= n || running >= (size_t)fc->max_inflight)) {
            curl_multi_poll(fc->multi, NULL, 0, idle_work ? 0 : 100, NULL);
            if (idle_work)
                idle_work = fc->idle(fc->idle_ud);
        }
    }
    return failed;
}

/* --- responses ------------------------------------------------------------- */

static const char *fs_relative(const fs_client *fc, const char *full)
{
    size_t rl = strlen(fc->root);
    if (!full || strncmp(full, fc->root, rl) || full[rl] != '/')
        return NULL;
    return full + rl + 1;
}

json_t *fs_parse_batch_get(const fs_client *fc, const json_t *resp)
{
    if (!json_is_array(resp))
        return NULL;
    json_t *out = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(resp, i, r) {
        const json_t *found = json_object_get(r, "found");
        const char *name;
        if (found) {
            name = fs_relative(fc, json_string_value(json_object_get(found, "name")));
            json_t *f = json_object_get(found, "fields");
            json_t *e = json_pack("{s:o,s:O*}", "fields", fsv_fields_from_firestore(f), "updateTime",
                                  json_object_get(found, "updateTime"));
            if (name)
                json_object_set_new(out, name, e);
            else
                json_decref(e);
        } else if ((name = fs_relative(fc, json_string_value(json_object_get(r, "missing"))))) {
            json_object_set_new(out, name, json_null());
        }
    }
    return out;
}

int fs_parse_batch_write(const json_t *resp, size_t n, fs_class *cls, char (*msg)[160], char (*code)[40])
{
    const json_t *st = json_object_get(resp, "status");
    if (!json_is_array(st) || json_array_size(st) != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(st, i);
        int c = (int)json_integer_value(json_object_get(s, "code"));
        cls[i] = fs_classify_code(c);
        if (msg) {
            const char *m = json_string_value(json_object_get(s, "message"));
            snprintf(msg[i], sizeof msg[i], "%s", m ? m : "");
        }
        if (code)
            snprintf(code[i], sizeof code[i], "%s", fs_code_name(c));
    }
    return 0;
}
