"""Valid lower bounds on the traffic objective for the whole problem.

"per-source tree": every source s must reach at least k(s) cores other than
its own, where k(s) is the fewest cores that can hold its targets given the
capacities (its own core holds at most cap - 1 of them, the I/O core cap).
The cheapest tree from root r that covers k tiles is a tree knapsack over r's
routing tree (the simulator's tree, a subtree of which every multicast uses):
``g[r, k]`` = fewest routers in a subtree rooted at r reaching k allowed tiles.
The bound is ``sum_s rate(s) min_r g[r, k(s)]`` over the roots s may take;
sources are bounded independently, so it is valid for every placement.

"shared own-core": the per-source bound lets every source keep C - 1 of its
targets on its own core at once, which competing sources cannot all do.  With
x_s of s's targets on its own core, s needs ``g[r, ceil((m_s - x_s) / C)]``;
the x_s are tied together (sum over the inputs <= the I/O core's room for the
neurons with most input synapses; sum over neurons <= the synapses that fit
inside cores, Turan's y^2/4 per core of y neurons on a bipartite graph).  The
convex relaxation of each source's step function makes this a fractional
knapsack, a valid bound never below the per-source one.
"""
from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .objective import Problem

INF = np.int64(1) << 40


@numba.njit(cache=True)
def _knapsack(r, parent, order, allowed_tile, n_cores, kmax):
    """Fewest routers in a subtree of r's tree (rooted at r) reaching >= k allowed
    tiles other than r, for k = 0..kmax (INF when impossible)."""
    n_nodes = parent.shape[0]
    acc = np.full((n_nodes, kmax + 1), INF, np.int64)
    acc[:, 0] = 0
    f = np.full(kmax + 1, INF, np.int64)
    tmp = np.empty(kmax + 1, np.int64)
    for v in order:                       # children before parents
        if v == r:
            continue
        f[:] = INF
        f[0] = 0
        if v < n_cores:
            if allowed_tile[v] and kmax >= 1:
                f[1] = 0
        else:
            for k in range(1, kmax + 1):
                if acc[v, k] < INF:
                    f[k] = 1 + acc[v, k]
        pv = parent[v]
        if pv < 0:
            continue
        tmp[:] = INF
        for i in range(kmax + 1):
            if acc[pv, i] >= INF:
                continue
            for j in range(kmax + 1 - i):
                if f[j] < INF and acc[pv, i] + f[j] < tmp[i + j]:
                    tmp[i + j] = acc[pv, i] + f[j]
        # "at least k": a cover of more tiles also covers k
        for i in range(kmax - 1, -1, -1):
            if tmp[i + 1] < tmp[i]:
                tmp[i] = tmp[i + 1]
        acc[pv, :] = tmp
    return acc[r].copy()


@numba.njit(cache=True)
def _edge_depth(parent):
    """Links from the root to every node of one routing tree (0 off the tree)."""
    n = parent.size
    ed = np.full(n, -1, np.int64)
    stack = np.empty(n, np.int64)
    for v in range(n):
        k = 0
        u = v
        while ed[u] < 0 and parent[u] >= 0:
            stack[k] = u
            k += 1
            u = parent[u]
        if ed[u] < 0:
            ed[u] = 0                      # the root (or a node off the tree)
        d = ed[u]
        for i in range(k - 1, -1, -1):
            d += 1
            ed[stack[i]] = d
    return ed


_TABLES: dict = {}


def tree_table(p: Problem, allowed: np.ndarray, kmax: int) -> np.ndarray:
    """(n_cores, kmax+1) fewest routers from each core to reach k allowed other tiles
    (cached per chip, allowed set and kmax)."""
    key = (hash(p.parent.tobytes()), p.parent.shape, np.asarray(allowed).tobytes(), int(kmax))
    if key not in _TABLES:
        if len(_TABLES) > 64:
            _TABLES.clear()
        _TABLES[key] = _tree_table(p, allowed, kmax)
    return _TABLES[key]


