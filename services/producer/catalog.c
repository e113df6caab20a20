/* catalog.c - what the producer asks PostgreSQL's catalog, on its plain SQL
 * connection: the publication (created or altered in "filtered" mode, only checked in
 * "disabled" mode), the tables it publishes and whether each can be identified
 * (a primary key or REPLICA IDENTITY FULL), their columns for the snapshot, and the
 * types that are not built in (enums, domains, arrays of them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "services/producer/runtime.h"

static PGresult *q(producer *p, const char *sql, int n, const char *const *params, ExecStatusType want)
{
    PGresult *r = PQexecParams(p->sql, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != want) {
        log_error("catalog query failed: %s", PQerrorMessage(p->sql));
        PQclear(r);
        return NULL;
    }
    return r;
}

static void split_qualified(const char *qualified, char *schema, size_t slen, char *table, size_t tlen)
{
    const char *dot = strchr(qualified, '.');
    if (dot) {
        snprintf(schema, slen, "%.*s", (int)(dot - qualified), qualified);
        snprintf(table, tlen, "%s", dot + 1);
    } else {
        snprintf(schema, slen, "public");
        snprintf(table, tlen, "%s", qualified);
    }
}

char *catalog_quote_qualified(PGconn *conn, const char *qualified)
{
    char schema[256], table[256];
    split_qualified(qualified, schema, sizeof schema, table, sizeof table);
    char *s = PQescapeIdentifier(conn, schema, strlen(schema)), *t = PQescapeIdentifier(conn, table, strlen(table));
    char *out = NULL;
    if (s && t) {
        size_t n = strlen(s) + strlen(t) + 2;
        out = malloc(n);
        if (out)
            snprintf(out, n, "%s.%s", s, t);
    }
    PQfreemem(s);
    PQfreemem(t);
    return out;
}

static void add_table(producer *p, const char *schema, const char *table)
{
    char **n = realloc(p->tables, (size_t)(p->ntables + 1) * sizeof *n);
    if (!n)
        abort();
    p->tables = n;
    size_t len = strlen(schema) + strlen(table) + 2;
    p->tables[p->ntables] = malloc(len);
    if (!p->tables[p->ntables])
        abort();
    snprintf(p->tables[p->ntables++], len, "%s.%s", schema, table);
}

static int configured_tables(producer *p)
{
    char *list = strdup(p->set.tables), *save = NULL;
    if (!list)
        abort();
    for (char *t = strtok_r(list, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save)) {
        char schema[256], table[256];
        split_qualified(t, schema, sizeof schema, table, sizeof table);
        add_table(p, schema, table);
    }
    free(list);
    return p->ntables ? 0 : -1;
}

/* The tables of the publication, "schema.table". */
static int publication_tables(producer *p, char ***out, int *n, bool *exists)
{
    const char *params[] = { p->set.publication };
    PGresult *r = q(p, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", 1, params, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    *exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    *out = NULL;
    *n = 0;
    if (!*exists)
        return 0;
    r = q(p, "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1", 1,
          params, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    *n = PQntuples(r);
    *out = calloc((size_t)*n + 1, sizeof **out);
    for (int i = 0; i < *n; i++)
        (*out)[i] = strdup(PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
}

static bool listed(char **list, int n, const char *t)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], t))
            return true;
    return false;
}

