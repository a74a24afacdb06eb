"""The optimising pipelines behind ``map_network``: "cpsat" (multilevel: recursive
bisection with METIS, CP-SAT on the coarse quadratic assignment, then annealing
and CP-SAT windows at neuron level; the full CP-SAT model on tiny instances),
"anneal" (the neuron-level annealer alone) and "partition" (METIS k-way plus
greedy placement of the parts, SNEAP-style, no refinement)."""
from __future__ import annotations

import time

import numpy as np

from mosaic import HardwareSpec, SpikingNetwork

from .cpsat import rate_scale, solve_window
from .errors import MappingError
from .heuristics import Annealer, greedy_fill, improve_moves, layered_start, spectral_start
from .multilevel import multilevel
from .objective import Problem, port_loads, problem_cost

TINY_VARS = 64          # neurons x cores up to which "cpsat" solves the full model
LNS_MAX_ARCS = 3000     # synapses touching a CP-SAT window, beyond which the window is subsampled
SCALE_STATE = 5e7       # sources x router-graph nodes above which one annealing run replaces restarts
SWEEP_CHUNK = 4096      # neurons per time-checked chunk of the final best-insertion sweep
SWEEP_SHARE = 0.1       # share of the polishing time left to that sweep
COARSE_SHARE = 0.25     # share of the time limit for the coarse assignment


def _starts(p: Problem, net: SpikingNetwork, spec: HardwareSpec, cap, pins) -> list[np.ndarray]:
    out = [greedy_fill(p.n_neurons, cap, pins),
           layered_start(p, cap, pins, net.layer, spec.rows, spec.cols)]
    sp_start = spectral_start(p, cap, pins, spec.rows, spec.cols)
    if sp_start is not None:
        out.append(sp_start)
    return out


def _mean_rate(p: Problem) -> float:
    pos = p.rates[p.rates > 0]
    return float(pos.mean()) if pos.size else 1.0


def _anneal(p, starts, cap, movable, time_s, seed, port_cap, progress, restarts: int = 6,
            layer=None) -> tuple[np.ndarray, int]:
    """Restarts, each in two phases: whole-core swaps (the cluster layout), then
    single neurons and swaps.  The first restarts begin at the given ``starts``
    (best first), the others at layer-ordered fills of the cores in a random
    order; runs end in different local optima (a probe saw 0.75-0.83 x greedy
    from different starts), hence the restarts.  The best result is annealed
    further at a low temperature and swept by best insertion."""
    mean = _mean_rate(p)
    end = time.perf_counter() + time_s
    slot = 0.8 * time_s / restarts
    rng = np.random.default_rng(seed)
    order = None if layer is None else np.argsort(layer, kind="stable")
    pins = np.where(movable, -1, starts[0])
    best, best_key = None, None
    for i in range(restarts):
        if i < len(starts):
            start = starts[i]
        else:
            start = greedy_fill(p.n_neurons, cap, pins, rng.permutation(np.flatnonzero(cap > 0)), order)
        # each restart its own schedule: identical ones end in the same optimum
        f_core = (0.3, 0.1, 0.5)[i % 3] if i else 0.3
        t_core, t_neuron = (20.0, 1.5) if i == 0 else (float(rng.uniform(5, 40)), float(rng.uniform(0.5, 4)))
        a = Annealer(p, start, cap, movable, port_cap)
        cur = a.run(f_core * slot, seed=seed + 7 * i, t_start=t_core * mean, t_end=0.5 * mean, p_core_swap=1.0,
                    progress=progress)
        a = Annealer(p, cur, cap, movable, port_cap)
        cur = a.run((1 - f_core) * slot, seed=seed + 7 * i + 1, t_start=t_neuron * mean, progress=progress)
        key = (Annealer(p, cur, cap, movable, port_cap).excess(), problem_cost(p, cur))
        if best_key is None or key < best_key:
            best, best_key = cur, key
    return _polish(p, best, cap, movable, max(end - time.perf_counter(), 0.01), seed, port_cap, progress)


def _polish(p, core_of, cap, movable, time_s, seed, port_cap, progress) -> tuple[np.ndarray, int]:
    """Low-temperature annealing, then a sweep of best insertion in chunks of
    ``SWEEP_CHUNK`` neurons while ``time_s`` lasts (the sweep gets ``SWEEP_SHARE``)."""
    end = time.perf_counter() + time_s
    a = Annealer(p, core_of, cap, movable, port_cap)
    best = a.run((1 - SWEEP_SHARE) * time_s, seed=seed + 99, t_start=0.3 * _mean_rate(p), progress=progress)
    a = Annealer(p, best, cap, movable, port_cap)
    order = np.flatnonzero(movable)
    for i in range(0, order.size, SWEEP_CHUNK):
        if time.perf_counter() >= end:
            break
        improve_moves(a, order[i:i + SWEEP_CHUNK], n_sweeps=1)
    return a.core_of.copy(), a.excess()


