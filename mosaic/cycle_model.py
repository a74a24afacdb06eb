"""The cycle model of the network-on-chip: router FIFOs served cycle by cycle.

Network state (``mosaic.simstate.NocState``): one linked-list FIFO per link and virtual
channel (FIFO ``F`` on link ``F // Chip.vcs``) in a shared entry pool (entries: packet, tree
edge, ready cycle), a packet pool (undelivered copies), a bitmap and flags of the FIFOs
that are non-empty (served in increasing index by walking the bitmap).  ``noc_cycle`` is
the router model; ``cycle_window`` drives it through one step window,
``mosaic.noc.run_traffic`` from a synthetic injection process.  Pools grow when short, so
a run never loses a packet for want of memory.
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
    SCAL_ENT_FREE,
    SCAL_FREE_E,
    SCAL_FREE_P,
    SCAL_N_ACTIVE,
    SCAL_PKT_FREE,
    NocState,
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
def grow_to(a, extra, fill_next):
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
def grow_to64(a, extra):
    b = np.empty(a.size + extra, np.int64)
    b[:a.size] = a
    return b


@njit(cache=True)
def _grow_i64(a):
    b = np.empty(2 * a.size, np.int64)
    b[:a.size] = a
    return b


@njit(cache=True)
def with_pools(noc, ent_next, ent_pkt, ent_edge, ent_ready, pkt_rem, pkt_next):
    """``noc`` with (grown) entry and packet pools."""
    return NocState(noc.fifo_head, noc.fifo_tail, noc.fifo_len, noc.pop_cycle, noc.pop_cnt, noc.active,
                    noc.is_active, ent_next, ent_pkt, ent_edge, ent_ready, pkt_rem, pkt_next, noc.scal)


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
def noc_cycle(c, w0, chip, rt, I, noc, last, rec):
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
                    counters[C_ROUT] += 1
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
def cycle_window(w0, chip, rt, inj, n_rem, born, I, noc, last, rec):
    """The window starting at cycle ``w0`` in the cycle model: the packets of the sources
    ``inj[:n_rem]`` are born (ids into ``born``) and enter their root FIFOs, then ``noc_cycle``
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
        counters[C_LIVE] += 1
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
            noc = with_pools(noc, ent_next, ent_pkt, ent_edge, ent_ready, pkt_rem, pkt_next)
            grown = False
        ent_free, free_e, n_active = push_roots(k, p, w0, chip.vcs, rt, noc, ent_free, free_e, n_active)
    c = w0
    while n_active > 0 and c < wend:
        if free_e < n_active * bw * max_fan:
            size = ent_next.size
            while free_e + size < n_active * bw * max_fan:
                size *= 2
            ent_next = grow_to(ent_next, size, True)
            ent_pkt = grow_to(ent_pkt, size, False)
            ent_edge = grow_to(ent_edge, size, False)
            ent_ready = grow_to64(ent_ready, size)
            ent_next[ent_next.size - 1] = ent_free     # new block first, then the old free list
            ent_free = ent_next.size - size
            free_e += size
            grown = True
        if grown:
            noc = with_pools(noc, ent_next, ent_pkt, ent_edge, ent_ready, pkt_rem, pkt_next)
            grown = False
        scal[SCAL_ENT_FREE], scal[SCAL_PKT_FREE], scal[SCAL_N_ACTIVE] = ent_free, pkt_free, n_active
        scal[SCAL_FREE_E], scal[SCAL_FREE_P] = free_e, free_p
        moved, ready_left, min_future, last = noc_cycle(c, w0, chip, rt, I, noc, last, rec)
        ent_free, pkt_free, n_active = scal[SCAL_ENT_FREE], scal[SCAL_PKT_FREE], scal[SCAL_N_ACTIVE]
        free_e, free_p = scal[SCAL_FREE_E], scal[SCAL_FREE_P]
        c = c + 1 if (moved and ready_left) else min_future
    if n_active > 0:
        last = S
        for q in range(n_born):                 # late = born in this window, not delivered
            if pkt_rem[born[q]] > 0:
                counters[C_LATE] += 1
        if drop:                                # remove every undelivered copy
            for L in range(fifo_head.size):
                if not is_active[L]:
                    continue
                h = fifo_head[L]
                while h >= 0:
                    p = ent_pkt[h]
                    if pkt_rem[p] > 0:
                        pkt_rem[p] = 0
                        counters[C_DROP] += 1
                        counters[C_LIVE] -= 1
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
    return with_pools(noc, ent_next, ent_pkt, ent_edge, ent_ready, pkt_rem, pkt_next), last
