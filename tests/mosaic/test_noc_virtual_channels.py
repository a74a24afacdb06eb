"""Virtual channels (``HardwareSpec.virtual_channels``): V FIFOs per router port sharing its
bandwidth, a packet entering the emptiest.  The numba kernels equal the reference in spiking
and synthetic-traffic runs, one channel is the default router, and more channels help."""
import numpy as np
import pytest

from mosaic import HardwareSpec, SpecError, simulate
from mosaic.generators import random_feedforward
from mosaic.noc import PATTERNS, Traffic, saturation_rate, simulate_traffic
from mosaic.reference import simulate_reference, traffic_reference


@pytest.mark.parametrize("vcs,depth,bw", [(2, 1, 1), (3, 2, 2)])
def test_spiking_runs_equal_reference(vcs, depth, bw):
    spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=4, step_cycles=12, buffer_depth=depth,
                                                     bandwidth=bw, virtual_channels=vcs)
    net = random_feedforward([12, 30, 20], p=0.6, weight_scale=0.4, recurrent_p=0.1, seed=0)
    rng = np.random.default_rng(0)
    core_of = rng.permutation(np.repeat(np.arange(spec.n_cores), 4))[:net.n_neurons]
    x = rng.random((80, net.n_inputs)) < 0.3
    for late in ("defer", "drop"):
        a, b = simulate(net, spec, core_of, x, late=late), simulate_reference(net, spec, core_of, x, late=late)
        assert np.array_equal(a.spikes, b.spikes) and a.packets == b.packets
        assert np.array_equal(a.link_load, b.link_load) and np.array_equal(a.router_load, b.router_load)
        assert np.array_equal(a.step_latency_cycles, b.step_latency_cycles)
        assert a.packets["late"] > 0, "the case is contended"


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("topo", ["mosaic", "mesh"])
def test_traffic_equals_reference(pattern, topo):
    spec = HardwareSpec.preset("mosaic-4x4").replace(topology=topo, virtual_channels=2, buffer_depth=2)
    tr = Traffic(pattern=pattern, rate=0.5, warmup=30, measure=80, drain=60, fanout=3, seed=5)
    a, b = simulate_traffic(spec, tr), traffic_reference(spec, tr)
    assert a.summary() == b.summary() and np.array_equal(a.link_load, b.link_load)
    assert a.conserved


def test_one_channel_is_the_default_and_overload_drains():
    assert all(HardwareSpec.preset(n).virtual_channels == 1 for n in HardwareSpec.presets())
    with pytest.raises(SpecError, match="virtual_channels must be a positive integer"):
        HardwareSpec.preset("mosaic-8x8").replace(virtual_channels=0)
    # far above saturation with one-packet FIFOs: every packet still arrives (no deadlock)
    spec = HardwareSpec.preset("mosaic-8x8").replace(virtual_channels=3, buffer_depth=1)
    run = simulate_traffic(spec, Traffic(pattern="multicast", rate=0.9, warmup=100, measure=300, drain=0))
    assert run.saturated and run.conserved


def test_more_channels_saturate_later_on_a_mesh():
    spec = HardwareSpec.preset("mesh-8x8")
    one = saturation_rate(spec, Traffic(), iters=6)
    two = saturation_rate(spec.replace(virtual_channels=2), Traffic(), iters=6)
    assert two > one
