"""Backends turn a lowered workload into a :class:`~archsim.result.Result`.

A backend is registered by name with the hardware families it supports and a priority;
``simulate(..., backend="auto")`` picks the highest-priority backend for the family (the
"best available"). The analytical roofline backend supports every single-device family and
is the baseline every event model is compared with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archsim.errors import ConfigError


@dataclass(frozen=True)
class Backend:
    name: str
    families: tuple[str, ...]
    priority: int
    run: Callable[..., Any]
    description: str = ""


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> None:
    if backend.name in _BACKENDS:
        raise ValueError(f"backend {backend.name!r} is already registered")
    _BACKENDS[backend.name] = backend


def backends() -> dict[str, Backend]:
    _load_builtin()
    return dict(_BACKENDS)


def choose(name: str, family: str) -> Backend:
    """The backend called ``name`` (or the best for ``family`` when ``name == 'auto'``)."""
    available = backends()
    if name == "auto":
        fits = [b for b in available.values() if family in b.families]
        if not fits:
            raise ConfigError.single(f"no backend simulates hardware family {family!r}")
        return max(fits, key=lambda b: (b.priority, b.name))
    if name not in available:
        raise ConfigError.single(f"unknown backend {name!r}; valid: auto, {', '.join(sorted(available))}",
                                 key_path="backend")
    chosen = available[name]
    if family not in chosen.families:
        raise ConfigError.single(f"backend {name!r} does not simulate family {family!r} "
                                 f"(it supports {', '.join(chosen.families)})", key_path="backend")
    return chosen


_LOADED = False


def load_plugins() -> None:
    """Import every module that registers backends or dataflow names (idempotent)."""
    _load_builtin()


def _load_builtin() -> None:
    """Import backend modules that register themselves (plugins add their module here)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib

    for module in ("archsim.backends.analytical", "archsim.fpga.backend", "archsim.pim.backend", "archsim.dataflows",
                   "archsim.gpu.backend"):
        importlib.import_module(module)
