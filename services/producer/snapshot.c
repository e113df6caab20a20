/* snapshot.c - the initial snapshot: every published table read with COPY inside
 * the snapshot the replication slot exported when it was created, each row sent as
 * an op "r" event positioned at the slot's consistent point. Streaming then starts
 * from that point, so no change is missed and none is read twice. Memory stays flat:
 * one row at a time, and reading waits while too many events are in flight. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"
#include "services/producer/runtime.h"

#define SNAPSHOT_MAX_COLS 1664 /* PostgreSQL's MaxTupleAttributeNumber */

/* One event held back, so that the snapshot's last event can say "last" (Debezium's
 * source.snapshot: "first", "true"..., "last"). */
typedef struct held_event {
    bool present, has_key;
    prod_relation *rel;
    jbuf key, val;
    long long rows; /* rows of the whole snapshot built so far */
} held_event;

static void swap_jbuf(jbuf *a, jbuf *b)
{
    jbuf t = *a;
    *a = *b;
    *b = t;
}

/* Sends the held event (marked last when it is) and holds the one just built. */
static int hold_and_send(producer *p, held_event *h, prod_relation *r, bool has_key, uint64_t seq, bool last)
{
    int rc = 0;
    if (h->present) {
        swap_jbuf(&p->key, &h->key);
        swap_jbuf(&p->val, &h->val);
        if (last) { /* "snapshot":"true" in source (after "source":{, which no row value can hold) */
            const char *src = jbuf_cstr(&p->val);
            const char *s = strstr(src, "\"source\":{");
            char *mark = s ? strstr(s, "\"snapshot\":\"true\"") : NULL;
            char *first = s ? strstr(s, "\"snapshot\":\"first\"") : NULL;
            if (mark) { /* "true" -> "last" (same length) */
                memcpy(mark + 12, "last", 4);
            } else if (first) { /* a single-row snapshot: first and last; "last" wins */
                size_t at = (size_t)(first - src) + 12, len = p->val.len;
                memmove(p->val.data + at + 4, p->val.data + at + 5, len - at - 5);
                memcpy(p->val.data + at, "last", 4);
                p->val.len--;
            }
        }
        rc = prod_send_built(p, h->rel, 'r', h->has_key, seq);
        swap_jbuf(&p->key, &h->key);
        swap_jbuf(&p->val, &h->val);
    }
    if (!last) {
        swap_jbuf(&p->key, &h->key);
        swap_jbuf(&p->val, &h->val);
        h->rel = r;
        h->has_key = has_key;
        h->present = true;
    } else {
        h->present = false;
    }
    return rc;
}

