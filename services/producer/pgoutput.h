/* pgoutput.h - a pure decoder of PostgreSQL's pgoutput logical replication messages.
 *
 * Bytes in, structs out: no I/O, no allocation per message once the decoder's scratch
 * space has grown to the widest tuple seen. Strings and values in a decoded message
 * point into the buffer that was decoded, so they live as long as it does. Covers
 * protocol versions 1 to 4 as PostgreSQL 15/16 send them without two-phase commit:
 * Begin, Commit, Origin, Relation, Type, Insert, Update (with the K and O old
 * tuples), Delete, Truncate, Message, and the streaming messages (Stream Start, Stop,
 * Commit, Abort; inside a stream the data messages carry the xid first).
 * Reference: PostgreSQL's "Logical Replication Message Formats". */
#ifndef SERVICES_PRODUCER_PGOUTPUT_H
#define SERVICES_PRODUCER_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PostgreSQL timestamps count microseconds from 2000-01-01 00:00:00 UTC. */
#define PGO_EPOCH_OFFSET_US 946684800000000LL

typedef enum {
    PGO_BEGIN = 'B',
    PGO_COMMIT = 'C',
    PGO_ORIGIN = 'O',
    PGO_RELATION = 'R',
    PGO_TYPE = 'Y',
    PGO_INSERT = 'I',
    PGO_UPDATE = 'U',
    PGO_DELETE = 'D',
    PGO_TRUNCATE = 'T',
    PGO_MESSAGE = 'M',
    PGO_STREAM_START = 'S',
    PGO_STREAM_STOP = 'E',
    PGO_STREAM_COMMIT = 'c',
    PGO_STREAM_ABORT = 'A',
} pgo_type;

/* One column of a tuple: 'n' NULL, 'u' unchanged TOASTed value (no data),
 * 't' text, 'b' binary. */
typedef struct pgo_value {
    char kind;
    uint32_t len;
    const char *data; /* not NUL-terminated */
} pgo_value;

typedef struct pgo_tuple {
    uint16_t ncols;
    const pgo_value *cols;
} pgo_tuple;

typedef struct pgo_column {
    bool key;          /* part of the replica identity */
    const char *name;
    uint32_t type_oid;
    int32_t typmod;
} pgo_column;

typedef struct pgo_message {
    pgo_type type;
    uint32_t xid; /* streaming messages and data messages inside a stream; else 0 */
    union {
        struct { uint64_t final_lsn; int64_t commit_ts; uint32_t xid; } begin;
        struct { uint8_t flags; uint64_t commit_lsn, end_lsn; int64_t commit_ts; } commit;
        struct { uint64_t commit_lsn; const char *name; } origin;
        struct {
            uint32_t relid;
            const char *nspname, *relname;
            char replident; /* 'd' default, 'n' nothing, 'f' full, 'i' index */
            uint16_t ncols;
            const pgo_column *cols;
        } relation;
        struct { uint32_t oid; const char *nspname, *name; } type;
        struct {
            uint32_t relid;
            char old_kind; /* 0: none; 'K' key columns only; 'O' the whole old row */
            pgo_tuple old, new_;
        } change; /* Insert (new_), Update (old when old_kind, new_), Delete (old) */
        struct { uint32_t nrels; uint8_t options; const uint8_t *relids_be; } truncate;
        struct { bool transactional; uint64_t lsn; const char *prefix; uint32_t len; const char *content; } message;
        struct { bool first_segment; } stream_start;
        struct { uint8_t flags; uint64_t commit_lsn, end_lsn; int64_t commit_ts; } stream_commit;
        struct { uint32_t subxid; } stream_abort;
    } u;
} pgo_message;

/* The i-th relation id of a Truncate message. */
uint32_t pgo_truncate_relid(const pgo_message *m, uint32_t i);

typedef struct pgo_decoder pgo_decoder;

pgo_decoder *pgo_decoder_new(void);
void pgo_decoder_free(pgo_decoder *d);
/* Tells the decoder whether the next data messages are inside a stream (between
 * Stream Start and Stream Stop), where they carry a transaction id first. The decoder
 * also tracks this itself from the Stream Start and Stop messages it decodes. */
void pgo_decoder_set_streaming(pgo_decoder *d, bool in_stream);

/* Decodes one message. 0 on success; -1 with a reason in err for a truncated,
 * malformed or unknown message (the reason never quotes column data). The message
 * stays valid until the next call on d and while buf is unchanged. */
int pgo_decode(pgo_decoder *d, const void *buf, size_t len, pgo_message *m, char *err, size_t errlen);

/* "Begin", "Insert", ... for logs and metrics. */
const char *pgo_type_name(pgo_type t);

#endif
