#include "CWalkLanes.h"

#include <stdlib.h>
#include <string.h>

/// Walker slots in groups of 8 lanes, one vector per field, 64-byte aligned: position,
/// generator, steps left before the cap, cluster (with labels), and between the two halves
/// of a pipelined step the record and coin; per group, a mask of the lanes holding a walk,
/// and whether it is stepping this round.
struct ms_lanes {
    size_t groups;
    uint64_t *x, *s0, *s1, *s2, *s3, *left, *cluster, *slot, *coin;
    uint8_t *busy, *stepping;
    void *block;
};

enum { lanes_max = 1024 };

ms_lanes *ms_lanes_create(size_t walkers) {
    if (walkers < 1) walkers = 1;
    if (walkers > lanes_max) walkers = lanes_max;
    size_t groups = (walkers + 7) / 8, n = groups * 8;
    ms_lanes *lanes = malloc(sizeof *lanes);
    void *block = NULL;
    const size_t bytes = 9 * n * sizeof(uint64_t) + 2 * groups;
    if (!lanes || posix_memalign(&block, 64, bytes) != 0) {
        free(lanes);
        return NULL;
    }
    memset(block, 0, bytes); // idle lanes sit at state 0
    uint64_t *words = block;
    *lanes = (ms_lanes){
        .groups = groups, .x = words, .s0 = words + n, .s1 = words + 2 * n, .s2 = words + 3 * n,
        .s3 = words + 4 * n, .left = words + 5 * n, .cluster = words + 6 * n, .slot = words + 7 * n,
        .coin = words + 8 * n, .busy = (uint8_t *)(words + 9 * n), .stepping = (uint8_t *)(words + 9 * n) + groups,
        .block = block,
    };
    return lanes;
}

size_t ms_lanes_round_events(const ms_lanes *lanes) { return 3 * 8 * lanes->groups; }

void ms_lanes_destroy(ms_lanes *lanes) {
    if (!lanes) return;
    free(lanes->block);
    free(lanes);
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>

int ms_lanes_supported(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xe6) != 0xe6) return 0; // the OS saves the SSE, AVX, opmask and ZMM registers
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX512F) && (b & bit_AVX512DQ);
}

#define LANES_TARGET __attribute__((target("avx512f,avx512dq"), always_inline)) static inline

/// One 16-byte load per lane at base + 16 · index: the low and high words of each.
LANES_TARGET void load_pairs(const char *base, __m512i index, __m512i *low, __m512i *high) {
    uint64_t i[8] __attribute__((aligned(64)));
    _mm512_store_si512(i, index);
#define PAIR(k) _mm_loadu_si128((const __m128i *)(base + 16 * i[k]))
#define TWO(k) _mm256_inserti128_si256(_mm256_castsi128_si256(PAIR(k)), PAIR(k + 1), 1)
    __m512i a = _mm512_inserti64x4(_mm512_castsi256_si512(TWO(0)), TWO(2), 1);
    __m512i b = _mm512_inserti64x4(_mm512_castsi256_si512(TWO(4)), TWO(6), 1);
#undef TWO
#undef PAIR
    *low = _mm512_permutex2var_epi64(a, _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0), b);
    *high = _mm512_permutex2var_epi64(a, _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1), b);
}

/// base[i] and base[i + 1] per lane, as low and high 32 bits: one 8-byte load each (a
/// vector gather is slower on the CPUs measured).
LANES_TARGET __m512i load_u32_pairs(const uint32_t *base, __m512i index) {
    uint64_t i[8] __attribute__((aligned(64))), w[8] __attribute__((aligned(64)));
    _mm512_store_si512(i, index);
    for (int k = 0; k < 8; k++) memcpy(&w[k], base + i[k], 8);
    return _mm512_load_si512(w);
}

/// xoshiro256++: the next 64 bits of each lane's generator.
LANES_TARGET __m512i next_draw(__m512i *s0, __m512i *s1, __m512i *s2, __m512i *s3) {
    __m512i r = _mm512_add_epi64(_mm512_rol_epi64(_mm512_add_epi64(*s0, *s3), 23), *s0);
    __m512i t = _mm512_slli_epi64(*s1, 17);
    *s2 = _mm512_xor_si512(*s2, *s0);
    *s3 = _mm512_xor_si512(*s3, *s1);
    *s1 = _mm512_xor_si512(*s1, *s2);
    *s0 = _mm512_xor_si512(*s0, *s3);
    *s2 = _mm512_xor_si512(*s2, t);
    *s3 = _mm512_rol_epi64(*s3, 45);
    return r;
}

