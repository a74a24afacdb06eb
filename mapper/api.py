"""``map_network``: the one entry point of the mapper, plus checks and comparisons."""
from __future__ import annotations

import time

import numpy as np

from mosaic import HardwareSpec, Placement, SpikingNetwork
from mosaic.topology import topology

from .bounds import per_source_bound
from .cpsat import rate_scale, solve_window
from .errors import MappingError
from .heuristics import (
    Annealer,
    greedy_fill,
    improve_moves,
    layered_start,
    random_fill,
    spectral_start,
)
from .incremental import place_incremental
from .objective import Problem, build_problem, port_loads, problem_cost, synapse_cost
from .synapse import anneal_synapse

METHODS = ("cpsat", "anneal", "greedy", "random")
OBJECTIVES = ("traffic", "synapse")
TINY_VARS = 64          # neurons x cores up to which "cpsat" solves the full model
LNS_MAX_ARCS = 3000     # synapses touching a CP-SAT window, beyond which the window is subsampled


# ---------------------------------------------------------------- request checking
def core_capacities(spec: HardwareSpec, allowed_cores=None, capacity: int | None = None,
                    reserve: float = 0.0) -> np.ndarray:
    """Usable neuron slots per core (0 = not allowed) after the growth ``reserve``."""
    cap0 = spec.neurons_per_core if capacity is None else capacity
    if isinstance(cap0, bool) or not isinstance(cap0, (int, np.integer)) or cap0 < 1:
        raise MappingError(f"capacity must be a positive whole number of neurons per core, got {capacity!r}")
    if not (isinstance(reserve, (int, float)) and 0.0 <= reserve < 1.0):
        raise MappingError(f"reserve must be a fraction in [0, 1), got {reserve!r}")
    cap = np.zeros(spec.n_cores, np.int64)
    if allowed_cores is None:
        allowed = np.arange(spec.n_cores)
    else:
        allowed = np.unique(np.asarray(list(allowed_cores), dtype=np.int64))
        if allowed.size == 0:
            raise MappingError("allowed_cores is empty; list at least one core")
        bad = allowed[(allowed < 0) | (allowed >= spec.n_cores)]
        if bad.size:
            raise MappingError(f"allowed_cores contains core {bad[0]}, outside 0..{spec.n_cores - 1} of {spec.name}")
    usable = int(np.floor(cap0 * (1.0 - reserve) + 1e-9))
    if usable < 1:
        raise MappingError(f"reserve {reserve} leaves no room: {cap0} neurons per core x (1 - {reserve}) < 1")
    cap[allowed] = usable
    return cap


def _slots_msg(n: int, cap: np.ndarray, reserve: float, spec: HardwareSpec) -> str:
    k = int((cap > 0).sum())
    c = int(cap.max())
    extra = f" after reserving {reserve:.0%} per core" if reserve else ""
    return (f"capacity: {n} neurons, {k * c} slots ({k} cores x {c}){extra} on {spec.name}; "
            f"allow more cores, raise capacity or lower reserve")


def _pins(pinned, n: int, cap: np.ndarray) -> np.ndarray:
    out = np.full(n, -1, np.int64)
    if pinned is None:
        return out
    items = pinned.items() if isinstance(pinned, dict) else enumerate(np.asarray(pinned))
    for i, c in items:
        i, c = int(i), int(c)
        if isinstance(pinned, dict) or c >= 0:
            if not 0 <= i < n:
                raise MappingError(f"pinned: neuron {i} does not exist (the network has {n} neurons)")
            if not 0 <= c < cap.size or cap[c] == 0:
                raise MappingError(f"pinned: neuron {i} is pinned to core {c}, which is not an allowed core")
            out[i] = c
    load = np.bincount(out[out >= 0], minlength=cap.size)
    over = np.flatnonzero(load > cap)
    if over.size:
        raise MappingError(f"pinned: {load[over[0]]} neurons pinned to core {over[0]}, capacity {cap[over[0]]}")
    return out


def _previous(previous, n: int, spec: HardwareSpec) -> np.ndarray:
    """``previous`` as an (n,) array of cores with -1 for new neurons."""
    if isinstance(previous, dict):
        prev = np.full(n, -1, np.int64)
        for i, c in previous.items():
            if not 0 <= int(i) < n:
                raise MappingError(f"previous: neuron {i} does not exist (the network has {n} neurons)")
            prev[int(i)] = int(c)
    else:
        arr = np.asarray(getattr(previous, "core_of", previous), dtype=np.int64)
        if arr.ndim != 1 or arr.size > n:
            raise MappingError(f"previous places {arr.size} neurons but the network has {n}; growth appends "
                               f"neurons, so pass a dict {{neuron: core}} for other layouts")
        prev = np.concatenate([arr, np.full(n - arr.size, -1, np.int64)])
    bad = np.flatnonzero((prev < -1) | (prev >= spec.n_cores))
    if bad.size:
        raise MappingError(f"previous: neuron {bad[0]} is on core {prev[bad[0]]}, outside 0..{spec.n_cores - 1}")
    return prev


