"""The multilevel pipeline: partitions, the coarse assignment, bounds, checks."""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from mosaic import HardwareSpec
from mosaic.generators import random_feedforward, small_world
from mapper import MappingError, check_placement, map_network
from mapper.assign import assign_parts, expand, greedy_assign, qap_cost, solve_qap
from mapper.bounds import per_source_bound, shared_core_bound, shared_core_budget
from mapper.multilevel import coarse_problem
from mapper.objective import build_problem, problem_cost
from mapper.partition import bisect, coarse_flows, kway
from mapper.request import check_request, core_capacities


def brute_opt(net, spec, cap, pins=None, rates=None):
    """Optimum over every assignment (cap per core, 0 = not allowed; pins kept)."""
    p = build_problem(net, spec, rates)
    best = np.inf
    for a in itertools.product(np.flatnonzero(cap > 0), repeat=net.n_neurons):
        a = np.array(a)
        if (np.bincount(a, minlength=cap.size) <= cap).all() and (pins is None or all(a[i] == c for i, c in pins.items())):
            best = min(best, problem_cost(p, a))
    return best


def slow_flows(p, part, k):
    f = np.zeros((k, k))
    f_io = np.zeros(k)
    for s in range(p.n_src):
        dests = {int(part[t]) for t in p.tgt_idx[p.tgt_ptr[s]:p.tgt_ptr[s + 1]] if part[t] >= 0}
        for q in dests:
            if s < p.n_inputs:
                f_io[q] += p.rates[s]
            elif part[s - p.n_inputs] >= 0 and part[s - p.n_inputs] != q:
                f[part[s - p.n_inputs], q] += p.rates[s]
    return f, f_io


@pytest.mark.parametrize("seed", [0, 1])
def test_coarse_flows_count_each_destination_part_once(chip4x4, seed):
    net = random_feedforward([5, 12, 9, 4], p=0.5, recurrent_p=0.2, seed=seed)
    p = build_problem(net, chip4x4, np.random.default_rng(seed).random(net.n_inputs + net.n_neurons))
    part = np.random.default_rng(seed).integers(-1, 5, net.n_neurons)
    f, f_io = coarse_flows(p, part, 5)
    want, want_io = slow_flows(p, part, 5)
    np.testing.assert_allclose(f.toarray(), want)
    np.testing.assert_allclose(f_io, want_io)


@pytest.mark.parametrize("how", ["kway", "bisect"])
def test_partition_respects_capacity_allowed_cores_and_pins(chip4x4, how):
    net = small_world(150, k=6, n_inputs=4, input_fanout=4, seed=2)
    allowed = [1, 2, 5, 6, 9, 10, 13]
    cap = core_capacities(chip4x4, allowed, 24)
    pins = np.full(net.n_neurons, -1)
    pins[[0, 7, 8]] = [5, 5, 13]
    p = build_problem(net, chip4x4)
    if how == "kway":
        parts = kway(p, cap, pins)
        assert parts.size.max() <= 24
    else:
        parts, where = bisect(p, cap, pins, chip4x4.cols)
        room = cap - np.bincount(pins[pins >= 0], minlength=16)
        assert (parts.size <= room[where]).all() and set(where) <= set(allowed)
    assert (parts.part[pins >= 0] == -1).all() and (parts.part[pins < 0] >= 0).all()
    assert parts.size.sum() == net.n_neurons - 3


@pytest.mark.parametrize("method", ["cpsat", "partition"])
def test_multilevel_methods_keep_every_constraint(chip4x4, method):
    net = small_world(150, k=6, n_inputs=4, input_fanout=4, seed=2)
    allowed = [1, 2, 5, 6, 9, 10, 13]
    pins = {0: 5, 7: 5, 8: 13, 40: 1}
    pl = map_network(net, chip4x4, method, capacity=24, allowed_cores=allowed, pinned=pins, time_limit=1.5)
    assert check_placement(net, chip4x4, pl, capacity=24, allowed_cores=allowed, pinned=pins) == []
    assert pl.bound <= pl.objective + 1e-9


def test_multilevel_beats_greedy_on_a_sheet():
    spec = HardwareSpec.preset("mosaic-8x8")
    net = small_world(1024, seed=0)
    g = map_network(net, spec, "greedy")
    part = map_network(net, spec, "partition")
    cp = map_network(net, spec, "cpsat", time_limit=3)
    assert cp.objective < 0.8 * g.objective and cp.objective < part.objective
    assert cp.extra["n_parts"] >= 32


