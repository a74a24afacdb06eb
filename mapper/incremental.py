"""Incremental placement of a grown network: existing neurons stay (or move
within a migration budget); new neurons are placed by CP-SAT, proven optimal
given the others when the model is small enough, by best insertion otherwise.
A migration budget is spent by annealing and by CP-SAT windows around the new
neurons that bound how many old neurons end away from their core."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .cpsat import solve_window
from .heuristics import Annealer, improve_moves, near_cores
from .objective import Problem, problem_cost
from .pipeline import lns

EXACT_MAX_VARS = 4000      # free neurons x candidate cores above which CP-SAT is skipped


@dataclass
class IncrementalResult:
    core_of: np.ndarray
    optimal_given_pins: bool
    moved: int
    n_new: int
    how: str


def _seed_new(p: Problem, core_of: np.ndarray, new: np.ndarray, cap: np.ndarray, near: np.ndarray) -> None:
    """Put every new neuron next to a placed neighbour (or anywhere with room)."""
    load = np.bincount(core_of[core_of >= 0], minlength=p.n_cores)
    for j in new:
        want = p.io_core
        for s in p.pred_idx[p.pred_ptr[j]:p.pred_ptr[j + 1]]:
            if s < p.n_inputs:
                break
            if core_of[s - p.n_inputs] >= 0:
                want = core_of[s - p.n_inputs]
                break
        for c in np.concatenate([near[want], np.flatnonzero(cap > 0)]):
            if load[c] < cap[c]:
                core_of[j] = c
                load[c] += 1
                break


def _insert(p, core_of, new, cap, port_cap, exact, t_cp, seed) -> tuple[np.ndarray, str, bool]:
    """New neurons next to a placed neighbour, best insertion, then (small cases)
    CP-SAT proving the best cores for them given the others."""
    movable = np.zeros(p.n_neurons, np.bool_)
    movable[new] = True
    _seed_new(p, core_of, new, cap, near_cores(p.hops, cap))
    a = Annealer(p, core_of, cap, movable, port_cap)
    order = new[np.argsort(-np.diff(p.pred_ptr)[new], kind="stable")]
    improve_moves(a, order, n_sweeps=2)
    out = a.core_of.copy()
    how, optimal = "best-insertion", False
    if exact:
        load_fixed = np.bincount(np.delete(out, new), minlength=p.n_cores)
        room = np.flatnonzero((cap - load_fixed) > 0)
        if new.size * room.size <= EXACT_MAX_VARS and port_cap is None:
            res = solve_window(p, out, new, [room] * new.size, cap, t_cp, seed=seed)
            if res.feasible and problem_cost(p, res.core_of) <= problem_cost(p, out) + 1e-9:
                out, how = res.core_of, "cpsat"
            optimal = res.optimal
    return out, how, optimal


def _migrate(p, out, prev, pinned, new, cap, budget, port_cap, deadline, seed, windows: bool) -> np.ndarray:
    """Spend the migration budget: annealing where the ``budget`` old neurons most
    connected to the new ones may move, then (``windows``) CP-SAT windows around the
    new neurons in which any old neuron may move as long as at most ``budget`` are away."""
    old = np.flatnonzero((prev >= 0) & (pinned < 0))
    is_new = np.zeros(p.n_neurons, np.bool_)
    is_new[new] = True
    links = np.zeros(p.n_neurons, np.int64)
    for j in old:
        s = p.n_inputs + j
        links[j] = int(is_new[p.tgt_idx[p.tgt_ptr[s]:p.tgt_ptr[s + 1]]].sum())
        preds = p.pred_idx[p.pred_ptr[j]:p.pred_ptr[j + 1]]
        preds = preds[preds >= p.n_inputs] - p.n_inputs
        links[j] += int(is_new[preds].sum())
    rng = np.random.default_rng(seed)
    order = old[np.lexsort((rng.random(old.size), -links[old]))]
    may_move = np.zeros(p.n_neurons, np.bool_)
    may_move[order[:budget]] = True
    may_move[new] = True
    pos = p.rates[p.rates > 0]
    mean = float(pos.mean()) if pos.size else 1.0
    t_anneal = (0.3 if windows else 1.0) * max(deadline - time.perf_counter(), 0.05)
    cand = Annealer(p, out, cap, may_move, port_cap).run(t_anneal, seed=seed, t_start=0.3 * mean)
    if problem_cost(p, cand) < problem_cost(p, out) - 1e-9:
        out = cand
    if windows and new.size:
        home = np.where(pinned >= 0, -1, prev)
        out, _ = lns(p, out, cap, pinned, deadline, seed, port_cap, prev=home, budget=budget, focus=new)
    return out


def place_incremental(p: Problem, prev: np.ndarray, cap: np.ndarray, pinned: np.ndarray, migration_budget: int,
                      time_limit: float, seed: int = 0, port_cap: int | None = None,
                      exact: bool = True) -> IncrementalResult:
    """``prev[i]`` = the core of an existing neuron, -1 for a new one; ``pinned[i] >= 0``
    fixes a neuron absolutely (never moved, even within the migration budget).
    ``time_limit`` (s) bounds the CP-SAT proof and the migration search together."""
    deadline = time.perf_counter() + time_limit
    core_of = np.where(pinned >= 0, pinned, prev).astype(np.int64)
    new = np.flatnonzero(core_of < 0)
    out, how, optimal = core_of, "none", True
    if new.size:
        t_cp = (deadline - time.perf_counter()) * (0.3 if migration_budget > 0 else 1.0)
        out, how, optimal = _insert(p, core_of, new, cap, port_cap, exact, t_cp, seed)
    moved = 0
    if migration_budget > 0:
        cand = _migrate(p, out, prev, pinned, new, cap, int(migration_budget), port_cap, deadline, seed, exact)
        if problem_cost(p, cand) < problem_cost(p, out) - 1e-9:
            out, optimal = cand, False
        old = prev >= 0
        moved = int(np.count_nonzero(out[old] != prev[old]))
    return IncrementalResult(out, optimal, moved, int(new.size), how)
