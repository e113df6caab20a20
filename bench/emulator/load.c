/* load.c - load generator for firestore-emulator: keep-alive HTTP/1.1 over raw
 * sockets, one thread per connection, requests prepared before the clock starts.
 *
 *   load MODE PORT [CONNS] [SECONDS] [WRITES]
 *   MODE: commit | batchwrite (WRITES writes per request, default 500) | patch |
 *         consumer (what member-consumer sends: a :batchGet of WRITES documents with
 *         a field mask, then a :batchWrite of masked updates of them, each with a
 *         REQUEST_TIME transform of metadata.synced_at and an exists precondition)
 *
 * Prints one line: mode, requests, documents written, seconds, docs/s, req/s,
 * and the count of non-200 responses (which makes the exit status 1); then one line
 * of response times (ms: mean, median, 99th percentile, max) per request kind. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NBODIES 64

typedef struct {
    char *data;
    size_t len;
} req_t;

static req_t reqs[NBODIES], gets[NBODIES]; /* gets: consumer mode's :batchGet */
static int port, writes_per_req = 500, seconds = 5;
static const char *mode;
static atomic_long total_reqs, total_bad;
static double deadline;

/* Response times in ms of one kind of request, per connection (merged at the end). */
typedef struct {
    double *ms;
    size_t n, cap;
} lat_t;

#define MAXCONNS 256
static lat_t lat_main[MAXCONNS], lat_get[MAXCONNS];

