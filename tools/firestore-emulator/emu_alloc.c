/* emu_alloc.c - per-thread size-class pools for jansson (see emu_alloc.h). */
#include "tools/firestore-emulator/emu_alloc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#define EMU_HDR 16                      /* header; keeps 16-byte alignment */
#define EMU_CLASSES 32                  /* 16..512 bytes, step 16 */
#define EMU_SLAB (256u * 1024)          /* carved into small blocks */
#define EMU_LARGE UINT32_MAX            /* header tag: plain malloc */
#define EMU_ARENA (UINT32_MAX - 1)      /* header tag: the request's arena, freed with it */
#define EMU_ARENA_CHUNK (1024u * 1024)  /* the arena grows by this much */

typedef struct emu_free {
    struct emu_free *next;
} emu_free;

typedef struct {
    emu_free *lists[EMU_CLASSES];
    unsigned char *slab;
    size_t left;
} emu_pool;

static _Thread_local emu_pool emu_tl;

/* Every slab, so that emu_alloc_release can give them back at exit. */
typedef struct emu_slab {
    struct emu_slab *next;
    _Alignas(16) unsigned char data[];
} emu_slab;

static emu_slab *emu_slabs;
static pthread_mutex_t emu_slabs_mu = PTHREAD_MUTEX_INITIALIZER;

static unsigned char *emu_slab_sized(size_t size)
{
    emu_slab *s = malloc(sizeof *s + size);
    if (!s)
        return NULL;
    pthread_mutex_lock(&emu_slabs_mu);
    s->next = emu_slabs;
    emu_slabs = s;
    pthread_mutex_unlock(&emu_slabs_mu);
    return s->data;
}

static unsigned char *emu_slab_new(void)
{
    return emu_slab_sized(EMU_SLAB);
}

/* While a request is served, a thread's small blocks come from its arena: taken in
 * order from big chunks, never freed one by one, all given back at the request's end
 * (emu_alloc_request_end). Taking in order is what the free lists could not do: their
 * blocks come back scattered, and each pop missed the cache (12% of the CPU). The
 * chunks stay for the thread's next request. */
typedef struct emu_chunk {
    struct emu_chunk *next;
    size_t used;
    _Alignas(16) unsigned char data[];
} emu_chunk;

typedef struct {
    bool on;
    emu_chunk *first, *cur;
} emu_arena;

static _Thread_local emu_arena emu_ar;

static void *emu_arena_take(size_t size)
{
    emu_chunk *c = emu_ar.cur;
    if (!c || c->used + size > EMU_ARENA_CHUNK) {
        emu_chunk *next = c ? c->next : emu_ar.first;
        if (!next) {
            next = (emu_chunk *)emu_slab_sized(sizeof *next + EMU_ARENA_CHUNK); /* freed at exit */
            if (!next)
                return NULL;
            next->next = NULL;
            if (c)
                c->next = next;
            else
                emu_ar.first = next;
        }
        next->used = 0;
        c = emu_ar.cur = next;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

void emu_alloc_request_begin(void)
{
    emu_ar.on = true;
    emu_ar.cur = NULL;
}

void emu_alloc_request_end(void)
{
    emu_ar.on = false;
    emu_ar.cur = NULL;
}

static void *emu_pool_take(uint32_t cls)
{
    emu_free *f = emu_tl.lists[cls];
    if (f) {
        emu_tl.lists[cls] = f->next;
        return f;
    }
    size_t size = (size_t)(cls + 1) * 16;
    if (emu_tl.left < size) {
        emu_tl.slab = emu_slab_new(); /* kept until exit: the pool keeps its peak */
        if (!emu_tl.slab)
            return NULL;
        emu_tl.left = EMU_SLAB;
    }
    void *p = emu_tl.slab;
    emu_tl.slab += size;
    emu_tl.left -= size;
    return p;
}

static void *emu_jmalloc(size_t n)
{
    size_t total = n + EMU_HDR;
    uint32_t cls = total <= EMU_CLASSES * 16 ? (uint32_t)((total + 15) / 16 - 1) : EMU_LARGE;
    unsigned char *p;
    if (cls == EMU_LARGE) {
        p = malloc(total);
    } else if (emu_ar.on) {
        p = emu_arena_take((size_t)(cls + 1) * 16);
        cls = EMU_ARENA;
    } else {
        p = emu_pool_take(cls);
    }
    if (!p)
        return NULL;
    *(uint32_t *)p = cls;
    return p + EMU_HDR;
}

static void emu_jfree(void *ptr)
{
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - EMU_HDR;
    uint32_t cls = *(uint32_t *)p;
    if (cls == EMU_ARENA)
        return; /* given back with the whole arena */
    if (cls == EMU_LARGE) {
        free(p);
        return;
    }
    emu_free *f = (emu_free *)p; /* onto this thread's list, whoever allocated it */
    f->next = emu_tl.lists[cls];
    emu_tl.lists[cls] = f;
}

void emu_alloc_install(void)
{
    json_set_alloc_funcs(emu_jmalloc, emu_jfree);
}

void emu_alloc_release(void)
{
    pthread_mutex_lock(&emu_slabs_mu);
    while (emu_slabs) {
        emu_slab *next = emu_slabs->next;
        free(emu_slabs);
        emu_slabs = next;
    }
    pthread_mutex_unlock(&emu_slabs_mu);
    emu_tl = (emu_pool){ 0 };
    emu_ar = (emu_arena){ 0 };
}
