"""The simulator's data as typed NamedTuples of arrays (Norse style: pure step functions over
parameter and state tuples).  The numba kernels (``mosaic.kernels``) take and return them;
the pure-Python reference (``mosaic.reference``) builds its neurons from the same
``NeuronParams`` and ``NeuronState``.  The builders here are the only place these arrays
are made, so both simulators start from identical structures.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .network import SpikingNetwork

COUNTERS = ("injected", "delivered", "late", "dropped", "synaptic_ops", "router_traversals",
            "input_packets", "in_flight")
N_COUNTERS = len(COUNTERS)
# indices into ``Record.counters`` (COUNTERS order)
C_INJ, C_DEL, C_LATE, C_DROP, C_SYN, C_ROUT, C_INP, C_LIVE = range(N_COUNTERS)
# slots of ``NocState.scal``: entry free-list head, packet free-list head, active links,
# free entries, free packets
SCAL_ENT_FREE, SCAL_PKT_FREE, SCAL_N_ACTIVE, SCAL_FREE_E, SCAL_FREE_P = range(5)


class NeuronParams(NamedTuple):
    """Per-neuron constants (snnTorch Leaky for ``alpha = 0``, Synaptic otherwise)."""

    beta: np.ndarray        # (n,) membrane decay per step
    alpha: np.ndarray       # (n,) synaptic decay per step
    thr: np.ndarray         # (n,) threshold
    bias: np.ndarray        # (n,) current added every step
    refr: np.ndarray        # (n,) int64 refractory steps after a spike
    zero_reset: bool        # reset "zero" (else "subtract")
    runs: np.ndarray        # (n_runs+1,) int64 starts of the runs of neurons with bit-identical
                            # beta, alpha, thr, bias, refr, then n (``param_runs``)


class NeuronState(NamedTuple):
    """Per-neuron state, updated in place by the kernels."""

    mem: np.ndarray         # (n,) membrane
    syn: np.ndarray         # (n,) synaptic current
    prev: np.ndarray        # (n,) bool: spiked at the previous step (reset flag)
    ref_left: np.ndarray    # (n,) int64 refractory steps left, 0 <= ref_left <= refr


class Inputs(NamedTuple):
    """One run's input: spikes (packets from the I/O core) or analog currents (no packets)."""

    x_spk: np.ndarray       # (T, n_inputs) bool, or (T, 0) for analog input
    x_cur: np.ndarray       # (T, n_inputs) float currents, or (T, 0) for spike input
    in_ptr: np.ndarray      # CSR of w_in (analog input): int64 row pointers,
    in_idx: np.ndarray      # int64 targets,
    in_w: np.ndarray        # weights


class Chip(NamedTuple):
    """Router settings of a run (cycles, packets)."""

    step_cycles: int        # router cycles per step window
    cycles_per_hop: int
    bandwidth: int          # packets a port forwards per cycle
    buffer_depth: int       # packets a router port's FIFO holds
    drop: bool              # late="drop" (else "defer")
    n_cores: int            # nodes below this are tiles, the rest routers
    vcs: int = 1            # FIFOs (virtual channels) per link; FIFO F is on link F // vcs


class Routes(NamedTuple):
    """Routing tables, one row per source (neurons, then spike inputs); layout in
    ``mosaic.routes``.  Built once per (network, placement, chip) by ``simulate``."""

    syn_ptr: np.ndarray     # (n_src+1,) int64 synapse range of each source
    edge_ptr: np.ndarray    # (n_src+1,) int64 tree-edge range of each source
    root_end: np.ndarray    # (n_src,) int64 end of the edges leaving the source tile
    local_a: np.ndarray     # (n_src,) int64 synapses onto the source's own core (-1: none)
    local_b: np.ndarray
    n_remote: np.ndarray    # (n_src,) int32 destination cores other than the source's
    edges: np.ndarray       # (n_edges, 3) int32: link, child edge or synapse range
    syn_tgt: np.ndarray     # (n_syn,) int32 target neuron of each (permuted) synapse
    syn_w: np.ndarray       # (n_syn,) weight (run dtype)
    link_head: np.ndarray   # (n_links,) int32 node each link enters
    n_routers: np.ndarray   # (n_src,) int32 routers on the source's tree
    max_depth: np.ndarray   # (n_src,) int32 routers on the deepest path
    max_fan: int            # most branches leaving one router of any tree (``routes.max_branching``)
    max_edges: int          # most tree edges of one source (at least 1)


