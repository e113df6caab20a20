/* emu_http.h - the HTTP front: libmicrohttpd, keep-alive, bounded bodies, latency.
 *
 * A pool of threads each runs an epoll loop (MHD_USE_EPOLL_INTERNAL_THREAD with a
 * thread pool), so many keep-alive connections are served without a thread each.
 * Bodies are collected up to max_body bytes (a larger Content-Length is refused
 * at once, a larger chunked body after it was drained), idle or slow connections
 * are closed after conn_timeout seconds, and the number of connections is bounded.
 * Injected latency never blocks a pool thread: the connection is suspended and a
 * timer thread resumes it when its delay has passed. */
#ifndef EMU_HTTP_H
#define EMU_HTTP_H

#include <stddef.h>

#include "tools/firestore-emulator/emu_api.h"

typedef struct {
    const char *host;        /* address to bind, e.g. "127.0.0.1" or "0.0.0.0" */
    int port;
    int threads;             /* pool size */
    size_t max_body;         /* bytes */
    unsigned conn_timeout;   /* seconds */
    unsigned max_conns;
} emu_http_config;

typedef struct emu_http emu_http;

/* Starts serving; NULL with a reason in err on failure. */
emu_http *emu_http_start(emu_ctx *ctx, const emu_http_config *cfg, char *err, size_t errlen);
/* Resumes delayed connections, stops the daemon and frees it. */
void emu_http_stop(emu_http *h);

#endif
