/* apply.c - one batch of events into Firestore, in five steps:
 *   1. decode each record (bad ones are dead-lettered);
 *   2. prepare: find each event's document, reading with :batchGet what the mapping
 *      needs (key index entries, reference rows, the target documents and their
 *      positions), a few rounds deep;
 *   3. merge the events into the documents in order (stale ones are skipped; many
 *      events of one document coalesce into one write);
 *   4. write every changed document once with :batchWrite, each with a precondition
 *      on what was read (updateTime, or exists:false), several requests in flight;
 *   5. settle each event: applied, stale, skipped, dead-lettered (once acknowledged),
 *      or put back - a failure holds back the rest of its partition in this batch and
 *      makes that partition back off alone.
 * Two writes of one document are never in flight together: a batch writes each
 * document once and batches run one after another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/clock.h"
#include "common/json_tree.h"
#include "common/log.h"
#include "services/consumer/consumer.h"
#include "services/consumer/fs_value.h"

#define APPLY_MAX_ROUNDS 8 /* the deepest: an address base row's refresh of a local address, 6 */
#define APPLY_GET_CHUNK 300 /* documents per :batchGet, at most */
#define APPLY_MIN_CHUNK 50  /* ... and at least, when there are that many */
#define APPLY_QUICK_REREADS 2 /* precondition failures of an event re-read at once; then it backs off */

/* OUT_FOLDED: for now, in apply_merge, superseded by the next event of its row (it shares
 * that event's outcome once known) */
enum { OUT_NONE = 0, OUT_APPLIED, OUT_STALE, OUT_SKIP, OUT_DLQ, OUT_RETRY, OUT_REREAD, OUT_HELD, OUT_FOLDED };
#define APPLY_NO_ROW SIZE_MAX

/* What one event became in this batch (kept out of cev: only a batch needs it). */
typedef struct apply_item {
    map_status st;
    map_route route;
    int outcome;
    char op;              /* the event's, kept when its tree goes after merging */
    bool folded;          /* took a later event's outcome (apply_merge) */
    int64_t source_ts_ms;
} apply_item;

typedef struct apply_ctx {
    cons *c;
    cev **b;
    apply_item *it;
    partq **qs;
    size_t n;
    json_t *cache;   /* name -> document (see mapping.h) */
    json_t *contrib; /* name -> [batch index, ...] of the events that changed it */
    size_t *waits;   /* batch indices of the events waiting for a parent row */
    size_t nwaits;
    size_t *prev_row, *next_row; /* the batch's previous and next event of the same row
                                  * (partition and key), or APPLY_NO_ROW (apply_link_rows) */
    size_t *prev_doc;             /* the previous prepared event of the same document, or
                                   * APPLY_NO_ROW (apply_link_docs) */
    bool auth_failed, answered_ok; /* some request was refused for its credentials / succeeded */
} apply_ctx;

static void apply_fail(apply_ctx *a, size_t i, int outcome, const char *cls, const char *msg, int64_t retry_after)
{
    cev *e = a->b[i];
    apply_item *x = &a->it[i];
    x->outcome = outcome;
    cev_set_error(e, cls, msg);
    if (outcome == OUT_RETRY || outcome == OUT_REREAD) {
        a->qs[i]->held = true;
        if (retry_after > a->qs[i]->retry_after_ms)
            a->qs[i]->retry_after_ms = retry_after;
    }
}

/* Drops a record's parsed tree; it is parsed again from its bytes if it is taken again
 * (a retry), but not decoded ahead. */
static void apply_drop_tree(cev *e)
{
    ev_free(&e->ev);
    json_decref(e->key);
    e->key = NULL;
    e->dropped = true;
}

static void apply_parse(cev *e)
{
    if ((e->parsed && !e->dropped && e->perr == EV_OK) || !e->rec.payload)
        return;
    if (e->parsed && !e->dropped) /* a failed parse is redone: its error may have been */
        apply_drop_tree(e);       /* overwritten since (a dead-letter send that failed) */
    char err[256];
    e->parsed = true;
    e->dropped = false;
    e->perr = ev_parse(e->rec.payload, e->rec.len, &e->ev, err, sizeof err);
    if (e->perr != EV_OK)
        cev_set_error(e, ev_error_class(e->perr), err);
    if (e->rec.key)
        e->key = json_tree_load(e->rec.key, e->rec.key_len, 0, NULL);
}

#define APPLY_AHEAD_STEP 8 /* records decoded per call, between network events */

