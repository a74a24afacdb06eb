"""OR-Tools CP-SAT models of the traffic objective on a restricted neighbourhood.

Some neurons are free, each with a list of candidate cores; the others stay put.
Variables: ``x[j, c]`` (free neuron j on core c), ``y[s, c]`` (core c holds a
free target of source s), and per source, root option r and router v,
``z[s, r, v]`` (v joins s's tree because of the free targets).  For a source
rooted at r, the fixed targets give a fixed base tree; every candidate core c
adds the path from c up to that base tree: ``z[s, r, v] >= y[s, c] + x[s, r] - 1``
on it (as a chain: the first router above c carries y(c), every router implies
its parent).  Minimising ``sum rate(s) (base(s, r) x[s, r] + sum z)`` gives the exact
tree objective of the free part, so a full model (every neuron free, every core
a candidate) proves optimality on small instances.
"""
from __future__ import annotations

import signal
import socket
import threading
import time
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from .objective import Problem


@dataclass
class SolveResult:
    core_of: np.ndarray
    optimal: bool
    feasible: bool
    wall_s: float


def solve(solver: cp_model.CpSolver, model: cp_model.CpModel):
    """``solver.solve(model)`` with Ctrl-C left to Python: CP-SAT's own SIGINT handler
    would stop the search silently (the caller carries on as if the time limit was reached)
    and afterwards reset SIGINT to the system default, so the next Ctrl-C would kill the
    process.  Instead a watcher thread stops the search when Python's signal handler
    records a signal (its wakeup fd), and the KeyboardInterrupt is raised when the solve
    returns.  Outside the main thread (no signals there) this is a plain solve."""
    solver.parameters.catch_sigint_signal = False
    if threading.current_thread() is not threading.main_thread():
        return solver.solve(model)
    rx, tx = socket.socketpair()
    rx.settimeout(0.05)
    tx.setblocking(False)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                got = rx.recv(64)
            except (TimeoutError, OSError):
                continue
            if signal.SIGINT in got:
                solver.stop_search()
                return
    old_fd = signal.set_wakeup_fd(tx.fileno(), warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return solver.solve(model)
    finally:
        done.set()
        watcher.join()
        signal.set_wakeup_fd(old_fd)
        rx.close()
        tx.close()


def rate_scale(rates: np.ndarray) -> tuple[float, bool]:
    """An integer scale for non-negative weights such as rates (CP-SAT needs integer
    costs) and whether it is exact."""
    for s in (1, 2, 4, 10, 20, 50, 100, 1000, 10_000, 100_000, 1_000_000):
        if np.allclose(rates * s, np.round(rates * s), rtol=0, atol=1e-9):
            return float(s), True
    return 1e6 / max(float(rates.max(initial=1.0)), 1e-12), False


def _base_tree(p: Problem, r: int, dests) -> set[int]:
    nodes = {r}
    for d in dests:
        v = int(d)
        while v not in nodes:
            nodes.add(v)
            v = int(p.parent[r, v])
    return nodes


def _path_to(p: Problem, r: int, c: int, base: set[int]) -> list[int]:
    out = []
    v = c
    while v not in base:
        out.append(v)
        v = int(p.parent[r, v])
    return out


def _assignment(m: cp_model.CpModel, p: Problem, core_of, free, cand, cap, hint: bool) -> dict:
    """``x[j, c]``: one core per free neuron, within the room the fixed neurons leave."""
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    fixed_load = np.bincount(np.delete(core_of, free), minlength=p.n_cores)
    by_core: dict[int, list] = {}
    for i, j in enumerate(free):
        lits = []
        for c in cand[i]:
            v = m.new_bool_var("")
            x[int(j), int(c)] = v
            lits.append(v)
            by_core.setdefault(int(c), []).append(v)
            if hint:
                m.add_hint(v, int(core_of[j] == c))
        m.add_exactly_one(lits)
    for c, lits in by_core.items():
        m.add(sum(lits) <= int(cap[c] - fixed_load[c]))
    return x


def _source_tree(m, p: Problem, s: int, w_s: int, core_of, is_free, cand, x, coef_vars, coefs) -> None:
    """The exact tree cost of source ``s`` given the free neurons' choices (module doc)."""
    tg = p.tgt_idx[p.tgt_ptr[s]:p.tgt_ptr[s + 1]]
    ftg = tg[is_free[tg] >= 0]
    fixed_dests = np.unique(core_of[tg[is_free[tg] < 0]])
    y: dict[int, object] = {}
    for t in ftg:
        for c in cand[is_free[t]]:
            c = int(c)
            if c not in y:
                y[c] = m.new_bool_var("")
            m.add_implication(x[int(t), c], y[c])
    if s >= p.n_inputs and is_free[s - p.n_inputs] >= 0:
        j = s - p.n_inputs
        roots = [(int(r), x[int(j), int(r)]) for r in cand[is_free[j]]]
    else:
        roots = [(int(p.io_core if s < p.n_inputs else core_of[s - p.n_inputs]), None)]
    for r, xr in roots:
        base = _base_tree(p, r, fixed_dests)
        base_cost = sum(1 for v in base if v >= p.n_cores)
        if base_cost and xr is not None:
            coef_vars.append(xr)
            coefs.append(int(w_s * base_cost))
        zs: dict[int, object] = {}
        chained: set[tuple[int, int]] = set()
        for c, yc in y.items():
            if c in base:
                continue
            path = [v for v in _path_to(p, r, c, base) if v >= p.n_cores]
            if not path:
                continue                  # c hangs under a router already in the base tree
            for v in path:
                if v not in zs:
                    zs[v] = m.new_bool_var("")
                    coef_vars.append(zs[v])
                    coefs.append(int(w_s))
            # the first router above c carries y(c); each router implies its parent
            if xr is None:
                m.add_implication(yc, zs[path[0]])
            else:
                m.add_bool_or([~yc, ~xr, zs[path[0]]])
            for u, v in zip(path, path[1:]):
                if (u, v) in chained:
                    break
                chained.add((u, v))
                m.add_implication(zs[u], zs[v])


def solve_window(p: Problem, core_of: np.ndarray, free: np.ndarray, cand: list[np.ndarray], cap: np.ndarray,
                 time_limit: float, seed: int = 0, hint: bool = True, workers: int = 1,
                 stay: tuple[np.ndarray, int] | None = None) -> SolveResult:
    """Re-place the ``free`` neurons (``cand[i]`` = candidate cores of ``free[i]``)
    optimally given every other neuron's core; the result keeps the others.
    ``stay = (home, budget)``: at most ``budget`` free neurons leave their
    ``home[i]`` core (-1: no home; a migration budget).  ``time_limit`` (s) covers
    building the model and solving it."""
    t_start = time.perf_counter()
    m = cp_model.CpModel()
    free = np.asarray(free, dtype=np.int64)
    is_free = np.full(p.n_neurons, -1, np.int64)
    is_free[free] = np.arange(free.size)
    x = _assignment(m, p, core_of, free, cand, cap, hint)
    if stay is not None:
        home, budget = stay
        # a neuron whose home is not a candidate is away whatever the window does
        at_home = [x[int(j), int(h)] for j, h in zip(free, home) if h >= 0 and (int(j), int(h)) in x]
        m.add(sum(at_home) >= int(np.count_nonzero(np.asarray(home) >= 0)) - int(budget))
    scale, _ = rate_scale(p.rates)
    w = np.round(p.rates * scale).astype(np.int64)
    # affected sources: free neurons and every source targeting one
    src = set((p.n_inputs + free).tolist())
    for j in free:
        src.update(p.pred_idx[p.pred_ptr[j]:p.pred_ptr[j + 1]].tolist())
    coef_vars: list = []
    coefs: list[int] = []
    for s in sorted(src):
        if w[s]:
            _source_tree(m, p, s, int(w[s]), core_of, is_free, cand, x, coef_vars, coefs)
    m.minimize(cp_model.LinearExpr.weighted_sum(coef_vars, coefs) if coef_vars else 0)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(max(time_limit - (time.perf_counter() - t_start), 0.01))
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = int(seed)
    st = solve(solver, m)
    out = core_of.copy()
    ok = st in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    if ok:
        for (j, c), v in x.items():
            if solver.boolean_value(v):
                out[j] = c
    return SolveResult(out, st == cp_model.OPTIMAL, ok, solver.wall_time)
