"""Hand-computed network-on-chip cases: contention, budget, multicast sharing, hop latency."""
import numpy as np
import pytest
import scipy.sparse as sp

from mosaic import HardwareSpec, SpikingNetwork, hop_matrix, simulate, topology
from mosaic.generators import random_feedforward
from mosaic.reference import simulate_reference


def line(**kw) -> HardwareSpec:
    """Three cores in a row joined by a mesh: tiles 0, 1, 2; routers 3, 4, 5; hops 0-1: 2, 0-2: 3."""
    return HardwareSpec(name="mesh-1x3", rows=1, cols=3, neurons_per_core=2, topology="mesh", **kw)


def net_of(edges, n, drive, weight_in=2.0):
    """``n`` Leaky neurons (beta 0.5, threshold 1), synapses ``edges`` = [(i, j, w)], and one
    input that drives the neurons ``drive`` above threshold."""
    w = sp.csr_matrix(([e[2] for e in edges], ([e[0] for e in edges], [e[1] for e in edges])), shape=(n, n))
    w_in = sp.csr_matrix((np.full(len(drive), weight_in), (np.zeros(len(drive), int), drive)), shape=(1, n))
    return SpikingNetwork(w_in, w, beta=0.5, threshold=1.0)


def pulse(T, dtype=float):
    x = np.zeros((T, 1), dtype)
    x[0, 0] = 1
    return x


def both(net, spec, core_of, x, **kw):
    a = simulate(net, spec, core_of, x, **kw)
    b = simulate_reference(net, spec, core_of, x, **kw)
    assert np.array_equal(a.spikes, b.spikes) and a.packets == b.packets
    assert np.array_equal(a.step_latency_cycles, b.step_latency_cycles)
    assert np.array_equal(a.link_load, b.link_load)
    return a


def test_two_packets_contend_for_one_router_port():
    """Neurons on cores 0 and 2 both hit core 1: they reach router 4 in the same cycle (2 hops
    each) and share its port to tile 1, so one waits a cycle: latency 3 instead of 2."""
    net = net_of([(0, 2, 0.25), (1, 2, 0.25)], 3, drive=[0, 1])
    core_of = [0, 2, 1]
    lat = {bw: both(net, line(bandwidth=bw), core_of, pulse(3)).step_latency_cycles for bw in (1, 2)}
    assert lat[1].tolist() == [0, 3, 0]
    assert lat[2].tolist() == [0, 2, 0]
    r = both(net, line(), core_of, pulse(3), routing="ideal")
    assert r.step_latency_cycles.tolist() == [0, 2, 0]
    port = topology(line()).links.tolist().index([4, 1])
    assert r.link_load[port] == 2
    # both copies still integrate in step 1: neuron 2 holds 0.5 after step 1
    short = simulate(net, line(), core_of, pulse(2))
    assert short.final_mem[2] == 0.5


def test_two_packets_queue_at_their_tile_port():
    """Two spikes of one core leave through the same tile port one cycle apart."""
    net = net_of([(0, 2, 0.25), (1, 2, 0.25)], 3, drive=[0, 1])
    r = both(net, line(), [0, 0, 1], pulse(3))
    assert r.step_latency_cycles.tolist() == [0, 3, 0]           # hops 2, second packet + 1
    assert r.packets == {"injected": 2, "delivered": 2, "late": 0, "dropped": 0, "in_flight": 0}


@pytest.mark.parametrize("late", ["defer", "drop"])
def test_packet_over_budget_deferred_or_dropped(late):
    """Core 0 -> core 2 takes 3 cycles.  A 4-cycle window delivers it on time (target spikes
    at step 1); a 3-cycle window makes it late: deferred, it arrives at cycle 0 of the next
    window and the target spikes one step later; dropped, the target never spikes."""
    net = net_of([(0, 1, 2.0)], 2, drive=[0])
    core_of = [0, 2]
    on_time = both(net, line(step_cycles=4), core_of, pulse(4), late=late)
    assert on_time.spikes[:, 1].tolist() == [False, True, False, False]
    assert on_time.packets["late"] == 0
    r = both(net, line(step_cycles=3), core_of, pulse(4), late=late)
    assert r.packets["late"] == 1 and r.packets["injected"] == 1
    if late == "defer":
        assert r.spikes[:, 1].tolist() == [False, False, True, False]
        assert r.packets["delivered"] == 1 and r.packets["dropped"] == 0
        assert r.step_latency_cycles.tolist() == [0, 3, 0, 0]
        assert r.counts["router_traversals"] == 3 and r.link_load.sum() == 4
    else:
        assert not r.spikes[:, 1].any()
        assert r.packets["delivered"] == 0 and r.packets["dropped"] == 1
        assert r.counts["router_traversals"] == 3 and r.link_load.sum() == 3   # never left router 5
        assert r.counts["synaptic_ops"] == 1                                   # only the input synapse