def lns(p, core_of, cap, pins, deadline, seed, port_cap, prev=None, budget: int = 0,
        focus=None) -> tuple[np.ndarray, int]:
    """CP-SAT on windows of two or three neighbouring used cores (plus one empty
    neighbour), hinted with the current placement; keeps only improvements.
    ``prev``/``budget``: at most ``budget`` neurons with ``prev >= 0`` end away from
    ``prev`` (the windows' share of a migration budget); ``focus``: neurons whose
    cores the windows start from (default: every used core)."""
    rng = np.random.default_rng(seed)
    best = core_of.copy()
    best_cost = problem_cost(p, best)
    used = np.unique(best)
    n_solves = 0
    while time.perf_counter() < deadline - 0.05 and used.size >= 1:
        c0 = int(rng.choice(used) if focus is None else best[rng.choice(focus)])
        near = [int(c) for c in np.argsort(p.hops[c0], kind="stable")[:64] if cap[c] > 0 and c != c0]
        used_set = set(used.tolist())
        cores = [c0] + [c for c in near[:6] if c in used_set][: int(rng.integers(1, 3))]
        empty = [c for c in near[:6] if c not in used_set][:1]
        cand = np.array(cores + empty, np.int64)
        free = rng.permutation(np.flatnonzero(np.isin(best, cores) & (pins < 0)))
        arcs = np.cumsum(np.diff(p.pred_ptr)[free] + np.diff(p.tgt_ptr)[p.n_inputs + free])
        free = np.sort(free[: max(1, int(np.searchsorted(arcs, LNS_MAX_ARCS)))])
        if free.size == 0:
            continue
        stay = None
        if prev is not None:
            away = (prev >= 0) & (best != prev)
            away[free] = False
            stay = (prev[free], budget - int(away.sum()))
        budget_s = min(2.0, deadline - time.perf_counter())
        res = solve_window(p, best, free, [cand] * free.size, cap, budget_s, seed=seed + n_solves, stay=stay)
        n_solves += 1
        if res.feasible:
            cost = problem_cost(p, res.core_of)
            ok_ports = port_cap is None or int(np.maximum(port_loads(p, res.core_of) - port_cap, 0).sum()) == 0
            if cost < best_cost - 1e-9 and ok_ports:
                best, best_cost = res.core_of, cost
                used = np.unique(best)
    excess = 0 if port_cap is None else int(np.maximum(port_loads(p, best) - port_cap, 0).sum())
    return best, excess


def _exact(p, start, cap, pins, deadline, seed) -> tuple[np.ndarray, str] | None:
    """The full CP-SAT model (every free neuron, every allowed core); None if it found nothing."""
    allowed = np.flatnonzero(cap > 0)
    free = np.flatnonzero(pins < 0)
    res = solve_window(p, start, free, [allowed] * free.size, cap, deadline - time.perf_counter(), seed=seed)
    if not res.feasible:
        return None
    return res.core_of, ("optimal" if res.optimal and rate_scale(p.rates)[1] else "feasible")


def partition_method(p: Problem, cap, pins, cols: int, seed: int) -> tuple[np.ndarray, dict]:
    """SNEAP-style: METIS k-way parts, placed greedily (no refinement)."""
    return multilevel(p, cap, pins, cols, 0.0, seed, solver="greedy")


def optimise(p, net, spec, method, cap, pins, deadline, seed, port_cap, progress) -> tuple[np.ndarray, str, dict]:
    """Run the "cpsat" or "anneal" pipeline until ``deadline`` (perf_counter s);
    returns cores, status and the coarse figures ("cpsat")."""
    movable = pins < 0
    info: dict = {}
    big = p.n_src * p.n_nodes > SCALE_STATE
    starts = [] if big else _starts(p, net, spec, cap, pins)
    if method == "cpsat":
        if p.n_neurons * int((cap > 0).sum()) <= TINY_VARS and port_cap is None:
            done = _exact(p, starts[0], cap, pins, deadline, seed)
            if done is not None:
                return done[0], done[1], info
        t_coarse = COARSE_SHARE * max(deadline - time.perf_counter(), 0.05)
        ml, info = multilevel(p, cap, pins, spec.cols, t_coarse, seed, progress=progress)
        starts.append(ml)
    if not starts:
        starts = [greedy_fill(p.n_neurons, cap, pins)]
    costs = [problem_cost(p, s) for s in starts]
    starts = [starts[i] for i in np.argsort(costs, kind="stable")][:2]
    t_left = max(deadline - time.perf_counter(), 0.05)
    t_anneal = t_left * (0.8 if method == "cpsat" else 1.0)
    if big:
        core_of, excess = _polish(p, starts[0], cap, movable, t_anneal, seed, port_cap, progress)
    else:
        core_of, excess = _anneal(p, starts, cap, movable, t_anneal, seed, port_cap, progress, layer=net.layer)
    if method == "cpsat":
        core_of, excess = lns(p, core_of, cap, pins, deadline, seed, port_cap)
    if excess:
        loads = port_loads(p, core_of)
        raise MappingError(f"port_capacity: no placement found in the time limit keeps every router link "
                           f"at <= {port_cap} distinct sources (best found: {int(loads.max())} on one link, "
                           f"{excess} over in total); raise port_capacity or use more cores")
    return core_of, "feasible", info
