/* emu_http.c - libmicrohttpd front of the emulator (see emu_http.h). */
#include "tools/firestore-emulator/emu_http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/jbuf.h"
#include "common/json_tree.h"
#include "common/log.h"
#include "tools/firestore-emulator/emu_alloc.h"
#include "tools/firestore-emulator/emu_fault.h"

#define EMU_MAX_PARAMS 256

typedef struct emu_conn {
    char *buf;
    size_t len, cap;
    bool too_big;
    int phase;                  /* 0 receiving, 1 delayed, 2 delay over */
    emu_fault_decision fault;
    struct timespec start;
    struct MHD_Connection *connection;
    struct emu_conn *next_delayed;
    int64_t due_ns;
} emu_conn;

struct emu_http {
    struct MHD_Daemon *daemon;
    emu_ctx *ctx;
    emu_http_config cfg;
    pthread_t timer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    emu_conn *delayed;          /* sorted by due_ns */
    bool stopping;
};

static int64_t emu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------- delayed connections ---------- */

/* Suspends c for ms; false when shutting down (then the request just proceeds). */
static bool emu_delay(emu_http *h, emu_conn *c, int ms)
{
    c->due_ns = emu_now_ns() + (int64_t)ms * 1000000;
    pthread_mutex_lock(&h->mu);
    if (h->stopping) {
        pthread_mutex_unlock(&h->mu);
        return false;
    }
    c->phase = 1;
    MHD_suspend_connection(c->connection);
    emu_conn **pp = &h->delayed;
    while (*pp && (*pp)->due_ns <= c->due_ns)
        pp = &(*pp)->next_delayed;
    c->next_delayed = *pp;
    *pp = c;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return true;
}

