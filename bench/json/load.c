/* bench/json/load.c - common/json_tree against jansson on the texts the pipeline moves
 * most: a member-consumer :batchWrite body (what the emulator parses) and a :batchGet
 * response of found member documents (what the consumer parses). For each text: the
 * time to parse it into a tree (json_loadb, json_tree_load) and to write that tree
 * back (json_dump_callback, json_tree_dump), best of 5 rounds, and the ratio. The
 * trees must be equal and the written texts the same bytes, or it fails. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jbuf.h"
#include "common/json_tree.h"

static const char member_fields[] =
    "{\"profile\":{\"mapValue\":{\"fields\":{\"kennitala\":{\"stringValue\":\"%010d\"},\"name\":{\"stringValue\":"
    "\"Member %d J\\u00f3nsd\\u00f3ttir\"},\"birthday\":{\"stringValue\":\"1980-02-03\"},\"gender\":{\"integerValue\":\"2\"},"
    "\"housing_situation\":{\"integerValue\":\"2\"},\"reachable\":{\"booleanValue\":true},\"groupable\":{\"booleanValue\":"
    "false}}}},\"membership\":{\"mapValue\":{\"fields\":{\"date_joined\":{\"timestampValue\":\"2020-05-17T10:11:12.345678Z\"},"
    "\"deleted_at\":{\"nullValue\":null},\"status\":{\"stringValue\":\"unpaid\"}}}},\"metadata\":{\"mapValue\":{\"fields\":"
    "{\"deleted_at\":{\"nullValue\":null},\"django_id\":{\"integerValue\":\"%d\"},\"sync\":{\"mapValue\":{\"fields\":"
    "{\"membership_comrade\":{\"mapValue\":{\"fields\":{\"lsn\":{\"integerValue\":\"%d\"},\"commit_lsn\":{\"integerValue\":"
    "\"%d\"}}}}}}}}}}}";

static const char write_rest[] =
    "},\"updateMask\":{\"fieldPaths\":[\"profile.kennitala\",\"profile.name\",\"profile.birthday\",\"profile.gender\","
    "\"profile.housing_situation\",\"profile.reachable\",\"profile.groupable\",\"membership.date_joined\","
    "\"membership.deleted_at\",\"metadata.deleted_at\",\"metadata.django_id\",\"metadata.sync.membership_comrade\","
    "\"membership.status\"]},\"updateTransforms\":[{\"fieldPath\":\"metadata.synced_at\",\"setToServerValue\":"
    "\"REQUEST_TIME\"}],\"currentDocument\":{\"updateTime\":\"2026-11-26T00:05:14.409833Z\"}}";

#define DOCS "projects/bench/databases/(default)/documents"

static void fields(jbuf *b, int i)
{
    char t[sizeof member_fields + 64];
    snprintf(t, sizeof t, member_fields, 1000000000 + i, i, i, 100000000 + 8 * i, 100000000 + 8 * i - 4);
    jbuf_puts(b, t);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Best time of 5 rounds of n runs, in µs per run. */
#define BEST(n, body)                                                                                                  \
    ({                                                                                                                 \
        double best_ = 1e30;                                                                                           \
        for (int r_ = 0; r_ < 5; r_++) {                                                                               \
            double t0_ = now();                                                                                        \
            for (int i_ = 0; i_ < (n); i_++) {                                                                         \
                body;                                                                                                  \
            }                                                                                                          \
            double t_ = (now() - t0_) / (n)*1e6;                                                                       \
            best_ = t_ < best_ ? t_ : best_;                                                                           \
        }                                                                                                              \
        best_;                                                                                                         \
    })

static int measure(const char *what, const jbuf *text, size_t flags, int n)
{
    json_t *want = json_loadb(text->data, text->len, flags, NULL), *got = json_tree_load(text->data, text->len, flags, NULL);
    jbuf a = { 0 }, b = { 0 };
    json_dump_callback(want, jbuf_sink, &a, JSON_COMPACT);
    json_tree_dump(&b, got);
    if (!want || !got || !json_equal(want, got) || a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
        fprintf(stderr, "bench/json: %s: json_tree and jansson disagree\n", what);
        return 1;
    }
    double lj = BEST(n, json_decref(json_loadb(text->data, text->len, flags, NULL)));
    double lt = BEST(n, json_decref(json_tree_load(text->data, text->len, flags, NULL)));
    double dj = BEST(n, a.len = 0; json_dump_callback(want, jbuf_sink, &a, JSON_COMPACT));
    double dt = BEST(n, b.len = 0; json_tree_dump(&b, want));
    printf("%-34s %7zu bytes  parse %8.1f -> %7.1f us (%.1fx)  write %8.1f -> %7.1f us (%.1fx)\n", what, text->len, lj,
           lt, lj / lt, dj, dt, dj / dt);
    json_decref(want);
    json_decref(got);
    jbuf_free(&a);
    jbuf_free(&b);
    return 0;
}

/* 125 member documents, each as head, its name, its fields and tail, comma-separated. */
static void members(jbuf *b, const char *head, const char *tail)
{
    for (int i = 0; i < 125; i++) {
        char name[160];
        snprintf(name, sizeof name, "%s%s" DOCS "/members/%010d\",\"fields\":", i ? "," : "", head, 1000000000 + i);
        jbuf_puts(b, name);
        fields(b, i);
        jbuf_puts(b, tail);
    }
}

int main(void)
{
    jbuf body = { 0 }, resp = { 0 };
    jbuf_puts(&body, "{\"writes\":[");
    members(&body, "{\"update\":{\"name\":\"", write_rest);
    jbuf_puts(&body, "]}");
    jbuf_putc(&resp, '[');
    members(&resp, "{\"found\":{\"name\":\"",
            ",\"createTime\":\"2026-11-26T00:05:14.409833Z\",\"updateTime\":\"2026-11-26T00:05:14.409833Z\"},"
            "\"readTime\":\"2026-11-26T00:05:15.000001Z\"}");
    jbuf_putc(&resp, ']');
    printf("json_tree against jansson %s (time per text, best of 5 rounds)\n", jansson_version_str());
    int rc = measure(":batchWrite body, 125 writes", &body, JSON_REJECT_DUPLICATES, 200);
    rc |= measure(":batchGet response, 125 documents", &resp, JSON_ALLOW_NUL, 200);
    jbuf_free(&body);
    jbuf_free(&resp);
    return rc;
}
