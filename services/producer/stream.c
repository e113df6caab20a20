/* stream.c - streaming from the replication slot: START_REPLICATION with pgoutput,
 * XLogData and keepalive messages, the decoded changes turned into events, and the
 * standby status updates that move the slot's confirmed flush LSN.
 *
 * The confirmed LSN moves only as positions.c allows (every event of every earlier
 * transaction acknowledged by Kafka). When nothing is open or in flight it follows the
 * WAL position the server reports in keepalives, so an idle database, or one whose
 * changes are all in tables we do not publish, never keeps WAL for us. When too much
 * is in flight the loop stops reading PostgreSQL (the server keeps the WAL) but keeps
 * sending status updates, so wal_sender_timeout does not cut the connection. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"
#include "services/producer/runtime.h"

static uint64_t get64(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | u[i];
    return v;
}

static void put64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (char)(v & 0xff);
}

static int64_t pg_now_us(void)
{
    return clock_wall_us() - PGO_EPOCH_OFFSET_US;
}

void stream_send_status(producer *p, bool reply)
{
    uint64_t flush = pos_advance(&p->pos);
    uint64_t write = p->received_lsn > flush ? p->received_lsn : flush;
    char msg[34];
    msg[0] = 'r';
    put64(msg + 1, write);
    put64(msg + 9, flush);
    put64(msg + 17, flush);
    put64(msg + 25, (uint64_t)pg_now_us());
    msg[33] = reply ? 1 : 0;
    if (PQputCopyData(p->repl, msg, sizeof msg) <= 0 || PQflush(p->repl) < 0) {
        log_warn("sending a status update failed: %s", PQerrorMessage(p->repl));
        return;
    }
    if (flush != p->reported_flush)
        log_debug("confirmed %X/%X", (unsigned)(flush >> 32), (unsigned)flush);
    p->reported_flush = flush;
    p->last_status_ms = clock_mono_ms();
    metric_add(p->m.status_updates, 1);
    metric_set(p->m.confirmed_lsn, (double)flush);
    uint64_t end = p->server_wal_end > p->received_lsn ? p->server_wal_end : p->received_lsn;
    metric_set(p->m.lag_bytes, end > flush ? (double)(end - flush) : 0);
    metric_set(p->m.lag_seconds, pos_idle(&p->pos) || !p->last_commit_ms
                                     ? 0 : (double)(clock_wall_ms() - p->last_commit_ms) / 1000.0);
}

static prod_relation *published(producer *p, uint32_t relid, const char *what)
{
    prod_relation *r = relcache_get(&p->rels, relid);
    if (!r)
        log_warn("%s for relation %u before its Relation message: skipped", what, relid);
    return r && r->published ? r : NULL;
}

static void txn_source(producer *p, ev_source *src, uint64_t lsn)
{
    *src = (ev_source){ .db = p->db, .prefix = p->set.topic_prefix, .snapshot = "false",
                        .commit_lsn = p->txn_final_lsn, .lsn = lsn, .xid = p->txn_xid,
                        .commit_ts_ms = p->txn_commit_ms, .now_ms = clock_wall_ms() };
}

/* A published table's name is in p->tables. */
static bool is_published(producer *p, const char *schema, const char *table)
{
    for (int i = 0; i < p->ntables; i++) {
        const char *t = p->tables[i];
        size_t sl = strlen(schema);
        if (!strncmp(t, schema, sl) && t[sl] == '.' && !strcmp(t + sl + 1, table))
            return true;
    }
    return false;
}

