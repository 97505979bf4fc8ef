"""Pareto fronts: the points no other point beats on every objective (all minimised)."""

from __future__ import annotations

import numpy as np


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of non-dominated rows of ``values`` (n points x k objectives, minimised).

    A point is dominated when another is <= on every objective and < on at least one. Exact
    duplicates are all kept. O(n^2 k) work in numpy blocks of bounded memory.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    keep = np.ones(n, dtype=bool)
    order = np.argsort(values[:, 0], kind="stable")
    step = max(1, min(1024, 20_000_000 // max(1, n * values.shape[1])))  # bounds the b x n x k temporaries
    for start in range(0, n, step):
        idx = order[start:start + step]
        block = values[idx][:, None, :]  # b x 1 x k
        le = np.all(values[None, :, :] <= block, axis=2)  # b x n: other j <= point i everywhere
        lt = np.any(values[None, :, :] < block, axis=2)
        keep[idx] = ~np.any(le & lt, axis=1)
    return keep
