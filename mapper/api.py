"""``map_network``: the one entry point of the mapper, plus checks and comparisons."""
from __future__ import annotations

import time

import numpy as np

from mosaic import HardwareSpec, Placement, SpikingNetwork
from mosaic.topology import topology

from .bounds import best_bound
from .errors import MappingError
from .heuristics import greedy_fill, random_fill
from .incremental import place_incremental
from .objective import Problem, build_problem, port_loads, problem_cost, synapse_cost
from .pipeline import optimise, partition_method
from .request import METHODS, Request, check_request, core_capacities
from .synapse import anneal_synapse

__all__ = ["map_network", "check_placement", "compare_methods", "core_capacities", "METHODS"]


def _incremental(p: Problem, req: Request, method: str, migration_budget: int, time_s: float, seed: int,
                 rng) -> tuple[np.ndarray, str, dict]:
    """Existing neurons stay (or move within the budget); new ones are placed."""
    prev, pins, cap = req.prev, req.pins, req.cap
    if method in ("greedy", "random"):
        keep = np.where(pins >= 0, pins, prev)
        core_of = greedy_fill(p.n_neurons, cap, keep) if method == "greedy" else random_fill(p.n_neurons, cap,
                                                                                                keep, rng)
        return core_of, "feasible", {"n_new": int((prev < 0).sum()), "moved": 0}
    res = place_incremental(p, prev, cap, pins, int(migration_budget), time_s, seed, req.port_cap,
                            exact=method == "cpsat")
    status = "optimal" if res.optimal_given_pins else "feasible"
    return res.core_of, status, {"n_new": res.n_new, "moved": res.moved, "new_placed_by": res.how,
                                 "optimal_given_pins": res.optimal_given_pins}


def _place(net, spec, p, req: Request, method, objective, migration_budget, t0, time_limit, seed,
           progress) -> tuple[np.ndarray, str, dict]:
    rng = np.random.default_rng(seed)
    n, cap, pins = net.n_neurons, req.cap, req.pins
    if req.prev is not None:
        return _incremental(p, req, method, migration_budget, max(time_limit - (time.perf_counter() - t0), 0.05),
                            seed, rng)
    if method == "greedy":
        return greedy_fill(n, cap, pins), "feasible", {}
    if method == "random":
        return random_fill(n, cap, pins, rng), "feasible", {}
    if method == "partition":
        core_of, info = partition_method(p, cap, pins, spec.cols, seed)
        return core_of, "feasible", info
    if objective == "synapse":
        return anneal_synapse(net, spec, greedy_fill(n, cap, pins), cap, pins < 0, time_limit, seed), "feasible", {}
    return optimise(p, net, spec, method, cap, pins, t0 + time_limit, seed, req.port_cap, progress)



def map_network(net: SpikingNetwork, spec: HardwareSpec, method: str = "cpsat", *, rates=None, previous=None,
                migration_budget: int = 0, allowed_cores=None, capacity: int | None = None, reserve: float = 0.0,
                port_capacity: int | None = None, pinned=None, objective: str = "traffic",
                time_limit: float = 30.0, seed: int = 0, progress: bool = False) -> Placement:
    """Place every neuron of ``net`` on a core of ``spec``.

    ``method``: "cpsat" (multilevel: METIS recursive bisection onto the chip,
    CP-SAT on the coarse quadratic assignment, then annealing and CP-SAT windows
    at neuron level; the full CP-SAT model, proven optimal, on tiny instances),
    "partition" (METIS k-way parts placed greedily, SNEAP-style), "anneal"
    (the neuron-level annealer alone), "greedy" (PACMAN-style chip-order fill),
    "random".  ``objective``: "traffic" (rate x routers of multicast trees, see
    ``traffic_cost``) or "synapse" (Mosaic's sum |w| M(h)).  ``rates``: None,
    per-neuron or per-source spikes/step, or a RunReport.  ``previous``: the
    placement of an earlier network (a Placement or array of its first neurons,
    or a dict {neuron: core}, -1 for new): existing neurons stay, at most
    ``migration_budget`` of them move.  ``capacity`` neurons per core (default
    ``spec.neurons_per_core``), ``reserve`` fraction of each core left free,
    ``allowed_cores`` the usable subset, ``port_capacity`` max distinct source
    neurons per router link, ``pinned`` {neuron: core}.  ``time_limit`` in s;
    ``progress`` shows tqdm bars on the long phases.  Raises ``MappingError``
    naming the constraint and the numbers when the request is infeasible, before
    any solver runs.
    """
    t0 = time.perf_counter()
    req = check_request(net.n_neurons, spec, method, objective, time_limit, previous=previous,
                        migration_budget=migration_budget, allowed_cores=allowed_cores, capacity=capacity,
                        reserve=reserve, port_capacity=port_capacity, pinned=pinned)
    p = build_problem(net, spec, rates)
    # the bound does not depend on the placement: computed first, so the solvers get the rest of the time
    bound = best_bound(p, req.cap, req.pins) if objective == "traffic" else None
    core_of, status, extra = _place(net, spec, p, req, method, objective, migration_budget, t0, time_limit, seed,
                                    progress)
    if req.port_cap is not None:
        loads = port_loads(p, core_of)
        if loads.max(initial=0) > req.port_cap:
            raise MappingError(f"port_capacity: the {method} placement puts {int(loads.max())} distinct sources on "
                               f"one router link, above {req.port_cap}; use method='cpsat' or raise port_capacity")
    placement = _finish(net, spec, p, core_of, objective, bound, status, method, t0, extra)
    if reserve > 0 and previous is None and method in ("cpsat", "anneal") and objective == "traffic":
        free = map_network(net, spec, method, rates=rates, allowed_cores=allowed_cores, capacity=capacity,
                           port_capacity=port_capacity, pinned=pinned, time_limit=max(time_limit / 4, 0.5),
                           seed=seed)
        placement.extra.update(objective_without_reserve=free.objective,
                               reserve_cost=placement.objective - free.objective)
        placement.wall_s = time.perf_counter() - t0
    return placement


def _finish(net, spec, p, core_of, objective, bound, status, method, t0, extra) -> Placement:
    if objective == "traffic":
        obj = problem_cost(p, core_of)
        bound, kind = bound
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
