/* emu_alloc.c - per-thread size-class pools for jansson (see emu_alloc.h). */
#include "tools/firestore-emulator/emu_alloc.h"

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

static void *emu_pool_take(uint32_t cls)
{
    emu_free *f = emu_tl.lists[cls];
    if (f) {
        emu_tl.lists[cls] = f->next;
        return f;
    }
    size_t size = (size_t)(cls + 1) * 16;
    if (emu_tl.left < size) {
        emu_tl.slab = malloc(EMU_SLAB); /* never returned: the pool keeps its peak */
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
