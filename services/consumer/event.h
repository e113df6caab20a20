/* event.h - one Debezium change event (contract section 4) as the consumer sees it.
 *
 * ev_parse() turns the bytes of a Kafka record value into an ev_event: the row (after,
 * or before for a delete), the operation, the source table and the event's position in
 * the source (commit LSN and change LSN, from source.sequence and source.lsn). The
 * whole record is checked as JSON (json_scan) but only the row becomes a tree; "source"
 * is read from its text, and the other row and the rest of the envelope are skipped.
 * It owns no I/O, so unit tests and fuzzers can feed it. Errors come in three classes,
 * which become the dead-letter error classes "decode.json", "decode.envelope" and
 * "decode.op". */
#ifndef SERVICES_CONSUMER_EVENT_H
#define SERVICES_CONSUMER_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    EV_OK = 0,
    EV_ERR_JSON,     /* not valid JSON */
    EV_ERR_ENVELOPE, /* JSON, but not a Debezium envelope we know */
    EV_ERR_OP,       /* an envelope with an unknown "op" */
} ev_error;

/* Where an event came from; events compare by commit LSN, then change LSN. */
typedef struct ev_position {
    uint64_t commit_lsn; /* the first element of source.sequence (lsn when absent) */
    uint64_t lsn;        /* source.lsn */
} ev_position;

typedef struct ev_event {
    json_t *root;        /* owns the row the event carries (ev_row): only it is parsed */
    char *names;         /* owns the text of schema and table */
    const json_t *before; /* NULL when JSON null or absent, and for every op but 'd' */
    const json_t *after;  /* NULL when JSON null or absent, and for 'd' */
    char op;             /* 'c', 'u', 'd', 'r' or 't' */
    const char *schema;  /* source.schema */
    const char *table;   /* source.table */
    ev_position pos;
    int64_t source_ts_ms; /* source.ts_ms: the commit time in the source */
    bool snapshot;
} ev_event;

/* Parses len bytes into ev (which is cleared first). Returns EV_OK or an error class,
 * with a reason in err (which never quotes the record's data). */
ev_error ev_parse(const void *buf, size_t len, ev_event *ev, char *err, size_t errlen);
void ev_free(ev_event *ev);

/* "decode.json", "decode.envelope", "decode.op" (the dead-letter class). */
const char *ev_error_class(ev_error e);

/* The row whose values the event carries: after, or before for a delete. */
const json_t *ev_row(const ev_event *ev);

/* <0, 0, >0 as a is older than, equal to or newer than b. */
int ev_position_cmp(ev_position a, ev_position b);

/* An LSN as a decimal number ("24023928") or PostgreSQL text ("0/16E8AD8"). 0 on success. */
int ev_parse_lsn(const char *s, uint64_t *out);

#endif
