/* http.c - the /healthz, /readyz, /metrics endpoint (see http.h), on libmicrohttpd
 * with its own polling thread so that a busy service loop never delays a probe. */
#include "common/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

struct ops_server {
    struct MHD_Daemon *daemon;
    ops_ready_fn ready;
    void *ud;
    int port;
};

static enum MHD_Result ops_reply(struct MHD_Connection *conn, unsigned status, const char *type,
                                 char *body, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result ops_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)con_cls;
    ops_server *s = cls;
    if (*upload_size) {
        *upload_size = 0; /* ignore any body */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return ops_reply(conn, 405, "text/plain", "method not allowed\n", MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/healthz") == 0)
        return ops_reply(conn, 200, "text/plain", "ok\n", MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/readyz") == 0) {
        char why[256] = "not ready";
        bool ok = s->ready ? s->ready(s->ud, why, sizeof why) : true;
        if (ok)
            return ops_reply(conn, 200, "text/plain", "ready\n", MHD_RESPMEM_PERSISTENT);
        char *body = malloc(strlen(why) + 2);
        if (!body)
            return MHD_NO;
        sprintf(body, "%s\n", why);
        return ops_reply(conn, 503, "text/plain", body, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/metrics") == 0)
        return ops_reply(conn, 200, "text/plain; version=0.0.4", metrics_render(),
                         MHD_RESPMEM_MUST_FREE);
    return ops_reply(conn, 404, "text/plain", "not found\n", MHD_RESPMEM_PERSISTENT);
}

ops_server *ops_server_start(const char *bind_addr, int port, ops_ready_fn ready, void *ud,
                             char *err, size_t errlen)
{
    ops_server *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->ready = ready;
    s->ud = ud;
    if (port == 0)
        return s;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(port < 0 ? 0 : port)) };
    if (inet_pton(AF_INET, bind_addr ? bind_addr : "0.0.0.0", &sa.sin_addr) != 1) {
        snprintf(err, errlen, "bad HTTP bind address %s", bind_addr);
        free(s);
        return NULL;
    }
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 ops_handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "cannot serve HTTP on %s:%d (port in use?)", bind_addr ? bind_addr : "0.0.0.0", port);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    return s;
}

int ops_server_port(const ops_server *s) { return s->port; }

void ops_server_stop(ops_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    free(s);
}
