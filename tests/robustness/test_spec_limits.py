"""Spec fields: integers and numbers within stated maxima (int64 and memory stay safe),
booleans refused for numbers, the [grid] and [router] tables required."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.spec import MAX_CORES, MAX_SLOTS, MAXIMA, HardwareSpec, SpecError

BASE = HardwareSpec.preset("mosaic-4x4")
INTS = ("rows", "cols", "neurons_per_core", "bandwidth", "buffer_depth", "cycles_per_hop", "step_cycles",
        "weight_bits")
FLOATS = ("clock_mhz", "dt_us", "e_synaptic_pj", "e_neuron_pj", "e_spike_out_pj", "e_router_pj", "e_static_pj")


def _valid_int(field, v):
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAXIMA[field]:
        return False
    rows = v if field == "rows" else BASE.rows
    cols = v if field == "cols" else BASE.cols
    npc = v if field == "neurons_per_core" else BASE.neurons_per_core
    return rows * cols <= MAX_CORES and rows * cols * npc <= MAX_SLOTS


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(INTS),
       value=st.one_of(st.integers(-2**70, 2**70), st.booleans(), st.floats(allow_nan=True), st.text(max_size=3)))
def test_integer_fields_are_bounded_or_refused(field, value):
    if _valid_int(field, value):
        assert getattr(BASE.replace(**{field: value}), field) == value
    else:
        with pytest.raises(SpecError, match=f"{field}|cores|slots"):
            BASE.replace(**{field: value})


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(FLOATS),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.integers(-10, 10**12)))
def test_number_fields_are_finite_bounded_and_not_booleans(field, value):
    low_ok = value >= 0 if field.startswith("e_") else value > 0
    ok = not isinstance(value, bool) and math.isfinite(value) and low_ok and value <= MAXIMA[field]
    if ok:
        BASE.replace(**{field: value})
    else:
        with pytest.raises(SpecError, match=rf"{field} must be a .* number, got .*; the limit is"):
            BASE.replace(**{field: value})


def test_overflowing_step_cycles_are_refused_with_the_reason():
    for v in (2**62, 2**63 - 1):
        with pytest.raises(SpecError, match=r"step_cycles .* 1\.\.1,000,000,000 \(cycle counts"):
            BASE.replace(step_cycles=v)


def test_energy_that_would_sum_to_infinity_is_refused():
    with pytest.raises(SpecError, match="e_router_pj .* 1e\\+308"):
        BASE.replace(e_router_pj=1e308)


def test_missing_router_table_is_refused(tmp_path):
    p = tmp_path / "chip.toml"
    text = BASE.to_toml()
    a = text.index("[router]")
    b = text.index("[timing]")
    p.write_text(text[:a] + text[b:])
    with pytest.raises(SpecError, match=r"chip.toml: missing table \[router\]"):
        HardwareSpec.from_toml(p)


def test_every_preset_is_within_the_limits():
    for name in HardwareSpec.presets():
        s = HardwareSpec.preset(name)
        assert s.n_cores <= MAX_CORES and s.n_slots <= MAX_SLOTS
