"""Registered, swappable parts of the DRAM controller: scheduler, row policy, refresh, write policy.

Ramulator 2 composes a controller from named implementations (``i_scheduler.h`` +
``impl/frfcfs.cpp``, ``i_row_policy.h`` + ``impl/open.cpp`` ...). archsim keeps the whole
controller inside one numba loop for speed, so a part is a name bound to one of the core's
variants (``core``: the integer the numba code branches on) plus its parameters; registering a
new part with other parameters needs no change to the core, a new variant does (add its branch
in :mod:`archsim.engine.dram_sched` and list it in ``CORE_VARIANTS``)::

    register_part("write_policy", "drain_half", core="drain", params={"high": 0.5, "low": 0.25},
                  description="drain at half a write queue")
    DramController(std, parts={"write_policy": "drain_half"})

A duplicate name is an error; an unknown one lists the valid names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: kind -> the core's variants (name -> integer it branches on)
CORE_VARIANTS: dict[str, dict[str, int]] = {
    "scheduler": {"frfcfs": 0, "fcfs": 1, "round_robin": 2},
    "row_policy": {"open": 0, "closed": 1},
    "refresh": {"standard": -1, "all_bank": 0, "per_bank": 1, "none": 2},
    "write_policy": {"mixed": 0, "drain": 1, "drain_channel": 2, "batch": 3},
}


@dataclass(frozen=True)
class Part:
    kind: str
    name: str
    core: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def code(self) -> int:
        return CORE_VARIANTS[self.kind][self.core]


PARTS: dict[str, dict[str, Part]] = {kind: {} for kind in CORE_VARIANTS}
DEFAULTS = {"scheduler": "frfcfs", "row_policy": "open", "refresh": "standard", "write_policy": "mixed"}


def register_part(kind: str, name: str, *, core: str, params: dict[str, Any] | None = None,
                  description: str = "") -> Part:
    """Add a part; ``core`` names the variant of the numba core it runs."""
    if kind not in CORE_VARIANTS:
        raise ValueError(f"unknown controller part kind {kind!r}; valid: {', '.join(CORE_VARIANTS)}")
    if core not in CORE_VARIANTS[kind]:
        raise ValueError(f"{kind}: unknown core variant {core!r}; valid: {', '.join(CORE_VARIANTS[kind])}")
    if name in PARTS[kind]:
        raise ValueError(f"{kind} part {name!r} is already registered")
    part = Part(kind, name, core, dict(params or {}), description)
    PARTS[kind][name] = part
    return part


def resolve(parts: dict[str, str] | None = None) -> dict[str, Part]:
    """The part of every kind: ``parts`` overrides :data:`DEFAULTS`; unknown kinds or names raise ValueError."""
    chosen = dict(DEFAULTS)
    for kind, name in (parts or {}).items():
        if kind not in PARTS:
            raise ValueError(f"unknown controller part kind {kind!r}; valid: {', '.join(PARTS)}")
        chosen[kind] = name
    out = {}
    for kind, name in chosen.items():
        if name not in PARTS[kind]:
            raise ValueError(f"unknown {kind} {name!r}; valid: {', '.join(PARTS[kind])}")
        out[kind] = PARTS[kind][name]
    return out


register_part("scheduler", "frfcfs", core="frfcfs",
              description="first-ready, first-come first-served; a row with queued hits stays open (Ramulator 2 "
                          "FRFCFS, DRAMsim3's default)")
register_part("scheduler", "fcfs", core="fcfs", description="the oldest request's next command, ready or not")
register_part("scheduler", "dramsim3", core="round_robin",
              description="DRAMsim3 CommandQueue::GetCommandToIssue (29817593): of the commands ready first, the one "
                          "of the first bank queue after the last one served (round robin), the oldest in that queue; "
                          "a row with queued hits stays open (its ArbitratePrecharge; its 4-hit limit not modelled)")
register_part("row_policy", "open", core="open", description="rows stay open until a conflict or refresh")
register_part("row_policy", "closed", core="closed",
              description="auto-precharge after a column command when no queued request hits the row")
register_part("refresh", "standard", core="standard", description="the standard's own mode (timing.refresh)")
register_part("refresh", "all_bank", core="all_bank", description="REFab per rank every nREFI, ranks staggered")
register_part("refresh", "per_bank", core="per_bank", description="REFpb every nREFI / banks, any order")
register_part("refresh", "none", core="none", description="no refresh (peer runs without refresh)")
register_part("write_policy", "mixed", core="mixed", description="reads and writes share one queue, FR-FCFS over both")
register_part("write_policy", "drain", core="drain", params={"high": 0.8, "low": 0.2},
              description="separate write queue drained in batches between watermarks 0.8 / 0.2 of its size "
                          "(Ramulator 2 defaults); reads forwarded from queued writes")
register_part("write_policy", "drain_full", core="drain", params={"high": 1.0, "low": 0.0},
              description="drain only a full write queue (or when no read waits), down to empty")
register_part("write_policy", "ramulator2", core="drain_channel", params={"high": 0.8, "low": 0.2},
              description="Ramulator 2.1 ControllerBase::set_write_mode (c5b1c3a4): one write mode per controller; "
                          "enter when writes > 0.8 x write buffer or no read is buffered, leave when writes < 0.2 x "
                          "write buffer and a read is buffered; activated requests excluded from the counts")
register_part("write_policy", "dramsim3", core="batch", params={"command_queue": 8},
              description="DRAMsim3 Controller::ScheduleTransaction (29817593): read queue and write buffer of "
                          "queue_depth transactions in front of per-bank command queues of 8; a drain starts when "
                          "the write buffer is full (or holds > 8 while the command queues are empty) and moves "
                          "the writes it held; FR-FCFS over the command queues (archsim.engine.dram_txq)")
