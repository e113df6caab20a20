/* emu_batch.c - :commit, :batchWrite, :batchGet, :beginTransaction, :rollback.
 *
 * A commit stages its writes first: each write sees the document as the earlier
 * writes of the same commit left it (a small hash of staged names), and only when
 * all of them succeeded is the stage installed into the store, under the one write
 * lock. A failure leaves the store untouched, which makes :commit all or nothing.
 * :batchWrite applies each write on its own and reports a google.rpc.Status each. */
#include <stdlib.h>
#include <string.h>

#include "tools/firestore-emulator/emu_api.h"
#include "tools/firestore-emulator/emu_fault.h"
#include "tools/firestore-emulator/emu_path.h"

#define EMU_BATCH_WRITE_MAX 500

/* ---------- staging ---------- */

typedef struct {
    const char *name;
    emu_docstate state; /* fields: a reference owned by the stage */
} emu_staged;

typedef struct {
    emu_staged *e;
    size_t n;
    size_t *slots; /* index + 1, 0 = empty */
    size_t nslots;
} emu_stage;

static uint64_t emu_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void emu_stage_init(emu_stage *sg, size_t writes)
{
    sg->e = calloc(writes ? writes : 1, sizeof *sg->e);
    sg->n = 0;
    sg->nslots = 2 * writes + 1;
    sg->slots = calloc(sg->nslots, sizeof *sg->slots);
}

static void emu_stage_free(emu_stage *sg)
{
    for (size_t i = 0; i < sg->n; i++) {
        json_decref(sg->e[i].state.fields);
        free(sg->e[i].state.text);
    }
    free(sg->e);
    free(sg->slots);
}

/* The slot of name: holding it, or the empty one where it belongs. */
static size_t *emu_stage_slot(emu_stage *sg, const char *name)
{
    size_t i = emu_hash(name) % sg->nslots;
    while (sg->slots[i] && strcmp(sg->e[sg->slots[i] - 1].name, name) != 0)
        i = (i + 1) % sg->nslots;
    return &sg->slots[i];
}

/* The current state of a document: staged, or as stored. */
static emu_docstate emu_stage_get(emu_stage *sg, emu_store *store, const char *name)
{
    size_t *slot = emu_stage_slot(sg, name);
    if (*slot)
        return sg->e[*slot - 1].state;
    const emu_doc *d = emu_store_get(store, name);
    emu_docstate s = { 0 };
    if (d)
        s = (emu_docstate){ true, NULL, d->text, d->create_us, d->update_us };
    return s;
}

static void emu_stage_put(emu_stage *sg, const char *name, emu_docstate next)
{
    size_t *slot = emu_stage_slot(sg, name);
    if (*slot) {
        json_decref(sg->e[*slot - 1].state.fields);
        free(sg->e[*slot - 1].state.text);
        sg->e[*slot - 1].state = next;
        return;
    }
    sg->e[sg->n] = (emu_staged){ name, next };
    *slot = ++sg->n;
}

static void emu_stage_install(emu_stage *sg, emu_store *store)
{
    for (size_t i = 0; i < sg->n; i++) {
        emu_staged *e = &sg->e[i];
        if (e->state.exists) {
            emu_store_put(store, e->name, e->state.text, e->state.create_us, e->state.update_us);
            e->state.text = NULL; /* the store owns it now */
        } else {
            emu_store_delete(store, e->name);
        }
    }
}

/* ---------- preparing writes outside the lock ----------
 *
 * Parsing the stored document, merging and writing the new text is most of a
 * write's cost. Doing it under the store's write lock would let one thread work
 * while the other waits, so each write is first computed against a snapshot of its
 * document taken under the read lock. A REQUEST_TIME transform leaves a placeholder
 * for the commit time in the prepared text (emu_write_prepare). Under the write
 * lock the prepared result is used when the document is still in the snapshot's
 * version (updateTime identifies versions): the commit time is copied over the
 * placeholders (emu_write_finish). Otherwise, and for writes whose outcome depends
 * on the commit time beyond that or that touch a document twice in one request,
 * the write is applied there. */

