"""Key paths and the closed expression language."""

from __future__ import annotations

import pytest

from archsim.sweep.expr import evaluate, parse_expression
from archsim.sweep.paths import PathError, get_path, parse_path, set_path

CONFIG = {"hardware": {"memory": {"hbm": {"bandwidth_bytes_per_s": 3.35e12, "capacity_bytes": 8e10}},
                       "accelerator": {"pe_rows": 16, "pe_cols": 32}, "cost": None},
          "workload": {"phases": [{"seq_len": 2048}], "algorithm": {"attention": "flash"}},
          "backend": "auto"}


@pytest.mark.parametrize("text, path", [
    ("hw.memory.hbm.bandwidth_bytes_per_s", ("hardware", "memory", "hbm", "bandwidth_bytes_per_s")),
    ("hardware.accelerator.pe_rows", ("hardware", "accelerator", "pe_rows")),
    ("workload.phases[0].seq_len", ("workload", "phases", 0, "seq_len")),
    ("algorithm.attention", ("workload", "algorithm", "attention")),
    ("backend", ("backend",)),
])
def test_parse_path(text, path):
    assert parse_path(text) == path


@pytest.mark.parametrize("text, needle", [
    ("gpu.sm_count", "must start with one of"),
    ("hw..memory", "malformed"),
    ("hw.memory[x]", "malformed"),
    ("backend.name", "no sub-keys"),
    ("", "malformed"),
])
def test_bad_paths(text, needle):
    with pytest.raises(PathError, match=needle):
        parse_path(text)


def test_set_path_never_creates_keys():
    import copy

    config = copy.deepcopy(CONFIG)
    set_path(config, parse_path("hw.memory.hbm.bandwidth_bytes_per_s"), 1e12)
    assert get_path(config, parse_path("hw.memory.hbm.bandwidth_bytes_per_s")) == 1e12
    with pytest.raises(PathError, match="no key 'hbmx'; valid keys: hbm"):
        set_path(config, parse_path("hw.memory.hbmx.bandwidth_bytes_per_s"), 1)
    with pytest.raises(PathError, match="has 1 entries; index \\[3\\] is out of range"):
        set_path(config, parse_path("workload.phases[3].seq_len"), 1)
    with pytest.raises(PathError, match="null"):
        set_path(config, parse_path("hw.cost.capex_usd"), 1)
    with pytest.raises(PathError, match="valid keys: bandwidth_bytes_per_s, capacity_bytes"):
        set_path(config, parse_path("hw.memory.hbm.bandwidth"), 1)


def test_evaluate_arithmetic_and_functions():
    assert evaluate("2 * hw.accelerator.pe_rows * hw.accelerator.pe_cols", CONFIG) == 1024
    assert evaluate("max(hw.accelerator.pe_rows, 20) + log2(hw.accelerator.pe_cols)", CONFIG) == 25.0
    assert evaluate("workload.phases[0].seq_len <= 4096 and algorithm.attention == 'flash'", CONFIG) is True
    assert evaluate("1 < hw.accelerator.pe_rows < 8", CONFIG) is False
    assert evaluate("1 if backend == 'auto' else 2", CONFIG) == 1


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')",
    "hw.accelerator.pe_rows.__class__",  # parses as a path, which then does not exist
    "(lambda: 1)()",
    "[x for x in (1, 2)]",
    "open('/etc/passwd')",
    "hw.accelerator.pe_rows if True else exec('1')",
])
def test_expressions_cannot_run_code(text):
    with pytest.raises((ValueError, PathError)):
        parse_expression(text)
        evaluate(text, CONFIG)


def test_expression_syntax_error_names_it():
    with pytest.raises(ValueError, match="not valid"):
        parse_expression("hw.memory +")
