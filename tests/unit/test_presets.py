"""Every shipped preset loads and is physically sane (sources per line: test_preset_provenance.py)."""

import pytest

from archsim import presets
from archsim.errors import ConfigError
from archsim.schemas.hardware import DeviceBase, SystemSpec

ALL = [(kind, name) for kind in presets.KINDS for name in presets.preset_names(kind)]

REQUIRED = {
    "hardware": {"h100-sxm", "h200", "a100-sxm"},
    "models": {"gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl", "gpt3-small", "gpt3-medium", "gpt3-large",
               "gpt3-xl", "gpt3-2.7b", "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b", "llama-3-70b",
               "opt-30b", "bert-base", "vit-b16", "m3vit"},
}


@pytest.mark.parametrize(("kind", "name"), ALL, ids=[f"{k}/{n}" for k, n in ALL])
def test_preset_loads(kind, name):
    obj = presets.load(kind, name)
    assert obj.name == name


@pytest.mark.parametrize("kind", sorted(REQUIRED))
def test_required_presets_shipped(kind):
    assert REQUIRED[kind] <= set(presets.preset_names(kind))


@pytest.mark.parametrize("name", presets.preset_names("hardware"))
def test_hardware_levels_ordered_offchip_first(name):
    hw = presets.load_hardware(name)
    if isinstance(hw, SystemSpec):
        return
    assert isinstance(hw, DeviceBase)
    caps = [lvl.capacity_bytes * lvl.instances for lvl in hw.memory.values()]
    assert caps == sorted(caps, reverse=True), f"{name}: levels must go from off-chip (largest) inward"


def test_unknown_preset_lists_valid_names():
    with pytest.raises(ConfigError) as info:
        presets.load_hardware("h100-pcie-typo")
    msg = str(info.value)
    assert "unknown hardware preset" in msg and "h100-sxm" in msg


@pytest.mark.parametrize(
    ("model", "billions"),
    [("gpt2-small", 0.124), ("gpt2-xl", 1.56), ("gpt3-xl", 1.3), ("llama-2-7b", 6.6), ("llama-2-70b", 68.7),
     ("llama-3-8b", 7.5), ("opt-30b", 30.0), ("bert-base", 0.11)],
)
def test_parameter_counts_match_published_sizes(model, billions):
    """Parameter counts from the preset shapes land within 5% of the published size (embeddings once)."""
    assert presets.load_model(model).parameter_count() / 1e9 == pytest.approx(billions, rel=0.05)
