/* How many cache misses one core keeps in flight: G independent chains of dependent random
 * loads on a 512 MiB array (huge pages), interleaved with the next load of each chain
 * prefetched a round early, as the walk kernels do. A walk step out of cache is two such
 * loads (its row, then its record), so half this rate bounds any kernel's steps per second.
 *
 * cc -O3 -march=native -o misses misses.c && ./misses 64 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char **argv) {
    const size_t n = (size_t)64 << 20; /* 64 M words: 512 MiB, 16 times the L3 */
    int chains = argc == 2 ? atoi(argv[1]) : 0;
    uint64_t *a = NULL, x[1024];
    if (chains < 1 || chains > 1024 || posix_memalign((void **)&a, 2u << 20, n * 8) != 0) {
        fprintf(stderr, "usage: misses CHAINS (1...1024)\n");
        return 2;
    }
    madvise(a, n * 8, MADV_HUGEPAGE);
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; a[i] = s & (n - 1); }
    for (int g = 0; g < chains; g++) x[g] = (uint64_t)g * 7919 & (n - 1);
    const long rounds = (64l << 20) / chains;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long r = 0; r < rounds; r++) {
        /* The round number keeps chains out of short cycles of the random map. */
        for (int g = 0; g < chains; g++) {
            x[g] = (a[x[g]] + (uint64_t)r * 0x9e3779b97f4a7c15ull) & (n - 1);
            __builtin_prefetch(&a[x[g]]);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    uint64_t check = 0;
    for (int g = 0; g < chains; g++) check ^= x[g];
    printf("{\"chains\": %d, \"loads_per_second\": %.1f, \"check\": %llu}\n", chains,
           (double)rounds * chains / seconds, (unsigned long long)check);
    return 0;
}
