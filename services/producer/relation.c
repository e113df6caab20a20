/* relation.c - the relation cache: what each published table's columns are, how
 * their values convert, and its Kafka topic (see producer.h). Relation messages
 * replace an entry whenever the table changes (ALTER TABLE), so events follow the
 * new shape at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/producer/producer.h"

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

static void relation_free(prod_relation *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->ncols; i++)
        free(r->cols[i].name);
    free(r->cols);
    free(r->schema);
    free(r->table);
    free(r->topic);
    if (r->rkt)
        rd_kafka_topic_destroy(r->rkt);
    free(r);
}

void relcache_free(relcache *rc)
{
    for (int i = 0; i < rc->n; i++)
        relation_free(rc->rels[i]);
    free(rc->rels);
    free(rc->types);
    memset(rc, 0, sizeof *rc);
}

prod_relation *relcache_get(relcache *rc, uint32_t relid)
{
    for (int i = 0; i < rc->n; i++)
        if (rc->rels[i]->relid == relid)
            return rc->rels[i];
    return NULL;
}

static pgv_type resolve_type(relcache *rc, uint32_t oid)
{
    pgv_type t = { PGV_TEXT, false };
    if (pgv_builtin(oid, &t))
        return t;
    for (int i = 0; i < rc->ntypes; i++)
        if (rc->types[i].oid == oid)
            return rc->types[i].t;
    if (rc->lookup && rc->lookup(rc->lookup_ud, oid, &t))
        return t;
    return (pgv_type){ PGV_TEXT, false }; /* unknown: its text */
}

void relcache_type(relcache *rc, uint32_t oid, const char *nspname, const char *name)
{
    pgv_type t = { PGV_TEXT, false };
    /* A domain arrives named as its base type (in pg_catalog, nspname ""); an enum or
     * an extension type by its own name. The catalog, when reachable, knows better. */
    if (!(rc->lookup && rc->lookup(rc->lookup_ud, oid, &t)) && !(!*nspname && pgv_by_name(name, &t)))
        t = (pgv_type){ PGV_TEXT, name[0] == '_' };
    for (int i = 0; i < rc->ntypes; i++)
        if (rc->types[i].oid == oid) {
            rc->types[i].t = t;
            return;
        }
    if (rc->ntypes == rc->captypes) {
        rc->captypes = rc->captypes ? rc->captypes * 2 : 8;
        rc->types = realloc(rc->types, (size_t)rc->captypes * sizeof *rc->types);
        if (!rc->types)
            abort();
    }
    rc->types[rc->ntypes].oid = oid;
    rc->types[rc->ntypes++].t = t;
}

prod_relation *relcache_put(relcache *rc, uint32_t relid, const char *schema, const char *table, char replident,
                            int ncols, const pgo_column *cols, const char *topic_prefix)
{
    prod_relation *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->relid = relid;
    r->schema = xstrdup(schema);
    r->table = xstrdup(table);
    r->replident = replident;
    size_t tlen = strlen(topic_prefix) + strlen(r->schema) + strlen(r->table) + 3;
    r->topic = malloc(tlen);
    if (!r->topic)
        abort();
    snprintf(r->topic, tlen, "%s.%s.%s", topic_prefix, r->schema, r->table);
    r->ncols = ncols;
    r->cols = calloc((size_t)(ncols ? ncols : 1), sizeof *r->cols);
    if (!r->cols)
        abort();
    for (int i = 0; i < ncols; i++) {
        r->cols[i].name = xstrdup(cols[i].name);
        r->cols[i].type_oid = cols[i].type_oid;
        r->cols[i].key = cols[i].key;
        r->cols[i].type = resolve_type(rc, cols[i].type_oid);
    }
    for (int i = 0; i < rc->n; i++) {
        if (rc->rels[i]->relid == relid) {
            prod_relation *old = rc->rels[i];
            r->published = old->published;
            r->rkt = old->rkt;
            old->rkt = NULL;
            memcpy(r->events, old->events, sizeof r->events);
            relation_free(old);
            rc->rels[i] = r;
            return r;
        }
    }
    if (rc->n == rc->cap) {
        rc->cap = rc->cap ? rc->cap * 2 : 16;
        rc->rels = realloc(rc->rels, (size_t)rc->cap * sizeof *rc->rels);
        if (!rc->rels)
            abort();
    }
    rc->rels[rc->n++] = r;
    return r;
}

metric *relation_op_metric(prod_relation *r, char op)
{
    static const char ops[] = "cudrt";
    const char *p = strchr(ops, op);
    if (!p || !op)
        return NULL;
    int i = (int)(p - ops);
    if (!r->events[i]) {
        char labels[512];
        snprintf(labels, sizeof labels, "table=\"%s.%s\",op=\"%c\"", r->schema, r->table, op);
        r->events[i] = metric_counter("ekklesia_sync_producer_events_total",
                                      "Change events produced, by source table and operation", labels);
    }
    return r->events[i];
}