def _tree_table(p: Problem, allowed: np.ndarray, kmax: int) -> np.ndarray:
    g = np.full((p.n_cores, kmax + 1), INF, np.int64)
    allowed_tile = np.zeros(p.n_cores, np.bool_)
    allowed_tile[allowed] = True
    for r in range(p.n_cores):
        par = p.parent[r]
        on = par >= 0
        on[r] = True
        ed = _edge_depth(par)           # to order children before parents
        order = np.flatnonzero(on)[np.argsort(-ed[on], kind="stable")]
        g[r] = _knapsack(r, par, order, allowed_tile, p.n_cores, kmax)
    return g


def _sources(p: Problem, cap: np.ndarray, pinned: np.ndarray | None):
    """Per source: targets other than itself ``m``, most of them its own core can
    hold ``xmax``, the table ``g`` and the row of ``g`` bounding its tree (the I/O
    core, its pin, or -1 = the best allowed root)."""
    allowed = np.flatnonzero(cap > 0)
    cmax = int(cap.max())
    src = np.repeat(np.arange(p.n_src), np.diff(p.tgt_ptr))
    self_loop = np.bincount(src[p.tgt_idx + p.n_inputs == src], minlength=p.n_src)
    m = np.diff(p.tgt_ptr) - self_loop
    xmax = np.minimum(m, cmax - 1)
    xmax[: p.n_inputs] = np.minimum(m[: p.n_inputs], int(cap[p.io_core]))
    k = np.ceil(np.maximum(m - xmax, 0) / cmax).astype(np.int64)
    kmax = int(min(np.ceil(m.max(initial=0) / cmax), allowed.size))
    g = tree_table(p, allowed, max(kmax, 1))
    row = np.full(p.n_src, -1, np.int64)
    row[: p.n_inputs] = p.io_core
    if pinned is not None and (pinned >= 0).any():
        pin = np.flatnonzero(pinned >= 0)
        row[p.n_inputs + pin] = pinned[pin]
    return m, xmax, k, g, row, cmax


