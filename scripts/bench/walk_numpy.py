"""The walks of walk.c written as a researcher would in numpy: every walk advanced together
with fancy indexing, one vectorised step at a time, walks dropped as they hit.

python3 walk_numpy.py GRAPH WALKS MAX_STEPS SEED  ->  JSON like walk.c's."""
import json
import sys
import time

import numpy as np

import walkgraph


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: walk_numpy.py GRAPH WALKS MAX_STEPS SEED")
    offsets, records, start, targets = walkgraph.read(sys.argv[1])
    walks, max_steps, seed = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(seed)
    first = offsets[:-1].astype(np.int64)
    degree = np.diff(offsets).astype(np.float64)
    keep = records["threshold"].astype(np.float64) / 2.0**64
    neighbour = records["neighbour"].astype(np.int64)
    alias = records["alias"].astype(np.int64)
    is_target = np.zeros(len(first), bool)
    is_target[targets] = True

    t0 = time.perf_counter()
    x = np.full(walks if not is_target[start] else 0, start, np.int64)
    times, steps = [], 0
    for t in range(1, max_steps + 1):
        if x.size == 0:
            break
        slot = first[x] + (rng.random(x.size) * degree[x]).astype(np.int64)
        x = np.where(rng.random(x.size) < keep[slot], neighbour[slot], alias[slot])
        steps += x.size
        hit = is_target[x]
        if hit.any():
            times.append(np.full(int(hit.sum()), t))
            x = x[~hit]
    seconds = time.perf_counter() - t0
    times = np.concatenate(times) if times else np.zeros(0)
    print(json.dumps({
        "walks": walks, "hits": int(times.size), "steps": steps, "seconds": seconds,
        "steps_per_second": steps / seconds,
        "mean_hitting_time": float(times.mean()) if times.size else -1.0,
        "standard_error": float(times.std(ddof=1) / np.sqrt(times.size)) if times.size > 1 else -1.0,
    }))


main()
