"""Analytic cost model: against the per-source reference loop, incremental deltas,
budgets, bad input, and against the simulator."""
import numpy as np
import pytest
import scipy.sparse as sp

from mosaic import HardwareSpec, SpikingNetwork
from mosaic.cost import CostBudget, CostError, cost_reference, delta_cost, estimate_cost
from mosaic.generators import random_feedforward
from mosaic.topology import topology

PRESETS = ["mosaic-4x4", "mosaic-8x8", "mesh-8x8"]


def _case(preset, seed, sizes=(20, 60, 50, 10)):
    spec = HardwareSpec.preset(preset)
    net = random_feedforward(list(sizes), p=0.3, recurrent_p=0.1, seed=seed)
    rng = np.random.default_rng(seed)
    core = rng.integers(0, spec.n_cores, net.n_neurons)
    return spec, net, core, rng.random(net.n_neurons) * 0.3, rng.random(net.n_inputs) * 0.2


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("analog", [False, True])
def test_matches_reference_loop(preset, analog):
    spec, net, core, rates, ir = _case(preset, 3)
    got = estimate_cost(net, spec, core, rates, ir, T=7, analog_input=analog)
    ref = cost_reference(net, spec, core, rates, ir, T=7, analog_input=analog)
    for k, v in ref["energy_pj"].items():
        assert got.energy_pj[k] == pytest.approx(v, rel=1e-12), k
    np.testing.assert_allclose(got.link_load, ref["link_load"], atol=1e-9)
    np.testing.assert_allclose(got.router_load, ref["router_load"], atol=1e-9)
    assert got.peak_link_load == pytest.approx(ref["link_load"].max())


def test_energy_is_counts_times_event_energies():
    spec, net, core, rates, ir = _case("mosaic-4x4", 5)
    c = estimate_cost(net, spec, core, rates, ir, T=11)
    assert c.energy_pj["synaptic"] == pytest.approx(spec.e_synaptic_pj * c.counts["synaptic_ops"])
    assert c.energy_pj["routing"] == pytest.approx(spec.e_router_pj * c.counts["router_traversals"])
    assert c.energy_pj["spike_out"] == pytest.approx(spec.e_spike_out_pj * rates.sum() * 11)
    assert c.counts["packets"] == pytest.approx(rates[np.diff(net.w.indptr) > 0].sum() * 10 + ir.sum() * 11)
    assert c.energy_pj["total"] == pytest.approx(sum(v for k, v in c.energy_pj.items() if k != "total"))
    assert c.counts["router_traversals"] == pytest.approx(c.router_load.sum())


def test_hand_case_one_source_two_destinations():
    # Neuron 0 on core 0 feeds neurons on cores 1 and 2 of mosaic-4x4: one packet per
    # spike on the multicast tree; shared routers are counted once.  Spikes of the last
    # of T = 4 steps are never sent, so 0.5 spikes/step make 1.5 packets.
    spec = HardwareSpec.preset("mosaic-4x4")
    w = sp.csr_matrix(([1.0, 1.0], ([0, 0], [1, 2])), shape=(3, 3))
    net = SpikingNetwork(sp.csr_matrix((1, 3)), w, 0.9, 1.0)
    c = estimate_cost(net, spec, [0, 1, 2], [0.5, 0.0, 0.0], T=4)
    topo = topology(spec)
    routers = topo.tree_routers(0, [1, 2])
    assert c.counts["packets"] == pytest.approx(1.5)
    assert c.counts["router_traversals"] == pytest.approx(1.5 * routers)
    assert c.counts["synaptic_ops"] == pytest.approx(1.5 * 2)
    assert c.counts["spikes"] == pytest.approx(2.0)
    links = topo.tree_links(0, [1, 2])
    assert np.count_nonzero(c.link_load) == links.size
    assert c.step_latency_cycles == pytest.approx(1.5 / 4 / spec.bandwidth + topo.depth[0, 2] * spec.cycles_per_hop)


def test_local_destination_uses_no_router():
    spec = HardwareSpec.preset("mosaic-4x4")
    w = sp.csr_matrix(([1.0], ([0], [1])), shape=(2, 2))
    net = SpikingNetwork(sp.csr_matrix((1, 2)), w, 0.9, 1.0)
    c = estimate_cost(net, spec, [3, 3], 1.0, T=5)
    assert c.energy_pj["routing"] == 0 and c.peak_link_load == 0
    assert c.counts["packets"] == 4 and c.counts["synaptic_ops"] == 4