def _rows(g: np.ndarray, row: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    best = g[allowed].min(axis=0)
    out = np.where(row[:, None] >= 0, g[np.maximum(row, 0)], best[None, :]).astype(np.float64)
    out[out >= INF] = 0.0     # unreachable k only happens for infeasible requests, checked elsewhere
    return out


def per_source_bound(p: Problem, cap: np.ndarray, pinned: np.ndarray | None = None) -> float:
    """The "per-source tree" lower bound (see module doc).  ``cap`` per core
    (0 = not allowed), ``pinned[i] >= 0`` fixes neuron i's core."""
    m, xmax, k, g, row, cmax = _sources(p, cap, pinned)
    if k.max(initial=0) == 0:
        return 0.0
    gs = _rows(g, row, np.flatnonzero(cap > 0))
    k = np.minimum(k, g.shape[1] - 1)
    return float(np.dot(p.rates, gs[np.arange(p.n_src), k]))


def _envelope(m: int, xmax: int, cmax: int, gs: np.ndarray) -> tuple[float, list[tuple[float, float]]]:
    """phi(x) = gs[ceil((m - x) / cmax)] (routers when x targets share the source's
    core), x in 0..xmax: phi(0) and the lower convex envelope's segments as
    (length, saving per unit), savings decreasing."""
    kk = gs.size - 1

    def phi(x):
        return gs[min(int(np.ceil(max(m - x, 0) / cmax)), kk)]

    xs = sorted({0, xmax, *[m - j * cmax for j in range(kk + 1) if 0 <= m - j * cmax <= xmax]})
    pts = [(x, phi(x)) for x in xs]
    hull: list[tuple[int, float]] = []
    for pt in pts:                        # lower hull, left to right
        while len(hull) >= 2 and (hull[-1][1] - hull[-2][1]) * (pt[0] - hull[-2][0]) >= \
                (pt[1] - hull[-2][1]) * (hull[-1][0] - hull[-2][0]):
            hull.pop()
        hull.append(pt)
    segs = [(b[0] - a[0], (a[1] - b[1]) / (b[0] - a[0])) for a, b in zip(hull, hull[1:]) if b[0] > a[0]]
    return float(pts[0][1]), [s for s in segs if s[1] > 0]


def _knapsack_bound(rates, m, xmax, gs, cmax, budget: float) -> float:
    """min sum rate(s) phi_s(x_s) over the convex relaxation with sum x_s <= budget
    (a fractional knapsack over the envelopes' segments)."""
    total = 0.0
    segs = []
    cache: dict = {}
    for s in range(rates.size):
        if rates[s] == 0:
            continue
        key = (int(m[s]), int(xmax[s]), gs[s].tobytes())
        if key not in cache:
            cache[key] = _envelope(int(m[s]), int(xmax[s]), cmax, gs[s])
        phi0, sg = cache[key]
        total += rates[s] * phi0
        segs += [(rates[s] * save, length) for length, save in sg]
    segs.sort(reverse=True)
    left = float(budget)
    for save, length in segs:
        if left <= 0:
            break
        take = min(length, left)
        total -= save * take
        left -= take
    return total


def _bipartite(a: sp.csr_matrix) -> bool:
    """Whether the undirected graph ``a`` is 2-colourable (its bipartite double
    cover keeps every vertex apart from its copy)."""
    n = a.shape[0]
    cover = sp.bmat([[None, a], [a, None]]).tocsr()
    _, lab = connected_components(cover, directed=False)
    return bool(np.all(lab[:n] != lab[n:]))


def shared_core_budget(p: Problem, cap: np.ndarray) -> tuple[float, float]:
    """Upper bounds on (targets of inputs on the I/O core, summed over inputs) and
    (synapses between two neurons on one core): the I/O core holds the ``cap``
    neurons with most input synapses at best; a core of y neurons holds at most
    y (y - 1) synapses, y^2 / 4 (x2 with reciprocal pairs) if the graph is
    bipartite (Turan/Mantel), e.g. a feed-forward net without skip connections."""
    n_in, n = p.n_inputs, p.n_neurons
    indeg_in = np.bincount(p.tgt_idx[: p.tgt_ptr[n_in]], minlength=n)
    u_io = float(np.sort(indeg_in)[::-1][: int(cap[p.io_core])].sum())
    ptr = p.tgt_ptr[n_in:] - p.tgt_ptr[n_in]
    a = sp.csr_matrix((np.ones(ptr[-1]), p.tgt_idx[p.tgt_ptr[n_in]:], ptr), shape=(n, n))
    a.setdiag(0)
    a.eliminate_zeros()
    a.data[:] = 1.0
    und = ((a + a.T) > 0).astype(np.int8).tocsr()
    caps = np.sort(cap[cap > 0])[::-1]
    y = np.minimum(caps, np.maximum(n - np.concatenate([[0], np.cumsum(caps)[:-1]]), 0))
    if _bipartite(und):
        mult = 2 if a.multiply(a.T).nnz else 1
        u_n = float(mult * np.sum(y * y // 4))
    else:
        u_n = float(np.sum(y * (y - 1)))
    return u_io, min(u_n, float(a.nnz))


def shared_core_bound(p: Problem, cap: np.ndarray, pinned: np.ndarray | None = None) -> float:
    """The per-source tree bound with the own cores shared: a source s with x_s of
    its m_s targets on its own core needs a tree to ceil((m_s - x_s) / C) other
    cores (``g``), and the x_s are tied by ``shared_core_budget``; the convex
    relaxation of each source's step function makes it a fractional knapsack.
    Never below ``per_source_bound`` (which lets every x_s reach its maximum)."""
    m, xmax, k, g, row, cmax = _sources(p, cap, pinned)
    if k.max(initial=0) == 0 and xmax.max(initial=0) == 0:
        return 0.0
    gs = _rows(g, row, np.flatnonzero(cap > 0))
    u_io, u_n = shared_core_budget(p, cap)
    ni = p.n_inputs
    return (_knapsack_bound(p.rates[:ni], m[:ni], xmax[:ni], gs[:ni], cmax, u_io)
            + _knapsack_bound(p.rates[ni:], m[ni:], xmax[ni:], gs[ni:], cmax, u_n))


def best_bound(p: Problem, cap: np.ndarray, pinned: np.ndarray | None = None) -> tuple[float, str]:
    """The strongest valid lower bound we compute, and its kind."""
    lb_src = per_source_bound(p, cap, pinned)
    lb_shared = shared_core_bound(p, cap, pinned)
    if lb_shared > lb_src + 1e-9:
        return lb_shared, ("shared own-core (per-source trees; the targets sharing a source's core are bounded "
                           "for all sources together: I/O core room, synapses inside a core)")
    return lb_src, "per-source tree (each source's cheapest tree reaching the fewest cores that hold its targets)"
