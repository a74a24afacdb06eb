"""Heuristic placements: PACMAN-style greedy fill, random, space-filling and
spectral starts, and simulated annealing with incremental tree evaluation.

The annealer keeps, for every source, the count of its targets per core and a
reference-counted routing tree (``use[s, v]`` = children of node v in s's tree
plus 1 if v is a destination tile), so moving a neuron only walks the paths it
changes.  Moves: one neuron to a core with room, a swap of two neurons, and a
swap of two cores' whole contents.  ``tree_costs`` (objective.py) is the
oracle the tests compare it against.
"""
from __future__ import annotations

import math
import time

import numba
import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from .objective import Problem, problem_cost


# ---------------------------------------------------------------- baselines
def greedy_fill(n: int, cap: np.ndarray, pinned: np.ndarray, order: np.ndarray | None = None,
                neuron_order: np.ndarray | None = None) -> np.ndarray:
    """Neurons in order (or ``neuron_order``) fill cores in ``order`` (default chip
    order) up to ``cap`` per core; pinned neurons (``pinned[i] >= 0``) stay put."""
    core_of = pinned.copy()
    load = np.bincount(pinned[pinned >= 0], minlength=cap.size)
    cores = np.flatnonzero(cap > 0) if order is None else order
    it = iter(cores)
    c = next(it, -1)
    for i in (np.arange(n) if neuron_order is None else neuron_order):
        if core_of[i] >= 0:
            continue
        while c >= 0 and load[c] >= cap[c]:
            c = next(it, -1)
        core_of[i] = c
        load[c] += 1
    return core_of