bool apply_decode_ahead(void *ud)
{
    cons *c = ud;
    size_t window = 2 * (size_t)c->set.batch_max_events, seen = 0, parsed = 0;
    for (partq *q = c->parts; q && seen < window; q = q->next) {
        for (size_t i = 0; i < q->count && seen < window; i++) {
            cev *e = partq_at(q, i);
            if (e->state == CEV_DONE)
                continue;
            seen++;
            if (e->parsed || !e->rec.payload)
                continue;
            apply_parse(e);
            if (++parsed == APPLY_AHEAD_STEP)
                return true;
        }
    }
    return false;
}

/* An event whose parent row is not synced yet waits alone: later events of its key
 * (in this batch and until it is applied) wait behind it, the rest of its partition goes on. */
static void apply_wait(apply_ctx *a, size_t i, const char *why)
{
    apply_item *x = &a->it[i];
    x->outcome = OUT_RETRY;
    cev_set_error(a->b[i], "mapping.wait", why);
    a->waits[a->nwaits++] = i;
}

/* An earlier event of i's key in this batch waits for its parent. */
static bool apply_behind_wait(const apply_ctx *a, size_t i)
{
    for (size_t w = 0; w < a->nwaits; w++) {
        size_t j = a->waits[w];
        if (j < i && a->qs[j] == a->qs[i] && cev_same_key(a->b[j], a->b[i]))
            return true;
    }
    return false;
}

/* Step 1. */
static void apply_decode(apply_ctx *a, size_t i)
{
    cev *e = a->b[i];
    apply_item *x = &a->it[i];
    x->outcome = OUT_NONE;
    x->folded = false;
    x->st = MAP_NEED;
    map_route_reset(&x->route); /* items are kept from batch to batch, with their strings */
    if (!e->rec.payload) {
        x->outcome = OUT_SKIP; /* a tombstone */
        return;
    }
    apply_parse(e);
    if (e->perr != EV_OK)
        apply_fail(a, i, OUT_DLQ, e->err->cls, e->err->msg, 0);
}

/* Reads the needed names into the cache. Returns the class of the first failure. */
/* Requests of a round: enough to keep max_inflight busy, none bigger than max. */
static size_t apply_chunk(const cons *c, size_t n, size_t max)
{
    size_t inflight = (size_t)c->set.max_inflight, per = (n + inflight - 1) / inflight;
    if (per < APPLY_MIN_CHUNK)
        per = APPLY_MIN_CHUNK;
    return per < max ? per : max;
}

/* The buffer for request body i of a round, emptied. */
static jbuf *apply_body(cons *c, size_t i)
{
    if (i >= c->nbodies) {
        size_t n = i + 1 > c->nbodies * 2 ? i + 1 : c->nbodies * 2;
        c->bodies = realloc(c->bodies, n * sizeof *c->bodies);
        memset(c->bodies + c->nbodies, 0, (n - c->nbodies) * sizeof *c->bodies);
        c->nbodies = n;
    }
    jbuf_reset(&c->bodies[i]);
    return &c->bodies[i];
}

static void apply_set_body(fs_call *call, const char *verb, jbuf *b)
{
    call->verb = verb;
    call->body = jbuf_cstr(b);
    call->body_len = b->len;
}

void apply_free(cons *c)
{
    for (size_t i = 0; i < c->nbodies; i++)
        jbuf_free(&c->bodies[i]);
    free(c->bodies);
    for (size_t i = 0; i < c->nitems; i++)
        map_route_free(&c->items[i].route);
    free(c->items);
    c->bodies = NULL;
    c->nbodies = 0;
    c->items = NULL;
    c->nitems = 0;
}

static fs_class apply_read(apply_ctx *a, json_t *needs, fs_call *failed)
{
    size_t n = json_object_size(needs), chunk = apply_chunk(a->c, n, APPLY_GET_CHUNK);
    size_t nc = (n + chunk - 1) / chunk, k = 0;
    const char **names = calloc(n ? n : 1, sizeof *names);
    const char *name;
    json_t *v;
    json_object_foreach(needs, name, v)
        names[k++] = name;
    fs_call *calls = calloc(nc ? nc : 1, sizeof *calls);
    for (size_t i = 0; i < nc; i++) {
        size_t from = i * chunk, cnt = n - from < chunk ? n - from : chunk;
        jbuf *b = apply_body(a->c, i);
        fs_body_batch_get(a->c->fs, b, names + from, cnt, a->c->read_mask);
        apply_set_body(&calls[i], ":batchGet", b);
    }
    fs_perform(a->c->fs, calls, nc);
    fs_class worst = FS_OK;
    for (size_t i = 0; i < nc; i++) {
        cm_request(calls[i].verb, calls[i].seconds);
        json_t *docs = calls[i].cls == FS_OK ? fs_parse_batch_get(a->c->fs, calls[i].response) : NULL;
        a->answered_ok |= calls[i].cls == FS_OK;
        if (calls[i].cls == FS_OK && !docs) {
            calls[i].cls = FS_TRANSIENT;
            snprintf(calls[i].message, sizeof calls[i].message, "batchGet response is not a list");
        }
        if (docs)
            json_object_update(a->cache, docs);
        json_decref(docs);
        if (calls[i].cls != FS_OK && worst == FS_OK) {
            worst = calls[i].cls;
            *failed = calls[i];
            failed->response = NULL;
        }
        fs_call_clear(&calls[i]);
    }
    free(calls);
    free(names);
    return worst;
}

