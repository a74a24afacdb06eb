"""The event-driven window of ``run_cycle`` (``mosaic.event_window``) equals the cycle model:
window by window against ``cycle_window`` (same deliveries in the same order, bit for bit,
same loads, counters and last delivery; it gives up exactly when packets are still in the
network at the window's end), and whole runs against the reference, on sparse traffic and on
dense windows (many packets from one tile: waiting queues, more packets than the buffer
depth, so that occupancy checks block, in each mode of the window), with late packets deferred or dropped, bandwidth and
hop cycles above 1 and virtual channels (which take the cycle model)."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic import HardwareSpec
from mosaic.generators import random_feedforward
from mosaic.cycle_model import cycle_window
from mosaic.event_window import GAVE_UP_CHECK, GAVE_UP_LATE, ORDERED, PLAIN, VERIFY, commit_window, event_window
from mosaic.kernels import ideal_loads
from mosaic.reference import simulate_reference
from mosaic.simstate import COUNTERS, Chip, noc_state, record, window_scratch
from mosaic.simulate import build_routes, simulate
from mosaic.topology import topology

_LATE = COUNTERS.index("late")


def _same_runs(a, b):
    assert np.array_equal(a.spikes, b.spikes)
    assert a.packets == b.packets and a.counts == b.counts
    assert np.array_equal(a.router_load, b.router_load)
    assert np.array_equal(a.link_load, b.link_load)
    assert np.array_equal(a.step_latency_cycles, b.step_latency_cycles)
    assert np.array_equal(a.final_mem, b.final_mem)


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
            _same_runs(a, simulate_reference(net, spec, core_of, x, late=late))
            sent += a.packets["injected"]
    assert sent > 50


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), topo=st.sampled_from(["mosaic-4x4", "mesh-8x8"]),
       step_cycles=st.sampled_from([6, 15, 60]), depth=st.integers(1, 3), bw=st.integers(1, 3),
       cph=st.integers(1, 2), vcs=st.sampled_from([1, 1, 2]), late=st.sampled_from(["defer", "drop"]),
       rate=st.floats(0.2, 0.9))
def test_dense_windows_equal_reference(seed, topo, step_cycles, depth, bw, cph, vcs, late, rate):
    """Every input enters at the I/O tile: a window carries up to 16 packets from one tile."""
    spec = HardwareSpec.preset(topo).replace(neurons_per_core=4, step_cycles=step_cycles, buffer_depth=depth,
                                             bandwidth=bw, cycles_per_hop=cph, virtual_channels=vcs)
    net = random_feedforward([16, 24, 12], p=0.5, weight_scale=0.5, recurrent_p=0.1, seed=seed)
    rng = np.random.default_rng(seed)
    core_of = rng.permutation(np.repeat(np.arange(spec.n_cores), 4))[:net.n_neurons]
    x = rng.random((10, net.n_inputs)) < rate
    _same_runs(simulate(net, spec, core_of, x, late=late), simulate_reference(net, spec, core_of, x, late=late))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), topo=st.sampled_from(["mosaic-4x4", "mosaic-8x8", "mesh-8x8"]),
       n_pkt=st.integers(1, 40), fan=st.integers(1, 12), step_cycles=st.sampled_from([4, 12, 1000]),
       depth=st.integers(1, 8), bw=st.integers(1, 3), cph=st.integers(1, 3), few_tiles=st.booleans())
def test_event_window_equals_cycle_window(seed, topo, n_pkt, fan, step_cycles, depth, bw, cph, few_tiles):
    _windows_equal_cycle_window(seed, topo, n_pkt, fan, step_cycles, depth, bw, cph, few_tiles)


def test_verify_gives_up_where_order_matters_and_ordered_runs_after_it():
    """40 packets from two tiles through one-entry FIFOs: VERIFY meets a full FIFO, gives up,
    and ORDERED then computes the window from the scratch VERIFY left, as the cycle model."""
    assert _windows_equal_cycle_window(3, "mosaic-4x4", 40, 12, 1000, 1, 1, 1, True) == 1


def _windows_equal_cycle_window(seed, topo, n_pkt, fan, step_cycles, depth, bw, cph, few_tiles) -> int:
    """A window of ``event_window`` in each mode equals ``cycle_window``; returns how many
    times VERIFY gave up at a failed check."""
    spec = HardwareSpec.preset(topo)
    rng = np.random.default_rng(seed)
    n = spec.n_cores * 4
    core_of = np.arange(n) // 4
    rows = np.repeat(np.arange(n_pkt), fan)
    w = sp.csr_matrix((rng.normal(size=rows.size), (rows, rng.integers(0, n, rows.size))), shape=(n_pkt, n))
    tiles = rng.integers(0, 2 if few_tiles else spec.n_cores, n_pkt)
    rt = build_routes(spec, w, core_of, tiles.astype(np.int64))
    inj = np.flatnonzero(rt.n_remote > 0).astype(np.int64)
    chip = Chip(step_cycles, cph, bw, depth, False, spec.n_cores, 1)
    topo_ = topology(spec)
    n_links = len(topo_.links)
    # the cycle model, then the event window (from its own scratch, then from a reused one)
    I_cyc = np.zeros(n)
    rec_cyc = record(0, 0, topo_.n_routers, n_links)
    noc = noc_state(n_links, 16)
    noc, last_cyc = cycle_window(0, chip, rt, inj, inj.size, np.empty(inj.size, np.int64), I_cyc, noc, -1, rec_cyc)
    sc = window_scratch(n_links, spec.n_cores, max(1, int(np.diff(rt.edge_ptr).sum())))
    # crowded windows: ORDERED, VERIFY (a failed check: ORDERED again, from the scratch VERIFY left)
    crowded = inj.size > depth
    gave_up = 0
    for w0, mode in ((0, ORDERED), (7 * step_cycles, VERIFY), (9 * step_cycles, ORDERED)):
        n_dl, last = event_window(w0, chip, rt, inj, inj.size, sc, mode if crowded else PLAIN)
        if n_dl == GAVE_UP_CHECK:
            assert mode == VERIFY and crowded
            gave_up += 1
            n_dl, last = event_window(w0, chip, rt, inj, inj.size, sc, ORDERED)
        late = rec_cyc.counters[_LATE] > 0
        assert (n_dl == GAVE_UP_LATE) == late
        if late:
            continue
        I_ev = np.zeros(n)
        rec_ev = record(0, 0, topo_.n_routers, n_links)
        src_count = np.zeros(n_pkt, np.int64)
        commit_window(inj, inj.size, n_dl, rt, sc, I_ev, src_count, rec_ev.counters)
        ideal_loads(src_count, rt, spec.n_cores, rec_ev)
        assert np.array_equal(I_ev, I_cyc)      # same sums in the same order: bit for bit
        assert last == last_cyc
        assert np.array_equal(rec_ev.counters, rec_cyc.counters)
        assert np.array_equal(rec_ev.link_load, rec_cyc.link_load)
        assert np.array_equal(rec_ev.router_load, rec_cyc.router_load)
    return gave_up


@given(st.integers(0, 120), st.integers(0, 5), st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_sort_segment_sorts_the_segment_by_key_and_leaves_the_rest(n, a0, seed):
    """The window's in-place sort (insertion sort, argsort above 24 entries) against numpy's:
    the segment's (edge, key) pairs in increasing key, every other slot unchanged."""
    from mosaic.event_window import _sort_segment
    rng = np.random.default_rng(seed)
    key = rng.permutation(10 * (n + a0 + 3))[: n + a0 + 3].astype(np.int64)   # distinct keys
    edge = rng.integers(0, 1000, key.size).astype(np.int32 if seed % 2 else np.int64)   # dl_edge, srv
    k2, e2 = key.copy(), edge.copy()
    _sort_segment(e2, k2, a0, a0 + n)
    order = np.argsort(key[a0:a0 + n])
    assert np.array_equal(k2[a0:a0 + n], key[a0:a0 + n][order])
    assert np.array_equal(e2[a0:a0 + n], edge[a0:a0 + n][order])
    assert np.array_equal(k2[:a0], key[:a0]) and np.array_equal(k2[a0 + n:], key[a0 + n:])
    assert np.array_equal(e2[:a0], edge[:a0]) and np.array_equal(e2[a0 + n:], edge[a0 + n:])
