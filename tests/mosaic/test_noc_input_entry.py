"""Where input spikes enter the chip (``HardwareSpec.input_entry``): validated spec field,
the simulator (numba and reference) and the cost model send inputs from the same tiles,
and spreading the inputs removes the single I/O tile's bottleneck."""
import numpy as np
import pytest

from mosaic import HardwareSpec, SpecError, simulate, topology
from mosaic.cost import cost_reference, estimate_cost
from mosaic.generators import random_feedforward
from mosaic.reference import simulate_reference
from mosaic.spec import INPUT_ENTRIES


def test_input_cores_per_entry():
    spec = HardwareSpec.preset("mosaic-4x4").replace(io_core=9)
    assert spec.input_cores(5).tolist() == [9] * 5
    assert spec.replace(input_entry="edge_row").input_cores(6).tolist() == [8, 9, 10, 11, 8, 9]
    assert spec.replace(input_entry="every_tile").input_cores(18).tolist() == list(range(16)) + [0, 1]


def test_field_is_validated_and_round_trips(tmp_path):
    with pytest.raises(SpecError, match="input_entry must be one of"):
        HardwareSpec.preset("mosaic-8x8").replace(input_entry="everywhere")
    for entry in INPUT_ENTRIES:
        spec = HardwareSpec.preset("mesh-8x8").replace(input_entry=entry)
        p = tmp_path / f"{entry}.toml"
        p.write_text(spec.to_toml())
        assert HardwareSpec.from_toml(p) == spec
    for name in HardwareSpec.presets():
        assert HardwareSpec.preset(name).input_entry == "io_core"


@pytest.mark.parametrize("entry", INPUT_ENTRIES)
def test_simulator_and_reference_agree_on_entry_tiles(entry):
    spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8, input_entry=entry, step_cycles=30)
    net = random_feedforward([24, 40, 20], p=0.4, weight_scale=0.5, seed=1)
    rng = np.random.default_rng(1)
    core_of = rng.integers(0, spec.n_cores, net.n_neurons)
    x = rng.random((30, net.n_inputs)) < 0.3
    a, b = simulate(net, spec, core_of, x), simulate_reference(net, spec, core_of, x)
    assert np.array_equal(a.spikes, b.spikes) and a.packets == b.packets
    assert np.array_equal(a.link_load, b.link_load)
    assert np.array_equal(a.step_latency_cycles, b.step_latency_cycles)
    c = estimate_cost(net, spec, core_of, a.rates, a.input_rates, T=30)
    ref = cost_reference(net, spec, core_of, a.rates, a.input_rates, T=30)
    np.testing.assert_allclose(c.link_load, ref["link_load"], atol=1e-9)
    # one step, every input spiking: only input packets (neuron spikes of the last step are
    # never sent), so the tiles whose output links carry load are the inputs' entry tiles
    one = simulate(net, spec, core_of, np.ones((1, net.n_inputs), bool), routing="ideal")
    links = topology(spec).links
    entry = spec.input_cores(net.n_inputs)
    want = {int(entry[j]) for j in range(net.n_inputs)
            if np.any(core_of[net.w_in[j].indices] != entry[j])}
    out = links[:, 0] < spec.n_cores
    assert {int(u) for u in links[out, 0][one.link_load[out] > 0]} == want


def test_spreading_the_inputs_removes_the_io_bottleneck():
    """Dense input on mosaic-8x8: through one I/O tile the input packets queue at its
    output ports and windows run late; entering at every tile, they do not."""
    base = HardwareSpec.preset("mosaic-8x8").replace(step_cycles=60)
    net = random_feedforward([256, 256], p=0.05, weight_scale=0.05, seed=0)
    core_of = np.arange(net.n_neurons) // base.neurons_per_core * 8 % base.n_cores
    x = np.random.default_rng(0).random((20, net.n_inputs)) < 0.2
    runs = {e: simulate(net, base.replace(input_entry=e), core_of, x) for e in INPUT_ENTRIES}
    late = {e: r.packets["late"] for e, r in runs.items()}
    assert late["io_core"] > late["edge_row"] > late["every_tile"] == 0
    lat = {e: r.step_latency_cycles.mean() for e, r in runs.items()}
    assert lat["every_tile"] < lat["edge_row"] < lat["io_core"]