static int apply_class_outcome(fs_class cls, size_t nevents)
{
    switch (cls) {
    case FS_PRECONDITION: return OUT_REREAD;
    case FS_PERMANENT: return nevents > 1 ? OUT_REREAD : OUT_DLQ;
    default: return OUT_RETRY;
    }
}

/* A Firestore failure of one event: its class, and isolation when it was coalesced. */
static void apply_fs_fail(apply_ctx *a, size_t i, fs_class cls, const char *status, const char *msg,
                          int64_t retry_after, size_t nevents)
{
    char klass[64];
    int out = apply_class_outcome(cls, nevents);
    snprintf(klass, sizeof klass, "firestore.%s", status && *status ? status : fs_class_name(cls));
    if (cls == FS_PERMANENT && nevents > 1)
        a->b[i]->isolate = true; /* find out which event it was: apply them one by one */
    if (cls == FS_AUTH)
        a->auth_failed = true;
    apply_fail(a, i, out, klass, msg, retry_after);
}

/* In never_backwards = false mode, target documents are not read: written blind. */
static void apply_skip_target_reads(apply_ctx *a, json_t *needs)
{
    for (size_t i = 0; i < a->n; i++) {
        apply_item *x = &a->it[i];
        if (x->outcome == OUT_NONE && x->st == MAP_NEED && x->route.doc[0] && json_object_get(needs, x->route.doc)) {
            json_object_del(needs, x->route.doc);
            json_object_set_new(a->cache, x->route.doc, json_pack("{s:o,s:b}", "fields", json_object(), "_nopre", 1));
        }
    }
}

/* A stop was asked for (SIGTERM): what is not decided yet is left for the partitions'
 * next owner, so that the consumer exits within its budget. Stale and skipped events
 * stay finished: that needed no write. */
static bool apply_abandon(apply_ctx *a)
{
    if (!cli_stop)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->it[i].outcome == OUT_NONE || a->it[i].outcome == OUT_APPLIED)
            a->it[i].outcome = OUT_HELD;
    json_object_clear(a->contrib);
    return true;
}

