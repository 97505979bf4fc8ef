"""DRAM front end helpers (numba): burst addresses of a transaction and the in-flight heap.

A transaction row holds (kind, base, count, stride, seed, ...): kind 0 is linear
(``base + k * stride``), kind 1 is uniform random over the device's bursts from a seeded
splitmix64 hash of the burst index (deterministic, no address arrays). The in-flight bound
uses a binary min-heap of completion cycles. ``TX_ENTER`` is the cycle the first burst entered a queue.

Every helper is inlined into the core (``inline="always"``): a call to a separate numba function
with array arguments costs an atomic reference-count increment and decrement per array (NRT),
which was 40% of a stream's time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# transaction columns
TX_KIND, TX_BASE, TX_COUNT, TX_STRIDE, TX_SEED, TX_WRITE, TX_ARRIVAL, TX_FED, TX_LEFT, TX_DONE, TX_ENTER = range(11)
TX_COLS = 11


@njit(cache=True, inline="always")
def _splitmix(x):
    z = np.uint64(x) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def burst_address(tx, j, k, burst_bytes, n_bursts_total):
    """Byte address of burst ``k`` of transaction row ``j``."""
    if tx[j, TX_KIND] == 0:
        return tx[j, TX_BASE] + k * tx[j, TX_STRIDE]
    r = _splitmix(np.uint64(tx[j, TX_SEED]) * np.uint64(0x100000001B3) + np.uint64(k))
    return tx[j, TX_BASE] + np.int64(r % np.uint64(n_bursts_total)) * burst_bytes


@njit(cache=True, inline="always")
def heap_push(heap, n, v):
    i = n
    heap[i] = v
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return n + 1


@njit(cache=True, inline="always")
def heap_pop(heap, n):
    n -= 1
    heap[0] = heap[n]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        c = left
        if left + 1 < n and heap[left + 1] < heap[left]:
            c = left + 1
        if heap[i] <= heap[c]:
            break
        heap[i], heap[c] = heap[c], heap[i]
        i = c
    return n
