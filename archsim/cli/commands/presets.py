"""``archsim presets``: list shipped presets, or show one with its source comments."""

from __future__ import annotations

from typing import Annotated

import typer


def presets_cmd(
    kind: Annotated[str | None, typer.Argument(help="hardware | memory | models | workloads")] = None,
    name: Annotated[str | None, typer.Argument(help="preset to print (YAML with its source comments)")] = None,
) -> None:
    """List presets by kind, or print one preset's YAML (every number carries its source)."""
    from rich.console import Console
    from rich.table import Table

    from archsim import presets
    from archsim.errors import ConfigError
    from archsim.textsafe import for_terminal

    kinds = list(presets.KINDS)
    if kind is not None and kind not in kinds:
        raise ConfigError.single(f"unknown preset kind {kind!r}; valid: {', '.join(kinds)}", key_path="kind")
    if name is not None:
        assert kind is not None
        if name not in presets.preset_names(kind):
            presets.load(kind, name)  # raises the "unknown preset" error listing valid names
        typer.echo(presets.preset_path(kind, name).read_text())
        return
    console = Console()
    for k in [kind] if kind else kinds:
        table = Table(title=k)
        table.add_column("name")
        table.add_column("description")
        for n in presets.preset_names(k):
            obj = presets.load(k, n)
            table.add_row(for_terminal(n), for_terminal(getattr(obj, "description", "") or getattr(obj, "family", "")))
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("presets")(presets_cmd)
