"""The ``archsim`` command line. ``archsim --help`` is the map of the tool.

Each sub-command lives in its own module under ``archsim.cli.commands`` and exposes
``register(app)``; modules are discovered, so adding a command touches no shared file.
User-input errors (:class:`~archsim.errors.ConfigError`) print one line per problem and exit 2.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from archsim.errors import ConfigError, PhysicalLimitError

app = typer.Typer(
    name="archsim",
    help="Hardware simulation and accelerator co-design for attention workloads on GPU, FPGA, PIM and mixed systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    from archsim.cli import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"archsim.cli.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is None:
            raise RuntimeError(f"archsim.cli.commands.{info.name} has no register(app)")
        register(app)


_register_commands()


_CLICK_ERRORS = {"UsageError", "NoSuchOption", "BadParameter", "MissingParameter", "BadOptionUsage",
                 "BadArgumentUsage", "ClickException", "FileError", "NoArgsIsHelpError"}


def report_config_error(exc: ConfigError) -> None:
    """Print every problem of ``exc`` to stderr (one per line)."""
    from archsim.textsafe import clean  # names and keys come from user files: no escapes reach the terminal

    for problem in exc.problems:
        print(f"error: {clean(str(problem))}", file=sys.stderr)


def main() -> None:
    """Entry point: run the app, turning bad input into exit code 2 without a traceback."""
    try:
        code = app(standalone_mode=False)
    except ConfigError as exc:
        report_config_error(exc)
        sys.exit(2)
    except PhysicalLimitError as exc:  # a result above its device's peak, or non-finite: refused, not reported
        from archsim.textsafe import clean

        print(f"error: physical limit: {clean(str(exc))}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        # click's usage errors (typer may vendor click) carry .show() and their own exit code (2)
        if type(exc).__name__ in _CLICK_ERRORS and hasattr(exc, "show"):
            exc.show()
            sys.exit(getattr(exc, "exit_code", 2))
        raise
    sys.exit(code if isinstance(code, int) else 0)
