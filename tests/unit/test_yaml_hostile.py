"""Hostile and careless YAML: every case is one ``file:line: message`` problem, never a hang or a traceback.

Covers issue 14 items 2-4: the bounded loader (alias bombs, depth, tags, complex keys, control
characters, huge numbers), regular files only (FIFO, /dev/zero, directories, symlink loops),
references that resolve beside the file that names them and never leave its folder tree, content
of a file that fails the kind check never echoed, reference cycles, bounded sweep expressions and
the sweep size cap, strict whole numbers in workloads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from archsim import limits, presets
from archsim.errors import ConfigError
from archsim.sweep.expr import evaluate, parse_expression
from archsim.sweep.plan import load_plan, load_sweep
from archsim.units import BYTES
from archsim.yamlio import load_yaml, load_yaml_text

WORKLOAD = """\
kind: workload
name: w
model: {model}
phases:
  - {{phase: prefill, batch: 1, seq_len: 16}}
"""
MODEL = """\
kind: model
name: tiny
arch: decoder
num_layers: 2
hidden_size: 64
num_heads: 4
ffn_hidden_size: 128
ffn_kind: gelu
norm: layernorm
vocab_size: 100
"""


def _alias_bomb(levels: int = 8) -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels + 1):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        text += f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    return text


def _problem(text: str) -> tuple[str, int | None]:
    with pytest.raises(ConfigError) as info:
        load_yaml_text(text, "in.yaml")
    problem = info.value.problems[0]
    assert problem.file == "in.yaml"
    return problem.message, problem.line


@pytest.mark.parametrize(("text", "line", "words"), [
    (_alias_bomb(), 1, "expands to more than"),
    ("a: 1\nb: 'x\x00'\n", 2, "U+0000"),
    ("a: 1\nb: x\x1b[2J\n", 2, "U+001B"),
    ("a: !!python/name:os.system\n", 1, "not supported"),
    ("a: !!python/object/apply:os.system ['true']\n", 1, "not supported"),
    ("a: !custom 1\n", 1, "not supported"),
    ("a: !!binary aGk=\n", 1, "not supported"),
    ("a: !!set {x, y}\n", 1, "not supported"),
    ("x: 1\n? [a, b]\n: 1\n", 2, "complex keys"),
    ("b: &b {x: 1}\na:\n  <<: *b\n", 3, "merge keys"),
    ("a: &x [*x]\n", 1, "recursive alias"),
    ("a: &x {b: *x}\n", 1, "recursive alias"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", 1, f"deeper than {limits.MAX_YAML_DEPTH}"),
    ("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 100)), 64, "deeper than"),
    ("a: " + "9" * 400 + "\n", 1, "out of range"),
    ("a: " + "9" * 5000 + "\n", 1, "out of range"),
    ("a: 18446744073709551616\n", 1, "out of range"),
    ("a: .inf\n", 1, "non-finite"),
    ("a: .nan\n", 1, "non-finite"),
    ("a: 1" + "0" * 400 + ".0\n", 1, "non-finite"),
    ("a: 1\na: 2\n", 2, "duplicate key"),
    ("a: [1, 2\n", 2, "malformed YAML"),
    ("- 1\n- 2\n", 1, "expected a YAML mapping"),
])
def test_hostile_yaml_is_one_problem_with_a_line(text, line, words):
    message, got_line = _problem(text)
    assert words in message
    assert got_line == line


def test_many_aliases_refused():
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * (limits.MAX_YAML_ALIASES + 1)) + "]\n"
    message, line = _problem(text)
    assert "alias uses" in message and line == 2


def test_dates_stay_text_and_plain_values_load():
    data, lines = load_yaml_text("a: 2026-13-45\nb: [1, 2.5, true, null, x]\nc: {d: 'e'}\n", "in.yaml")
    assert data == {"a": "2026-13-45", "b": [1, 2.5, True, None, "x"], "c": {"d": "e"}}
    assert lines[("c", "d")] == 3


def test_oversized_and_non_utf8_files(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" + b"#" * limits.MAX_YAML_BYTES)
    with pytest.raises(ConfigError, match="larger than"):
        load_yaml(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(latin)
    assert info.value.problems[0].line == 2 and "UTF-8" in info.value.problems[0].message


def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    (tmp_path / "loop1.yaml").symlink_to(tmp_path / "loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to(tmp_path / "loop1.yaml")
    for path, words in [(fifo, "FIFO"), (Path("/dev/zero"), "device"), (tmp_path, "directory"),
                        (tmp_path / "loop1.yaml", "symlink loop"), (tmp_path / "none.yaml", "not found")]:
        with pytest.raises(ConfigError, match=words):
            load_yaml(path)


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archsim", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_cli_refuses_special_files_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "wl.yaml").write_text(WORKLOAD.format(model="fifo.yaml"))
    (tmp_path / "bomb.yaml").write_text("kind: workload\n" + _alias_bomb())
    out = _cli("validate", "wl.yaml", "fifo.yaml", "/dev/zero", "bomb.yaml", ".", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 5 and all(line.startswith("error: ") for line in lines)
    assert lines[0].startswith("error: wl.yaml:3: model: ") and "FIFO" in lines[0]
    assert lines[3].startswith("error: bomb.yaml:")


def test_reference_resolves_beside_the_naming_file(tmp_path):
    (tmp_path / "proj" / "models").mkdir(parents=True)
    (tmp_path / "proj" / "models" / "tiny.yaml").write_text(MODEL)
    (tmp_path / "proj" / "wl.yaml").write_text(WORKLOAD.format(model="models/tiny.yaml"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _cli("run", "../proj/wl.yaml", "--out", "out", "--no-report", cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    workload = presets.load("workloads", str(tmp_path / "proj" / "wl.yaml"))
    assert workload.model.name == "tiny"  # the path was replaced by the model it names


@pytest.mark.parametrize("ref", ["../outside.yaml", "/etc/passwd", "/etc/shadow", "/dev/zero", "link.yaml"])
def test_reference_leaving_the_folder_is_refused(tmp_path, ref):
    (tmp_path / "outside.yaml").write_text(MODEL)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    (proj / "wl.yaml").write_text(WORKLOAD.format(model=ref))
    with pytest.raises(ConfigError) as info:
        presets.load("workloads", str(proj / "wl.yaml"))
    problem = info.value.problems[0]
    assert (problem.file, problem.line, problem.key_path) == (str(proj / "wl.yaml"), 3, "model")
    assert "leaves the folder" in problem.message and "ARCHSIM_PATH" in problem.message


def test_search_path_shares_a_folder(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "tiny.yaml").write_text(MODEL)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "wl.yaml").write_text(WORKLOAD.format(model="tiny.yaml"))
    with pytest.raises(ConfigError, match="not found"):
        presets.load("workloads", str(proj / "wl.yaml"))
    monkeypatch.setenv(presets.SEARCH_PATH_ENV, str(shared))
    assert presets.load("workloads", str(proj / "wl.yaml")).model.name == "tiny"


def test_referenced_file_failing_the_kind_check_is_not_echoed(tmp_path):
    (tmp_path / "notes.yaml").write_text("root: x:0:0:root:/root:/bin/bash\nsecret: hunter2\n")
    (tmp_path / "hw.yaml").write_text("family: gpu\nname: secret-hunter2\n")
    for ref in ("notes.yaml", "hw.yaml"):
        (tmp_path / "wl.yaml").write_text(WORKLOAD.format(model=ref))
        out = _cli("validate", "wl.yaml", cwd=tmp_path)
        assert out.returncode == 2
        assert "not a model file" in out.stderr and "content is not shown" in out.stderr
        assert "hunter2" not in out.stderr and "x:0:0" not in out.stderr


def test_system_referencing_itself_is_a_cycle(tmp_path):
    (tmp_path / "sys.yaml").write_text("family: system\nname: s\ndevices:\n  a: {preset: sys.yaml}\n")
    with pytest.raises(ConfigError) as info:
        presets.load("hardware", str(tmp_path / "sys.yaml"))
    problem = info.value.problems[0]
    assert "reference cycle" in problem.message and problem.line == 4


def test_400_digit_number_in_a_unit_field():
    with pytest.raises(ValueError, match="out of range"):
        BYTES.parse(10**400)
    with pytest.raises(ValueError, match="finite"):
        BYTES.parse("1e400 GB")
    with pytest.raises(ValueError, match="character string"):
        BYTES.parse("9" * 400 + " GB")


@pytest.mark.parametrize("text", [
    "batch: true", "batch: '16'", "batch: 0", f"batch: {limits.MAX_BATCH + 1}", f"seq_len: {10**12}",
])
def test_workload_numbers_are_strict_and_bounded(tmp_path, text):
    key, value = text.split(": ")
    phase = {"batch": "1", "seq_len": "16", key: value}
    (tmp_path / "wl.yaml").write_text("kind: workload\nname: w\nmodel: gpt2-small\nphases:\n"
                                      f"  - {{phase: prefill, batch: {phase['batch']}, seq_len: {phase['seq_len']}}}\n")
    with pytest.raises(ConfigError) as info:
        presets.load("workloads", str(tmp_path / "wl.yaml"))
    assert info.value.problems[0].key_path == f"phases[0].{key}"


def test_empty_layers_refused(tmp_path):
    (tmp_path / "wl.yaml").write_text("kind: workload\nname: w\nlayers: []\n")
    with pytest.raises(ConfigError) as info:
        presets.load("workloads", str(tmp_path / "wl.yaml"))
    assert info.value.problems[0].key_path == "layers"


@pytest.mark.parametrize(("expr", "words"), [
    ("10**10**10 > 0", "not computed"),
    ("'a' * 10**10", "not computed"),
    ("2**200 * 2**200", "not computed"),
    ("1 << 10**10", "operator <<"),
    ("'%999999999d' % 1", "formatting"),
    ("1e308 * 10", "not finite"),
    ("float('nan')", "not finite"),
    ("(-8) ** 0.5", "complex"),
    ("-" * 2000 + "1", "longer than"),
    ("-" * 500 + "1", "nested deeper"),
    ("a\x00", "not valid"),
])
def test_expressions_are_bounded(expr, words):
    with pytest.raises(ValueError, match=words):
        parse_expression(expr)
        evaluate(expr, {"hardware": {}, "workload": {}})


def test_million_point_sweep_refused_before_expansion(tmp_path):
    values = "[" + ", ".join(str(i) for i in range(1, 11)) + "]"
    keys = ["workload.phases[0].batch", "workload.phases[0].seq_len", "workload.phases[1].batch",
            "workload.phases[1].context_len", "workload.phases[1].steps", "hw.clock_hz"]
    grid = "".join(f"      {k}: {values}\n" for k in keys)
    (tmp_path / "s.yaml").write_text("kind: sweep\nname: big\nbase: {workload: llama2-7b-serving, hardware: h100-sxm}\n"
                                     f"axes:\n  - grid:\n{grid}")
    with pytest.raises(ConfigError) as info:
        load_plan(tmp_path / "s.yaml")
    problem = info.value.problems[0]
    assert "1000000 points" in problem.message and str(limits.MAX_SWEEP_POINTS) in problem.message
    assert problem.line == 4
    sweep, _, _ = load_sweep(tmp_path / "s.yaml")  # the schema itself accepts it: the cap is the planner's
    assert sweep.name == "big"


def test_sweep_references_resolve_beside_the_sweep(tmp_path):
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "tiny.yaml").write_text(MODEL)
    (tmp_path / "sweeps" / "s.yaml").write_text(
        "kind: sweep\nname: s\nbase:\n  hardware: h100-sxm\n  workload:\n    kind: workload\n    name: w\n"
        "    model: tiny.yaml\n    phases: [{phase: prefill, batch: 1, seq_len: 16}]\n"
        "axes:\n  - grid:\n      workload.phases[0].batch: [1, 2]\n")
    plan = load_plan(tmp_path / "sweeps" / "s.yaml")
    assert [p.status for p in plan.points] == ["run", "run"]
    (tmp_path / "sweeps" / "s.yaml").write_text(
        (tmp_path / "sweeps" / "s.yaml").read_text().replace("model: tiny.yaml", "model: ../tiny.yaml"))
    with pytest.raises(ConfigError, match="leaves the folder"):
        load_plan(tmp_path / "sweeps" / "s.yaml")