static int on_change(producer *p, const pgo_message *m, uint64_t lsn)
{
    prod_relation *r = published(p, m->u.change.relid, pgo_type_name(m->type));
    if (!r)
        return 0;
    ev_source src;
    txn_source(p, &src, lsn);
    const pgo_tuple *old = m->u.change.old_kind ? &m->u.change.old : NULL;
    const pgo_tuple *nw = &m->u.change.new_;
    switch (m->type) {
    case PGO_INSERT:
        return prod_emit(p, r, 'c', NULL, nw, nw, &src, p->txn_seq);
    case PGO_DELETE:
        return prod_emit(p, r, 'd', old, NULL, old, &src, p->txn_seq);
    default: /* update */
        if (old && event_key_changed(r, old, nw)) {
            /* a new primary key: the old row goes (with its tombstone), the new one comes */
            if (prod_emit(p, r, 'd', old, NULL, old, &src, p->txn_seq) != 0)
                return -1;
            return prod_emit(p, r, 'c', NULL, nw, nw, &src, p->txn_seq);
        }
        /* with a key-only old tuple Debezium gives no "before" */
        return prod_emit(p, r, 'u', old && m->u.change.old_kind == 'O' ? old : NULL, nw, nw, &src, p->txn_seq);
    }
}

static int on_truncate(producer *p, const pgo_message *m, uint64_t lsn)
{
    ev_source src;
    txn_source(p, &src, lsn);
    for (uint32_t i = 0; i < m->u.truncate.nrels; i++) {
        prod_relation *r = published(p, pgo_truncate_relid(m, i), "Truncate");
        if (r && prod_emit(p, r, 't', NULL, NULL, NULL, &src, p->txn_seq) != 0)
            return -1;
    }
    return 0;
}

