/* emu_api.h - the Firestore REST v1 API as a function: request in, response out.
 *
 * emu_api_handle() owns no I/O: the HTTP front (emu_http.c) hands it the method,
 * the decoded path, the query parameters and the body, and sends back what it
 * returns. That keeps every call testable without sockets, and lets the fuzzer feed
 * it arbitrary requests. Fault injection sits in front of it (emu_fault.h).
 *
 * Calls (database = projects/{p}/databases/{d}):
 *   GET    /v1/{database}/documents/{doc}            get (mask.fieldPaths, transaction)
 *   PATCH  /v1/{database}/documents/{doc}            upsert (updateMask.fieldPaths,
 *                                                    mask.fieldPaths, currentDocument.*)
 *   DELETE /v1/{database}/documents/{doc}            delete (currentDocument.*)
 *   GET    /v1/{database}/documents/{coll}           list (pageSize, pageToken, orderBy,
 *                                                    mask.fieldPaths, showMissing)
 *   POST   /v1/{database}/documents/{coll}           create (documentId, mask.fieldPaths)
 *   POST   /v1/{database}/documents:commit|batchWrite|batchGet|beginTransaction|rollback
 *   POST   /v1/{database}/documents[/{doc}]:runQuery
 *   GET    /emulator/v1/{database}/documents         export every document of the database
 *   DELETE /emulator/v1/{database}/documents         reset: delete them all
 *   GET|POST|DELETE /emulator/v1/faults              fault injection (emu_fault.h) */
#ifndef EMU_API_H
#define EMU_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tools/firestore-emulator/emu_error.h"
#include "tools/firestore-emulator/emu_store.h"
#include "tools/firestore-emulator/emu_txn.h"
#include "tools/firestore-emulator/emu_value.h"
#include "tools/firestore-emulator/emu_write.h"

struct emu_faults;

typedef struct {
    emu_store *store;
    emu_txns *txns;
    struct emu_faults *faults;   /* may be NULL */
    uint64_t id_rng;             /* generated document ids; guarded by id_mu */
    void *id_mu;
} emu_ctx;

typedef struct {
    const char *key;
    const char *value;
} emu_param;

typedef struct {
    const char *method;
    const char *path;            /* percent-decoded, no query string */
    const emu_param *params;
    size_t nparams;
    const char *body;
    size_t body_len;
} emu_request;

typedef struct {
    int http;
    json_t *json;                /* the body, or NULL when text is set */
    const char *text;            /* a static plain-text body */
    const char *route;           /* a label for logs: never holds names or data */
    int retry_after;             /* seconds for a Retry-After header, 0 for none */
} emu_response;

emu_ctx *emu_ctx_new(uint64_t seed);
void emu_ctx_free(emu_ctx *ctx);

void emu_api_handle(emu_ctx *ctx, const emu_request *rq, emu_response *rs);
void emu_response_clear(emu_response *rs);
/* Sets rs to Google's error body for st. */
void emu_response_error(emu_response *rs, const emu_status *st);

/* --- shared between the API files --- */
const char *emu_param_get(const emu_request *rq, const char *key);
/* All values of a repeated parameter as a JSON array of strings. */
json_t *emu_param_all(const emu_request *rq, const char *key);
/* Parses the body as a JSON object (an empty body is {}). */
int emu_body_json(const emu_request *rq, json_t **out, emu_status *st);
/* Applies writes atomically (all or nothing) under the store's write lock. When txn
 * is set, its reads are validated first (ABORTED when one changed). results gets
 * one WriteResult per write; *commit_us the commit time; when doc_out is set it
 * receives the first write's document after the commit (projected by mask). */
int emu_commit_writes(emu_ctx *ctx, const char *database, emu_write *w, size_t n, const char *txn, json_t **results,
                      int64_t *commit_us, json_t **doc_out, const emu_fieldpath *mask, int nmask, emu_status *st);

/* Consistency selector of a read request (transaction / newTransaction / readTime):
 * *txn is the transaction to record reads in, or NULL; *started when begun here. */
int emu_read_consistency(emu_ctx *ctx, const char *database, const json_t *body, char *txn_buf, const char **txn,
                         bool *started, emu_status *st);

/* emu_batch.c */
int emu_api_commit(emu_ctx *ctx, const char *database, const json_t *body, json_t **out, emu_status *st);
int emu_api_batch_write(emu_ctx *ctx, const char *database, const json_t *body, json_t **out, emu_status *st);
int emu_api_batch_get(emu_ctx *ctx, const char *database, const json_t *body, json_t **out, emu_status *st);
int emu_api_begin(emu_ctx *ctx, const char *database, const json_t *body, json_t **out, emu_status *st);
int emu_api_rollback(emu_ctx *ctx, const char *database, const json_t *body, json_t **out, emu_status *st);
/* For tests: when set, called by :commit and :batchWrite after their writes were
 * prepared against a snapshot and before the write lock is taken (to change a
 * document in between). NULL in the server. */
extern void (*emu_batch_prepared_hook)(emu_ctx *ctx);
/* emu_query.c */
int emu_api_run_query(emu_ctx *ctx, const char *database, const char *parent, const json_t *body, json_t **out,
                      emu_status *st);
int emu_api_list(emu_ctx *ctx, const char *database, const char *collection, const emu_request *rq, json_t **out,
                 emu_status *st);

#endif
