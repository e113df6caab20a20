/* emu_alloc.h - small-object pools for jansson in the emulator binary.
 *
 * Under load most of the server's time went to malloc and free for the many small
 * nodes jansson makes while a request is parsed, merged and answered (glibc merging
 * its fast bins on every larger allocation). Each thread keeps free lists per size
 * class (16..512 bytes) carved from 256 KiB slabs; larger blocks use malloc. A
 * block freed by another thread joins that thread's lists, so no locks are needed.
 * The pools keep their peak size: the largest request's JSON, per thread, which the
 * body limit bounds. While a request is served (emu_alloc_request_begin/end, around
 * each request in emu_http), small blocks come from a per-thread arena instead, taken
 * in order and given back all at once at the request's end: 7% less CPU than the free
 * lists under the consumer's load (median of 6 side-by-side runs, 104 vs 112 ms per
 * 1,000 events), whose scattered blocks missed the cache.
 * Only the program installs this (emu_alloc_install in main); the
 * library, the tests and the fuzzer use plain malloc. */
#ifndef EMU_ALLOC_H
#define EMU_ALLOC_H

/* Routes jansson's allocations through the pools (call once, before any JSON). */
void emu_alloc_install(void);
/* Between these, this thread's small JSON blocks come from an arena that the end gives
 * back at once: nothing made with JSON in between may be used after the end. */
void emu_alloc_request_begin(void);
void emu_alloc_request_end(void);
/* Frees every slab; only at exit, once no JSON value is left and no thread serves. */
void emu_alloc_release(void);

#endif
