"""Named presets shipped as package data, and loading of user YAML files and the files they name.

Preset kinds live in sub-folders: ``hardware/``, ``memory/`` (DRAM standards), ``models/``,
``workloads/``. A reference is a path when it ends in .yaml/.yml, contains a slash, or names an
existing file; otherwise it must be a preset name, and an unknown one is an error listing the
valid names.

References inside a file (a workload's ``model:``, a system's ``devices.*.preset``, a PIM
device's ``pim.memory_standard``, a sweep's ``base.hardware`` / ``base.workload``) resolve
relative to the folder of the file that names them, never the current directory, and must stay
inside that folder's tree (after symlinks): a reference that leaves it is refused. To share files
across folders use a preset name, or list shared folders in the environment variable
``ARCHSIM_PATH`` (separated by ``os.pathsep``): a relative reference not found beside the file is
looked up there, and files under those folders may be named. A referenced file must declare the
kind it is used as (``kind: model``, ``family: gpu`` ...); one that does not is refused without
quoting any of its content. A file named on the command line (no referring file) is read as given.
Path references are replaced by what they load (an inline model or device, an absolute memory
standard path), so a loaded object never depends on the current directory.
"""

from __future__ import annotations

import difflib
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from archsim import limits
from archsim.errors import ConfigError, Problem
from archsim.schemas.hardware import Hardware, PimDevice, SystemSpec
from archsim.schemas.memory import MemoryStandard
from archsim.schemas.model import ModelSpec
from archsim.schemas.sweep import Sweep
from archsim.schemas.workload import Workload
from archsim.yamlio import LineMap, load_yaml, problems_from_validation

KINDS: dict[str, Any] = {
    "hardware": TypeAdapter(Hardware),
    "memory": TypeAdapter(MemoryStandard),
    "models": TypeAdapter(ModelSpec),
    "workloads": TypeAdapter(Workload),
    "sweeps": TypeAdapter(Sweep),
}
#: The top-level ``kind:``/``family:`` value that identifies a YAML file's kind (for ``archsim validate``).
KIND_OF_DOCUMENT = {"workload": "workloads", "model": "models", "memory": "memory", "sweep": "sweeps"}
_DECLARATION = {"workloads": "kind: workload", "models": "kind: model", "memory": "kind: memory",
                "sweeps": "kind: sweep", "hardware": "family: <gpu|fpga|pim|accelerator|system>"}
#: Environment variable listing extra folders that references may name (os.pathsep-separated).
SEARCH_PATH_ENV = "ARCHSIM_PATH"
_LABEL = {"workloads": "workload", "models": "model", "memory": "memory standard", "sweeps": "sweep",
          "hardware": "hardware"}
_PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_MAX_REF_CHARS = 4096


def _preset_dir(kind: str) -> Path:
    return Path(str(resources.files("archsim.presets") / kind))


def preset_names(kind: str) -> list[str]:
    """Sorted preset names of ``kind`` (file stems)."""
    folder = _preset_dir(kind)
    return sorted(p.stem for p in folder.glob("*.yaml"))


def preset_path(kind: str, name: str) -> Path:
    return _preset_dir(kind) / f"{name}.yaml"


def search_path() -> list[Path]:
    """The folders of ``ARCHSIM_PATH`` (real paths), in order; empty when it is unset."""
    text = os.environ.get(SEARCH_PATH_ENV, "")
    return [Path(os.path.realpath(p)) for p in text.split(os.pathsep) if p.strip()]


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _is_path(ref: str, base: Path | None = None) -> bool:
    if ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref:
        return True
    return _is_file(Path(ref) if base is None else base / ref)


def _inside(path: str, root: Path) -> bool:
    try:
        return os.path.commonpath([path, str(root)]) == str(root)
    except ValueError:
        return False


def _unknown(kind: str, name: str, where: str | None, line: int | None, key: str | None) -> ConfigError:
    names = preset_names(kind)
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return ConfigError.single(f"unknown {kind} preset {name!r}{hint}; valid: {', '.join(names)}",
                              file=where, line=line, key_path=key)


def _locate_reference(ref: str, base: Path, where: str | None, line: int | None, key: str | None) -> Path:
    """The file a path reference inside a file in ``base`` names; refuses one outside the allowed trees."""
    roots = [Path(os.path.realpath(base)), *search_path()]
    given = Path(ref)
    candidates = [given] if given.is_absolute() else [base / given, *(root / given for root in roots[1:])]
    chosen = next((c for c in candidates if os.path.lexists(c)), candidates[0])
    real = os.path.realpath(chosen)
    if not any(_inside(real, root) for root in roots):
        raise ConfigError.single(
            f"reference {ref!r} leaves the folder of this file; keep referenced files beside it (or below), "
            f"use a preset name, or add their folder to {SEARCH_PATH_ENV}", file=where, line=line, key_path=key)
    return Path(os.path.normpath(chosen))


