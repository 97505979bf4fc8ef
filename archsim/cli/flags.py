"""Checks for command-line flags, run by click while it parses (before any command does work).

Every numeric flag of an archsim command has a type and a range (``typer.Option(min=, max=)``,
bounds from :mod:`archsim.limits`); floats must also be finite (click's FloatRange lets NaN
through, so :func:`finite` checks it); a flag with a fixed set of values is a :func:`choice`
(a callback that lists them on a miss); an output path is checked for a writable folder by :func:`output_file` /
:func:`output_dir` before the simulation runs, and an existing output file must be one archsim wrote
(:mod:`archsim.outfile`). A bad flag is a click ``BadParameter``: one line naming the flag, exit code 2,
no traceback, nothing written.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import typer

from archsim import limits


def choice(values: Iterable[str]) -> Callable[[str | None], str | None]:
    """Callback for a str flag that takes one of ``values``; a miss lists them."""
    valid = tuple(values)

    def check(value: str | None) -> str | None:
        if value is not None and value not in valid:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(valid)}")
        return value

    return check


def finite(minimum: float | None = None, maximum: float | None = None, *, above: float | None = None
           ) -> Callable[[float | None], float | None]:
    """Callback for a float flag: finite, ``>= minimum``, ``> above`` and ``<= maximum`` (None skips a bound)."""

    def check(value: float | None) -> float | None:
        if value is None:
            return value
        if not math.isfinite(value):
            raise typer.BadParameter(f"{value} is not a finite number")
        if minimum is not None and value < minimum:
            raise typer.BadParameter(f"{value} is below {minimum:g}")
        if above is not None and value <= above:
            raise typer.BadParameter(f"{value} must be > {above:g}")
        if maximum is not None and value > maximum:
            raise typer.BadParameter(f"{value} is above the limit {maximum:g}")
        return value

    return check


def host_probe(value: str | None) -> str | None:
    """Callback of ``--host-probe``: ``point``, ``row``, or a positive finite number (us per eager ``add_``, at most
    1000: a host 100x slower than the calibration's is not a speed state)."""
    if value is None or value in ("point", "row"):
        return value
    try:
        x = float(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not point, row or a probe in us") from None
    if not (math.isfinite(x) and 0.0 < x <= 1000.0):
        raise typer.BadParameter(f"{value} is not a probe in (0, 1000] us")
    return value


def power_of_two(minimum: int, maximum: int) -> Callable[[int | None], int | None]:
    """Callback for an optional int flag that must be a power of two in [minimum, maximum]."""

    def check(value: int | None) -> int | None:
        if value is None:
            return value
        if value < minimum or value > maximum or value & (value - 1):
            raise typer.BadParameter(f"{value} must be a power of two from {minimum} to {maximum}")
        return value

    return check


def _writable_folder(folder: Path, create: bool) -> None:
    """Raise BadParameter unless ``folder`` is (or, with ``create``, can be made) a writable directory."""
    probe = folder
    while not probe.exists():
        if not create:
            raise typer.BadParameter(f"folder {folder} does not exist")
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise typer.BadParameter(f"{probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise typer.BadParameter(f"folder {probe} is not writable")


def output_file(*, create_parents: bool = True) -> Callable[[Path | None], Path | None]:
    """Callback for a flag naming a file archsim will write: its folder must be writable (or creatable), and an
    existing file there must be one archsim wrote (:mod:`archsim.outfile`: the writer embeds a marker)."""

    def check(value: Path | None) -> Path | None:
        if value is None:
            return value
        from archsim.outfile import refusal

        path = Path(value).expanduser()
        why = refusal(path)  # a folder, a device, or a file archsim did not write: never replaced
        if why is not None:
            raise typer.BadParameter(why)
        _writable_folder(path.resolve().parent, create_parents)
        return value

    return check


def output_dir(value: Path | None) -> Path | None:
    """Callback for a flag naming a folder archsim writes files into: writable, or creatable."""
    if value is None:
        return value
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} exists and is not a folder")
    _writable_folder(path.absolute(), create=True)
    return value


# Ranges shared by several commands (limits.py says why each bound is what it is).
BATCH = {"min": 1, "max": limits.MAX_BATCH}
HEADS = {"min": 1, "max": limits.MAX_HEADS}
SEQ = {"min": 1, "max": limits.MAX_SEQ_LEN}
DIM = {"min": 1, "max": limits.MAX_DIM}
COUNT = {"min": 1, "max": limits.MAX_COUNT}
#: Triton tile edges: powers of two (tl.arange needs them), 16 (the smallest tl.dot tile) to 1024.
BLOCK = power_of_two(16, 1024)
#: Triton num_warps: a power of two, at most 32 (1024 threads per CTA on every CUDA GPU).
WARPS = power_of_two(1, 32)
#: Software-pipeline stages (Triton num_stages): 1 to 8 (shipped configs use 2-5).
STAGES = {"min": 1, "max": 8}