typedef struct {
    bool ready;          /* computed against snap; false: apply under the lock */
    emu_docstate snap;   /* text owned */
    int rc;
    emu_status st;
    emu_docstate next;   /* owned until handed over */
    json_t *tres;
    emu_timeslots slots; /* placeholders of the commit time in next.text */
} emu_prepared;

/* Test hook: called between preparing and taking the write lock. */
void (*emu_batch_prepared_hook)(emu_ctx *ctx) = NULL;

static emu_prepared *emu_prepare_writes(emu_ctx *ctx, emu_write *w, size_t n)
{
    emu_prepared *p = calloc(n ? n : 1, sizeof *p);
    emu_stage seen;
    emu_stage_init(&seen, n);
    for (size_t i = 0; i < n; i++) {
        size_t *slot = emu_stage_slot(&seen, w[i].name);
        p[i].ready = !*slot;
        if (*slot)
            p[*slot - 1].ready = false; /* every write of a repeated document goes under the lock */
        else
            emu_stage_put(&seen, w[i].name, (emu_docstate){ 0 });
    }
    emu_stage_free(&seen);
    emu_store_rdlock(ctx->store);
    int64_t floor_us = emu_store_last(ctx->store); /* every commit time from now on is later */
    for (size_t i = 0; i < n; i++) {
        const emu_doc *d = p[i].ready ? emu_store_get(ctx->store, w[i].name) : NULL;
        if (d)
            p[i].snap = (emu_docstate){ true, NULL, strdup(d->text), d->create_us, d->update_us };
    }
    emu_store_unlock(ctx->store);
    for (size_t i = 0; i < n; i++) {
        if (p[i].ready) {
            p[i].rc = emu_write_prepare(&w[i], &p[i].snap, floor_us, &p[i].next, &p[i].tres, &p[i].slots, &p[i].st);
            if (p[i].rc > 0)
                p[i].ready = false;
        }
    }
    if (emu_batch_prepared_hook)
        emu_batch_prepared_hook(ctx);
    return p;
}

static void emu_prepared_free(emu_prepared *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].snap.text);
        json_decref(p[i].next.fields);
        free(p[i].next.text);
        json_decref(p[i].tres);
        emu_timeslots_free(&p[i].slots);
    }
    free(p);
}

/* Under the write lock: write w against cur at time now, from p when it still fits. */
static int emu_apply_locked(const emu_write *w, emu_prepared *p, const emu_docstate *cur, int64_t now,
                            emu_docstate *next, json_t **tres, emu_status *st)
{
    bool fits = p->ready && cur->exists == p->snap.exists && (!cur->exists || cur->update_us == p->snap.update_us);
    if (!fits)
        return emu_write_apply(w, cur, now, next, tres, st);
    if (p->rc != 0) {
        *st = p->st;
        return -1;
    }
    *next = p->next;
    *tres = p->tres;
    p->next = (emu_docstate){ 0 };
    p->tres = NULL;
    /* cur is the snapshot's version: unchanged against it is unchanged against cur */
    emu_write_finish(w, cur, now, next, *tres, &p->slots);
    return 0;
}

/* ---------- commit ---------- */

/* A WriteResult; now_json is the commit time already formatted (most results have it). */
static json_t *emu_write_result(const emu_docstate *next, json_t *transform_results, int64_t now, json_t *now_json)
{
    json_t *wr = json_object();
    if (next->exists)
        json_object_set_new(wr, "updateTime", next->update_us == now ? json_incref(now_json) : emu_time_json(next->update_us));
    if (transform_results)
        json_object_set_new(wr, "transformResults", transform_results);
    return wr;
}

static int emu_txn_validate(emu_ctx *ctx, const char *database, const char *txn, size_t nwrites, emu_status *st)
{
    emu_txn *x;
    if (emu_txn_take(ctx->txns, txn, database, &x, st) != 0)
        return -1;
    int rc = 0;
    if (x->read_only && nwrites > 0)
        rc = emu_fail(st, EMU_INVALID_ARGUMENT, "Cannot modify entities in a read-only transaction.");
    for (size_t i = 0; rc == 0 && i < x->nreads; i++) {
        const emu_doc *d = emu_store_get(ctx->store, x->reads[i].name);
        if ((d ? d->update_us : 0) != x->reads[i].update_us)
            rc = emu_fail(st, EMU_ABORTED,
                          "Aborted due to cross-transaction contention. This occurs when multiple transactions "
                          "attempt to access the same data, requiring Firestore to abort at least one in order to "
                          "enforce serializability.");
    }
    emu_txn_free(x);
    return rc;
}

