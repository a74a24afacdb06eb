"""Numba kernels of the simulator: routing tables, neuron update, network-on-chip.

Typed NamedTuples of arrays in (``mosaic.simstate``: ``Chip``, ``NeuronParams``,
``NeuronState``, ``Inputs``, ``Routes``, ``NocState``, ``Record``), arrays out; the
semantics are documented in ``mosaic.simulate`` and mirrored loop for loop by
``mosaic.reference`` (the oracle in the tests).

Routing tables (one row per source: neurons, then spike inputs):
- synapses of each source are permuted so that they are grouped by destination
  core (ascending), targets ascending inside a core (``perm``);
- the source's tree edges ``edge_ptr[k] .. edge_ptr[k+1]`` are laid out
  breadth-first from the source tile: the edges leaving the tile come first (up
  to ``root_end[k]``) and the edges leaving any one router are contiguous;
- per edge ``edges[e] = (link, a, b)``: the link, and ``a .. b`` the child edges
  if the link ends at a router, or the synapse range onto that core if it ends
  at a tile (one row per edge: a forward touches one cache line).

Network state of ``run_cycle`` (``NocState``): one linked-list FIFO per link and virtual
channel (FIFO ``F`` on link ``F // Chip.vcs``) in a shared entry pool (entries: packet, tree
edge, ready cycle), a packet pool (undelivered copies), a bitmap and flags of the FIFOs
that are non-empty (served in increasing index by walking the bitmap).  ``_cycle`` is the
router model; ``_cycle_window`` drives it through one step window, ``mosaic.noc.run_traffic``
from a synthetic injection process.  Pools grow when short, so the run never loses a
packet for want of memory.

A window whose packets enter an empty network with one virtual channel per link is
computed event by event instead (``event_window``, its arrays in ``WindowScratch``): a log
of entries in order of their ready cycle, and per cycle only the entries that can move (the
cycle's arrivals and the links' waiting queues), in each link's FIFO order; when more
packets than a FIFO holds are in the window, the cycle's forwards are taken in increasing
link index and every push checks room as ``_cycle`` does.  It gives up (and the window runs
in ``_cycle_window``) only if a packet is still in the network at the window's end.  Its
packets' link and router loads are their whole trees, added per source at the end of
``run_cycle`` (``ideal_loads``).

Batches (``run_batch``): B independent runs of the same network, one per sample, each
from its own state; the samples are spread over the cores with ``prange`` and every
sample runs the single-run kernel on its own slices, so a batch is B runs exactly.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.cpython.unsafe.numbers import trailing_zeros

from .simstate import (
    GD_DCNT,
    GD_DCYC,
    GD_OCC,
    GD_WIN,
    LK_CNT,
    LK_CYC,
    LK_FIRST,
    LK_LAST,
    LK_QHEAD,
    LK_QLEN,
    LK_QTAIL,
    N_COUNTERS,
    SCAL_ENT_FREE,
    SCAL_FREE_E,
    SCAL_FREE_P,
    SCAL_N_ACTIVE,
    SCAL_PKT_FREE,
    Inputs,
    NeuronState,
    NocState,
    Record,
    noc_state,
    window_scratch,
)
from .topology import tree_walk

_INJ, _DEL, _LATE, _DROP, _SYN, _ROUT, _INP, _LIVE = range(N_COUNTERS)
_NEVER = np.int64(2 ** 62)
# event_window serves a crowded window (more packets than buffer_depth) in sorted link order;
# with more tree edges than n_links / this, the cycle model's bitmap of links is cheaper
_SORTED_EDGES_PER_LINK = 2


# -- routing tables ----------------------------------------------------------------
@njit(cache=True)
def count_routes(parent, indptr, indices, core_of, src_core):
    """Synapse permutation (grouped by destination core) and tree-edge offsets per source."""
    n_src = src_core.size
    perm = np.empty(indices.size, np.int64)
    edge_ptr = np.zeros(n_src + 1, np.int64)
    stamp = np.zeros(parent.shape[1], np.int64)
    nodes = np.empty(parent.shape[1], np.int64)
    for k in range(n_src):
        a, b = indptr[k], indptr[k + 1]
        cnt = 0
        if b > a:
            cores = core_of[indices[a:b]]
            order = np.argsort(cores, kind="mergesort")
            for j in range(b - a):
                perm[a + j] = a + order[j]
            s = src_core[k]
            cnt = tree_walk(parent[s], s, cores, k + 1, stamp, nodes)
        edge_ptr[k + 1] = edge_ptr[k] + cnt
    return perm, edge_ptr


@njit(cache=True)
def fill_routes(parent, parent_link, depth, n_cores, indptr, indices, core_of, src_core, perm, edge_ptr):
    """Tree edges of every source (see module docstring) and per-source figures:
    root edge end, local synapse range (-1 if none), remote cores, routers, max depth.
    Edges are laid out breadth-first from the source tile, so siblings are contiguous."""
    n_src = src_core.size
    n_nodes = parent.shape[1]
    n_edges = edge_ptr[-1]
    edges = np.empty((n_edges, 3), np.int32)
    root_end = np.zeros(n_src, np.int64)
    local_a = np.full(n_src, -1, np.int64)
    local_b = np.full(n_src, -1, np.int64)
    n_remote = np.zeros(n_src, np.int32)
    n_routers = np.zeros(n_src, np.int32)
    max_depth = np.zeros(n_src, np.int32)
    stamp = np.zeros(n_nodes, np.int64)
    cstamp = np.zeros(n_nodes, np.int64)
    first_child = np.zeros(n_nodes, np.int64)
    next_sib = np.zeros(n_nodes, np.int64)
    dstart = np.zeros(n_nodes, np.int64)
    dend = np.zeros(n_nodes, np.int64)
    nfirst = np.zeros(n_nodes, np.int64)
    nlast = np.zeros(n_nodes, np.int64)
    queue = np.empty(n_nodes, np.int64)
    child = np.empty(n_nodes, np.int64)
    remote = np.empty(n_nodes, np.int64)
    nodes = np.empty(n_nodes, np.int64)
    for k in range(n_src):
        a, b = indptr[k], indptr[k + 1]
        e0 = edge_ptr[k]
        root_end[k] = e0
        if b == a:
            continue
        s = src_core[k]
        n_rem = 0
        j = a
        while j < b:
            d = core_of[indices[perm[j]]]
            j2 = j + 1
            while j2 < b and core_of[indices[perm[j2]]] == d:
                j2 += 1
            dstart[d] = j
            dend[d] = j2
            if d == s:
                local_a[k] = j
                local_b[k] = j2
            else:
                remote[n_rem] = d
                n_rem += 1
            j = j2
        n_remote[k] = n_rem
        if n_rem == 0:
            continue
        tag = k + 1
        cstamp[s] = tag
        first_child[s] = -1
        md = 0
        for r in range(n_rem):
            md = max(md, depth[s, remote[r]])
        for i in range(tree_walk(parent[s], s, remote[:n_rem], tag, stamp, nodes)):
            v = nodes[i]                            # children pushed in walk order
            u = parent[s, v]
            if cstamp[u] != tag:
                cstamp[u] = tag
                first_child[u] = -1
            next_sib[v] = first_child[u]
            first_child[u] = v
        max_depth[k] = md
        queue[0] = s
        qh, qt, e = 0, 1, 0
        nr = 0
        while qh < qt:
            u = queue[qh]
            qh += 1
            nfirst[u] = e
            v = first_child[u]
            while v >= 0:
                edges[e0 + e, 0] = parent_link[s, v]
                child[e] = v
                e += 1
                if v >= n_cores:
                    queue[qt] = v
                    qt += 1
                    nr += 1
                v = next_sib[v]
            nlast[u] = e
        for i in range(e):
            v = child[i]
            if v >= n_cores:
                edges[e0 + i, 1] = e0 + nfirst[v]
                edges[e0 + i, 2] = e0 + nlast[v]
            else:
                edges[e0 + i, 1] = dstart[v]
                edges[e0 + i, 2] = dend[v]
        n_routers[k] = nr
        root_end[k] = e0 + nlast[s]
    return edges, root_end, local_a, local_b, n_remote, n_routers, max_depth


# -- neurons -------------------------------------------------------------------------
_MIN_RUN = 16       # mean neurons per run of identical parameters below which runs do not pay


@njit(cache=True)
def neuron_update(I, prm, st, out):
    """One step of every neuron (snnTorch Leaky/Synaptic, see ``mosaic.simulate``):
    ``NeuronParams`` ``prm``, ``NeuronState`` ``st`` updated in place, spikes into ``out``.

    Runs of neurons with identical parameters (``prm.runs``) are one loop each with the
    parameters in registers (``_update_runs``); populations of many short runs take one
    loop that loads every parameter per neuron (``_update_each``).  Both do ``_neuron``'s
    operations, so the results are the same.  A kernel stepping many times picks the loop
    once (``_by_runs``): a call through this dispatch counts a reference to every array
    (atomic operations, ~0.1 us per call)."""
    if _by_runs(prm, st.mem.size):
        _update_runs(I, prm, st, out)
    else:
        _update_each(I, prm, st, out)


@njit(cache=True)
def _by_runs(prm, n):
    """Whether ``neuron_update`` takes the runs' loops: at least ``_MIN_RUN`` neurons per run."""
    return (prm.runs.size - 1) * _MIN_RUN <= n