/// The high and low words of r · n for n < 2^32, as two 32 × 32-bit products.
LANES_TARGET void multiply_wide(__m512i r, __m512i n, __m512i *high, __m512i *low) {
    __m512i b = _mm512_mul_epu32(r, n), a = _mm512_mul_epu32(_mm512_srli_epi64(r, 32), n);
    __m512i middle = _mm512_add_epi64(a, _mm512_srli_epi64(b, 32));
    *high = _mm512_srli_epi64(middle, 32);
    *low = _mm512_or_si512(_mm512_slli_epi64(middle, 32), _mm512_and_si512(b, _mm512_set1_epi64(0xffffffff)));
}

/// Where the events of a call go.
typedef struct {
    ms_lane_event *events;
    size_t count;
} lanes_log;

LANES_TARGET void record(lanes_log *log, uint32_t kind, size_t lane, uint64_t state, uint64_t steps) {
    log->events[log->count++] = (ms_lane_event){kind, (uint32_t)lane, state, steps};
}

/// Starts walks in the free lanes of every group. False when a lane is free, the walks
/// are used up and more will come: the caller returns for them.
LANES_TARGET int fill(ms_lanes *lanes, const ms_lane_graph *graph, const ms_lane_walk *walks, size_t count, int more,
                      size_t *next, int *running, lanes_log *log) {
    for (size_t g = 0; g < lanes->groups; g++) {
        unsigned busy = lanes->busy[g];
        for (unsigned k = 0; busy != 0xff && k < 8; k++) {
            if (busy >> k & 1) continue;
            if (*next == count) {
                lanes->busy[g] = (uint8_t)busy;
                if (more) return 0;
                break;
            }
            const ms_lane_walk *w = &walks[(*next)++];
            const size_t at = 8 * g + k;
            lanes->x[at] = w->state;
            lanes->s0[at] = w->s0;
            lanes->s1[at] = w->s1;
            lanes->s2[at] = w->s2;
            lanes->s3[at] = w->s3;
            lanes->left[at] = graph->max_steps;
            if (graph->labels) {
                lanes->cluster[at] = graph->labels[w->state];
                record(log, ms_lane_began, at, w->state, 0);
            }
            busy |= 1u << k;
        }
        lanes->busy[g] = (uint8_t)busy;
        *running |= busy != 0;
    }
    return 1;
}

/// One 4-byte load per lane.
LANES_TARGET __m512i load_u32s(const uint32_t *base, __m512i index) {
    uint64_t i[8] __attribute__((aligned(64)));
    _mm512_store_si512(i, index);
    return _mm512_set_epi64(base[i[7]], base[i[6]], base[i[5]], base[i[4]], base[i[3]], base[i[2]], base[i[1]], base[i[0]]);
}