static void *emu_timer_main(void *arg)
{
    emu_http *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping || h->delayed) {
        int64_t now = emu_now_ns();
        if (h->delayed && (h->stopping || h->delayed->due_ns <= now)) {
            emu_conn *c = h->delayed;
            h->delayed = c->next_delayed;
            c->phase = 2;
            MHD_resume_connection(c->connection);
            continue;
        }
        if (!h->delayed) {
            pthread_cond_wait(&h->cv, &h->mu);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = h->delayed->due_ns - now, ns = ts.tv_nsec + wait % 1000000000;
            ts.tv_sec += (time_t)(wait / 1000000000 + ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ---------- requests ---------- */

typedef struct {
    emu_param items[EMU_MAX_PARAMS];
    size_t n;
} emu_params;

static enum MHD_Result emu_collect_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    emu_params *p = cls;
    if (p->n < EMU_MAX_PARAMS)
        p->items[p->n++] = (emu_param){ key, value };
    return MHD_YES;
}

/* Serialises into one buffer that starts large: growing a string by doubling
 * from a few bytes (json_dumps) made malloc the hottest code under load. */
static jbuf emu_serialize(const json_t *json)
{
    jbuf o = { 0 };
    jbuf_reserve(&o, 65536);
    json_tree_dump(&o, json);
    return o;
}

static enum MHD_Result emu_send(struct MHD_Connection *connection, const emu_response *rs)
{
    struct MHD_Response *resp;
    if (rs->json) {
        jbuf body = emu_serialize(rs->json);
        resp = MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=UTF-8");
    } else {
        const char *text = rs->text ? rs->text : "";
        resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=UTF-8");
    }
    if (rs->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", rs->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    enum MHD_Result r = MHD_queue_response(connection, (unsigned)rs->http, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result emu_send_error(struct MHD_Connection *connection, emu_code code, const char *msg)
{
    emu_status st;
    emu_fail(&st, code, "%s", msg);
    emu_response rs = { 0 };
    emu_response_error(&rs, &st);
    enum MHD_Result r = emu_send(connection, &rs);
    emu_response_clear(&rs);
    return r;
}

static bool emu_append_body(emu_http *h, emu_conn *c, const char *data, size_t size)
{
    if (c->too_big || c->len + size > h->cfg.max_body) {
        c->too_big = true;
        return false;
    }
    if (c->len + size + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + size + 1)
            cap *= 2;
        c->buf = realloc(c->buf, cap);
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, size);
    c->len += size;
    return true;
}

static void emu_log_request(const char *method, const emu_response *rs, const emu_conn *c)
{
    if (log_get_level() > LOG_DEBUG)
        return;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    long us = (long)((end.tv_sec - c->start.tv_sec) * 1000000 + (end.tv_nsec - c->start.tv_nsec) / 1000);
    /* route labels only: paths hold document ids, which may be personal data */
    log_debug("request method=%s route=%s status=%d duration_us=%ld fault=%s", method, rs->route ? rs->route : "-",
              rs->http, us, emu_code_name(c->fault.code));
}

static enum MHD_Result emu_too_big(emu_http *h, struct MHD_Connection *connection)
{
    char msg[96];
    snprintf(msg, sizeof msg, "Request payload size exceeds the limit: %zu bytes.", h->cfg.max_body);
    return emu_send_error(connection, EMU_INVALID_ARGUMENT, msg);
}

static enum MHD_Result emu_first_call(emu_http *h, struct MHD_Connection *connection, void **con_cls)
{
    emu_conn *c = calloc(1, sizeof *c);
    c->connection = connection;
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    *con_cls = c;
    const char *cl = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;
    if (want > h->cfg.max_body) {
        c->too_big = true;
        return emu_too_big(h, connection);
    }
    if (want > 0) { /* one allocation for the whole body */
        c->cap = (size_t)want + 1;
        c->buf = malloc(c->cap);
    }
    return MHD_YES;
}

static enum MHD_Result emu_handler(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                                   const char *version, const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
    (void)version;
    emu_http *h = cls;
    emu_conn *c = *con_cls;
    if (!c)
        return emu_first_call(h, connection, con_cls);
    if (*upload_data_size) {
        emu_append_body(h, c, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->too_big)
        return emu_too_big(h, connection);
    if (c->phase == 0) {
        emu_faults_decide(h->ctx->faults, method, url, &c->fault);
        if (c->fault.latency_ms > 0 && emu_delay(h, c, c->fault.latency_ms))
            return MHD_YES;
    }
    emu_params params;
    params.n = 0;
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, emu_collect_param, &params);
    emu_request rq = { .method = method, .path = url, .params = params.items, .nparams = params.n,
                       .body = c->buf, .body_len = c->len };
    emu_response rs;
    emu_alloc_request_begin(); /* the request's JSON lives in an arena until its end */
    emu_fault_respond(h->ctx, &rq, &c->fault, &rs);
    emu_log_request(method, &rs, c);
    enum MHD_Result r = emu_send(connection, &rs);
    emu_response_clear(&rs);
    emu_alloc_request_end();
    return r;
}

static void emu_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)connection;
    (void)toe;
    emu_conn *c = *con_cls;
    if (c) {
        free(c->buf);
        free(c);
    }
    *con_cls = NULL;
}

static void emu_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("libmicrohttpd: %s", msg);
}

emu_http *emu_http_start(emu_ctx *ctx, const emu_http_config *cfg, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve --host %s: %s", cfg->host, gai_strerror(gai));
        return NULL;
    }
    emu_http *h = calloc(1, sizeof *h);
    h->ctx = ctx;
    h->cfg = *cfg;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    pthread_create(&h->timer, NULL, emu_timer_main, h);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, emu_handler, h, MHD_OPTION_EXTERNAL_LOGGER, emu_mhd_log, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads > 0 ? cfg->threads : 2),
                                 MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout, MHD_OPTION_CONNECTION_LIMIT,
                                 cfg->max_conns, MHD_OPTION_NOTIFY_COMPLETED, emu_completed, h,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                                 MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or not an address of this machine)", cfg->host, cfg->port);
        emu_http_stop(h);
        return NULL;
    }
    return h;
}

void emu_http_stop(emu_http *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->timer, NULL);
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
