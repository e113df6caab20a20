/* http.h - the operations endpoint every long-running service serves:
 *   GET /healthz  200 "ok" while the process is alive
 *   GET /readyz   200 "ready" or 503 with the reason, from the service's callback
 *   GET /metrics  Prometheus text (metrics.h)
 * Runs in its own thread (libmicrohttpd); the callback must be thread-safe. */
#ifndef COMMON_HTTP_H
#define COMMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ops_server ops_server;
/* Returns true when ready; otherwise writes a short reason into why. */
typedef bool (*ops_ready_fn)(void *ud, char *why, size_t whylen);

/* port 0 disables the server (returns a non-NULL handle that does nothing). */
ops_server *ops_server_start(const char *bind_addr, int port, ops_ready_fn ready, void *ud,
                             char *err, size_t errlen);
int ops_server_port(const ops_server *s); /* the bound port (useful with port -1: any free port) */
void ops_server_stop(ops_server *s);

#endif