static void free_list(char **list, int n)
{
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* filtered mode: CREATE PUBLICATION, or ALTER ... SET TABLE when its tables differ. */
static int ensure_publication(producer *p, bool exists, char **have, int nhave)
{
    bool same = exists && nhave == p->ntables;
    for (int i = 0; same && i < p->ntables; i++)
        same = listed(have, nhave, p->tables[i]);
    if (same)
        return 0;
    size_t cap = 256;
    for (int i = 0; i < p->ntables; i++)
        cap += strlen(p->tables[i]) * 2 + 8;
    char *sql = malloc(cap), *pub = PQescapeIdentifier(p->sql, p->set.publication, strlen(p->set.publication));
    if (!sql || !pub)
        abort();
    size_t o = (size_t)snprintf(sql, cap, exists ? "ALTER PUBLICATION %s SET TABLE " : "CREATE PUBLICATION %s FOR TABLE ",
                                pub);
    for (int i = 0; i < p->ntables; i++) {
        char *qt = catalog_quote_qualified(p->sql, p->tables[i]);
        o += (size_t)snprintf(sql + o, cap - o, "%s%s", i ? ", " : "", qt ? qt : "");
        free(qt);
    }
    PQfreemem(pub);
    PGresult *r = PQexec(p->sql, sql);
    free(sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        log_error("%s publication %s failed: %s (the producer's role must own the tables to do this; "
                  "or create the publication yourself and set postgres.publication_autocreate = \"disabled\")",
                  exists ? "altering" : "creating", p->set.publication, PQerrorMessage(p->sql));
        rc = -1;
    } else {
        log_info("%s publication %s for %d table(s)", exists ? "altered" : "created", p->set.publication, p->ntables);
    }
    PQclear(r);
    return rc;
}

/* Refuses a table that does not exist or whose rows cannot be identified. */
static int check_identity(producer *p, const char *qualified)
{
    char schema[256], table[256];
    split_qualified(qualified, schema, sizeof schema, table, sizeof table);
    const char *params[] = { schema, table };
    PGresult *r = q(p,
                    "SELECT c.relreplident, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                    2, params, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    int rc = 0;
    if (PQntuples(r) == 0) {
        log_error("table %s does not exist (or is not a table)", qualified);
        rc = -1;
    } else {
        char ident = PQgetvalue(r, 0, 0)[0];
        bool pk = PQgetvalue(r, 0, 1)[0] == 't';
        if (ident == 'n' || (ident == 'd' && !pk)) {
            log_error("table %s has no primary key and no REPLICA IDENTITY FULL: its updates and deletes could not "
                      "be keyed; add a primary key or run ALTER TABLE %s REPLICA IDENTITY FULL",
                      qualified, qualified);
            rc = -1;
        }
    }
    PQclear(r);
    return rc;
}

int catalog_setup(producer *p)
{
    char **have = NULL;
    int nhave = 0;
    bool exists = false;
    if (publication_tables(p, &have, &nhave, &exists) != 0)
        return -1;
    int rc = 0;
    if (p->set.tables) {
        if (configured_tables(p) != 0) {
            log_error("postgres.tables lists no table");
            rc = -1;
        }
    } else if (!exists) {
        log_error("publication %s does not exist (postgres.publication_autocreate = \"disabled\"): create it, "
                  "or list postgres.tables and use \"filtered\"", p->set.publication);
        rc = -1;
    } else {
        for (int i = 0; i < nhave; i++) {
            char schema[256], table[256];
            split_qualified(have[i], schema, sizeof schema, table, sizeof table);
            add_table(p, schema, table);
        }
        if (!nhave) {
            log_error("publication %s publishes no table", p->set.publication);
            rc = -1;
        }
    }
    for (int i = 0; rc == 0 && i < p->ntables; i++)
        rc = check_identity(p, p->tables[i]);
    if (rc == 0 && p->set.publication_mode == PUB_FILTERED) {
        rc = ensure_publication(p, exists, have, nhave);
    } else if (rc == 0) {
        if (!exists) {
            log_error("publication %s does not exist (postgres.publication_autocreate = \"disabled\")",
                      p->set.publication);
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < p->ntables; i++)
            if (!listed(have, nhave, p->tables[i])) {
                log_error("table %s is not in publication %s (postgres.publication_autocreate = \"disabled\")",
                          p->tables[i], p->set.publication);
                rc = -1;
            }
    }
    free_list(have, nhave);
    return rc;
}

int catalog_relation(producer *p, const char *qualified, prod_relation **out)
{
    char schema[256], table[256];
    split_qualified(qualified, schema, sizeof schema, table, sizeof table);
    const char *params[] = { schema, table };
    /* pgoutput's columns: not dropped, not generated, in attnum order; key flags as its
     * Relation message sets them (replica identity columns, all for FULL) */
    PGresult *r = q(p,
                    "SELECT c.oid, c.relreplident, a.attname, a.atttypid, a.atttypmod,"
                    " CASE c.relreplident WHEN 'f' THEN NOT EXISTS (SELECT 1 FROM pg_index i"
                    "                      WHERE i.indrelid = c.oid AND i.indisprimary)"
                    "     OR a.attnum = ANY (SELECT unnest(i.indkey) FROM pg_index i"
                    "                        WHERE i.indrelid = c.oid AND i.indisprimary)"
                    "  WHEN 'i' THEN a.attnum = ANY (SELECT unnest(i.indkey) FROM pg_index i"
                    "                               WHERE i.indrelid = c.oid AND i.indisreplident)"
                    "  ELSE a.attnum = ANY (SELECT unnest(i.indkey) FROM pg_index i"
                    "                      WHERE i.indrelid = c.oid AND i.indisprimary) END"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " JOIN pg_attribute a ON a.attrelid = c.oid"
                    " WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped"
                    "   AND a.attgenerated = ''"
                    " ORDER BY a.attnum",
                    2, params, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    int n = PQntuples(r);
    if (n == 0) {
        log_error("table %s has no columns or does not exist", qualified);
        PQclear(r);
        return -1;
    }
    pgo_column *cols = calloc((size_t)n, sizeof *cols);
    if (!cols)
        abort();
    for (int i = 0; i < n; i++) {
        cols[i].name = PQgetvalue(r, i, 2);
        cols[i].type_oid = (uint32_t)strtoul(PQgetvalue(r, i, 3), NULL, 10);
        cols[i].typmod = atoi(PQgetvalue(r, i, 4));
        cols[i].key = PQgetvalue(r, i, 5)[0] == 't';
    }
    uint32_t relid = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    *out = relcache_put(&p->rels, relid, schema, table, PQgetvalue(r, 0, 1)[0], n, cols, p->set.topic_prefix);
    (*out)->published = true;
    free(cols);
    PQclear(r);
    return 0;
}

static bool type_lookup_depth(producer *p, uint32_t oid, pgv_type *out, int depth)
{
    if (pgv_builtin(oid, out))
        return true;
    if (depth > 8 || !p->sql || PQstatus(p->sql) != CONNECTION_OK)
        return false;
    char oidtxt[16];
    snprintf(oidtxt, sizeof oidtxt, "%u", oid);
    const char *params[] = { oidtxt };
    PGresult *r = q(p,
                    "SELECT t.typtype, t.typbasetype, t.typelem, t.typcategory, COALESCE(e.typdelim, ',')"
                    " FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem WHERE t.oid = $1",
                    1, params, PGRES_TUPLES_OK);
    if (!r)
        return false;
    bool ok = false;
    if (PQntuples(r) == 1) {
        char typtype = PQgetvalue(r, 0, 0)[0], category = PQgetvalue(r, 0, 3)[0];
        uint32_t base = (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
        uint32_t elem = (uint32_t)strtoul(PQgetvalue(r, 0, 2), NULL, 10);
        if (typtype == 'd') {
            ok = type_lookup_depth(p, base, out, depth + 1);
        } else if (category == 'A' && elem && PQgetvalue(r, 0, 4)[0] != ',') {
            *out = (pgv_type){ PGV_TEXT, false }; /* box[] and the like: ';' between elements */
            ok = true;
        } else if (category == 'A' && elem) {
            pgv_type e = { PGV_TEXT, false };
            type_lookup_depth(p, elem, &e, depth + 1);
            *out = (pgv_type){ e.kind, true };
            ok = true;
        } else {
            *out = (pgv_type){ PGV_TEXT, false }; /* enums, ranges, extension types: their text */
            ok = true;
        }
    }
    PQclear(r);
    return ok;
}

bool catalog_type_lookup(void *ud, uint32_t oid, pgv_type *out)
{
    return type_lookup_depth(ud, oid, out, 0);
}

int64_t catalog_estimate_rows(producer *p, uint32_t relid)
{
    char oidtxt[16];
    snprintf(oidtxt, sizeof oidtxt, "%u", relid);
    const char *params[] = { oidtxt };
    PGresult *r = q(p, "SELECT reltuples::bigint FROM pg_class WHERE oid = $1", 1, params, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    int64_t n = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

void catalog_primary_key(producer *p, prod_relation *r)
{
    char oidtxt[16];
    snprintf(oidtxt, sizeof oidtxt, "%u", r->relid);
    const char *params[] = { oidtxt };
    PGresult *res = q(p,
                      "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                      " AND a.attnum = ANY (i.indkey) WHERE i.indrelid = $1 AND i.indisprimary",
                      1, params, PGRES_TUPLES_OK);
    if (!res || PQntuples(res) == 0) { /* no primary key: the whole row is the key */
        PQclear(res);
        return;
    }
    for (int c = 0; c < r->ncols; c++) {
        r->cols[c].key = false;
        for (int i = 0; i < PQntuples(res); i++)
            if (!strcmp(r->cols[c].name, PQgetvalue(res, i, 0)))
                r->cols[c].key = true;
    }
    PQclear(res);
}