def _hops(spec, cores):
    return build_problem(random_feedforward([1, 1], seed=0), spec).hops, np.asarray(cores)


def brute_qap(f, f_io, ok, hops, io, fixed):
    k = f.shape[0]
    best, arg = np.inf, None
    for cores in itertools.permutations(np.flatnonzero(ok.any(axis=0)), k):
        w = np.array(cores)
        if not ok[np.arange(k), w].all():
            continue
        c = qap_cost(f, f_io, w, hops, io) + fixed[np.arange(k), w].sum()
        if c < best:
            best, arg = c, w
    return best, arg


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_coarse_assignment_equals_brute_force(chip4x4, seed):
    rng = np.random.default_rng(seed)
    hops, _ = _hops(chip4x4, [])
    k = 4
    f = sp.csr_matrix(rng.integers(0, 5, (k, k)) * (rng.random((k, k)) < 0.7) * (1 - np.eye(k, dtype=int)))
    f_io = rng.integers(0, 4, k).astype(float)
    ok = np.zeros((k, 16), np.bool_)
    ok[:, [0, 1, 4, 5, 6, 10]] = True
    ok[0, 10] = False                                    # part 0 does not fit core 10
    fixed = np.zeros((k, 16))
    fixed[:, 6] = rng.integers(0, 3, k)                  # flows to a pinned neuron on core 6
    where, optimal = assign_parts(f.astype(float), f_io, ok, hops, 0, 10.0, fixed_cost=fixed)
    best, _ = brute_qap(f.astype(float), f_io, ok, hops, 0, fixed)
    assert optimal
    assert len(set(where.tolist())) == k and ok[np.arange(k), where].all()
    assert qap_cost(f.astype(float), f_io, where, hops, 0) + fixed[np.arange(k), where].sum() == pytest.approx(best)


def test_qap_window_keeps_other_parts_and_never_worsens(chip4x4):
    rng = np.random.default_rng(5)
    hops, _ = _hops(chip4x4, [])
    k = 6
    f = sp.csr_matrix(rng.random((k, k)) * (1 - np.eye(k)))
    f_io = rng.random(k)
    ok = np.ones((k, 16), np.bool_)
    start = greedy_assign(f, f_io, ok, hops, 0)
    assert len(set(start.tolist())) == k
    free = np.array([1, 3])
    cand = np.unique(np.concatenate([start[free], [15]]))
    new, _ = solve_qap(f, f_io, start, free, cand, ok, hops, 0, 5.0)
    np.testing.assert_array_equal(np.delete(new, free), np.delete(start, free))
    assert len(set(new.tolist())) == k
    assert qap_cost(f, f_io, new, hops, 0) <= qap_cost(f, f_io, start, hops, 0) + 1e-6


def test_expand_spills_to_the_nearest_room(chip4x4):
    hops, _ = _hops(chip4x4, [])
    cap = np.full(16, 3)
    pins = np.full(8, -1)
    pins[0] = 5
    part = np.array([-1, 0, 0, 0, 1, 1, 1, 1])         # part 1 has 4 neurons for a room of 3
    core_of = expand(part, np.array([5, 9]), cap, pins, hops)
    assert np.bincount(core_of, minlength=16).max() <= 3
    assert core_of[0] == 5 and (core_of[1:3] == 5).all()    # core 5 had room for two after the pin
    assert hops[9, core_of[7]] <= 1


@pytest.mark.parametrize("seed", range(4))
def test_bounds_never_exceed_the_brute_force_optimum(chip2x2, seed):
    rng = np.random.default_rng(seed)
    net = random_feedforward([3, 3, 2, 2], p=0.7, recurrent_p=0.3 * (seed % 2), seed=seed)
    rates = rng.choice([0.0, 0.5, 1.0, 2.0], net.n_inputs + net.n_neurons)
    cap = np.array([3, 3, 3, 2]) if seed < 2 else np.array([3, 0, 3, 3])
    pins = {0: 2} if seed % 2 else None
    opt = brute_opt(net, chip2x2, cap, pins, rates)
    p = build_problem(net, chip2x2, rates)
    pin_arr = np.full(net.n_neurons, -1)
    for i, c in (pins or {}).items():
        pin_arr[i] = c
    lb_src = per_source_bound(p, cap, pin_arr)
    lb = shared_core_bound(p, cap, pin_arr)
    assert lb_src - 1e-9 <= lb <= opt + 1e-9


