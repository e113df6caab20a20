/* emu_api.c - request dispatch and the single-document calls (see emu_api.h). */
#include "tools/firestore-emulator/emu_api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_tree.h"
#include "tools/firestore-emulator/emu_fault.h"
#include "tools/firestore-emulator/emu_path.h"

#define EMU_MAX_OPEN_TXNS 10000

emu_ctx *emu_ctx_new(uint64_t seed)
{
    emu_ctx *ctx = calloc(1, sizeof *ctx);
    ctx->store = emu_store_new();
    ctx->txns = emu_txns_new(EMU_MAX_OPEN_TXNS, seed * 31 + 7);
    ctx->id_rng = seed * 0x9e3779b97f4a7c15ULL + 1;
    pthread_mutex_t *mu = malloc(sizeof *mu);
    pthread_mutex_init(mu, NULL);
    ctx->id_mu = mu;
    return ctx;
}

void emu_ctx_free(emu_ctx *ctx)
{
    if (!ctx)
        return;
    emu_store_free(ctx->store);
    emu_txns_free(ctx->txns);
    pthread_mutex_destroy(ctx->id_mu);
    free(ctx->id_mu);
    free(ctx);
}

void emu_response_clear(emu_response *rs)
{
    json_decref(rs->json);
    memset(rs, 0, sizeof *rs);
}

void emu_response_error(emu_response *rs, const emu_status *st)
{
    json_decref(rs->json);
    rs->json = emu_error_body(st);
    rs->text = NULL;
    rs->http = emu_code_http(st->code);
}

const char *emu_param_get(const emu_request *rq, const char *key)
{
    for (size_t i = 0; i < rq->nparams; i++) {
        if (strcmp(rq->params[i].key, key) == 0)
            return rq->params[i].value ? rq->params[i].value : "";
    }
    return NULL;
}

json_t *emu_param_all(const emu_request *rq, const char *key)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < rq->nparams; i++) {
        if (strcmp(rq->params[i].key, key) == 0)
            json_array_append_new(arr, json_string(rq->params[i].value ? rq->params[i].value : ""));
    }
    return arr;
}

int emu_body_json(const emu_request *rq, json_t **out, emu_status *st)
{
    if (rq->body_len == 0) {
        *out = json_object();
        return 0;
    }
    json_error_t err;
    *out = json_tree_load(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!*out)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid JSON payload received. %s at line %d column %d.", err.text,
                        err.line, err.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid JSON payload received. Expected an object.");
    }
    return 0;
}

/* mask.fieldPaths from the query string; *n = -1 when absent. */
static int emu_param_mask(const emu_request *rq, emu_fieldpath **mask, int *n, emu_status *st)
{
    json_t *paths = emu_param_all(rq, "mask.fieldPaths");
    int rc = 0;
    *mask = NULL;
    *n = -1;
    if (json_array_size(paths) > 0)
        rc = emu_mask_parse(paths, mask, n, st);
    json_decref(paths);
    return rc;
}

static int emu_param_precondition(const emu_request *rq, emu_write *w, emu_status *st)
{
    const char *ex = emu_param_get(rq, "currentDocument.exists");
    const char *ut = emu_param_get(rq, "currentDocument.updateTime");
    if (!ex && !ut)
        return 0;
    json_t *pc = json_object();
    if (ex) {
        if (strcmp(ex, "true") != 0 && strcmp(ex, "false") != 0) {
            json_decref(pc);
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'current_document.exists' (TYPE_BOOL), \"%.40s\"",
                            ex);
        }
        json_object_set_new(pc, "exists", json_boolean(strcmp(ex, "true") == 0));
    }
    if (ut)
        json_object_set_new(pc, "updateTime", json_string(ut));
    int rc = emu_precondition_parse(pc, w, st);
    json_decref(pc);
    return rc;
}

static int emu_no_read_time(const emu_request *rq, emu_status *st)
{
    if (emu_param_get(rq, "readTime"))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "readTime is not supported by this emulator (it keeps no history).");
    return 0;
}

static int emu_api_get(emu_ctx *ctx, const emu_route *r, const emu_request *rq, json_t **out, emu_status *st)
{
    emu_fieldpath *mask;
    int nmask;
    const char *txn = emu_param_get(rq, "transaction");
    if (emu_no_read_time(rq, st) != 0 || emu_param_mask(rq, &mask, &nmask, st) != 0)
        return -1;
    int rc = 0;
    emu_store_rdlock(ctx->store);
    const emu_doc *d = emu_store_get(ctx->store, r->name);
    if (txn)
        rc = emu_txn_read_doc(ctx->txns, txn, r->database, r->name, d ? d->update_us : 0, st);
    if (rc == 0 && !d)
        rc = emu_fail(st, EMU_NOT_FOUND, "Document \"%s\" not found.", r->name);
    if (rc == 0) {
        json_t *f = nmask >= 0 ? emu_doc_fields_for(d, mask, nmask) : emu_doc_fields(d);
        json_t *proj = nmask >= 0 ? emu_fields_project(f, mask, nmask) : json_incref(f);
        *out = emu_doc_json(d, proj);
        json_decref(proj);
        json_decref(f);
    }
    emu_store_unlock(ctx->store);
    emu_mask_free(mask, nmask < 0 ? 0 : nmask);
    return rc;
}

