"""simulate(): neuron semantics by hand, energy accounting, the report, and bad input."""
import json

import numpy as np
import pytest
import scipy.sparse as sp

from mosaic import HardwareSpec, Placement, PlacementError, RunReport, SpikingNetwork, simulate, topology
from mosaic.generators import random_feedforward
from mosaic.reference import simulate_reference

SPEC = HardwareSpec.preset("mosaic-4x4")


def one_neuron(**kw) -> SpikingNetwork:
    return SpikingNetwork(sp.csr_matrix([[1.0]]), sp.csr_matrix((1, 1)), **kw)


def trace(net, x, sim=simulate):
    """Membrane after every step (one run per prefix) and the spike train."""
    x = np.asarray(x, float).reshape(-1, 1)
    mems = [sim(net, SPEC, None, x[:t + 1], routing="ideal").final_mem[0] for t in range(len(x))]
    return mems, sim(net, SPEC, None, x, routing="ideal").spikes[:, 0].astype(int).tolist()


@pytest.mark.parametrize("sim", [simulate, simulate_reference])
def test_membrane_traces_by_hand(sim):
    # Leaky, subtract (dyadic values, exact in binary):
    # 0.625 | 0.3125+0.625 | 0.46875+0.625 = 1.09375 spike | 0.546875-1 | -0.2265625+0.625
    assert trace(one_neuron(beta=0.5, threshold=1.0), [0.625, 0.625, 0.625, 0, 0.625], sim) == \
        ([0.625, 0.9375, 1.09375, -0.453125, 0.3984375], [0, 0, 1, 0, 0])
    # strict threshold: mem == threshold does not spike
    assert trace(one_neuron(beta=0.5, threshold=1.0), [1.0], sim) == ([1.0], [0])
    # Leaky, zero: mem zeroed before the update, the step's input kept
    assert trace(one_neuron(beta=0.5, threshold=1.0, reset="zero"), [1.5, 1.0, 0.5], sim) == \
        ([1.5, 1.0, 1.0], [1, 0, 0])
    # Synaptic, zero: the update is zeroed (input lost), syn keeps decaying
    # syn 1.5, 1.75, 0.875 ; mem 1.5 spike, 0 (reset), 0 + 0.875
    assert trace(one_neuron(beta=0.5, alpha=0.5, threshold=1.0, reset="zero"), [1.5, 1.0, 0.0], sim) == \
        ([1.5, 0.0, 0.875], [1, 0, 0])
    # Synaptic, subtract: syn 1.5, 0.75 ; mem 1.5 spike, 0.75+0.75-1
    assert trace(one_neuron(beta=0.5, alpha=0.5, threshold=1.0), [1.5, 0.0], sim) == ([1.5, 0.5], [1, 0])
    # refractory 2: reset once, hold 2 steps ignoring input, then integrate again
    assert trace(one_neuron(beta=0.5, threshold=1.0, refractory=2), [1.5, 1, 1, 1, 1], sim) == \
        ([1.5, 0.5, 0.5, 1.25, 0.25], [1, 0, 0, 1, 0])
    # bias adds to mem every step: 0.25, 0.375, 0.4375
    assert trace(one_neuron(beta=0.5, threshold=1.0, bias=0.25), [0, 0, 0], sim)[0] == [0.25, 0.375, 0.4375]


def test_initial_mem_sets_the_first_reset_like_snntorch():
    """initial_mem above threshold resets at step 0 (snnTorch computes the reset from the old mem)."""
    r = simulate(one_neuron(beta=0.5, threshold=1.0), SPEC, None, np.zeros((1, 1)), initial_mem=[1.5])
    assert r.final_mem[0] == 0.75 - 1.0 and not r.spikes.any()
    r = simulate(one_neuron(beta=0.5, threshold=1.0), SPEC, None, np.zeros((1, 1)), initial_mem=[0.8])
    assert r.final_mem[0] == 0.4


def test_one_step_synaptic_delay_and_same_step_inputs():
    """Input spike at step 0 -> neuron 0 spikes at 0 -> neuron 1 (weight 2) spikes at 1."""
    w = sp.csr_matrix(([2.0], ([0], [1])), shape=(2, 2))
    net = SpikingNetwork(sp.csr_matrix([[2.0, 0.0]]), w, beta=0.5, threshold=1.0)
    x = np.zeros((3, 1), bool)
    x[0] = True
    for routing in ("cycle", "ideal"):
        r = simulate(net, SPEC, [0, 15], x, routing=routing)
        assert r.spikes.astype(int).tolist() == [[1, 0], [0, 1], [0, 0]]


