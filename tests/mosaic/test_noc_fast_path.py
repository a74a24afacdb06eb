"""The event-driven window of ``run_cycle`` (``mosaic.event_window``), and the level walk in
front of it (``mosaic.static_window``), equal the cycle model:
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
from mosaic.event_window import GAVE_UP_LATE, ORDERED, PLAIN, commit_window, event_window, root_log
from mosaic.kernels import ideal_loads
from mosaic.reference import simulate_reference
from mosaic.simstate import COUNTERS, Chip, noc_state, record, window_scratch
from mosaic.simulate import build_routes, simulate
from mosaic.static_window import static_window
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


def test_ordered_serves_again_in_link_order_where_a_fifo_is_full():
    """40 packets from two tiles through one-entry FIFOs: pushes find full FIFOs (the window
    without the checks, PLAIN, delivers otherwise), so cycles are undone and served again in
    link order, and ORDERED equals the cycle model."""
    case = _windows_equal_cycle_window(3, "mosaic-4x4", 40, 12, 1000, 1, 1, 1, True)
    assert not case["late"]
    rt, inj, sc = case["rt"], case["inj"], case["sc"]
    assert sc.held[0] > 0                       # ORDERED's last run above held entries back
    n_dl, last = event_window(0, case["chip"], rt, sc, root_log(rt, inj, inj.size, sc), 0, -1, PLAIN)
    assert n_dl > 0 and (last != case["last"] or not np.array_equal(_committed(case, n_dl)[0], case["I"]))
    assert sc.held[0] == 0


def test_ordered_window_after_a_late_one_starts_from_empty_fifos():
    """A crowded window that gives up (packets still in the network at its end) leaves no
    occupancy behind: the next crowded window, from the same scratch, equals the cycle model."""
    late = _window_case(3, "mosaic-4x4", 40, 12, 6, 1, 1, 1, True)
    assert late["late"]
    for seed in range(4):
        case = _window_case(seed, "mosaic-4x4", 40, 12, 1000, 1, 1, 1, True)
        sc = window_scratch(len(case["topo"].links), case["spec"].n_cores,
                            max(late["sc"].arr_edge.size, case["sc"].arr_edge.size))
        rt, inj = late["rt"], late["inj"]
        assert event_window(0, late["chip"], rt, sc, root_log(rt, inj, inj.size, sc), 0, -1, ORDERED)[0] == GAVE_UP_LATE
        case["sc"] = sc
        rt, inj = case["rt"], case["inj"]
        n_dl, last = event_window(1000, case["chip"], rt, sc, root_log(rt, inj, inj.size, sc), 0, -1, ORDERED)
        _same_as_cycle_window(case, n_dl, last)


def _window_case(seed, topo, n_pkt, fan, step_cycles, depth, bw, cph, few_tiles):
    """One window of ``n_pkt`` packets (``fan`` random targets each, from random tiles or two)
    through the cycle model: its routes, chip and what ``cycle_window`` delivered."""
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
    I_cyc = np.zeros(n)
    rec_cyc = record(0, 0, topo_.n_routers, n_links)
    noc = noc_state(n_links, 16)
    noc, last_cyc = cycle_window(0, chip, rt, inj, inj.size, np.empty(inj.size, np.int64), I_cyc, noc, -1, rec_cyc)
    sc = window_scratch(n_links, spec.n_cores, max(1, int(np.diff(rt.edge_ptr).sum())))
    return dict(spec=spec, rt=rt, inj=inj, chip=chip, n=n, n_pkt=n_pkt, topo=topo_, sc=sc, I=I_cyc, rec=rec_cyc,
                last=last_cyc, late=rec_cyc.counters[_LATE] > 0)


def _committed(case, n_dl):
    """The current and the record of the deliveries ``n_dl`` in ``case["sc"]``, committed."""
    rt, spec, topo_, inj = case["rt"], case["spec"], case["topo"], case["inj"]
    I_ev = np.zeros(case["n"])
    rec_ev = record(0, 0, topo_.n_routers, len(topo_.links))
    src_count = np.zeros(case["n_pkt"], np.int64)
    commit_window(inj, inj.size, n_dl, rt, case["sc"], I_ev, src_count, rec_ev.counters)
    ideal_loads(src_count, rt, spec.n_cores, rec_ev)
    return I_ev, rec_ev


def _same_as_cycle_window(case, n_dl, last):
    """The deliveries ``n_dl`` in ``case["sc"]`` committed give what the cycle model gave."""
    I_ev, rec_ev = _committed(case, n_dl)
    rec_cyc = case["rec"]
    assert np.array_equal(I_ev, case["I"])      # same sums in the same order: bit for bit
    assert last == case["last"]
    assert np.array_equal(rec_ev.counters, rec_cyc.counters)
    assert np.array_equal(rec_ev.link_load, rec_cyc.link_load)
    assert np.array_equal(rec_ev.router_load, rec_cyc.router_load)


def _windows_equal_cycle_window(seed, topo, n_pkt, fan, step_cycles, depth, bw, cph, few_tiles) -> dict:
    """A window of ``event_window`` (PLAIN with at most ``depth`` packets, else ORDERED)
    equals ``cycle_window``, from its own scratch and from a reused one; returns the case."""
    case = _window_case(seed, topo, n_pkt, fan, step_cycles, depth, bw, cph, few_tiles)
    chip, rt, inj, sc = case["chip"], case["rt"], case["inj"], case["sc"]
    mode = ORDERED if inj.size > depth else PLAIN
    for w0 in (0, 7 * step_cycles, 9 * step_cycles):
        n_dl, last = event_window(w0, chip, rt, sc, root_log(rt, inj, inj.size, sc), 0, -1, mode)
        assert (n_dl == GAVE_UP_LATE) == case["late"]
        if not case["late"]:
            _same_as_cycle_window(case, n_dl, last)
    return case


def _meet_level(rt, inj, n_cores):
    """The first tree level at which two of the trees of ``inj`` reach one link, or None (a
    breadth-first walk per tree: the slow, obvious check)."""
    seen, meet = {}, None
    for q, k in enumerate(inj):
        level = {e: 0 for e in range(rt.edge_ptr[k], rt.root_end[k])}
        for e in range(rt.edge_ptr[k], rt.edge_ptr[k + 1]):       # parents come first
            link, lvl = int(rt.edges[e, 0]), level[e]
            if seen.setdefault((link, lvl), q) != q:
                meet = lvl if meet is None else min(meet, lvl)
            if rt.link_head[link] >= n_cores:
                level.update({c: lvl + 1 for c in range(rt.edges[e, 1], rt.edges[e, 2])})
    return meet


def _static_then_event(w0, case):
    """``static_window``, then ``event_window`` PLAIN from the level at which it stopped:
    (deliveries, last cycle, whether event_window ran)."""
    chip, rt, inj, sc = case["chip"], case["rt"], case["inj"], case["sc"]
    n_dl, last, tail = static_window(w0, chip, rt, inj, inj.size, sc)
    if tail < 0:
        return n_dl, last, False
    n_dl, last = event_window(w0, chip, rt, sc, tail, n_dl, last, PLAIN)
    return n_dl, last, True


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), topo=st.sampled_from(["mosaic-4x4", "mosaic-8x8", "mesh-8x8"]),
       n_pkt=st.integers(1, 8), fan=st.integers(1, 12), step_cycles=st.sampled_from([4, 12, 1000]),
       bw=st.integers(1, 3), cph=st.integers(1, 3), few_tiles=st.booleans())
def test_static_window_then_event_window_equals_cycle_window(seed, topo, n_pkt, fan, step_cycles, bw, cph,
                                                              few_tiles):
    """At most ``buffer_depth`` packets: ``static_window`` hands the window to ``event_window``
    exactly when two trees reach one link at one level within the window, and the two
    together equal the cycle model, from a fresh scratch and from a reused one."""
    case = _window_case(seed, topo, n_pkt, fan, step_cycles, n_pkt, bw, cph, few_tiles)
    meet = _meet_level(case["rt"], case["inj"], case["chip"].n_cores)
    for w0 in (0, 5 * step_cycles):
        n_dl, last, handed = _static_then_event(w0, case)
        assert handed == (meet is not None and meet * cph < step_cycles)
        assert (n_dl == GAVE_UP_LATE) == case["late"]
        if not case["late"]:
            _same_as_cycle_window(case, n_dl, last)


def test_static_window_takes_single_packets_and_hands_on_where_trees_meet():
    """A single packet's tree never meets itself: one delivery per destination core, no
    event window.  Of windows of 2 to 4 packets some meet (at a level above the roots too)
    and some do not, each as ``_meet_level`` says.  A window without packets delivers
    nothing, as ``event_window`` says (last cycle -1)."""
    for seed in range(5):
        one = _window_case(seed, "mosaic-8x8", 1, 12, 1000, 1, 1, 1, False)
        n_dl, last, handed = _static_then_event(0, one)
        assert n_dl == one["rt"].n_remote[one["inj"][0]] and not handed
        _same_as_cycle_window(one, n_dl, last)
    levels = []
    for seed in range(30):
        case = _window_case(seed, "mosaic-8x8", 2 + seed % 3, 6, 1000, 4, 1, 1, False)
        n_dl, last, handed = _static_then_event(0, case)
        levels.append(_meet_level(case["rt"], case["inj"], case["chip"].n_cores))
        assert handed == (levels[-1] is not None)
        _same_as_cycle_window(case, n_dl, last)
    assert None in levels and any(lv is not None and lv > 0 for lv in levels)
    none = _window_case(0, "mosaic-4x4", 1, 1, 1000, 1, 1, 1, False)
    empty = np.zeros(0, np.int64)
    assert static_window(0, none["chip"], none["rt"], empty, 0, none["sc"]) == (0, -1, -1)
    assert event_window(0, none["chip"], none["rt"], none["sc"], 0, 0, -1, PLAIN) == (0, -1)