/* FNV-1a of len bytes, from seed. */
static uint64_t apply_hash(const void *p, size_t len, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t k = 0; k < len; k++)
        h = (h ^ ((const unsigned char *)p)[k]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

/* An open-addressing table of batch indices for n entries, all empty: *cap slots (a
 * power of two, at least twice n). */
static size_t *apply_slots(size_t n, size_t *cap)
{
    *cap = 16;
    while (*cap < 2 * n)
        *cap *= 2;
    size_t *slots = malloc(*cap * sizeof *slots);
    if (!slots)
        abort();
    for (size_t k = 0; k < *cap; k++)
        slots[k] = APPLY_NO_ROW;
    return slots;
}

/* Links each decoded event with a key to the batch's previous and next event of its row
 * (same partition and key): one pass over an open-addressing table of the rows. */
static void apply_link_rows(apply_ctx *a)
{
    size_t cap, *last = apply_slots(a->n, &cap);
    for (size_t i = 0; i < a->n; i++) {
        a->prev_row[i] = a->next_row[i] = APPLY_NO_ROW;
        const cev *e = a->b[i];
        if (a->it[i].outcome != OUT_NONE || !e->rec.key)
            continue;
        size_t k = (size_t)apply_hash(e->rec.key, e->rec.key_len, (uint64_t)(uintptr_t)a->qs[i]) & (cap - 1);
        while (last[k] != APPLY_NO_ROW && !(a->qs[last[k]] == a->qs[i] && cev_same_key(a->b[last[k]], e)))
            k = (k + 1) & (cap - 1);
        if (last[k] != APPLY_NO_ROW) {
            a->prev_row[i] = last[k];
            a->next_row[last[k]] = i;
        }
        last[k] = i;
    }
    free(last);
}

/* For each event, whether an insert of its row comes earlier in the batch. Such an event
 * needs no read of the row's index entry: the row is new, and the insert's merge writes
 * the entry into the cache before this event's merge. */
static bool *apply_after_insert(apply_ctx *a)
{
    bool *after = calloc(a->n ? a->n : 1, sizeof *after), *seen = calloc(a->n ? a->n : 1, sizeof *seen);
    if (!after || !seen)
        abort();
    for (size_t i = 0; i < a->n; i++) { /* seen: an insert of the row so far, this one included */
        size_t p = a->prev_row[i];
        bool before = p != APPLY_NO_ROW && seen[p];
        seen[i] = before || a->b[i]->ev.op == 'c';
        after[i] = before && a->b[i]->ev.op != 'c';
    }
    free(seen);
    return after;
}

/* Adds an event's needs to the round's, but not the row's own index entry when an
 * insert of the row came earlier in the batch (apply_after_insert): known missing, it
 * goes into the cache at once. Returns how many names went there. */
static size_t apply_add_needs(apply_ctx *a, size_t i, bool after_insert, json_t *list, json_t *needs)
{
    size_t k, known = 0;
    json_t *nm;
    json_array_foreach(list, k, nm) {
        const char *name = json_string_value(nm);
        if (after_insert && !strcmp(name, a->it[i].route.own_index)) {
            json_object_set_new(a->cache, name, json_null());
            known++;
            continue;
        }
        json_object_set_new(needs, name, json_true());
    }
    return known;
}

/* The rounds of reads: each event's map_prepare says what it lacks, one :batchGet
 * round reads it all, until no event lacks anything. */
static void apply_prepare_rounds(apply_ctx *a, const map_config *mc, const bool *after_insert)
{
    for (int round = 0; round < APPLY_MAX_ROUNDS; round++) {
        if (round > 0 && apply_abandon(a))
            return;
        json_t *needs = json_object();
        size_t known = 0; /* names apply_add_needs put in the cache without a read */
        for (size_t i = 0; i < a->n; i++) {
            cev *e = a->b[i];
            apply_item *x = &a->it[i];
            if (x->outcome != OUT_NONE || x->st != MAP_NEED)
                continue;
            char err[256];
            json_t *list = json_array();
            x->st = map_prepare(mc, &e->ev, e->key, a->cache, &x->route, list, err, sizeof err);
            known += apply_add_needs(a, i, after_insert[i], list, needs);
            if (e->leave_doc && (x->st == MAP_OK || x->st == MAP_NEED) && !json_object_get(a->cache, e->leave_doc)) {
                json_object_set_new(needs, e->leave_doc, json_true()); /* map_leave_again reads it */
                x->st = MAP_NEED;
            }
            json_decref(list);
            switch (x->st) {
            case MAP_OK:
            case MAP_NEED: break;
            case MAP_SKIP:
                x->outcome = OUT_SKIP;
                if (e->ev.op == 't') /* no rows to remove one by one: say so */
                    log_warn("TRUNCATE of %s skipped: its rows stay in Firestore until the table is snapshotted again",
                             e->ev.table);
                break;
            case MAP_WAIT: apply_wait(a, i, err); break;
            default: apply_fail(a, i, OUT_DLQ, map_status_class(x->st), err, 0); break;
            }
        }
        bool none = json_object_size(needs) == 0 && known == 0; /* another round when names became known */
        if (!a->c->set.never_backwards)
            apply_skip_target_reads(a, needs);
        fs_call failed = { 0 };
        fs_class cls = json_object_size(needs) ? apply_read(a, needs, &failed) : FS_OK;
        json_decref(needs);
        size_t waiting = 0;
        for (size_t i = 0; i < a->n; i++)
            waiting += a->it[i].outcome == OUT_NONE && a->it[i].st == MAP_NEED;
        if (cls != FS_OK) {
            for (size_t i = 0; i < a->n; i++)
                if (a->it[i].outcome == OUT_NONE && a->it[i].st == MAP_NEED)
                    apply_fs_fail(a, i, cls, failed.status, failed.message, failed.retry_after_ms, waiting);
            return;
        }
        if (none)
            break;
    }
    for (size_t i = 0; i < a->n; i++)
        if (a->it[i].outcome == OUT_NONE && a->it[i].st == MAP_NEED)
            apply_fail(a, i, OUT_DLQ, "mapping.apply", "lookups nested too deep", 0);
}

/* Step 2. */
static void apply_prepare(apply_ctx *a)
{
    const map_config *mc = a->c->mc;
    apply_link_rows(a);
    bool *after_insert = apply_after_insert(a);
    apply_prepare_rounds(a, mc, after_insert);
    free(after_insert);
}

static void apply_contribute(apply_ctx *a, const char *name, size_t i)
{
    json_t *l = json_object_get(a->contrib, name);
    if (!l) {
        l = json_array();
        json_object_set_new(a->contrib, name, l);
    }
    json_array_append_new(l, json_integer((json_int_t)i));
}

/* Every document a merged event's route changed, for event i (the event itself, or one
 * folded into it). */
static void apply_contribute_route(apply_ctx *a, const map_route *r, size_t i)
{
    if (r->doc[0])
        apply_contribute(a, r->doc, i);
    if (r->left_doc[0]) /* the document the row moved out of */
        apply_contribute(a, r->left_doc, i);
    if (r->refresh_doc && r->refresh_doc[0]) /* an element mapped again */
        apply_contribute(a, r->refresh_doc, i);
    for (size_t k = 0; k < json_array_size(r->carried); k++) /* index entries repointed */
        apply_contribute(a, json_string_value(json_array_get(r->carried, k)), i);
    if (r->t->index && json_object_get(json_object_get(a->cache, r->own_index), "_mask"))
        apply_contribute(a, r->own_index, i);
}

/* Links each prepared event to the batch's previous one going to the same document. */
static void apply_link_docs(apply_ctx *a)
{
    size_t cap, *last = apply_slots(a->n, &cap);
    for (size_t i = 0; i < a->n; i++) {
        a->prev_doc[i] = APPLY_NO_ROW;
        const char *doc = a->it[i].route.doc;
        if (a->it[i].outcome != OUT_NONE || a->it[i].st != MAP_OK || !doc || !doc[0])
            continue;
        size_t k = (size_t)apply_hash(doc, strlen(doc), 0) & (cap - 1);
        while (last[k] != APPLY_NO_ROW && strcmp(a->it[last[k]].route.doc, doc))
            k = (k + 1) & (cap - 1);
        a->prev_doc[i] = last[k];
        last[k] = i;
    }
    free(last);
}

/* Whether event i needs no merge of its own: the next event of its row supersedes it,
 * and no event between them goes to the same document. */
static bool apply_folds(apply_ctx *a, size_t i)
{
    size_t j = a->next_row[i];
    if (j == APPLY_NO_ROW || !a->c->set.coalesce || a->prev_doc[j] != i)
        return false;
    const cev *e = a->b[i], *later = a->b[j];
    const apply_item *x = &a->it[i], *y = &a->it[j];
    if (y->outcome != OUT_NONE || x->st != MAP_OK || y->st != MAP_OK || e->isolate || later->isolate ||
        e->leave_doc || later->leave_doc || e->index_pending || later->index_pending)
        return false;
    return map_supersedes(a->c->mc, a->cache, &y->route, &later->ev, &x->route, &e->ev);
}

static void apply_merge_one(apply_ctx *a, size_t i, bool may_fold);

/* The events folded into i (a chain back along its row) take its outcome; when i could
 * not be applied, they are merged after all, in their order, as if never folded (a
 * failed merge changes nothing, and no event between them went to their document). */
static void apply_settle_folded(apply_ctx *a, size_t i)
{
    size_t p = a->prev_row[i];
    if (p == APPLY_NO_ROW || a->it[p].outcome != OUT_FOLDED)
        return;
    int out = a->it[i].outcome;
    if (out == OUT_APPLIED || out == OUT_STALE) {
        for (; p != APPLY_NO_ROW && a->it[p].outcome == OUT_FOLDED; p = a->prev_row[p]) {
            a->it[p].outcome = out;
            a->it[p].folded = true;
            if (out == OUT_APPLIED)
                apply_contribute_route(a, &a->it[i].route, p);
            apply_drop_tree(a->b[p]);
        }
        return;
    }
    while (a->prev_row[p] != APPLY_NO_ROW && a->it[a->prev_row[p]].outcome == OUT_FOLDED)
        p = a->prev_row[p]; /* the chain's first */
    for (; p != i; p = a->next_row[p]) {
        a->it[p].outcome = OUT_NONE;
        apply_merge_one(a, p, false);
    }
}

static void apply_merge_one(apply_ctx *a, size_t i, bool may_fold)
{
    cev *e = a->b[i];
    apply_item *x = &a->it[i];
    if (a->qs[i]->held || apply_behind_wait(a, i)) {
        x->outcome = OUT_HELD; /* an earlier event of this partition (or key) failed */
        apply_settle_folded(a, i);
        return;
    }
    x->op = e->ev.op;
    x->source_ts_ms = e->ev.source_ts_ms;
    if (may_fold && apply_folds(a, i)) { /* the next event of its row merges for both */
        x->outcome = OUT_FOLDED;
        if (e->ev.op != 'u' || x->route.as_insert)
            a->it[a->next_row[i]].route.as_insert = true;
        return;
    }
    char err[256];
    map_status st = map_merge(a->c->mc, &e->ev, &x->route, a->cache, err, sizeof err);
    if (st == MAP_STALE && e->index_pending) {
        map_touch_index(a->c->mc, &x->route, a->cache);
        st = MAP_OK;
    }
    if ((st == MAP_OK || st == MAP_STALE) && e->leave_doc && !x->route.left_doc[0] &&
        map_leave_again(a->c->mc, &e->ev, &x->route, a->cache, e->leave_doc) && st == MAP_STALE) {
        x->route.doc[0] = 0; /* only the document left changes */
        st = MAP_OK;
    }
    switch (st) {
    case MAP_OK:
        x->outcome = OUT_APPLIED;
        apply_contribute_route(a, &x->route, i);
        break;
    case MAP_STALE: x->outcome = OUT_STALE; break;
    case MAP_SKIP: x->outcome = OUT_SKIP; break;
    default: apply_fail(a, i, OUT_DLQ, map_status_class(st), err, 0); break;
    }
    /* folded into the cache (or dead-lettered from its bytes): its tree is not needed
     * while the writes are in flight, when the next batch is decoded ahead */
    apply_drop_tree(e);
    apply_settle_folded(a, i);
}

/* Step 3. Many events of one row: only the last is merged when it supersedes the
 * earlier ones (map_supersedes), as it would overwrite all they set. */
static void apply_merge(apply_ctx *a)
{
    apply_link_docs(a);
    for (size_t i = 0; i < a->n; i++)
        if (a->it[i].outcome == OUT_NONE)
            apply_merge_one(a, i, true);
}

static void apply_build_write(apply_ctx *a, jbuf *b, const char *name, json_t *entry)
{
    const char *pre = NULL;
    bool blind = json_is_true(json_object_get(entry, "_blind")) || json_is_true(json_object_get(entry, "_nopre"));
    if (!blind)
        pre = json_is_string(json_object_get(entry, "updateTime")) ? json_string_value(json_object_get(entry, "updateTime"))
                                                                   : "";
    if (json_is_true(json_object_get(entry, "_delete"))) {
        fs_body_write_delete(a->c->fs, b, name, pre);
        return;
    }
    json_t *mask = json_object_get(entry, "_mask");
    size_t n = json_object_size(mask), k = 0;
    const char *paths_local[64], **paths = n <= 64 ? paths_local : malloc(n * sizeof *paths);
    const char *p;
    json_t *v;
    json_object_foreach(mask, p, v)
        paths[k++] = p;
    bool synced = a->c->mc->synced_at && !json_is_true(json_object_get(entry, "_blind"));
    fs_body_write_update(a->c->fs, b, name, json_object_get(entry, "fields"), paths, n, pre,
                         synced ? "metadata.synced_at" : NULL);
    if (paths != paths_local)
        free(paths);
}

/* The outcome of one write, for every event that contributed to it. together: how many
 * events the failure covers - the write's, or its whole request's when the request was
 * refused as a whole (a refusal of many is narrowed down event by event before any of
 * them is dead-lettered). */
static void apply_write_result(apply_ctx *a, json_t *events, fs_class cls, const char *code, const char *msg,
                               int64_t retry_after, size_t together)
{
    size_t k;
    json_t *ix;
    if (cls == FS_OK) {
        a->answered_ok = true;
        return;
    }
    json_array_foreach(events, k, ix) {
        size_t i = (size_t)json_integer_value(ix);
        cev *e = a->b[i];
        apply_item *x = &a->it[i];
        if (x->route.left_doc[0] && !e->leave_doc && !(e->leave_doc = strdup(x->route.left_doc)))
            abort(); /* its row moved out of a document: the retry makes sure it is out */
        if (x->outcome != OUT_APPLIED)
            continue; /* already failed through another of its writes */
        if (x->route.own_index[0] && cls != FS_PRECONDITION)
            e->index_pending = true;
        apply_fs_fail(a, i, cls, code, msg, retry_after, together);
    }
}

/* Step 4. Returns how many writes were sent. */
static size_t apply_write(apply_ctx *a)
{
    size_t nw = json_object_size(a->contrib), k = 0;
    if (nw == 0)
        return 0;
    size_t per = apply_chunk(a->c, nw, (size_t)a->c->set.writes_per_request);
    json_t **evs = calloc(nw, sizeof *evs);
    size_t nc = (nw + per - 1) / per;
    fs_call *calls = calloc(nc, sizeof *calls);
    const char *name;
    json_t *events;
    json_object_foreach(a->contrib, name, events) {
        jbuf *b = k % per == 0 ? apply_body(a->c, k / per) : &a->c->bodies[k / per];
        if (k % per == 0)
            fs_body_writes_begin(b);
        evs[k] = events;
        apply_build_write(a, b, name, json_object_get(a->cache, name));
        k++;
        if (k % per == 0 || k == nw) {
            fs_body_writes_end(b);
            apply_set_body(&calls[(k - 1) / per], ":batchWrite", b);
        }
    }
    rate_acquire(&a->c->rate, (double)nw);
    int64_t t0 = clock_mono_us();
    fs_perform(a->c->fs, calls, nc);
    log_debug("%zu writes in %zu requests: %lld us", nw, nc, (long long)(clock_mono_us() - t0));
    fs_class *cls = calloc(per, sizeof *cls);
    char (*msg)[160] = calloc(per, sizeof *msg);
    char (*code)[40] = calloc(per, sizeof *code);
    for (size_t i = 0; i < nc; i++) {
        size_t from = i * per, cnt = nw - from < per ? nw - from : per;
        cm_request(calls[i].verb, calls[i].seconds);
        bool whole = calls[i].cls != FS_OK ||
                     fs_parse_batch_write(calls[i].response, cnt, cls, msg, code) != 0;
        size_t in_request = 0;
        for (size_t w = 0; w < cnt; w++)
            in_request += json_array_size(evs[from + w]);
        for (size_t w = 0; w < cnt; w++) {
            if (whole)
                apply_write_result(a, evs[from + w], calls[i].cls == FS_OK ? FS_TRANSIENT : calls[i].cls,
                                   calls[i].status, calls[i].message, calls[i].retry_after_ms, in_request);
            else
                apply_write_result(a, evs[from + w], cls[w], code[w], msg[w], -1, json_array_size(evs[from + w]));
        }
        fs_call_clear(&calls[i]);
    }
    free(cls);
    free(msg);
    free(code);
    free(calls);
    free(evs);
    return nw;
}

static void apply_note_failure(cev *e)
{
    int64_t now = clock_wall_ms();
    e->attempts++;
    if (!e->first_fail_ms)
        e->first_fail_ms = now;
    e->last_fail_ms = now;
}

/* Step 5. */
static void apply_settle(apply_ctx *a)
{
    cons *c = a->c;
    size_t ndlq = 0, finished = 0, folded = 0;
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < a->n; i++) {
        cev *e = a->b[i];
        apply_item *x = &a->it[i];
        folded += x->folded && (x->outcome == OUT_APPLIED || x->outcome == OUT_STALE);
        switch (x->outcome) {
        case OUT_APPLIED:
            e->state = CEV_DONE;
            e->index_pending = false;
            free(e->leave_doc);
            e->leave_doc = NULL;
            finished++;
            cm_applied(x->route.t->collection, x->op, 1);
            if (x->source_ts_ms > 0)
                cm_latency((double)(now - x->source_ts_ms) / 1000.0);
            break;
        case OUT_STALE: e->state = CEV_DONE; finished++; cm_stale(1); break;
        case OUT_SKIP: e->state = CEV_DONE; finished++; cm_skipped(1); break;
        case OUT_DLQ:
            apply_note_failure(e);
            if (dlq_send(c->dlq, e) == 0)
                ndlq++;
            else
                apply_fail(a, i, OUT_RETRY, "kafka.dlq", "dead-letter topic not writable", 0);
            break;
        case OUT_RETRY:
        case OUT_REREAD:
            apply_note_failure(e);
            cm_retry(x->outcome == OUT_REREAD ? "precondition" : e->err->cls, 1);
            break;
        default: break;
        }
    }
    cm_finished(finished);
    cm_folded(folded);
    if (ndlq && dlq_flush(c->dlq, 10000) > 0) {
        for (size_t i = 0; i < a->n; i++)
            if (a->it[i].outcome == OUT_DLQ && a->b[i]->state != CEV_DONE)
                apply_fail(a, i, OUT_RETRY, "kafka.dlq", "dead-letter record not acknowledged", 0);
    }
    if (a->auth_failed) {
        c->auth_failing = true;
        cm_auth_failure();
    } else if (a->answered_ok) { /* credentials work again (a read will do: a replay writes nothing) */
        c->auth_failing = false;
    }
}

