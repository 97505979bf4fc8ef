"""Schema behaviour: units at the edge, unknown keys, cross-field rules, error locations."""

from pathlib import Path

import pytest

from archsim import presets
from archsim.errors import ConfigError
from archsim.yamlio import load_yaml_text

BAD = Path(__file__).parent.parent / "data" / "bad"


def load_text(kind: str, text: str, tmp_path: Path):
    path = tmp_path / "in.yaml"
    path.write_text(text)
    return presets.load(kind, str(path))


def test_human_units_become_si(tmp_path):
    hw = presets.load_hardware("h100-sxm")
    assert hw.memory["hbm"].bandwidth_bytes_per_s == pytest.approx(3.35e12)
    assert hw.memory["l2"].capacity_bytes == 50 * 2**20
    assert hw.clock_hz == pytest.approx(1.98e9)
    assert hw.compute.matrix_flops_per_s["bf16"] == pytest.approx(989.4e12)


@pytest.mark.parametrize(
    ("name", "line", "key", "fragment"),
    [
        ("malformed.yaml", 7, None, "malformed YAML"),
        ("unknown_key.yaml", 7, "phases[0].seq_lenght", "valid keys: batch, phase, seq_len"),
        ("wrong_unit.yaml", 11, "memory.hbm.bandwidth_bytes_per_s", "not a bandwidth"),
        ("negative_size.yaml", 6, "phases[0].batch", "greater than 0"),
        ("unknown_preset.yaml", 3, "model", "unknown models preset 'llama-9-7b'"),
        ("bad_head_dim.yaml", 6, "num_heads", "not divisible by num_heads"),
        ("bad_gqa.yaml", 9, "layers[0].kv_heads", "does not divide heads"),
        ("bad_inline_model_gqa.yaml", 9, "model.num_kv_heads", "does not divide num_heads"),
    ],
)
def test_bad_files_name_file_line_key(name, line, key, fragment):
    path = BAD / name
    from archsim.cli.commands.validate import validate_file

    with pytest.raises(ConfigError) as info:
        validate_file(path)
    problems = info.value.problems
    assert len(problems) == 1, problems
    p = problems[0]
    assert p.file == str(path)
    assert p.line == line
    assert p.key_path == key
    assert fragment in p.message


def test_all_unknown_keys_reported_at_once(tmp_path):
    text = ("kind: workload\nname: x\nmodel: gpt2-small\nfoo: 1\nbar: 2\n"
            "phases:\n  - {phase: prefill, batch: 1, seq_len: 8}\n")
    with pytest.raises(ConfigError) as info:
        load_text("workloads", text, tmp_path)
    keys = sorted(p.key_path for p in info.value.problems)
    assert keys == ["bar", "foo"]
    assert {p.line for p in info.value.problems} == {4, 5}


def test_duplicate_keys_rejected():
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        load_yaml_text("kind: workload\nname: a\nname: b\n", "dup.yaml")


def test_empty_and_non_mapping_files():
    with pytest.raises(ConfigError, match="empty"):
        load_yaml_text("", "e.yaml")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml_text("- 1\n- 2\n", "l.yaml")


def test_physical_limit_guard(tmp_path):
    text = Path(presets.preset_path("hardware", "h100-sxm")).read_text().replace(
        "bandwidth_bytes_per_s: 3.35 TB/s", "bandwidth_bytes_per_s: 3350 PB/s")
    with pytest.raises(ConfigError, match="beyond known silicon"):
        load_text("hardware", text, tmp_path)


def test_decode_phase_on_encoder_rejected(tmp_path):
    text = "kind: workload\nname: x\nmodel: bert-base\nphases:\n  - {phase: decode, batch: 1, context_len: 8}\n"
    with pytest.raises(ConfigError, match="no decode phase") as info:
        load_text("workloads", text, tmp_path)
    assert info.value.problems[0].key_path == "phases[0]"


def test_model_or_layers_exactly_one(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of 'model' or 'layers'"):
        load_text("workloads", "kind: workload\nname: x\n", tmp_path)


def test_seq_len_beyond_model_context(tmp_path):
    text = "kind: workload\nname: x\nmodel: gpt2-small\nphases:\n  - {phase: prefill, batch: 1, seq_len: 4096}\n"
    with pytest.raises(ConfigError, match="max_seq_len 1024"):
        load_text("workloads", text, tmp_path)