@njit(cache=True)
def _update_runs(I, prm, st, out):
    """``neuron_update``, one loop per run of identical parameters."""
    runs, zr = prm.runs, prm.zero_reset
    mem, syn, prev, ref_left = st.mem, st.syn, st.prev, st.ref_left
    for k in range(runs.size - 1):
        a = runs[k]
        beta, alpha, th, bias, R = prm.beta[a], prm.alpha[a], prm.thr[a], prm.bias[a], prm.refr[a]
        for i in range(np.uint64(a), np.uint64(runs[k + 1])):   # unsigned: no index wrap-around
            _neuron(i, I, mem, syn, prev, ref_left, out, beta, alpha, th, bias, R, zr)


@njit(cache=True, inline="always")
def _update_each(I, prm, st, out):
    """``neuron_update`` loading every parameter per neuron (inlined: small populations
    take it, where a call per step shows)."""
    mem, syn, prev, ref_left = st.mem, st.syn, st.prev, st.ref_left
    beta, alpha, thr, bias, refr, zr = prm.beta, prm.alpha, prm.thr, prm.bias, prm.refr, prm.zero_reset
    for i in range(mem.size):
        _neuron(i, I, mem, syn, prev, ref_left, out, beta[i], alpha[i], thr[i], bias[i], refr[i], zr)


@njit(cache=True, inline="always")
def _neuron(i, I, mem, syn, prev, ref_left, out, beta, alpha, th, bias, R, zero_reset):
    """Neuron ``i``'s step with its parameters.  Branch-free: both the refractory and the
    normal update are computed and one is selected, each with the same operations as the
    step it stands for."""
    z = th - th
    leaky = alpha == 0
    rl = ref_left[i]
    r = rl > 0                               # refractory: reset once, hold, input lost
    p = prev[i]
    m0 = mem[i]
    s_ref = alpha * syn[i]
    s = s_ref + I[i]
    mm = z if (p and zero_reset and leaky) else m0   # Leaky "zero": reset before the update
    m = beta * mm + s + bias
    m_sub = m - th
    m_p = (m if leaky else z) if zero_reset else m_sub   # Synaptic "zero": the update is zeroed
    m = m_p if p else m
    held = (z if zero_reset else m0 - th) if p else m0
    m = held if r else m
    spk = (m > th) and not r
    syn[i] = s_ref if r else s
    mem[i] = m
    out[i] = spk
    prev[i] = spk
    ref_left[i] = R if spk else (rl - 1 if r else rl)


