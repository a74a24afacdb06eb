"""Multilevel mapping, second level: parts to cores (a quadratic assignment).

Given the part flows ``F[P, Q]`` (spikes per step, multicast counted once per
destination part; ``mapper.partition.coarse_flows``) and the input flows
``f_io[Q]`` from the I/O core, find distinct cores ``c(P)`` minimising

    sum_{P, Q} F[P, Q] hops(c(P), c(Q)) + sum_Q f_io[Q] hops(io, c(Q))

(routers per step if every part were a single neuron; ``hops`` from
``mosaic.topology.hop_matrix``).  ``greedy_assign`` is the SNEAP-style
placement (parts in order of attachment to the placed ones, each on the free
core cheapest given them); ``solve_qap`` is the exact CP-SAT model on a set of
free parts and candidate cores (``x[P, a]`` one-hot, one part per core, and per
pair of free parts ``d[P, Q] >= sum_b hops(a, b) x[Q, b]`` enforced by
``x[P, a]``); ``assign_parts`` solves it whole when small and otherwise improves
the greedy assignment by CP-SAT on windows of neighbouring parts.
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from ortools.sat.python import cp_model
from tqdm.auto import tqdm

from .cpsat import rate_scale, solve

EXACT_MAX_TERMS = 400_000     # pair constraints x candidate cores^2 up to which the whole QAP goes to CP-SAT
WINDOW_PARTS = 8              # free parts per CP-SAT window on big instances
WINDOW_EMPTY = 4              # empty candidate cores added to a window


def qap_cost(f: sp.csr_matrix, f_io: np.ndarray, where: np.ndarray, hops: np.ndarray, io_core: int) -> float:
    """The quadratic-assignment objective of parts on cores ``where`` (routers per step)."""
    c = f.tocoo()
    return float(np.dot(c.data, hops[where[c.row], where[c.col]]) + np.dot(f_io, hops[io_core, where]))


def greedy_assign(f: sp.csr_matrix, f_io: np.ndarray, ok: np.ndarray, hops: np.ndarray, io_core: int,
                  fixed_cost: np.ndarray | None = None) -> np.ndarray:
    """SNEAP-style placement: the part most attached to the placed ones (the I/O
    core first) goes to the free core of ``ok[P]`` cheapest given them.
    ``fixed_cost[P, a]`` adds a cost already known (e.g. flows to pinned cores)."""
    k, m = ok.shape
    s = (f + f.T).tocsr()
    cost = hops[io_core][None, :] * f_io[:, None] + (0.0 if fixed_cost is None else fixed_cost)
    attach = f_io.astype(np.float64).copy()
    where = np.full(k, -1, np.int64)
    taken = np.zeros(m, np.bool_)
    placed = np.zeros(k, np.bool_)
    tie = 1e-9 * np.asarray(s.sum(axis=1)).ravel()          # ties: the most connected part first
    for _ in range(k):
        score = np.where(placed, -np.inf, attach + tie)
        q = int(np.argmax(score))
        room = ok[q] & ~taken
        if not room.any():
            room = ~taken
        a = int(np.flatnonzero(room)[np.argmin(cost[q, room])])
        where[q], taken[a], placed[q] = a, True, True
        row = s.getrow(q)
        cost[row.indices] += row.data[:, None] * hops[a][None, :]
        attach[row.indices] += row.data
    return where


def solve_qap(f: sp.csr_matrix, f_io: np.ndarray, where: np.ndarray, free: np.ndarray, cand: np.ndarray,
              ok: np.ndarray, hops: np.ndarray, io_core: int, time_limit: float, seed: int = 0,
              fixed_cost: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Re-place the parts ``free`` on the cores ``cand`` (each part only on cores of
    ``ok[P]``, one part per core) optimally given the other parts' cores ``where``;
    returns the new assignment and whether CP-SAT proved it optimal.  The current
    cores of the free parts are the hint (and the fallback)."""
    t0 = time.perf_counter()
    scale, _ = rate_scale(np.concatenate([f.data, f_io, [] if fixed_cost is None else fixed_cost.ravel()]))
    g = f.copy()
    g.data = np.round(g.data * scale)
    g_io = np.round(f_io * scale)
    s = (g + g.T).tocsr()
    free = np.asarray(free, np.int64)
    is_free = np.zeros(where.size, np.bool_)
    is_free[free] = True
    m = cp_model.CpModel()
    x: dict[int, list] = {}
    by_core: dict[int, list] = {}
    lin_vars, lin_coef = [], []
    for p_ in free.tolist():
        row = s.getrow(p_)
        fq = ~is_free[row.indices]
        x[p_] = []
        for a in np.asarray(cand, np.int64).tolist():
            if not ok[p_, a] and where[p_] != a:
                continue
            v = m.new_bool_var("")
            x[p_].append((a, v))
            by_core.setdefault(a, []).append(v)
            m.add_hint(v, int(where[p_] == a))
            c = g_io[p_] * hops[io_core, a] + np.dot(row.data[fq], hops[a, where[row.indices[fq]]])
            if fixed_cost is not None:
                c += np.round(fixed_cost[p_, a] * scale)
            if c:
                lin_vars.append(v)
                lin_coef.append(int(c))
        m.add_exactly_one([v for _, v in x[p_]])
    for lits in by_core.values():
        if len(lits) > 1:
            m.add_at_most_one(lits)
    for p_ in free.tolist():
        row = s.getrow(p_)
        for q, w in zip(row.indices.tolist(), row.data.tolist()):
            if q <= p_ or not is_free[q] or w == 0:
                continue
            hmax = max(int(hops[a, b]) for a, _ in x[p_] for b, _ in x[q])
            d = m.new_int_var(0, hmax, "")
            lin_vars.append(d)
            lin_coef.append(int(w))
            for a, xa in x[p_]:
                m.add(d >= sum(int(hops[a, b]) * v for b, v in x[q] if hops[a, b])).only_enforce_if(xa)
    m.minimize(cp_model.LinearExpr.weighted_sum(lin_vars, lin_coef) if lin_vars else 0)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(max(time_limit - (time.perf_counter() - t0), 0.01))
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    st = solve(solver, m)
    out = where.copy()
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        for p_, opts in x.items():
            for a, v in opts:
                if solver.boolean_value(v):
                    out[p_] = a
    return out, st == cp_model.OPTIMAL