static int on_message(producer *p, const char *data, size_t len, uint64_t lsn)
{
    pgo_message m;
    char err[256];
    if (pgo_decode(p->dec, data, len, &m, err, sizeof err) != 0) {
        snprintf(p->fatal_reason, sizeof p->fatal_reason, "cannot decode a pgoutput message at %X/%X: %s",
                 (unsigned)(lsn >> 32), (unsigned)lsn, err);
        p->fatal = 1;
        return -1;
    }
    switch (m.type) {
    case PGO_BEGIN:
        p->in_txn = true;
        p->txn_seq = pos_begin(&p->pos);
        p->txn_final_lsn = m.u.begin.final_lsn;
        p->txn_xid = m.u.begin.xid;
        p->txn_commit_ms = (m.u.begin.commit_ts + PGO_EPOCH_OFFSET_US) / 1000;
        return 0;
    case PGO_COMMIT:
        if (!p->in_txn) {
            log_error("a Commit without a Begin at %X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
            return -1;
        }
        pos_commit(&p->pos, p->txn_seq, m.u.commit.end_lsn);
        p->in_txn = false;
        p->last_commit_ms = p->txn_commit_ms;
        metric_add(p->m.transactions, 1);
        return 0;
    case PGO_RELATION: {
        prod_relation *r = relcache_put(&p->rels, m.u.relation.relid, m.u.relation.nspname, m.u.relation.relname,
                                        m.u.relation.replident, m.u.relation.ncols, m.u.relation.cols,
                                        p->set.topic_prefix);
        /* with no table list, whatever the publication sends is ours (a table the DBA
         * added while we run; its topic is created at the next start if missing) */
        r->published = !p->set.tables || is_published(p, r->schema, r->table);
        if (r->replident == 'f')
            catalog_primary_key(p, r);
        log_debug("relation %s.%s: %d columns", r->schema, r->table, r->ncols);
        return 0;
    }
    case PGO_TYPE:
        relcache_type(&p->rels, m.u.type.oid, m.u.type.nspname, m.u.type.name);
        return 0;
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE:
        return on_change(p, &m, lsn);
    case PGO_TRUNCATE:
        return on_truncate(p, &m, lsn);
    default: /* Origin, Message, and stream messages we do not ask for */
        metric_add(p->m.messages_ignored, 1);
        return 0;
    }
}

/* One CopyData message from the walsender. */
static int on_copydata(producer *p, const char *buf, int len, bool *reply)
{
    if (len >= 25 && buf[0] == 'w') {
        uint64_t start = get64(buf + 1), end = get64(buf + 9);
        if (end > p->server_wal_end)
            p->server_wal_end = end;
        if (start > p->received_lsn)
            p->received_lsn = start;
        return on_message(p, buf + 25, (size_t)len - 25, start);
    }
    if (len >= 18 && buf[0] == 'k') {
        uint64_t end = get64(buf + 1);
        if (end > p->server_wal_end)
            p->server_wal_end = end;
        /* everything before this keepalive has been read; with nothing open or in
         * flight, the slot may move up to here */
        if (!p->in_txn) {
            pos_advance(&p->pos);
            pos_follow(&p->pos, end);
        }
        *reply = *reply || buf[17];
        return 0;
    }
    log_error("unexpected replication message '%c' (%d bytes)", buf[0], len);
    return -1;
}

static int start_replication(producer *p, uint64_t start_lsn)
{
    char *slot = PQescapeIdentifier(p->repl, p->set.slot_name, strlen(p->set.slot_name));
    char *pub = PQescapeLiteral(p->repl, p->set.publication, strlen(p->set.publication));
    char sql[1024];
    snprintf(sql, sizeof sql,
             "START_REPLICATION SLOT %s LOGICAL %X/%X (proto_version '%d', publication_names %s, messages 'true')",
             slot ? slot : "", (unsigned)(start_lsn >> 32), (unsigned)start_lsn, p->proto_version, pub ? pub : "''");
    PQfreemem(slot);
    PQfreemem(pub);
    PGresult *r = PQexec(p->repl, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COPY_BOTH) {
        log_error("START_REPLICATION failed: %s", PQerrorMessage(p->repl));
        rc = -1;
    }
    PQclear(r);
    return rc;
}

int stream_run(producer *p, uint64_t start_lsn)
{
    if (start_replication(p, start_lsn) != 0)
        return 1;
    p->state = 2;
    p->in_txn = false;
    pgo_decoder_set_streaming(p->dec, false);
    log_info("streaming from %X/%X (pgoutput protocol %d)", (unsigned)(start_lsn >> 32), (unsigned)start_lsn,
             p->proto_version);
    int64_t blocked_since = 0;
    int rc = 0;
    while (!*p->stop) {
        kout_poll(p, 0);
        if (p->fatal)
            return -1;
        bool reply = false;
        int64_t now = clock_mono_ms();
        uint64_t confirmable = pos_advance(&p->pos);
        if (now - p->last_status_ms >= p->set.status_interval_ms ||
            (confirmable != p->reported_flush && now - p->last_status_ms >= 100))
            stream_send_status(p, false);
        if (kout_backpressured(p)) {
            if (!blocked_since)
                blocked_since = now;
            kout_poll(p, 100);
            continue;
        }
        if (blocked_since) {
            metric_add(p->m.backpressure_seconds, (double)(now - blocked_since) / 1000.0);
            blocked_since = 0;
        }
        /* read what has arrived; a bounded number per round so that delivery
         * reports and status updates keep flowing */
        int n = 0;
        for (int i = 0; i < 1000 && !kout_backpressured(p); i++) {
            char *buf;
            n = PQgetCopyData(p->repl, &buf, 1);
            if (n <= 0)
                break;
            int mrc = on_copydata(p, buf, n, &reply);
            PQfreemem(buf);
            if (mrc != 0)
                return p->fatal ? -1 : 1;
        }
        if (reply)
            stream_send_status(p, false);
        if (n == -1) {
            PGresult *r = PQgetResult(p->repl);
            log_warn("the server ended replication: %s", PQresultErrorMessage(r));
            PQclear(r);
            rc = 1;
            break;
        }
        if (n == -2) {
            log_warn("replication connection lost: %s", PQerrorMessage(p->repl));
            rc = 1;
            break;
        }
        if (n == 0) {
            int wait = (int)(p->set.status_interval_ms - (clock_mono_ms() - p->last_status_ms));
            if (pos_advance(&p->pos) != p->reported_flush && wait > 100)
                wait = 100;
            struct pollfd pfd[2] = { { .fd = PQsocket(p->repl), .events = POLLIN },
                                     { .fd = p->kafka_wake[0], .events = POLLIN } };
            poll(pfd, 2, wait > 0 ? wait : 0);
            if ((pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(p->repl)) {
                log_warn("replication connection lost: %s", PQerrorMessage(p->repl));
                rc = 1;
                break;
            }
        }
    }
    return rc;
}