@njit(cache=True, inline="always")
def _consecutive(idx):
    """Whether ``idx`` (non-empty) is ``lo, lo+1, ..., lo+len-1``: a row of synapses onto one
    block of neurons, each once (the compare loop has no early exit, so it is vectorized)."""
    if idx[-1] - idx[0] != idx.size - 1:
        return False
    ok = True
    for r in range(1, idx.size):
        ok &= idx[r] == idx[r - 1] + 1
    return ok


@njit(cache=True, inline="always")
def _add_synapses(I, idx, w):
    """``I[idx[r]] += w[r]`` in increasing ``r``; as one vector loop on a block of consecutive
    targets (each target gets the same single addition, so the sums are unchanged)."""
    if _consecutive(idx):
        blk = I[idx[0]:idx[0] + idx.size]
        for r in range(idx.size):
            blk[r] += w[r]
    else:
        for r in range(idx.size):
            I[idx[r]] += w[r]


@njit(cache=True)
def _analog_input(t, I, inp, counters):
    """``I += x_cur[t] @ w_in`` over the nonzero inputs in increasing order (a row onto a
    block of consecutive neurons as one vector loop, the same additions)."""
    x_cur, in_ptr, in_idx, in_w = inp.x_cur, inp.in_ptr, inp.in_idx, inp.in_w
    for j in range(x_cur.shape[1]):
        xv = x_cur[t, j]
        a, b = in_ptr[j], in_ptr[j + 1]
        if xv != 0 and b > a:
            idx, w = in_idx[a:b], in_w[a:b]
            if _consecutive(idx):
                blk = I[idx[0]:idx[0] + idx.size]
                for q in range(idx.size):
                    blk[q] += xv * w[q]
            else:
                for q in range(idx.size):
                    I[idx[q]] += xv * w[q]
            counters[_SYN] += b - a


@njit(cache=True)
def _spiked(row, base, syn_ptr, out, k):
    """Append to ``out[k:]`` the sources ``base + i`` (in increasing ``i``) with ``row[i]`` set
    and any synapse; returns the new count.  Rows are sparse: 8 flags are tested at a time."""
    n = row.size
    nw = n // 8
    words = row[:nw * 8].view(np.uint64)
    for j in range(nw):
        if words[j] != 0:
            for i in range(8 * j, 8 * j + 8):
                if row[i] and syn_ptr[base + i + 1] > syn_ptr[base + i]:
                    out[k] = base + i
                    k += 1
    for i in range(nw * 8, n):
        if row[i] and syn_ptr[base + i + 1] > syn_ptr[base + i]:
            out[k] = base + i
            k += 1
    return k


@njit(cache=True)
def _sources(t, n, spikes, x_spk, syn_ptr, out):
    """Sources injecting at window t, in order: neurons that spiked at t-1, then spiking inputs."""
    k = _spiked(spikes[t - 1], 0, syn_ptr, out, 0) if t > 0 else 0
    return _spiked(x_spk[t], n, syn_ptr, out, k)


@njit(cache=True)
def spike_counts(spikes):
    """Spikes per neuron of a (T, n) bool raster (int64; one pass, no float temporaries)."""
    T, n = spikes.shape
    out = np.zeros(n, np.int64)
    for t in range(T):
        row = spikes[t]
        for i in range(n):
            out[i] += row[i]
    return out


# -- ideal routing ---------------------------------------------------------------------
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
    by_runs = _by_runs(prm, n)                 # neuron_update's choice, made once
    for t in range(t0, t1):
        I[:] = 0
        _analog_input(t, I, inp, counters)
        n_inj = _sources(t, n, spikes, inp.x_spk, syn_ptr, inj)
        last = 0
        for q in range(n_inj):
            k = inj[q]
            _add_synapses(I, syn_tgt[syn_ptr[k]:syn_ptr[k + 1]], syn_w[syn_ptr[k]:syn_ptr[k + 1]])
            counters[_SYN] += syn_ptr[k + 1] - syn_ptr[k]
            counters[_INJ] += 1
            counters[_DEL] += 1
            counters[_ROUT] += n_routers[k]
            if k >= n:
                counters[_INP] += 1
            src_count[k] += 1
            last = max(last, max_depth[k] * cph)
        latency[t] = last
        if by_runs:
            _update_runs(I, prm, st, spikes[t])
        else:
            _update_each(I, prm, st, spikes[t])


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


# -- cycle-approximate routing ------------------------------------------------------------
@njit(cache=True)
def _grow_i32(a, fill_next):
    n = a.size
    b = np.empty(2 * n, np.int32)
    b[:n] = a
    if fill_next:
        for i in range(n, 2 * n):
            b[i] = i + 1
        b[2 * n - 1] = -1
    return b


@njit(cache=True)
def _grow_to(a, extra, fill_next):
    """``a`` followed by ``extra`` new slots (chained as a free list ending at -1 if ``fill_next``)."""
    n = a.size
    b = np.empty(n + extra, np.int32)
    b[:n] = a
    if fill_next:
        for i in range(n, n + extra):
            b[i] = i + 1
        b[n + extra - 1] = -1
    return b


@njit(cache=True)
def _grow_to64(a, extra):
    b = np.empty(a.size + extra, np.int64)
    b[:a.size] = a
    return b


@njit(cache=True)
def _grow_i64(a):
    b = np.empty(2 * a.size, np.int64)
    b[:a.size] = a
    return b