# ---------------------------------------------------------------- pipelines
def _starts(p: Problem, net: SpikingNetwork, spec: HardwareSpec, cap, pins) -> list[np.ndarray]:
    out = [greedy_fill(p.n_neurons, cap, pins),
           layered_start(p, cap, pins, net.layer, spec.rows, spec.cols)]
    sp_start = spectral_start(p, cap, pins, spec.rows, spec.cols)
    if sp_start is not None:
        out.append(sp_start)
    return out


def _anneal(p, starts, cap, movable, time_s, seed, port_cap, progress, restarts: int = 6,
            layer=None) -> tuple[np.ndarray, int]:
    """Restarts, each in two phases: whole-core swaps (the cluster layout), then
    single neurons and swaps.  The first restarts begin at the given ``starts``
    (best first), the others at layer-ordered fills of the cores in a random
    order; runs end in different local optima (a probe saw 0.75-0.83 x greedy
    from different starts), hence the restarts.  The best result is annealed
    further at a low temperature and swept by best insertion."""
    pos = p.rates[p.rates > 0]
    mean = float(pos.mean()) if pos.size else 1.0
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
    a = Annealer(p, best, cap, movable, port_cap)
    best = a.run(max(end - time.perf_counter(), 0.01), seed=seed + 99, t_start=0.3 * mean, progress=progress)
    a = Annealer(p, best, cap, movable, port_cap)
    improve_moves(a, np.flatnonzero(movable), n_sweeps=1)
    return a.core_of.copy(), a.excess()


def _lns(p, core_of, cap, pins, deadline, seed, port_cap) -> tuple[np.ndarray, int]:
    """CP-SAT on windows of two or three neighbouring used cores (plus one empty
    neighbour), hinted with the current placement; keeps only improvements."""
    rng = np.random.default_rng(seed)
    best = core_of.copy()
    best_cost = problem_cost(p, best)
    t_end = deadline
    used = np.unique(best)
    n_solves = 0
    while time.perf_counter() < t_end - 0.05 and used.size >= 1:
        c0 = int(rng.choice(used))
        near = [int(c) for c in np.argsort(p.hops[c0], kind="stable") if cap[c] > 0 and c != c0]
        cores = [c0] + [c for c in near[:6] if c in set(used.tolist())][: int(rng.integers(1, 3))]
        empty = [c for c in near[:6] if c not in set(used.tolist())][:1]
        cand = np.array(cores + empty, np.int64)
        free = rng.permutation(np.flatnonzero(np.isin(best, cores) & (pins < 0)))
        arcs = np.cumsum(np.diff(p.pred_ptr)[free] + np.diff(p.tgt_ptr)[p.n_inputs + free])
        free = np.sort(free[: max(1, int(np.searchsorted(arcs, LNS_MAX_ARCS)))])
        if free.size == 0:
            continue
        budget = min(2.0, t_end - time.perf_counter())
        res = solve_window(p, best, free, [cand] * free.size, cap, budget, seed=seed + n_solves)
        n_solves += 1
        if res.feasible:
            cost = problem_cost(p, res.core_of)
            ok_ports = port_cap is None or int(np.maximum(port_loads(p, res.core_of) - port_cap, 0).sum()) == 0
            if cost < best_cost - 1e-9 and ok_ports:
                best, best_cost = res.core_of, cost
                used = np.unique(best)
    excess = 0 if port_cap is None else int(np.maximum(port_loads(p, best) - port_cap, 0).sum())
    return best, excess


def _optimise(p, net, spec, method, cap, pins, deadline, seed, port_cap, progress) -> tuple[np.ndarray, str]:
    n = p.n_neurons
    movable = pins < 0
    n_allowed = int((cap > 0).sum())
    starts = _starts(p, net, spec, cap, pins)
    costs = [problem_cost(p, s) for s in starts]
    starts = [starts[i] for i in np.argsort(costs, kind="stable")][:2]
    start = starts[0]
    if method == "cpsat" and n * n_allowed <= TINY_VARS and port_cap is None:
        allowed = np.flatnonzero(cap > 0)
        free = np.flatnonzero(movable)
        res = solve_window(p, start, free, [allowed] * free.size, cap, deadline - time.perf_counter(), seed=seed)
        if res.feasible:
            exact = rate_scale(p.rates)[1]
            return res.core_of, ("optimal" if res.optimal and exact else "feasible")
    t_anneal = max(deadline - time.perf_counter(), 0.05) * (0.8 if method == "cpsat" else 1.0)
    core_of, excess = _anneal(p, starts, cap, movable, t_anneal, seed, port_cap, progress, layer=net.layer)
    if method == "cpsat":
        core_of, excess = _lns(p, core_of, cap, pins, deadline, seed, port_cap)
    if excess:
        loads = port_loads(p, core_of)
        raise MappingError(f"port_capacity: no placement found in the time limit keeps every router link "
                           f"at <= {port_cap} distinct sources (best found: {int(loads.max())} on one link, "
                           f"{excess} over in total); raise port_capacity or use more cores")
    return core_of, "feasible"


