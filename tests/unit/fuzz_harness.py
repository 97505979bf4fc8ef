"""Mutation fuzzing of archsim's YAML inputs through the real CLI (shared by test_fuzz and the benchmark).

A case starts from one shipped file (every preset under ``archsim/presets/`` and every workload and
sweep under ``workloads/``), mutates either its YAML *text* (deletions, insertions of hostile
snippets, line swaps, boundary numbers), its parsed *structure* (values replaced by wrong types, boundary numbers and
hostile references; keys deleted or added) or only its *numbers* (a few scaled by 1e-3 .. 1e9: valid
looking but extreme inputs that reach the models), writes the result to a fresh
folder and runs the commands a user would: ``archsim validate FILE`` always; ``archsim run`` for a
workload (the file), a device (``--hw FILE`` with a small workload) or a model (a small workload
beside it naming it). Commands run in-process through :func:`archsim.cli.main` under a per-case
deadline (SIGALRM), with a fresh ``--out``.

Each command must end in exit 0, or exit 2 with every stderr line an ``error: ...`` message; no
exception may escape ``main`` (a traceback), no command may pass the deadline (a hang), and no output
file may hold a non-finite number. ``validate`` judges the file alone, so its refusals must name a
file and line (verdict ``no-line`` otherwise); ``run`` may also refuse a combination of valid files
(a device without a memory level the backend needs, a prediction above the device's peak), whose
message names what is wrong but has no one line to point at (verdict ``refused-run``). Systems are
only validated (``archsim run`` simulates one device; ``archsim offload`` serves systems).
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import signal
import sys
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((ROOT / "archsim" / "presets").rglob("*.yaml")) + sorted((ROOT / "workloads").rglob("*.yaml"))

SMALL_WORKLOAD = """\
kind: workload
name: fuzz-small
dtype: bf16
layers:
  - {op: gemm, name: proj, m: 256, n: 256, k: 256}
  - {op: attention, name: attn, batch: 1, heads: 4, kv_heads: 2, seq_q: 128, seq_kv: 128, head_dim: 64,
     causal: true}
"""
MODEL_WORKLOAD = """\
kind: workload
name: fuzz-model
model: {model}
phases:
  - {{phase: prefill, batch: 1, seq_len: 64}}
