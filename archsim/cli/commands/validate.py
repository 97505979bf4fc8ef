"""``archsim validate``: check YAML files (hardware, memory standard, model, workload, sweep)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archsim.errors import ConfigError, Problem


def validate_file(path: Path) -> str:
    """Validate one file; returns its kind. Raises ConfigError with every problem found."""
    from archsim import presets
    from archsim.yamlio import load_yaml

    data, lines = load_yaml(path)
    kind = presets.detect_kind(data)
    if kind is None:
        valid = ", ".join(sorted(presets.KIND_OF_DOCUMENT))
        raise ConfigError([Problem(f"cannot tell what this file is: give 'family:' (hardware) or 'kind:' "
                                   f"(one of {valid})", file=str(path), line=1)])
    presets.load(kind, str(path))
    if kind == "sweeps":  # a sweep's key paths, size and base configs are the sweep planner's to check
        from archsim.sweep.plan import check_sweep, load_sweep

        check_sweep(*load_sweep(path))
    return kind


def validate(files: Annotated[list[Path], typer.Argument(help="YAML files to check")]) -> None:
    """Check each FILE against its schema; report every problem with file, line and key (exit 2 on any)."""
    problems: list[Problem] = []
    for path in files:
        try:
            kind = validate_file(path)
            typer.echo(f"ok: {path} ({kind})")
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