/* Shared by PATCH and create: one update write through the commit path. */
static int emu_api_write_one(emu_ctx *ctx, const emu_route *r, emu_write *w, const emu_request *rq, json_t **out,
                             emu_status *st)
{
    emu_fieldpath *mask;
    int nmask;
    if (emu_param_mask(rq, &mask, &nmask, st) != 0)
        return -1;
    json_t *results = NULL;
    int64_t commit_us;
    int rc = emu_commit_writes(ctx, r->database, w, 1, NULL, &results, &commit_us, out, mask, nmask, st);
    json_decref(results);
    emu_mask_free(mask, nmask < 0 ? 0 : nmask);
    return rc;
}

static int emu_api_patch(emu_ctx *ctx, const emu_route *r, const emu_request *rq, const json_t *body, json_t **out,
                         emu_status *st)
{
    emu_write w = { .op = EMU_WRITE_UPDATE };
    const char *name;
    int rc = emu_document_parse(body, &w.fields, &name, st);
    if (rc == 0 && name && strcmp(name, r->name) != 0)
        rc = emu_fail(st, EMU_INVALID_ARGUMENT, "Document name in the body differs from the name in the URL.");
    w.name = strdup(r->name);
    json_t *paths = emu_param_all(rq, "updateMask.fieldPaths");
    if (rc == 0 && json_array_size(paths) > 0) {
        w.has_mask = true;
        rc = emu_mask_parse(paths, &w.mask, &w.nmask, st);
    }
    json_decref(paths);
    if (rc == 0)
        rc = emu_param_precondition(rq, &w, st);
    if (rc == 0)
        rc = emu_api_write_one(ctx, r, &w, rq, out, st);
    emu_write_clear(&w);
    return rc;
}

static int emu_api_delete(emu_ctx *ctx, const emu_route *r, const emu_request *rq, json_t **out, emu_status *st)
{
    emu_write w = { .op = EMU_WRITE_DELETE, .name = strdup(r->name) };
    json_t *results = NULL;
    int64_t commit_us;
    int rc = emu_param_precondition(rq, &w, st);
    if (rc == 0)
        rc = emu_commit_writes(ctx, r->database, &w, 1, NULL, &results, &commit_us, NULL, NULL, 0, st);
    if (rc == 0)
        *out = json_object();
    json_decref(results);
    emu_write_clear(&w);
    return rc;
}

/* A random 20-character id from [A-Za-z0-9], as Firestore's clients make them. */
static void emu_new_id(emu_ctx *ctx, char *id)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    pthread_mutex_lock(ctx->id_mu);
    for (int i = 0; i < 20; i++) {
        ctx->id_rng ^= ctx->id_rng << 13;
        ctx->id_rng ^= ctx->id_rng >> 7;
        ctx->id_rng ^= ctx->id_rng << 17;
        id[i] = chars[ctx->id_rng % 62];
    }
    id[20] = '\0';
    pthread_mutex_unlock(ctx->id_mu);
}

static int emu_api_create(emu_ctx *ctx, const emu_route *r, const emu_request *rq, const json_t *body, json_t **out,
                          emu_status *st)
{
    const char *given = emu_param_get(rq, "documentId");
    char id[32];
    if (!given || !*given)
        emu_new_id(ctx, id);
    emu_route dr = *r;
    dr.kind = EMU_ROUTE_DOCUMENT;
    snprintf(dr.name, sizeof dr.name, "%s/%s", r->name, given && *given ? given : id);
    emu_write w = { .op = EMU_WRITE_UPDATE, .has_exists = true, .exists = false };
    const char *name;
    int rc = given && strchr(given, '/') /* an id, not a path (it would name a subcollection's document) */
                 ? emu_fail(st, EMU_INVALID_ARGUMENT, "Document id \"%.200s\" must not contain '/'.", given)
                 : emu_name_check_document(dr.name, r->database, st);
    if (rc == 0)
        rc = emu_document_parse(body, &w.fields, &name, st);
    w.name = strdup(dr.name);
    if (rc == 0)
        rc = emu_api_write_one(ctx, &dr, &w, rq, out, st);
    emu_write_clear(&w);
    return rc;
}

static int emu_api_export(emu_ctx *ctx, const emu_route *r, json_t **out)
{
    char prefix[sizeof r->name + 2];
    snprintf(prefix, sizeof prefix, "%s/", r->name);
    size_t plen = strlen(prefix);
    json_t *docs = json_array();
    emu_store_rdlock(ctx->store);
    for (const emu_doc *d = emu_store_seek(ctx->store, prefix); d && strncmp(d->name, prefix, plen) == 0;
         d = emu_store_next(d))
        json_array_append_new(docs, emu_doc_json(d, NULL));
    emu_store_unlock(ctx->store);
    *out = json_pack("{s:o}", "documents", docs);
    return 0;
}