@njit(cache=True)
def _with_pools(noc, ent_next, ent_pkt, ent_edge, ent_ready, pkt_rem, pkt_next):
    """``noc`` with (grown) entry and packet pools."""
    return NocState(noc.fifo_head, noc.fifo_tail, noc.fifo_len, noc.pop_cycle, noc.pop_cnt, noc.active,
                    noc.is_active, ent_next, ent_pkt, ent_edge, ent_ready, pkt_rem, pkt_next, noc.scal)


@njit(cache=True)
def _enqueue(X, first, arr_key, arr_next, tmp, lk):
    """Append the arrivals of one cycle at link ``X`` (the chain from ``first`` through
    ``arr_next``, in log order) to its waiting queue (``lk[X]``'s LK_Q* slots) in FIFO
    order: by ``arr_key`` (``event_window``)."""
    n = 0
    i = first
    while i >= 0:
        tmp[n] = i
        n += 1
        i = arr_next[i]
    for a in range(1, n):                   # insertion sort: a handful of entries, often sorted
        i = tmp[a]
        b = a
        while b > 0 and arr_key[tmp[b - 1]] > arr_key[i]:
            tmp[b] = tmp[b - 1]
            b -= 1
        tmp[b] = i
    for a in range(n):
        i = tmp[a]
        arr_next[i] = -1
        if lk[X, LK_QLEN] == 0:
            lk[X, LK_QHEAD] = i
        else:
            arr_next[lk[X, LK_QTAIL]] = i
        lk[X, LK_QTAIL] = i
        lk[X, LK_QLEN] += 1


@njit(cache=True)
def event_window(w0, chip, rt, inj, n_rem, sc):
    """The window starting at cycle ``w0`` of the packets ``inj[:n_rem]`` (injected in this
    order into an empty network, one virtual channel per link), computed event by event.
    Entries (tree edge, ready cycle, key) are logged in order of their ready cycle; per
    cycle only the arrivals of the cycle and the links with waiting entries are visited.
    A link's FIFO order is (ready cycle, key), key = upstream link x bandwidth + rank there
    (injection order at the roots): the order in which ``_cycle``, serving in increasing
    link index, pushes them.  An arrival at a link with no other entry is served at once;
    otherwise the link's arrivals join its waiting queue in key order and the queue serves
    ``bandwidth`` per cycle.  Nothing else depends on the order in which links serve as
    long as no occupancy check can fail, which holds with ``n_rem <= buffer_depth`` (a FIFO
    holds at most one entry per packet); otherwise the cycle's forwards are taken in
    increasing link index and each checks its child links' room as ``_cycle`` does
    (entries + entries that left in this cycle < ``buffer_depth``; a blocked link keeps its
    entries, in order, for the next cycle).  Gives up if a packet is still in the network
    at the window's end.  Writes only ``sc``: the deliveries (tree edges in the cycle
    model's order: cycle, then link and rank) in ``sc.dl_edge``; returns (number of
    deliveries, last delivery cycle - w0), or (-1, 0) if it gave up."""
    S, cph, bw, cap, n_cores = chip.step_cycles, chip.cycles_per_hop, chip.bandwidth, chip.buffer_depth, chip.n_cores
    edges, link_head, edge_ptr, root_end = rt.edges, rt.link_head, rt.edge_ptr, rt.root_end
    arr_edge, arr_ready, arr_key, arr_next = sc.arr_edge, sc.arr_ready, sc.arr_key, sc.arr_next
    lk, lg, wl, tile, srv, srv_key = sc.link, sc.guard, sc.waiting, sc.tile, sc.served, sc.served_key
    dl_edge, dl_key = sc.dl_edge, sc.dl_key
    guard = n_rem > cap
    tail = 0
    for q in range(n_rem):                  # root entries, ready at w0, in injection order
        k = inj[q]
        for e in range(edge_ptr[k], root_end[k]):
            arr_edge[tail] = e
            arr_ready[tail] = 0
            arr_key[tail] = q
            tail += 1
    head = 0
    n_wl = 0                                # links with waiting entries: wl[:n_wl]
    n_dl = 0
    last = -1
    c = 0
    while True:
        if n_wl == 0:
            if head == tail:
                return n_dl, last
            c = arr_ready[head]
        if c >= S:
            break
        cabs = w0 + c
        end = head
        while end < tail and arr_ready[end] == c:
            end += 1
        for i in range(head, end):          # the cycle's arrivals per link, in log order
            X = edges[arr_edge[i], 0]
            arr_next[i] = -1
            if lk[X, LK_CYC] != cabs:
                lk[X, LK_CYC] = cabs
                lk[X, LK_CNT] = 1
                lk[X, LK_FIRST] = i
            else:
                lk[X, LK_CNT] += 1
                arr_next[lk[X, LK_LAST]] = i
            lk[X, LK_LAST] = i
        n_srv = 0                           # served this cycle: srv[:n_srv], key link x bw + rank
        for i in range(head, end):
            X = edges[arr_edge[i], 0]
            cnt = lk[X, LK_CNT]
            if cnt == 1 and lk[X, LK_QLEN] == 0:
                srv[n_srv] = i
                srv_key[n_srv] = X * bw
                n_srv += 1
            elif cnt > 0:
                if lk[X, LK_QLEN] == 0:
                    wl[n_wl] = X
                    n_wl += 1
                _enqueue(X, lk[X, LK_FIRST], arr_key, arr_next, sc.sort_tmp, lk)
                lk[X, LK_CNT] = 0
        w = 0
        for a in range(n_wl):               # links with waiting entries serve their queues
            X = wl[a]
            for rank in range(min(bw, lk[X, LK_QLEN])):
                i = lk[X, LK_QHEAD]
                lk[X, LK_QHEAD] = arr_next[i]
                lk[X, LK_QLEN] -= 1
                srv[n_srv] = i
                srv_key[n_srv] = X * bw + rank
                n_srv += 1
            if lk[X, LK_QLEN] > 0:
                wl[w] = X
                w += 1
        n_wl = w
        if guard:                           # occupancy checks: serve in increasing link index
            _sort_segment(srv, srv_key, 0, n_srv)
        seg = n_dl
        clash = False
        blocked = -1
        n_blocked = 0
        for s in range(n_srv):
            i = srv[s]
            e = arr_edge[i]
            X = edges[e, 0]
            if X == blocked:
                continue
            v = link_head[X]
            if v < n_cores:
                dl_edge[n_dl] = e
                dl_key[n_dl] = srv_key[s]
                n_dl += 1
                if tile[v] == cabs:
                    clash = True
                tile[v] = cabs
                last = c
            else:
                if guard and not _room(e, w0, cabs, cap, edges, lg):
                    blocked = X                 # X's entries of this cycle stay, in order
                    s2 = s
                    while s2 < n_srv and edges[arr_edge[srv[s2]], 0] == X:
                        s2 += 1
                    if lk[X, LK_QLEN] == 0:
                        wl[n_wl] = X
                        n_wl += 1
                        lk[X, LK_QTAIL] = srv[s2 - 1]
                        arr_next[srv[s2 - 1]] = -1
                    else:
                        arr_next[srv[s2 - 1]] = lk[X, LK_QHEAD]
                    for a in range(s, s2 - 1):
                        arr_next[srv[a]] = srv[a + 1]
                    lk[X, LK_QHEAD] = i
                    lk[X, LK_QLEN] += s2 - s
                    n_blocked += s2 - s
                    continue
                for ce in range(edges[e, 1], edges[e, 2]):
                    if guard:
                        lg[edges[ce, 0], GD_OCC] += 1
                    arr_edge[tail] = ce
                    arr_ready[tail] = c + cph
                    arr_key[tail] = srv_key[s]
                    tail += 1
            if guard:                           # one entry leaves X
                if lg[X, GD_WIN] != w0:
                    lg[X, GD_WIN] = w0
                    lg[X, GD_OCC] = 0
                lg[X, GD_OCC] -= 1
                if lg[X, GD_DCYC] != cabs:
                    lg[X, GD_DCYC] = cabs
                    lg[X, GD_DCNT] = 0
                lg[X, GD_DCNT] += 1
        if clash:                           # deliveries to one tile in one cycle: link order
            _sort_segment(dl_edge, dl_key, seg, n_dl)
        head = end
        if n_blocked == n_srv and n_wl > 0:  # all blocked: nothing changes before the next arrival
            if head == tail:
                break
            c = arr_ready[head]
        else:
            c += 1
    for a in range(n_wl):
        lk[wl[a], LK_QLEN] = 0
    return -1, 0