def test_energy_is_counts_times_event_energies():
    net = random_feedforward([8, 32, 16], p=0.5, weight_scale=0.8, recurrent_p=0.2, seed=2)
    spec = SPEC.replace(e_static_pj=7.0, step_cycles=12, buffer_depth=2)
    rng = np.random.default_rng(2)
    x = rng.random((30, 8)) < 0.5
    for routing, late in (("cycle", "drop"), ("cycle", "defer"), ("ideal", "defer")):
        r = simulate(net, spec, None, x, routing=routing, late=late)
        c, e = r.counts, r.energy_pj
        assert e["synaptic"] == pytest.approx(spec.e_synaptic_pj * c["synaptic_ops"])
        assert e["neuron"] == pytest.approx(spec.e_neuron_pj * net.n_neurons * 30)
        assert e["spike_out"] == pytest.approx(spec.e_spike_out_pj * r.spikes.sum())
        assert e["routing"] == pytest.approx(spec.e_router_pj * c["router_traversals"])
        assert e["static"] == pytest.approx(7.0 * spec.n_cores * 30)
        assert e["total"] == pytest.approx(sum(v for k, v in e.items() if k != "total"))
        assert c["router_traversals"] == r.router_load.sum()
    # ideal routing: every packet is delivered, so the counts follow from the spikes alone
    topo = topology(spec)
    core_of = np.arange(net.n_neurons) // spec.neurons_per_core
    emitted = r.spikes[:-1].sum(axis=0)                 # the last step's spikes are not routed
    outdeg = np.diff(net.w.indptr)
    in_deg = np.diff(net.w_in.indptr)
    assert r.counts["synaptic_ops"] == emitted @ outdeg + x.sum(axis=0) @ in_deg
    routers = [topo.tree_routers(core_of[i], np.setdiff1d(core_of[net.w[i].indices], core_of[i]))
               if net.w[i].nnz else 0 for i in range(net.n_neurons)]
    in_routers = [topo.tree_routers(spec.io_core, np.setdiff1d(core_of[net.w_in[j].indices], spec.io_core))
                  for j in range(8)]
    assert r.counts["router_traversals"] == emitted @ routers + x.sum(axis=0) @ in_routers
    assert r.packets["injected"] == (emitted * (outdeg > 0)).sum() + (x.sum(axis=0) * (in_deg > 0)).sum()


def test_report_summary_json_and_placement_forms():
    net = random_feedforward([6, 20, 10], seed=4)
    x = np.random.default_rng(4).random((12, 6)) < 0.5
    core_of = np.arange(net.n_neurons) % 16
    reports = [simulate(net, SPEC, p, x) for p in (core_of, Placement(core_of), list(core_of))]
    for r in reports[1:]:
        assert np.array_equal(r.spikes, reports[0].spikes) and r.packets == reports[0].packets
    r = reports[0]
    assert isinstance(r, RunReport) and r.spikes.shape == (12, 30) and r.spikes.dtype == bool
    assert r.router_load.shape == (topology(SPEC).n_routers,) and r.link_load.shape == (len(topology(SPEC).links),)
    assert r.step_latency_cycles.shape == (12,) and r.rates.shape == (30,) and r.input_rates.shape == (6,)
    assert np.allclose(r.input_rates, x.mean(axis=0)) and np.allclose(r.rates, r.spikes.mean(axis=0))
    assert np.allclose(r.step_latency_ns, r.step_latency_cycles * SPEC.ns_per_cycle)
    s = json.loads(json.dumps(r.summary()))
    assert s["packets"] == r.packets and s["spikes"] == int(r.spikes.sum())
    assert s["latency_max_cycles"] == r.step_latency_cycles.max() and s["peak_link_load"] == r.link_load.max()
    assert set(s["energy_pj"]) == {"synaptic", "neuron", "access", "spike_out", "routing", "message", "hops",
                                   "static", "total"}
    full = json.loads(r.to_json())
    assert full["step_latency_cycles"] == r.step_latency_cycles.tolist() and len(full["link_load"]) == r.link_load.size
    fill = simulate(net, SPEC, None, x)
    assert np.array_equal(fill.spikes, simulate(net, SPEC, Placement.fill(net, SPEC), x).spikes)
    analog = simulate(net, SPEC, None, x.astype(float))
    assert np.array_equal(analog.spikes, simulate(net, SPEC, None, x, routing="ideal").spikes)
    assert analog.counts["input_packets"] == 0 and not analog.input_rates.any()