@pytest.mark.parametrize("preset", PRESETS)
def test_delta_equals_full_evaluation_after_growth(preset):
    spec, net, core, rates, ir = _case(preset, 7)
    base = estimate_cost(net, spec, core, rates, ir, T=9)
    # Grow: 6 new neurons at the end of layer 0 (indices shift), some neurons move.
    big = random_feedforward([20, 66, 50, 10], p=0.3, recurrent_p=0.1, seed=8)
    n0 = net.n_neurons
    old_index = np.concatenate([np.arange(60), -np.ones(6, int), np.arange(60, n0)])
    rng = np.random.default_rng(1)
    core2 = np.empty(big.n_neurons, int)
    core2[old_index >= 0] = core[old_index[old_index >= 0]]
    core2[old_index < 0] = rng.integers(0, spec.n_cores, 6)
    core2[:3] = rng.integers(0, spec.n_cores, 3)
    rates2 = np.empty(big.n_neurons)
    rates2[old_index >= 0] = rates[old_index[old_index >= 0]]
    rates2[old_index < 0] = 0.2
    rates2[10] = 0.9
    d = delta_cost(base, big, core2, rates2, ir, old_index=old_index)
    full = estimate_cost(big, spec, core2, rates2, ir, T=9)
    for k in full.energy_pj:
        assert d.energy_pj[k] == pytest.approx(full.energy_pj[k], rel=1e-9), k
    np.testing.assert_allclose(d.link_load, full.link_load, atol=1e-9)
    np.testing.assert_allclose(d.router_load, full.router_load, atol=1e-9)
    assert d.step_latency_cycles == pytest.approx(full.step_latency_cycles)
    # chained: the delta report is itself a valid base (shrink back to the old network)
    back = delta_cost(d, net, core, rates, ir, old_index=np.flatnonzero(old_index >= 0))
    np.testing.assert_allclose(back.link_load, base.link_load, atol=1e-9)
    assert back.energy_pj["total"] == pytest.approx(base.energy_pj["total"])


@pytest.mark.parametrize("layer", [0, 1])
def test_delta_with_sources_hint_equals_full(layer):
    from growth.controller import grown_index, layered_network

    spec = HardwareSpec.preset("mosaic-8x8")
    sizes = [40, 30, 10]
    rng = np.random.default_rng(layer)
    net = layered_network(12, sizes)
    core = rng.permutation(spec.n_slots)[: net.n_neurons] // spec.neurons_per_core
    rates, ir = rng.random(net.n_neurons) * 0.3, rng.random(12)
    base = estimate_cost(net, spec, core, rates, ir, T=8, analog_input=layer == 1)
    grown = list(sizes)
    grown[layer] += 5
    big = layered_network(12, grown)
    old = grown_index(sizes, layer, 5)
    core2 = np.where(old >= 0, core[np.maximum(old, 0)], -1)
    used = np.bincount(core, minlength=spec.n_cores)
    core2[old < 0] = np.flatnonzero(used < spec.neurons_per_core)[-5:]
    rates2 = np.where(old >= 0, rates[np.maximum(old, 0)], 0.2)
    hint = big.n_neurons + np.arange(12) if layer == 0 else np.arange(0, 40)
    fast = delta_cost(base, big, core2, rates2, ir, old_index=old, sources=hint)
    full = estimate_cost(big, spec, core2, rates2, ir, T=8, analog_input=layer == 1)
    assert fast.energy_pj["total"] == pytest.approx(full.energy_pj["total"], rel=1e-9)
    np.testing.assert_allclose(fast.link_load, full.link_load, atol=1e-9)
    assert fast.step_latency_cycles == pytest.approx(full.step_latency_cycles)
    with pytest.raises(CostError, match="sources"):
        delta_cost(base, big, core2, rates2, ir, old_index=old, sources=[10 ** 6])


def test_budget_violations_name_the_limit():
    spec, net, core, rates, ir = _case("mosaic-4x4", 2)
    c = estimate_cost(net, spec, core, rates, ir, T=10)
    assert CostBudget().violations(c) == []
    v = CostBudget(energy_pj=c.energy_pj["total"] / 2, cores=1,
                   latency_ns=c.latency_ns / 2, port_use=c.port_use / 2).violations(c)
    assert len(v) == 4 and any("energy" in s for s in v) and any("cores" in s for s in v)
    assert CostBudget(energy_pj=c.energy_pj["total"] * 1.01).violations(c) == []
    with pytest.raises(CostError, match="energy_pj"):
        CostBudget(energy_pj=-1.0)