static int snapshot_table(producer *p, const char *qualified, uint64_t consistent_lsn, uint64_t seq,
                          int64_t started_ms, pgo_value *vals, held_event *held)
{
    prod_relation *r;
    if (catalog_relation(p, qualified, &r) != 0)
        return -1;
    int64_t estimate = catalog_estimate_rows(p, r->relid);
    char labels[512];
    snprintf(labels, sizeof labels, "table=\"%s\"", qualified);
    metric *done = metric_counter("ekklesia_sync_producer_snapshot_rows_total", "Rows read by the initial snapshot",
                                  labels);
    metric_set(metric_gauge("ekklesia_sync_producer_snapshot_rows_estimated",
                            "Rows the snapshot expects per table (pg_class.reltuples)", labels),
               (double)(estimate > 0 ? estimate : 0));
    /* COPY the columns pgoutput publishes, in its order */
    size_t cap = 64 + strlen(qualified) * 2;
    for (int i = 0; i < r->ncols; i++)
        cap += strlen(r->cols[i].name) * 2 + 4;
    char *sql = malloc(cap), *qt = catalog_quote_qualified(p->sql, qualified);
    if (!sql || !qt)
        abort();
    size_t o = (size_t)snprintf(sql, cap, "COPY %s (", qt);
    for (int i = 0; i < r->ncols; i++) {
        char *c = PQescapeIdentifier(p->sql, r->cols[i].name, strlen(r->cols[i].name));
        o += (size_t)snprintf(sql + o, cap - o, "%s%s", i ? ", " : "", c ? c : "");
        PQfreemem(c);
    }
    snprintf(sql + o, cap - o, ") TO STDOUT");
    free(qt);
    PGresult *res = PQexec(p->sql, sql);
    free(sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        log_error("snapshot of %s: COPY failed: %s", qualified, PQerrorMessage(p->sql));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    log_info("snapshot of %s: about %lld rows", qualified, (long long)(estimate > 0 ? estimate : 0));
    ev_source src = { .db = p->db, .prefix = p->set.topic_prefix, .snapshot = "true",
                      .commit_lsn = consistent_lsn, .lsn = consistent_lsn, .commit_ts_ms = started_ms };
    long long rows = 0;
    int64_t last_log = clock_mono_ms();
    int rc = 0;
    for (;;) {
        char *buf;
        int n = PQgetCopyData(p->sql, &buf, 0);
        if (n == -1)
            break;
        if (n < 0) {
            log_error("snapshot of %s: %s", qualified, PQerrorMessage(p->sql));
            rc = -1;
            break;
        }
        int ncols = rc == 0 ? copy_text_row(buf, (size_t)n, vals, SNAPSHOT_MAX_COLS) : 0;
        if (rc == 0 && ncols != r->ncols) {
            log_error("snapshot of %s: a COPY row with %d fields for %d columns", qualified, ncols, r->ncols);
            rc = -1;
        }
        if (rc == 0) {
            pgo_tuple t = { (uint16_t)ncols, vals };
            src.now_ms = clock_wall_ms();
            src.snapshot = held->rows++ == 0 ? "first" : "true";
            bool has_key = prod_build(p, r, 'r', NULL, &t, &t, &src);
            if (hold_and_send(p, held, r, has_key, seq, false) != 0)
                rc = -1;
            rows++;
        }
        PQfreemem(buf);
        if (rc != 0 || *p->stop) {
            /* leave the COPY: cancel it and read what is left */
            PGcancel *cancel = PQgetCancel(p->sql);
            char err[128];
            if (cancel) {
                PQcancel(cancel, err, sizeof err);
                PQfreeCancel(cancel);
            }
            while ((n = PQgetCopyData(p->sql, &buf, 0)) > 0)
                PQfreemem(buf);
            if (rc == 0)
                rc = 1;
            break;
        }
        if ((rows & 1023) == 0) {
            metric_add(done, 1024);
            int64_t now = clock_mono_ms();
            if (now - last_log >= 5000) {
                log_info("snapshot of %s: %lld of about %lld rows", qualified, rows, (long long)estimate);
                last_log = now;
            }
        }
        kout_poll(p, 0);
        while (kout_backpressured(p) && !p->fatal)
            kout_poll(p, 100);
    }
    metric_add(done, (double)(rows & 1023));
    while ((res = PQgetResult(p->sql)) != NULL)
        PQclear(res);
    if (rc == 0)
        log_info("snapshot of %s: %lld rows", qualified, rows);
    return rc;
}

int snapshot_run(producer *p, const char *snapshot_name, uint64_t consistent_lsn)
{
    char err[512], set[160];
    int64_t t0 = clock_mono_ms(), started_ms = clock_wall_ms();
    p->state = 1;
    if (pg_exec(p->sql, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, sizeof err) != 0) {
        log_error("snapshot: %s", err);
        return -1;
    }
    snprintf(set, sizeof set, "SET TRANSACTION SNAPSHOT '%s'", snapshot_name);
    if (pg_exec(p->sql, set, err, sizeof err) != 0) {
        log_error("snapshot: %s", err);
        pg_exec(p->sql, "ROLLBACK", err, sizeof err);
        return -1;
    }
    pgo_value *vals = calloc(SNAPSHOT_MAX_COLS, sizeof *vals);
    if (!vals)
        abort();
    uint64_t seq = pos_begin(&p->pos);
    int rc = 0;
    held_event held = { 0 };
    for (int i = 0; i < p->ntables && rc == 0; i++)
        rc = snapshot_table(p, p->tables[i], consistent_lsn, seq, started_ms, vals, &held);
    if (held.present && hold_and_send(p, &held, NULL, false, seq, true) != 0 && rc == 0)
        rc = -1;
    jbuf_free(&held.key);
    jbuf_free(&held.val);
    free(vals);
    pg_exec(p->sql, rc == 0 ? "COMMIT" : "ROLLBACK", err, sizeof err);
    pos_commit(&p->pos, seq, consistent_lsn);
    if (rc == 0 && !kout_drain(p, 600000))
        rc = -1;
    pos_advance(&p->pos);
    if (rc == 0)
        log_info("snapshot done in %.1f s", (double)(clock_mono_ms() - t0) / 1000.0);
    return rc;
}
