/* main.c - firestore-emulator: a Firestore REST v1 server for the stack and tests.
 *
 * Parses the command line, loads --data-dir state, starts the HTTP front, waits for
 * SIGTERM or SIGINT (blocked in every thread, taken here with sigwait), then stops
 * serving, saves state and exits 0. See docs/firestore-emulator.md. */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tools/firestore-emulator/emu_alloc.h"
#include "tools/firestore-emulator/emu_api.h"
#include "tools/firestore-emulator/emu_fault.h"
#include "tools/firestore-emulator/emu_http.h"
#include "tools/firestore-emulator/emu_persist.h"

static void emu_usage(FILE *out)
{
    fprintf(out,
            "usage: firestore-emulator [options]\n"
            "\n"
            "A Firestore REST v1 server (documents get/patch/delete/list/create, :commit,\n"
            ":batchWrite, :batchGet, :beginTransaction, :rollback, :runQuery) with fault\n"
            "injection, for local stacks and tests. Clients find it through\n"
            "FIRESTORE_EMULATOR_HOST=HOST:PORT.\n"
            "\n"
            "  --host ADDR            address to listen on (default 127.0.0.1)\n"
            "  --port N               port (default 8080)\n"
            "  --data-dir DIR         keep state in DIR/firestore-emulator.json across restarts\n"
            "  --seed N               seed of fault injection and generated ids (default 1)\n"
            "  --fault SPEC           add a fault rule, repeatable; SPEC is k=v,k=v with keys\n"
            "                         status, rate, count, method, path, latency, jitter,\n"
            "                         after_apply, retry_after, e.g.\n"
            "                         --fault status=UNAVAILABLE,rate=0.1,path=/v1/\n"
            "  --threads N            HTTP worker threads (default 4)\n"
            "  --max-body-bytes N     largest request body (default 10485760, as Firestore)\n"
            "  --conn-timeout S       close idle or slow connections after S seconds (default 60)\n"
            "  --log-level LEVEL      debug, info, warn or error (default info; debug logs\n"
            "                         each request without document names)\n"
            "  --help                 this text\n"
            "\n"
            "Admin: DELETE/GET /emulator/v1/projects/P/databases/D/documents (reset/export),\n"
            "GET/POST/DELETE /emulator/v1/faults. Exit: 0 after SIGTERM/SIGINT, 1 on a\n"
            "runtime failure, 2 on a usage error.\n");
}

typedef struct {
    emu_http_config http;
    const char *data_dir;
    unsigned long long seed;
    const char *faults[64];
    int nfaults;
} emu_options;

