/* runtime.h - the running member-producer: its connections, Kafka handle, in-flight
 * accounting and metrics, shared by main.c, catalog.c, kafka_out.c, state.c,
 * snapshot.c and stream.c. */
#ifndef SERVICES_PRODUCER_RUNTIME_H
#define SERVICES_PRODUCER_RUNTIME_H

#include <signal.h>

#include "services/producer/producer.h"

/* Session settings that make values arrive in the forms pgval.c expects. */
#define PROD_SESSION_OPTIONS \
    "-c datestyle=ISO -c intervalstyle=iso_8601 -c timezone=UTC -c extra_float_digits=3 -c bytea_output=hex"

typedef struct prod_metrics {
    metric *bytes, *confirmed_lsn, *lag_bytes, *lag_seconds, *delivery_errors, *inflight_events, *inflight_bytes,
        *transactions, *reconnects, *backpressure_seconds, *messages_ignored, *value_fallbacks, *status_updates;
} prod_metrics;

typedef struct producer {
    prod_settings set;
    cfg_file *cf;
    PGconn *repl, *sql;
    char db[128];
    int proto_version;
    char **tables; /* "schema.table" published by this producer */
    int ntables;
    relcache rels;
    pgo_decoder *dec;
    pos_tracker pos;
    rd_kafka_t *rk;
    int kafka_wake[2]; /* librdkafka writes to [1] when a delivery report waits */
    jbuf key, val;
    long long inflight_events, inflight_bytes;
    /* the transaction being read */
    bool in_txn;
    uint64_t txn_seq, txn_final_lsn;
    uint32_t txn_xid;
    int64_t txn_commit_ms;
    /* positions */
    uint64_t received_lsn, server_wal_end, reported_flush;
    int64_t last_status_ms, last_commit_ms;
    volatile sig_atomic_t *stop;
    volatile int fatal;          /* a fatal Kafka error: exit 1 */
    char fatal_reason[512];
    volatile int state;          /* 0 starting, 1 snapshot, 2 streaming, 3 reconnecting */
    prod_metrics m;
} producer;

/* catalog.c: the publication, the tables and their columns, types. */
int catalog_setup(producer *p);
int catalog_relation(producer *p, const char *qualified, prod_relation **out);
bool catalog_type_lookup(void *ud, uint32_t oid, pgv_type *out);
/* For a REPLICA IDENTITY FULL table, whose Relation message marks every column as
 * identity: the key becomes its primary key, when it has one. */
void catalog_primary_key(producer *p, prod_relation *r);
int64_t catalog_estimate_rows(producer *p, uint32_t relid);
/* "schema.table" -> quoted identifiers "\"schema\".\"table\"" (malloc'd). */
char *catalog_quote_qualified(PGconn *conn, const char *qualified);

/* kafka_out.c */
int kout_open(producer *p);
/* Sends one record; key or value NULL for none. Waits (polling) while librdkafka's
 * queue is full. 0, or -1 after a fatal error (p->fatal_reason says why). */
int kout_send(producer *p, prod_relation *r, const jbuf *key, const jbuf *value, uint64_t seq);
void kout_poll(producer *p, int timeout_ms);
bool kout_backpressured(const producer *p);
/* Waits until nothing is in flight or timeout_ms passed; true when drained. */
bool kout_drain(producer *p, int timeout_ms);
void kout_close(producer *p);

/* state.c: the snapshot record in the state topic. */
typedef enum { STATE_NONE = 0, STATE_SNAPSHOT_RUNNING, STATE_SNAPSHOT_DONE } prod_state;
int state_read(producer *p, prod_state *st, uint64_t *consistent_lsn);
int state_write(producer *p, prod_state st, uint64_t consistent_lsn);

/* snapshot.c */
int snapshot_run(producer *p, const char *snapshot_name, uint64_t consistent_lsn);

/* stream.c: 0 on a clean stop, 1 to reconnect, -1 on a fatal error. */
int stream_run(producer *p, uint64_t start_lsn);
void stream_send_status(producer *p, bool reply);

/* The two halves of prod_emit: the key and value into p->key and p->val (returns
 * whether there is a key), then sending them. */
bool prod_build(producer *p, prod_relation *r, char op, const pgo_tuple *before, const pgo_tuple *after,
                const pgo_tuple *key, const ev_source *src);
int prod_send_built(producer *p, prod_relation *r, char op, bool has_key, uint64_t seq);

/* Emits the events of one change (event.c + kafka_out.c): op 'c','u','d','r','t'. */
int prod_emit(producer *p, prod_relation *r, char op, const pgo_tuple *before, const pgo_tuple *after,
              const pgo_tuple *key, const ev_source *src, uint64_t seq);

void prod_metrics_init(prod_metrics *m);

#endif