int emu_commit_writes(emu_ctx *ctx, const char *database, emu_write *w, size_t n, const char *txn, json_t **results,
                      int64_t *commit_us, json_t **doc_out, const emu_fieldpath *mask, int nmask, emu_status *st)
{
    emu_stage sg;
    emu_stage_init(&sg, n);
    json_t *res = json_array();
    emu_prepared *prep = emu_prepare_writes(ctx, w, n);
    emu_store_wrlock(ctx->store);
    int rc = txn ? emu_txn_validate(ctx, database, txn, n, st) : 0;
    int64_t now = emu_store_tick(ctx->store);
    json_t *now_json = emu_time_json(now);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        emu_docstate cur = emu_stage_get(&sg, ctx->store, w[i].name), next;
        json_t *tres;
        rc = emu_apply_locked(&w[i], &prep[i], &cur, now, &next, &tres, st);
        if (rc == 0) {
            json_array_append_new(res, emu_write_result(&next, tres, now, now_json));
            emu_stage_put(&sg, w[i].name, next);
        }
    }
    if (rc == 0) {
        emu_stage_install(&sg, ctx->store);
        const emu_doc *d = doc_out && n > 0 ? emu_store_get(ctx->store, w[0].name) : NULL;
        if (d) {
            json_t *f = nmask >= 0 && mask ? emu_doc_fields_for(d, mask, nmask) : emu_doc_fields(d);
            json_t *proj = nmask >= 0 && mask ? emu_fields_project(f, mask, nmask) : json_incref(f);
            *doc_out = emu_doc_json(d, proj);
            json_decref(proj);
            json_decref(f);
        }
    }
    emu_store_unlock(ctx->store);
    json_decref(now_json);
    emu_stage_free(&sg);
    emu_prepared_free(prep, n);
    if (rc != 0) {
        json_decref(res);
        return -1;
    }
    *results = res;
    *commit_us = now;
    return 0;
}

/* Parses body.writes into an array of emu_write. */
static int emu_writes_parse(const json_t *body, const char *database, emu_write **out, size_t *n, emu_status *st)
{
    json_t *writes = json_object_get(body, "writes");
    *out = NULL;
    *n = 0;
    if (writes && !json_is_array(writes))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'writes': expected a list");
    size_t cnt = json_array_size(writes);
    emu_write *w = calloc(cnt ? cnt : 1, sizeof *w);
    for (size_t i = 0; i < cnt; i++) {
        if (emu_write_parse(json_array_get(writes, i), database, &w[i], st) != 0) {
            for (size_t j = 0; j <= i; j++)
                emu_write_clear(&w[j]);
            free(w);
            return -1;
        }
    }
    *out = w;
    *n = cnt;
    return 0;
}

static void emu_writes_free(emu_write *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        emu_write_clear(&w[i]);
    free(w);
}

int emu_api_commit(emu_ctx *ctx, const char *database, const json_t *body, json_t **out, emu_status *st)
{
    emu_write *w;
    size_t n;
    static const char *const keys[] = { "writes", "transaction", NULL };
    if (emu_known_keys(body, keys, "commit", st) != 0 || emu_writes_parse(body, database, &w, &n, st) != 0)
        return -1;
    json_t *txn = json_object_get(body, "transaction");
    if (txn && !json_is_string(txn)) {
        emu_writes_free(w, n);
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'transaction': expected base64 bytes");
    }
    json_t *results;
    int64_t commit_us;
    int rc = emu_commit_writes(ctx, database, w, n, json_string_value(txn), &results, &commit_us, NULL, NULL, 0, st);
    emu_writes_free(w, n);
    if (rc != 0)
        return -1;
    *out = json_object();
    if (json_array_size(results) > 0)
        json_object_set(*out, "writeResults", results);
    json_decref(results);
    json_object_set_new(*out, "commitTime", emu_time_json(commit_us));
    return 0;
}

