"""Multilevel mapping, first level: cut the neuron graph into core-sized parts.

The partitioner is METIS through ``pymetis``.  Why METIS (and not KaHIP): it is
the partitioner SNEAP builds on, so ``method="partition"`` is a faithful
SNEAP-style baseline; ``pymetis`` ships binary wheels for every platform we
use, and its k-way mode honours target part weights (``tpwgts``), which the
recursive bisection onto the chip needs.  KaHIP would serve as well; one partitioner is one dependency less.

Graph: one vertex per free neuron.  A source's multicast packet is paid once
per destination core, so what must stay together are the targets of a source
(its hyperedge), more than a source and each target: the graph is the clique
expansion of the hyperedges {s} + targets(s), each pair weighing
``rate(s) / (fan-out - 1)``, pairs with s itself scaled by min(1, C / fan-out)
(C neurons per core: sharing a core with its targets saves s one of its
ceil(fan-out / C) destination cores at most)
(a hyperedge cut in two then costs about ``rate(s)``); a hyperedge above
``CLIQUE_MAX`` targets is represented by a seeded sample of that many (its
clique would be dense, and its cut barely depends on the split).  Inputs
contribute their hyperedges too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymetis
import scipy.sparse as sp
from tqdm.auto import tqdm

from .objective import Problem

CLIQUE_MAX = 256           # hyperedges above this size are sampled down to it in the clique expansion
EDGE_SCALE = 1000          # METIS needs integer edge weights: the heaviest edge weighs this


@dataclass(frozen=True)
class Parts:
    """Free neurons cut into parts: ``part[i]`` (-1 for a pinned neuron), ``size[k]``."""

    part: np.ndarray
    size: np.ndarray

    @property
    def n_parts(self) -> int:
        return int(self.size.size)


def neuron_graph(p: Problem, cmax: int) -> sp.csr_matrix:
    """Symmetric (n_neurons, n_neurons) weight matrix of the neuron graph (see module doc)."""
    size = np.diff(p.tgt_ptr)
    keep = np.ones(p.tgt_idx.size, np.bool_)
    rng = np.random.default_rng(0)
    for s in np.flatnonzero(size > CLIQUE_MAX):
        drop = rng.choice(size[s], size[s] - CLIQUE_MAX, replace=False)
        keep[p.tgt_ptr[s] + drop] = False
    rows = np.repeat(np.arange(p.n_src), size)[keep]
    b = sp.csr_matrix((np.ones(rows.size), (rows, p.tgt_idx[keep])), shape=(p.n_src, p.n_neurons))
    b.data[:] = 1.0
    # the source's own membership: sharing a core with its targets saves one of its
    # ceil(fan-out / C) destination cores at most
    own = np.minimum(1.0, cmax / np.maximum(size[p.n_inputs:], 1))
    b = b + sp.csr_matrix((own, (np.arange(p.n_inputs, p.n_src), np.arange(p.n_neurons))), shape=b.shape)
    w = p.rates / np.maximum(np.minimum(size, CLIQUE_MAX) - 1, 1)
    a = (b.T @ sp.diags(w) @ b).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    return a


def _metis(a: sp.csr_matrix, n_parts: int, tpwgts, seed: int) -> np.ndarray:
    if n_parts == 1 or a.shape[0] <= 1:
        return np.zeros(a.shape[0], np.int64)
    a = a.tocsr()
    a.sort_indices()
    top = float(a.data.max(initial=0.0))
    ew = np.maximum(1, np.round(a.data * (EDGE_SCALE / top))).astype(np.int64) if top > 0 else None
    opts = pymetis.Options(seed=int(seed), ufactor=1)
    adj = pymetis.CSRAdjacency(a.indptr.astype(np.int64), a.indices.astype(np.int64))
    res = pymetis.part_graph(n_parts, adj, eweights=None if ew is None or ew.size == 0 else ew, tpwgts=tpwgts,
                             options=opts)
    return np.asarray(res.vertex_part, np.int64)


def _rebalance(a: sp.csr_matrix, part: np.ndarray, limit: np.ndarray) -> None:
    """Move neurons out of parts above ``limit`` into the part they connect to most
    that has room (any part with room when none is connected); in place."""
    size = np.bincount(part, minlength=limit.size)
    for k in np.flatnonzero(size > limit):
        members = np.flatnonzero(part == k)
        # the members least attached to their own part leave first
        own = np.asarray(a[members][:, members].sum(axis=1)).ravel()
        for j in members[np.argsort(own, kind="stable")][: size[k] - limit[k]]:
            row = a.getrow(j)
            gain = np.bincount(part[row.indices], weights=row.data, minlength=limit.size)
            gain[size >= limit] = -np.inf
            gain[k] = -np.inf
            dest = int(np.argmax(gain))
            part[j] = dest
            size[k] -= 1
            size[dest] += 1


def kway(p: Problem, cap: np.ndarray, pins: np.ndarray, seed: int = 0, n_parts: int | None = None) -> Parts:
    """METIS k-way: the free neurons in ``n_parts`` parts (default: as few as the
    largest core capacity allows) of at most ``cap.max()`` neurons each."""
    free = np.flatnonzero(pins < 0)
    cmax = int(cap.max())
    k = max(1, int(np.ceil(free.size / cmax))) if n_parts is None else int(n_parts)
    part = np.full(p.n_neurons, -1, np.int64)
    if free.size == 0:
        return Parts(part, np.zeros(0, np.int64))
    k = min(k, free.size)
    a = neuron_graph(p, int(cap.max()))[free][:, free].tocsr()
    sub = _metis(a, k, None, seed)
    limit = np.full(k, cmax, np.int64)
    if (np.bincount(sub, minlength=k) > limit).any():
        _rebalance(a, sub, limit)
    part[free] = sub
    return Parts(part, np.bincount(sub, minlength=k).astype(np.int64))


def region(p: Problem, room: np.ndarray, n: int) -> np.ndarray:
    """The fewest cores nearest the I/O core (by hops, then index) whose room holds ``n`` neurons."""
    cores = np.flatnonzero(room > 0)
    cores = cores[np.lexsort((cores, p.hops[p.io_core, cores]))]
    k = int(np.searchsorted(np.cumsum(room[cores]), n)) + 1
    return np.sort(cores[:k])


def bisect(p: Problem, cap: np.ndarray, pins: np.ndarray, cols: int, seed: int = 0,
           progress: bool = False) -> tuple[Parts, np.ndarray]:
    """Recursive bisection onto the chip (dual recursive bipartitioning): the core
    region (``region``) is halved across its longer side, the neurons by METIS in
    proportion to the halves' room, the side more attached to the I/O core and to
    the neurons already placed going to the nearer half; down to single cores.
    Returns the parts and the core of each part."""
    free = np.flatnonzero(pins < 0)
    part = np.full(p.n_neurons, -1, np.int64)
    room = cap - np.bincount(pins[pins >= 0], minlength=cap.size)
    if free.size == 0:
        return Parts(part, np.zeros(0, np.int64)), np.zeros(0, np.int64)
    a = neuron_graph(p, int(cap.max()))[free][:, free].tocsr()
    n_in = p.n_inputs
    io_pull = np.bincount(p.tgt_idx[: p.tgt_ptr[n_in]], weights=np.repeat(p.rates[:n_in], np.diff(p.tgt_ptr)[:n_in]),
                          minlength=p.n_neurons)[free]
    cores0 = region(p, room, free.size)
    tent = np.full(free.size, int(cores0[cores0.size // 2]), np.int64)     # a representative core per neuron
    todo = [(np.arange(free.size), cores0)]
    bar = tqdm(total=int(np.ceil(np.log2(max(cores0.size, 1)))) + 1, unit="level", desc="bisect", disable=not progress,
               leave=False)
    while todo:
        bar.update(1)
        nxt = []
        for nodes, cores in todo:
            if cores.size == 1 or nodes.size == 0:
                tent[nodes] = cores[0]
                continue
            r, c = np.divmod(cores, cols)
            axis = r if np.ptp(r) >= np.ptp(c) else c
            order = cores[np.argsort(axis, kind="stable")]
            ca, cb = np.sort(order[: order.size // 2]), np.sort(order[order.size // 2:])
            room_a, room_b = int(room[ca].sum()), int(room[cb].sum())
            k = int(round(nodes.size * room_a / (room_a + room_b)))
            k = min(max(k, nodes.size - room_b), room_a)
            sub = a[nodes][:, nodes].tocsr()
            side = _metis(sub, 2, [k / nodes.size, 1 - k / nodes.size], seed) if 0 < k < nodes.size \
                else np.full(nodes.size, 0 if k else 1, np.int64)
            _rebalance(sub, side, np.array([k, nodes.size - k]))
            mid_a, mid_b = int(ca[ca.size // 2]), int(cb[cb.size // 2])
            # orientation: external attachment (inputs at the I/O core, other neurons at their tentative core)
            ext = a[nodes]
            pull = np.zeros((2, 2))
            for h, mid in enumerate((mid_a, mid_b)):
                v = ext @ p.hops[mid, tent].astype(np.float64) + io_pull[nodes] * p.hops[p.io_core, mid]
                pull[:, h] = np.bincount(side, weights=v, minlength=2)
            n_b = nodes.size - k
            if pull[0, 1] + pull[1, 0] < pull[0, 0] + pull[1, 1] and n_b <= room_a and k <= room_b:
                side = 1 - side
            side_a, side_b = nodes[side == 0], nodes[side == 1]
            tent[side_a], tent[side_b] = mid_a, mid_b
            nxt += [(side_a, ca), (side_b, cb)]
        todo = nxt
    bar.close()
    used, part[free] = np.unique(tent, return_inverse=True)
    return Parts(part, np.bincount(part[free]).astype(np.int64)), used


def coarse_flows(p: Problem, part: np.ndarray, n_parts: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(F, f_io)``: ``F[P, Q]`` = spikes per step sent by neurons of part P to part Q
    != P, each source counted once per destination part (multicast); ``f_io[Q]`` the
    same from the inputs.  Pinned neurons (part -1) are left out."""
    n_in = p.n_inputs
    src = np.repeat(np.arange(p.n_src), np.diff(p.tgt_ptr))
    dst = part[p.tgt_idx]
    keep = dst >= 0
    hit = sp.csr_matrix((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(p.n_src, n_parts))
    hit.data[:] = 1.0                                  # once per destination part
    hit = sp.diags(p.rates) @ hit
    f_io = np.asarray(hit[:n_in].sum(axis=0)).ravel()
    own = part >= 0
    rows = sp.csr_matrix((np.ones(int(own.sum())), (part[own], np.flatnonzero(own))), shape=(n_parts, p.n_neurons))
    f = (rows @ hit[n_in:]).tocsr()
    f.setdiag(0)
    f.eliminate_zeros()
    return f, f_io