/// The first half of group g's step: end the walks at a target or the cap (their lanes
/// are refilled next round), else draw and find each lane's record. False when the group
/// does not step this round.
LANES_TARGET int draw(ms_lanes *lanes, size_t g, const ms_lane_graph *graph, lanes_log *log, __m512i *slot,
                      __m512i *coin) {
    const size_t at = 8 * g;
    const unsigned busy = lanes->busy[g];
    if (busy == 0) return 0;
    const __m512i first_bits = _mm512_set1_epi64(0x7fffffff), x = _mm512_load_si512(lanes->x + at);
    if (graph->labels) {
        // The move into x is observed here, a pass after it (the label was prefetched with
        // the row), and before the walk can end at x.
        __m512i cluster = load_u32s(graph->labels, x);
        __mmask8 crossed = _mm512_cmpneq_epi64_mask(cluster, _mm512_load_si512(lanes->cluster + at)) & busy;
        if (crossed) {
            for (unsigned k = 0; k < 8; k++) {
                if (crossed >> k & 1) record(log, ms_lane_crossed, at + k, lanes->x[at + k], graph->max_steps - lanes->left[at + k]);
            }
            _mm512_store_si512(lanes->cluster + at, cluster);
        }
    }
    __m512i row = load_u32_pairs(graph->rows, x); // rows[x], rows[x + 1]
    __mmask8 hit = _mm512_test_epi64_mask(row, _mm512_set1_epi64(1ll << 31)) & busy;
    __mmask8 done = (hit | _mm512_cmpeq_epi64_mask(_mm512_load_si512(lanes->left + at), _mm512_setzero_si512())) & busy;
    if (__builtin_expect(done != 0, 0)) {
        for (unsigned k = 0; k < 8; k++) {
            if (done >> k & 1) {
                record(log, hit >> k & 1 ? ms_lane_hit : ms_lane_capped, at + k, lanes->x[at + k],
                       graph->max_steps - lanes->left[at + k]);
            }
        }
        lanes->busy[g] = (uint8_t)(busy & ~done);
        return 0;
    }
    __m512i s0 = _mm512_load_si512(lanes->s0 + at), s1 = _mm512_load_si512(lanes->s1 + at);
    __m512i s2 = _mm512_load_si512(lanes->s2 + at), s3 = _mm512_load_si512(lanes->s3 + at);
    __m512i r = next_draw(&s0, &s1, &s2, &s3), offset;
    _mm512_store_si512(lanes->s0 + at, s0);
    _mm512_store_si512(lanes->s1 + at, s1);
    _mm512_store_si512(lanes->s2 + at, s2);
    _mm512_store_si512(lanes->s3 + at, s3);
    __m512i first = _mm512_and_si512(row, first_bits);
    multiply_wide(r, _mm512_sub_epi64(_mm512_and_si512(_mm512_srli_epi64(row, 32), first_bits), first), &offset, coin);
    *slot = _mm512_add_epi64(first, offset);
    return 1;
}

/// The second half: select each lane's next state from its record, resolve "uniform over
/// a cluster" with a second draw, move.
LANES_TARGET __m512i move(ms_lanes *lanes, size_t g, const ms_lane_graph *graph, __m512i slot, __m512i coin) {
    const size_t at = 8 * g;
    const __m512i low32 = _mm512_set1_epi64(0xffffffff), uniform = _mm512_set1_epi64(1u << 31);
    __m512i threshold, outcomes;
    load_pairs(graph->records, slot, &threshold, &outcomes);
    __mmask8 keep = _mm512_cmplt_epu64_mask(coin, threshold);
    __m512i y = _mm512_mask_blend_epi64(keep, _mm512_srli_epi64(outcomes, 32), _mm512_and_si512(outcomes, low32));
    __mmask8 pick = graph->member_offsets ? _mm512_test_epi64_mask(y, uniform) : 0;
    if (pick) {
        // Only the lanes that took such an outcome draw: the others' generators must not move.
        __m512i s0 = _mm512_load_si512(lanes->s0 + at), s1 = _mm512_load_si512(lanes->s1 + at);
        __m512i s2 = _mm512_load_si512(lanes->s2 + at), s3 = _mm512_load_si512(lanes->s3 + at);
        __m512i t0 = s0, t1 = s1, t2 = s2, t3 = s3, offset, low;
        __m512i r = next_draw(&t0, &t1, &t2, &t3);
        _mm512_store_si512(lanes->s0 + at, _mm512_mask_blend_epi64(pick, s0, t0));
        _mm512_store_si512(lanes->s1 + at, _mm512_mask_blend_epi64(pick, s1, t1));
        _mm512_store_si512(lanes->s2 + at, _mm512_mask_blend_epi64(pick, s2, t2));
        _mm512_store_si512(lanes->s3 + at, _mm512_mask_blend_epi64(pick, s3, t3));
        __m512i range = load_u32_pairs(graph->member_offsets, _mm512_maskz_andnot_epi64(pick, uniform, y));
        __m512i first = _mm512_and_si512(range, low32);
        multiply_wide(r, _mm512_sub_epi64(_mm512_srli_epi64(range, 32), first), &offset, &low);
        y = _mm512_mask_add_epi64(y, pick, first, offset);
    }
    _mm512_store_si512(lanes->x + at, y);
    _mm512_store_si512(lanes->left + at, _mm512_sub_epi64(_mm512_load_si512(lanes->left + at), _mm512_set1_epi64(1)));
    return y;
}

