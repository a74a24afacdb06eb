"""The uncontended-window fast path of ``run_cycle`` equals the reference: sparse traffic,
where most windows hold a few packets from different tiles (the fast path) and some share
links or tiles (the cycle model), on several router settings."""
import numpy as np
import pytest

from mosaic import HardwareSpec
from mosaic.generators import random_feedforward
from mosaic.reference import simulate_reference
from mosaic.simulate import simulate


@pytest.mark.parametrize("topo,step_cycles,depth,bw,cph", [
    ("mosaic-4x4", 40, 8, 1, 1), ("mosaic-4x4", 12, 1, 1, 1), ("mesh-8x8", 30, 2, 2, 2),
    ("mesh-8x8", 40, 1, 1, 3)])
def test_sparse_traffic_equals_reference(topo, step_cycles, depth, bw, cph):
    spec = HardwareSpec.preset(topo).replace(neurons_per_core=4, step_cycles=step_cycles,
                                             buffer_depth=depth, bandwidth=bw, cycles_per_hop=cph)
    sent = 0
    for seed in range(3):
        net = random_feedforward([12, 30, 20], p=0.6, weight_scale=0.4, recurrent_p=0.1, seed=seed)
        rng = np.random.default_rng(seed)
        core_of = rng.permutation(np.repeat(np.arange(spec.n_cores), 4))[:net.n_neurons]
        x = rng.random((150, net.n_inputs)) < 0.03
        for late in ("defer", "drop"):
            a = simulate(net, spec, core_of, x, late=late)
            b = simulate_reference(net, spec, core_of, x, late=late)
            assert np.array_equal(a.spikes, b.spikes)
            assert a.packets == b.packets and a.counts == b.counts
            assert np.array_equal(a.router_load, b.router_load)
            assert np.array_equal(a.link_load, b.link_load)
            assert np.array_equal(a.step_latency_cycles, b.step_latency_cycles)
            assert np.array_equal(a.final_mem, b.final_mem)
            sent += a.packets["injected"]
    assert sent > 50
