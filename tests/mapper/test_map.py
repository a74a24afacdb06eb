import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mosaic import HardwareSpec, Placement
from mosaic.generators import random_feedforward, small_world
from mapper import METHODS, MappingError, check_placement, compare_methods, map_network, traffic_cost
from mapper.bounds import per_source_bound, tree_table
from mapper.objective import build_problem, problem_cost
from mosaic.topology import topology


def brute_force(net, spec, cap):
    p = build_problem(net, spec)
    best = np.inf
    for a in itertools.product(range(spec.n_cores), repeat=net.n_neurons):
        a = np.array(a)
        if np.bincount(a, minlength=spec.n_cores).max() <= cap:
            best = min(best, problem_cost(p, a))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cpsat_equals_brute_force_on_tiny(chip2x2, seed):
    net = random_feedforward([3, 3, 2, 2], p=0.6, recurrent_p=0.2, seed=seed)
    pl = map_network(net, chip2x2, "cpsat", time_limit=10)
    assert pl.status == "optimal"
    assert pl.objective == pytest.approx(brute_force(net, chip2x2, 3))
    assert pl.bound == pytest.approx(pl.objective) and pl.gap == 0.0


def test_cpsat_optimal_with_rates(chip2x2):
    net = random_feedforward([2, 3, 3], p=0.7, seed=7)
    rates = np.array([0.5, 0.25, 1.0, 0.0, 0.75, 0.5, 0.25, 1.0])
    pl = map_network(net, chip2x2, "cpsat", rates=rates, time_limit=10)
    p = build_problem(net, chip2x2, rates)
    best = min(problem_cost(p, np.array(a)) for a in itertools.product(range(4), repeat=6)
               if np.bincount(a, minlength=4).max() <= 3)
    assert pl.status == "optimal" and pl.objective == pytest.approx(best)


def test_tree_table_equals_subset_enumeration():
    spec = HardwareSpec.preset("mosaic-4x4").replace(rows=2, cols=3)
    net = random_feedforward([2, 2], seed=0)
    p = build_problem(net, spec)
    t = topology(spec)
    allowed = np.array([0, 1, 2, 4, 5])
    g = tree_table(p, allowed, 4)
    for r in range(spec.n_cores):
        others = [c for c in allowed if c != r]
        for k in range(5):
            subs = [t.tree_routers(r, list(s)) for s in itertools.combinations(others, k)] if k <= len(others) else []
            want = min(subs) if subs else None
            if want is not None:
                assert g[r, k] == want, (r, k)


@st.composite
def instances(draw):
    seed = draw(st.integers(0, 10_000))
    sizes = [draw(st.integers(1, 6))] + [draw(st.integers(1, 8)) for _ in range(draw(st.integers(1, 3)))]
    net = random_feedforward(sizes, p=draw(st.sampled_from([0.2, 0.5, 0.9])),
                             recurrent_p=draw(st.sampled_from([0.0, 0.2])), seed=seed)
    cap = draw(st.integers(2, 6))
    n_allowed = max(int(np.ceil(net.n_neurons / cap)), draw(st.integers(1, 16)))
    allowed = np.random.default_rng(seed).permutation(16)[:min(n_allowed, 16)]
    return net, cap, allowed, seed


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(), method=st.sampled_from(METHODS), port=st.sampled_from([None, 4, 50]))
def test_every_method_respects_constraints(chip4x4, inst, method, port):
    net, cap, allowed, seed = inst
    if net.n_neurons > cap * allowed.size:
        return
    pins = {0: int(allowed[0])}
    try:
        pl = map_network(net, chip4x4, method, capacity=cap, allowed_cores=allowed, pinned=pins,
                         port_capacity=port, time_limit=0.3, seed=seed)
    except MappingError as e:
        assert port is not None and "port_capacity" in str(e)
        return
    assert check_placement(net, chip4x4, pl, capacity=cap, allowed_cores=allowed, port_capacity=port,
                           pinned=pins) == []
    assert pl.objective == pytest.approx(traffic_cost(net, chip4x4, pl.core_of))
    assert pl.bound <= pl.objective + 1e-9
    assert 0.0 <= pl.gap <= 1.0


def test_bound_below_brute_force_optimum(chip2x2):
    for seed in range(3):
        net = random_feedforward([4, 4, 3], p=0.8, seed=seed)
        p = build_problem(net, chip2x2)
        lb = per_source_bound(p, np.full(4, 3))
        assert lb <= brute_force(net, chip2x2, 3) + 1e-9


def test_bound_is_positive_when_targets_must_spread(chip4x4):
    net = random_feedforward([4, 40, 40], p=1.0, seed=0)
    pl = map_network(net, chip4x4, "greedy", capacity=8)
    assert 0 < pl.bound <= pl.objective


