/* pg.c - libpq connections, LSNs and replication-slot commands (see pg.h). */
#include "common/pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pg_error_text(PGconn *conn, const char *what, char *err, size_t errlen)
{
    const char *m = conn ? PQerrorMessage(conn) : "out of memory";
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    snprintf(err, errlen, "%s: %.*s", what, (int)n, m);
}

PGconn *pg_connect(const char *conninfo, bool replication, char *err, size_t errlen)
{
    return pg_connect_options(conninfo, replication, NULL, err, errlen);
}

PGconn *pg_connect_options(const char *conninfo, bool replication, const char *options, char *err,
                           size_t errlen)
{
    /* expand_dbname=1 lets conninfo be a full connection string or URI; keywords
     * after it override it, and PG* variables fill what neither sets. */
    const char *keys[5], *vals[5];
    int n = 0;
    if (conninfo && *conninfo) {
        keys[n] = "dbname";
        vals[n++] = conninfo;
    }
    if (replication) {
        keys[n] = "replication";
        vals[n++] = "database";
    }
    if (options) {
        keys[n] = "options";
        vals[n++] = options;
    }
    keys[n] = "fallback_application_name";
    vals[n++] = "ekklesia-sync";
    keys[n] = vals[n] = NULL;
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        pg_error_text(conn, "cannot connect to PostgreSQL", err, errlen);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int pg_lsn_parse(const char *text, uint64_t *lsn)
{
    unsigned hi, lo;
    char tail;
    if (!text || sscanf(text, "%X/%X%c", &hi, &lo, &tail) != 2)
        return -1;
    *lsn = ((uint64_t)hi << 32) | lo;
    return 0;
}

char *pg_lsn_format(uint64_t lsn, char *buf, size_t len)
{
    snprintf(buf, len, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
    return buf;
}

int pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc)
        pg_error_text(conn, "statement failed", err, errlen);
    PQclear(r);
    return rc;
}

int pg_create_logical_slot(PGconn *repl, const char *slot, bool temporary, char *snapshot_name,
                           size_t snapshot_len, uint64_t *consistent_lsn, char *err, size_t errlen)
{
    char *ident = PQescapeIdentifier(repl, slot, strlen(slot));
    if (!ident) {
        pg_error_text(repl, "bad slot name", err, errlen);
        return -1;
    }
    char sql[512];
    snprintf(sql, sizeof sql, "CREATE_REPLICATION_SLOT %s%s LOGICAL pgoutput %s", ident, temporary ? " TEMPORARY" : "",
             snapshot_name ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT");
    PQfreemem(ident);
    PGresult *r = PQexec(repl, sql);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_error_text(repl, "CREATE_REPLICATION_SLOT failed", err, errlen);
    } else if (pg_lsn_parse(PQgetvalue(r, 0, 1), consistent_lsn) != 0) {
        snprintf(err, errlen, "CREATE_REPLICATION_SLOT returned a bad LSN");
    } else {
        if (snapshot_name)
            snprintf(snapshot_name, snapshot_len, "%s", PQgetisnull(r, 0, 2) ? "" : PQgetvalue(r, 0, 2));
        rc = 0;
    }
    PQclear(r);
    return rc;
}

int pg_drop_own_slot(PGconn *repl, const char *slot, char *err, size_t errlen)
{
    char *ident = PQescapeIdentifier(repl, slot, strlen(slot));
    if (!ident) {
        pg_error_text(repl, "bad slot name", err, errlen);
        return -1;
    }
    char sql[512];
    snprintf(sql, sizeof sql, "DROP_REPLICATION_SLOT %s", ident);
    PQfreemem(ident);
    PGresult *r = PQexec(repl, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_error_text(repl, "DROP_REPLICATION_SLOT failed", err, errlen);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

int pg_drop_slot(PGconn *conn, const char *slot, char *err, size_t errlen)
{
    const char *params[] = { slot };
    PGresult *r = PQexecParams(conn, "SELECT pg_drop_replication_slot($1)", 1, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        /* On a replication connection, plain SQL works only with replication=database. */
        pg_error_text(conn, "dropping the replication slot failed", err, errlen);
        rc = -1;
    }
    PQclear(r);
    return rc;
}
