import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mosaic import HardwareSpec
from mosaic.generators import random_feedforward, small_world
from mosaic.topology import hop_matrix, topology
from mapper import MappingError, router_load, synapse_cost, traffic_cost
from mapper.objective import build_problem, port_loads


def oracle_cost(net, spec, core_of, rates):
    """Slow and obvious: Topology.tree_routers for every source."""
    t = topology(spec)
    total = 0.0
    w_in, w = net.w_in.tocsr(), net.w.tocsr()
    for i in range(net.n_inputs):
        dests = np.unique(core_of[w_in.indices[w_in.indptr[i]:w_in.indptr[i + 1]]])
        total += rates[i] * t.tree_routers(spec.io_core, dests)
    for j in range(net.n_neurons):
        dests = np.unique(core_of[w.indices[w.indptr[j]:w.indptr[j + 1]]])
        total += rates[net.n_inputs + j] * t.tree_routers(core_of[j], dests)
    return total


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), preset=st.sampled_from(["mosaic-4x4", "mesh-8x8"]))
def test_traffic_cost_matches_tree_routers(seed, preset):
    spec = HardwareSpec.preset(preset)
    rng = np.random.default_rng(seed)
    net = random_feedforward([5, 12, 9, 3], p=0.4, recurrent_p=0.1, seed=seed)
    core_of = rng.integers(0, spec.n_cores, net.n_neurons)
    rates = rng.random(net.n_inputs + net.n_neurons)
    assert traffic_cost(net, spec, core_of, rates) == pytest.approx(oracle_cost(net, spec, core_of, rates))


def test_rates_forms_agree(chip4x4):
    net = random_feedforward([4, 10, 6], seed=1)
    core_of = np.arange(net.n_neurons) % chip4x4.n_cores
    r = np.linspace(0.1, 1.0, net.n_neurons)

    class Report:
        rates = r
        input_rates = np.full(net.n_inputs, 0.5)

    full = np.concatenate([np.full(net.n_inputs, 0.5), r])
    a = traffic_cost(net, chip4x4, core_of, Report())
    assert a == pytest.approx(traffic_cost(net, chip4x4, core_of, full))
    assert traffic_cost(net, chip4x4, core_of, r) == pytest.approx(
        traffic_cost(net, chip4x4, core_of, np.concatenate([np.ones(net.n_inputs), r])))
    assert a != pytest.approx(traffic_cost(net, chip4x4, core_of))


def test_bad_rates_and_cores_raise(chip4x4):
    net = random_feedforward([4, 10, 6], seed=1)
    core_of = np.zeros(net.n_neurons, int)
    with pytest.raises(MappingError, match="rates has shape"):
        traffic_cost(net, chip4x4, core_of, np.ones(3))
    with pytest.raises(MappingError, match=">= 0"):
        traffic_cost(net, chip4x4, core_of, np.full(net.n_neurons, np.nan))
    with pytest.raises(MappingError, match="outside"):
        traffic_cost(net, chip4x4, np.full(net.n_neurons, 99))


def test_same_core_is_free_and_far_costs_more(chip4x4):
    net = random_feedforward([1, 2, 2], p=1.0, seed=0)
    near = np.array([0, 0, 0, 0])
    far = np.array([0, 0, 15, 15])
    # inputs enter at core 0; all on core 0 costs nothing
    assert traffic_cost(net, chip4x4, near) == 0.0
    assert traffic_cost(net, chip4x4, far) == 2 * hop_matrix(chip4x4)[0, 15]


def test_router_load_sums_to_objective(chip4x4):
    net = random_feedforward([6, 20, 10], seed=2)
    core_of = np.arange(net.n_neurons) % 7
    load = router_load(net, chip4x4, core_of)
    assert load[chip4x4.n_cores:].sum() == pytest.approx(traffic_cost(net, chip4x4, core_of))


def test_port_loads_count_distinct_sources(chip4x4):
    net = random_feedforward([3, 8, 4], seed=4)
    core_of = np.arange(net.n_neurons) % 5
    p = build_problem(net, chip4x4)
    t = topology(chip4x4)
    expect = np.zeros(len(t.links), int)
    roots = p.roots(core_of)
    for s in range(p.n_src):
        tg = p.tgt_idx[p.tgt_ptr[s]:p.tgt_ptr[s + 1]]
        if tg.size:
            expect[t.tree_links(roots[s], np.unique(core_of[tg]))] += 1
    np.testing.assert_array_equal(port_loads(p, core_of), expect)


def test_synapse_cost_by_hand(chip4x4):
    net = small_world(40, k=4, n_inputs=3, input_fanout=2, seed=1)
    rng = np.random.default_rng(0)
    core_of = rng.integers(0, chip4x4.n_cores, net.n_neurons)
    h = hop_matrix(chip4x4)
    total = 0.0
    for (i, j), v in net.w.todok().items():
        total += abs(v) * min(np.exp(8 * h[core_of[i], core_of[j]]) - 1, np.exp(15))
    for (i, j), v in net.w_in.todok().items():
        total += abs(v) * min(np.exp(8 * h[chip4x4.io_core, core_of[j]]) - 1, np.exp(15))
    assert synapse_cost(net, chip4x4, core_of) == pytest.approx(total)
