/* firestore.h - a Firestore REST v1 client for the consumer: :batchGet, :batchWrite and
 * :commit over libcurl's multi interface, so several requests are in flight at once on
 * kept-alive connections.
 *
 * The caller builds request bodies (fs_body_* helpers), runs a set of calls together with
 * fs_perform(), and reads each call's outcome: HTTP status, parsed body, and a class that
 * says what to do about a failure:
 *   FS_OK            done
 *   FS_TRANSIENT     retry with backoff (429, 500, 503, 504; ABORTED, UNAVAILABLE,
 *                    DEADLINE_EXCEEDED, INTERNAL, RESOURCE_EXHAUSTED; connection errors,
 *                    time-outs); retry_after_ms holds the server's Retry-After
 *   FS_PRECONDITION  a precondition failed (FAILED_PRECONDITION, NOT_FOUND,
 *                    ALREADY_EXISTS): re-read and plan again
 *   FS_AUTH          401/403, UNAUTHENTICATED, PERMISSION_DENIED, or the token endpoint
 *                    refused: not the data's fault
 *   FS_PERMANENT     anything else (INVALID_ARGUMENT, a document over 1 MiB...): the
 *                    data cannot be written as it is
 * Access tokens come from common/google_auth.h and are never logged. */
#ifndef SERVICES_CONSUMER_FIRESTORE_H
#define SERVICES_CONSUMER_FIRESTORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/google_auth.h"
#include "common/jbuf.h"

typedef enum { FS_OK = 0, FS_TRANSIENT, FS_PRECONDITION, FS_AUTH, FS_PERMANENT } fs_class;

typedef struct fs_options {
    const char *base_url; /* "https://firestore.googleapis.com" or "http://127.0.0.1:8080" */
    const char *project;
    const char *database; /* NULL: "(default)" */
    gauth *auth;          /* borrowed */
    long timeout_ms;      /* per request; 0: 10000 */
    int max_inflight;     /* concurrent requests; 0: 8 */
} fs_options;

typedef struct fs_client fs_client;

/* One request: verb (":batchGet", ":batchWrite", ":commit") and body in; the rest out. */
typedef struct fs_call {
    const char *verb;
    const char *body;     /* borrowed: the JSON text (fs_body_* below) */
    size_t body_len;
    long http_status;     /* 0 when no response came */
    json_t *response;     /* parsed body (owned by the call; fs_call_clear frees it) */
    fs_class cls;
    char status[40];      /* google.rpc.Code name, "" when none */
    char message[256];    /* server's or curl's message (never holds a token) */
    int64_t retry_after_ms;
    double seconds;       /* how long the request took */
} fs_call;

fs_client *fs_client_new(const fs_options *opt, char *err, size_t errlen);
void fs_client_free(fs_client *fc);
/* "projects/<p>/databases/<d>/documents" */
const char *fs_root(const fs_client *fc);

/* Work to do while requests are in flight (decoding the next records): fs_perform calls
 * it between network events, as long as it returns true (more to do). */
typedef bool (*fs_idle_fn)(void *ud);
void fs_set_idle(fs_client *fc, fs_idle_fn fn, void *ud);

/* Runs the calls concurrently (at most max_inflight at a time) and fills their results.
 * Returns how many did not end FS_OK. */
size_t fs_perform(fs_client *fc, fs_call *calls, size_t n);
void fs_call_clear(fs_call *c);

/* Classification, exposed for tests. */
fs_class fs_classify(long http_status, const char *status_name);
fs_class fs_classify_code(int grpc_code);
const char *fs_code_name(int grpc_code);
const char *fs_class_name(fs_class c);
/* Retry-After: seconds or an HTTP date; -1 when absent or unreadable. */
int64_t fs_parse_retry_after(const char *value, int64_t now_s);
/* Fills c's outcome from an HTTP status and body, as fs_perform does. */
void fs_call_finish(fs_call *c, long http_status, const char *body, size_t len, int64_t retry_after_ms);

/* Request bodies, written as JSON text into b (fs_body.c). Names are relative to the
 * root ("members/0101302989"). */
/* mask: a JSON array of field paths to return, NULL for whole documents. */
void fs_body_batch_get(const fs_client *fc, jbuf *b, const char *const *names, size_t n, const json_t *mask);
/* {"writes":[ ... ]}: begin, then any number of writes, then end. */
void fs_body_writes_begin(jbuf *b);
void fs_body_writes_end(jbuf *b);
/* An update write of the fields the mask selects, with that updateMask. precondition:
 * NULL for none, "" for exists:false, else the updateTime the document must still have.
 * With synced_at_path, that field is set to the request time by a server transform. */
void fs_body_write_update(const fs_client *fc, jbuf *b, const char *name, const json_t *fields,
                          const char *const *mask, size_t nmask, const char *precondition,
                          const char *synced_at_path);
void fs_body_write_delete(const fs_client *fc, jbuf *b, const char *name, const char *precondition);
/* In the wire form, the members of a fields object of compact values (fs_value.h) that
 * the field paths of mask select (a map on the way to a masked path carries only those). */
void fs_json_masked_fields(jbuf *b, const json_t *fields, const char *const *mask, size_t n);

/* Parses a :batchGet response into an object of relative name -> {"fields","updateTime"}
 * (the fields as compact values) or JSON null for a missing document. NULL when the response is not one. */
json_t *fs_parse_batch_get(const fs_client *fc, const json_t *response);
/* Per-write outcome of a :batchWrite response: cls[i] and, when not OK, msg (optional,
 * n entries of 160 bytes). -1 when the response is malformed. */
int fs_parse_batch_write(const json_t *response, size_t n, fs_class *cls, char (*msg)[160], char (*code)[40]);

#endif
