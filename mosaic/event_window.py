"""The event-driven step window of the cycle model (``event_window``), its arrays in
``mosaic.simstate.WindowScratch``.

A window whose packets enter an empty network with one virtual channel per link is computed
event by event (from its roots, or from the tree level at which ``mosaic.static_window``
found two trees meeting): a log of entries in order of their ready cycle, and per cycle
only the entries that can move (the cycle's arrivals and the links' waiting queues), in
each link's FIFO order; when more packets than a FIFO holds are in the window, the cycle's
pushes check room as the cycle model (``mosaic.cycle_model.noc_cycle``) does; from the first
cycle in which a check fails (that cycle again) the links are served in increasing link
index, since only then does the order matter.  It gives up (and the window runs in
``mosaic.cycle_model.cycle_window``) only if a packet is still in the network at the
window's end.  Its packets' link and router loads are their whole trees, added per source at the end of the run
(``mosaic.kernels.ideal_loads``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .simstate import (
    C_DEL,
    C_ROUT,
    C_SYN,
    GD_DCNT,
    GD_DCYC,
    GD_OCC,
    LK_CYC,
    LK_FIRST,
    LK_LAST,
    LK_QHEAD,
    LK_QLEN,
    LK_QTAIL,
    ZERO,
)

# event_window's modes: PLAIN (at most buffer_depth packets: no occupancy check can fail),
# ORDERED (more: every push checks room; from the first cycle in which a check fails, that
# cycle again, the links are served in increasing link index, a failing check blocking, as
# noc_cycle does).  Literals on purpose:
# numba compiles event_window once per mode, each with its branches folded (a non-literal
# mode compiles once, 12 s less per neuron dtype, and ran CUBA and the digits batch 2-4%
# slower)
PLAIN, ORDERED = 0, 1
GAVE_UP_LATE = -1


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
def event_window(w0, chip, rt, sc, tail, n_dl, last, mode):
    """The window starting at cycle ``w0`` whose packets entered an empty network (one virtual
    channel per link), computed event by event from the log ``sc.arr_*[:tail]``: the root
    entries (``root_log``), or those of the tree level at which ``static_window`` found two
    trees, after its ``n_dl`` deliveries of the cycles before (``sc.dl_edge``, the last in
    cycle ``last``).  Entries (tree edge, ready cycle, key) are logged in order of their
    ready cycle; per cycle only the arrivals of the cycle and the links with waiting entries
    are visited.  A link's FIFO order is (ready cycle, key), key = upstream link x bandwidth
    + rank there (injection order at the roots): the order in which ``noc_cycle``, serving
    in increasing link index, pushes them.  An arrival at a link with no other entry is
    served at once; otherwise the link's arrivals join its waiting queue in key order and
    the queue serves ``bandwidth`` per cycle.  Nothing else depends on the order in which
    links serve as long as no occupancy check can fail, which holds with at most
    ``buffer_depth`` packets (a FIFO holds at most one entry per packet; ``mode`` PLAIN).
    Otherwise (``mode`` ORDERED) each push checks its link's room as ``noc_cycle`` does
    (entries + entries that left in this cycle < ``buffer_depth``, i.e. the entries at the
    cycle's start + the pushes before this one).  While none fails, the pushes of a cycle
    are the same in any order (the largest count a check sees is that of the cycle's last
    push), so cycles are first served in the order their entries came; at the first check
    that fails, the cycle's pushes are undone, and it and every later cycle of the window
    are served in increasing link index, a link whose forward has no room keeping its
    entries, in order, for the next cycle (a window whose FIFOs fill once mostly stays
    congested: trying its later cycles unsorted first cost a second pass in most of them).
    Gives up if a packet is still in the network at the window's end (``GAVE_UP_LATE``, the
    FIFO counts reset).  Writes only ``sc``: ``sc.held``, the entries held back at full
    FIFOs (summed over cycles) of a window done; the deliveries (tree edges in the cycle
    model's order: cycle, then link and rank) in ``sc.dl_edge``; returns (number of
    deliveries, last delivery cycle - w0), or (GAVE_UP_LATE, 0)."""
    S, cph, bw, cap, n_cores = chip.step_cycles, chip.cycles_per_hop, chip.bandwidth, chip.buffer_depth, chip.n_cores
    edges, link_head = rt.edges, rt.link_head
    arr_edge, arr_ready, arr_key, arr_next = sc.arr_edge, sc.arr_ready, sc.arr_key, sc.arr_next
    lk, lg, wl, tile, srv, srv_key = sc.link, sc.guard, sc.waiting, sc.tile, sc.served, sc.served_key
    xs = sc.arrival_link
    dl_edge, dl_key = sc.dl_edge, sc.dl_key
    guard = mode != PLAIN                   # occupancy checks
    sorted_now = False                      # served in link order (since a check failed in arrival order)
    held = ZERO                             # entries held back by a full FIFO, summed over cycles
    head = 0
    n_wl = 0                                # links with waiting entries: wl[:n_wl]
    c = 0
    while True:
        if n_wl == 0:
            if head == tail:
                sc.held[0] = held
                return n_dl, last
            c = arr_ready[head]
        if c >= S:
            break
        cabs = w0 + c
        end = head
        while end < tail and arr_ready[end] == c:
            end += 1
        crowd = False                       # a link with two arrivals or a waiting queue
        for i in range(head, end):          # the cycle's arrivals per link: a chain in log order
            X = edges[arr_edge[i], 0]
            xs[i - head] = X
            if lk[X, LK_CYC] != cabs:
                lk[X, LK_CYC] = cabs
                lk[X, LK_FIRST] = i
                lk[X, LK_LAST] = i
                if lk[X, LK_QLEN] > 0:
                    crowd = True
            else:
                arr_next[lk[X, LK_LAST]] = i
                lk[X, LK_LAST] = i
                crowd = True
        n_srv = ZERO                        # served this cycle: srv[:n_srv], key link x bw + rank
        for i in range(head, end):          # alone at an idle link: served; else the link's queue
            X = xs[i - head]
            if crowd and (lk[X, LK_LAST] != lk[X, LK_FIRST] or lk[X, LK_QLEN] > 0):
                if lk[X, LK_FIRST] == i:
                    arr_next[lk[X, LK_LAST]] = -1
                    if lk[X, LK_QLEN] == 0:
                        wl[n_wl] = X
                        n_wl += 1
                    _enqueue(X, i, arr_key, arr_next, sc.sort_tmp, lk)
            else:
                srv[n_srv] = i
                srv_key[n_srv] = X * bw
                n_srv += 1
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
        seg, tail0, last0 = n_dl, tail, last
        if sorted_now:
            _sort_segment(srv, srv_key, ZERO, n_srv)
        while True:
            clash = False
            blocked = -1
            n_blocked = 0
            failed = -1                         # ORDERED, unsorted: the entry whose push failed a check
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
                    if guard and sorted_now and not _room(e, cabs, cap, edges, lg):
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
                            Z = edges[ce, 0]
                            if not sorted_now and not _room_at(Z, cabs, cap, lg):   # the order matters
                                _unpush(srv, s, ce, arr_edge, edges, link_head, n_cores, lg)
                                failed = s
                                break
                            lg[Z, GD_OCC] += 1
                        arr_edge[tail] = ce
                        arr_ready[tail] = c + cph
                        arr_key[tail] = srv_key[s]
                        tail += 1
                    if failed >= 0:
                        break
                if guard:                           # one entry leaves X
                    lg[X, GD_OCC] -= 1
                    if lg[X, GD_DCYC] != cabs:
                        lg[X, GD_DCYC] = cabs
                        lg[X, GD_DCNT] = 0
                    lg[X, GD_DCNT] += 1
            if failed < 0:
                break
            # the cycle again, and the window's later cycles, sorted by link (the tiles its
            # deliveries stamped may flag a clash: a sort of a segment already in link order)
            n_dl, tail, last = seg, tail0, last0
            _sort_segment(srv, srv_key, ZERO, n_srv)
            sorted_now = True
        if clash:                           # deliveries to one tile in one cycle: link order
            _sort_segment(dl_edge, dl_key, seg, n_dl)
        head = end
        held += n_blocked
        if n_blocked == n_srv and n_wl > 0:  # all blocked: nothing changes before the next arrival
            if head == tail:
                break
            c = arr_ready[head]
        else:
            c += 1
    _clear_queues(lk, wl, n_wl)
    if guard:                               # the FIFOs' counts back to empty
        for i in range(tail):
            lg[edges[arr_edge[i], 0], GD_OCC] = 0
    return GAVE_UP_LATE, 0


@njit(cache=True)
def root_log(rt, inj, n_rem, sc):
    """Log the root entries of the packets ``inj[:n_rem]`` (ready at cycle 0, key: injection
    order) for ``event_window``; returns the log's length."""
    tail = ZERO
    for q in range(n_rem):
        k = inj[q]
        for e in range(rt.edge_ptr[k], rt.root_end[k]):
            sc.arr_edge[tail] = e
            sc.arr_ready[tail] = 0
            sc.arr_key[tail] = q
            tail += 1
    return tail