/// Prefetches each lane's record at `slot`.
LANES_TARGET void prefetch_records(const ms_lane_graph *graph, __m512i slot) {
    uint64_t i[8] __attribute__((aligned(64)));
    _mm512_store_si512(i, slot);
    for (int k = 0; k < 8; k++) __builtin_prefetch((const char *)graph->records + 16 * i[k]);
}

/// Prefetches what the next draw reads about each lane's new state x: rows[x] and
/// rows[x + 1] (which may start the next line), and its label.
LANES_TARGET void prefetch_states(const ms_lane_graph *graph, __m512i x) {
    uint64_t i[8] __attribute__((aligned(64)));
    _mm512_store_si512(i, x);
    for (int k = 0; k < 8; k++) {
        __builtin_prefetch(graph->rows + i[k]);
        __builtin_prefetch(graph->rows + i[k] + 1);
        if (graph->labels) __builtin_prefetch(graph->labels + i[k]);
    }
}

/// Rounds over all groups until every walk has ended or the caller must bring more. In
/// cache each group draws and moves at once; out of cache (`graph->prefetch`) all groups
/// draw and prefetch their records, then all move and prefetch their next rows and labels, so a
/// round keeps up to 2 misses per lane in flight (the AMAC pipeline of the scalar kernel).
__attribute__((target("avx512f,avx512dq")))
static size_t run_avx512(ms_lanes *lanes, const ms_lane_graph *graph, const ms_lane_walk *walks, size_t count,
                         int more, size_t *taken, ms_lane_event *events, size_t capacity, int *status) {
    size_t next = 0;
    lanes_log log = {events, 0};
    const size_t round = ms_lanes_round_events(lanes);
    *status = ms_lanes_finished;
    for (;;) {
        if (capacity - log.count < round) {
            *status = ms_lanes_events_full;
            break;
        }
        int running = 0;
        if (!fill(lanes, graph, walks, count, more, &next, &running, &log)) {
            *status = ms_lanes_need_walks;
            break;
        }
        if (!running) break;
        __m512i slot, coin;
        if (!graph->prefetch) {
            for (size_t g = 0; g < lanes->groups; g++) {
                if (draw(lanes, g, graph, &log, &slot, &coin)) move(lanes, g, graph, slot, coin);
            }
            continue;
        }
        for (size_t g = 0; g < lanes->groups; g++) {
            lanes->stepping[g] = (uint8_t)draw(lanes, g, graph, &log, &slot, &coin);
            if (!lanes->stepping[g]) continue;
            _mm512_store_si512(lanes->slot + 8 * g, slot);
            _mm512_store_si512(lanes->coin + 8 * g, coin);
            prefetch_records(graph, slot);
        }
        for (size_t g = 0; g < lanes->groups; g++) {
            if (!lanes->stepping[g]) continue;
            __m512i y = move(lanes, g, graph, _mm512_load_si512(lanes->slot + 8 * g), _mm512_load_si512(lanes->coin + 8 * g));
            prefetch_states(graph, y);
        }
    }
    *taken = next;
    return log.count;
}

size_t ms_lanes_run(ms_lanes *lanes, const ms_lane_graph *graph, const ms_lane_walk *walks, size_t count,
                    int more, size_t *taken, ms_lane_event *events, size_t capacity, int *status) {
    return run_avx512(lanes, graph, walks, count, more, taken, events, capacity, status);
}

#else

int ms_lanes_supported(void) { return 0; }

size_t ms_lanes_run(ms_lanes *lanes, const ms_lane_graph *graph, const ms_lane_walk *walks, size_t count,
                    int more, size_t *taken, ms_lane_event *events, size_t capacity, int *status) {
    (void)lanes, (void)graph, (void)walks, (void)count, (void)more, (void)events, (void)capacity;
    *taken = 0; // never called: ms_lanes_supported() is 0 here
    *status = ms_lanes_finished;
    return 0;
}

#endif
