"""Expanding a sweep into points: axes -> assignments -> resolved, validated configurations.

Order is deterministic: axes are combined as a cartesian product in file order (the last axis
varies fastest); inside a ``grid`` the last key varies fastest; ``random`` draws with numpy's
PCG64 from ``seed``. For each point the base configuration is copied, the axis values set,
``derive`` expressions applied, the result validated against the hardware and workload
schemas, and the constraints checked. Outcomes per point:

- ``run``: valid; the engine simulates it.
- ``invalid``: the combination fails schema validation (a bad combination); recorded as a
  failing point with the validation message, never simulated.
- ``dropped``: a constraint is false; reported in ``sweep.json`` and the summary, no row.

The config hash is the SHA-256 of the canonical JSON of the resolved configuration
(workload, hardware, backend), so equal configurations hash equal whatever the spelling.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from archsim import limits, presets
from archsim.errors import ConfigError, Problem
from archsim.schemas.hardware import Hardware
from archsim.schemas.sweep import GridAxis, ListAxis, RandomAxis, Sweep, ZipAxis
from archsim.schemas.workload import Workload
from archsim.sweep.expr import evaluate
from archsim.sweep.paths import PathError, format_path, get_path, parse_path, set_path
from archsim.yamlio import LineMap, load_yaml, problems_from_validation, validate

_HARDWARE = TypeAdapter(Hardware)
_WORKLOAD = TypeAdapter(Workload)


@dataclass
class Point:
    """One point of a sweep. ``inputs`` maps the user's path text to the resolved value."""

    index: int
    inputs: dict[str, Any]
    status: str  # "run" | "invalid" | "dropped"
    config: dict[str, Any] | None = None
    config_hash: str = ""
    reason: str = ""


@dataclass
class Plan:
    sweep: Sweep
    file: str
    input_columns: list[str]
    points: list[Point] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """Hash of every point's index, status and config hash: equal plans, equal fingerprints."""
        h = hashlib.sha256()
        for p in self.points:
            h.update(f"{p.index}:{p.status}:{p.config_hash};".encode())
        return h.hexdigest()[:16]

    def count(self, status: str) -> int:
        return sum(1 for p in self.points if p.status == status)


def config_hash(config: dict[str, Any]) -> str:
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resolve_part(kind: str, ref: str | dict[str, Any], where: str, lines: LineMap, key: tuple[Any, ...]) -> Any:
    base = Path(where).parent  # references resolve relative to the sweep file (archsim.presets)
    if isinstance(ref, str):
        return presets.load(kind, ref, where=where, line=lines.get(key), key=format_path(key), base=base)
    try:
        obj = (_HARDWARE if kind == "hardware" else _WORKLOAD).validate_python(ref)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, ref, lines, where, prefix=key)) from None
    return presets.resolve_refs(kind, obj, lines, where, base, prefix=key)


def base_config(sweep: Sweep, file: str, lines: LineMap) -> dict[str, Any]:
    """The resolved base configuration as plain JSON-like data."""
    hw = _resolve_part("hardware", sweep.base.hardware, file, lines, ("base", "hardware"))
    wl = _resolve_part("workloads", sweep.base.workload, file, lines, ("base", "workload"))
    config = {"workload": wl.model_dump(mode="json"), "hardware": hw.model_dump(mode="json"),
              "backend": sweep.base.backend}
    if sweep.base.serving is not None:  # only then: configurations (and hashes) of other sweeps are unchanged
        config["serving"] = sweep.base.serving.model_dump(mode="json")
    return config