@njit(cache=True)
def _room(e, w0, cabs, cap, edges, lg):
    """Whether every child link of tree edge ``e`` has room in cycle ``cabs``, as
    ``_cycle`` checks it: entries + entries that left in this cycle < ``cap``."""
    for ce in range(edges[e, 1], edges[e, 2]):
        Z = edges[ce, 0]
        if lg[Z, GD_WIN] != w0:
            lg[Z, GD_WIN] = w0
            lg[Z, GD_OCC] = 0
        if lg[Z, GD_OCC] + (lg[Z, GD_DCNT] if lg[Z, GD_DCYC] == cabs else 0) >= cap:
            return False
    return True


@njit(cache=True)
def _sort_segment(edge, key, a0, a1):
    """Sort ``edge[a0:a1]`` by ``key[a0:a1]`` (distinct keys): insertion sort for a few
    entries, ``argsort`` for more."""
    if a1 - a0 > 24:
        order = np.argsort(key[a0:a1])
        edge[a0:a1] = edge[a0:a1][order]
        key[a0:a1] = key[a0:a1][order]
        return
    for a in range(a0 + 1, a1):
        e, kk = edge[a], key[a]
        b = a
        while b > a0 and key[b - 1] > kk:
            edge[b], key[b] = edge[b - 1], key[b - 1]
            b -= 1
        edge[b], key[b] = e, kk


@njit(cache=True)
def _commit_window(inj, n_rem, n_dl, rt, sc, I, src_count, counters):
    """Apply a window ``event_window`` completed: its deliveries in order, its counters; the
    packets' link and router loads (their whole trees) are added per source at the end of
    ``run_cycle`` (``src_count``, ``ideal_loads``)."""
    edges, syn_tgt, syn_w = rt.edges, rt.syn_tgt, rt.syn_w
    for i in range(n_dl):
        e = sc.dl_edge[i]
        ea, eb = edges[e, 1], edges[e, 2]
        for r in range(ea, eb):
            I[syn_tgt[r]] += syn_w[r]
        counters[_SYN] += eb - ea
    for q in range(n_rem):
        k = inj[q]
        src_count[k] += 1
        counters[_DEL] += 1
        counters[_ROUT] += rt.n_routers[k]


@njit(cache=True)
def max_branching(rt, n_cores):
    """Most branches leaving one router of any tree (``_cycle`` pushes at most this many
    entries per packet it forwards)."""
    edges, link_head = rt.edges, rt.link_head
    max_fan = 1
    for e in range(edges.shape[0]):
        if link_head[edges[e, 0]] >= n_cores:
            max_fan = max(max_fan, edges[e, 2] - edges[e, 1])
    return max_fan


