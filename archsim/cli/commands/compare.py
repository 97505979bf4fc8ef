"""``archsim compare MEASURED.csv --hw h100-sxm``: modeled vs measured kernel times; for a power
campaign CSV (``campaigns/power.py``) or a whole-model CSV with NVML energy, board energy parity
beside time parity (``--hw h200``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from archsim import outfile
from archsim.cli import flags


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


# Every file compare writes goes through archsim.outfile: atomic, marked, never over a file archsim did not write.
def _html(path: Path, figure) -> None:
    html = figure.to_html(include_plotlyjs="cdn")  # what write_html(include_plotlyjs="cdn") writes
    outfile.write(path, outfile.marked_text(html, "compare-plot").encode(), flag="--plot")


def _markdown(path: Path, text: str) -> None:
    outfile.write(path, outfile.marked_text(text + "\n", "compare-markdown").encode(), flag="--markdown")
    typer.echo(f"markdown: {path}")


def _json(path: Path, doc: dict, default=None) -> None:
    text = json.dumps(outfile.json_doc(doc, "compare"), indent=1, default=default)
    outfile.write(path, text.encode(), flag="--json")


def compare_cmd(
    measured: Annotated[Path, typer.Argument(help="validation CSV written by `archsim measure` / the campaign",
                                             exists=True, dir_okay=False, readable=True)],
    hw: Annotated[str, typer.Option("--hw", help="GPU preset the model predicts (h100-sxm, h200, ...)")] = "h100-sxm",
    plot: Annotated[Path | None, typer.Option(
        help="plotly HTML parity plot (default reports/gpu-validation/parity-<hw>.html)",
        callback=flags.output_file())] = None,
    svg: Annotated[Path | None, typer.Option(help="also write the parity plot as SVG here",
                                             callback=flags.output_file())] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write rows and summary as JSON here",
                                                  callback=flags.output_file())] = None,
    markdown: Annotated[Path | None, typer.Option(help="write the summary and per-row tables as Markdown here",
                                                  callback=flags.output_file())] = None,
    rows_shown: Annotated[str, typer.Option("--rows", help="all | worst (the 25 largest errors) | none",
                                            callback=flags.choice(("all", "worst", "none")))] = "all",
    calibration: Annotated[str, typer.Option(
        help="whole-model CSVs: own (H200-from-H200, default) | cross (H200-from-H100)",
        callback=flags.choice(("own", "cross")))] = "own",
    host_probe: Annotated[str, typer.Option(
        "--host-probe", help="power campaign CSVs: the host's speed (archsim.gpu.host_speed) — point (the "
        "calibration's two states' geometric mean, default) | row (each row's probe before its window, column "
        "add_before_us; whole-model energy CSVs too) | a number: us per eager add_ of the host that ran them "
        "(host_dispatch.speed_probe)",
        callback=flags.host_probe)] = "point",
) -> None:
    """Print per-row modeled vs measured time and error, then MAPE and max error by kernel family."""
    from archsim.errors import ConfigError
    from archsim.gpu.compare import compare, is_energy_csv, markdown_tables, parity_figure, parity_svg, summarise
    from archsim.gpu.wholemodel import is_whole_model_csv, steps_without_energy
    from archsim.textsafe import clean

    whole_csv = is_whole_model_csv(measured)
    if host_probe != "point" and not is_energy_csv(measured) or (whole_csv and host_probe not in ("point", "row")):
        raise ConfigError.single(f"{host_probe}: a host-speed probe is for a power campaign CSV (column "
                                 "energy_per_step_j; point, row or a probe in us) or a whole-model CSV with energy "
                                 "(point or row)", file=str(measured), key_path="--host-probe")
    if whole_csv:  # whole-model time parity, then its NVML energy parity
        _whole(measured, hw, calibration, plot, markdown, json_out, rows_shown)
        missing = steps_without_energy(measured)
        if missing:
            typer.echo(f"\nenergy parity skipped: {len(missing)} steps have no NVML energy change over their window "
                       f"(counter granularity): {', '.join(missing)}")
        elif is_energy_csv(measured):
            typer.echo("\nboard energy (NVML) parity of the same steps:")
            _energy(measured, hw, None, None, "none", host_probe)
        return
    if is_energy_csv(measured):
        _energy(measured, hw, markdown, json_out, rows_shown, host_probe)
        return
    rows, skipped = compare(measured, hw)
    if not rows:
        raise ConfigError.single(f"{measured}: no successful, modelled rows to compare", file=str(measured))
    shown = rows if rows_shown == "all" else sorted(rows, key=lambda r: -abs(r["error"]))[:25] \
        if rows_shown == "worst" else []
    if shown:
        typer.echo(f"{'family':8} {'impl':15} {'set':8} {'shape':42} {'measured_us':>12} "
                   f"{'modeled_us':>11} {'error':>8}")
    for r in shown:
        row = (f"{r['family']:8} {r['impl']:15} {r['set']:8} {r['shape']:42} {r['measured_s'] * 1e6:12.1f} "
               f"{r['modeled_s'] * 1e6:11.1f} {_pct(r['error']):>8}")
        typer.echo(clean(row))  # CSV cells are user data: no terminal escapes
    summary = summarise(rows)
    typer.echo(f"\nskipped {len(skipped)} rows (failed on device or not modelled)")
    typer.echo(f"{'group':28} {'n':>4} {'MAPE':>7} {'max':>7} {'<=25%':>6}")
    for name, st in [("ALL", summary["all"]), ("ALL p80/p20<=1.5", summary["quiet"])] + \
            [(k, v) for k, v in summary["by_family"].items()] + \
            [(f"set={k}", v) for k, v in summary["by_set"].items()]:
        typer.echo(f"{name:28} {st['n']:4d} {st['mape'] * 100:6.1f}% {st['max'] * 100:6.1f}% "
                   f"{st['within_25pct'] * 100:5.0f}%")
    plot = plot or Path("reports") / "gpu-validation" / f"parity-{hw}.html"
    outfile.check(plot, "--plot")  # the default path too: a file archsim did not write there stays
    title = f"archsim GPU model vs {measured.name} on {hw}: MAPE {summary['all']['mape'] * 100:.1f}%"
    _html(plot, parity_figure(rows, title))
    typer.echo(f"plot: {plot}")
    if svg is not None:
        outfile.write(svg, outfile.marked_svg(parity_svg(rows, title), "compare-svg").encode(), flag="--svg")
        typer.echo(f"svg: {svg}")
    if markdown is not None:
        _markdown(markdown, markdown_tables(rows, skipped, summary))
    if json_out is not None:
        _json(json_out, {"rows": rows, "skipped": skipped, "summary": summary})


def _whole(measured: Path, hw: str, calibration: str, plot: Path | None, markdown: Path | None,
           json_out: Path | None, rows_shown: str) -> None:
    """Whole-model parity: GPU-busy and wall time per step, by stack/host mode and by kernel category."""
    from archsim.gpu import wholemodel_report as rep
    from archsim.gpu.devices import device_calibration
    from archsim.gpu.wholemodel import compare_whole, summarise_whole

    rows = compare_whole(measured, rep.kernels_csv_for(measured), device_calibration(hw, calibration))
    summary = summarise_whole(rows)
    rep.print_rows(rows, summary, typer.echo, rows_shown)
    from archsim.gpu import wholemodel_blind as blind
    rnd = blind.round_of_csv(measured)
    if rnd is not None:  # a blind round: the committed predictions' figures too, labelled
        typer.echo(f"\nblind set ({rnd.name}): the predictions committed before measurement ({rnd.predictions}); "
                   "the table above is the current model")
        brows = blind.compare_blind(device_calibration(hw, calibration), measured, rep.kernels_csv_for(measured), rnd)
        if rows_shown != "none":
            blind.print_rows(brows, typer.echo)
        rep.print_rows([], blind.blind_summary(brows), typer.echo, "none")
    plot = plot or Path("reports") / "whole-model" / f"parity-{hw}-{calibration}.html"
    outfile.check(plot, "--plot")
    title = (f"whole-model parity {measured.name} on {hw} ({calibration}): GPU MAPE "
             f"{summary['groups']['all']['gpu']['mape'] * 100:.1f}%")
    _html(plot, rep.parity_figure(rows, title))
    typer.echo(f"plot: {plot}")
    if markdown is not None:
        _markdown(markdown, rep.markdown(rows, summary))
    if json_out is not None:
        _json(json_out, {"rows": rows, "summary": summary}, default=str)


def _energy(measured: Path, hw: str, markdown: Path | None, json_out: Path | None, rows_shown: str,
            host_probe: str = "point") -> None:
    """Board energy parity (power campaign or whole-model CSV with NVML energy), time parity beside it."""
    from archsim.gpu.compare import energy_markdown, energy_parity

    rows, summary = energy_parity(measured, hw, host_probe)
    if rows_shown != "none":
        shown = rows if rows_shown == "all" else sorted(rows, key=lambda r: -abs(r["energy_error"]))[:25]
        typer.echo(f"{'run':58} {'regime':7} {'meas_J':>9} {'model_J':>9} {'E err':>7} {'meas_W':>6} {'model_W':>7} "
                   f"{'P err':>7} {'t err':>7}")
        for r in shown:
            typer.echo(f"{r['bench'][:58]:58} {r['regime']:7} {r['measured_energy_j']:9.4g} "
                       f"{r['modeled_energy_j']:9.4g} {_pct(r['energy_error']):>7} {r['measured_power_w']:6.0f} "
                       f"{r['modeled_power_w']:7.0f} {_pct(r['power_error']):>7} {_pct(r['time_error']):>7}")
    typer.echo(f"\n{'group':24} {'n':>4} {'E MAPE':>7} {'P MAPE':>7} {'t MAPE':>7} {'max E':>7}")
    groups = [("windows >= 1 s", summary["long_windows"]), ("windows < 1 s", summary["short_windows"])] + \
        [(f"{k}-bound >= 1 s", v) for k, v in summary["by_regime"].items()] + \
        [(f"{k}-bound < 1 s", v) for k, v in summary["short_by_regime"].items()]
    for name, st in groups:
        if st["n"]:
            typer.echo(f"{name:24} {st['n']:4d} {st['energy_mape'] * 100:6.1f}% {st['power_mape'] * 100:6.1f}% "
                       f"{st['time_mape'] * 100:6.1f}% {st['max_energy_error'] * 100:6.1f}%")
    if markdown is not None:
        _markdown(markdown, energy_markdown(rows, summary))
    if json_out is not None:
        _json(json_out, {"rows": rows, "summary": summary})


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_cmd)