def _axis_points(axis: Any, axis_index: int, sweep_file: str, lines: LineMap) -> list[dict[str, Any]]:
    if isinstance(axis, GridAxis):
        keys = list(axis.grid)
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(axis.grid[k] for k in keys))]
    if isinstance(axis, ZipAxis):
        keys = list(axis.zip)
        return [dict(zip(keys, combo, strict=True)) for combo in zip(*(axis.zip[k] for k in keys), strict=True)]
    if isinstance(axis, ListAxis):
        return [dict(p) for p in axis.points]
    assert isinstance(axis, RandomAxis)
    spec = axis.random
    rng = np.random.Generator(np.random.PCG64(spec.seed))
    points: list[dict[str, Any]] = [{} for _ in range(spec.samples)]
    for key, param in spec.params.items():  # one column at a time: adding a key keeps the others' draws
        if param.choices is not None:
            picks = rng.integers(0, len(param.choices), size=spec.samples)
            column = [param.choices[int(i)] for i in picks]
        else:
            lo, hi = float(param.low), float(param.high)  # type: ignore[arg-type]
            if param.log:
                raw = np.exp(rng.uniform(np.log(lo), np.log(hi), size=spec.samples))
            else:
                raw = rng.uniform(lo, hi, size=spec.samples)
            column = [int(round(v)) if param.integer else float(v) for v in raw]
        for point, value in zip(points, column, strict=True):
            point[key] = value
    return points


def _validate_config(config: dict[str, Any], base: Path) -> tuple[dict[str, Any], str]:
    """Validate both parts (references resolve in the sweep file's folder ``base``). Returns (config
    with every part that validated in canonical SI form, error message or "")."""
    out = dict(config)
    errors = []
    for part, adapter in (("hardware", _HARDWARE), ("workload", _WORKLOAD)):
        try:
            obj: Any = adapter.validate_python(config[part])
        except ValidationError as exc:
            messages = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)]
            errors.append(f"invalid {part}: " + "; ".join(messages))
            continue
        if part == "workload":
            try:
                obj = presets.resolve_refs("workloads", obj, {}, "<sweep point>", base)
            except ConfigError as exc:
                errors.append("invalid workload: " + "; ".join(f"{p.key_path}: {p.message}" for p in exc.problems))
        out[part] = obj.model_dump(mode="json")
    return out, "; ".join(errors)


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``2.0e12`` (no exponent sign) as a string: take it as the number it spells."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _problem(message: str, file: str, lines: LineMap, key: tuple[Any, ...]) -> Problem:
    line = None
    for cut in range(len(key), -1, -1):
        if key[:cut] in lines:
            line = lines[key[:cut]]
            break
    return Problem(message, file=file, line=line, key_path=format_path(key))


def _prepare(sweep: Sweep, file: str, lines: LineMap) -> tuple[dict[str, Any], list[list[dict[str, Any]]],
                                                                dict[str, tuple[Any, ...]], list[str]]:
    """Size cap, base configuration, each axis's points and every key path checked (all problems at once)."""
    check_size(sweep, file, lines)
    base = base_config(sweep, file, lines)
    per_axis = [_axis_points(axis, i, file, lines) for i, axis in enumerate(sweep.axes)]

    # every path must exist in the base configuration: check once, report all
    problems: list[Problem] = []
    parsed: dict[str, tuple[Any, ...]] = {}
    axis_paths = [(i, p) for i, pts in enumerate(per_axis) for p in dict.fromkeys(k for pt in pts for k in pt)]
    for i, text in axis_paths + [(None, p) for p in sweep.derive]:
        key = ("axes", i, _axis_kind(sweep.axes[i]), text) if i is not None else ("derive", text)
        try:
            parsed[text] = parse_path(text)
            get_path(base, parsed[text])
        except PathError as exc:
            problems.append(_problem(f"{text}: {exc}", file, lines, key))
    if "serving" in base:  # scheduler and placement names (and the hardware a placement needs), before any point
        from archsim.serving.sweep_point import check_serving

        axes = [(("axes", i, _axis_kind(sweep.axes[i]), t), parsed.get(t), [pt[t] for pt in per_axis[i] if t in pt])
                for i, t in axis_paths]
        problems += check_serving(base, axes, lambda message, key: _problem(message, file, lines, key))
    if problems:
        raise ConfigError(problems)
    input_columns = list(dict.fromkeys([p for _, p in axis_paths] + list(sweep.derive)))
    return base, per_axis, parsed, input_columns


