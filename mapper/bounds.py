"""Valid lower bounds on the traffic objective for the whole problem.

"per-source tree": every source s must reach at least k(s) cores other than
its own, where k(s) is the fewest cores that can hold its targets given the
capacities (its own core holds at most cap - 1 of them, the I/O core cap).
The cheapest tree from root r that covers k tiles is a tree knapsack over r's
routing tree (the simulator's tree, a subtree of which every multicast uses):
``g[r, k]`` = fewest routers in a subtree rooted at r reaching k allowed tiles.
The bound is ``sum_s rate(s) min_r g[r, k(s)]`` over the roots s may take;
sources are bounded independently, so it is valid for every placement.
"""
from __future__ import annotations

import numba
import numpy as np

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
        # edge depth, to order children before parents
        ed = np.zeros(p.n_nodes, np.int64)
        for _ in range(p.n_nodes):
            nxt = np.where(par >= 0, ed[np.maximum(par, 0)] + 1, 0)
            if np.array_equal(nxt, ed):
                break
            ed = nxt
        order = np.flatnonzero(on)[np.argsort(-ed[on], kind="stable")]
        g[r] = _knapsack(r, par, order, allowed_tile, p.n_cores, kmax)
    return g


def per_source_bound(p: Problem, cap: np.ndarray, pinned: np.ndarray | None = None) -> float:
    """The "per-source tree" lower bound (see module doc).  ``cap`` per core
    (0 = not allowed), ``pinned[i] >= 0`` fixes neuron i's core."""
    allowed = np.flatnonzero(cap > 0)
    cmax = int(cap.max())
    m = np.diff(p.tgt_ptr)
    # targets other than the source itself
    self_loop = np.zeros(p.n_src, np.int64)
    for j in range(p.n_neurons):
        s = p.n_inputs + j
        seg = p.tgt_idx[p.tgt_ptr[s]:p.tgt_ptr[s + 1]]
        self_loop[s] = int(np.any(seg == j))
    m = m - self_loop
    own_in = np.full(p.n_src, cmax - 1)
    own_in[: p.n_inputs] = int(cap[p.io_core])
    k = np.ceil(np.maximum(m - own_in, 0) / cmax).astype(np.int64)
    kmax = int(min(k.max(initial=0), allowed.size))
    if kmax == 0:
        return 0.0
    g = tree_table(p, allowed, kmax)
    k = np.minimum(k, kmax)
    lb = np.zeros(p.n_src)
    lb[: p.n_inputs] = g[p.io_core, k[: p.n_inputs]]
    best = g[allowed].min(axis=0)
    kn = k[p.n_inputs:]
    lbn = best[kn].astype(np.float64)
    if pinned is not None and (pinned >= 0).any():
        pin = np.flatnonzero(pinned >= 0)
        lbn[pin] = g[pinned[pin], kn[pin]]
    lb[p.n_inputs:] = lbn
    lb[lb >= INF] = 0.0     # unreachable k only happens for infeasible requests, checked elsewhere
    return float(np.dot(p.rates, lb))
