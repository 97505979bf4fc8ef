"""Named presets shipped as package data, and loading of user YAML files.

Preset kinds live in sub-folders: ``hardware/``, ``memory/`` (DRAM standards), ``models/``,
``workloads/``. A name that is an existing path (or ends in .yaml/.yml) is read as a file;
otherwise it must be a preset name, and an unknown one is an error listing the valid names.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from archsim.errors import ConfigError
from archsim.schemas.hardware import Hardware, SystemSpec
from archsim.schemas.memory import MemoryStandard
from archsim.schemas.model import ModelSpec
from archsim.schemas.sweep import Sweep
from archsim.schemas.workload import Workload
from archsim.yamlio import LineMap, load_yaml

KINDS: dict[str, Any] = {
    "hardware": TypeAdapter(Hardware),
    "memory": TypeAdapter(MemoryStandard),
    "models": TypeAdapter(ModelSpec),
    "workloads": TypeAdapter(Workload),
    "sweeps": TypeAdapter(Sweep),
}
#: The top-level ``kind:``/``family:`` value that identifies a YAML file's kind (for ``archsim validate``).
KIND_OF_DOCUMENT = {"workload": "workloads", "model": "models", "memory": "memory", "sweep": "sweeps"}


def _preset_dir(kind: str) -> Path:
    return Path(str(resources.files("archsim.presets") / kind))


def preset_names(kind: str) -> list[str]:
    """Sorted preset names of ``kind`` (file stems)."""
    folder = _preset_dir(kind)
    return sorted(p.stem for p in folder.glob("*.yaml"))


def preset_path(kind: str, name: str) -> Path:
    return _preset_dir(kind) / f"{name}.yaml"


def _is_path(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or "/" in ref or Path(ref).is_file()


def _unknown(kind: str, name: str, where: str | None, line: int | None, key: str | None) -> ConfigError:
    names = preset_names(kind)
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return ConfigError.single(f"unknown {kind} preset {name!r}{hint}; valid: {', '.join(names)}",
                              file=where, line=line, key_path=key)


def read_document(kind: str, ref: str, *, where: str | None = None, line: int | None = None,
                  key: str | None = None) -> tuple[Any, LineMap, str]:
    """Return (data, line map, file name) for a preset name or a file path."""
    if _is_path(ref):
        data, lines = load_yaml(ref)
        return data, lines, ref
    path = preset_path(kind, ref)
    if not path.is_file():
        raise _unknown(kind, ref, where, line, key)
    data, lines = load_yaml(path)
    return data, lines, f"preset {kind}/{ref}.yaml"


def _validate_with(kind: str, data: Any, lines: LineMap, file: str) -> Any:
    from pydantic import ValidationError

    from archsim.yamlio import problems_from_validation

    try:
        return KINDS[kind].validate_python(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, data, lines, file)) from None


def load(kind: str, ref: str, *, where: str | None = None, line: int | None = None, key: str | None = None) -> Any:
    """Load and validate a preset (by name) or a YAML file (by path) of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown preset kind {kind!r}; valid: {', '.join(KINDS)}")
    data, lines, file = read_document(kind, ref, where=where, line=line, key=key)
    obj = _validate_with(kind, data, lines, file)
    if kind == "workloads":
        _check_workload_refs(obj, lines, file)
    if kind == "hardware" and isinstance(obj, SystemSpec):
        _check_system_refs(obj, lines, file)
    if kind == "sweeps":  # key paths and base configs: archsim.sweep.plan
        from archsim.sweep.plan import check_sweep

        check_sweep(obj, lines, file)
    return obj


def load_hardware(ref: str) -> Any:
    return load("hardware", ref)


def load_model(ref: str) -> ModelSpec:
    return load("models", ref)


def load_memory_standard(ref: str) -> MemoryStandard:
    return load("memory", ref)


def load_workload(ref: str) -> Workload:
    return load("workloads", ref)


def resolve_model(workload: Workload) -> ModelSpec | None:
    """The workload's model as a ModelSpec (loading a preset name), or None for explicit layers."""
    if isinstance(workload.model, str):
        return load_model(workload.model)
    return workload.model


def _check_workload_refs(workload: Workload, lines: LineMap, file: str) -> None:
    if isinstance(workload.model, str):
        model = load("models", workload.model, where=file, line=lines.get(("model",)), key="model")
        problems = []
        for i, phase in enumerate(workload.phases):
            if model.arch != "decoder" and phase.phase == "decode":
                problems.append((i, f"model {model.name!r} is an {model.arch}; it has no decode phase"))
            if phase.phase == "prefill" and phase.seq_len is None and model.vision is None:
                problems.append((i, "prefill needs seq_len for a text model"))
            if model.max_seq_len and phase.phase == "prefill" and (phase.seq_len or 0) > model.max_seq_len:
                problems.append((i, f"seq_len {phase.seq_len} exceeds the model's max_seq_len {model.max_seq_len}"))
            if model.max_seq_len and phase.phase == "decode" and phase.context_len + phase.steps > model.max_seq_len:
                problems.append((i, f"context_len + steps exceeds the model's max_seq_len {model.max_seq_len}"))
        if problems:
            from archsim.errors import Problem

            raise ConfigError([Problem(msg, file=file, line=lines.get(("phases", i)), key_path=f"phases[{i}]")
                               for i, msg in problems])


def _check_system_refs(system: SystemSpec, lines: LineMap, file: str) -> None:
    for name, ref in system.devices.items():
        if ref.preset is not None:
            loaded = load("hardware", ref.preset, where=file, line=lines.get(("devices", name, "preset")),
                          key=f"devices.{name}.preset")
            if isinstance(loaded, SystemSpec):
                raise ConfigError.single("a system cannot contain another system", file=file,
                                         line=lines.get(("devices", name, "preset")), key_path=f"devices.{name}.preset")


def detect_kind(data: Any) -> str | None:
    """Which preset kind a parsed YAML document is, from its ``kind:`` or ``family:`` key."""
    if not isinstance(data, dict):
        return None
    if "family" in data:
        return "hardware"
    return KIND_OF_DOCUMENT.get(str(data.get("kind")))