static int emu_parse_number(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int emu_parse_args(int argc, char **argv, emu_options *o)
{
    static const struct option longs[] = {
        { "help", no_argument, NULL, 'h' },          { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },    { "data-dir", required_argument, NULL, 'd' },
        { "seed", required_argument, NULL, 's' },    { "fault", required_argument, NULL, 'f' },
        { "threads", required_argument, NULL, 't' }, { "max-body-bytes", required_argument, NULL, 'b' },
        { "conn-timeout", required_argument, NULL, 'c' }, { "log-level", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    long long v;
    log_level lvl;
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (opt) {
        case 'h': emu_usage(stdout); exit(0);
        case 'H': o->http.host = optarg; break;
        case 'p':
            if (emu_parse_number(optarg, 0, 65535, &v) != 0)
                return fprintf(stderr, "firestore-emulator: --port: not a port: %s\n", optarg), -1;
            o->http.port = (int)v;
            break;
        case 'd': o->data_dir = optarg; break;
        case 's':
            if (emu_parse_number(optarg, 0, LLONG_MAX, &v) != 0)
                return fprintf(stderr, "firestore-emulator: --seed: not a number: %s\n", optarg), -1;
            o->seed = (unsigned long long)v;
            break;
        case 'f':
            if (o->nfaults == 64)
                return fprintf(stderr, "firestore-emulator: at most 64 --fault options\n"), -1;
            o->faults[o->nfaults++] = optarg;
            break;
        case 't':
            if (emu_parse_number(optarg, 1, 64, &v) != 0)
                return fprintf(stderr, "firestore-emulator: --threads: 1..64: %s\n", optarg), -1;
            o->http.threads = (int)v;
            break;
        case 'b':
            if (emu_parse_number(optarg, 1024, 1LL << 30, &v) != 0)
                return fprintf(stderr, "firestore-emulator: --max-body-bytes: 1024..1073741824: %s\n", optarg), -1;
            o->http.max_body = (size_t)v;
            break;
        case 'c':
            if (emu_parse_number(optarg, 1, 86400, &v) != 0)
                return fprintf(stderr, "firestore-emulator: --conn-timeout: 1..86400: %s\n", optarg), -1;
            o->http.conn_timeout = (unsigned)v;
            break;
        case 'l':
            if (log_parse_level(optarg, &lvl) != 0)
                return fprintf(stderr, "firestore-emulator: --log-level: debug, info, warn or error: %s\n", optarg), -1;
            log_set_level(lvl);
            break;
        default: return -1;
        }
    }
    if (optind < argc)
        return fprintf(stderr, "firestore-emulator: unexpected argument: %s\n", argv[optind]), -1;
    return 0;
}

static void emu_free_all(emu_ctx *ctx)
{
    emu_faults_free(ctx->faults);
    emu_ctx_free(ctx);
    emu_alloc_release();
}

/* Fault rules from the command line and --data-dir state; the exit code on failure. */
static int emu_prepare(emu_ctx *ctx, const emu_options *o)
{
    emu_status st;
    for (int i = 0; i < o->nfaults; i++) {
        if (emu_faults_add_spec(ctx->faults, o->faults[i], &st) != 0) {
            fprintf(stderr, "firestore-emulator: --fault %s: %s\n", o->faults[i], st.msg);
            return 2;
        }
    }
    if (o->data_dir && emu_persist_load(ctx, o->data_dir, &st) != 0) {
        log_error("cannot load state from --data-dir: %s", st.msg);
        return 1;
    }
    return 0;
}

/* Serves until SIGTERM or SIGINT; 0, or 1 when the server cannot start. */
static int emu_serve(emu_ctx *ctx, const emu_options *o)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[256];
    size_t docs = emu_store_count(ctx->store); /* before the workers start */
    emu_http *h = emu_http_start(ctx, &o->http, err, sizeof err);
    if (!h) {
        log_error("%s", err);
        return 1;
    }
    log_info("listening on %s:%d (threads=%d, documents=%zu, fault rules=%d, seed=%llu)", o->http.host, o->http.port,
             o->http.threads, docs, o->nfaults, o->seed);
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("stopping on signal %d", sig);
    emu_http_stop(h);
    return 0;
}

int main(int argc, char **argv)
{
    log_init("firestore-emulator");
    emu_alloc_install();
    emu_options o = { .http = { .host = "127.0.0.1", .port = 8080, .threads = 4, .max_body = 10485760,
                                .conn_timeout = 60, .max_conns = 1000 },
                      .seed = 1 };
    if (emu_parse_args(argc, argv, &o) != 0) {
        emu_usage(stderr);
        return 2;
    }
    emu_ctx *ctx = emu_ctx_new(o.seed);
    ctx->faults = emu_faults_new(o.seed);
    int rc = emu_prepare(ctx, &o);
    if (rc == 0)
        rc = emu_serve(ctx, &o);
    emu_status st;
    if (rc == 0 && o.data_dir && emu_persist_save(ctx, o.data_dir, &st) != 0) {
        log_error("cannot save state to --data-dir: %s", st.msg);
        rc = 1;
    }
    emu_free_all(ctx);
    if (rc == 0)
        log_info("stopped");
    return rc;
}
