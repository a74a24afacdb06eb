"""Annealing for Mosaic's per-synapse objective sum |w| x M(h) (see objective.py)."""
from __future__ import annotations

import math
import time

import numba
import numpy as np

from mosaic import HardwareSpec, SpikingNetwork
from mosaic.topology import hop_penalty


@numba.njit(cache=True)
def _delta(j, b, core_of, ptr, other, wabs, m, io_core):
    a = core_of[j]
    d = 0.0
    for k in range(ptr[j], ptr[j + 1]):
        o = other[k]
        if o == j:
            continue
        c = io_core if o < 0 else core_of[o]
        d += wabs[k] * (m[b, c] - m[a, c])
    return d


@numba.njit(cache=True)
def _kernel(n_iter, temp, seed, core_of, load, cap, movable_list, movable, ptr, other, wabs, m, io_core,
            allowed):
    np.random.seed(seed)
    n_mov = movable_list.size
    for _ in range(n_iter):
        j = movable_list[np.random.randint(n_mov)]
        a = core_of[j]
        b = allowed[np.random.randint(allowed.size)]
        if b == a:
            continue
        if load[b] < cap[b]:
            d = _delta(j, b, core_of, ptr, other, wabs, m, io_core)
            if d <= 0 or np.random.random() < math.exp(-d / temp):
                core_of[j] = b
                load[a] -= 1
                load[b] += 1
        else:
            # swap with a random movable neuron on b
            k = movable_list[np.random.randint(n_mov)]
            b = core_of[k]
            if b == a:
                continue
            d = _delta(j, b, core_of, ptr, other, wabs, m, io_core)
            core_of[j] = b
            d += _delta(k, a, core_of, ptr, other, wabs, m, io_core)
            if d <= 0 or np.random.random() < math.exp(-d / temp):
                core_of[k] = a
            else:
                core_of[j] = a


def anneal_synapse(net: SpikingNetwork, spec: HardwareSpec, start: np.ndarray, cap: np.ndarray,
                   movable: np.ndarray, time_s: float, seed: int = 0) -> np.ndarray:
    """Anneal the synapse objective from ``start`` for ``time_s`` seconds."""
    n = net.n_neurons
    w = abs(net.w).tocoo()
    wi = abs(net.w_in).tocoo()
    # incident edges per neuron: (other endpoint or -1 for an input, |w|)
    rows = np.concatenate([w.row, w.col, wi.col])
    other = np.concatenate([w.col, w.row, np.full(wi.nnz, -1)])
    wabs = np.concatenate([w.data, w.data, wi.data])
    order = np.argsort(rows, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
    other, wabs = other[order].astype(np.int64), wabs[order].astype(np.float64)
    m = hop_penalty(spec)
    core_of = start.astype(np.int64).copy()
    load = np.bincount(core_of, minlength=spec.n_cores).astype(np.int64)
    movable_list = np.flatnonzero(movable).astype(np.int64)
    allowed = np.flatnonzero(cap > 0).astype(np.int64)
    if movable_list.size == 0 or allowed.size < 2:
        return core_of
    scale = float(np.median(wabs)) if wabs.size else 1.0
    t0, t1 = scale * m[m > 0].min(initial=1.0) * 2.0, scale * 1e-3
    end = time.perf_counter() + time_s
    k = 0
    while time.perf_counter() < end:
        frac = 1.0 - (end - time.perf_counter()) / time_s
        _kernel(5000, t0 * (t1 / t0) ** frac, seed * 7919 + k, core_of, load, cap, movable_list, movable,
                ptr, other, wabs, m, spec.io_core, allowed)
        k += 1
    return core_of
