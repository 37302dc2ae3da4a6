#ifndef SEXTANT_CMIMALLOC_SHIM_H
#define SEXTANT_CMIMALLOC_SHIM_H
// mimalloc's option API, for the programs that link it (Package.swift: fastAllocator).
#include <dlfcn.h>
#include <stdlib.h>
#include <mimalloc.h>

// A controller decodes a few watch events a second, not the hundreds of thousands mimalloc's
// defaults are tuned for: freed pages go back to the OS at once instead of after 25 ms (8 MiB less
// peak RSS with 10,000 watched objects, docs/benchmarks.md). MIMALLOC_DECOMMIT_DELAY still wins.
static inline void sextant_mimalloc_return_freed_pages_at_once(void) {
    if (getenv("MIMALLOC_DECOMMIT_DELAY") == NULL) mi_option_set(mi_option_decommit_delay, 0);
}

// mimalloc's decommit delay in milliseconds, or -1 when the loader bound malloc to another
// allocator (LD_PRELOAD=libc.so.6 puts glibc's back; mimalloc's malloc is an alias of mi_malloc).
static inline long sextant_mimalloc_decommit_delay(void) {
    // NULL is glibc's RTLD_DEFAULT (the global lookup); the name itself needs _GNU_SOURCE, which
    // would give this module other system-header definitions than its neighbours'.
    void *mimalloc = dlsym(NULL, "mi_malloc");
    if (mimalloc == NULL || mimalloc != dlsym(NULL, "malloc")) return -1;
    return mi_option_get(mi_option_decommit_delay);
}
#endif