/* ---------- batchWrite ---------- */

static int emu_no_duplicates(const emu_write *w, size_t n, emu_status *st)
{
    emu_stage sg;
    emu_stage_init(&sg, n);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t *slot = emu_stage_slot(&sg, w[i].name);
        if (*slot)
            rc = emu_fail(st, EMU_INVALID_ARGUMENT, "BatchWrite does not allow more than one write per document: %s",
                          w[i].name);
        else
            emu_stage_put(&sg, w[i].name, (emu_docstate){ 0 });
    }
    emu_stage_free(&sg);
    return rc;
}

int emu_api_batch_write(emu_ctx *ctx, const char *database, const json_t *body, json_t **out, emu_status *st)
{
    emu_write *w;
    size_t n;
    static const char *const keys[] = { "writes", "labels", NULL };
    if (emu_known_keys(body, keys, "batch_write", st) != 0 || emu_writes_parse(body, database, &w, &n, st) != 0)
        return -1;
    if (n > EMU_BATCH_WRITE_MAX || emu_no_duplicates(w, n, st) != 0) {
        emu_writes_free(w, n);
        if (n > EMU_BATCH_WRITE_MAX)
            return emu_fail(st, EMU_INVALID_ARGUMENT, "BatchWrite allows at most %d writes, got %zu.", EMU_BATCH_WRITE_MAX, n);
        return -1;
    }
    json_t *results = json_array(), *status = json_array();
    emu_prepared *prep = emu_prepare_writes(ctx, w, n);
    emu_store_wrlock(ctx->store);
    int64_t now = emu_store_tick(ctx->store);
    json_t *now_json = emu_time_json(now);
    for (size_t i = 0; i < n; i++) {
        const emu_doc *d = emu_store_get(ctx->store, w[i].name);
        emu_docstate cur = { 0 }, next;
        if (d)
            cur = (emu_docstate){ true, NULL, d->text, d->create_us, d->update_us };
        json_t *tres;
        emu_status ws;
        emu_status_ok(&ws);
        emu_code injected = emu_faults_write(ctx->faults, w[i].name);
        if (injected != EMU_OK) {
            emu_fail(&ws, injected, "Injected fault on this write: %s", emu_code_name(injected));
            json_array_append_new(results, json_object());
        } else if (emu_apply_locked(&w[i], &prep[i], &cur, now, &next, &tres, &ws) == 0) {
            json_array_append_new(results, emu_write_result(&next, tres, now, now_json));
            json_decref(next.fields);
            if (next.exists)
                emu_store_put(ctx->store, w[i].name, next.text, next.create_us, next.update_us);
            else
                emu_store_delete(ctx->store, w[i].name);
        } else {
            json_array_append_new(results, json_object());
        }
        json_array_append_new(status, emu_status_json(&ws));
    }
    emu_store_unlock(ctx->store);
    json_decref(now_json);
    emu_prepared_free(prep, n);
    emu_writes_free(w, n);
    *out = json_object();
    if (n > 0) {
        json_object_set(*out, "writeResults", results);
        json_object_set(*out, "status", status);
    }
    json_decref(results);
    json_decref(status);
    return 0;
}

/* ---------- batchGet, transactions ---------- */

int emu_read_consistency(emu_ctx *ctx, const char *database, const json_t *body, char *txn_buf, const char **txn,
                         bool *started, emu_status *st)
{
    json_t *t = json_object_get(body, "transaction"), *nt = json_object_get(body, "newTransaction");
    *txn = NULL;
    *started = false;
    if ((t != NULL) + (nt != NULL) + (json_object_get(body, "readTime") != NULL) > 1)
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Only one of transaction, newTransaction and readTime may be set.");
    if (json_object_get(body, "readTime"))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "readTime is not supported by this emulator (it keeps no history).");
    if (t) {
        if (!json_is_string(t) || emu_txn_check(ctx->txns, json_string_value(t), database, st) != 0)
            return json_is_string(t) ? -1 : emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'transaction'");
        *txn = json_string_value(t);
    }
    if (nt) {
        bool ro;
        if (emu_txn_options(nt, &ro, st) != 0)
            return -1;
        emu_txn_begin(ctx->txns, database, ro, emu_store_now(ctx->store), txn_buf);
        *txn = txn_buf;
        *started = true;
    }
    return 0;
}

