/* emu_alloc.c - per-thread size-class pools for jansson (see emu_alloc.h). */
#include "tools/firestore-emulator/emu_alloc.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#define EMU_HDR 16                      /* header; keeps 16-byte alignment */
#define EMU_CLASSES 32                  /* 16..512 bytes, step 16 */
#define EMU_SLAB (256u * 1024)          /* carved into small blocks */
#define EMU_LARGE UINT32_MAX            /* header tag: plain malloc */

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

static unsigned char *emu_slab_new(void)
{
    emu_slab *s = malloc(sizeof *s + EMU_SLAB);
    if (!s)
        return NULL;
    pthread_mutex_lock(&emu_slabs_mu);
    s->next = emu_slabs;
    emu_slabs = s;
    pthread_mutex_unlock(&emu_slabs_mu);
    return s->data;
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
    unsigned char *p = cls == EMU_LARGE ? malloc(total) : emu_pool_take(cls);
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
}