"""

# Snippets a hostile or careless user writes; inserted into the text at random places.
HOSTILE_SNIPPETS = [
    "\x00", "\x07", "\x1b[31m", "\t", "\ufeff", "\u202e", "&a ", "*a", "*missing", "&x [*x]", "!!python/name:os.system",
    "!!python/object/apply:os.system ['true']", "!!binary aGk=", "!foo ", "? [a, b]\n: 1\n", "<<: *a", "[" * 200,
    "{" * 50, "9" * 400, "-" * 3, ":", ": ", "- ", "'", '"', "#", "|", ">", "%YAML 1.1\n---\n", "---\n", "...\n",
    "1e400", ".nan", ".inf", "-.inf", "0x7fffffffffffffffff", "1_000_000", "2026-13-45", "~", "null", "yes", "on",
    "../../etc/passwd", "/etc/shadow", "/dev/zero", "\u00e9\u4e2d", " " * 1000, "\n" * 50,
]
# Values the structure mutator puts in place of an existing value.
BOUNDARY_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2**31, 2**63, 10**30, 10**400, 0.0, -0.5, 1e-300, 1e308, float("inf"), float("nan"),
    "", "x", "x" * 5000, "0 B", "-1 GB", "1 PB", "1e400 GB", "3.35 TB/s", "1.98 GHz", "80 GiB", "700 W", "1 nJ",
    "9" * 400 + " GB", [], {}, [1, 2, 3], {"a": 1}, [[[[[]]]]], "h100-sxm", "llama-2-7b", "hbm3", "gpt2-small",
    "lamina-h100-h20", "../x.yaml", "/etc/passwd", "/dev/zero", "sub/none.yaml", "[/bogus]", "\x1b[2J",
    "=HYPERLINK(\"http://x\")", "10**10**10 > 0", "'a' * 10**10", "naive", "flash", "decode", "prefill",
]
#: Verdicts that are a clean end: success, or a refusal in the documented form.
CLEAN = ("ok", "refused", "refused-run")
STDERR_LINE = re.compile(r"^error: ")
FILE_LINE = re.compile(r"^error: [^:\n]+:\d+: ")
NON_FINITE_CSV = re.compile(r"(?i)(?:^|,)\s*[-+]?(?:nan|inf|infinity)\s*(?:,|$)")


class Deadline(BaseException):  # noqa: N818 - a BaseException so that no `except Exception` swallows it
    """The per-command deadline passed."""


@dataclass
class Case:
    source: str
    mode: str  # "text" | "structure"
    text: str


@dataclass
class Outcome:
    """What one command did: ``verdict`` is one of :data:`CLEAN` or a failure (traceback, hang, bad-exit,
    no-line, non-finite)."""

    command: list[str]
    verdict: str
    code: int | None = None
    detail: str = ""


@dataclass
class Tally:
    verdicts: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[Case, Outcome]] = field(default_factory=list)

    def add(self, case: Case, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            self.verdicts[o.verdict] += 1
            self.codes[str(o.code)] += 1
            if o.verdict not in CLEAN:
                self.failures.append((case, o))


# --- mutation -------------------------------------------------------------------------------------

def _mutate_text(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        lines = text.split("\n")
        op = rng.randrange(6)
        if op == 0 and text:  # delete a span
            i = rng.randrange(len(text))
            text = text[:i] + text[i + rng.randint(1, 40):]
        elif op == 1:  # insert a hostile snippet
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice(HOSTILE_SNIPPETS) + text[i:]
        elif op == 2 and len(lines) > 1:  # swap two lines
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        elif op == 3:  # duplicate a line (duplicate keys, repeated list items)
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif op == 4:  # replace a number with a boundary number
            numbers = list(re.finditer(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text))
            if numbers:
                m = rng.choice(numbers)
                text = text[:m.start()] + rng.choice(["0", "-1", "1e400", "9" * 400, ".nan", "2e-400", "1e19",
                                                       "0.0000001", "true"]) + text[m.end():]
        else:  # change the indentation of a line
            i = rng.randrange(len(lines))
            lines[i] = " " * rng.choice([0, 1, 3, 8]) + lines[i].lstrip()
            text = "\n".join(lines)
    return text


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _mutate_structure(data: Any, rng: random.Random) -> Any:
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        op = rng.randrange(5)
        if op <= 1:  # replace the value
            parent[last] = rng.choice(BOUNDARY_VALUES)
        elif op == 2 and isinstance(parent, dict):  # delete the key
            del parent[last]
        elif op == 2 and isinstance(parent, list) and len(parent) > 0:
            del parent[last]
        elif op == 3 and isinstance(parent, dict):  # add an unknown (or misspelt) key
            parent[rng.choice(["extra", str(last) + "s", "kind", "family", "model", "preset"])] = rng.choice(
                BOUNDARY_VALUES)
        elif op == 3 and isinstance(parent, list):  # repeat an entry
            parent.insert(last, parent[last])
        else:  # scale a number
            value = parent[last]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                parent[last] = value * rng.choice([-1, 0, 10**6, 10**12, 1e-9])
            else:
                parent[last] = rng.choice(BOUNDARY_VALUES)
    return data


def _scale_numbers(data: Any, rng: random.Random) -> Any:
    """Valid-looking but extreme inputs: 1-3 numbers scaled (integers stay whole and >= 1)."""
    numeric = [p for p in _paths(data) if p and _is_number(_get(data, p))]
    for path in rng.sample(numeric, min(len(numeric), rng.randint(1, 3))):
        parent = _get(data, path[:-1])
        value, factor = parent[path[-1]], rng.choice([0.001, 0.1, 0.5, 2, 3, 10, 1000, 10**6, 10**9])
        parent[path[-1]] = max(1, int(value * factor)) if isinstance(value, int) else value * factor
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def make_case(rng: random.Random) -> Case:
    """One mutated input, chosen and mutated by ``rng`` (deterministic for a seeded Random)."""
    source = rng.choice(CORPUS)
    text = source.read_text()
    mode = rng.choices(["text", "structure", "numbers"], weights=[4, 3, 3])[0]
    if mode == "text":
        return Case(str(source.relative_to(ROOT)), "text", _mutate_text(text, rng))
    if mode == "numbers":
        return Case(str(source.relative_to(ROOT)), "numbers",
                    yaml.safe_dump(_scale_numbers(yaml.safe_load(text), rng), sort_keys=False, allow_unicode=True))
    data = _mutate_structure(yaml.safe_load(text), rng)
    try:
        mutated = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, RecursionError, ValueError):
        mutated = _mutate_text(text, rng)
    return Case(str(source.relative_to(ROOT)), "structure", mutated)


# --- running --------------------------------------------------------------------------------------

def run_cli(args: list[str], deadline_s: float) -> tuple[int | None, str, str]:
    """Run ``archsim ARGS`` in-process. Returns (exit code or None, stderr, traceback text or "").

    Raises Deadline when the command passes ``deadline_s``."""
    from archsim.cli import main

    def _alarm(signum: int, frame: Any) -> None:
        raise Deadline()

    old_argv, previous = sys.argv, signal.signal(signal.SIGALRM, _alarm)
    sys.argv = ["archsim", *args]
    out, err = io.StringIO(), io.StringIO()
    code: int | None = 0
    tb = ""
    signal.setitimer(signal.ITIMER_REAL, deadline_s)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Deadline:
        raise
    except BaseException:  # noqa: BLE001 - anything escaping main is exactly what the fuzzer looks for
        code, tb = None, traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.argv = old_argv
    return code, err.getvalue(), tb


def _non_finite_in(folder: Path) -> str:
    if not folder.exists():
        return ""
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".json":
            def _bad(token: str) -> Any:
                raise ValueError(token)

            try:
                json.loads(path.read_text(), parse_constant=_bad)
            except ValueError as exc:
                return f"{path.name}: {exc}"
        elif path.suffix == ".csv":
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if NON_FINITE_CSV.search(line):
                    return f"{path.name}:{n}: {line[:200]}"
    return ""


def check_command(args: list[str], out: Path | None, deadline_s: float) -> Outcome:
    try:
        code, stderr, tb = run_cli(args, deadline_s)
    except Deadline:
        return Outcome(args, "hang", None, f"passed {deadline_s} s")
    if tb:
        return Outcome(args, "traceback", None, tb[-3000:])
    if code == 0:
        bad = _non_finite_in(out) if out else ""
        return Outcome(args, "non-finite", 0, bad) if bad else Outcome(args, "ok", 0)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if code != 2 or not lines or not all(STDERR_LINE.match(ln) for ln in lines):
        return Outcome(args, "bad-exit", code, stderr[-2000:])
    if not any(FILE_LINE.match(ln) for ln in lines):
        return Outcome(args, "no-line" if args[0] == "validate" else "refused-run", code, stderr[-2000:])
    return Outcome(args, "refused", 2)


def _kind_of(source: str) -> str:
    parts = Path(source).parts
    if parts[0] == "archsim":
        return parts[2]  # archsim/presets/<kind>/x.yaml
    return "sweeps" if "sweeps" in parts else "workloads"


def run_case(case: Case, folder: Path, deadline_s: float = 20.0) -> list[Outcome]:
    """Write ``case`` under ``folder`` (fresh) and run the commands for its kind."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(case.source).name
    target.write_text(case.text, encoding="utf-8", errors="surrogatepass")
    outcomes = [check_command(["validate", str(target)], None, deadline_s)]
    kind, out = _kind_of(case.source), folder / "out"
    if kind == "workloads":
        outcomes.append(check_command(["run", str(target), "--out", str(out), "--no-report"], out, deadline_s))
    elif kind == "hardware" and "family: system" not in (ROOT / case.source).read_text():
        small = folder / "small.yaml"
        small.write_text(SMALL_WORKLOAD)
        outcomes.append(check_command(["run", str(small), "--hw", str(target), "--out", str(out), "--no-report"],
                                      out, deadline_s))
    elif kind == "models":
        wl = folder / "uses-model.yaml"
        wl.write_text(MODEL_WORKLOAD.format(model=target.name))
        outcomes.append(check_command(["run", str(wl), "--out", str(out), "--no-report"], out, deadline_s))
    return outcomes


def describe(tally: Tally, n_cases: int) -> str:
    lines = [f"{n_cases} fuzzed inputs, {sum(tally.verdicts.values())} commands",
             "verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.verdicts.items())),
             "exit codes: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.codes.items()))]
    for case, o in tally.failures[:20]:
        lines.append(f"--- {o.verdict} {case.source} ({case.mode}) {' '.join(o.command[:1])}: "
                     f"{o.detail.strip().splitlines()[-1] if o.detail.strip() else ''}")
    return "\n".join(lines)