MAX_TIME_LIMIT_S = 7 * 86400.0     # a week: finite, so a solver always stops


def map_network(net: SpikingNetwork, spec: HardwareSpec, method: str = "cpsat", *, rates=None, previous=None,
                migration_budget: int = 0, allowed_cores=None, capacity: int | None = None, reserve: float = 0.0,
                port_capacity: int | None = None, pinned=None, objective: str = "traffic",
                time_limit: float = 30.0, seed: int = 0, progress: bool = False) -> Placement:
    """Place every neuron of ``net`` on a core of ``spec``.

    ``method``: "cpsat" (heuristic starts, annealing, then CP-SAT on windows;
    the full CP-SAT model, proven optimal, on tiny instances), "anneal"
    (without CP-SAT), "greedy" (PACMAN-style chip-order fill), "random".
    ``objective``: "traffic" (rate x routers of multicast trees, see
    ``traffic_cost``) or "synapse" (Mosaic's sum |w| M(h)).  ``rates``: None,
    per-neuron or per-source spikes/step, or a RunReport.  ``previous``: the
    placement of an earlier network (a Placement or array of its first neurons,
    or a dict {neuron: core}, -1 for new): existing neurons stay, at most
    ``migration_budget`` of them move.  ``capacity`` neurons per core (default
    ``spec.neurons_per_core``), ``reserve`` fraction of each core left free,
    ``allowed_cores`` the usable subset, ``port_capacity`` max distinct source
    neurons per router link, ``pinned`` {neuron: core}.  ``time_limit`` in s.
    Raises ``MappingError`` naming the constraint when the request is infeasible.
    """
    t0 = time.perf_counter()
    if method not in METHODS:
        raise MappingError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if objective not in OBJECTIVES:
        raise MappingError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if not (isinstance(time_limit, (int, float)) and not isinstance(time_limit, bool)
            and 0 < time_limit <= MAX_TIME_LIMIT_S):
        raise MappingError(f"time_limit must be a positive, finite number of seconds up to "
                           f"{MAX_TIME_LIMIT_S:g}, got {time_limit!r}")
    if port_capacity is not None and (isinstance(port_capacity, bool) or not isinstance(port_capacity, (int, np.integer))
                                      or port_capacity < 1):
        raise MappingError(f"port_capacity must be a positive whole number of sources per link, got {port_capacity!r}")
    if isinstance(migration_budget, bool) or not isinstance(migration_budget, (int, np.integer)) or migration_budget < 0:
        raise MappingError(f"migration_budget must be a whole number >= 0, got {migration_budget!r}")
    n = net.n_neurons
    cap = core_capacities(spec, allowed_cores, capacity, reserve)
    if n > cap.sum():
        raise MappingError(_slots_msg(n, cap, reserve, spec))
    pins = _pins(pinned, n, cap)
    p = build_problem(net, spec, rates)
    port_cap = None if port_capacity is None else int(port_capacity)
    rng = np.random.default_rng(seed)
    extra: dict = {}
    status = "feasible"
    if previous is not None:
        prev = _previous(previous, n, spec)
        old = prev >= 0
        if (prev[old] >= 0).any() and (cap[prev[old]] == 0).any():
            bad = int(np.flatnonzero(old & (cap[np.maximum(prev, 0)] == 0))[0])
            raise MappingError(f"previous: neuron {bad} sits on core {prev[bad]}, which is not an allowed core")
        load = np.bincount(np.where(pins >= 0, pins, prev)[np.where(pins >= 0, pins, prev) >= 0],
                           minlength=spec.n_cores)
        if (load > cap).any():
            c = int(np.flatnonzero(load > cap)[0])
            raise MappingError(f"capacity: the previous placement already puts {load[c]} neurons on core {c}, "
                               f"more than the capacity {cap[c]} (reserve {reserve})")
        if method in ("greedy", "random"):
            keep = np.where(pins >= 0, pins, prev)
            core_of = greedy_fill(n, cap, keep) if method == "greedy" else random_fill(n, cap, keep, rng)
            extra.update(n_new=int((prev < 0).sum()), moved=0)
        else:
            res = place_incremental(p, prev, cap, pins, int(migration_budget),
                                    max(time_limit - (time.perf_counter() - t0), 0.05), seed, port_cap,
                                    exact=method == "cpsat")
            core_of = res.core_of
            status = "optimal" if res.optimal_given_pins else "feasible"
            extra.update(n_new=res.n_new, moved=res.moved, new_placed_by=res.how,
                         optimal_given_pins=res.optimal_given_pins)
    elif method == "greedy":
        core_of = greedy_fill(n, cap, pins)
    elif method == "random":
        core_of = random_fill(n, cap, pins, rng)
    elif objective == "synapse":
        start = greedy_fill(n, cap, pins)
        core_of = anneal_synapse(net, spec, start, cap, pins < 0, time_limit, seed)
    else:
        core_of, status = _optimise(p, net, spec, method, cap, pins, t0 + time_limit, seed, port_cap, progress)
    if port_cap is not None:
        loads = port_loads(p, core_of)
        if loads.max(initial=0) > port_cap:
            raise MappingError(f"port_capacity: the {method} placement puts {int(loads.max())} distinct sources on "
                               f"one router link, above {port_cap}; use method='cpsat' or raise port_capacity")
    placement = _finish(net, spec, p, core_of, objective, cap, pins, status, method, t0, extra)
    if reserve > 0 and previous is None and method in ("cpsat", "anneal") and objective == "traffic":
        free = map_network(net, spec, method, rates=rates, allowed_cores=allowed_cores, capacity=capacity,
                           port_capacity=port_capacity, pinned=pinned, time_limit=max(time_limit / 4, 0.5),
                           seed=seed)
        placement.extra.update(objective_without_reserve=free.objective,
                               reserve_cost=placement.objective - free.objective)
        placement.wall_s = time.perf_counter() - t0
    return placement


