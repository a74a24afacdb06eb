"""The multilevel pipeline's coarse half: partition the free neurons into
core-sized parts (``partition``), put the parts on cores (``assign``: greedy, or
CP-SAT on the quadratic assignment), expand back to one core per neuron.
Pinned neurons are not in any part; their flows to the parts enter the
assignment as a fixed cost per (part, core)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .assign import assign_parts, expand, greedy_assign, qap_cost
from .objective import Problem, problem_cost
from .partition import Parts, bisect, coarse_flows, kway


@dataclass
class Coarse:
    """The coarse problem of one partition: flows, fixed costs and feasible cores."""

    parts: Parts
    f: object                  # (k, k) csr part flows
    f_io: np.ndarray           # (k,) input flows
    fixed_cost: np.ndarray     # (k, n_cores) routers per step to pinned neurons if the part sits on a core
    ok: np.ndarray             # (k, n_cores) part fits the core's room


def coarse_problem(p: Problem, cap: np.ndarray, pins: np.ndarray, parts: Parts) -> Coarse:
    """Flows between parts, from the inputs and to the pinned neurons' cores."""
    k = parts.n_parts
    ext = parts.part.copy()
    ext[pins >= 0] = k + pins[pins >= 0]                 # a pinned neuron belongs to its core's group
    f_ext, f_io_ext = coarse_flows(p, ext, k + p.n_cores)
    to_pins = (f_ext[:k, k:] + f_ext[k:, :k].T).tocsr()
    fixed = np.asarray((to_pins @ p.hops.T.astype(np.float64)))
    room = cap - np.bincount(pins[pins >= 0], minlength=cap.size)
    ok = room[None, :] >= parts.size[:, None]
    short = ~ok.any(axis=1)
    ok[short] = room[None, :] > 0                       # a part larger than every room spills (see expand)
    return Coarse(parts, f_ext[:k, :k].tocsr(), f_io_ext[:k], fixed, ok)


def multilevel(p: Problem, cap: np.ndarray, pins: np.ndarray, cols: int, time_limit: float, seed: int = 0,
               solver: str = "cpsat", progress: bool = False) -> tuple[np.ndarray, dict]:
    """One core per neuron from a partition and a part assignment, plus the coarse
    figures (parts, QAP cost, optimality).  ``solver="greedy"``: METIS k-way parts
    placed by ``greedy_assign`` (SNEAP-style); "cpsat": recursive bisection onto the
    chip, then CP-SAT on the quadratic assignment of its parts (``assign_parts``),
    every CP-SAT answer judged by the neuron-level objective."""
    if solver == "greedy":
        parts = kway(p, cap, pins, seed)
        cp = coarse_problem(p, cap, pins, parts)
        where, optimal = greedy_assign(cp.f, cp.f_io, cp.ok, p.hops, p.io_core, cp.fixed_cost), False
    else:
        parts, start = bisect(p, cap, pins, cols, seed, progress)
        cp = coarse_problem(p, cap, pins, parts)
        where, optimal = assign_parts(cp.f, cp.f_io, cp.ok, p.hops, p.io_core, time_limit, seed, cp.fixed_cost,
                                      progress, start=start,
                                      true_cost=lambda w: problem_cost(p, expand(parts.part, w, cap, pins, p.hops)))
    core_of = expand(parts.part, where, cap, pins, p.hops)
    cost = qap_cost(cp.f, cp.f_io, where, p.hops, p.io_core) + float(cp.fixed_cost[np.arange(where.size), where].sum())
    return core_of, {"n_parts": parts.n_parts, "coarse_cost": cost, "coarse_optimal": bool(optimal)}
