/* consumer.h - the member-consumer runtime: what its parts share.
 *
 * One thread runs the loop in main.c: poll Kafka into per-partition queues, take a batch
 * from the partitions that are not backing off, apply it (apply.c), dead-letter what
 * cannot be applied (dlq.c), then store the offsets that are safe to commit. Nothing
 * else touches this state, so a rebalance callback (which librdkafka runs inside poll)
 * never sees a batch in flight. */
#ifndef SERVICES_CONSUMER_CONSUMER_H
#define SERVICES_CONSUMER_CONSUMER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/backoff.h"
#include "common/config.h"
#include "services/consumer/event.h"
#include "services/consumer/firestore.h"
#include "services/consumer/mapping.h"

/* Settings (config/consumer.conf; docs/consumer.md lists them). */
typedef struct cons_settings {
    const char *group_id;
    const char *group_instance_id; /* NULL: dynamic membership */
    const char *topics;            /* regex (^...) or comma list */
    const char *dlq_suffix;
    long long dlq_partitions;
    long long batch_max_events;
    long long batch_max_ms;
    bool coalesce;                 /* false: one event per batch, one write per event */
    bool never_backwards;
    long long max_buffered;        /* records held in memory before fetching pauses */
    const char *project, *database, *emulator_host, *base_url, *token_uri, *metadata_host;
    long long timeout_ms, max_inflight, writes_per_request;
    double max_writes_per_second;
    bool ramp;
    double ramp_start;
    long long retry_base_ms, retry_max_ms;
    const char *http_bind;
    long long http_port;
} cons_settings;

/* Reads every setting; on a bad one fills err and returns -1. */
int cons_settings_load(cfg_file *cf, cons_settings *s, cfg_error *err);

/* One consumed record and what became of it. */
typedef enum { CEV_PENDING = 0, CEV_DONE } cev_state;

/* A record copied out of librdkafka's buffers when it is taken: a held message would pin
 * its whole fetch buffer (a decompressed batch of hundreds of records) until released. */
typedef struct crec {
    const char *topic;           /* its partition queue's */
    int32_t partition;
    int64_t timestamp;           /* 0 when the record has none */
    const char *payload;         /* NULL for a tombstone */
    size_t len;
    const char *key;             /* NULL when it has none */
    size_t key_len;
    rd_kafka_headers_t *headers; /* a copy, NULL when it has none */
} crec;

/* Why a record failed: its dead-letter class and a message. Kept apart from the record
 * because most records never fail: 320 bytes in each of the up to max_buffered records
 * were 1.5 MB of the consumer's peak. */
typedef struct cev_error {
    char cls[64];
    char msg[256];
} cev_error;

typedef struct cev {
    crec rec;                /* payload and key live after the struct, in its allocation */
    int64_t offset;
    ev_event ev;
    ev_error perr;           /* parse outcome (EV_OK when parsed) */
    bool parsed;
    bool dropped;            /* parsed, then its tree dropped after merging (apply.c) */
    json_t *key;
    cev_state state;
    bool isolate;            /* apply alone (a coalesced write was refused) */
    bool index_pending;      /* its key index write failed: write it even when stale */
    char *leave_doc;         /* a write of it failed when its row had moved out of this
                              * document: the retry takes the row out again, even when
                              * stale elsewhere (NULL: none) */
    int attempts;
    int64_t not_before_ms;   /* waiting for its parent row: not taken again before this */
    int64_t first_fail_ms, last_fail_ms;
    cev_error *err;          /* why it last failed; NULL until it fails (cev_set_error) */
} cev;

/* The records of one assigned partition, in offset order. */
typedef struct partq {
    char *topic;
    int32_t partition;
    cev **items;
    size_t head, count, cap; /* ring */
    bool kafka_paused;
    int64_t blocked_until_ms; /* backing off after a failure */
    backoff bo;
    int64_t stored_offset;   /* last offset handed to offsets_store */
    int64_t next_offset;     /* after the last record taken from librdkafka; -1: none yet */
    int64_t woken_at;        /* next_offset when its fetcher was last woken (main.c) */
    bool held;               /* per batch: an event failed, later ones wait */
    int64_t retry_after_ms;  /* per batch: the longest Retry-After seen */
    struct partq *next;
} partq;

typedef struct rate_limiter {
    double max_per_s;   /* 0: none */
    bool ramp;
    double start_per_s;
    int64_t t0_ms;
    double tokens;
    int64_t last_ms;
} rate_limiter;

typedef struct dlq dlq;

