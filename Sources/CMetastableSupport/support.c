#include "CMetastableSupport.h"

#include <stdlib.h>
#include <sys/mman.h>

void *ms_aligned_alloc(size_t bytes, int huge_pages) {
    const size_t huge = (size_t)2 << 20;
    size_t alignment = (huge_pages && bytes >= huge) ? huge : 64;
    if (bytes == 0) bytes = alignment;
    void *p = NULL;
    if (posix_memalign(&p, alignment, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (huge_pages && bytes >= huge) (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void ms_aligned_free(void *p) { free(p); }