static int emu_api_reset(emu_ctx *ctx, const emu_route *r, json_t **out)
{
    char prefix[sizeof r->name + 2];
    snprintf(prefix, sizeof prefix, "%s/", r->name);
    emu_store_wrlock(ctx->store);
    emu_store_clear_prefix(ctx->store, prefix);
    emu_store_unlock(ctx->store);
    *out = json_object();
    return 0;
}

typedef int (*emu_verb_fn)(emu_ctx *, const char *, const json_t *, json_t **, emu_status *);

static const struct {
    const char *verb;
    emu_verb_fn fn;
} emu_db_verbs[] = {
    { "commit", emu_api_commit },         { "batchWrite", emu_api_batch_write }, { "batchGet", emu_api_batch_get },
    { "beginTransaction", emu_api_begin }, { "rollback", emu_api_rollback },
};

static int emu_api_verb(emu_ctx *ctx, const emu_route *r, const json_t *body, emu_response *rs, emu_status *st)
{
    rs->route = "runQuery";
    if (strcmp(r->verb, "runQuery") == 0)
        return emu_api_run_query(ctx, r->database, r->name, body, &rs->json, st);
    bool at_root = emu_name_depth(r->name) == 0;
    for (size_t i = 0; i < sizeof emu_db_verbs / sizeof emu_db_verbs[0]; i++) {
        if (strcmp(r->verb, emu_db_verbs[i].verb) == 0 && at_root) {
            rs->route = emu_db_verbs[i].verb;
            return emu_db_verbs[i].fn(ctx, r->database, body, &rs->json, st);
        }
    }
    rs->route = "verb";
    return emu_fail(st, EMU_UNIMPLEMENTED, "Method :%s is not implemented by this emulator.", r->verb);
}

static bool emu_is(const emu_request *rq, const char *method)
{
    return strcmp(rq->method, method) == 0;
}

static int emu_method_error(const emu_request *rq, emu_status *st)
{
    return emu_fail(st, EMU_NOT_FOUND, "Method %.16s is not supported on this path.", rq->method);
}

static int emu_api_dispatch(emu_ctx *ctx, const emu_route *r, const emu_request *rq, const json_t *body,
                            emu_response *rs, emu_status *st)
{
    switch (r->kind) {
    case EMU_ROUTE_DOCUMENT:
        rs->route = emu_is(rq, "GET") ? "get" : emu_is(rq, "PATCH") ? "patch" : emu_is(rq, "DELETE") ? "delete" : "document";
        if (emu_is(rq, "GET"))
            return emu_api_get(ctx, r, rq, &rs->json, st);
        if (emu_is(rq, "PATCH"))
            return emu_api_patch(ctx, r, rq, body, &rs->json, st);
        if (emu_is(rq, "DELETE"))
            return emu_api_delete(ctx, r, rq, &rs->json, st);
        return emu_method_error(rq, st);
    case EMU_ROUTE_COLLECTION:
        rs->route = emu_is(rq, "GET") ? "list" : "create";
        if (emu_is(rq, "GET"))
            return emu_no_read_time(rq, st) != 0 ? -1 : emu_api_list(ctx, r->database, r->name, rq, &rs->json, st);
        if (emu_is(rq, "POST"))
            return emu_api_create(ctx, r, rq, body, &rs->json, st);
        return emu_method_error(rq, st);
    case EMU_ROUTE_VERB:
        if (!emu_is(rq, "POST"))
            return emu_method_error(rq, st);
        return emu_api_verb(ctx, r, body, rs, st);
    case EMU_ROUTE_ADMIN_DOCS:
        rs->route = emu_is(rq, "GET") ? "emulator.export" : "emulator.reset";
        if (emu_is(rq, "GET"))
            return emu_api_export(ctx, r, &rs->json);
        if (emu_is(rq, "DELETE"))
            return emu_api_reset(ctx, r, &rs->json);
        return emu_method_error(rq, st);
    case EMU_ROUTE_ADMIN_FAULTS:
        rs->route = "emulator.faults";
        if (!ctx->faults)
            return emu_fail(st, EMU_UNIMPLEMENTED, "Fault injection is not available.");
        return emu_api_faults(ctx->faults, rq->method, body, &rs->json, st);
    case EMU_ROUTE_ROOT: break;
    }
    rs->route = "root";
    rs->text = "Ok\n";
    return 0;
}

void emu_api_handle(emu_ctx *ctx, const emu_request *rq, emu_response *rs)
{
    emu_status st;
    emu_route r;
    json_t *body = NULL;
    memset(rs, 0, sizeof *rs);
    rs->route = "unknown";
    emu_status_ok(&st);
    int rc = emu_route_parse(rq->path, &r, &st);
    bool wants_body = rc == 0 && (emu_is(rq, "POST") || emu_is(rq, "PATCH"));
    if (rc == 0 && wants_body)
        rc = emu_body_json(rq, &body, &st);
    if (rc == 0)
        rc = emu_api_dispatch(ctx, &r, rq, body, rs, &st);
    json_decref(body);
    if (rc != 0) {
        emu_response_error(rs, &st);
        return;
    }
    rs->http = 200;
}
