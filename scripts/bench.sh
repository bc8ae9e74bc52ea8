#!/usr/bin/env bash
# The hardware suite (README "Benchmarks"): builds the release binary, compiles the C
# reference loop with -O3 -march=native, and runs `metastable bench --suite`, which exports
# the graphs, runs the Swift kernel, walk.c, walk_numpy.py, spsolve.py and the cluster path,
# and prints one markdown table. About 2-3 minutes on 2 cores; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release >&2
build=$(swift build -c release --show-bin-path)
cc -O3 -march=native -o "$build/walk-reference" scripts/bench/walk.c -lm
"$build/metastable" bench --suite --c-binary "$build/walk-reference" --scripts scripts/bench
