"""Reads a graph written by `metastable bench --export-graph` (format in walk.c)."""
import numpy as np

RECORD = np.dtype([("threshold", "<u8"), ("neighbour", "<u4"), ("alias", "<u4")])


def read(path):
    """Returns (offsets, records, start, targets) as numpy arrays (records: RECORD)."""
    with open(path, "rb") as f:
        if f.read(8) != b"MSWALK01":
            raise SystemExit(f"{path} is not a graph written by metastable bench --export-graph")
        states, nrec, start, ntargets = np.fromfile(f, "<u8", 4)
        offsets = np.fromfile(f, "<u8", int(states) + 1)
        records = np.fromfile(f, RECORD, int(nrec))
        targets = np.fromfile(f, "<u4", int(ntargets))
    return offsets, records, int(start), targets


def transition_matrix(offsets, records):
    """P as scipy CSR, read back from the alias records: slot i of row x gives its neighbour
    with probability threshold / 2^64 and its alias otherwise, each slot 1 / degree."""
    import scipy.sparse as sp

    n = len(offsets) - 1
    degree = np.diff(offsets).astype(np.float64)
    rows = np.repeat(np.arange(n), np.diff(offsets).astype(np.int64))
    keep = records["threshold"].astype(np.float64) / 2.0**64
    w = 1.0 / degree[rows]
    data = np.concatenate([keep * w, (1 - keep) * w])
    cols = np.concatenate([records["neighbour"], records["alias"]]).astype(np.int64)
    return sp.csr_matrix((data, (np.concatenate([rows, rows]), cols)), shape=(n, n))
