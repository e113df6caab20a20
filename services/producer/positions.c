/* positions.c - which LSN the slot may confirm (see producer.h).
 *
 * Transactions enter in commit order (pgoutput sends a transaction when it commits)
 * and their events are acknowledged by Kafka in any order across partitions. The
 * confirmed LSN is the end LSN of the newest transaction such that it and every
 * transaction before it have been read to their Commit and acknowledged in full:
 * a crash then makes PostgreSQL resend only what was not yet in Kafka. */
#include <stdlib.h>
#include <string.h>

#include "services/producer/producer.h"

void pos_init(pos_tracker *t, uint64_t confirmed)
{
    memset(t, 0, sizeof *t);
    t->confirmed = confirmed;
}

void pos_free(pos_tracker *t)
{
    free(t->ring);
    memset(t, 0, sizeof *t);
}

static pos_txn *pos_at(pos_tracker *t, uint64_t seq)
{
    if (seq < t->head_seq || seq >= t->head_seq + t->count)
        return NULL;
    return &t->ring[(t->head + (size_t)(seq - t->head_seq)) % t->cap];
}

uint64_t pos_begin(pos_tracker *t)
{
    if (t->count == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        pos_txn *n = malloc(ncap * sizeof *n);
        if (!n)
            abort();
        for (size_t i = 0; i < t->count; i++)
            n[i] = t->ring[(t->head + i) % t->cap];
        free(t->ring);
        t->ring = n;
        t->cap = ncap;
        t->head = 0;
    }
    t->ring[(t->head + t->count) % t->cap] = (pos_txn){ 0, 0, false };
    t->count++;
    return t->head_seq + t->count - 1;
}

void pos_sent(pos_tracker *t, uint64_t seq)
{
    pos_txn *x = pos_at(t, seq);
    if (x)
        x->pending++;
}

void pos_commit(pos_tracker *t, uint64_t seq, uint64_t end_lsn)
{
    pos_txn *x = pos_at(t, seq);
    if (x) {
        x->end_lsn = end_lsn;
        x->closed = true;
    }
}

void pos_acked(pos_tracker *t, uint64_t seq)
{
    pos_txn *x = pos_at(t, seq);
    if (x && x->pending)
        x->pending--;
}

uint64_t pos_advance(pos_tracker *t)
{
    while (t->count) {
        pos_txn *x = &t->ring[t->head];
        if (!x->closed || x->pending)
            break;
        if (x->end_lsn > t->confirmed)
            t->confirmed = x->end_lsn;
        t->head = (t->head + 1) % t->cap;
        t->count--;
        t->head_seq++;
    }
    return t->confirmed;
}

bool pos_idle(const pos_tracker *t)
{
    return t->count == 0;
}

void pos_follow(pos_tracker *t, uint64_t lsn)
{
    if (pos_idle(t) && lsn > t->confirmed)
        t->confirmed = lsn;
}