def _check_ref_text(kind: str, ref: Any, where: str | None, line: int | None, key: str | None) -> None:
    if not isinstance(ref, str) or not ref.strip():
        raise ConfigError.single(f"expected a {kind} preset name or a YAML path", file=where, line=line, key_path=key)
    if "\x00" in ref or len(ref) > _MAX_REF_CHARS:
        raise ConfigError.single(f"not a usable {kind} reference (NUL byte or longer than {_MAX_REF_CHARS} "
                                 "characters)", file=where, line=line, key_path=key)


def read_document(kind: str, ref: str, *, where: str | None = None, line: int | None = None,
                  key: str | None = None, base: Path | None = None) -> tuple[Any, LineMap, str]:
    """Return (data, line map, file name) for a preset name or a file path.

    ``base`` is the folder of the file that holds the reference (None: a command-line argument,
    read as given). A file named from another file must declare ``kind``; see the module docstring.
    """
    _check_ref_text(kind, ref, where, line, key)
    if _is_path(ref, base):
        path = Path(ref) if base is None else _locate_reference(ref, base, where, line, key)
        data, lines = _read_referenced(path, where, line, key)
        _check_declared_kind(kind, data, str(path), referenced=base is not None)
        return data, lines, str(path)
    if not _PRESET_NAME.fullmatch(ref) or not _is_file(preset_path(kind, ref)):
        raise _unknown(kind, ref, where, line, key)
    data, lines = load_yaml(preset_path(kind, ref))
    return data, lines, f"preset {kind}/{ref}.yaml"


def _read_referenced(path: Path, where: str | None, line: int | None, key: str | None) -> tuple[Any, LineMap]:
    """``load_yaml(path)``; a failure of the file as a whole (missing, a FIFO, a symlink loop) is reported
    at the reference, naming the file."""
    try:
        return load_yaml(path)
    except ConfigError as exc:
        if where is None or any(p.line is not None for p in exc.problems):
            raise
        raise ConfigError([Problem(f"{path}: {p.message}", file=where, line=line, key_path=key)
                           for p in exc.problems]) from None


def detect_kind(data: Any) -> str | None:
    """Which preset kind a parsed YAML document is, from its ``kind:`` or ``family:`` key."""
    if not isinstance(data, dict):
        return None
    if "family" in data:
        return "hardware"
    return KIND_OF_DOCUMENT.get(str(data.get("kind")))


def _check_declared_kind(kind: str, data: Any, file: str, *, referenced: bool) -> None:
    """A file used as ``kind`` must not declare another kind (nor, when referenced, none at all).

    The message never quotes the file's content: it may not be an archsim file at all."""
    declared = detect_kind(data)
    if declared == kind or (declared is None and not referenced):
        return
    said = f"it declares {_DECLARATION[declared]}" if declared else "it declares no kind"
    raise ConfigError.single(f"not a {_LABEL[kind]} file ({said}; expected {_DECLARATION[kind]} at top level); "
                             "its content is not shown", file=file, line=1)


def _validate_with(kind: str, data: Any, lines: LineMap, file: str) -> Any:
    try:
        return KINDS[kind].validate_python(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, data, lines, file)) from None


def load(kind: str, ref: str, *, where: str | None = None, line: int | None = None, key: str | None = None,
         base: Path | None = None) -> Any:
    """Load and validate a preset (by name) or a YAML file (by path) of ``kind``, with everything it names.

    ``where``/``line``/``key`` say where the reference is written (for messages); ``base`` is the
    folder of that file (None for a command-line argument)."""
    return _load(kind, ref, where, line, key, base, ())


