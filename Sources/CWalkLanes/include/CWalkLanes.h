#ifndef C_WALK_LANES_H
#define C_WALK_LANES_H

#include <stddef.h>
#include <stdint.h>

/// The lane kernel: walks stepped 8 at a time in the 64-bit lanes of AVX-512 vectors
/// (xoshiro256++, the 128-bit alias draw and the select in vector registers; rows and
/// records read with one 8- or 16-byte load per lane). Each walk takes exactly the steps
/// the scalar Swift kernel gives it: the same draws from its own generator, in the same
/// order. Written in C because Swift can enable AVX-512 only for a whole module, which
/// would make the binary fail on older CPUs; here one function is compiled for it and
/// chosen at run time (`ms_lanes_supported`).

/// A walk to start: its position and its xoshiro256++ state after the start was drawn.
typedef struct {
    uint64_t s0, s1, s2, s3;
    uint64_t state;
} ms_lane_walk;

/// What happened in a lane, in order: a walk began at `state`; it stepped into `state`, of
/// another cluster than the one before, after `steps` steps (with `labels` only; the
/// begin events too); it ended after `steps` steps at a target or at the cap.
typedef enum { ms_lane_began = 0, ms_lane_crossed = 1, ms_lane_hit = 2, ms_lane_capped = 3 } ms_lane_event_kind;

typedef struct {
    uint32_t kind;
    uint32_t lane;
    uint64_t state;
    uint64_t steps;
} ms_lane_event;

/// Why `ms_lanes_run` returned.
typedef enum {
    ms_lanes_finished = 0, ///< every walk has ended
    ms_lanes_need_walks = 1, ///< a lane is free and `walks` is used up (more will come)
    ms_lanes_events_full = 2, ///< call again with the walks not yet taken
} ms_lanes_status;

/// The graph as the kernel reads it.
typedef struct {
    /// Per state, and one past the last: its first record | (1 if it is a target) << 31.
    /// Row x is the records from rows[x] to rows[x + 1] (flags masked off), at least one.
    const uint32_t *rows;
    /// 16-byte alias records {u64 threshold, u32 neighbour, u32 alias}.
    const void *records;
    /// NULL when no outcome is "uniform over a cluster" (bit 31); else cluster c is the
    /// states member_offsets[c] ..< member_offsets[c + 1].
    const uint32_t *member_offsets;
    /// The cluster of each state, to report cluster changes; NULL for none.
    const uint32_t *labels;
    /// The cap: a walk that has taken this many steps without a hit ends censored.
    uint64_t max_steps;
    /// Non-zero for graphs larger than the caches: pipeline each round and prefetch.
    int prefetch;
} ms_lane_graph;

typedef struct ms_lanes ms_lanes;

/// 1 when this CPU and OS run the kernel (x86-64 with AVX-512 F and DQ enabled).
int ms_lanes_supported(void);

/// Room for `walkers` concurrent walks, rounded up to a multiple of 8 (at most 1024), all
/// idle. NULL when out of memory.
ms_lanes *ms_lanes_create(size_t walkers);

void ms_lanes_destroy(ms_lanes *lanes);

/// The most events one round of `lanes` can write: a begin, a crossing and an end a lane.
size_t ms_lanes_round_events(const ms_lanes *lanes);

/// Steps the walks in `lanes`, starting `walks[0 ..< count]` in order as lanes free up,
/// and appends what happens to `events` (room for `capacity`, at least twice
/// `ms_lanes_round_events`). Returns with `*taken` walks started and `*status` saying why:
/// when every walk has ended (and not `more`), when a lane is free and `walks` is used up
/// (and `more`), or when the events fill up. Returns the number of events written.
size_t ms_lanes_run(ms_lanes *lanes, const ms_lane_graph *graph, const ms_lane_walk *walks, size_t count,
                    int more, size_t *taken, ms_lane_event *events, size_t capacity, int *status);

#endif