@pytest.mark.parametrize("late", ["defer", "drop"])
def test_progress_chunks_give_the_same_run(late):
    """With a progress bar the T loop runs in chunks; the network state carries over exactly."""
    net = random_feedforward([10, 40, 30], p=0.6, weight_scale=1.0, recurrent_p=0.3, seed=5)
    spec = SPEC.replace(step_cycles=4, buffer_depth=1)
    x = np.random.default_rng(5).random((250, 10)) < 0.5
    a = simulate(net, spec, None, x, late=late)
    b = simulate(net, spec, None, x, late=late, progress=True)
    assert np.array_equal(a.spikes, b.spikes) and a.packets == b.packets and a.counts == b.counts
    assert np.array_equal(a.link_load, b.link_load) and np.array_equal(a.step_latency_cycles, b.step_latency_cycles)
    assert a.packets["late"] > 0


def test_float32_option():
    net = random_feedforward([6, 20, 10], seed=6)
    x = np.random.default_rng(6).random((10, 6)) < 0.5
    r = simulate(net, SPEC, None, x, dtype=np.float32)
    assert np.array_equal(r.spikes, simulate(net, SPEC, None, x).spikes)   # weights are exact in float32


def test_bad_input_raises_clear_errors():
    net = random_feedforward([6, 20, 10], seed=7)
    x = np.zeros((5, 6), bool)
    with pytest.raises(ValueError, match=r"expected shape \(T, 6\)"):
        simulate(net, SPEC, None, np.zeros((5, 7), bool))
    with pytest.raises(ValueError, match=r"expected shape \(T, 6\)"):
        simulate(net, SPEC, None, np.zeros(6, bool))
    with pytest.raises(ValueError, match="required"):
        simulate(net, SPEC, None)
    bad = np.zeros((5, 6))
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite value nan at step 2, input 3"):
        simulate(net, SPEC, None, bad)
    with pytest.raises(ValueError, match="0/1 spikes"):
        simulate(net, SPEC, None, np.full((5, 6), 2))
    with pytest.raises(ValueError, match="routing must be one of"):
        simulate(net, SPEC, None, x, routing="fast")
    with pytest.raises(ValueError, match="late must be one of"):
        simulate(net, SPEC, None, x, late="keep")
    with pytest.raises(ValueError, match="initial_mem"):
        simulate(net, SPEC, None, x, initial_mem=np.zeros(3))
    with pytest.raises(ValueError, match="dtype"):
        simulate(net, SPEC, None, x, dtype=np.int32)
    with pytest.raises(PlacementError, match="core 0 holds 30 neurons, capacity is 8"):
        simulate(net, SPEC.replace(neurons_per_core=8), np.zeros(30, int), x)
    big = random_feedforward([4, 600], seed=0)
    with pytest.raises(PlacementError, match="do not fit"):
        simulate(big, SPEC, None, np.zeros((2, 4), bool))
    with pytest.raises(PlacementError):
        simulate_reference(net, SPEC, np.full(30, 99), x)


def test_results_do_not_depend_on_kernel_chunking():
    """simulate runs in kernel calls of CHUNK_STEPS (so Ctrl-C stops it promptly) and with a
    progress bar in calls of T // 100: both give the same run, late packets included."""
    from mosaic.simulate import CHUNK_STEPS

    spec = HardwareSpec.preset("mosaic-4x4").replace(step_cycles=12, buffer_depth=2)
    net = random_feedforward([16, 64, 10], recurrent_p=0.05, seed=2)
    T = 2 * CHUNK_STEPS + 37
    x = np.random.default_rng(0).random((T, 16)) < 0.4
    a = simulate(net, spec, None, x, routing="cycle")
    b = simulate(net, spec, None, x, routing="cycle", progress=True)
    assert a.packets["late"] > 0
    assert np.array_equal(a.spikes, b.spikes) and a.packets == b.packets
    assert np.array_equal(a.step_latency_cycles, b.step_latency_cycles)
    assert np.array_equal(a.link_load, b.link_load)