def _load(kind: str, ref: str, where: str | None, line: int | None, key: str | None, base: Path | None,
          chain: tuple[str, ...]) -> Any:
    if kind not in KINDS:
        raise ValueError(f"unknown preset kind {kind!r}; valid: {', '.join(KINDS)}")
    data, lines, file = read_document(kind, ref, where=where, line=line, key=key, base=base)
    identity = os.path.realpath(preset_path(kind, ref) if file.startswith("preset ") else file)
    if identity in chain:
        raise ConfigError.single(f"reference cycle: {ref!r} names a file that is already being loaded",
                                 file=where, line=line, key_path=key)
    if len(chain) >= limits.MAX_REFERENCE_DEPTH:
        raise ConfigError.single(f"references nest deeper than {limits.MAX_REFERENCE_DEPTH} files",
                                 file=where, line=line, key_path=key)
    obj = _validate_with(kind, data, lines, file)
    return _resolve(kind, obj, lines, file, Path(identity).parent, chain + (identity,))


def resolve_refs(kind: str, obj: Any, lines: LineMap, file: str, base: Path, prefix: tuple[Any, ...] = ()) -> Any:
    """Check and load what a validated ``obj`` (read from ``file`` in folder ``base``) names.

    Returns ``obj`` with path references replaced by what they load. ``prefix`` is the key path of
    ``obj`` inside ``file`` (a sweep's inline ``base.workload``), for line numbers."""
    return _resolve(kind, obj, {k[len(prefix):]: v for k, v in lines.items() if k[:len(prefix)] == prefix}, file,
                    base, (), prefix)


def _resolve(kind: str, obj: Any, lines: LineMap, file: str, base: Path, chain: tuple[str, ...],
             prefix: tuple[Any, ...] = ()) -> Any:
    if kind == "workloads":
        return _resolve_workload(obj, lines, file, base, chain, prefix)
    if kind == "hardware" and isinstance(obj, SystemSpec):
        return _resolve_system(obj, lines, file, base, chain, prefix)
    if kind == "hardware" and isinstance(obj, PimDevice):
        return _resolve_pim(obj, lines, file, base, chain, prefix)
    return obj


def _dotted(prefix: tuple[Any, ...], *parts: Any) -> str:
    out = ""
    for part in (*prefix, *parts):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _resolve_workload(workload: Workload, lines: LineMap, file: str, base: Path, chain: tuple[str, ...],
                      prefix: tuple[Any, ...]) -> Workload:
    if not isinstance(workload.model, str):
        return workload
    ref = workload.model
    model = _load("models", ref, file, lines.get(("model",)), _dotted(prefix, "model"), base, chain)
    check_model_phases(workload, model, lines, file, prefix)
    return workload.model_copy(update={"model": model}) if _is_path(ref, base) else workload


def check_model_phases(workload: Workload, model: ModelSpec, lines: LineMap, file: str,
                       prefix: tuple[Any, ...] = ()) -> None:
    """Phases the model cannot run (decode on an encoder, sequences past max_seq_len): one ConfigError."""
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
        raise ConfigError([Problem(msg, file=file, line=lines.get(("phases", i)), key_path=_dotted(prefix, "phases", i))
                           for i, msg in problems])


def _check_workload_refs(workload: Workload, lines: LineMap, file: str) -> None:
    """Phase checks against a preset-named model (kept for archsim.sweep.plan; paths: resolve_refs)."""
    if isinstance(workload.model, str):
        model = load("models", workload.model, where=file, line=lines.get(("model",)), key="model")
        check_model_phases(workload, model, lines, file)


def _resolve_system(system: SystemSpec, lines: LineMap, file: str, base: Path, chain: tuple[str, ...],
                    prefix: tuple[Any, ...]) -> SystemSpec:
    devices = dict(system.devices)
    for name, ref in system.devices.items():
        if ref.preset is None:
            continue
        line, key = lines.get(("devices", name, "preset")), _dotted(prefix, "devices", name, "preset")
        loaded = _load("hardware", ref.preset, file, line, key, base, chain)
        if isinstance(loaded, SystemSpec):
            raise ConfigError.single("a system cannot contain another system", file=file, line=line, key_path=key)
        if _is_path(ref.preset, base):
            devices[name] = ref.model_copy(update={"preset": None, "device": loaded})
    return system.model_copy(update={"devices": devices})


def _resolve_pim(device: PimDevice, lines: LineMap, file: str, base: Path, chain: tuple[str, ...],
                 prefix: tuple[Any, ...]) -> PimDevice:
    ref = device.pim.memory_standard
    line, key = lines.get(("pim", "memory_standard")), _dotted(prefix, "pim", "memory_standard")
    _load("memory", ref, file, line, key, base, chain)
    if not _is_path(ref, base):
        return device
    absolute = os.path.realpath(_locate_reference(ref, base, file, line, key))
    return device.model_copy(update={"pim": device.pim.model_copy(update={"memory_standard": absolute})})


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
