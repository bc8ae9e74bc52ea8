"""Mean hitting times with scipy's sparse direct solver, to compare with `ExactSolver`:
(I − P_T) h = 1 on the states outside the target, P read back from the exported records.

python3 spsolve.py GRAPH  ->  JSON: seconds (solve only), h at the start state, states."""
import json
import sys
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import walkgraph


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: spsolve.py GRAPH")
    offsets, records, start, targets = walkgraph.read(sys.argv[1])
    p = walkgraph.transition_matrix(offsets, records)
    free = np.ones(p.shape[0], bool)
    free[targets] = False
    index = np.flatnonzero(free)
    t0 = time.perf_counter()
    a = sp.identity(index.size, format="csc") - p[index][:, index].tocsc()
    h = spla.spsolve(a, np.ones(index.size))
    seconds = time.perf_counter() - t0
    position = np.searchsorted(index, start)
    h_start = float(h[position]) if free[start] else 0.0
    print(json.dumps({"seconds": seconds, "hitting_time": h_start, "states": int(p.shape[0])}))


main()
