import numpy as np
from hypothesis import given, settings, strategies as st

from mosaic import HardwareSpec
from mosaic.generators import random_feedforward
from mapper.heuristics import Annealer, greedy_fill, improve_moves, random_fill, snake_order
from mapper.objective import build_problem, port_loads, problem_cost, tree_costs


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), port=st.sampled_from([None, 3, 8]))
def test_annealer_state_matches_oracle(seed, port):
    """After many accepted and rejected moves, the incremental trees, costs, link
    loads and port excess equal a recomputation from scratch."""
    spec = HardwareSpec.preset("mosaic-4x4")
    net = random_feedforward([6, 20, 14, 5], p=0.4, recurrent_p=0.05, seed=seed)
    p = build_problem(net, spec, np.random.default_rng(seed).random(6 + 39))
    cap = np.full(spec.n_cores, 4)
    cap[[3, 7]] = 0
    rng = np.random.default_rng(seed)
    pins = np.full(net.n_neurons, -1)
    pins[:3] = [0, 1, 2]
    start = random_fill(net.n_neurons, cap, pins, rng)
    movable = pins < 0
    a = Annealer(p, start, cap, movable, port_cap=port)
    for k, temp in enumerate([5.0, 1.0, 0.1]):
        a._chunk(3000, temp, seed + k, 0.1)
    costs = tree_costs(p.roots(a.core_of), a.core_of, p.tgt_ptr, p.tgt_idx, p.parent, p.n_cores, p.n_nodes)
    np.testing.assert_array_equal(a.cost, costs)
    np.testing.assert_array_equal(a.roots, p.roots(a.core_of))
    assert a.objective() == problem_cost(p, a.core_of) or abs(a.objective() - problem_cost(p, a.core_of)) < 1e-9
    loads = port_loads(p, a.core_of)
    np.testing.assert_array_equal(a.lload, loads)
    if port is not None:
        assert a.excess() == int(np.maximum(loads - port, 0).sum())
    load = np.bincount(a.core_of, minlength=spec.n_cores)
    assert (load <= cap).all()
    np.testing.assert_array_equal(a.core_of[:3], [0, 1, 2])
    for c in range(spec.n_cores):
        assert sorted(a.members[c, :a.load[c]]) == sorted(np.flatnonzero(a.core_of == c))


def test_annealing_improves_on_greedy():
    spec = HardwareSpec.preset("mosaic-4x4")
    net = random_feedforward([8, 40, 40, 6], p=0.3, seed=0)
    p = build_problem(net, spec)
    cap = np.full(spec.n_cores, 16)
    g = greedy_fill(net.n_neurons, cap, np.full(net.n_neurons, -1))
    a = Annealer(p, g, cap, np.ones(net.n_neurons, bool))
    best = a.run(1.0, seed=0)
    assert problem_cost(p, best) < problem_cost(p, g)


def test_best_insertion_never_worsens():
    spec = HardwareSpec.preset("mosaic-4x4")
    net = random_feedforward([8, 30, 20], p=0.3, seed=5)
    p = build_problem(net, spec)
    cap = np.full(spec.n_cores, 8)
    start = random_fill(net.n_neurons, cap, np.full(net.n_neurons, -1), np.random.default_rng(1))
    a = Annealer(p, start, cap, np.ones(net.n_neurons, bool))
    before = a.objective()
    improve_moves(a, np.arange(net.n_neurons), n_sweeps=2)
    assert a.objective() <= before
    assert abs(a.objective() - problem_cost(p, a.core_of)) < 1e-9
    assert (np.bincount(a.core_of, minlength=16) <= cap).all()


def test_greedy_fills_in_chip_order_and_snake_is_a_permutation():
    spec = HardwareSpec.preset("mosaic-4x4")
    cap = np.full(16, 4)
    cap[1] = 0
    g = greedy_fill(10, cap, np.full(10, -1))
    np.testing.assert_array_equal(g, [0, 0, 0, 0, 2, 2, 2, 2, 3, 3])
    net = random_feedforward([2, 3], seed=0)
    order = snake_order(build_problem(net, spec), cap, 4, 4)
    assert sorted(order) == sorted(np.flatnonzero(cap))
    assert order[0] == spec.io_core


def test_spectral_start_with_pins_places_everyone_within_capacity():
    from mosaic.generators import small_world
    from mapper.heuristics import spectral_start
    spec = HardwareSpec.preset("mosaic-4x4")
    net = small_world(200, k=6, n_inputs=4, input_fanout=4, seed=0)
    p = build_problem(net, spec)
    cap = np.full(16, 16)
    pins = np.full(200, -1)
    pins[[0, 50, 199]] = [3, 3, 9]
    s = spectral_start(p, cap, pins, 4, 4)
    assert (s >= 0).all() and (np.bincount(s, minlength=16) <= cap).all()
    np.testing.assert_array_equal(s[[0, 50, 199]], [3, 3, 9])
    g = greedy_fill(200, cap, pins)
    assert problem_cost(p, s) < problem_cost(p, g)      # the sheet's geometry is recovered