def build_plan(sweep: Sweep, file: str, lines: LineMap) -> Plan:
    """Expand ``sweep`` into points. Raises ConfigError (all problems at once) for bad paths."""
    base, per_axis, parsed, input_columns = _prepare(sweep, file, lines)
    blob = pickle.dumps(base)
    plan = Plan(sweep=sweep, file=file, input_columns=input_columns)
    for index, combo in enumerate(itertools.product(*per_axis)):
        assignment: dict[str, Any] = {}
        for part in combo:
            assignment.update(part)
        plan.points.append(_resolve_point(index, assignment, pickle.loads(blob), sweep, parsed, input_columns,
                                          Path(file).parent))
    return plan


def axis_size(axis: Any) -> int:
    """Points one axis contributes, computed from its lists without building them."""
    if isinstance(axis, GridAxis):
        return math.prod(len(values) for values in axis.grid.values())
    if isinstance(axis, ZipAxis):
        return min((len(values) for values in axis.zip.values()), default=0)
    if isinstance(axis, ListAxis):
        return len(axis.points)
    return int(axis.random.samples)


def check_size(sweep: Sweep, file: str, lines: LineMap) -> int:
    """The sweep's point count; a ConfigError past :data:`archsim.limits.MAX_SWEEP_POINTS` (nothing is built)."""
    sizes = [axis_size(axis) for axis in sweep.axes]
    total = math.prod(sizes)
    if total > limits.MAX_SWEEP_POINTS:
        shown = " x ".join(str(n) for n in sizes)
        raise ConfigError([_problem(f"the sweep has {total} points ({shown}); the limit is "
                                    f"{limits.MAX_SWEEP_POINTS} — split it into several sweeps or sample it "
                                    "with a random axis", file, lines, ("axes",))])
    return total


def _axis_kind(axis: Any) -> str:
    kinds: dict[type, str] = {GridAxis: "grid", ZipAxis: "zip", ListAxis: "list", RandomAxis: "random"}
    return kinds[type(axis)]


def _resolve_point(index: int, assignment: dict[str, Any], config: dict[str, Any], sweep: Sweep,
                   parsed: dict[str, tuple[Any, ...]], input_columns: list[str], base: Path) -> Point:
    for text, value in assignment.items():
        set_path(config, parsed[text], _number(value))
    resolved, error = _validate_config(config, base)
    # derive runs even when the point is invalid before it: quantities that follow a swept parameter
    # (a PE array's peak rate) make the point valid only once they are derived; it is validated again
    if sweep.derive:
        error = ""
        for text, expr in sweep.derive.items():
            try:
                set_path(resolved, parsed[text], evaluate(expr, resolved))
            except (ValueError, ArithmeticError, TypeError) as exc:
                error = f"derive {text}: {exc}"
                break
        if not error:
            resolved, error = _validate_config(resolved, base)
    inputs = {c: get_path(resolved, parsed[c]) for c in input_columns}
    if error:
        return Point(index, inputs, "invalid", None, config_hash(resolved), error)
    for constraint in sweep.constraints:
        try:
            ok = bool(evaluate(constraint.expr, resolved))
        except (ValueError, ArithmeticError, TypeError) as exc:
            return Point(index, inputs, "invalid", None, config_hash(resolved),
                         f"constraint {constraint.name or constraint.expr!r}: {exc}")
        if not ok:
            return Point(index, inputs, "dropped", None, config_hash(resolved),
                         f"constraint {constraint.name or constraint.expr!r} is false")
    return Point(index, inputs, "run", resolved, config_hash(resolved))


def load_sweep(path: str | Path) -> tuple[Sweep, LineMap, str]:
    """Read and validate a sweep YAML file against the schema (paths are checked by build_plan)."""
    data, lines = load_yaml(path)
    return validate(Sweep, data, lines, str(path)), lines, str(path)


def load_plan(path: str | Path) -> Plan:
    sweep, lines, file = load_sweep(path)
    return build_plan(sweep, file, lines)


def check_sweep(sweep: Sweep, lines: LineMap, file: str) -> None:
    """The check of ``archsim validate``: size within the cap, base configs load, every key path exists.

    Points are not built (their outcomes, invalid or dropped, are part of a run): the cost is that of
    the axes, not of their product."""
    _prepare(sweep, file, lines)
