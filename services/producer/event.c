/* event.c - Debezium change events as JSON (contract section 4, proto/): the key
 * object of the key columns and the value envelope with before, after, source, op. */
#include <stdio.h>
#include <string.h>

#include "services/producer/producer.h"

#define PRODUCER_VERSION "ekklesia-sync 0.1.0"

static void put_value(jbuf *out, const prod_column *c, const pgo_value *v, int *odd)
{
    if (!v || v->kind == 'n') {
        jbuf_puts(out, "null");
    } else if (v->kind == 'u') {
        jbuf_puts(out, "\"" PGV_UNAVAILABLE "\"");
    } else if (v->kind == 'b') {
        jbuf_base64(out, (const unsigned char *)v->data, v->len); /* never asked for */
    } else if (pgv_to_json(out, c->type, v->data, v->len) != 0 && odd) {
        (*odd)++;
    }
}

static void put_name(jbuf *out, const char *name)
{
    jbuf_str(out, name, strlen(name));
    jbuf_putc(out, ':');
}

int event_key(jbuf *out, const prod_relation *r, const pgo_tuple *t)
{
    int n = 0;
    jbuf_putc(out, '{');
    for (int i = 0; i < r->ncols; i++) {
        if (!r->cols[i].key)
            continue;
        if (n++)
            jbuf_putc(out, ',');
        put_name(out, r->cols[i].name);
        put_value(out, &r->cols[i], i < t->ncols ? &t->cols[i] : NULL, NULL);
    }
    jbuf_putc(out, '}');
    return n ? 0 : -1;
}

static void put_row(jbuf *out, const prod_relation *r, const pgo_tuple *t, int *odd)
{
    if (!t) {
        jbuf_puts(out, "null");
        return;
    }
    jbuf_putc(out, '{');
    for (int i = 0; i < r->ncols; i++) {
        if (i)
            jbuf_putc(out, ',');
        put_name(out, r->cols[i].name);
        put_value(out, &r->cols[i], i < t->ncols ? &t->cols[i] : NULL, odd);
    }
    jbuf_putc(out, '}');
}

void event_value(jbuf *out, const prod_relation *r, char op, const pgo_tuple *before, const pgo_tuple *after,
                 const ev_source *src, int *odd)
{
    char seq[80];
    jbuf_puts(out, "{\"before\":");
    put_row(out, r, before, odd);
    jbuf_puts(out, ",\"after\":");
    put_row(out, r, after, odd);
    jbuf_puts(out, ",\"source\":{\"version\":\"" PRODUCER_VERSION "\",\"connector\":\"postgresql\",\"name\":");
    jbuf_str(out, src->prefix, strlen(src->prefix));
    jbuf_puts(out, ",\"ts_ms\":");
    jbuf_i64(out, src->commit_ts_ms);
    jbuf_puts(out, ",\"snapshot\":\"");
    jbuf_puts(out, src->snapshot);
    jbuf_puts(out, "\",\"db\":");
    jbuf_str(out, src->db, strlen(src->db));
    /* a snapshot read has no commit LSN: "[null,\"<lsn>\"]" (proto/README.md) */
    if (op == 'r' || !src->commit_lsn)
        snprintf(seq, sizeof seq, "[null,\"%llu\"]", (unsigned long long)src->lsn);
    else
        snprintf(seq, sizeof seq, "[\"%llu\",\"%llu\"]", (unsigned long long)src->commit_lsn,
                 (unsigned long long)src->lsn);
    jbuf_puts(out, ",\"sequence\":");
    jbuf_str(out, seq, strlen(seq));
    jbuf_puts(out, ",\"schema\":");
    jbuf_str(out, r->schema, strlen(r->schema));
    jbuf_puts(out, ",\"table\":");
    jbuf_str(out, r->table, strlen(r->table));
    jbuf_puts(out, ",\"txId\":");
    if (src->xid)
        jbuf_u64(out, src->xid);
    else
        jbuf_puts(out, "null");
    jbuf_puts(out, ",\"lsn\":");
    jbuf_u64(out, src->lsn);
    jbuf_puts(out, ",\"xmin\":null},\"op\":\"");
    jbuf_putc(out, op);
    jbuf_puts(out, "\",\"ts_ms\":");
    jbuf_i64(out, src->now_ms);
    jbuf_puts(out, ",\"transaction\":null}");
}

bool event_key_changed(const prod_relation *r, const pgo_tuple *a, const pgo_tuple *b)
{
    for (int i = 0; i < r->ncols; i++) {
        if (!r->cols[i].key)
            continue;
        const pgo_value *x = i < a->ncols ? &a->cols[i] : NULL, *y = i < b->ncols ? &b->cols[i] : NULL;
        if (!x || !y)
            return x != y;
        if (y->kind == 'u') /* an unchanged TOASTed key value did not change */
            continue;
        if (x->kind != y->kind || x->len != y->len || (x->len && memcmp(x->data, y->data, x->len)))
            return true;
    }
    return false;
}