class NocState(NamedTuple):
    """Network-on-chip state of the cycle model (``mosaic.cycle_model``): one linked-list FIFO
    per link and virtual channel (``Chip.vcs`` per link, FIFO ``F`` on link ``F // vcs``) in a
    shared entry pool, a packet pool, the active-FIFO bitmap.  A FIFO's state is one row (one
    cache line), an entry one row.  The pools grow during a run, so ``run_cycle`` returns the
    (possibly new) state."""

    fifo: np.ndarray        # (n_fifos, 8) int64 per FIFO, columns F_*: first entry (-1: empty),
                            # last entry, length, last cycle a packet left, packets that left
                            # in that cycle, non-empty flag
    active: np.ndarray      # ((n_fifos+63)//64,) uint64 bitmap of non-empty FIFOs
    ent: np.ndarray         # (pool, 4) int64 entry pool, columns E_*: next entry (FIFO or free
                            # list), packet, tree edge, cycle the entry is ready
    pkt_rem: np.ndarray     # (pool,) int32 packet pool: undelivered copies
    pkt_next: np.ndarray    # (pool,) int32 free list
    scal: np.ndarray        # (5,) int64, slots SCAL_*


# columns of ``NocState.fifo`` and ``NocState.ent``
F_HEAD, F_TAIL, F_LEN, F_POPC, F_POPN, F_ACT = range(6)
E_NEXT, E_PKT, E_EDGE, E_READY = range(4)


class WindowScratch(NamedTuple):
    """Working arrays of ``event_window.event_window`` and ``static_window.static_window`` (one
    window at a time, reused): the log of entries (tree edge, ready cycle, order key) in order
    of their ready cycle, linked into per-link chains and waiting queues; per-link and per-tile
    stamps (absolute cycles, so nothing is reset between windows); the window's
    deliveries (tree edge, order key)."""

    arr_edge: np.ndarray    # (cap,) int32 log of entries: tree edge,
    arr_ready: np.ndarray   # (cap,) int64 ready cycle (offset in the window),
    arr_key: np.ndarray     # (cap,) int64 order among the link's entries of one ready cycle,
    arr_next: np.ndarray    # (cap,) int64 next entry of the same link (chain, then queue)
    sort_tmp: np.ndarray    # (cap,) int64
    link: np.ndarray        # (n_links, 8) int64 per link: LK_* slots
    guard: np.ndarray       # (n_links, 3) int64 per link: GD_* slots (occupancy)
    waiting: np.ndarray     # (n_links,) int64 links with waiting entries
    tile: np.ndarray        # (n_cores,) int64 cycle of the tile's last delivery
    served: np.ndarray      # (cap,) int64 entries served in the current cycle,
    served_key: np.ndarray  # (cap,) int64 their link x bandwidth + rank
    dl_edge: np.ndarray     # (cap,) int32 deliveries: tree edge,
    dl_key: np.ndarray      # (cap,) int64 link x bandwidth + rank
    arrival_link: np.ndarray  # (cap,) int64 links of the current cycle's arrivals
    level_stamp: np.ndarray  # (n_links,) int64 per link (``static_window``): cycle it last served
    level_block: np.ndarray  # (cap, 4) int64 per packet: its tree's current level (edges)
    held: np.ndarray        # (1,) int64 entries the last window held back at full FIFOs, summed over cycles


# slots of ``WindowScratch.link``: cycle of the arrivals chained, first and last of their
# chain, head, tail and length of the waiting queue
LK_CYC, LK_FIRST, LK_LAST, LK_QHEAD, LK_QTAIL, LK_QLEN = range(6)
# slots of ``WindowScratch.guard`` (occupancy checks): entries in the FIFO (0 between
# windows; a tile's own link, which no tree pushes into, counts only departures), cycle and
# number of the last departures
GD_OCC, GD_DCYC, GD_DCNT = range(3)


@njit(cache=True)
def window_scratch(n_links, n_cores, cap):
    """``WindowScratch`` for windows of up to ``cap`` tree edges (stamps at -1: never)."""
    link = np.full((n_links, 8), -1, np.int64)
    link[:, LK_QLEN] = 0
    guard = np.zeros((n_links, 3), np.int64)
    guard[:, GD_DCYC] = -1
    return WindowScratch(np.empty(cap, np.int32), np.empty(cap, np.int64), np.empty(cap, np.int64),
                         np.empty(cap, np.int64), np.empty(cap, np.int64), link, guard,
                         np.empty(n_links, np.int64), np.full(n_cores, -1, np.int64),
                         np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int32),
                         np.empty(cap, np.int64), np.empty(cap, np.int64),
                         np.full(n_links, -1, np.int64), np.zeros((cap, 4), np.int64), np.zeros(1, np.int64))