def test_shared_bound_is_tighter_when_sources_compete(chip4x4):
    # input i drives neurons 8i..8i+7 only: each input alone fits its targets on the I/O
    # core (per-source bound 0), but the I/O core holds 8 neurons, not 8 per input
    from mosaic import SpikingNetwork
    w_in = sp.csr_matrix((np.ones(48), (np.repeat(np.arange(6), 8), np.arange(48))), shape=(6, 48))
    net = SpikingNetwork(w_in, sp.csr_matrix((48, 48)), 0.9, 1.0)
    p = build_problem(net, chip4x4)
    cap = np.full(16, 8)
    u_io, u_n = shared_core_budget(p, cap)
    assert (u_io, u_n) == (8, 0)
    assert per_source_bound(p, cap) == 0
    assert shared_core_bound(p, cap) == 5                 # five inputs reach one more core, 1 router each
    assert shared_core_bound(p, cap) <= map_network(net, chip4x4, "anneal", capacity=8, time_limit=1).objective


def test_turan_budget_on_a_bipartite_net(chip4x4):
    net = random_feedforward([4, 24, 24], p=1.0, seed=0)
    u_io, u_n = shared_core_budget(build_problem(net, chip4x4), np.full(16, 8))
    assert u_n == 6 * (8 * 8 // 4)                      # 48 neurons in 6 full cores, <= 16 synapses each


@pytest.mark.parametrize("kwargs, match", [
    (dict(capacity=2), r"capacity: 36 neurons, 32 slots \(16 cores x 2\)"),
    (dict(allowed_cores=[3, 4], capacity=16), r"36 neurons, 32 slots \(2 cores x 16\)"),
    (dict(pinned={0: 3, 1: 3, 2: 3, 5: 3}, capacity=3), r"4 neurons pinned to core 3, capacity 3"),
    (dict(previous={i: 3 for i in range(30)}, pinned={31: 3}, capacity=30),
     r"previous placement already puts 31 neurons on core 3, more than the capacity 30"),
])
def test_impossible_requests_fail_in_the_check_before_any_solver(chip4x4, mlp_small, kwargs, match):
    with pytest.raises(MappingError, match=match):
        check_request(mlp_small.n_neurons, chip4x4, "cpsat", "traffic", 30.0, **kwargs)
    for method in ("cpsat", "partition"):
        with pytest.raises(MappingError, match=match):
            map_network(mlp_small, chip4x4, method, time_limit=30.0, **kwargs)


def test_coarse_problem_charges_flows_to_pinned_cores(chip4x4):
    net = random_feedforward([2, 6, 6], p=1.0, seed=0)
    p = build_problem(net, chip4x4)
    cap = np.full(16, 4)
    pins = np.full(12, -1)
    pins[11] = 15                                           # an output neuron pinned far away
    parts = kway(p, cap, pins)
    cp = coarse_problem(p, cap, pins, parts)
    holder = parts.part[np.flatnonzero(pins < 0)]
    assert cp.fixed_cost.shape == (parts.n_parts, 16)
    # the parts that send to neuron 11 pay less the nearer they sit to core 15
    q = int(parts.part[0])                                  # hidden neuron 0 drives neuron 11
    assert cp.fixed_cost[q, 14] < cp.fixed_cost[q, 0] and holder.size == 11


@pytest.mark.parametrize("budget", [0, 1, 2])
def test_window_with_a_migration_budget_equals_brute_force(chip2x2, budget):
    from mapper.cpsat import solve_window
    net = random_feedforward([3, 3, 2, 2], p=0.7, recurrent_p=0.2, seed=4)
    p = build_problem(net, chip2x2)
    cap = np.full(4, 3)
    home = np.array([0, 0, 1, 1, 2, 2, 3])               # neuron 6 is new (no home below)
    start = home.copy()
    start[6] = 3
    free = np.arange(7)
    home_arr = home.copy()
    home_arr[6] = -1
    res = solve_window(p, start, free, [np.arange(4)] * 7, cap, 10.0, stay=(home_arr, budget))
    best = min(problem_cost(p, np.array(a)) for a in itertools.product(range(4), repeat=7)
               if np.bincount(a, minlength=4).max() <= 3 and np.count_nonzero(np.array(a)[:6] != home[:6]) <= budget)
    assert res.optimal and np.count_nonzero(res.core_of[:6] != home[:6]) <= budget
    assert problem_cost(p, res.core_of) == pytest.approx(best)
