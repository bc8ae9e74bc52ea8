#ifndef C_METASTABLE_SUPPORT_H
#define C_METASTABLE_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// Prefetch the cache line holding `p` into all cache levels. `static inline` so that
/// Swift code importing this header gets a bare `prefetcht0`, not a call.
static inline void ms_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// An optimisation barrier: the compiler cannot see through it, so a mask built from a
/// comparison stays branchless (Swift has no __builtin_unpredictable).
static inline uint64_t ms_opaque_u64(uint64_t x) {
    __asm__("" : "+r"(x));
    return x;
}

/// 64-byte aligned allocation of `bytes`; asks for transparent huge pages when
/// `huge_pages` is non-zero and the block is at least 2 MiB. Returns NULL on failure.
void *ms_aligned_alloc(size_t bytes, int huge_pages);

/// Frees memory from `ms_aligned_alloc`.
void ms_aligned_free(void *p);

/// XXH64 of `length` bytes at `data`: the checksum of every binary graph section. Out of
/// line: it runs once per section, over megabytes, so a call costs nothing.
uint64_t ms_xxh64(const void *data, size_t length, uint64_t seed);

#endif
