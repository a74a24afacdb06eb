"""Property tests: the numba kernels equal the pure-Python reference on random small networks
and chips, over the paths the fast kernels take (uncontended windows, tight windows, late
packets deferred or dropped, virtual channels, sources found 8 spike flags at a time, runs
split into one-step kernel calls), and a batch's totals are the sums of its samples."""
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic import HardwareSpec
from mosaic.generators import random_feedforward
from mosaic.reference import simulate_reference
from mosaic.simulate import simulate, simulate_batch


def _doc(rep) -> dict:
    d = json.loads(rep.to_json())
    d.pop("wall_s")
    return d


def _setup(seed, sizes, topo, step_cycles, depth, bw, cph, vcs, recurrent_p):
    spec = HardwareSpec.preset(topo).replace(neurons_per_core=8, step_cycles=step_cycles, buffer_depth=depth,
                                             bandwidth=bw, cycles_per_hop=cph, virtual_channels=vcs)
    net = random_feedforward(sizes, p=0.5, weight_scale=0.9, recurrent_p=recurrent_p, seed=seed)
    rng = np.random.default_rng(seed)
    core_of = rng.permutation(np.repeat(np.arange(spec.n_cores), 8))[:net.n_neurons]
    return net, spec, core_of, rng


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), hidden=st.lists(st.integers(1, 21), min_size=1, max_size=2),
       topo=st.sampled_from(["mosaic-4x4", "mesh-8x8"]), step_cycles=st.integers(2, 40),
       depth=st.integers(1, 8), bw=st.integers(1, 2), cph=st.integers(1, 2), vcs=st.integers(1, 2),
       late=st.sampled_from(["defer", "drop"]), routing=st.sampled_from(["cycle", "ideal"]),
       recurrent_p=st.sampled_from([0.0, 0.3]), rate=st.floats(0.05, 0.9), one_step_calls=st.booleans())
def test_kernels_equal_reference(seed, hidden, topo, step_cycles, depth, bw, cph, vcs, late, routing,
                                 recurrent_p, rate, one_step_calls):
    n_in = 3 + seed % 11                       # neither inputs nor neurons a multiple of 8, often
    net, spec, core_of, rng = _setup(seed, [n_in, *hidden, 5], topo, step_cycles, depth, bw, cph, vcs,
                                     recurrent_p)
    x = rng.random((12, n_in)) < rate
    # progress=True runs T < 100 steps as one kernel call per step: every call starts from the
    # previous call's raster and network state
    a = simulate(net, spec, core_of, x, routing=routing, late=late, progress=one_step_calls)
    b = simulate_reference(net, spec, core_of, x, routing=routing, late=late)
    assert _doc(a) == _doc(b)
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.final_mem, b.final_mem)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), B=st.integers(1, 6), analog=st.booleans(),
       routing=st.sampled_from(["cycle", "ideal"]), late=st.sampled_from(["defer", "drop"]),
       step_cycles=st.integers(3, 30))
def test_batch_totals_are_sums_of_the_samples(seed, B, analog, routing, late, step_cycles):
    net, spec, core_of, rng = _setup(seed, [9, 13, 4], "mosaic-4x4", step_cycles, 2, 1, 1, 1, 0.2)
    x = rng.random((B, 7, 9))
    x = x * (x > 0.5) if analog else x < 0.5
    batch = simulate_batch(net, spec, core_of, x, routing=routing, late=late)
    reps = [simulate(net, spec, core_of, x[b], routing=routing, late=late) for b in range(B)]
    tot = batch.totals()
    assert tot["samples"] == B and tot["steps"] == 7 * B
    assert tot["packets"] == {k: sum(r.packets[k] for r in reps) for k in reps[0].packets}
    assert tot["counts"] == {k: sum(r.counts[k] for r in reps) for k in reps[0].counts}
    for k, v in tot["energy_pj"].items():
        assert np.isclose(v, sum(r.energy_pj[k] for r in reps), rtol=1e-12, atol=1e-9), k
    assert np.array_equal(tot["router_load"], sum(r.router_load for r in reps))
    assert np.array_equal(tot["link_load"], sum(r.link_load for r in reps))
