/* producer.h - member-producer's shared state: settings, the relation cache, the
 * transaction tracker that decides the confirmed LSN, and the runtime's parts.
 *
 * Data flow: stream.c (START_REPLICATION, pgoutput via pgoutput.c) or snapshot.c
 * (COPY in the slot's exported snapshot) -> relation.c (what a table's columns are)
 * -> event.c (Debezium key and value JSON) -> kafka_out.c (idempotent producer)
 * -> delivery reports -> positions.c -> the standby status update that moves the slot's
 * confirmed flush LSN. See docs/producer.md. */
#ifndef SERVICES_PRODUCER_PRODUCER_H
#define SERVICES_PRODUCER_PRODUCER_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/metrics.h"
#include "common/jbuf.h"
#include "services/producer/pgoutput.h"
#include "services/producer/pgval.h"

/* --- settings (settings.c) -------------------------------------------------- */

typedef enum { SNAP_INITIAL = 0, SNAP_NEVER, SNAP_INITIAL_ONLY, SNAP_WHEN_NEEDED } snapshot_mode;
typedef enum { PUB_FILTERED = 0, PUB_DISABLED } publication_mode;

typedef struct prod_settings {
    const char *conninfo;       /* libpq; PG* variables fill the rest */
    const char *slot_name;
    const char *publication;
    int publication_mode;       /* publication_mode */
    const char *tables;         /* "schema.table,..."; NULL: the publication's tables */
    int snapshot_mode;          /* snapshot_mode */
    long long status_interval_ms;
    const char *topic_prefix;
    const char *state_topic;    /* where snapshot progress is kept */
    long long partitions, replication_factor;
    long long max_message_bytes;
    bool tombstones;
    long long max_inflight_events, max_inflight_bytes;
    long long stop_drain_ms;    /* on SIGTERM, how long to wait for Kafka's acknowledgements */
    long long reconnect_base_ms, reconnect_max_ms;
    const char *http_bind;
    long long http_port;
} prod_settings;

int prod_settings_load(cfg_file *cf, prod_settings *s, cfg_error *err);

/* --- relations (relation.c) ------------------------------------------------- */

typedef struct prod_column {
    char *name;
    uint32_t type_oid;
    pgv_type type;
    bool key;
} prod_column;

typedef struct prod_relation {
    uint32_t relid;
    char *schema, *table, *topic;
    char replident;
    int ncols;
    prod_column *cols;
    bool published;          /* one of the tables this producer publishes */
    rd_kafka_topic_t *rkt;   /* kafka_out.c */
    metric *events[5];       /* by op: c u d r t */
} prod_relation;

/* Resolves a non-built-in type OID from the catalog; false when it cannot. */
typedef bool (*prod_type_lookup)(void *ud, uint32_t oid, pgv_type *out);

typedef struct relcache {
    prod_relation **rels;
    int n, cap;
    /* types named by pgoutput Type messages: oid -> pgv_type */
    struct { uint32_t oid; pgv_type t; } *types;
    int ntypes, captypes;
    prod_type_lookup lookup;
    void *lookup_ud;
} relcache;

void relcache_free(relcache *rc);
prod_relation *relcache_get(relcache *rc, uint32_t relid);
/* Adds or replaces a relation from a Relation message (or the catalog, for the
 * snapshot); keeps the Kafka topic handle of the relation it replaces. */
prod_relation *relcache_put(relcache *rc, uint32_t relid, const char *schema, const char *table, char replident,
                            int ncols, const pgo_column *cols, const char *topic_prefix);
/* Records a Type message. */
void relcache_type(relcache *rc, uint32_t oid, const char *nspname, const char *name);
/* The metric of op ('c','u','d','r','t') for the relation. */
metric *relation_op_metric(prod_relation *r, char op);

/* --- events (event.c) ------------------------------------------------------- */

typedef struct ev_source {
    const char *db, *prefix;
    const char *snapshot;     /* "false", "true", "first", "last" */
    uint64_t commit_lsn;      /* source.sequence[0]: the transaction's commit LSN */
    uint64_t lsn;             /* source.lsn and sequence[1] */
    uint32_t xid;             /* 0: null */
    int64_t commit_ts_ms;
    int64_t now_ms;
} ev_source;

/* The key: {"col":value,...} of the key columns of t. Returns -1 when the relation
 * has no key column (the key is then null). */
int event_key(jbuf *out, const prod_relation *r, const pgo_tuple *t);
/* The value envelope; before/after NULL for JSON null. Counts values whose text was
 * not in its type's form (written as strings) into *odd when odd is non-NULL. */
void event_value(jbuf *out, const prod_relation *r, char op, const pgo_tuple *before, const pgo_tuple *after,
                 const ev_source *src, int *odd);
/* True when the key columns of a and b differ (a primary-key change). */
bool event_key_changed(const prod_relation *r, const pgo_tuple *a, const pgo_tuple *b);

/* --- positions (positions.c) ------------------------------------------------ */

typedef struct pos_txn {
    uint64_t end_lsn;
    uint32_t pending;
    bool closed;
} pos_txn;

/* Transactions in the order they were read; the oldest whose events are all
 * acknowledged are popped and their end LSN becomes confirmable. */
typedef struct pos_tracker {
    pos_txn *ring;
    size_t cap, head, count;
    uint64_t head_seq;        /* sequence number of ring[head] */
    uint64_t confirmed;       /* the highest end LSN popped (or set) */
} pos_tracker;

void pos_init(pos_tracker *t, uint64_t confirmed);
void pos_free(pos_tracker *t);
uint64_t pos_begin(pos_tracker *t);                 /* opens a transaction: its sequence number */
void pos_sent(pos_tracker *t, uint64_t seq);        /* one more event in flight for seq */
void pos_commit(pos_tracker *t, uint64_t seq, uint64_t end_lsn);
void pos_acked(pos_tracker *t, uint64_t seq);       /* one event of seq acknowledged */
/* Pops finished transactions; returns the confirmed LSN (never decreases). */
uint64_t pos_advance(pos_tracker *t);
/* Nothing open or in flight: the position may follow the server's WAL end. */
bool pos_idle(const pos_tracker *t);
void pos_follow(pos_tracker *t, uint64_t lsn);      /* confirmed = max(confirmed, lsn) when idle */

/* --- COPY text rows (copy_text.c) ------------------------------------------- */

/* Splits one row of COPY ... TO STDOUT (text format) in place: un-escapes each field
 * into buf and fills vals ('t' or 'n'). Returns the number of fields, or -1 when the
 * row is malformed or has more than maxcols fields. */
int copy_text_row(char *buf, size_t len, pgo_value *vals, int maxcols);

#endif