def random_fill(n: int, cap: np.ndarray, pinned: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random feasible assignment of the free slots (seeded)."""
    core_of = pinned.copy()
    free = cap - np.bincount(pinned[pinned >= 0], minlength=cap.size)
    slots = np.repeat(np.arange(cap.size), np.maximum(free, 0))
    todo = np.flatnonzero(pinned < 0)
    core_of[todo] = rng.permutation(slots)[: todo.size]
    return core_of


# ---------------------------------------------------------------- starts
def snake_order(p: Problem, cap: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Allowed cores in bands of equal hop distance from the I/O core, alternating
    direction per band, so that consecutive cores are close (a space-filling sweep)."""
    cores = np.flatnonzero(cap > 0)
    r, c = np.divmod(cores, cols)
    ir, ic = divmod(p.io_core, cols)
    ang = np.arctan2(r - ir, c - ic)
    band = p.hops[p.io_core, cores]
    key = np.where(band % 2 == 0, ang, -ang)
    return cores[np.lexsort((key, band))]


def layered_start(p: Problem, cap: np.ndarray, pinned: np.ndarray, layer, rows: int, cols: int) -> np.ndarray:
    """Neurons in layer order fill cores along ``snake_order`` around the I/O core."""
    order = np.argsort(layer, kind="stable") if layer is not None else None
    return greedy_fill(p.n_neurons, cap, pinned, snake_order(p, cap, rows, cols), order)


def spectral_start(p: Problem, cap: np.ndarray, pinned: np.ndarray, rows: int, cols: int) -> np.ndarray | None:
    """Recursive bisection of a 2-D spectral embedding of the neuron graph onto the
    core grid (for sheet-like nets).  None when the graph is too small or degenerate."""
    n = p.n_neurons
    free = np.flatnonzero(pinned < 0)
    if free.size < 16:
        return None
    a = sp.csr_matrix((np.ones(p.tgt_idx.size - p.tgt_ptr[p.n_inputs]),
                       p.tgt_idx[p.tgt_ptr[p.n_inputs]:],
                       p.tgt_ptr[p.n_inputs:] - p.tgt_ptr[p.n_inputs]), shape=(n, n))
    a = (a + a.T)[free][:, free].tocsr()
    deg = np.asarray(a.sum(axis=1)).ravel() + 1e-9
    dinv = sp.diags(1.0 / np.sqrt(deg))
    try:
        from scipy.sparse.linalg import eigsh
        vals, vecs = eigsh(dinv @ a @ dinv, k=3, which="LA", v0=np.ones(free.size), tol=1e-6, maxiter=5000)
    except Exception:  # ARPACK non-convergence: no spectral start
        return None
    xy = np.zeros((n, 2))
    xy[free] = vecs[:, np.argsort(vals)[::-1][1:3]] / np.sqrt(deg)[:, None]
    core_of = pinned.copy()
    room = cap - np.bincount(pinned[pinned >= 0], minlength=cap.size)
    cores = np.flatnonzero(room > 0)
    _bisect(free, xy, cores, room, cols, core_of)
    return core_of


def _bisect(neurons, xy, cores, room, cols, out) -> None:
    if cores.size == 1 or neurons.size == 0:
        out[neurons] = cores[0] if cores.size else -1
        return
    r, c = np.divmod(cores, cols)
    axis = r if (r.max() - r.min()) >= (c.max() - c.min()) else c
    corder = cores[np.argsort(axis, kind="stable")]
    half = corder.size // 2
    ca, cb = corder[:half], corder[half:]
    cap_a, cap_b = room[ca].sum(), room[cb].sum()
    pts = xy[neurons] - xy[neurons].mean(axis=0)
    _, _, vt = np.linalg.svd(pts, full_matrices=False)
    norder = neurons[np.argsort(pts @ vt[0], kind="stable")]
    k = int(round(neurons.size * cap_a / max(cap_a + cap_b, 1)))
    k = min(max(k, neurons.size - cap_b), cap_a)
    _bisect(norder[:k], xy, ca, room, cols, out)
    _bisect(norder[k:], xy, cb, room, cols, out)


# ---------------------------------------------------------------- annealing kernels
@numba.njit(cache=True)
def _add_dest(s, d, r, use, parent, parent_link, lload, port_cap, exc, n_cores):
    dc = 0
    v = d
    while True:
        use[s, v] += 1
        if use[s, v] > 1 or v == r:
            break
        if v >= n_cores:
            dc += 1
        lk = parent_link[r, v]
        lload[lk] += 1
        if lload[lk] > port_cap:
            exc[0] += 1
        v = parent[r, v]
    return dc


@numba.njit(cache=True)
def _remove_dest(s, d, r, use, parent, parent_link, lload, port_cap, exc, n_cores):
    dc = 0
    v = d
    while True:
        use[s, v] -= 1
        if use[s, v] > 0 or v == r:
            break
        if v >= n_cores:
            dc -= 1
        lk = parent_link[r, v]
        if lload[lk] > port_cap:
            exc[0] -= 1
        lload[lk] -= 1
        v = parent[r, v]
    return dc


@numba.njit(cache=True)
def _rebuild(s, newroot, roots, cnt, use, cost, parent, parent_link, lload, port_cap, exc, n_cores, n_nodes):
    old = roots[s]
    for v in range(n_nodes):
        if use[s, v] > 0:
            if v != old:
                lk = parent_link[old, v]
                if lload[lk] > port_cap:
                    exc[0] -= 1
                lload[lk] -= 1
            use[s, v] = 0
    roots[s] = newroot
    c = 0
    for d in range(n_cores):
        if cnt[s, d] > 0 and d != newroot:
            c += _add_dest(s, d, newroot, use, parent, parent_link, lload, port_cap, exc, n_cores)
    dc = c - cost[s]
    cost[s] = c
    return dc


@numba.njit(cache=True)
def init_state(roots, core_of, tgt_ptr, tgt_idx, parent, parent_link, n_cores, n_nodes, n_links, port_cap):
    """Build counts, trees, costs and link loads of a placement."""
    n_src = roots.size
    cnt = np.zeros((n_src, n_cores), np.int32)
    use = np.zeros((n_src, n_nodes), np.int32)
    cost = np.zeros(n_src, np.int64)
    lload = np.zeros(n_links, np.int64)
    exc = np.zeros(1, np.int64)
    for s in range(n_src):
        r = roots[s]
        for k in range(tgt_ptr[s], tgt_ptr[s + 1]):
            d = core_of[tgt_idx[k]]
            cnt[s, d] += 1
            if cnt[s, d] == 1 and d != r:
                cost[s] += _add_dest(s, d, r, use, parent, parent_link, lload, port_cap, exc, n_cores)
    return cnt, use, cost, lload, exc


@numba.njit(cache=True)
def _move(j, b, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent, parent_link,
          lload, port_cap, exc, members, slot, load, n_cores, n_nodes):
    a = core_of[j]
    d = 0.0
    for k in range(pred_ptr[j], pred_ptr[j + 1]):
        s = pred_idx[k]
        r = roots[s]
        cnt[s, a] -= 1
        if cnt[s, a] == 0 and a != r:
            dc = _remove_dest(s, a, r, use, parent, parent_link, lload, port_cap, exc, n_cores)
            cost[s] += dc
            d += rates[s] * dc
        cnt[s, b] += 1
        if cnt[s, b] == 1 and b != r:
            dc = _add_dest(s, b, r, use, parent, parent_link, lload, port_cap, exc, n_cores)
            cost[s] += dc
            d += rates[s] * dc
    s = n_in + j
    d += rates[s] * _rebuild(s, b, roots, cnt, use, cost, parent, parent_link, lload, port_cap, exc,
                             n_cores, n_nodes)
    core_of[j] = b
    # membership lists
    last = members[a, load[a] - 1]
    members[a, slot[j]] = last
    slot[last] = slot[j]
    load[a] -= 1
    members[b, load[b]] = j
    slot[j] = load[b]
    load[b] += 1
    return d


@numba.njit(cache=True)
def _affinity(j, c, n_in, core_of, pred_ptr, pred_idx, tgt_ptr, tgt_idx, io_core):
    """Sources and targets of neuron j that sit on core c."""
    n = 0
    for q in range(pred_ptr[j], pred_ptr[j + 1]):
        s = pred_idx[q]
        if (io_core if s < n_in else core_of[s - n_in]) == c:
            n += 1
    s = n_in + j
    for q in range(tgt_ptr[s], tgt_ptr[s + 1]):
        if core_of[tgt_idx[q]] == c:
            n += 1
    return n


@numba.njit(cache=True)
def anneal_kernel(n_iter, temp, lam, seed, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx,
                  tgt_ptr, tgt_idx, parent, parent_link, lload, port_cap, exc, members, slot, load, cap,
                  movable_list, movable, core_movable, near, p_core_swap, n_cores, n_nodes, io_core):
    """``n_iter`` annealing proposals at temperature ``temp``; returns the change of
    the penalised objective (objective + lam x port-capacity excess)."""
    np.random.seed(seed)
    total = 0.0
    n_mov = movable_list.size
    n_near = near.shape[1]
    tmp_a = np.empty(members.shape[1], np.int64)
    tmp_b = np.empty(members.shape[1], np.int64)
    for it in range(n_iter):
        if np.random.random() < p_core_swap:
            a = near[np.random.randint(n_cores), 0]
            b = near[a, 1 + np.random.randint(n_near - 1)]
            if a == b or not core_movable[a] or not core_movable[b] or load[a] > cap[b] or load[b] > cap[a] \
                    or cap[a] == 0 or cap[b] == 0:
                continue
            na, nb = load[a], load[b]
            if na + nb == 0:
                continue
            for q in range(na):
                tmp_a[q] = members[a, q]
            for q in range(nb):
                tmp_b[q] = members[b, q]
            e0 = exc[0]
            d = 0.0
            for q in range(na):
                d += _move(tmp_a[q], b, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent,
                           parent_link, lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
            for q in range(nb):
                d += _move(tmp_b[q], a, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent,
                           parent_link, lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
            dp = d + lam * (exc[0] - e0)
            if dp <= 0 or np.random.random() < math.exp(-dp / temp):
                total += dp
            else:
                for q in range(nb):
                    _move(tmp_b[q], b, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent,
                          parent_link, lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
                for q in range(na):
                    _move(tmp_a[q], a, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent,
                          parent_link, lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
            continue
        j = movable_list[np.random.randint(n_mov)]
        a = core_of[j]
        u = np.random.random()
        b = -1
        if u < 0.6:
            # the core of a random neighbour (a source or a target of j)
            n_pred = pred_ptr[j + 1] - pred_ptr[j]
            s = n_in + j
            n_tgt = tgt_ptr[s + 1] - tgt_ptr[s]
            if n_pred + n_tgt > 0:
                q = np.random.randint(n_pred + n_tgt)
                if q < n_pred:
                    src = pred_idx[pred_ptr[j] + q]
                    b = io_core if src < n_in else core_of[src - n_in]
                else:
                    b = core_of[tgt_idx[tgt_ptr[s] + q - n_pred]]
        if b < 0 or b == a:
            b = near[a, 1 + np.random.randint(n_near - 1)]
        if b == a or cap[b] == 0:
            continue
        e0 = exc[0]
        if load[b] < cap[b]:
            d = _move(j, b, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent, parent_link,
                      lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
            dp = d + lam * (exc[0] - e0)
            if dp <= 0 or np.random.random() < math.exp(-dp / temp):
                total += dp
            else:
                _move(j, a, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent, parent_link,
                      lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
        else:
            # partner: the best of a few neurons on b by (neighbours on a) - (neighbours on b)
            k = -1
            best_score = -1 << 40
            for _t in range(4):
                kk = members[b, np.random.randint(load[b])]
                if not movable[kk]:
                    continue
                score = _affinity(kk, a, n_in, core_of, pred_ptr, pred_idx, tgt_ptr, tgt_idx, io_core) \
                    - _affinity(kk, b, n_in, core_of, pred_ptr, pred_idx, tgt_ptr, tgt_idx, io_core)
                if score > best_score:
                    best_score = score
                    k = kk
            if k < 0:
                continue
            d = _move(j, b, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent, parent_link,
                      lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
            d += _move(k, a, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent, parent_link,
                       lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
            dp = d + lam * (exc[0] - e0)
            if dp <= 0 or np.random.random() < math.exp(-dp / temp):
                total += dp
            else:
                _move(k, b, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent, parent_link,
                      lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
                _move(j, a, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent, parent_link,
                      lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
    return total


def near_cores(hops: np.ndarray, cap: np.ndarray, k: int = 13) -> np.ndarray:
    """(n_cores, k) allowed cores sorted by hops from each core (itself first when allowed)."""
    allowed = np.flatnonzero(cap > 0)
    k = min(k, allowed.size)
    sub = hops[:, allowed] + (allowed[None, :] != np.arange(hops.shape[0])[:, None]) * 0.5
    return allowed[np.argsort(sub, axis=1, kind="stable")[:, :k]].astype(np.int64)


class Annealer:
    """Simulated annealing over a placement with exact incremental tree costs.

    ``cap`` per core (0 = not allowed), ``movable`` per neuron (False = pinned),
    ``port_cap`` = max distinct sources per router link (None: unconstrained,
    otherwise excess is penalised by ``lam`` per unit).
    """

    def __init__(self, p: Problem, core_of: np.ndarray, cap: np.ndarray, movable: np.ndarray,
                 port_cap: int | None = None, lam: float | None = None):
        self.p = p
        self.cap = cap.astype(np.int64)
        self.core_of = core_of.astype(np.int64).copy()
        self.movable = movable.astype(np.bool_)
        self.movable_list = np.flatnonzero(self.movable).astype(np.int64)
        self.port_cap = np.int64(np.iinfo(np.int64).max // 4 if port_cap is None else port_cap)
        self.lam = float(lam if lam is not None else 4.0 * max(p.rates.max(initial=1.0), 1e-9))
        self.roots = p.roots(self.core_of)
        self.cnt, self.use, self.cost, self.lload, self.exc = init_state(
            self.roots, self.core_of, p.tgt_ptr, p.tgt_idx, p.parent, p.parent_link, p.n_cores, p.n_nodes,
            p.n_links, self.port_cap)
        self.load = np.bincount(self.core_of, minlength=p.n_cores).astype(np.int64)
        width = 2 * int(max(self.cap.max(), self.load.max())) + 2
        self.members = np.full((p.n_cores, width), -1, np.int64)
        self.slot = np.zeros(p.n_neurons, np.int64)
        fill = np.zeros(p.n_cores, np.int64)
        for j, c in enumerate(self.core_of):
            self.members[c, fill[c]] = j
            self.slot[j] = fill[c]
            fill[c] += 1
        self.core_movable = np.ones(p.n_cores, np.bool_)
        self.core_movable[self.core_of[~self.movable]] = False
        self.near = near_cores(p.hops, self.cap)

    def objective(self) -> float:
        return float(np.dot(self.p.rates, self.cost))

    def excess(self) -> int:
        return int(self.exc[0])

    def _chunk(self, n_iter: int, temp: float, seed: int, p_core_swap: float) -> None:
        p = self.p
        anneal_kernel(n_iter, temp, self.lam, seed, p.n_inputs, self.core_of, self.roots, self.cnt, self.use,
                      self.cost, p.rates, p.pred_ptr, p.pred_idx, p.tgt_ptr, p.tgt_idx, p.parent, p.parent_link,
                      self.lload, self.port_cap, self.exc, self.members, self.slot, self.load, self.cap,
                      self.movable_list, self.movable, self.core_movable, self.near, p_core_swap, p.n_cores,
                      p.n_nodes, p.io_core)

    def run(self, time_s: float, seed: int = 0, t_start: float | None = None, t_end: float | None = None,
            max_iter: int | None = None, p_core_swap: float = 0.02, progress: bool = False) -> np.ndarray:
        """Anneal for ``time_s`` seconds (or ``max_iter`` proposals) on a geometric
        temperature schedule; returns the best placement seen (fewest port
        violations first, then lowest objective)."""
        if self.movable_list.size == 0 or (self.cap > 0).sum() < 2:
            return self.core_of.copy()
        pos = self.p.rates[self.p.rates > 0]
        mean_rate = float(pos.mean()) if pos.size else 1.0
        t0 = 1.5 * mean_rate if t_start is None else t_start
        t1 = 0.02 * (float(pos.min()) if pos.size else 1.0) if t_end is None else t_end
        t1 = min(t1, t0)
        p_swap = p_core_swap
        best = self.core_of.copy()
        best_key = (self.excess(), self.objective())
        start = time.perf_counter()
        done = 0
        chunk = 100         # grown while chunks are fast: one whole-core-swap chunk can take 1 s
        bar = tqdm(total=round(time_s, 1), unit="s", desc="anneal", disable=not progress, leave=False)
        k = 0
        while True:
            elapsed = time.perf_counter() - start
            frac = elapsed / time_s if max_iter is None else done / max_iter
            if frac >= 1.0:
                break
            temp = t0 * (t1 / t0) ** frac
            t_chunk = time.perf_counter()
            self._chunk(chunk, temp, seed * 1_000_003 + k, p_swap)
            k += 1
            done += chunk
            dt = time.perf_counter() - t_chunk
            if dt < 0.02:
                chunk *= 2
            elif dt > 0.1 and chunk > 500:
                chunk //= 2
            key = (self.excess(), self.objective())
            if key < best_key:
                best_key, best = key, self.core_of.copy()
            bar.n = round(min(time.perf_counter() - start, time_s), 1)
            bar.refresh()
        bar.close()
        return best


def anneal(p: Problem, core_of: np.ndarray, cap: np.ndarray, movable: np.ndarray, time_s: float,
           seed: int = 0, port_cap: int | None = None, progress: bool = False) -> np.ndarray:
    """Anneal ``core_of`` for ``time_s`` seconds; never worse than the start."""
    a = Annealer(p, core_of, cap, movable, port_cap)
    best = a.run(time_s, seed=seed, progress=progress)
    if port_cap is None and problem_cost(p, best) > problem_cost(p, core_of):
        return core_of.copy()
    return best


@numba.njit(cache=True)
def insertion_kernel(order, n_sweeps, lam, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx,
                     parent, parent_link, lload, port_cap, exc, members, slot, load, cap, near, n_cores, n_nodes):
    """Best insertion: each neuron of ``order`` in turn goes to the core with room,
    among the ``near`` cores of its current one, that minimises the penalised
    objective given all the others; repeated ``n_sweeps`` times.  Returns the
    total change."""
    total = 0.0
    for sweep in range(n_sweeps):
        for j in order:
            a = core_of[j]
            best_b = a
            best_d = 0.0
            for q in range(near.shape[1]):
                b = near[a, q]
                if b == a or load[b] >= cap[b]:
                    continue
                e0 = exc[0]
                d = _move(j, b, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent,
                          parent_link, lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
                d += lam * (exc[0] - e0)
                _move(j, a, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent,
                      parent_link, lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
                if d < best_d - 1e-12:
                    best_d = d
                    best_b = b
            if best_b != a:
                _move(j, best_b, n_in, core_of, roots, cnt, use, cost, rates, pred_ptr, pred_idx, parent,
                      parent_link, lload, port_cap, exc, members, slot, load, n_cores, n_nodes)
                total += best_d
    return total


def improve_moves(a: "Annealer", order: np.ndarray, n_sweeps: int = 1, n_near: int = 24) -> None:
    """Run best insertion (see ``insertion_kernel``) on the neurons in ``order``,
    trying the ``n_near`` allowed cores closest to each neuron's current core."""
    p = a.p
    near = near_cores(p.hops, a.cap, n_near)
    insertion_kernel(np.asarray(order, np.int64), n_sweeps, a.lam, p.n_inputs, a.core_of, a.roots, a.cnt, a.use,
                     a.cost, p.rates, p.pred_ptr, p.pred_idx, p.parent, p.parent_link, a.lload, a.port_cap, a.exc,
                     a.members, a.slot, a.load, a.cap, near, p.n_cores, p.n_nodes)
