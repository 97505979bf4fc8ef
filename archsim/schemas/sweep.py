"""Sweep descriptions: a base workload + hardware, axes over key paths, derived values, constraints.

A key path names one value of the resolved configuration:
``hw.memory.hbm.bandwidth_bytes_per_s`` (``hw.`` or ``hardware.``), ``workload.phases[0].seq_len``,
``algorithm.attention`` (short for ``workload.algorithm.attention``), or ``backend``.

Axes (all of them together form a cartesian product; inside one axis):

- ``grid``: a mapping path -> list of values; every combination.
- ``zip``: a mapping path -> list of values, all lists of equal length; taken together.
- ``list``: explicit points, each a mapping path -> value.
- ``random``: ``samples`` points drawn with ``seed`` (numpy PCG64), each parameter uniform in
  ``[low, high]`` (log-uniform with ``log: true``, rounded with ``integer: true``) or one of
  ``choices``.

``derive`` sets paths from expressions of other paths after the axes are applied (e.g. the
peak FLOP/s of an array from its PE count); ``constraints`` are expressions that must hold, or
the point is dropped (and reported). Expressions are arithmetic over key paths, numbers and
``min max abs sqrt log2 log10 ceil floor int float round``; nothing else is evaluated.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from archsim.schemas.base import PositiveInt, StrictModel

#: Roots a key path may start with, and where they point.
PATH_ROOTS = ("hw", "hardware", "workload", "dataflow", "backend", "serving")


def _check_expr(text: str) -> str:
    from archsim.sweep.expr import parse_expression

    parse_expression(text)  # raises ValueError naming the problem
    return text


def _check_path(path: str) -> str:
    from archsim.sweep.paths import parse_path

    parse_path(path)
    return path


class GridAxis(StrictModel):
    grid: dict[str, list[Any]] = Field(description="path -> values; every combination")

    @field_validator("grid")
    @classmethod
    def _paths(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in value.items():
            _check_path(path)
            if not values:
                raise ValueError(f"{path}: needs at least one value")
        return value


class ZipAxis(StrictModel):
    zip: dict[str, list[Any]] = Field(description="path -> values; lists of equal length taken together")

    @field_validator("zip")
    @classmethod
    def _same_length(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        lengths = {path: len(values) for path, values in value.items()}
        for path in value:
            _check_path(path)
        if len(set(lengths.values())) > 1:
            raise ValueError("zip lists must have equal lengths; got "
                             + ", ".join(f"{p}: {n}" for p, n in lengths.items()))
        if any(n == 0 for n in lengths.values()):
            raise ValueError("zip lists need at least one value")
        return value


class ListAxis(StrictModel):
    points: list[dict[str, Any]] = Field(alias="list", description="explicit points, each path -> value")

    @field_validator("points")
    @classmethod
    def _paths(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not value:
            raise ValueError("list needs at least one point")
        for point in value:
            for path in point:
                _check_path(path)
        return value


class RandomParam(StrictModel):
    """One randomly drawn parameter: uniform in [low, high] (log-uniform if ``log``), or ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> RandomParam:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise PydanticCustomError("cross_field", "give either 'choices' or 'low'/'high', not both",
                                          {"key": "choices"})
            if not self.choices:
                raise PydanticCustomError("cross_field", "choices needs at least one value", {"key": "choices"})
            return self
        if self.low is None or self.high is None:
            raise PydanticCustomError("cross_field", "give 'low' and 'high' (or 'choices')", {"key": "low"})
        if self.high < self.low:
            raise PydanticCustomError("cross_field", "high {high} is below low {low}",
                                      {"key": "high", "high": self.high, "low": self.low})
        if self.log and self.low <= 0:
            raise PydanticCustomError("cross_field", "log sampling needs low > 0", {"key": "low"})
        return self


class RandomSpec(StrictModel):
    samples: PositiveInt
    seed: int = 0
    params: dict[str, RandomParam]

    @field_validator("params")
    @classmethod
    def _paths(cls, value: dict[str, RandomParam]) -> dict[str, RandomParam]:
        for path in value:
            _check_path(path)
        return value


class RandomAxis(StrictModel):
    random: RandomSpec


def _axis_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = [k for k in ("grid", "zip", "list", "random") if k in value]
        return keys[0] if len(keys) == 1 else None
    for tag, cls in (("grid", GridAxis), ("zip", ZipAxis), ("list", ListAxis), ("random", RandomAxis)):
        if isinstance(value, cls):
            return tag
    return None


Axis = Annotated[
    Annotated[GridAxis, Tag("grid")] | Annotated[ZipAxis, Tag("zip")] | Annotated[ListAxis, Tag("list")]
    | Annotated[RandomAxis, Tag("random")],
    Discriminator(_axis_tag, custom_error_type="axis_kind",
                  custom_error_message="an axis is a mapping with exactly one of: grid, zip, list, random"),
]


class Constraint(StrictModel):
    expr: str = Field(description="must be true for a point to run, e.g. 'hw.accelerator.pe_rows <= 256'")
    name: str = ""

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        return _check_expr(value)


class ServingBase(StrictModel):
    """A serving scenario per point (:func:`archsim.serving.scenario.serve`); sweep it as ``serving.load_qps``,
    ``serving.scheduler`` ... Lengths: ``fixed:N``, ``uniform:LOW:HIGH``, ``lognormal:MEDIAN:SIGMA``."""

    load_qps: float = Field(gt=0, le=1e6)
    duration_s: float = Field(gt=0, le=86_400)
    scheduler: str = "continuous"
    placement: str = Field("gpu", description="per-operator device choice (archsim.serving.placement: gpu, ...)")
    seed: int = Field(0, ge=0)
    prompt: str = "lognormal:1024:0.6"
    output: str = "lognormal:128:0.6"
    slo: dict[Literal["ttft_ms", "tbt_ms"], float] | None = None
    usd_per_hour: float | None = Field(None, ge=0, le=1e3)
    options: dict[str, Any] = Field(default_factory=dict, description="scheduler options (token_budget, ...)")


class SweepBase(StrictModel):
    """The configuration every point starts from: preset names / YAML paths, or inline mappings."""

    workload: str | dict[str, Any]
    hardware: str | dict[str, Any]
    backend: str = "auto"
    serving: ServingBase | None = Field(None, description="run each point as a serving scenario")


class Sweep(StrictModel):
    kind: Literal["sweep"] = "sweep"
    name: str
    description: str = ""
    base: SweepBase
    axes: list[Axis] = Field(min_length=1)
    derive: dict[str, str] = Field(default_factory=dict, description="path -> expression, applied in order")
    constraints: list[Constraint] = Field(default_factory=list)

    @field_validator("derive")
    @classmethod
    def _derive(cls, value: dict[str, str]) -> dict[str, str]:
        for path, expr in value.items():
            _check_path(path)
            _check_expr(expr)
        return value

    @field_validator("constraints", mode="before")
    @classmethod
    def _plain_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"expr": v} if isinstance(v, str) else v for v in value]
        return value
