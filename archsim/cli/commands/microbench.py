"""``archsim microbench``: micro-benchmarks of single components (DRAM, PIM, ...).

Each benchmark is a plugin module in ``archsim.cli.microbench`` exposing ``register(app)``.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

microbench_app = typer.Typer(help="Micro-benchmarks of one component: achieved vs peak, with the reasons.",
                             no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from archsim.cli import microbench

    for info in sorted(pkgutil.iter_modules(microbench.__path__), key=lambda m: m.name):
        importlib.import_module(f"archsim.cli.microbench.{info.name}").register(microbench_app)
    app.add_typer(microbench_app, name="microbench")
