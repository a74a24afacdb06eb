"""A step window's tree levels up to the first at which two trees meet (``static_window``).

Packets entering an empty network at cycle 0 of a window, at most ``buffer_depth`` of them (so
that no occupancy check can fail, as in ``event_window``'s PLAIN mode), move one tree level
every ``cycles_per_hop`` cycles for as long as no two entries reach one link in one cycle:
nothing waits.  So the window's trees are walked level by level, all trees' level before the
next, each link stamped with the cycle it serves: every tree edge up to the first level at
which a link is reached twice is served at its level x ``cycles_per_hop``, its deliveries in
the cycle model's order (cycle, then link) without simulating a cycle.  From that level on
``mosaic.event_window.event_window`` computes the window, starting from that level's entries.
If no two trees ever meet, the window is done here.
"""
from __future__ import annotations

from numba import njit

from .event_window import GAVE_UP_LATE, _sort_segment, root_log
from .simstate import NO_CYCLE, ZERO


@njit(cache=True)
def static_window(w0, chip, rt, inj, n_rem, sc):
    """The window starting at cycle ``w0`` of the packets ``inj[:n_rem]`` (at most
    ``buffer_depth``), level by level (a tree's levels are contiguous in the breadth-first
    layout: ``sc.level_block`` holds each tree's current one), up to the first level at which
    two trees reach one link (``sc.level_stamp``: the absolute cycle a link last served).
    Writes the deliveries of the levels before to ``sc.dl_edge`` / ``sc.dl_key`` as
    ``event_window`` does (by cycle, a tile's deliveries of one cycle by key: link x
    bandwidth).  Returns (deliveries, last delivery cycle - w0 or -1, log length): the log
    length is -1 if the window is done, else that level's entries are logged for
    ``event_window`` (``sc.arr_*``, in the order in which it would have pushed them).
    (``GAVE_UP_LATE``, 0, -1) if a level reaches the window's end."""
    cph, bw, n_cores, S = chip.cycles_per_hop, chip.bandwidth, chip.n_cores, chip.step_cycles
    edges, link_head, edge_ptr, root_end = rt.edges, rt.link_head, rt.edge_ptr, rt.root_end
    stamp, blk, dl_edge, dl_key = sc.level_stamp, sc.level_block, sc.dl_edge, sc.dl_key
    check = n_rem > 1                           # one tree never reaches a link twice
    for q in range(n_rem):                      # the level's edges [0, 1), the next's end (2),
        k = inj[q]                              # the level before's start (3)
        blk[q, 0] = edge_ptr[k]
        blk[q, 1] = root_end[k]
    n_dl = ZERO
    last = NO_CYCLE
    lvl = 0
    while True:
        cabs = w0 + lvl * cph
        seg = n_dl                              # this level's deliveries: dl[seg:n_dl]
        live = False
        for q in range(n_rem):
            a, b = blk[q, 0], blk[q, 1]
            nxt = b
            if a < b:
                live = True
                if lvl * cph >= S:
                    return GAVE_UP_LATE, 0, -1
            for e in range(a, b):
                X = edges[e, 0]
                if check:
                    if stamp[X] == cabs:
                        tail = root_log(rt, inj, n_rem, sc) if lvl == 0 else _log_level(lvl, cph, bw, n_cores,
                                                                                            n_rem, rt, sc)
                        return seg, last, tail
                    stamp[X] = cabs
                if link_head[X] >= n_cores:
                    nxt = edges[e, 2]
                else:
                    dl_edge[n_dl] = e
                    dl_key[n_dl] = X * bw
                    n_dl += 1
            blk[q, 2] = nxt
        if not live:
            return n_dl, last, -1
        if n_dl > seg:
            _tile_order(seg, n_dl, cabs, rt, sc)
            last = lvl * cph
        for q in range(n_rem):
            blk[q, 3] = blk[q, 0]
            blk[q, 0] = blk[q, 1]
            blk[q, 1] = blk[q, 2]
        lvl += 1


@njit(cache=True)
def _tile_order(a, b, cabs, rt, sc):
    """Deliveries ``sc.dl_*[a:b]`` of cycle ``cabs``: sorted by key if a tile has two."""
    clash = False
    for p in range(a, b):
        v = rt.link_head[rt.edges[sc.dl_edge[p], 0]]
        if sc.tile[v] == cabs:
            clash = True
        sc.tile[v] = cabs
    if clash:
        _sort_segment(sc.dl_edge, sc.dl_key, a, b)


@njit(cache=True)
def _log_level(lvl, cph, bw, n_cores, n_rem, rt, sc):
    """Log the entries of tree level ``lvl`` > 0 (``sc.level_block``'s current blocks) as
    ``event_window`` pushes them: ready at ``lvl`` x ``cph``, packet by packet in edge order,
    key the parent's link x ``bw`` (level 0 is ``root_log``'s); returns the log's length."""
    edges, link_head, blk = rt.edges, rt.link_head, sc.level_block
    tail = ZERO
    for q in range(n_rem):
        for p in range(blk[q, 3], blk[q, 0]):  # the level before's router edges: the parents
            X = edges[p, 0]
            if link_head[X] >= n_cores:
                for e in range(edges[p, 1], edges[p, 2]):
                    sc.arr_edge[tail] = e
                    sc.arr_ready[tail] = lvl * cph
                    sc.arr_key[tail] = X * bw
                    tail += 1
    return tail