static void apply_log_failures(apply_ctx *a)
{
    for (size_t i = 0; i < a->n; i++) {
        cev *e = a->b[i];
        apply_item *x = &a->it[i];
        if (x->outcome == OUT_DLQ) {
            log_warn("dead-lettered %s[%d]@%lld: %s", a->qs[i]->topic, a->qs[i]->partition, (long long)e->offset,
                     e->err->cls);
            continue;
        }
        if (x->outcome != OUT_RETRY)
            continue;
        /* a row waiting for its parent is normal for its first quick retries (the
         * parent is an event or two away, or on another replica): worth one info line
         * when it lasts longer, then one every 50 attempts; other failures say their
         * first three retries */
        bool wait = !strcmp(e->err->cls, "mapping.wait");
        int quiet = wait ? PARTQ_PARENT_QUICK_RETRIES : 0;
        if (e->attempts > quiet + (wait ? 1 : 3) && e->attempts % 50 != 0)
            continue;
        char why[512]; /* Firestore's messages can name a document (a kennitala): scrubbed */
        dlq_scrub(e->err->msg, why, sizeof why);
        log_write(e->attempts <= quiet ? LOG_DEBUG : LOG_INFO, "retrying %s[%d]@%lld: %s (%s), attempt %d",
                  a->qs[i]->topic, a->qs[i]->partition, (long long)e->offset, e->err->cls, why, e->attempts);
    }
}

