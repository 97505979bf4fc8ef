"""``archsim reproduce NAME``: regenerate one paper study or validation report (``--list``: all)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archsim.cli import flags


def reproduce(
    name: Annotated[str | None, typer.Argument(help="study name (see --list)")] = None,
    out: Annotated[Path, typer.Option("--out", help="reports folder: the study writes into OUT/<its folder>/ "
                                      "(files are rewritten one by one; nothing else is removed)",
                                      callback=flags.output_dir)] = Path("reports"),
    list_: Annotated[bool, typer.Option("--list", help="list the studies and exit")] = False,
) -> None:
    """Recompute a study's numbers from the models and committed measurements and write its files."""
    from archsim.errors import ConfigError
    from archsim.studies import STUDIES, study
    from archsim.textsafe import for_terminal

    if list_:
        for s in STUDIES.values():
            typer.echo(f"{s.name:16} {s.description}  -> {s.folder}/")
        return
    if name is None:
        raise ConfigError.single(f"name a study; valid: {', '.join(sorted(STUDIES))} (or --list)", key_path="name")
    chosen = study(name)
    for path in chosen.run(out):
        typer.echo(f"wrote {for_terminal(str(path))}")


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
