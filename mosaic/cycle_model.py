"""The cycle model of the network-on-chip: router FIFOs served cycle by cycle.

Network state (``mosaic.simstate.NocState``): one linked-list FIFO per link and virtual
channel (FIFO ``F`` on link ``F // Chip.vcs``; its head, tail, length, last departures and
active flag in one row ``fifo[F]``, columns ``F_*``) in a shared pool of entries (rows
``ent[h]``: next entry, packet, tree edge, ready cycle, columns ``E_*``), a packet pool
(undelivered copies) and a bitmap of the FIFOs that are non-empty (served in increasing index
by walking the bitmap).  A FIFO's state and an entry each sit in one cache line.
``noc_cycle`` is the router model; ``cycle_window`` drives it through one step window,
``mosaic.noc.run_traffic`` from a synthetic injection process.  Pools grow when short
(``ensure_entries``), so a run never loses a packet for want of memory.
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from .simstate import (
    C_DEL,
    C_DROP,
    C_LATE,
    C_LIVE,
    C_ROUT,
    C_SYN,
    E_EDGE,
    E_NEXT,
    E_PKT,
    E_READY,
    F_ACT,
    F_HEAD,
    F_LEN,
    F_POPC,
    F_POPN,
    F_TAIL,
    SCAL_ENT_FREE,
    SCAL_FREE_E,
    SCAL_FREE_P,
    SCAL_N_ACTIVE,
    SCAL_PKT_FREE,
    NocState,
    free_rows,
)

_NEVER = np.int64(2 ** 62)


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
def ensure_entries(noc, need):
    """``noc`` with at least ``need`` free entries in its pool (``noc.scal``'s free list and
    count updated; the pool at least doubles when it grows, and never shrinks)."""
    scal = noc.scal
    if scal[SCAL_FREE_E] >= need:
        return noc
    old = noc.ent.shape[0]
    size = old
    while scal[SCAL_FREE_E] + size < need:
        size *= 2
    ent = np.empty((old + size, noc.ent.shape[1]), np.int64)
    ent[:old] = noc.ent
    ent[old:] = free_rows(old, size, noc.ent.shape[1])
    ent[old + size - 1, E_NEXT] = scal[SCAL_ENT_FREE]    # new block first, then the old free list
    scal[SCAL_ENT_FREE] = old
    scal[SCAL_FREE_E] += size
    return NocState(noc.fifo, noc.active, ent, noc.pkt_rem, noc.pkt_next, scal)


@njit(cache=True)
def vc_fifo(X, vcs, c, fifo):
    """The FIFO a packet takes on link ``X``: of the link's ``vcs`` virtual channels (FIFOs
    ``X*vcs .. X*vcs+vcs-1``), the one with the fewest packets (space freed in cycle ``c``
    counts as taken), the lowest on a tie; ``X`` itself without virtual channels."""
    if vcs == 1:
        return X
    best = X * vcs
    occ_best = fifo[best, F_LEN] + (fifo[best, F_POPN] if fifo[best, F_POPC] == c else 0)
    for F in range(X * vcs + 1, X * vcs + vcs):
        occ = fifo[F, F_LEN] + (fifo[F, F_POPN] if fifo[F, F_POPC] == c else 0)
        if occ < occ_best:
            best, occ_best = F, occ
    return best


@njit(cache=True)
def push_roots(k, p, ready, vcs, rt, noc):
    """Packet ``p`` of source ``k`` enters the FIFOs of the links leaving its tile (one entry
    per root edge, ready in cycle ``ready``; ``vc_fifo`` picks the FIFO), taking entries from
    the pool's free list (``noc.scal`` updated).  The caller makes sure the pool holds
    ``root_end[k] - edge_ptr[k]`` entries (``ensure_entries``)."""
    fifo, ent, scal = noc.fifo, noc.ent, noc.scal
    ent_free, free_e, n_active = scal[SCAL_ENT_FREE], scal[SCAL_FREE_E], scal[SCAL_N_ACTIVE]
    for e in range(rt.edge_ptr[k], rt.root_end[k]):
        L = vc_fifo(rt.edges[e, 0], vcs, ready, fifo)
        h = ent_free
        ent_free = ent[h, E_NEXT]
        free_e -= 1
        ent[h, E_PKT] = p
        ent[h, E_EDGE] = e
        ent[h, E_READY] = ready
        ent[h, E_NEXT] = -1
        if fifo[L, F_TAIL] >= 0:
            ent[fifo[L, F_TAIL], E_NEXT] = h
        else:
            fifo[L, F_HEAD] = h
        fifo[L, F_TAIL] = h
        fifo[L, F_LEN] += 1
        if not fifo[L, F_ACT]:
            fifo[L, F_ACT] = 1
            noc.active[L >> 6] |= np.uint64(1) << np.uint64(L & 63)
            n_active += 1
    scal[SCAL_ENT_FREE], scal[SCAL_FREE_E], scal[SCAL_N_ACTIVE] = ent_free, free_e, n_active


@njit(cache=True, inline="always")
def noc_cycle(c, w0, chip, rt, I, noc, last, rec):
    """One cycle of the network: serve the active FIFOs (bitmap ``active``, flags ``fifo[:, F_ACT]``)
    in increasing index (FIFO ``F`` belongs to link ``F // chip.vcs``; a link's FIFOs share
    its ``bandwidth``, the lower virtual channel first) (the entry pool must hold every push of the cycle:
    ``free_e >= n_active x bw x max branching``).  A port activated during the cycle holds
    no ready packet (ready at ``c + cph``), so serving it in this cycle or not is the same.
    Updates ``noc`` (its pool scalars in ``noc.scal``) and ``rec`` in place; returns
    (moved, ready_left, min_future, last)."""
    cph, bw, cap, n_cores, vcs = chip.cycles_per_hop, chip.bandwidth, chip.buffer_depth, chip.n_cores, chip.vcs
    edges, link_head, syn_tgt, syn_w = rt.edges, rt.link_head, rt.syn_tgt, rt.syn_w
    fifo, active, ent = noc.fifo, noc.active, noc.ent
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
                h = fifo[F, F_HEAD]
                if h < 0 or ent[h, E_READY] > c:
                    break
                p = ent[h, E_PKT]
                e = ent[h, E_EDGE]
                if v < n_cores:
                    ea, eb = edges[e, 1], edges[e, 2]
                    for r in range(ea, eb):
                        I[syn_tgt[r]] += syn_w[r]
                    counters[C_SYN] += eb - ea
                    pkt_rem[p] -= 1
                    if pkt_rem[p] == 0:
                        counters[C_DEL] += 1
                        counters[C_LIVE] -= 1
                        pkt_next[p] = pkt_free
                        pkt_free = p
                        free_p += 1
                    last = c - w0
                else:
                    ok = True
                    ea, eb = edges[e, 1], edges[e, 2]
                    for ce in range(ea, eb):
                        X = vc_fifo(edges[ce, 0], vcs, c, fifo)
                        occ = fifo[X, F_LEN] + (fifo[X, F_POPN] if fifo[X, F_POPC] == c else 0)
                        if occ >= cap:
                            ok = False
                            break
                    if not ok:
                        break
                    for ce in range(ea, eb):
                        X = vc_fifo(edges[ce, 0], vcs, c, fifo)
                        g = ent_free
                        ent_free = ent[g, E_NEXT]
                        free_e -= 1
                        ent[g, E_PKT] = p
                        ent[g, E_EDGE] = ce
                        ent[g, E_READY] = c + cph
                        ent[g, E_NEXT] = -1
                        if fifo[X, F_TAIL] >= 0:
                            ent[fifo[X, F_TAIL], E_NEXT] = g
                        else:
                            fifo[X, F_HEAD] = g
                            if c + cph < min_future:
                                min_future = c + cph
                        fifo[X, F_TAIL] = g
                        fifo[X, F_LEN] += 1
                        if not fifo[X, F_ACT]:
                            fifo[X, F_ACT] = 1
                            active[X >> 6] |= one << np.uint64(X & 63)
                            n_active += 1
                    router_load[v - n_cores] += 1
                    counters[C_ROUT] += 1
                fifo[F, F_HEAD] = ent[h, E_NEXT]
                if fifo[F, F_HEAD] < 0:
                    fifo[F, F_TAIL] = -1
                fifo[F, F_LEN] -= 1
                if fifo[F, F_POPC] != c:
                    fifo[F, F_POPC] = c
                    fifo[F, F_POPN] = 0
                fifo[F, F_POPN] += 1
                ent[h, E_NEXT] = ent_free
                ent_free = h
                free_e += 1
                link_load[L] += 1
                cur_used += 1
                moved = True
            h = fifo[F, F_HEAD]
            if h >= 0:
                r = ent[h, E_READY]
                if r <= c:
                    ready_left = True
                elif r < min_future:
                    min_future = r
            else:
                fifo[F, F_ACT] = 0
                active[F >> 6] &= ~(one << np.uint64(F & 63))
                n_active -= 1
    scal[SCAL_ENT_FREE], scal[SCAL_PKT_FREE], scal[SCAL_N_ACTIVE] = ent_free, pkt_free, n_active
    scal[SCAL_FREE_E], scal[SCAL_FREE_P] = free_e, free_p
    return moved, ready_left, min_future, last


@njit(cache=True, inline="always")
def cycle_window(w0, chip, rt, inj, n_rem, born, I, noc, last, rec):
    """The window starting at cycle ``w0`` in the cycle model: the packets of the sources
    ``inj[:n_rem]`` are born (ids into ``born``) and enter their root FIFOs, then ``noc_cycle``
    runs until the network is empty or the window ends; late packets are counted, and
    dropped with ``chip.drop``.  Returns (network state, its pools perhaps grown; last
    delivery cycle - w0, ``step_cycles`` if packets are left)."""
    S, bw, drop = chip.step_cycles, chip.bandwidth, chip.drop
    edge_ptr, root_end, n_remote, max_fan = rt.edge_ptr, rt.root_end, rt.n_remote, rt.max_fan
    counters, scal = rec.counters, noc.scal
    wend = w0 + S
    n_born = 0
    for q in range(n_rem):
        k = inj[q]
        if scal[SCAL_FREE_P] == 0:
            size = noc.pkt_next.size
            noc = NocState(noc.fifo, noc.active, noc.ent, _grow_i32(noc.pkt_rem, False),
                           _grow_i32(noc.pkt_next, True), scal)
            scal[SCAL_PKT_FREE] = size
            scal[SCAL_FREE_P] = size
        p = scal[SCAL_PKT_FREE]
        scal[SCAL_PKT_FREE] = noc.pkt_next[p]
        scal[SCAL_FREE_P] -= 1
        noc.pkt_rem[p] = n_remote[k]
        born[n_born] = p
        n_born += 1
        counters[C_LIVE] += 1
        noc = ensure_entries(noc, root_end[k] - edge_ptr[k])
        push_roots(k, p, w0, chip.vcs, rt, noc)
    c = w0
    while scal[SCAL_N_ACTIVE] > 0 and c < wend:
        noc = ensure_entries(noc, scal[SCAL_N_ACTIVE] * bw * max_fan)
        moved, ready_left, min_future, last = noc_cycle(c, w0, chip, rt, I, noc, last, rec)
        c = c + 1 if (moved and ready_left) else min_future
    if scal[SCAL_N_ACTIVE] > 0:
        last = S
        pkt_rem = noc.pkt_rem
        for q in range(n_born):                 # late = born in this window, not delivered
            if pkt_rem[born[q]] > 0:
                counters[C_LATE] += 1
        if drop:
            _drop_all(noc, counters)
    return noc, last


@njit(cache=True)
def _drop_all(noc, counters):
    """Remove every undelivered copy from the network (``late="drop"``): its packets are
    counted as dropped and freed, every FIFO is emptied."""
    fifo, ent, pkt_rem, pkt_next, scal = noc.fifo, noc.ent, noc.pkt_rem, noc.pkt_next, noc.scal
    for L in range(fifo.shape[0]):
        if not fifo[L, F_ACT]:
            continue
        h = fifo[L, F_HEAD]
        while h >= 0:
            p = ent[h, E_PKT]
            if pkt_rem[p] > 0:
                pkt_rem[p] = 0
                counters[C_DROP] += 1
                counters[C_LIVE] -= 1
                pkt_next[p] = scal[SCAL_PKT_FREE]
                scal[SCAL_PKT_FREE] = p
                scal[SCAL_FREE_P] += 1
            nxt = ent[h, E_NEXT]
            ent[h, E_NEXT] = scal[SCAL_ENT_FREE]
            scal[SCAL_ENT_FREE] = h
            scal[SCAL_FREE_E] += 1
            h = nxt
        fifo[L, F_HEAD] = -1
        fifo[L, F_TAIL] = -1
        fifo[L, F_LEN] = 0
        fifo[L, F_ACT] = 0
    noc.active[:] = 0
    scal[SCAL_N_ACTIVE] = 0