@njit(cache=True)
def vc_fifo(X, vcs, c, fifo_len, pop_cycle, pop_cnt):
    """The FIFO a packet takes on link ``X``: of the link's ``vcs`` virtual channels (FIFOs
    ``X*vcs .. X*vcs+vcs-1``), the one with the fewest packets (space freed in cycle ``c``
    counts as taken), the lowest on a tie; ``X`` itself without virtual channels."""
    if vcs == 1:
        return X
    best = X * vcs
    occ_best = fifo_len[best] + (pop_cnt[best] if pop_cycle[best] == c else 0)
    for F in range(X * vcs + 1, X * vcs + vcs):
        occ = fifo_len[F] + (pop_cnt[F] if pop_cycle[F] == c else 0)
        if occ < occ_best:
            best, occ_best = F, occ
    return best


@njit(cache=True)
def push_roots(k, p, ready, vcs, rt, noc, ent_free, free_e, n_active):
    """Packet ``p`` of source ``k`` enters the FIFOs of the links leaving its tile (one entry
    per root edge, ready in cycle ``ready``; ``vc_fifo`` picks the FIFO), taking entries
    from the free list ``ent_free`` of ``free_e`` entries; returns (ent_free, free_e,
    n_active).  The caller makes sure the pool holds ``root_end[k] - edge_ptr[k]`` entries."""
    fifo_head, fifo_tail, fifo_len, ent_next = noc.fifo_head, noc.fifo_tail, noc.fifo_len, noc.ent_next
    for e in range(rt.edge_ptr[k], rt.root_end[k]):
        L = vc_fifo(rt.edges[e, 0], vcs, ready, fifo_len, noc.pop_cycle, noc.pop_cnt)
        h = ent_free
        ent_free = ent_next[h]
        free_e -= 1
        noc.ent_pkt[h] = p
        noc.ent_edge[h] = e
        noc.ent_ready[h] = ready
        ent_next[h] = -1
        if fifo_tail[L] >= 0:
            ent_next[fifo_tail[L]] = h
        else:
            fifo_head[L] = h
        fifo_tail[L] = h
        fifo_len[L] += 1
        if not noc.is_active[L]:
            noc.is_active[L] = True
            noc.active[L >> 6] |= np.uint64(1) << np.uint64(L & 63)
            n_active += 1
    return ent_free, free_e, n_active


@njit(cache=True, inline="always")
def _cycle(c, w0, chip, rt, I, noc, last, rec):
    """One cycle of the network: serve the active FIFOs (bitmap ``active``, flags ``is_active``)
    in increasing index (FIFO ``F`` belongs to link ``F // chip.vcs``; a link's FIFOs share
    its ``bandwidth``, the lower virtual channel first) (the entry pool must hold every push of the cycle:
    ``free_e >= n_active x bw x max branching``).  A port activated during the cycle holds
    no ready packet (ready at ``c + cph``), so serving it in this cycle or not is the same.
    Updates ``noc`` (its pool scalars in ``noc.scal``) and ``rec`` in place; returns
    (moved, ready_left, min_future, last)."""
    cph, bw, cap, n_cores, vcs = chip.cycles_per_hop, chip.bandwidth, chip.buffer_depth, chip.n_cores, chip.vcs
    edges, link_head, syn_tgt, syn_w = rt.edges, rt.link_head, rt.syn_tgt, rt.syn_w
    fifo_head, fifo_tail, fifo_len = noc.fifo_head, noc.fifo_tail, noc.fifo_len
    pop_cycle, pop_cnt, active, is_active = noc.pop_cycle, noc.pop_cnt, noc.active, noc.is_active
    ent_next, ent_pkt, ent_edge, ent_ready = noc.ent_next, noc.ent_pkt, noc.ent_edge, noc.ent_ready
    pkt_rem, pkt_next, scal = noc.pkt_rem, noc.pkt_next, noc.scal
    counters, router_load, link_load = rec.counters, rec.router_load, rec.link_load
    ent_free, pkt_free, n_active = scal[SCAL_ENT_FREE], scal[SCAL_PKT_FREE], scal[SCAL_N_ACTIVE]
    free_e, free_p = scal[SCAL_FREE_E], scal[SCAL_FREE_P]
    moved = False
    ready_left = False
    min_future = _NEVER
    one = np.uint64(1)
    cur_link, cur_used = -1, 0                      # packets the link being served has sent
    for wi in range(active.size):
        word = active[wi]
        while word != 0:
            bit = trailing_zeros(word)
            word &= word - one
            F = wi * 64 + bit
            L = F if vcs == 1 else F // vcs
            if L != cur_link:
                cur_link, cur_used = L, 0
            v = link_head[L]
            for _b in range(bw - cur_used):
                h = fifo_head[F]
                if h < 0 or ent_ready[h] > c:
                    break
                p = ent_pkt[h]
                e = ent_edge[h]
                if v < n_cores:
                    ea, eb = edges[e, 1], edges[e, 2]
                    for r in range(ea, eb):
                        I[syn_tgt[r]] += syn_w[r]
                    counters[_SYN] += eb - ea
                    pkt_rem[p] -= 1
                    if pkt_rem[p] == 0:
                        counters[_DEL] += 1
                        counters[_LIVE] -= 1
                        pkt_next[p] = pkt_free
                        pkt_free = p
                        free_p += 1
                    last = c - w0
                else:
                    ok = True
                    ea, eb = edges[e, 1], edges[e, 2]
                    for ce in range(ea, eb):
                        X = vc_fifo(edges[ce, 0], vcs, c, fifo_len, pop_cycle, pop_cnt)
                        occ = fifo_len[X] + (pop_cnt[X] if pop_cycle[X] == c else 0)
                        if occ >= cap:
                            ok = False
                            break
                    if not ok:
                        break
                    for ce in range(ea, eb):
                        X = vc_fifo(edges[ce, 0], vcs, c, fifo_len, pop_cycle, pop_cnt)
                        g = ent_free
                        ent_free = ent_next[g]
                        free_e -= 1
                        ent_pkt[g] = p
                        ent_edge[g] = ce
                        ent_ready[g] = c + cph
                        ent_next[g] = -1
                        if fifo_tail[X] >= 0:
                            ent_next[fifo_tail[X]] = g
                        else:
                            fifo_head[X] = g
                            if c + cph < min_future:
                                min_future = c + cph
                        fifo_tail[X] = g
                        fifo_len[X] += 1
                        if not is_active[X]:
                            is_active[X] = True
                            active[X >> 6] |= one << np.uint64(X & 63)
                            n_active += 1
                    router_load[v - n_cores] += 1
                    counters[_ROUT] += 1
                fifo_head[F] = ent_next[h]
                if fifo_head[F] < 0:
                    fifo_tail[F] = -1
                fifo_len[F] -= 1
                if pop_cycle[F] != c:
                    pop_cycle[F] = c
                    pop_cnt[F] = 0
                pop_cnt[F] += 1
                ent_next[h] = ent_free
                ent_free = h
                free_e += 1
                link_load[L] += 1
                cur_used += 1
                moved = True
            h = fifo_head[F]
            if h >= 0:
                r = ent_ready[h]
                if r <= c:
                    ready_left = True
                elif r < min_future:
                    min_future = r
            else:
                is_active[F] = False
                active[F >> 6] &= ~(one << np.uint64(F & 63))
                n_active -= 1
    scal[SCAL_ENT_FREE], scal[SCAL_PKT_FREE], scal[SCAL_N_ACTIVE] = ent_free, pkt_free, n_active
    scal[SCAL_FREE_E], scal[SCAL_FREE_P] = free_e, free_p
    return moved, ready_left, min_future, last