typedef struct cons {
    cons_settings set;
    map_config *mc;
    json_t *read_mask;       /* map_read_mask(mc) */
    fs_client *fs;
    gauth *auth;
    rd_kafka_t *rk;
    dlq *dlq;
    partq *parts;
    size_t buffered;
    rate_limiter rate;
    jbuf *bodies;            /* request bodies, kept from batch to batch */
    size_t nbodies;
    struct apply_item *items; /* what each event of a batch became, kept from batch to batch */
    size_t nitems;
    volatile bool auth_failing;
    volatile int64_t last_progress_ms;
    volatile bool assigned;
} cons;

/* partq.c */
partq *partq_find(cons *c, const char *topic, int32_t partition);
partq *partq_add(cons *c, const char *topic, int32_t partition);
void partq_remove(cons *c, const char *topic, int32_t partition);
/* Copies the message into a record at the queue's end and destroys the message. */
void partq_push(cons *c, partq *q, rd_kafka_message_t *msg);
/* The two records have the same Kafka key. */
bool cev_same_key(const cev *a, const cev *b);
/* Records why e failed (cls and msg may be e->err's own); aborts when memory runs out. */
void cev_set_error(cev *e, const char *cls, const char *msg);
cev *partq_at(partq *q, size_t i);
/* Pops the DONE records at the head and stores the next offset; returns how many. */
size_t partq_advance(cons *c, partq *q);
/* Pauses a failed partition until its backoff (or retry_after_ms) has passed. */
void partq_block(cons *c, partq *q, int64_t retry_after_ms);
/* How long an event waiting for its parent row waits before its next attempt: every
 * PARTQ_PARENT_RETRY_MS for its first PARTQ_PARENT_QUICK_RETRIES attempts (the parent
 * is usually an event or two away, in another topic or consumer), then backing off as
 * for any failure but never beyond PARTQ_PARENT_MAX_WAIT_MS: a parent the other
 * replica applies late is still found soon after, and an orphan costs one read per
 * PARTQ_PARENT_MAX_WAIT_MS. Only its key waits; the rest of its partition goes on. */
#define PARTQ_PARENT_RETRY_MS 20
#define PARTQ_PARENT_QUICK_RETRIES 50
#define PARTQ_PARENT_MAX_WAIT_MS 2000
int64_t partq_wait_delay(cons *c, int attempts);
void partq_unblock(partq *q);
/* Pauses or resumes fetching of q so that buffered records stay bounded (max_buffered,
 * shared among the partitions holding records). */
void partq_flow(cons *c, partq *q);
/* How many records q may hold: its share of max_buffered among the partitions holding
 * records, q counted (at least 64). */
size_t partq_share(const cons *c, const partq *q);
void partq_free_all(cons *c);

/* rate.c: Firestore's 500/50/5 ramp and a fixed ceiling. */
void rate_init(rate_limiter *r, double max_per_s, bool ramp, double start_per_s);
/* The allowed writes per second now (0: unlimited). */
double rate_current(const rate_limiter *r, int64_t now_ms);
/* Blocks until n writes may go. */
void rate_acquire(rate_limiter *r, double n);

/* dlq.c: the dead-letter producer (contract section 6). */
dlq *dlq_new(cfg_file *cf, const cons_settings *s, char *err, size_t errlen);
void dlq_free(dlq *d);
/* Sends the record to <topic><suffix>; the outcome arrives with dlq_flush. */
int dlq_send(dlq *d, cev *e);
/* Waits for every sent record's acknowledgement; the acknowledged ones are marked
 * CEV_DONE, the others stay pending. Returns how many failed. */
size_t dlq_flush(dlq *d, int timeout_ms);
/* A message with no member data: quoted strings and long digit runs hidden. */
void dlq_scrub(const char *in, char *out, size_t len);

/* apply.c: one batch; qs[i] is the partition of batch[i]. */
void apply_batch(cons *c, cev **batch, partq **qs, size_t n);
/* Decodes a few of the records the next batch will take, while this batch's requests
 * are in flight (an fs_idle_fn); false when there is nothing left to decode. */
bool apply_decode_ahead(void *ud);
/* Frees what apply_batch keeps between batches. */
void apply_free(cons *c);

/* metrics (cons_metrics.c). */
void cm_applied(const char *collection, char op, size_t n);
void cm_stale(size_t n);
void cm_folded(size_t n);
void cm_skipped(size_t n);
void cm_dead_letter(const char *cls);
void cm_retry(const char *reason, size_t n);
void cm_auth_failure(void);
void cm_request(const char *verb, double seconds);
void cm_latency(double seconds);
void cm_lag(const char *topic, int32_t partition, int64_t lag);
void cm_batch(size_t events, size_t writes);
void cm_assigned(size_t n);
void cm_finished(size_t n);
void cm_held(size_t partitions_backing_off, size_t events_retrying, double oldest_retrying_s);

#endif