def test_reserve_leaves_room_and_reports_its_cost(chip4x4, mlp_small):
    pl = map_network(mlp_small, chip4x4, "anneal", capacity=8, reserve=0.25, time_limit=0.5)
    assert np.bincount(pl.core_of, minlength=16).max() <= 6
    assert pl.extra["reserve_cost"] == pytest.approx(pl.objective - pl.extra["objective_without_reserve"])


def test_incremental_keeps_pins_and_respects_budget(chip4x4):
    net = random_feedforward([8, 30, 30, 4], p=0.4, seed=1)
    first = random_feedforward([8, 27, 30, 4], p=0.4, seed=1)
    pl0 = map_network(first, chip4x4, "anneal", time_limit=0.5)
    prev = {i: int(c) for i, c in enumerate(pl0.core_of) if i < 27}
    prev.update({i + 3: int(c) for i, c in enumerate(pl0.core_of) if i >= 27})   # 3 neurons inserted
    pins = {5: prev[5]}
    for budget in (0, 3):
        pl = map_network(net, chip4x4, "cpsat", previous=prev, migration_budget=budget, pinned=pins,
                         time_limit=5)
        old = np.array(sorted(prev))
        moved = np.count_nonzero(pl.core_of[old] != np.array([prev[i] for i in old]))
        assert moved <= budget and pl.extra["moved"] == moved
        assert pl.core_of[5] == prev[5]
        assert check_placement(net, chip4x4, pl) == []
    pl = map_network(net, chip4x4, "cpsat", previous=prev, time_limit=5)
    assert pl.extra["n_new"] == 3 and pl.status == "optimal"


def test_incremental_appended_neurons_from_placement(chip4x4):
    net = random_feedforward([6, 20, 10], p=0.5, seed=2)
    pl0 = Placement(np.arange(25) % 16)
    pl = map_network(net, chip4x4, "anneal", previous=pl0, time_limit=1)
    np.testing.assert_array_equal(pl.core_of[:25], pl0.core_of)


def test_best_insertion_matches_full_replacement_roughly(chip4x4):
    net = small_world(300, k=8, n_inputs=8, input_fanout=8, seed=0)
    full = map_network(net, chip4x4, "anneal", capacity=24, time_limit=2)
    keep = full.core_of[:270]
    inc = map_network(net, chip4x4, "anneal", capacity=24, previous=keep, time_limit=1)
    assert inc.objective <= 1.15 * full.objective


@pytest.mark.parametrize("kwargs, match", [
    (dict(capacity=1), r"capacity: 36 neurons, 16 slots \(16 cores x 1\)"),
    (dict(allowed_cores=[0]), r"36 neurons, 32 slots \(1 cores x 32\)"),
    (dict(capacity=4, reserve=0.6), r"after reserving 60%"),
    (dict(pinned={0: 99}), r"pinned: neuron 0 is pinned to core 99"),
    (dict(pinned={0: 1, 1: 1}, capacity=3, allowed_cores=[1], ), r"capacity"),
    (dict(method="magic"), r"unknown method 'magic'"),
    (dict(objective="energy"), r"unknown objective"),
    (dict(allowed_cores=[]), r"allowed_cores is empty"),
    (dict(port_capacity=0), r"port_capacity must be"),
    (dict(previous=np.zeros(50, int)), r"previous places 50 neurons"),
])
def test_infeasible_requests_name_the_constraint(chip4x4, mlp_small, kwargs, match):
    kwargs = dict(kwargs)
    method = kwargs.pop("method", "greedy")
    with pytest.raises(MappingError, match=match):
        map_network(mlp_small, chip4x4, method, **kwargs)


def test_port_capacity_too_tight_raises(chip4x4):
    net = random_feedforward([8, 60, 60], p=1.0, seed=0)
    with pytest.raises(MappingError, match="port_capacity"):
        map_network(net, chip4x4, "anneal", capacity=16, port_capacity=1, time_limit=0.3)


def test_synapse_objective_beats_greedy(chip4x4):
    net = small_world(120, k=6, n_inputs=4, input_fanout=4, seed=1)
    g = map_network(net, chip4x4, "greedy", objective="synapse", capacity=16)
    a = map_network(net, chip4x4, "anneal", objective="synapse", capacity=16, time_limit=1)
    assert a.objective < g.objective
    assert check_placement(net, chip4x4, a, capacity=16) == []


def test_compare_and_plot(chip4x4, mlp_small, tmp_path):
    from mapper import plot_placement
    res = compare_methods(mlp_small, chip4x4, methods=("greedy", "anneal"), time_limit=0.5)
    assert res["greedy"].extra["ratio_to_greedy"] == 1.0
    assert res["anneal"].objective <= res["greedy"].objective
    fig = plot_placement(mlp_small, chip4x4, res["anneal"], path=tmp_path / "chip.png")
    assert (tmp_path / "chip.png").stat().st_size > 1000
    assert len(fig.axes) >= 1
