"""Names from user YAML reach the terminal and ops.csv without escapes, markup or formulas."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest
from rich.console import Console
from rich.table import Table

from archsim.api import simulate
from archsim.schemas.workload import Workload
from archsim.textsafe import clean, csv_cell, for_terminal

ESC = "\x1b"


@pytest.mark.parametrize("raw,expected", [
    ("plain name", "plain name"),
    (f"{ESC}[31mred{ESC}[0m", "red"),  # SGR colour
    (f"{ESC}]0;pwned{ESC}\\title", "title"),  # OSC window title, ST-terminated
    (f"{ESC}]8;;http://evil{chr(7)}link{ESC}]8;;{chr(7)}", "link"),  # OSC 8 hyperlink, BEL-terminated
    (f"a{ESC}[2Jb{ESC}[Hc", "abc"),  # clear screen, cursor home
    ("x\x9b31my", "xy"),  # 8-bit CSI
    ("tab\tnew\nline\rcr", "tab new line cr"),
    ("nul\x00bell\x07del\x7f", "nulbelldel"),
    ("abc\u202edcba\u2066x\u2069", "abcdcbax"),  # bidi override and isolate (Trojan Source)
    ("Ünïcødé ok", "Ünïcødé ok"),
])
def test_clean_strips_escapes_and_controls(raw, expected):
    assert clean(raw) == expected


def test_for_terminal_escapes_rich_markup():
    console = Console(file=io.StringIO(), width=80, color_system=None)
    table = Table(title=for_terminal("[/bogus]"))
    table.add_column(for_terminal("[bold]col"))
    table.add_row(for_terminal(f"[link=http://evil]x[/link]{ESC}[31m"))
    console.print(table)  # raw, "[/bogus]" raises rich.errors.MarkupError
    out = console.file.getvalue()
    assert "[/bogus]" in out and "[bold]col" in out and "[link=http://evil]x[/link]" in out
    assert ESC not in out


@pytest.mark.parametrize("raw,expected", [
    ("=HYPERLINK(\"http://evil\",\"x\")", "'=HYPERLINK(\"http://evil\",\"x\")"),
    ("+1", "'+1"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "' =1"), ("\r=1", "' =1"),
    ("qkv_proj", "qkv_proj"), ("a=b", "a=b"),
])
def test_csv_cell_neutralises_formulas(raw, expected):
    assert csv_cell(raw) == expected


def test_csv_cell_leaves_numbers_alone():
    assert csv_cell(-1.5) == -1.5 and csv_cell(3) == 3 and csv_cell(None) is None


def _hostile_result():
    wl = Workload.model_validate({
        "kind": "workload", "name": f"[/bogus]{ESC}[31m",
        "layers": [{"op": "gemm", "name": "=HYPERLINK(\"http://evil\",\"x\")", "m": 256, "n": 256, "k": 256},
                   {"op": "gemm", "name": f"+{ESC}]0;t{chr(7)}g", "m": 256, "n": 256, "k": 256}]})
    return simulate(wl, "h100-sxm")


def test_ops_csv_cells_are_text_not_formulas():
    frame = _hostile_result().to_frame()
    text = frame.to_csv(index=False)
    names = [row["name"] for row in csv.DictReader(io.StringIO(text))]
    assert names == ["'=HYPERLINK(\"http://evil\",\"x\")", "'+g"]
    assert ESC not in text and "\x07" not in text
    for row in csv.DictReader(io.StringIO(text)):  # no cell a spreadsheet would evaluate
        assert not any(v.startswith(("=", "+", "@")) for v in row.values())
        assert "inf" not in row.values() and "nan" not in row.values()


def test_hostile_names_through_the_cli_error_path(tmp_path):
    bad = tmp_path / "hostile.yaml"
    bad.write_text('kind: workload\nname: x\nmodel: gpt2-small\n"\\e[31m[/bogus]\\e]0;pwned\\a": 1\n'
                   "phases:\n  - {phase: prefill, batch: 1, seq_len: 8}\n")
    out = subprocess.run([sys.executable, "-m", "archsim", "validate", str(bad)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, out.stderr
    assert "unknown key" in out.stderr and "[/bogus]" in out.stderr
    assert ESC not in out.stderr and "\x07" not in out.stderr and "Traceback" not in out.stderr


def test_hostile_device_name_through_a_rich_table(tmp_path):
    from archsim import presets

    text = presets.preset_path("hardware", "h100-sxm").read_text().replace(
        "name: h100-sxm", 'name: "[/bogus]\\e[31mred"', 1)
    path = tmp_path / "hostile-hw.yaml"
    path.write_text(text)
    out = subprocess.run([sys.executable, "-m", "archsim", "attention", "--hw", str(path), "--seq-q", "256",
                          "--head-dim", "64", "--heads", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "[/bogus]red" in out.stdout and ESC not in out.stdout


def test_archsim_run_prints_a_hostile_workload_name(tmp_path):
    wl = tmp_path / "w.yaml"
    wl.write_text('kind: workload\nname: "[/bogus]\\e[31m"\nlayers:\n'
                  '  - {op: gemm, name: "=HYPERLINK(1)", m: 256, n: 256, k: 256}\n')
    out = subprocess.run([sys.executable, "-m", "archsim", "run", str(wl), "--out", str(tmp_path / "o[/x]"),
                          "--no-report"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "[/bogus]" in out.stdout and ESC not in out.stdout and "Traceback" not in out.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "o[/x]" / "ops.csv").read_text())))
    assert rows[0]["name"] == "'=HYPERLINK(1)"