def _finish(net, spec, p, core_of, objective, cap, pins, status, method, t0, extra) -> Placement:
    if objective == "traffic":
        obj = problem_cost(p, core_of)
        bound = per_source_bound(p, cap, pins)
        kind = "per-source tree (each source's cheapest tree reaching the fewest cores that hold its targets)"
        if status == "optimal" and not extra.get("n_new"):
            bound, kind = obj, "CP-SAT proof of optimality"
    else:
        obj = synapse_cost(net, spec, core_of)
        bound, kind = 0.0, "trivial (0): no useful bound for the synapse objective"
    gap = 0.0 if obj <= 0 else max(0.0, (obj - bound) / obj)
    return Placement(core_of, objective=obj, bound=bound, gap=gap, status=status,
                     wall_s=time.perf_counter() - t0, method=method, bound_kind=kind,
                     extra={"objective_kind": objective, **extra})


def check_placement(net: SpikingNetwork, spec: HardwareSpec, placement, *, capacity: int | None = None,
                    allowed_cores=None, port_capacity: int | None = None, pinned=None) -> list[str]:
    """Every violated constraint (capacity, allowed cores, pins, port capacity) as readable lines."""
    pl = placement if isinstance(placement, Placement) else Placement(np.asarray(placement))
    out = pl.check(net, spec, capacity)
    if out and out[0].startswith(("core_of has", "neuron")):
        return out
    c = pl.core_of
    if allowed_cores is not None:
        off = np.flatnonzero(~np.isin(c, np.asarray(list(allowed_cores))))
        if off.size:
            out.append(f"neuron {off[0]} is on core {c[off[0]]}, not an allowed core ({off.size} such neurons)")
    if pinned is not None:
        items = pinned.items() if isinstance(pinned, dict) else enumerate(pinned)
        for i, k in items:
            if int(k) >= 0 and c[int(i)] != int(k):
                out.append(f"pinned neuron {i} is on core {c[int(i)]}, not its pin {k}")
    if port_capacity is not None:
        p = build_problem(net, spec)
        loads = port_loads(p, c)
        links = topology(spec).links
        for lk in np.flatnonzero(loads > port_capacity):
            out.append(f"router link {int(links[lk][0])}->{int(links[lk][1])} carries {int(loads[lk])} distinct "
                       f"sources, port capacity is {port_capacity}")
    return out


def compare_methods(net: SpikingNetwork, spec: HardwareSpec, methods=("greedy", "random", "anneal", "cpsat"),
                    **kwargs) -> dict[str, Placement]:
    """``map_network`` with every method (same keyword arguments); each placement's
    ``extra["ratio_to_greedy"]`` is its objective over greedy's when greedy is included."""
    out = {m: map_network(net, spec, m, **kwargs) for m in methods}
    if "greedy" in out and out["greedy"].objective > 0:
        for pl in out.values():
            pl.extra["ratio_to_greedy"] = pl.objective / out["greedy"].objective
    return out
