"""Single-file outputs (compare --plot/--svg/--json/--markdown, predict --timeline, microbench dram
--command-trace, stack --json) never replace a file archsim did not write, and replace their own.

The commands run in-process through ``archsim.cli.main`` (the console-script entry point with its
exit-code handling), on the committed H200 validation CSV and small DRAM patterns.
"""

from __future__ import annotations

import json
import sys

import pytest

from archsim import outfile
from archsim.cli import main
from archsim.data import MEASUREMENTS_DIR
from archsim.errors import ConfigError

CSV = str(MEASUREMENTS_DIR / "h200" / "h200-validation-2026-11-23.csv")
COMPARE = ["compare", CSV, "--hw", "h200", "--rows", "none"]
# (argv before the output flag, the flag, the file name); compare always writes a plot, so it gets one
CASES = [
    (COMPARE + ["--plot", "p.html"], "--svg", "p.svg"),
    (COMPARE + ["--plot", "p.html"], "--json", "c.json"),
    (COMPARE + ["--plot", "p.html"], "--markdown", "c.md"),
    (COMPARE, "--plot", "user.html"),
    (["predict", "gemm", "--m", "512", "--n", "512", "--k", "512"], "--timeline", "t.json"),
    (["predict", "attention", "--seq-q", "256", "--events"], "--timeline", "t.json"),
    (["microbench", "dram", "--bytes", "64 KiB"], "--command-trace", "cmd.json"),
]
USER = b'{"mine": true, "archsim": {"version": "0.1.0", "kind": "not first"}}\n'  # marker not at the start


def _run(monkeypatch, capsys, argv: list[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["archsim", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.err + captured.out


def _ids(cases):
    return [f"{c[0][0]}-{c[1]}" for c in cases]


@pytest.mark.parametrize("argv,flag,name", CASES, ids=_ids(CASES))
def test_a_user_file_is_kept_and_the_command_exits_2(tmp_path, monkeypatch, capsys, argv, flag, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_bytes(USER)
    code, text = _run(monkeypatch, capsys, [*argv, flag, name])
    assert code == 2, text
    assert flag in text and name in text and "archsim did not write it" in text, text
    assert "Traceback" not in text
    assert (tmp_path / name).read_bytes() == USER
    assert [p.name for p in tmp_path.iterdir()] == [name]  # refused before any work: nothing else written


@pytest.mark.parametrize("argv,flag,name", CASES, ids=_ids(CASES))
def test_a_second_run_replaces_archsims_own_file(tmp_path, monkeypatch, capsys, argv, flag, name):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        code, text = _run(monkeypatch, capsys, [*argv, flag, name])
        assert code == 0, text
        assert outfile.written_by_archsim(tmp_path / name)
    assert not [p.name for p in tmp_path.iterdir() if ".archsim-tmp." in p.name]  # no temporaries left


def test_json_outputs_keep_their_content_beside_the_marker(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, text = _run(monkeypatch, capsys, [*COMPARE, "--plot", "p.html", "--json", "c.json", "--svg", "p.svg"])
    assert code == 0, text
    doc = json.loads((tmp_path / "c.json").read_text())
    assert list(doc) == ["archsim", "rows", "skipped", "summary"] and doc["archsim"]["kind"] == "compare"
    assert (tmp_path / "p.svg").read_text().startswith("<svg")  # the marker comment sits inside the root element
    code, text = _run(monkeypatch, capsys, ["predict", "gemm", "--timeline", "t.json"])
    trace = json.loads((tmp_path / "t.json").read_text())
    assert code == 0 and trace["metadata"]["archsim"]["kind"] == "predict-timeline" and trace["traceEvents"]


def test_the_default_plot_path_is_checked_too(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    plot = tmp_path / "reports" / "gpu-validation" / "parity-h200.html"
    plot.parent.mkdir(parents=True)
    plot.write_bytes(b"<html>my notes</html>")
    code, text = _run(monkeypatch, capsys, COMPARE)
    assert code == 2 and "--plot" in text and "parity-h200.html" in text, text
    assert plot.read_bytes() == b"<html>my notes</html>"


def test_a_symlink_to_a_user_file_is_refused_and_one_to_archsims_file_is_followed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.json").write_bytes(USER)
    (tmp_path / "link.json").symlink_to("mine.json")
    code, text = _run(monkeypatch, capsys, ["predict", "gemm", "--timeline", "link.json"])
    assert code == 2 and "mine.json" in text and (tmp_path / "mine.json").read_bytes() == USER
    assert _run(monkeypatch, capsys, ["predict", "gemm", "--timeline", "own.json"])[0] == 0
    (tmp_path / "link.json").unlink()
    (tmp_path / "link.json").symlink_to("own.json")
    assert _run(monkeypatch, capsys, ["predict", "gemm", "--timeline", "link.json"])[0] == 0
    assert (tmp_path / "link.json").is_symlink()  # the target was replaced, not the link


def test_devices_and_folders_are_refused(tmp_path, monkeypatch, capsys):
    code, text = _run(monkeypatch, capsys, ["predict", "gemm", "--timeline", "/dev/null"])
    assert code == 2 and "not a regular file" in text, text
    code, text = _run(monkeypatch, capsys, ["predict", "gemm", "--timeline", str(tmp_path)])
    assert code == 2 and "is a folder" in text, text


def test_write_rechecks_just_before_the_rename(tmp_path):
    """A user file that appeared after the flags were checked (during the simulation) still stays."""
    path = tmp_path / "late.json"
    data = json.dumps(outfile.json_doc({"x": 1}, "test")).encode()
    assert outfile.write(path, data, flag="--json") == path and outfile.written_by_archsim(path)
    path.write_bytes(USER)
    with pytest.raises(ConfigError, match="archsim did not write it"):
        outfile.write(path, data, flag="--json")
    assert path.read_bytes() == USER
    with pytest.raises(ValueError, match="marker"):  # a writer that forgets the marker is a bug, caught
        outfile.write(tmp_path / "new.json", b'{"x": 1}', flag="--json")
    assert not (tmp_path / "new.json").exists()


@pytest.mark.parametrize("text,mark", [("<!doctype html>\n<html></html>", outfile.marked_text),
                                       ("| a |\n|---|\n", outfile.marked_text),
                                       ('<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', outfile.marked_svg)])
def test_text_markers_are_found(tmp_path, text, mark):
    path = tmp_path / "f"
    path.write_text(text)
    assert not outfile.written_by_archsim(path)
    path.write_text(mark(text, "test"))
    assert outfile.written_by_archsim(path)
    line_end = "\n" if mark is outfile.marked_text else ""
    assert path.read_text().replace(outfile.comment("test") + line_end, "") == text  # content otherwise unchanged