class Record(NamedTuple):
    """What a run records, written in place by the kernels."""

    counters: np.ndarray    # (N_COUNTERS,) int64, names in COUNTERS
    router_load: np.ndarray  # (n_routers,) int64 packets entering each router
    link_load: np.ndarray   # (n_links,) int64 packets forwarded per link
    spikes: np.ndarray      # (T, n) bool
    latency: np.ndarray     # (T,) int64 cycles


def param_runs(*arrays: np.ndarray) -> np.ndarray:
    """Starts of the maximal runs of consecutive neurons whose values in every one of the
    (n,) ``arrays`` have identical bits (so ``-0.0`` and ``0.0`` differ), then ``n``:
    (n_runs+1,) int64.  The kernels update a run with its parameters held in registers."""
    n = arrays[0].size
    new = np.zeros(max(n - 1, 0), np.bool_)
    for a in arrays:
        bits = a.view(f"u{a.dtype.itemsize}")
        new |= bits[1:] != bits[:-1]
    starts = np.flatnonzero(new) + 1 if n else np.zeros(0, np.int64)
    return np.concatenate(([0] if n else [], starts, [n])).astype(np.int64)


def neuron_params(net: SpikingNetwork, dtype) -> NeuronParams:
    beta, alpha, thr, bias = (a.astype(dtype) for a in (net.beta, net.alpha, net.threshold, net.bias))
    refr = net.refractory.astype(np.int64)
    return NeuronParams(beta, alpha, thr, bias, refr, net.reset == "zero", param_runs(beta, alpha, thr, bias, refr))


def neuron_state(mem0: np.ndarray, params: NeuronParams) -> NeuronState:
    """Start state: ``mem0`` (copied), no current; the reset flag of step 0 is
    ``mem0 > threshold`` (as in snnTorch)."""
    mem = mem0.copy()
    return NeuronState(mem, np.zeros_like(mem), mem > params.thr, np.zeros(mem.size, np.int64))


@njit(cache=True)
def free_rows(start, n, cols):
    """``n`` pool rows numbered from ``start``, chained as a free list (column ``E_NEXT``)
    ending at -1."""
    rows = np.zeros((n, cols), np.int64)
    for i in range(n):
        rows[i, E_NEXT] = start + i + 1
    rows[n - 1, E_NEXT] = -1
    return rows


# Numpy scalars, which numba types as int64 where a bare number would be a literal: a
# kernel passing a literal argument (or a counter that starts at a literal 0) to another
# compiles that callee once more, for the literal.  ZERO: such a start; NO_CYCLE: no
# delivery yet (a window's last delivery cycle); POOL: the entry and packet pools' first
# size (they double when full).
ZERO = np.int64(0)
NO_CYCLE = np.int64(-1)
POOL = np.int64(1024)


@njit(cache=True)
def noc_state(n_links, pool):
    """Empty network state of ``n_links`` FIFOs (links x virtual channels) with pools of
    ``pool`` entries and packets (numba: the batched kernels build one per sample)."""
    fifo = np.zeros((n_links, 8), np.int64)
    fifo[:, F_HEAD] = -1
    fifo[:, F_TAIL] = -1
    fifo[:, F_POPC] = -1
    nxt = np.arange(1, pool + 1, dtype=np.int32)
    nxt[-1] = -1
    scal = np.array([0, 0, 0, pool, pool], np.int64)
    return NocState(fifo, np.zeros((n_links + 63) // 64, np.uint64), free_rows(0, pool, 4),
                    np.zeros(pool, np.int32), nxt, scal)


def record(T: int, n: int, n_routers: int, n_links: int) -> Record:
    return Record(np.zeros(N_COUNTERS, np.int64), np.zeros(n_routers, np.int64), np.zeros(n_links, np.int64),
                  np.zeros((T, n), np.bool_), np.zeros(T, np.int64))


def counter_dict(counters: np.ndarray) -> dict:
    return {k: int(v) for k, v in zip(COUNTERS, counters)}