def test_multicast_tree_shares_links():
    """One spike to cores 1 and 2: the path to core 1 is shared, so 3 routers and 5 links
    carry the packet once each, not the 2 + 3 routers of two unicasts."""
    net = net_of([(0, 1, 0.5), (0, 2, 0.5)], 3, drive=[0])
    topo = topology(line())
    for routing in ("cycle", "ideal"):
        r = both(net, line(), [0, 1, 2], pulse(3), routing=routing)
        assert r.counts["router_traversals"] == 3 == topo.tree_routers(0, [1, 2])
        assert np.flatnonzero(r.link_load).tolist() == topo.tree_links(0, [1, 2]).tolist()
        assert r.link_load.max() == 1 and r.router_load.tolist() == [1, 1, 1]
        assert r.packets["injected"] == 1 and r.counts["synaptic_ops"] == 2 + 1
        assert r.step_latency_cycles[1] == 3


def test_multicast_on_a_big_chip_counts_each_link_once():
    spec = HardwareSpec.preset("mosaic-8x8")
    rng = np.random.default_rng(0)
    dests = rng.choice(np.arange(1, 64), 12, replace=False)
    n = 1 + dests.size
    net = net_of([(0, j, 0.1) for j in range(1, n)], n, drive=[0])
    core_of = np.concatenate([[27], dests])
    topo = topology(spec)
    for routing in ("cycle", "ideal"):
        r = simulate(net, spec, core_of, pulse(3), routing=routing)
        assert np.flatnonzero(r.link_load).tolist() == topo.tree_links(27, dests).tolist()
        assert r.link_load.max() == 1 and r.router_load.max() == 1
        assert r.counts["router_traversals"] == topo.tree_routers(27, dests)
        assert r.step_latency_cycles[1] == hop_matrix(spec)[27, dests].max()


@pytest.mark.parametrize("preset", ["mosaic-4x4", "mesh-8x8"])
def test_latency_is_hops_times_cycles_per_hop(preset):
    spec = HardwareSpec.preset(preset).replace(cycles_per_hop=3)
    H = hop_matrix(spec)
    net = net_of([(0, 1, 0.5)], 2, drive=[0])
    for s in (0, 5, spec.n_cores - 1):
        for d in range(spec.n_cores):
            if s == d:
                continue
            for routing in ("cycle", "ideal"):
                r = simulate(net, spec, [s, d], pulse(2), routing=routing)
                assert r.step_latency_cycles.tolist() == [0, H[s, d] * 3]
                assert r.counts["router_traversals"] == H[s, d]
                assert r.step_latency_ns[1] == H[s, d] * 3 * spec.ns_per_cycle


def test_local_delivery_uses_no_router():
    net = net_of([(0, 1, 2.0)], 2, drive=[0])
    r = both(net, line(), [1, 1], pulse(3))
    assert r.spikes[:, 1].tolist() == [False, True, False]
    assert r.packets["injected"] == 1 and r.packets["delivered"] == 1
    assert r.counts["router_traversals"] == 0 and r.link_load.sum() == 0
    assert r.step_latency_cycles.tolist() == [0, 0, 0]


def test_input_spikes_enter_at_the_io_core_and_integrate_in_their_step():
    """A bool input spike is a packet from io_core; it integrates in the same step."""
    net = net_of([], 1, drive=[0])
    spec = line(io_core=0)
    r = both(net, spec, [2], pulse(3, bool))
    assert r.spikes[:, 0].tolist() == [True, False, False]
    assert r.counts["input_packets"] == 1 and r.counts["router_traversals"] == 3
    assert r.step_latency_cycles.tolist() == [3, 0, 0]
    late = both(net, line(io_core=0, step_cycles=2), [2], pulse(3, bool))
    assert late.spikes[:, 0].tolist() == [False, True, False]    # deferred one step


@pytest.mark.parametrize("late", ["defer", "drop"])
def test_conservation_under_heavy_overload(late):
    spec = HardwareSpec.preset("mosaic-4x4").replace(bandwidth=1, buffer_depth=1, step_cycles=3,
                                                     neurons_per_core=16)
    net = random_feedforward([16, 64, 64, 32], p=0.6, weight_scale=1.0, recurrent_p=0.3, seed=1)
    rng = np.random.default_rng(1)
    core_of = rng.permutation(np.repeat(np.arange(16), 16))[:net.n_neurons]
    x = rng.random((60, 16)) < 0.6
    r = simulate(net, spec, core_of, x, late=late)
    ref = simulate_reference(net, spec, core_of, x, late=late)   # > 1024 packets: pools grow
    assert r.packets == ref.packets and r.counts == ref.counts and np.array_equal(r.link_load, ref.link_load)
    p = r.packets
    assert p["injected"] == p["delivered"] + p["dropped"] + p["in_flight"]
    assert p["late"] > p["injected"] // 4
    assert (r.step_latency_cycles == spec.step_cycles).sum() > 30
    if late == "drop":
        assert p["dropped"] == p["late"] and p["in_flight"] == 0
    else:
        assert p["dropped"] == 0 and p["in_flight"] > 0
