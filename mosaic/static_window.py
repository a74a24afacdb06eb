"""The step window whose packets never meet (``static_window``), before any event is computed.

Packets entering an empty network at cycle 0 of a window, at most ``buffer_depth`` of them (so
that no occupancy check can fail, as in ``event_window``'s PLAIN mode), move one tree level
every ``cycles_per_hop`` cycles for as long as no two entries reach one link in one cycle:
nothing waits.  So if no link
is reached at one tree level by two of the window's trees, every tree edge is served at its
level x ``cycles_per_hop``: one pass over the trees finds out, and the deliveries are put in
the cycle model's order (cycle, then link) without simulating a cycle.  Otherwise the window
goes to ``mosaic.event_window.event_window`` (``MET``), which computes it event by event.
"""
from __future__ import annotations

from numba import njit

from .event_window import _sort_segment
from .simstate import ZERO

MET = -3            # two trees reach one link at one level (or too deep): not static
_LEVELS = 63        # levels a link's bit mask can hold


@njit(cache=True)
def static_window(w0, chip, rt, inj, n_rem, sc):
    """The window starting at cycle ``w0`` of the packets ``inj[:n_rem]``, if no two of their
    trees reach one link at one level (a link's levels of the window: a bit mask in
    ``sc.link``'s LK_S* slots); tree edge ``e`` at level ``l`` (root edges 0; the layout is
    breadth-first, so a tree's levels are contiguous) is served at cycle ``l`` x
    ``cycles_per_hop``.  Writes the deliveries to ``sc.dl_edge`` / ``sc.dl_key`` as
    ``event_window`` does: by cycle, a tile's deliveries of one cycle by key (link x
    bandwidth).  Returns (deliveries, last delivery cycle - w0 or -1), or (``MET``, 0) with
    only the level masks written (also when a level reaches ``step_cycles`` or ``_LEVELS``)."""
    cph, bw, n_cores, S = chip.cycles_per_hop, chip.bandwidth, chip.n_cores, chip.step_cycles
    edges, link_head, edge_ptr, root_end = rt.edges, rt.link_head, rt.edge_ptr, rt.root_end
    lvm, tile, dl_edge, dl_key = sc.level_mask, sc.tile, sc.dl_edge, sc.dl_key
    found, found_lvl, count = sc.served, sc.served_key, sc.level_count
    count[:] = 0
    n_found = ZERO
    top = -1                                    # deepest level with a delivery
    check = n_rem > 1                           # one tree never reaches a link twice
    for q in range(n_rem):
        k = inj[q]
        lvl = 0
        blk_end = root_end[k]                   # end of the current level's edges
        nxt = blk_end                           # end of the next level's (children of this one's)
        for e in range(edge_ptr[k], edge_ptr[k + 1]):
            if e == blk_end:
                lvl += 1
                blk_end = nxt
                if lvl >= _LEVELS or lvl * cph >= S:
                    return MET, 0
            X = edges[e, 0]
            if check:
                bit = 1 << lvl
                if lvm[X, 0] != w0:
                    lvm[X, 0] = w0
                    lvm[X, 1] = bit
                elif lvm[X, 1] & bit:
                    return MET, 0
                else:
                    lvm[X, 1] |= bit
            if link_head[X] >= n_cores:
                nxt = edges[e, 2]
            else:
                found[n_found] = e
                found_lvl[n_found] = lvl
                n_found += 1
                count[lvl] += 1
                top = max(top, lvl)
    start = ZERO                                # counting sort by level: cycle order
    for lvl in range(top + 1):
        c = count[lvl]
        count[lvl] = start
        start += c
    for i in range(n_found):
        lvl = found_lvl[i]
        p = count[lvl]
        count[lvl] += 1
        e = found[i]
        dl_edge[p] = e
        dl_key[p] = edges[e, 0] * bw
    a = ZERO
    for lvl in range(top + 1):                  # a tile served twice in one cycle: by link
        cabs = w0 + lvl * cph
        clash = False
        for p in range(a, count[lvl]):
            v = link_head[edges[dl_edge[p], 0]]
            if tile[v] == cabs:
                clash = True
            tile[v] = cabs
        if clash:
            _sort_segment(dl_edge, dl_key, a, count[lvl])
        a = count[lvl]
    return n_found, top * cph if top >= 0 else -1
