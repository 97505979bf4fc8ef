"""Event-driven twin of :func:`archsim.gpu.model.simulate_launch` on the archsim engine.

The same launch, played on :mod:`archsim.engine` components instead of closed forms:
- HBM and L2 are :class:`~archsim.engine.Link` wires (FIFO, calibrated bandwidth, the per-CTA
  memory latency as link latency), shared by every CTA of the launch;
- each SM slot (``SMs x occupancy``) is a process that takes the next CTA in launch order;
- a CTA runs its compute (a timeout of its compute time at the clock the analytical model
  settled on) concurrently with its memory stream: chunks of at least its bytes in flight, each
  crossing the HBM wire (and the L2 wire for L2 traffic), never faster than Little's law allows.
- Spans per SM slot go to the engine's observer (a :class:`~archsim.engine.Timeline` gives a
  Chrome/Perfetto trace).

It exists to check the analytical model (the DESIGN rule: every event model has an analytical
estimate beside it, and tests bound the gap) and to draw timelines; predictions use the
analytical model, which is 10-1000x faster. Ignores what :mod:`archsim.gpu.model` ignores; FIFO
wires serve one transfer at a time where the hardware interleaves, so single CTAs can wait
behind others' chunks (bounded by the chunk size).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from archsim.engine import Engine, Link, LinkSpec
from archsim.gpu.calibration import DeviceRates
from archsim.gpu.model import LaunchSpec, _cta_time, _pipe_rates, occupancy, simulate_launch

MAX_CHUNKS_PER_CTA = 8


@dataclass
class EventResult:
    name: str
    time_s: float
    analytical_s: float
    events_ctas: int

    @property
    def gap(self) -> float:
        """(event - analytical) / analytical."""
        return (self.time_s - self.analytical_s) / self.analytical_s


def play_launch(spec: LaunchSpec, rates: DeviceRates, *, observer: Any = None) -> EventResult:
    """Play one launch on the event engine; returns its time and the analytical model's."""
    ana = simulate_launch(spec, rates)
    occ, _ = occupancy(spec, rates)
    r = max(1, min(occ, math.ceil(spec.grid / rates.sm_count)))
    per_sm = _pipe_rates(spec, rates, ana.clock_hz)
    eng = Engine(seed=0, observer=observer)
    hbm = Link(eng, LinkSpec(bandwidth_bytes_per_s=rates.hbm_bw, latency_s=rates.cta_mem_latency_s), name="hbm")
    l2 = Link(eng, LinkSpec(bandwidth_bytes_per_s=rates.l2_bw, latency_s=0.0), name="l2")
    little = spec.inflight_bytes_per_cta / rates.cta_mem_latency_s
    queue: deque = deque()
    for n, w in spec.launch_order():
        d, parts = _cta_time(w, spec, rates, per_sm, r)
        queue.extend([(w, parts["compute"])] * n)
    played = {"ctas": 0}

    def stream(w):
        hbm_left, l2_left = float(w.hbm_bytes), float(max(0.0, w.l2_bytes - w.hbm_bytes))
        chunks = max(1, min(MAX_CHUNKS_PER_CTA, math.ceil(max(hbm_left, l2_left) / spec.inflight_bytes_per_cta)))
        for _ in range(chunks):
            t0 = eng.now_s
            h, l2b = hbm_left / chunks, l2_left / chunks
            if h:
                yield eng.process(hbm.send(int(math.ceil(h))))
            if l2b:
                yield eng.process(l2.send(int(math.ceil(l2b))))
            floor = h / little
            if eng.now_s - t0 < floor:
                yield eng.timeout_s(floor - (eng.now_s - t0))

    def slot(i: int):
        while queue:
            w, compute_s = queue.popleft()
            start = eng.now_s
            jobs: list[Any] = [eng.timeout_s(compute_s)]
            if w.hbm_bytes or w.l2_bytes:
                jobs.append(eng.process(stream(w)))
            yield eng.all_of(jobs)
            yield eng.timeout_s(rates.cta_mem_latency_s)
            played["ctas"] += 1
            eng.span(f"slot{i:04d}", spec.name, start, eng.now_s)

    for i in range(rates.sm_count * r):
        eng.process(slot(i))
    eng.run()
    fixed = rates.launch_floor_s + max(0.0, rates.mem_fixed_s - rates.launch_floor_s)
    # the board power limit bounds the launch as in the analytical model (archsim.gpu.power)
    time_s = max(fixed + eng.now_s, ana.busy_s.get("power_floor", 0.0))
    return EventResult(name=spec.name, time_s=time_s, analytical_s=ana.time_s, events_ctas=played["ctas"])
