"""The numba simulator equals the pure-numpy reference spike for spike, counter for counter."""
import itertools

import numpy as np
import pytest

from mosaic import HardwareSpec
from mosaic.generators import random_feedforward
from mosaic.reference import simulate_reference
from mosaic.simulate import simulate


def _same(a, b):
    assert np.array_equal(a.spikes, b.spikes)
    assert a.packets == b.packets
    assert a.counts == b.counts
    assert a.energy_pj == b.energy_pj
    assert np.array_equal(a.router_load, b.router_load)
    assert np.array_equal(a.link_load, b.link_load)
    assert np.array_equal(a.step_latency_cycles, b.step_latency_cycles)
    assert np.array_equal(a.final_mem, b.final_mem)
    assert np.array_equal(a.rates, b.rates)


def _case(seed, topo, reset, alpha, refractory, recurrent_p, step_cycles, depth, bw, cph, npc=8):
    spec = HardwareSpec.preset(topo).replace(neurons_per_core=npc, step_cycles=step_cycles,
                                             buffer_depth=depth, bandwidth=bw, cycles_per_hop=cph)
    net = random_feedforward([10, 24, 16, 8], p=0.5, weight_scale=0.8, recurrent_p=recurrent_p,
                             seed=seed, reset=reset, alpha=alpha)
    net.refractory[:] = refractory
    rng = np.random.default_rng(seed)
    core_of = rng.permutation(np.repeat(np.arange(spec.n_cores), npc))[:net.n_neurons]
    x = rng.random((20, net.n_inputs)) < 0.5
    return net, spec, core_of, x


ROUTER_CASES = [(40, 8, 1, 1), (5, 1, 1, 1), (9, 2, 2, 2)]   # step_cycles, buffer_depth, bandwidth, cph


@pytest.mark.parametrize("routing,late", [("cycle", "defer"), ("cycle", "drop"), ("ideal", "defer")])
@pytest.mark.parametrize("reset,alpha", [("subtract", 0.0), ("zero", 0.0), ("subtract", 0.5), ("zero", 0.5)])
def test_equal_on_random_networks(routing, late, reset, alpha):
    total = {"spikes": 0, "late": 0}
    for k, (rc, topo) in enumerate(itertools.product(ROUTER_CASES, ["mosaic-4x4", "mesh-8x8"])):
        net, spec, core_of, x = _case(k, topo, reset, alpha, refractory=k % 3, recurrent_p=0.2 * (k % 2),
                                      step_cycles=rc[0], depth=rc[1], bw=rc[2], cph=rc[3])
        a = simulate(net, spec, core_of, x, routing=routing, late=late)
        b = simulate_reference(net, spec, core_of, x, routing=routing, late=late)
        _same(a, b)
        total["spikes"] += a.counts["spikes"]
        total["late"] += a.packets["late"]
    assert total["spikes"] > 0
    assert (total["late"] > 0) == (routing == "cycle")


def test_overload_exercises_late_paths_identically():
    """Tiny budget and buffers: many late packets, and both simulators agree on every figure."""
    for late in ("defer", "drop"):
        net, spec, core_of, x = _case(7, "mosaic-4x4", "subtract", 0.0, 0, 0.3, step_cycles=4, depth=1, bw=1, cph=1)
        a = simulate(net, spec, core_of, x, late=late)
        _same(a, simulate_reference(net, spec, core_of, x, late=late))
        assert a.packets["late"] > 0
        assert (a.packets["dropped"] > 0) == (late == "drop")


def test_mixed_alpha_float32_analog_initial_mem():
    """Per-neuron alpha (Leaky and Synaptic side by side), float32, analog input, initial membrane."""
    net, spec, core_of, _ = _case(3, "mosaic-4x4", "zero", 0.0, 1, 0.2, step_cycles=20, depth=2, bw=1, cph=1)
    net.alpha[::2] = 0.75
    rng = np.random.default_rng(3)
    x = rng.normal(0.5, 0.5, (15, net.n_inputs))
    mem0 = rng.normal(0.5, 0.5, net.n_neurons)
    for routing, dtype in (("cycle", np.float32), ("ideal", np.float64), ("cycle", np.float64)):
        a = simulate(net, spec, core_of, x, routing=routing, initial_mem=mem0, dtype=dtype)
        _same(a, simulate_reference(net, spec, core_of, x, routing=routing, initial_mem=mem0, dtype=dtype))
        assert a.counts["input_packets"] == 0 and a.counts["synaptic_ops"] > 0