@njit(cache=True, inline="always")
def _cycle_window(w0, chip, rt, inj, n_rem, born, I, noc, last, rec):
    """The window starting at cycle ``w0`` in the cycle model: the packets of the sources
    ``inj[:n_rem]`` are born (ids into ``born``) and enter their root FIFOs, then ``_cycle``
    runs until the network is empty or the window ends; late packets are counted, and
    dropped with ``chip.drop``.  Returns (network state, its pools perhaps grown; last
    delivery cycle - w0, ``step_cycles`` if packets are left)."""
    S, bw, drop = chip.step_cycles, chip.bandwidth, chip.drop
    edge_ptr, root_end, n_remote, max_fan = rt.edge_ptr, rt.root_end, rt.n_remote, rt.max_fan
    fifo_head, fifo_tail, fifo_len = noc.fifo_head, noc.fifo_tail, noc.fifo_len
    active, is_active, scal = noc.active, noc.is_active, noc.scal
    ent_next, ent_pkt, ent_edge, ent_ready = noc.ent_next, noc.ent_pkt, noc.ent_edge, noc.ent_ready
    pkt_rem, pkt_next = noc.pkt_rem, noc.pkt_next
    counters = rec.counters
    ent_free, pkt_free, n_active = scal[SCAL_ENT_FREE], scal[SCAL_PKT_FREE], scal[SCAL_N_ACTIVE]
    free_e, free_p = scal[SCAL_FREE_E], scal[SCAL_FREE_P]
    wend = w0 + S
    n_born = 0
    grown = False
    for q in range(n_rem):
        k = inj[q]
        if free_p == 0:
            size = pkt_next.size
            pkt_next = _grow_i32(pkt_next, True)
            pkt_rem = _grow_i32(pkt_rem, False)
            pkt_free = size
            free_p = size
            grown = True
        p = pkt_free
        pkt_free = pkt_next[p]
        free_p -= 1
        pkt_rem[p] = n_remote[k]
        born[n_born] = p
        n_born += 1
        counters[_LIVE] += 1
        if free_e < root_end[k] - edge_ptr[k]:
            size = ent_next.size
            ent_next = _grow_i32(ent_next, True)
            ent_pkt = _grow_i32(ent_pkt, False)
            ent_edge = _grow_i32(ent_edge, False)
            ent_ready = _grow_i64(ent_ready)
            ent_next[2 * size - 1] = ent_free     # new block first, then the old free list
            ent_free = size
            free_e += size
            grown = True
        if grown:
            noc = _with_pools(noc, ent_next, ent_pkt, ent_edge, ent_ready, pkt_rem, pkt_next)
            grown = False
        ent_free, free_e, n_active = push_roots(k, p, w0, chip.vcs, rt, noc, ent_free, free_e, n_active)
    c = w0
    while n_active > 0 and c < wend:
        if free_e < n_active * bw * max_fan:
            size = ent_next.size
            while free_e + size < n_active * bw * max_fan:
                size *= 2
            ent_next = _grow_to(ent_next, size, True)
            ent_pkt = _grow_to(ent_pkt, size, False)
            ent_edge = _grow_to(ent_edge, size, False)
            ent_ready = _grow_to64(ent_ready, size)
            ent_next[ent_next.size - 1] = ent_free     # new block first, then the old free list
            ent_free = ent_next.size - size
            free_e += size
            grown = True
        if grown:
            noc = _with_pools(noc, ent_next, ent_pkt, ent_edge, ent_ready, pkt_rem, pkt_next)
            grown = False
        scal[SCAL_ENT_FREE], scal[SCAL_PKT_FREE], scal[SCAL_N_ACTIVE] = ent_free, pkt_free, n_active
        scal[SCAL_FREE_E], scal[SCAL_FREE_P] = free_e, free_p
        moved, ready_left, min_future, last = _cycle(c, w0, chip, rt, I, noc, last, rec)
        ent_free, pkt_free, n_active = scal[SCAL_ENT_FREE], scal[SCAL_PKT_FREE], scal[SCAL_N_ACTIVE]
        free_e, free_p = scal[SCAL_FREE_E], scal[SCAL_FREE_P]
        c = c + 1 if (moved and ready_left) else min_future
    if n_active > 0:
        last = S
        for q in range(n_born):                 # late = born in this window, not delivered
            if pkt_rem[born[q]] > 0:
                counters[_LATE] += 1
        if drop:                                # remove every undelivered copy
            for L in range(fifo_head.size):
                if not is_active[L]:
                    continue
                h = fifo_head[L]
                while h >= 0:
                    p = ent_pkt[h]
                    if pkt_rem[p] > 0:
                        pkt_rem[p] = 0
                        counters[_DROP] += 1
                        counters[_LIVE] -= 1
                        pkt_next[p] = pkt_free
                        pkt_free = p
                        free_p += 1
                    nxt = ent_next[h]
                    ent_next[h] = ent_free
                    ent_free = h
                    free_e += 1
                    h = nxt
                fifo_head[L] = -1
                fifo_tail[L] = -1
                fifo_len[L] = 0
                is_active[L] = False
            active[:] = 0
            n_active = 0
    scal[SCAL_ENT_FREE], scal[SCAL_PKT_FREE], scal[SCAL_N_ACTIVE] = ent_free, pkt_free, n_active
    scal[SCAL_FREE_E], scal[SCAL_FREE_P] = free_e, free_p
    return _with_pools(noc, ent_next, ent_pkt, ent_edge, ent_ready, pkt_rem, pkt_next), last