def test_bad_input_raises():
    spec, net, core, rates, ir = _case("mosaic-4x4", 2)
    with pytest.raises(CostError, match="rates"):
        estimate_cost(net, spec, core, rates[:-1], T=10)
    with pytest.raises(CostError, match="rates"):
        estimate_cost(net, spec, core, np.full(net.n_neurons, np.nan), T=10)
    with pytest.raises(CostError, match="T must"):
        estimate_cost(net, spec, core, rates, T=0)
    with pytest.raises(ValueError, match="capacity"):
        estimate_cost(net, spec, np.zeros(net.n_neurons, int), rates, T=10)
    base = estimate_cost(net, spec, core, rates, ir, T=10)
    with pytest.raises(CostError, match="old_index"):
        delta_cost(base, net, core, rates, ir, old_index=np.zeros(net.n_neurons, int))


# ---------------------------------------------------------------- against the simulator
def _sim_case(preset, seed, T):
    spec = HardwareSpec.preset(preset)
    net = random_feedforward([24, 70, 60, 20], p=0.4, weight_scale=0.6, seed=seed)
    rng = np.random.default_rng(seed)
    core = rng.permutation(spec.n_slots)[: net.n_neurons] // spec.neurons_per_core
    p_in = rng.uniform(0.1, 0.5, net.n_inputs)
    return spec, net, core, p_in, rng


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_simulator_with_its_own_rates(preset, seed):
    from mosaic.simulate import simulate

    spec, net, core, p_in, rng = _sim_case(preset, seed, 40)
    x = rng.random((40, net.n_inputs)) < p_in
    rep = simulate(net, spec, core, x)
    assert rep.counts["spikes"] > 0
    c = estimate_cost(net, spec, core, rep.rates, rep.input_rates, T=40)
    for k in ("synaptic", "neuron", "spike_out", "routing", "static", "total"):
        assert c.energy_pj[k] == pytest.approx(rep.energy_pj[k], rel=0.10, abs=1e-9), k
    # Per link, rates spread a neuron's last-step spikes (never sent) over the run, so
    # compare in aggregate: L1 error, peak and totals within 10%.
    for got, want in ((c.link_load, rep.link_load), (c.router_load, rep.router_load)):
        assert np.abs(got - want).sum() <= 0.10 * want.sum()
        assert got.max() == pytest.approx(want.max(), rel=0.10)
    assert c.counts["packets"] == pytest.approx(rep.packets["injected"], rel=0.10)


@pytest.mark.parametrize("preset", PRESETS)
def test_predicts_another_run_from_measured_rates(preset):
    # Rates measured on one input sequence predict the cost of a fresh one of the same
    # statistics within 10% (energy total, peak link load, total router load).
    from mosaic.simulate import simulate

    spec, net, core, p_in, rng = _sim_case(preset, 4, 200)
    train = simulate(net, spec, core, rng.random((200, net.n_inputs)) < p_in)
    test = simulate(net, spec, core, rng.random((200, net.n_inputs)) < p_in)
    c = estimate_cost(net, spec, core, train.rates, train.input_rates, T=200)
    assert c.energy_pj["total"] == pytest.approx(test.energy_pj["total"], rel=0.10)
    assert c.peak_link_load == pytest.approx(test.link_load.max(), rel=0.10)
    assert c.router_load.sum() == pytest.approx(test.router_load.sum(), rel=0.10)


def test_analog_input_matches_simulator():
    from mosaic.simulate import simulate

    spec, net, core, p_in, rng = _sim_case("mosaic-4x4", 2, 30)
    x = np.where(rng.random((30, net.n_inputs)) < p_in, rng.random((30, net.n_inputs)), 0.0)
    rep = simulate(net, spec, core, x)
    c = estimate_cost(net, spec, core, rep.rates, (x != 0).mean(0), T=30, analog_input=True)
    assert c.energy_pj["synaptic"] == pytest.approx(rep.energy_pj["synaptic"], rel=0.10)
    assert c.energy_pj["total"] == pytest.approx(rep.energy_pj["total"], rel=0.10)
    assert np.abs(c.link_load - rep.link_load).sum() <= 0.10 * rep.link_load.sum()
