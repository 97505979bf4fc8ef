"""The backend contract: a backend prepares a device view once and evaluates operators.

A backend is a class with a ``name``, the hardware ``families`` it serves and a ``priority``
(``backend: auto`` takes the highest for the family). It fills two hooks:

- :meth:`Backend.prepare` builds its view of the device once per run (rates, a design, a
  command model ...);
- :meth:`Backend.evaluate` costs one operator on that view and returns an
  :class:`~archsim.result.OpResult`, or ``None`` when it does not cover that operator.

The shared driver (:func:`archsim.backends.driver.run_operators`) owns everything else: the loop
over operators, the roofline fallback for uncovered operators (listed in one note), the
timeline and the :class:`~archsim.result.Result`. No backend formats output.

Backends register themselves through the ``archsim.backends`` entry-point group (pyproject's
``[project.entry-points."archsim.backends"]``; a plugin package adds its own), or at run time
with :func:`register_backend`. A duplicate name is an error; an unknown name lists the valid ones.
"""

from __future__ import annotations

import abc
from importlib.metadata import entry_points
from typing import Any, ClassVar

from archsim.errors import ConfigError
from archsim.operators import Operator
from archsim.result import OpResult

ENTRY_POINT_GROUP = "archsim.backends"


class Backend(abc.ABC):
    """One way to cost operators on a hardware family. Subclasses set the class attributes."""

    name: ClassVar[str]
    families: ClassVar[tuple[str, ...]]
    priority: ClassVar[int] = 0
    description: ClassVar[str] = ""

    def prepare(self, hardware: Any) -> Any:
        """The device view evaluate() reads (default: the hardware spec itself)."""
        return hardware

    @abc.abstractmethod
    def evaluate(self, op: Operator, view: Any) -> OpResult | None:
        """One execution of ``op`` on ``view``, or None when this backend does not cover ``op``."""

    def notes(self, view: Any) -> list[str]:
        """What this backend models and ignores (one line each), after the run."""
        return []

    def peaks(self, hardware: Any, view: Any) -> dict[str, Any]:
        """The device's peak rates, as reported in the Result."""
        from archsim.backends.roofline import device_peaks

        return device_peaks(hardware)

    def trace(self, view: Any) -> list[dict[str, Any]]:
        """Extra Chrome-trace events (e.g. engine timelines of simulated slices), after the run."""
        return []


_BACKENDS: dict[str, type[Backend]] = {}
_LOADED = False


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Register a backend class (also usable as a decorator). A duplicate name is an error."""
    if cls.name in _BACKENDS and _BACKENDS[cls.name] is not cls:
        raise ValueError(f"backend {cls.name!r} is already registered ({_BACKENDS[cls.name].__module__})")
    _BACKENDS[cls.name] = cls
    return cls


def _load_entry_points() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if cls.name != ep.name:
            raise ValueError(f"entry point {ep.name!r} loads backend named {cls.name!r}")
        register_backend(cls)


def backends() -> dict[str, type[Backend]]:
    """Every registered backend by name."""
    _load_entry_points()
    return dict(_BACKENDS)


def choose(name: str, family: str) -> Backend:
    """The backend called ``name`` (or the best for ``family`` when ``name == 'auto'``)."""
    available = backends()
    if name == "auto":
        fits = [b for b in available.values() if family in b.families]
        if not fits:
            raise ConfigError.single(f"no backend simulates hardware family {family!r}")
        return max(fits, key=lambda b: (b.priority, b.name))()
    if name not in available:
        raise ConfigError.single(f"unknown backend {name!r}; valid: auto, {', '.join(sorted(available))}",
                                 key_path="backend")
    chosen = available[name]
    if family not in chosen.families:
        raise ConfigError.single(f"backend {name!r} does not simulate family {family!r} "
                                 f"(it supports {', '.join(chosen.families)})", key_path="backend")
    return chosen()
