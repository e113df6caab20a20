/* emu_txn.c - open transactions and their read sets (see emu_txn.h). */
#include "tools/firestore-emulator/emu_txn.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tools/firestore-emulator/emu_value.h"

#define EMU_TXN_LIFETIME_US (270LL * 1000000)

struct emu_txns {
    pthread_mutex_t mu;
    emu_txn *head; /* newest first */
    size_t count, max_open;
    uint64_t rng;
};

emu_txns *emu_txns_new(size_t max_open, uint64_t seed)
{
    emu_txns *t = calloc(1, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->max_open = max_open ? max_open : 1;
    t->rng = seed ? seed : 0x2545f4914f6cdd1dULL;
    return t;
}

void emu_txn_free(emu_txn *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->nreads; i++)
        free(x->reads[i].name);
    free(x->reads);
    free(x->database);
    free(x);
}

void emu_txns_free(emu_txns *t)
{
    if (!t)
        return;
    while (t->head) {
        emu_txn *n = t->head->next;
        emu_txn_free(t->head);
        t->head = n;
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static uint64_t emu_txn_rand(emu_txns *t)
{
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 0x2545f4914f6cdd1dULL;
}

/* Drops expired transactions and the oldest beyond the limit; holds mu. */
static void emu_txn_prune(emu_txns *t, int64_t now_us)
{
    emu_txn **pp = &t->head;
    size_t kept = 0;
    while (*pp) {
        emu_txn *x = *pp;
        if (kept >= t->max_open || now_us - x->started_us > EMU_TXN_LIFETIME_US) {
            *pp = x->next;
            emu_txn_free(x);
            t->count--;
        } else {
            kept++;
            pp = &x->next;
        }
    }
}

void emu_txn_begin(emu_txns *t, const char *database, bool read_only, int64_t now_us, char *id)
{
    emu_txn *x = calloc(1, sizeof *x);
    pthread_mutex_lock(&t->mu);
    unsigned char raw[12];
    uint64_t a = emu_txn_rand(t), b = emu_txn_rand(t);
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 4);
    char *enc = emu_b64_encode(raw, sizeof raw);
    strcpy(x->id, enc);
    free(enc);
    x->database = strdup(database);
    x->read_only = read_only;
    x->started_us = now_us;
    x->next = t->head;
    t->head = x;
    t->count++;
    emu_txn_prune(t, now_us);
    strcpy(id, x->id);
    pthread_mutex_unlock(&t->mu);
}

int emu_txn_options(const void *json_options, bool *read_only, emu_status *st)
{
    const json_t *o = json_options;
    *read_only = false;
    if (!o)
        return 0;
    json_t *ro = json_object_get(o, "readOnly"), *rw = json_object_get(o, "readWrite");
    if (!json_is_object(o) || (ro && rw) || json_object_size(o) != (size_t)((ro != NULL) + (rw != NULL)))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "Invalid value at 'options': expected readOnly or readWrite");
    if (ro && json_object_get(ro, "readTime"))
        return emu_fail(st, EMU_INVALID_ARGUMENT, "readOnly.readTime is not supported by this emulator");
    *read_only = ro != NULL;
    return 0;
}

static emu_txn *emu_txn_find(emu_txns *t, const char *id, const char *database)
{
    for (emu_txn *x = t->head; x; x = x->next) {
        if (strcmp(x->id, id) == 0 && strcmp(x->database, database) == 0)
            return x;
    }
    return NULL;
}

static int emu_txn_invalid(emu_status *st)
{
    return emu_fail(st, EMU_INVALID_ARGUMENT, "The referenced transaction has expired or is no longer valid.");
}

int emu_txn_read_doc(emu_txns *t, const char *id, const char *database, const char *name, int64_t update_us,
                     emu_status *st)
{
    pthread_mutex_lock(&t->mu);
    emu_txn *x = emu_txn_find(t, id, database);
    if (!x) {
        pthread_mutex_unlock(&t->mu);
        return emu_txn_invalid(st);
    }
    for (size_t i = 0; i < x->nreads; i++) {
        if (strcmp(x->reads[i].name, name) == 0) {
            pthread_mutex_unlock(&t->mu);
            return 0;
        }
    }
    if (x->nreads == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 8;
        x->reads = realloc(x->reads, x->cap * sizeof *x->reads);
    }
    x->reads[x->nreads++] = (emu_txn_read){ strdup(name), update_us };
    pthread_mutex_unlock(&t->mu);
    return 0;
}

int emu_txn_check(emu_txns *t, const char *id, const char *database, emu_status *st)
{
    pthread_mutex_lock(&t->mu);
    emu_txn *x = emu_txn_find(t, id, database);
    pthread_mutex_unlock(&t->mu);
    return x ? 0 : emu_txn_invalid(st);
}

int emu_txn_take(emu_txns *t, const char *id, const char *database, emu_txn **out, emu_status *st)
{
    pthread_mutex_lock(&t->mu);
    emu_txn **pp = &t->head;
    while (*pp && !(strcmp((*pp)->id, id) == 0 && strcmp((*pp)->database, database) == 0))
        pp = &(*pp)->next;
    emu_txn *x = *pp;
    if (x) {
        *pp = x->next;
        t->count--;
    }
    pthread_mutex_unlock(&t->mu);
    *out = x;
    return x ? 0 : emu_txn_invalid(st);
}

size_t emu_txns_open(emu_txns *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}