static void lat_add(lat_t *l, double ms)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->ms = realloc(l->ms, l->cap * sizeof *l->ms);
    }
    l->ms[l->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void lat_print(const char *what, lat_t *per, int conns)
{
    lat_t all = { 0 };
    for (int c = 0; c < conns; c++)
        for (size_t i = 0; i < per[c].n; i++)
            lat_add(&all, per[c].ms[i]);
    if (all.n == 0)
        return;
    qsort(all.ms, all.n, sizeof *all.ms, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < all.n; i++)
        sum += all.ms[i];
    printf("  %-10s n=%zu ms: mean=%.1f p50=%.1f p99=%.1f max=%.1f\n", what, all.n, sum / all.n, all.ms[all.n / 2],
           all.ms[(size_t)(all.n * 0.99)], all.ms[all.n - 1]);
    free(all.ms);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One member-like document (synthetic data), as a Document JSON object. */
static int doc_json(char *out, size_t len, const char *name_prefix, long id)
{
    return snprintf(out, len,
                    "{\"name\":\"%s%ld\",\"fields\":{"
                    "\"name\":{\"stringValue\":\"Synthetic Person %ld\"},"
                    "\"email\":{\"stringValue\":\"person%ld@example.invalid\"},"
                    "\"django_id\":{\"integerValue\":\"%ld\"},"
                    "\"active\":{\"booleanValue\":true},"
                    "\"fee\":{\"doubleValue\":1250.5},"
                    "\"joined\":{\"timestampValue\":\"2020-01-02T03:04:05.123456Z\"},"
                    "\"address\":{\"mapValue\":{\"fields\":{\"street\":{\"stringValue\":\"Street %ld\"},"
                    "\"postal\":{\"stringValue\":\"101\"},\"country\":{\"stringValue\":\"IS\"}}}},"
                    "\"unions\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"u1\"},{\"stringValue\":\"u2\"}]}},"
                    "\"metadata\":{\"mapValue\":{\"fields\":{\"synced_at\":{\"timestampValue\":\"2026-01-01T00:00:00Z\"},"
                    "\"lsn\":{\"integerValue\":\"%ld\"}}}}}}",
                    name_prefix, id, id, id, id, id, id * 16);
}

static req_t http_post(const char *verb, const char *body, size_t n)
{
    char *req = malloc(n + 512);
    int h = snprintf(req, 512,
                     "POST /v1/projects/bench/databases/(default)/documents:%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     verb, n);
    memcpy(req + h, body, n);
    return (req_t){ req, (size_t)h + n };
}

#define MASK "[\"name\",\"email\",\"django_id\",\"active\",\"fee\",\"joined\",\"address\",\"unions\",\"metadata.synced_at\",\"metadata.lsn\"]"

/* {"writes":[...]} of request b: an update of each of its documents, then suffix
 * (the rest of the write: mask, transforms, precondition). Returns the length. */
static size_t writes_body(char *body, size_t cap, int b, const char *suffix)
{
    size_t n = (size_t)snprintf(body, cap, "{\"writes\":[");
    for (int i = 0; i < writes_per_req; i++) {
        n += (size_t)snprintf(body + n, cap - n, "%s{\"update\":", i ? "," : "");
        n += (size_t)doc_json(body + n, cap - n, "projects/bench/databases/(default)/documents/members/m",
                              (long)b * writes_per_req + i);
        n += (size_t)snprintf(body + n, cap - n, "%s", suffix);
    }
    n += (size_t)snprintf(body + n, cap - n, "]}");
    return n;
}

static void build_consumer(int b)
{
    size_t cap = (size_t)writes_per_req * 1400 + 1024, n = 0;
    char *body = malloc(cap);
    n += (size_t)snprintf(body + n, cap - n, "{\"documents\":[");
    for (int i = 0; i < writes_per_req; i++)
        n += (size_t)snprintf(body + n, cap - n, "%s\"projects/bench/databases/(default)/documents/members/m%ld\"",
                              i ? "," : "", (long)b * writes_per_req + i);
    n += (size_t)snprintf(body + n, cap - n, "],\"mask\":{\"fieldPaths\":" MASK "}}");
    gets[b] = http_post("batchGet", body, n);
    n = writes_body(body, cap, b,
                    ",\"updateMask\":{\"fieldPaths\":" MASK "},\"updateTransforms\":[{\"fieldPath\":"
                    "\"metadata.synced_at\",\"setToServerValue\":\"REQUEST_TIME\"}],"
                    "\"currentDocument\":{\"exists\":true}}");
    reqs[b] = http_post("batchWrite", body, n);
    free(body);
}

static void build_batch(int b)
{
    const char *verb = strcmp(mode, "commit") == 0 ? "commit" : "batchWrite";
    size_t cap = (size_t)writes_per_req * 1200 + 1024;
    char *body = malloc(cap);
    size_t n = writes_body(body, cap, b,
                           ",\"updateMask\":{\"fieldPaths\":[\"name\",\"email\",\"django_id\",\"active\",\"fee\","
                           "\"joined\",\"address\",\"unions\",\"metadata.synced_at\",\"metadata.lsn\"]}}");
    reqs[b] = http_post(verb, body, n);
    free(body);
}

static void build_patch(int b)
{
    char doc[2048], *req = malloc(4096);
    int dl = doc_json(doc, sizeof doc, "projects/bench/databases/(default)/documents/patch/p", b);
    int h = snprintf(req, 4096,
                     "PATCH /v1/projects/bench/databases/(default)/documents/patch/p%d?updateMask.fieldPaths=name&"
                     "updateMask.fieldPaths=metadata.lsn HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     b, dl, doc);
    reqs[b] = (req_t){ req, (size_t)h };
}

static int connect_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

/* Reads one response; returns the HTTP status or -1. buf is reused. */
static int read_response(int fd, char **buf, size_t *cap)
{
    size_t len = 0;
    char *hdr_end = NULL;
    while (!hdr_end) {
        if (len + 4096 > *cap)
            *buf = realloc(*buf, *cap *= 2);
        ssize_t r = read(fd, *buf + len, *cap - len - 1);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        (*buf)[len] = '\0';
        hdr_end = strstr(*buf, "\r\n\r\n");
    }
    int status = atoi(*buf + 9);
    char *cl = strcasestr(*buf, "Content-Length:");
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0, need = (size_t)(hdr_end + 4 - *buf) + body;
    while (len < need) {
        if (need + 1 > *cap) {
            *cap = need + 1;
            *buf = realloc(*buf, *cap);
        }
        ssize_t r = read(fd, *buf + len, need - len);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
    return status;
}

static void write_all(int fd, const char *data, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0) {
            perror("write");
            exit(1);
        }
        off += (size_t)w;
    }
}

static void *worker(void *arg)
{
    long idx = (long)arg, conn = idx / 7;
    int fd = connect_port();
    size_t cap = 65536;
    char *buf = malloc(cap);
    for (long i = idx; now_s() < deadline; i++) {
        if (gets[i % NBODIES].data) {
            req_t *g = &gets[i % NBODIES];
            double t0 = now_s();
            write_all(fd, g->data, g->len);
            if (read_response(fd, &buf, &cap) != 200)
                atomic_fetch_add(&total_bad, 1);
            lat_add(&lat_get[conn], (now_s() - t0) * 1e3);
        }
        req_t *r = &reqs[i % NBODIES];
        double t1 = now_s();
        write_all(fd, r->data, r->len);
        int st = read_response(fd, &buf, &cap);
        if (st < 0) {
            fprintf(stderr, "connection closed\n");
            exit(1);
        }
        if (st != 200)
            atomic_fetch_add(&total_bad, 1);
        lat_add(&lat_main[conn], (now_s() - t1) * 1e3);
        atomic_fetch_add(&total_reqs, 1);
    }
    free(buf);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: load commit|batchwrite|patch PORT [CONNS] [SECONDS] [WRITES]\n");
        return 2;
    }
    mode = argv[1];
    port = atoi(argv[2]);
    int conns = argc > 3 ? atoi(argv[3]) : 4;
    seconds = argc > 4 ? atoi(argv[4]) : 5;
    writes_per_req = argc > 5 ? atoi(argv[5]) : 500;
    int patch = strcmp(mode, "patch") == 0;
    for (int b = 0; b < NBODIES; b++)
        patch ? build_patch(b) : strcmp(mode, "consumer") == 0 ? build_consumer(b) : build_batch(b);
    pthread_t th[MAXCONNS];
    double start = now_s();
    deadline = start + seconds;
    if (conns > MAXCONNS)
        conns = MAXCONNS;
    for (long c = 0; c < conns; c++)
        pthread_create(&th[c], NULL, worker, (void *)(c * 7));
    for (int c = 0; c < conns; c++)
        pthread_join(th[c], NULL);
    double el = now_s() - start;
    long n = atomic_load(&total_reqs), docs = patch ? n : n * writes_per_req;
    printf("%-10s conns=%d requests=%ld documents=%ld seconds=%.2f docs_per_s=%.0f req_per_s=%.0f errors=%ld\n", mode,
           conns, n, docs, el, docs / el, n / el, atomic_load(&total_bad));
    lat_print(strcmp(mode, "consumer") == 0 ? "batchWrite" : mode, lat_main, conns);
    lat_print("batchGet", lat_get, conns);
    return atomic_load(&total_bad) ? 1 : 0;
}
