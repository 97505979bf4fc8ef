"""Per-operator device choice of a serving deployment, registered by name (``archsim serve --placement``, a
sweep's ``serving.placement``).

A placement builds the iteration cost model of one deployment. Built in:

- ``gpu`` (default): every operator on the deployment's own devices, costed by the best backend
  (:class:`archsim.serving.cost.BackendCost`; on a non-GPU preset, that device). A system preset with
  ``attention`` devices (``lamina-h100-h20``) is attention offloading instead, whatever the placement
  (:class:`archsim.serving.offload_cost.OffloadCost`, chosen by :func:`archsim.serving.scenario.serve`).
- ``gpu-roofline``: every operator on the GPU, roofline (:func:`archsim.serving.duplex_placement.gpu_only_cost`):
  the baseline the two Duplex placements differ from only by the placement (``archsim reproduce duplex``'s
  ``gpu_only``). Compare ``duplex`` with it, not with ``gpu`` (a different GPU model).
- ``duplex``: Duplex devices (:func:`archsim.serving.duplex_placement.pair_duplex`): each GPU paired with
  the ``duplex-logic-pim`` preset on its HBM; every operator of every iteration on the faster of the two
  (roofline on both).
- ``duplex-coprocess``: ``duplex`` plus co-processing (attention and MoE experts split across both devices).

Registering: :func:`register_placement` (a second placement under one name is an error); a miss in
:func:`get_placement` lists the valid names. This module imports nothing heavy (the CLI lists the names in its
``--help``); the builders import their cost models when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archsim.errors import ConfigError


@dataclass(frozen=True)
class Placement:
    """``build(workload, hardware, buckets, **options) -> cost`` (a callable of an Iteration; with a
    ``placement_summary()`` when it places operators off the GPU); ``check(hardware)`` raises ConfigError for
    hardware it cannot run on."""

    name: str
    help: str
    build: Callable[..., Any]
    check: Callable[[Any], None]


#: The placement of a system that offloads attention (its cost model is the offloading one, whatever the name).
DEFAULT = "gpu"


_REGISTRY: dict[str, Placement] = {}


def register_placement(placement: Placement) -> Placement:
    """Register ``placement`` under its name (a different one under the same name is an error)."""
    old = _REGISTRY.get(placement.name)
    if old is not None and old is not placement:
        raise ValueError(f"placement {placement.name!r} is already registered")
    _REGISTRY[placement.name] = placement
    return placement


def placement_names() -> list[str]:
    return sorted(_REGISTRY)


def get_placement(name: str, *, key_path: str = "placement") -> Placement:
    if name not in _REGISTRY:
        raise ConfigError.single(f"unknown placement {name!r}; valid: {', '.join(placement_names())}",
                                 key_path=key_path)
    return _REGISTRY[name]


def check_placement(name: str, hardware: Any, *, key_path: str = "placement") -> None:
    """The placement exists and can run on ``hardware`` (a loaded spec); ConfigError naming ``key_path`` if not."""
    p = get_placement(name, key_path=key_path)
    devices = getattr(hardware, "devices", None) or {}
    if name != DEFAULT and any(ref.role == "attention" for ref in devices.values()):
        raise ConfigError.single(
            f"placement {name!r}: {hardware.name} offloads attention to its memory devices (Lamina: cost model "
            f"archsim.serving.offload_cost.OffloadCost), which takes placement {DEFAULT} only", key_path=key_path)
    try:
        p.check(hardware)
    except ConfigError as exc:
        raise ConfigError.single(f"placement {name!r}: {exc.problems[0].message}", key_path=key_path) from None


def _no_check(hardware: Any) -> None:
    return None


def _gpu(workload: Any, hardware: Any, buckets: Any = None, **options: Any) -> Any:
    from archsim.serving.cost import BackendCost

    return BackendCost(workload, hardware, buckets=buckets, **options)


def _gpu_roofline(workload: Any, hardware: Any, buckets: Any = None, **options: Any) -> Any:
    from archsim.serving.duplex_placement import gpu_only_cost

    return gpu_only_cost(workload, hardware, buckets=buckets, **options)


def _gpu_check(hardware: Any) -> None:
    from archsim.capacity import _device

    device: Any = _device(hardware)[0] if getattr(hardware, "family", None) == "system" else hardware
    if device.family != "gpu":
        raise ConfigError.single(f"{device.name} is a {device.family} device, not a GPU", key_path="placement")


def _duplex_check(hardware: Any) -> None:
    from archsim import presets
    from archsim.serving.duplex_placement import LOGIC_PIM, check_pairing

    check_pairing(hardware, presets.load_hardware(LOGIC_PIM))


def _duplex(co_process: bool) -> Callable[..., Any]:
    def build(workload: Any, hardware: Any, buckets: Any = None, **options: Any) -> Any:
        from archsim.serving.duplex_placement import pair_duplex

        return pair_duplex(workload, hardware, co_process=co_process, buckets=buckets, **options)

    return build


register_placement(Placement("gpu", "every operator on the deployment's devices (default)", _gpu, _no_check))
register_placement(Placement("gpu-roofline", "every operator on the GPU, roofline (the baseline of the duplex "
                             "placements)", _gpu_roofline, _gpu_check))
register_placement(Placement("duplex", "each GPU paired with the duplex-logic-pim preset on its HBM; every operator "
                             "on the faster of the two (roofline both; compare with gpu-roofline)", _duplex(False),
                             _duplex_check))
register_placement(Placement("duplex-coprocess", "duplex, and attention / MoE experts split across both devices",
                             _duplex(True), _duplex_check))


def describe() -> str:
    """The placements in registration order, for ``--help``: ``name: help; ...``."""
    return "; ".join(f"{p.name}: {p.help}" for p in _REGISTRY.values())
