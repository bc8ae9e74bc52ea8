/* Reference walk loop in plain C: the same alias-table walks as the Swift kernel, on a graph
 * written by `metastable bench --export-graph`, to show how close Swift comes to C.
 *
 * Graph file (native little-endian): "MSWALK01", u64 states, records, start, target count;
 * u64 offsets[states + 1]; records of {u64 threshold, u32 neighbour, u32 alias}; u32 targets.
 * A step: r = xoshiro256++; (slot, coin) = r * degree as a 128-bit product (high, low);
 * the next state is neighbour if coin < threshold, else alias.
 *
 * Runs `walks` walks from the start to the target, capped at `max_steps` each, `walkers` at a
 * time, and prints JSON: steps, seconds, steps per second, and the mean hitting time of the
 * walks that hit. walkers = 1 is the plain loop; more interleaves them round-robin in two
 * passes with prefetch, as the Swift kernel does.
 *
 * cc -O3 -march=native -o walk walk.c && ./walk GRAPH WALKERS WALKS MAX_STEPS SEED */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef struct { uint64_t threshold; uint32_t neighbour, alias; } record_t;
typedef struct { uint64_t s[4]; } rng_t;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next(rng_t *r) {
    uint64_t *s = r->s, out = rotl(s[0] + s[3], 23) + s[0], t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return out;
}

/* Walk i's generator: seeded from (seed, i) only. */
static rng_t walk_rng(uint64_t seed, uint64_t i) {
    uint64_t x = seed ^ (i * 0xd1b54a32d192ed03ULL);
    rng_t r;
    for (int k = 0; k < 4; k++) r.s[k] = splitmix64(&x);
    return r;
}

static uint64_t *offsets;
static record_t *records;
static uint8_t *is_target;

/* One step's first half: the record and coin for state x. */
static inline uint64_t draw(uint32_t x, uint64_t r, uint64_t *coin) {
    uint64_t first = offsets[x];
    unsigned __int128 m = (unsigned __int128)r * (offsets[x + 1] - first);
    *coin = (uint64_t)m;
    return first + (uint64_t)(m >> 64);
}

static inline uint32_t select_next(const record_t *rec, uint64_t coin) {
    uint64_t keep = -(uint64_t)(coin < rec->threshold);
    return (uint32_t)((rec->neighbour & keep) | (rec->alias & ~keep));
}

static void *read_all(FILE *f, size_t bytes) {
    void *p = NULL;
    size_t size = bytes ? bytes : 1;
    if (posix_memalign(&p, 2u << 20, size) != 0) p = NULL;
    if (p) madvise(p, size, MADV_HUGEPAGE); /* huge pages, as the Swift graph asks: TLB misses cost on a VM */
    if (!p || fread(p, 1, bytes, f) != bytes) {
        fprintf(stderr, "walk: cannot read %zu bytes of the graph\n", bytes);
        exit(1);
    }
    return p;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: walk GRAPH WALKERS WALKS MAX_STEPS SEED\n");
        return 2;
    }
    int walkers = atoi(argv[2]);
    long walks = atol(argv[3]);
    uint64_t max_steps = strtoull(argv[4], NULL, 10), seed = strtoull(argv[5], NULL, 10);
    FILE *f = fopen(argv[1], "rb");
    char magic[8];
    uint64_t h[4];
    if (!f || fread(magic, 1, 8, f) != 8 || memcmp(magic, "MSWALK01", 8) != 0 || fread(h, 8, 4, f) != 4 || walkers < 1) {
        fprintf(stderr, "walk: %s is not a graph written by metastable bench --export-graph\n", argv[1]);
        return 2;
    }
    uint64_t states = h[0], nrec = h[1], start = h[2], ntargets = h[3];
    offsets = read_all(f, (states + 1) * 8);
    records = read_all(f, nrec * sizeof(record_t));
    uint32_t *targets = read_all(f, ntargets * 4);
    fclose(f);
    is_target = calloc(states, 1);
    for (uint64_t i = 0; i < ntargets; i++) is_target[targets[i]] = 1;

    uint32_t *cur = malloc(walkers * 4);
    uint64_t *left = malloc(walkers * 8), *slot = malloc(walkers * 8), *coin = malloc(walkers * 8);
    rng_t *rng = malloc(walkers * sizeof(rng_t));
    long next_walk = 0, hits = 0;
    uint64_t steps = 0;
    double sum = 0, sum2 = 0;
    int active = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Starts the next walk in slot w; 0 when none is left. */
#define START(w) (next_walk < walks ? (cur[w] = (uint32_t)start, left[w] = max_steps, \
                                       rng[w] = walk_rng(seed, (uint64_t)next_walk++), 1) : 0)
    if (is_target[start] || max_steps == 0) walks = 0; /* every walk would end where it starts */
    while (active < walkers && START(active)) active++;
    for (int w = 0; w < active; w++) slot[w] = draw(cur[w], next(&rng[w]), &coin[w]);
    while (active > 0) {
        for (int w = 0; w < active; w++) { /* move, prefetch the new row */
            cur[w] = select_next(&records[slot[w]], coin[w]);
            __builtin_prefetch(&offsets[cur[w]]);
            left[w]--;
        }
        for (int w = 0; w < active;) { /* end walks that hit or are capped, draw, prefetch the record */
            if (is_target[cur[w]] || left[w] == 0) {
                uint64_t t = max_steps - left[w];
                steps += t;
                if (is_target[cur[w]]) { hits++; sum += (double)t; sum2 += (double)t * (double)t; }
                if (!START(w)) {
                    active--;
                    cur[w] = cur[active]; left[w] = left[active]; rng[w] = rng[active];
                    if (w == active) break;
                    continue; /* the moved walker's state is still to be checked */
                }
            }
            slot[w] = draw(cur[w], next(&rng[w]), &coin[w]);
            if (walkers > 1) __builtin_prefetch(&records[slot[w]]);
            w++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double mean = hits ? sum / hits : NAN, var = hits > 1 ? (sum2 - sum * mean) / (hits - 1) : NAN;
    printf("{\"walkers\": %d, \"walks\": %ld, \"hits\": %ld, \"steps\": %llu, \"seconds\": %.6f, "
           "\"steps_per_second\": %.1f, \"mean_hitting_time\": %.6f, \"standard_error\": %.6f}\n",
           walkers, walks, hits, (unsigned long long)steps, seconds, (double)steps / seconds,
           hits ? mean : -1.0, hits > 1 ? sqrt(var / hits) : -1.0);
    return 0;
}