@njit(cache=True)
def run_cycle(t0, t1, chip, prm, st, inp, rt, noc, rec):
    """Steps t0..t1-1 with the cycle-approximate network-on-chip (``Chip``,
    ``NeuronParams``, ``NeuronState``, ``Inputs``, ``Routes``, ``NocState``, ``Record``);
    returns the network state (its pools may have grown).  A window whose packets enter an
    empty network goes through ``event_window`` if it can, else (and with virtual channels)
    through ``_cycle_window``."""
    S, n_cores = chip.step_cycles, chip.n_cores
    syn_ptr, edge_ptr, local_a, local_b = rt.syn_ptr, rt.edge_ptr, rt.local_a, rt.local_b
    n_remote, syn_tgt, syn_w = rt.n_remote, rt.syn_tgt, rt.syn_w
    counters, spikes, latency = rec.counters, rec.spikes, rec.latency
    n = st.mem.size
    I = np.zeros_like(st.mem)
    inj = np.empty(n + inp.x_spk.shape[1], np.int64)
    born = np.empty(n + inp.x_spk.shape[1], np.int64)
    n_links = rt.link_head.size
    sc = window_scratch(n_links, n_cores, 4 * rt.max_edges)    # event_window's arrays
    src_count = np.zeros(n_remote.size, np.int64)   # packets delivered by event_window, per source
    for t in range(t0, t1):
        I[:] = 0
        _analog_input(t, I, inp, counters)
        w0 = t * S
        last = -1
        n_inj = _sources(t, n, spikes, inp.x_spk, syn_ptr, inj)
        n_rem = 0
        for q in range(n_inj):
            k = inj[q]
            counters[_INJ] += 1
            if k >= n:
                counters[_INP] += 1
            if local_a[k] >= 0:
                for r in range(local_a[k], local_b[k]):
                    I[syn_tgt[r]] += syn_w[r]
                counters[_SYN] += local_b[k] - local_a[k]
                last = max(last, 0)
            if n_remote[k] == 0:
                counters[_DEL] += 1
            else:
                inj[n_rem] = k                  # remote packets, in injection order
                n_rem += 1
        busy = noc.scal[SCAL_N_ACTIVE] > 0
        if n_rem > 0 and not busy and chip.vcs == 1:
            need = 0
            for q in range(n_rem):
                need += edge_ptr[inj[q] + 1] - edge_ptr[inj[q]]
            if need > sc.arr_edge.size:
                sc = window_scratch(n_links, n_cores, 2 * need)
            n_dl, w_last = -1, 0
            if n_rem <= chip.buffer_depth or need <= n_links // _SORTED_EDGES_PER_LINK:
                n_dl, w_last = event_window(w0, chip, rt, inj, n_rem, sc)
            if n_dl >= 0:
                _commit_window(inj, n_rem, n_dl, rt, sc, I, src_count, counters)
                last = max(last, w_last)
                n_rem = 0
        if n_rem > 0 or busy:
            noc, last = _cycle_window(w0, chip, rt, inj, n_rem, born, I, noc, last, rec)
        latency[t] = max(last, 0)
        neuron_update(I, prm, st, spikes[t])
    ideal_loads(src_count, rt, n_cores, rec)
    return noc


# -- batches ----------------------------------------------------------------------------
@njit(cache=True)
def _sample(b, ideal, chip, prm, st, inp, rt, n_links, rec):
    """Sample b of a batch: ``run_ideal`` (then ``ideal_loads``) or ``run_cycle`` from an
    empty network, on the sample's slices of the batched state, input and record."""
    T = rec.spikes.shape[1]
    st_b = NeuronState(st.mem[b], st.syn[b], st.prev[b], st.ref_left[b])
    inp_b = Inputs(inp.x_spk[b], inp.x_cur[b], inp.in_ptr, inp.in_idx, inp.in_w)
    rec_b = Record(rec.counters[b], rec.router_load[b], rec.link_load[b], rec.spikes[b], rec.latency[b])
    if ideal:
        src_count = np.zeros(rt.edge_ptr.size - 1, np.int64)
        run_ideal(0, T, chip, prm, st_b, inp_b, rt, src_count, rec_b)
        ideal_loads(src_count, rt, chip.n_cores, rec_b)
    else:
        run_cycle(0, T, chip, prm, st_b, inp_b, rt, noc_state(n_links, 1024), rec_b)


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
