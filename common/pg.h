/* pg.h - libpq helpers shared by the producer, memberctl and the tests.
 *
 * Connection strings are libpq's: the usual PG* environment variables (PGHOST,
 * PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE...) apply to whatever the string
 * leaves out. LSNs are uint64_t throughout and printed as PostgreSQL does ("0/16B3748"). */
#ifndef COMMON_PG_H
#define COMMON_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* replication: open a logical replication connection (replication=database). */
PGconn *pg_connect(const char *conninfo, bool replication, char *err, size_t errlen);
/* The same, with server settings for the session ("-c datestyle=ISO ..."), which win
 * over PGOPTIONS and an options= in conninfo. */
PGconn *pg_connect_options(const char *conninfo, bool replication, const char *options, char *err,
                           size_t errlen);

int pg_lsn_parse(const char *text, uint64_t *lsn);
char *pg_lsn_format(uint64_t lsn, char *buf, size_t len); /* buf >= 24 */

/* CREATE_REPLICATION_SLOT name [TEMPORARY] LOGICAL pgoutput, with an exported snapshot
 * when snapshot_name is non-NULL (then the connection must stay open and idle while the
 * snapshot is used). consistent_lsn receives the slot's consistent point. A temporary
 * slot belongs to the connection: the server drops it when the connection ends, however
 * it ends. */
int pg_create_logical_slot(PGconn *repl, const char *slot, bool temporary, char *snapshot_name,
                           size_t snapshot_len, uint64_t *consistent_lsn, char *err, size_t errlen);
int pg_drop_slot(PGconn *conn, const char *slot, char *err, size_t errlen);
/* DROP_REPLICATION_SLOT on the replication connection that owns the (temporary) slot. */
int pg_drop_own_slot(PGconn *repl, const char *slot, char *err, size_t errlen);

/* Runs a statement that returns no rows; 0 on success. */
int pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen);

#endif