/* The event's partition backs off: a failure to retry, or a precondition that keeps
 * failing (a database that does not exist answers every read so). */
static bool apply_backs_off(const apply_item *x, const cev *e)
{
    return x->outcome == OUT_RETRY || (x->outcome == OUT_REREAD && e->attempts > APPLY_QUICK_REREADS);
}

void apply_batch(cons *c, cev **batch, partq **qs, size_t n)
{
    apply_ctx a = { .c = c, .b = batch, .qs = qs, .n = n, .cache = json_object(), .contrib = json_object() };
    if (n > c->nitems) { /* kept, with their routes' strings: no malloc churn per batch */
        apply_item *grown = realloc(c->items, n * sizeof *c->items);
        if (!grown)
            abort();
        memset(grown + c->nitems, 0, (n - c->nitems) * sizeof *grown);
        c->items = grown;
        c->nitems = n;
    }
    a.it = c->items;
    a.waits = calloc(n, sizeof *a.waits);
    a.prev_row = malloc((n ? n : 1) * sizeof *a.prev_row);
    a.next_row = malloc((n ? n : 1) * sizeof *a.next_row);
    a.prev_doc = malloc((n ? n : 1) * sizeof *a.prev_doc);
    if (!a.waits || !a.prev_row || !a.next_row || !a.prev_doc)
        abort();
    for (size_t i = 0; i < n; i++) {
        qs[i]->held = false;
        qs[i]->retry_after_ms = -1;
    }
    int64_t t0 = clock_mono_us();
    for (size_t i = 0; i < n; i++)
        apply_decode(&a, i);
    int64_t t1 = clock_mono_us();
    apply_prepare(&a);
    int64_t t2 = clock_mono_us();
    apply_merge(&a);
    int64_t t3 = clock_mono_us();
    apply_abandon(&a);
    size_t writes = apply_write(&a);
    int64_t t4 = clock_mono_us();
    apply_settle(&a);
    log_debug("batch of %zu events, %zu writes: decode %lld us, prepare %lld us, merge %lld us, write %lld us, "
              "settle %lld us", n, writes, (long long)(t1 - t0), (long long)(t2 - t1), (long long)(t3 - t2),
              (long long)(t4 - t3), (long long)(clock_mono_us() - t4));
    apply_log_failures(&a);
    bool progress = false;
    for (size_t i = 0; i < n; i++) {
        partq *q = qs[i];
        if (batch[i]->state == CEV_DONE)
            progress = true;
        if (a.it[i].outcome == OUT_RETRY && !strcmp(a.b[i]->err->cls, "mapping.wait"))
            batch[i]->not_before_ms = clock_mono_ms() + partq_wait_delay(c, batch[i]->attempts);
        else if (apply_backs_off(&a.it[i], batch[i]) && q->blocked_until_ms <= clock_mono_ms())
            partq_block(c, q, q->retry_after_ms);
        else if (batch[i]->state == CEV_DONE && !q->held)
            backoff_reset(&q->bo);
    }
    if (progress)
        c->last_progress_ms = clock_mono_ms();
    for (size_t i = 0; i < n; i++)
        if (batch[i]->state == CEV_DONE) /* finished: its tree goes now, not when its offset is stored */
            apply_drop_tree(batch[i]);
    cm_batch(n, writes);
    json_decref(a.cache);
    json_decref(a.contrib);
    free(a.waits);
    free(a.prev_row);
    free(a.next_row);
    free(a.prev_doc);
}