static int emu_batch_get_names(const json_t *body, const char *database, emu_status *st)
{
    json_t *docs = json_object_get(body, "documents");
    if (docs && !json_is_array(docs))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'documents': expected a list of names");
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        if (!json_is_string(d))
            return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'documents[%zu]': expected a name", i);
        if (emu_name_check_document(json_string_value(d), database, st) != 0)
            return -1;
    }
    return 0;
}

int emu_api_batch_get(emu_ctx *ctx, const char *database, const json_t *body, json_t **out, emu_status *st)
{
    static const char *const keys[] = { "documents", "mask", "transaction", "newTransaction", "readTime", NULL };
    if (emu_known_keys(body, keys, "batch_get", st) != 0)
        return -1;
    emu_fieldpath *mask = NULL;
    int nmask = -1;
    json_t *m = json_object_get(body, "mask");
    if (emu_batch_get_names(body, database, st) != 0)
        return -1;
    if (m && emu_mask_object_parse(m, "mask", &mask, &nmask, st) != 0)
        return -1;
    char txn_buf[64];
    const char *txn;
    bool started;
    if (emu_read_consistency(ctx, database, body, txn_buf, &txn, &started, st) != 0) {
        emu_mask_free(mask, nmask < 0 ? 0 : nmask);
        return -1;
    }
    json_t *arr = json_array(), *docs = json_object_get(body, "documents");
    int rc = 0;
    emu_store_rdlock(ctx->store);
    json_t *read_time = emu_time_json(emu_store_now(ctx->store));
    size_t i;
    json_t *nm;
    json_array_foreach(docs, i, nm) {
        const char *name = json_string_value(nm);
        const emu_doc *d = emu_store_get(ctx->store, name);
        if (txn && (rc = emu_txn_read_doc(ctx->txns, txn, database, name, d ? d->update_us : 0, st)) != 0)
            break;
        json_t *item;
        if (d) {
            json_t *f = nmask >= 0 ? emu_doc_fields_for(d, mask, nmask) : emu_doc_fields(d);
            json_t *proj = nmask >= 0 ? emu_fields_project(f, mask, nmask) : json_incref(f);
            item = json_pack("{s:o}", "found", emu_doc_json(d, proj));
            json_decref(proj);
            json_decref(f);
        } else {
            item = json_pack("{s:s}", "missing", name);
        }
        if (started && i == 0)
            json_object_set_new(item, "transaction", json_string(txn));
        json_object_set(item, "readTime", read_time);
        json_array_append_new(arr, item);
    }
    emu_store_unlock(ctx->store);
    if (rc == 0 && started && json_array_size(arr) == 0)
        json_array_append_new(arr, json_pack("{s:s,s:O}", "transaction", txn, "readTime", read_time));
    json_decref(read_time);
    emu_mask_free(mask, nmask < 0 ? 0 : nmask);
    if (rc != 0) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

int emu_api_begin(emu_ctx *ctx, const char *database, const json_t *body, json_t **out, emu_status *st)
{
    bool ro;
    static const char *const keys[] = { "options", NULL };
    if (emu_known_keys(body, keys, "begin_transaction", st) != 0 ||
        emu_txn_options(json_object_get(body, "options"), &ro, st) != 0)
        return -1;
    char id[64];
    emu_txn_begin(ctx->txns, database, ro, emu_store_now(ctx->store), id);
    *out = json_pack("{s:s}", "transaction", id);
    return 0;
}

int emu_api_rollback(emu_ctx *ctx, const char *database, const json_t *body, json_t **out, emu_status *st)
{
    static const char *const keys[] = { "transaction", NULL };
    json_t *t = json_object_get(body, "transaction");
    if (emu_known_keys(body, keys, "rollback", st) != 0)
        return -1;
    if (!json_is_string(t))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Missing required field 'transaction'.");
    emu_txn *x;
    if (emu_txn_take(ctx->txns, json_string_value(t), database, &x, st) != 0)
        return -1;
    emu_txn_free(x);
    *out = json_object();
    return 0;
}