def _n_terms(f: sp.csr_matrix, n_cand: int) -> int:
    return int(sp.triu(f + f.T, k=1).nnz) * n_cand * n_cand


def _window(rng, where, s, hops, cand_mask, taken):
    """A random part, its most attached parts and the parts on the nearest cores,
    plus a few nearby empty candidate cores."""
    k = where.size
    p0 = int(rng.integers(k))
    row = s.getrow(p0)
    attached = row.indices[np.argsort(-row.data, kind="stable")][: WINDOW_PARTS // 2]
    owner = np.full(hops.shape[0], -1, np.int64)
    owner[where] = np.arange(k)
    near = np.argsort(hops[where[p0]], kind="stable")
    near_parts = [int(owner[c]) for c in near[: 4 * WINDOW_PARTS] if owner[c] >= 0]
    parts = list(dict.fromkeys([p0, *attached.tolist(), *near_parts]))[:WINDOW_PARTS]
    empty = [int(c) for c in near if cand_mask[c] and not taken[c]][:WINDOW_EMPTY]
    return np.array(parts, np.int64), np.unique(np.concatenate([where[parts], empty]).astype(np.int64))


def assign_parts(f: sp.csr_matrix, f_io: np.ndarray, ok: np.ndarray, hops: np.ndarray, io_core: int,
                 time_limit: float, seed: int = 0, fixed_cost: np.ndarray | None = None,
                 progress: bool = False, start: np.ndarray | None = None,
                 true_cost=None) -> tuple[np.ndarray, bool]:
    """Distinct cores for the parts, minimising ``qap_cost``: from ``start`` (default
    the greedy placement),
    then the whole model in CP-SAT when small enough (proven optimal if it finishes),
    else CP-SAT on windows of neighbouring parts until ``time_limit`` (s)."""
    t_end = time.perf_counter() + time_limit
    k = ok.shape[0]
    where = greedy_assign(f, f_io, ok, hops, io_core, fixed_cost) if start is None else start.copy()
    cand = np.flatnonzero(ok.any(axis=0))
    if k == 0:
        return where, True
    judge = (lambda w: qap_cost(f, f_io, w, hops, io_core)) if true_cost is None else true_cost
    if _n_terms(f, cand.size) + k * cand.size <= EXACT_MAX_TERMS:
        new, optimal = solve_qap(f, f_io, where, np.arange(k), cand, ok, hops, io_core,
                                 t_end - time.perf_counter(), seed, fixed_cost)
        return (new, optimal) if true_cost is None or judge(new) <= judge(where) else (where, False)
    rng = np.random.default_rng(seed)
    s = (f + f.T).tocsr()
    best = judge(where)
    cand_mask = ok.any(axis=0)
    bar = tqdm(total=round(time_limit, 1), unit="s", desc="assign parts", disable=not progress, leave=False)
    t_start = time.perf_counter()
    i = 0
    while time.perf_counter() < t_end - 0.05:
        taken = np.zeros(hops.shape[0], np.bool_)
        taken[where] = True
        parts, cores = _window(rng, where, s, hops, cand_mask, taken)
        new, _ = solve_qap(f, f_io, where, parts, cores, ok, hops, io_core,
                           min(1.0, t_end - time.perf_counter()), seed + i, fixed_cost)
        i += 1
        if not np.array_equal(new, where):
            cost = judge(new)
            if cost < best - 1e-9:
                where, best = new, cost
        bar.n = round(min(time.perf_counter() - t_start, time_limit), 1)
        bar.refresh()
    bar.close()
    return where, False


def expand(part: np.ndarray, where: np.ndarray, cap: np.ndarray, pins: np.ndarray, hops: np.ndarray) -> np.ndarray:
    """Neuron cores from part cores: each part fills its core up to the room left by
    pins; any overflow goes to the nearest cores with room."""
    core_of = pins.copy()
    room = cap - np.bincount(pins[pins >= 0], minlength=cap.size)
    members = np.flatnonzero(part >= 0)
    members = members[np.argsort(part[members], kind="stable")]
    size = np.bincount(part[members], minlength=where.size)
    first = np.concatenate([[0], np.cumsum(size)])
    rank = np.arange(members.size) - first[part[members]]          # position of each neuron in its part
    fits = rank < room[where[part[members]]]
    core_of[members[fits]] = where[part[members[fits]]]
    room -= np.bincount(where[part[members[fits]]], minlength=cap.size)
    for j in members[~fits]:
        a = int(where[part[j]])
        near = np.argsort(hops[a] + 1e-3 * np.arange(cap.size), kind="stable")
        c = int(near[np.flatnonzero(room[near] > 0)[0]])
        core_of[j] = c
        room[c] -= 1
    return core_of
