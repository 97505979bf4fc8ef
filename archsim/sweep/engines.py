"""Engines that run sweep tasks: a local process pool, or Ray. Same tasks, same function.

Both engines run :func:`archsim.sweep.point.run_chunk` on chunks of points and hand each
finished chunk's rows to ``on_rows`` in the calling process (which alone writes files). At most
``2 x workers`` chunks are in flight, so a huge sweep never queues millions of futures.

- ``local``: :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method
  (no fork of a process that runs a progress-bar thread). Workers die with the sweep process,
  even after a ``kill -9`` of it: on Linux the kernel sends them SIGKILL when it dies
  (``prctl(PR_SET_PDEATHSIG)``), and everywhere a watchdog thread in each worker exits when its
  parent pid changes (the fallback, checked every 0.2 s).
- ``ray``: ``ray.init()`` of a local Ray (``num_cpus=workers``) started and shut down here, or
  ``ray.init(address=...)`` to join an existing cluster (whose nodes must have archsim
  installed); chunks are ``ray.remote`` tasks. Nothing else: no home-made scheduler. A local
  Ray gets a :mod:`~archsim.sweep.reaper` that kills its processes at once if the sweep
  process is killed (Ray's own fate-sharing leaves two agents running for ~60 s).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from archsim.errors import ConfigError
from archsim.sweep.point import Task, run_chunk

RowsCallback = Callable[[list[dict[str, Any]]], None]
ENGINES = ("local", "ray")


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def chunk_size(n_tasks: int, workers: int) -> int:
    """Chunks small enough for a smooth progress bar and balance, large enough to amortise dispatch."""
    return max(1, min(64, n_tasks // (workers * 8) or 1))


def chunks(tasks: list[Task], size: int) -> Iterator[list[Task]]:
    for start in range(0, len(tasks), size):
        yield tasks[start:start + size]


_PR_SET_PDEATHSIG = 1
PARENT_WATCH_S = 0.2


def die_with_parent(parent_pid: int) -> None:
    """Pool-worker initializer: end this worker when the process that started it dies (``kill -9`` too)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watchdog below still ends the worker
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="archsim-parent-watch", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_WATCH_S)
    os._exit(1)  # re-parented: the sweep process is gone, nobody will read this worker's rows


def run_local(tasks: list[Task], workers: int, on_rows: RowsCallback) -> dict[str, Any]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pending = chunks(tasks, chunk_size(len(tasks), workers))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        in_flight = set()
        for chunk in pending:
            in_flight.add(pool.submit(run_chunk, chunk))
            if len(in_flight) >= 2 * workers:
                break
        while in_flight:
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                on_rows(future.result())
                nxt = next(pending, None)
                if nxt is not None:
                    in_flight.add(pool.submit(run_chunk, nxt))
    return {"engine": "local", "workers": workers}


def run_ray(tasks: list[Task], workers: int, on_rows: RowsCallback, address: str | None = None) -> dict[str, Any]:
    if address is None and "ray" not in sys.modules:
        # a local Ray listens on the node's IP (it maps 127.0.0.1 to it): make it demand its token. Ray reads
        # the mode when imported; set after the import, the driver and the GCS disagree and ray.init() fails
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
    except ImportError:
        raise ConfigError.single("--engine ray needs Ray: pip install 'archsim[distributed]'",
                                 key_path="--engine") from None
    import logging

    from archsim.sweep import reaper

    t0 = time.perf_counter()
    started_here = not ray.is_initialized()
    guard = None
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING, "configure_logging": True}
        if address:
            ray.init(address=address, **kwargs)
        else:
            guard = reaper.start()
            try:
                ray.init(num_cpus=workers, **kwargs)
            except BaseException:
                reaper.stop(guard)
                raise
    info: dict[str, Any] = {"engine": "ray", "ray_address": address or "local",
                            "ray_start_s": time.perf_counter() - t0}
    t1 = time.perf_counter()
    try:
        remote_chunk = ray.remote(num_cpus=1)(run_chunk)
        cluster_cpus = int(ray.cluster_resources().get("CPU", workers))
        slots = max(1, cluster_cpus if address else workers)
        pending = chunks(tasks, chunk_size(len(tasks), slots))
        in_flight = []
        for chunk in pending:
            in_flight.append(remote_chunk.remote(chunk))
            if len(in_flight) >= 2 * slots:
                break
        while in_flight:
            done, in_flight = ray.wait(in_flight, num_returns=1)
            for ref in done:
                on_rows(ray.get(ref))
                nxt = next(pending, None)
                if nxt is not None:
                    in_flight.append(remote_chunk.remote(nxt))
        info |= {"workers": slots, "ray_tasks_s": time.perf_counter() - t1}
    finally:
        if started_here:
            t2 = time.perf_counter()
            try:
                ray.shutdown()
            finally:
                reaper.stop(guard)
            info["ray_shutdown_s"] = time.perf_counter() - t2
    return info
