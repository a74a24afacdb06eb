"""The simulator's run kernels: steps of a placed network with ideal or cycle-approximate
routing, one run or a batch of independent runs.

Typed NamedTuples of arrays in (``mosaic.simstate``: ``Chip``, ``NeuronParams``,
``NeuronState``, ``Inputs``, ``Routes``, ``NocState``, ``Record``), arrays out; the
semantics are documented in ``mosaic.simulate`` and mirrored loop for loop by
``mosaic.reference`` (the oracle in the tests).  The parts they drive: the routing tables
(``mosaic.routes``), the neurons (``mosaic.neurons``), and the network-on-chip, a step
window at a time: when its packets enter an empty network, from the trees' levels up to where
two trees meet (``mosaic.static_window``) and event by event from there
(``mosaic.event_window``); otherwise the cycle model (``mosaic.cycle_model``).

Batches (``run_batch``): B independent runs of the same network, one per sample, each
from its own state; the samples are spread over the cores with ``prange`` and every
sample runs the single-run kernel on its own slices, so a batch is B runs exactly.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .cycle_model import cycle_window
from .event_window import GAVE_UP_LATE, ORDERED, PLAIN, commit_window, event_window, root_log
from .neurons import (
    add_synapses,
    analog_input,
    by_runs,
    step_neurons,
    window_sources,
)
from .simstate import (
    C_DEL,
    C_INJ,
    C_INP,
    C_ROUT,
    C_SYN,
    NO_CYCLE,
    POOL,
    SCAL_N_ACTIVE,
    ZERO,
    Inputs,
    NeuronState,
    Record,
    noc_state,
    window_scratch,
)
from .static_window import static_window

# a crowded window is congested when its entries were held back at full FIFOs for at least
# 1/this of its tree edges (entry-cycles): event_window then costs more than the cycle model
# (tuned on the sweep benchmark's and the digits batch's windows: 1/10 and 1/290)
_CONGESTED = 32
# after too many congested windows in a run, ORDERED is tried again at every this many crowded windows
_RETRY = 32


@njit(cache=True)
def run_ideal(t0, t1, chip, prm, st, inp, rt, src_count, rec):
    """Steps t0..t1-1 without contention: every copy arrives after hops x cph cycles.
    ``Chip``, ``NeuronParams``, ``NeuronState``, ``Inputs``, ``Routes``; packets per
    source into ``src_count``; the rest into the ``Record`` ``rec``."""
    n = st.mem.size
    cph = chip.cycles_per_hop
    counters, spikes, latency = rec.counters, rec.spikes, rec.latency
    syn_ptr, syn_tgt, syn_w, n_routers, max_depth = rt.syn_ptr, rt.syn_tgt, rt.syn_w, rt.n_routers, rt.max_depth
    I = np.zeros_like(st.mem)
    inj = np.empty(n + inp.x_spk.shape[1], np.int64)
    runs = by_runs(prm, n)                    # the neuron loop, chosen once
    for t in range(t0, t1):
        I[:] = 0
        analog_input(t, I, inp, counters)
        n_inj = window_sources(t, n, spikes, inp.x_spk, syn_ptr, inj)
        last = 0
        for q in range(n_inj):
            k = inj[q]
            add_synapses(I, syn_tgt[syn_ptr[k]:syn_ptr[k + 1]], syn_w[syn_ptr[k]:syn_ptr[k + 1]])
            counters[C_SYN] += syn_ptr[k + 1] - syn_ptr[k]
            counters[C_INJ] += 1
            counters[C_DEL] += 1
            counters[C_ROUT] += n_routers[k]
            if k >= n:
                counters[C_INP] += 1
            src_count[k] += 1
            last = max(last, max_depth[k] * cph)
        latency[t] = last
        step_neurons(runs, I, prm, st, spikes[t])


@njit(cache=True)
def ideal_loads(src_count, rt, n_cores, rec):
    """Per-link and per-router loads of ideal routing from the packets each source sent."""
    edge_ptr, edges, link_head = rt.edge_ptr, rt.edges, rt.link_head
    router_load, link_load = rec.router_load, rec.link_load
    for k in range(src_count.size):
        c = src_count[k]
        if c == 0:
            continue
        for e in range(edge_ptr[k], edge_ptr[k + 1]):
            L = edges[e, 0]
            link_load[L] += c
            v = link_head[L]
            if v >= n_cores:
                router_load[v - n_cores] += c


@njit(cache=True)
def run_cycle(t0, t1, chip, prm, st, inp, rt, noc, src_count, crowded, rec):
    """Steps t0..t1-1 with the cycle-approximate network-on-chip (``Chip``,
    ``NeuronParams``, ``NeuronState``, ``Inputs``, ``Routes``, ``NocState``, ``Record``);
    returns the network state (its pools may have grown).  A window whose packets enter an
    empty network goes through ``event_window`` if it can, else (and with virtual channels)
    through ``cycle_window``.  The packets ``event_window`` delivered are counted per source
    in ``src_count``, whose link and router loads the caller adds once per run
    (``ideal_loads``); ``crowded`` (3 counts, ``_event_path``) carries over between calls."""
    S, n_cores = chip.step_cycles, chip.n_cores
    syn_ptr, edge_ptr, local_a, local_b = rt.syn_ptr, rt.edge_ptr, rt.local_a, rt.local_b
    n_remote, syn_tgt, syn_w = rt.n_remote, rt.syn_tgt, rt.syn_w
    counters, spikes, latency = rec.counters, rec.spikes, rec.latency
    n = st.mem.size
    I = np.zeros_like(st.mem)
    inj = np.empty(n + inp.x_spk.shape[1], np.int64)
    born = np.empty(n + inp.x_spk.shape[1], np.int64)
    n_links = rt.link_head.size
    sc = window_scratch(n_links, n_cores, 4 * rt.max_edges)    # static_ and event_window's arrays
    runs = by_runs(prm, n)                          # the neuron loop, chosen once
    for t in range(t0, t1):
        I[:] = 0
        analog_input(t, I, inp, counters)
        w0 = t * S
        last = -1
        n_inj = window_sources(t, n, spikes, inp.x_spk, syn_ptr, inj)
        n_rem = ZERO
        for q in range(n_inj):
            k = inj[q]
            counters[C_INJ] += 1
            if k >= n:
                counters[C_INP] += 1
            if local_a[k] >= 0:
                add_synapses(I, syn_tgt[local_a[k]:local_b[k]], syn_w[local_a[k]:local_b[k]])
                counters[C_SYN] += local_b[k] - local_a[k]
                last = max(last, 0)
            if n_remote[k] == 0:
                counters[C_DEL] += 1
            else:
                inj[n_rem] = k                  # remote packets, in injection order
                n_rem += 1
        busy = noc.scal[SCAL_N_ACTIVE] > 0
        if n_rem > 0 and not busy and chip.vcs == 1:
            need = ZERO
            for q in range(n_rem):
                need += edge_ptr[inj[q] + 1] - edge_ptr[inj[q]]
            if need > sc.arr_edge.size:
                sc = window_scratch(n_links, n_cores, 2 * need)
            n_dl, w_last = _event_path(w0, chip, rt, inj, n_rem, need, sc, crowded)
            if n_dl >= 0:
                commit_window(inj, n_rem, n_dl, rt, sc, I, src_count, counters)
                last = max(last, w_last)
                n_rem = ZERO
        if n_rem > 0 or busy:
            noc, last = cycle_window(w0, chip, rt, inj, n_rem, born, I, noc, last, rec)
        latency[t] = max(last, 0)
        step_neurons(runs, I, prm, st, spikes[t])
    return noc


# inlined (numba IR): a compiled callee's library is optimised and code-generated again inside
# each caller's, so a wrapper of its own cost one more pass over everything below it
@njit(cache=True, inline="always")
def _event_path(w0, chip, rt, inj, n_rem, need, sc, crowded):
    """The window in the cheapest way that is exact.  With at most ``buffer_depth`` packets:
    ``static_window`` up to the first tree level at which two trees meet, ``event_window``
    PLAIN from there.  With more: ORDERED, unless more than a quarter of the run's tries were
    congested (given up, or held back at full FIFOs for ``need`` / ``_CONGESTED`` entry-cycles
    or more; ``crowded`` counts the run's crowded windows, tries and congested tries), then at
    every ``_RETRY``-th crowded window.  (GAVE_UP_LATE, 0): the cycle model's window."""
    if n_rem <= chip.buffer_depth:
        n_dl, w_last, tail = static_window(w0, chip, rt, inj, n_rem, sc)
        if tail < 0:
            return n_dl, w_last
        return event_window(w0, chip, rt, sc, tail, n_dl, w_last, PLAIN)
    crowded[0] += 1
    if 4 * crowded[2] > crowded[1] + 1 and crowded[0] % _RETRY != 0:
        return GAVE_UP_LATE, 0
    crowded[1] += 1
    n_dl, w_last = event_window(w0, chip, rt, sc, root_log(rt, inj, n_rem, sc), ZERO, NO_CYCLE, ORDERED)
    if n_dl < 0 or sc.held[0] * _CONGESTED >= need:
        crowded[2] += 1
    return n_dl, w_last


# -- batches ----------------------------------------------------------------------------
@njit(cache=True, inline="always")       # inlined as _event_path is
def _sample(b, ideal, chip, prm, st, inp, rt, n_links, rec):
    """Sample b of a batch: ``run_ideal`` (then ``ideal_loads``) or ``run_cycle`` from an
    empty network, on the sample's slices of the batched state, input and record."""
    T = rec.spikes.shape[1]
    st_b = NeuronState(st.mem[b], st.syn[b], st.prev[b], st.ref_left[b])
    inp_b = Inputs(inp.x_spk[b], inp.x_cur[b], inp.in_ptr, inp.in_idx, inp.in_w)
    rec_b = Record(rec.counters[b], rec.router_load[b], rec.link_load[b], rec.spikes[b], rec.latency[b])
    src_count = np.zeros(rt.edge_ptr.size - 1, np.int64)
    if ideal:
        run_ideal(ZERO, T, chip, prm, st_b, inp_b, rt, src_count, rec_b)
    else:
        run_cycle(ZERO, T, chip, prm, st_b, inp_b, rt, noc_state(n_links, POOL), src_count, np.zeros(3, np.int64),
                  rec_b)
    ideal_loads(src_count, rt, chip.n_cores, rec_b)


@njit(cache=True, parallel=True)
def run_batch(ideal, chip, prm, st, inp, rt, n_links, rec):
    """B independent runs of ``T`` steps in parallel over samples: ``st`` (``NeuronState``),
    ``inp.x_spk`` / ``inp.x_cur`` and every ``Record`` array carry a leading sample axis B
    (``_sample``)."""
    for b in prange(rec.spikes.shape[0]):
        _sample(b, ideal, chip, prm, st, inp, rt, n_links, rec)


@njit(cache=True)
def run_batch_serial(ideal, chip, prm, st, inp, rt, n_links, rec):
    """``run_batch`` on the calling thread only (small batches: no thread team to wake)."""
    for b in range(rec.spikes.shape[0]):
        _sample(b, ideal, chip, prm, st, inp, rt, n_links, rec)
