"""Checking a mapping request before any solver runs: every impossible request
raises ``MappingError`` naming the constraint and the numbers."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mosaic import HardwareSpec

from .errors import MappingError

METHODS = ("cpsat", "partition", "anneal", "greedy", "random")
OBJECTIVES = ("traffic", "synapse")


@dataclass(frozen=True)
class Request:
    """A checked request: usable slots per core, pins and previous cores (-1: none)."""

    cap: np.ndarray
    pins: np.ndarray
    prev: np.ndarray | None
    port_cap: int | None


MAX_TIME_LIMIT_S = 7 * 86400.0     # a week: finite, so a solver always stops


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


def _previous(previous, n: int, spec: HardwareSpec, cap: np.ndarray, pins: np.ndarray,
              reserve: float) -> np.ndarray:
    """``previous`` as an (n,) array of cores with -1 for new neurons, checked
    against the allowed cores and the capacities."""
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
    off = np.flatnonzero((prev >= 0) & (cap[np.maximum(prev, 0)] == 0))
    if off.size:
        raise MappingError(f"previous: neuron {off[0]} sits on core {prev[off[0]]}, which is not an allowed core")
    keep = np.where(pins >= 0, pins, prev)
    load = np.bincount(keep[keep >= 0], minlength=spec.n_cores)
    if (load > cap).any():
        c = int(np.flatnonzero(load > cap)[0])
        raise MappingError(f"capacity: the previous placement already puts {load[c]} neurons on core {c}, "
                           f"more than the capacity {cap[c]} (reserve {reserve})")
    return prev


def _whole(name: str, value, minimum: int, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise MappingError(f"{name} must be a whole number >= {minimum} ({unit}), got {value!r}")


def check_request(n: int, spec: HardwareSpec, method: str, objective: str, time_limit, *, previous=None,
                  migration_budget=0, allowed_cores=None, capacity=None, reserve=0.0, port_capacity=None,
                  pinned=None) -> Request:
    """Validate every argument of ``map_network`` (see there) against the network's
    ``n`` neurons and the chip; raises ``MappingError`` naming the numbers."""
    if method not in METHODS:
        raise MappingError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if objective not in OBJECTIVES:
        raise MappingError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if not (isinstance(time_limit, (int, float)) and not isinstance(time_limit, bool)
            and 0 < time_limit <= MAX_TIME_LIMIT_S):
        raise MappingError(f"time_limit must be a positive, finite number of seconds up to "
                           f"{MAX_TIME_LIMIT_S:g}, got {time_limit!r}")
    if port_capacity is not None:
        _whole("port_capacity", port_capacity, 1, "distinct sources per link")
    _whole("migration_budget", migration_budget, 0, "neurons")
    cap = core_capacities(spec, allowed_cores, capacity, reserve)
    if n > cap.sum():
        raise MappingError(_slots_msg(n, cap, reserve, spec))
    pins = _pins(pinned, n, cap)
    prev = None if previous is None else _previous(previous, n, spec, cap, pins, reserve)
    return Request(cap, pins, prev, None if port_capacity is None else int(port_capacity))
