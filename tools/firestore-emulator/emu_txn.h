/* emu_txn.h - transactions with optimistic concurrency.
 *
 * :beginTransaction (or newTransaction on a read) opens a transaction and returns
 * its id. Every document read inside it is remembered with the updateTime it had
 * (or as missing). :commit with that transaction first checks that none of those
 * documents changed since; if one did, the commit fails with ABORTED and nothing is
 * written, as a Firestore client expects before it retries. Open transactions are
 * bounded (the oldest is dropped beyond max_open) and expire after 270 s, like
 * Firestore's; using a dropped or unknown id is INVALID_ARGUMENT. */
#ifndef EMU_TXN_H
#define EMU_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/firestore-emulator/emu_error.h"

typedef struct emu_txns emu_txns;

typedef struct {
    char *name;
    int64_t update_us; /* 0 when the document did not exist */
} emu_txn_read;

typedef struct emu_txn {
    char id[64];
    char *database;
    bool read_only;
    int64_t started_us;
    emu_txn_read *reads;
    size_t nreads, cap;
    struct emu_txn *next;
} emu_txn;

emu_txns *emu_txns_new(size_t max_open, uint64_t seed);
void emu_txns_free(emu_txns *t);

/* Opens a transaction; copies its id (base64) into id (64 bytes). */
void emu_txn_begin(emu_txns *t, const char *database, bool read_only, int64_t now_us, char *id);
/* Parses TransactionOptions ({} / {"readOnly":{...}} / {"readWrite":{...}}). */
int emu_txn_options(const void *json_options, bool *read_only, emu_status *st);
/* Records a read (the first read of a name wins). */
int emu_txn_read_doc(emu_txns *t, const char *id, const char *database, const char *name, int64_t update_us,
                     emu_status *st);
/* Checks that id is open in database. */
int emu_txn_check(emu_txns *t, const char *id, const char *database, emu_status *st);
/* Removes the transaction and hands it to the caller (free with emu_txn_free). */
int emu_txn_take(emu_txns *t, const char *id, const char *database, emu_txn **out, emu_status *st);
void emu_txn_free(emu_txn *x);
size_t emu_txns_open(emu_txns *t);

#endif