@njit(cache=True)
def _unpush(srv, s, ce, arr_edge, edges, link_head, n_cores, lg):
    """Undo the occupancy changes of a cycle served unsorted up to its entry ``s``, whose
    push into child edge ``ce`` failed a check: ``srv[:s]`` left their links and pushed
    into their children, ``srv[s]`` pushed into its children before ``ce``.  (Departure
    stamps set in the cycle stay: a count of 0 under this cycle's stamp means what no stamp
    means.)"""
    for a in range(s + 1):
        e = arr_edge[srv[a]]
        X = edges[e, 0]
        stop = ce if a == s else edges[e, 2]
        if a < s:
            lg[X, GD_OCC] += 1
            lg[X, GD_DCNT] -= 1
        if link_head[X] >= n_cores:
            for c2 in range(edges[e, 1], stop):
                lg[edges[c2, 0], GD_OCC] -= 1


@njit(cache=True)
def _clear_queues(lk, wl, n_wl):
    """Empty the waiting queues of the links ``wl[:n_wl]`` (a window given up)."""
    for a in range(n_wl):
        lk[wl[a], LK_QLEN] = 0


@njit(cache=True)
def _room(e, cabs, cap, edges, lg):
    """Whether every child link of tree edge ``e`` has room in cycle ``cabs`` (``_room_at``)."""
    for ce in range(edges[e, 1], edges[e, 2]):
        if not _room_at(edges[ce, 0], cabs, cap, lg):
            return False
    return True


@njit(cache=True, inline="always")
def _room_at(Z, cabs, cap, lg):
    """Whether link ``Z`` has room in cycle ``cabs``, as ``noc_cycle`` checks it: entries +
    entries that left in this cycle < ``cap``."""
    return lg[Z, GD_OCC] + (lg[Z, GD_DCNT] if lg[Z, GD_DCYC] == cabs else 0) < cap


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
def commit_window(inj, n_rem, n_dl, rt, sc, I, src_count, counters):
    """Apply a window ``event_window`` completed: its deliveries in order, its counters; the
    packets are counted per source in ``src_count``, whose link and router loads (their whole
    trees) are added once at the end of the run (``kernels.ideal_loads``)."""
    edges, syn_tgt, syn_w = rt.edges, rt.syn_tgt, rt.syn_w
    for i in range(n_dl):
        e = sc.dl_edge[i]
        ea, eb = edges[e, 1], edges[e, 2]
        for r in range(ea, eb):
            I[syn_tgt[r]] += syn_w[r]
        counters[C_SYN] += eb - ea
    for q in range(n_rem):
        k = inj[q]
        src_count[k] += 1
        counters[C_DEL] += 1
        counters[C_ROUT] += rt.n_routers[k]
