"""Analytic hardware cost model: energy, latency and routing load from spike rates.

Instead of simulating, the model takes each source's expected spikes per step (a
neuron's rate, or an input channel's rate) and charges the same events the
simulator counts (see ``mosaic.simulate``), in expectation over ``T`` steps:

- synaptic ops: every spike x the source's outgoing synapses (``e_synaptic_pj``);
  an analog (float) input is one op per nonzero value per outgoing synapse, no packet;
- neuron updates: every neuron every step (``e_neuron_pj``);
- spikes out: every neuron spike (``e_spike_out_pj``);
- routing: every spike of a source with synapses is one multicast packet on its
  source core's routing tree (``mosaic.topology``) to the set of destination cores;
  each router on the tree is traversed once (``e_router_pj``), each link carries
  the packet once; synapses on the source's own core use no router.  Inputs enter
  at their entry tiles ``spec.input_cores`` (``spec.io_core`` by default);
- static: every core every step (``e_static_pj``).

As in the simulator, a neuron spike integrates one step later, so spikes of the last
step are never sent: a neuron's packets and synaptic ops count over ``T - 1`` steps,
an input's over ``T`` (``spike_out`` counts all ``T``).

Latency (an estimate, the simulator measures it): a step drains in about
``peak port load per step / bandwidth + deepest active tree x cycles_per_hop``
cycles; an inference is ``T`` such steps.  Budgets (``CostBudget``) are hard
limits checked on a ``CostReport``.

``estimate_cost`` evaluates every source; ``delta_cost`` re-evaluates only the
sources whose destination cores or rates changed relative to a base report (a
grown network with new neurons), which is what a growth controller needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numba import njit

from .energy import energy_pj
from .events import message_counts, message_fanout
from .errors import ChipError
from .network import SpikingNetwork
from .placement import as_core_of
from .spec import HardwareSpec
from .topology import tile_hops, topology, tree_walk


class CostError(ChipError):
    """Bad input to the cost model (shapes, rates, budgets)."""


# ---------------------------------------------------------------- kernels
@njit(cache=True)
def _dest_cores(indptr, indices, rows, core_of, n_cores):
    """CSR (indptr, cores) of the distinct destination cores of each row in ``rows``, sorted."""
    mark = np.zeros(n_cores, np.bool_)
    out_ptr = np.zeros(rows.size + 1, np.int64)
    total = 0
    for i in rows:
        total += min(indptr[i + 1] - indptr[i], n_cores)
    buf = np.empty(total, np.int64)
    k = 0
    for r in range(rows.size):
        i = rows[r]
        found = 0
        for p in range(indptr[i], indptr[i + 1]):
            c = core_of[indices[p]]
            if not mark[c]:
                mark[c] = True
                found += 1
        if found:
            for c in range(n_cores):
                if mark[c]:
                    buf[k] = c
                    k += 1
                    mark[c] = False
        out_ptr[r + 1] = k
    return out_ptr, buf[:k].copy()


@njit(cache=True)
def _assemble(map_all, part_of, old_ptr, old_cores, part_ptr, part_cores):
    """Destination CSR of every source: row ``part_of[i]`` of the partial CSR when
    ``part_of[i] >= 0``, else the old source ``map_all[i]``'s row."""
    n = map_all.size
    ptr = np.zeros(n + 1, np.int64)
    for i in range(n):
        if part_of[i] >= 0:
            ln = part_ptr[part_of[i] + 1] - part_ptr[part_of[i]]
        else:
            ln = old_ptr[map_all[i] + 1] - old_ptr[map_all[i]]
        ptr[i + 1] = ptr[i] + ln
    cores = np.empty(ptr[n], np.int64)
    for i in range(n):
        if part_of[i] >= 0:
            a, b = part_ptr[part_of[i]], part_ptr[part_of[i] + 1]
            cores[ptr[i]:ptr[i + 1]] = part_cores[a:b]
        else:
            a, b = old_ptr[map_all[i]], old_ptr[map_all[i] + 1]
            cores[ptr[i]:ptr[i + 1]] = old_cores[a:b]
    return ptr, cores


@njit(cache=True)
def _trees(sources, src_core, dptr, dcores, weight, parent, parent_link, depth,
           n_cores, link_load, router_load, routers, max_depth):
    """Walk the multicast tree of each source in ``sources``: add ``weight[s]`` to
    every link and router on it (in place), and write the source's router count
    and deepest destination into ``routers``/``max_depth``.  A source whose only
    destination is its own core (or none) has no tree."""
    stamp = np.full(parent.shape[1], -1, np.int64)
    nodes = np.empty(parent.shape[1], np.int64)
    for s in sources:
        c = src_core[s]
        w = weight[s]
        nr = 0
        md = 0
        for p in range(dptr[s], dptr[s + 1]):
            md = max(md, depth[c, dcores[p]])
        for i in range(tree_walk(parent[c], c, dcores[dptr[s]:dptr[s + 1]], s, stamp, nodes)):
            v = nodes[i]
            link_load[parent_link[c, v]] += w
            if v >= n_cores:
                router_load[v - n_cores] += w
                nr += 1
        routers[s] = nr
        max_depth[s] = md


@njit(cache=True)
def _changed(old_index, dptr_new, dcores_new, dptr_old, dcores_old, core_new, core_old):
    """True for each new-indexed source that is new or whose core/destinations differ."""
    n = old_index.size
    out = np.zeros(n, np.bool_)
    for i in range(n):
        o = old_index[i]
        if o < 0 or core_new[i] != core_old[o]:
            out[i] = True
            continue
        a0, a1 = dptr_new[i], dptr_new[i + 1]
        b0, b1 = dptr_old[o], dptr_old[o + 1]
        if a1 - a0 != b1 - b0:
            out[i] = True
            continue
        for q in range(a1 - a0):
            if dcores_new[a0 + q] != dcores_old[b0 + q]:
                out[i] = True
                break
    return out


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class CostBudget:
    """Hard limits; ``None`` means unlimited.  ``energy_pj`` and ``latency_ns`` are
    per inference; ``port_use`` is the busiest router output port's share of the
    step's cycle budget (1.0 = saturated); ``cores`` counts cores holding neurons."""

    energy_pj: float | None = None
    latency_ns: float | None = None
    port_use: float | None = None
    cores: int | None = None

    def __post_init__(self) -> None:
        for f in ("energy_pj", "latency_ns", "port_use", "cores"):
            v = getattr(self, f)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v) or v <= 0):
                raise CostError(f"CostBudget.{f} must be a positive number or None, got {v!r}")

    def violations(self, report: "CostReport") -> list[str]:
        """One readable line per broken limit (empty if the report fits)."""
        out = []
        if self.energy_pj is not None and report.energy_pj["total"] > self.energy_pj:
            out.append(f"energy {report.energy_pj['total']:.4g} pJ/inference > budget {self.energy_pj:.4g}")
        if self.latency_ns is not None and report.latency_ns > self.latency_ns:
            out.append(f"latency {report.latency_ns:.4g} ns/inference > budget {self.latency_ns:.4g}")
        if self.port_use is not None and report.port_use > self.port_use:
            out.append(f"port use {report.port_use:.4g} of the step budget > budget {self.port_use:.4g}")
        if self.cores is not None and report.cores_used > self.cores:
            out.append(f"{report.cores_used} cores used > budget {self.cores}")
        return out

    def to_dict(self) -> dict:
        return {"energy_pj": self.energy_pj, "latency_ns": self.latency_ns,
                "port_use": self.port_use, "cores": self.cores}


@dataclass(eq=False)
class CostReport:
    """Expected cost of one inference of ``T`` steps.

    ``energy_pj`` by category (pJ per inference), ``counts`` expected events per
    inference, ``link_load`` (n_links,) and ``router_load`` (n_routers,) expected
    packets per inference, ``step_latency_cycles`` the estimated drain time of a
    step, ``latency_ns`` of an inference (T steps back to back), ``port_use`` the
    busiest port's load per step over ``bandwidth x step_cycles``, ``buffer_use``
    the busiest port's load per step over ``buffer_depth`` (above 1, bursts meet
    back-pressure).  The ``_``-prefixed fields cache per-source data for ``delta_cost``.
    """

    T: int
    energy_pj: dict
    counts: dict
    link_load: np.ndarray
    router_load: np.ndarray
    peak_link_load: float
    peak_router_load: float
    step_latency_cycles: float
    latency_ns: float
    port_use: float
    buffer_use: float
    cores_used: int
    _spec: HardwareSpec = field(repr=False, default=None)  # type: ignore[assignment]
    _cache: dict = field(repr=False, default_factory=dict)

    def summary(self) -> dict:
        return {"T": self.T, "energy_pj": {k: float(v) for k, v in self.energy_pj.items()},
                "counts": {k: float(v) for k, v in self.counts.items()},
                "peak_link_load": float(self.peak_link_load),
                "peak_router_load": float(self.peak_router_load),
                "step_latency_cycles": float(self.step_latency_cycles),
                "latency_ns": float(self.latency_ns), "port_use": float(self.port_use),
                "buffer_use": float(self.buffer_use), "cores_used": int(self.cores_used)}


# ---------------------------------------------------------------- helpers
def _rates(name: str, value, n: int) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise CostError(f"{name}: expected a scalar or shape ({n},), got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        bad = int(np.flatnonzero(~np.isfinite(a) | (a < 0))[0])
        raise CostError(f"{name}: spike rates must be finite and >= 0 (spikes per step), "
                        f"got {a[bad]} at index {bad}")
    return a


def _sources(net: SpikingNetwork, spec: HardwareSpec, core_of: np.ndarray):
    """Per-source arrays for neurons then inputs: core, fan-out, destination-core CSR."""
    w = net.w.tocsr()
    w_in = net.w_in.tocsr()
    n, m = net.n_neurons, net.n_inputs
    nptr, ncores = _dest_cores(w.indptr, w.indices, np.arange(n), core_of, spec.n_cores)
    qptr, qcores = _dest_cores(w_in.indptr, w_in.indices, np.arange(m), core_of, spec.n_cores)
    dptr = np.concatenate([nptr, qptr[1:] + nptr[-1]])
    dcores = np.concatenate([ncores, qcores])
    src_core, fanout = _core_fanout(net, spec, core_of)
    sends = np.diff(dptr) > 0            # a source with synapses sends one packet per spike
    return src_core, fanout, dptr, dcores, sends, n, m


def _core_fanout(net: SpikingNetwork, spec: HardwareSpec, core_of: np.ndarray):
    src_core = np.concatenate([core_of, spec.input_cores(net.n_inputs)])
    fanout = np.concatenate([np.diff(net.w.indptr), np.diff(net.w_in.indptr)]).astype(np.float64)
    return src_core, fanout


def _partial_sources(net: SpikingNetwork, spec: HardwareSpec, core_of: np.ndarray, rows: np.ndarray,
                     map_all: np.ndarray, c: dict):
    """Like ``_sources``, computing destination cores only for ``rows`` (sources in the new
    numbering) and copying every other source's from the base cache."""
    n = net.n_neurons
    rows = np.unique(np.concatenate([rows, np.flatnonzero(map_all < 0)])).astype(np.int64)
    nr, ir = rows[rows < n], rows[rows >= n] - n
    nptr, ncores = _dest_cores(net.w.indptr, net.w.indices, nr, core_of, spec.n_cores)
    qptr, qcores = _dest_cores(net.w_in.indptr, net.w_in.indices, ir, core_of, spec.n_cores)
    part_ptr = np.concatenate([nptr, qptr[1:] + nptr[-1]])
    part_cores = np.concatenate([ncores, qcores])
    part_of = np.full(map_all.size, -1, np.int64)
    part_of[rows] = np.arange(rows.size)
    dptr, dcores = _assemble(map_all, part_of, c["dptr"], c["dcores"], part_ptr, part_cores)
    src_core, fanout = _core_fanout(net, spec, core_of)
    return src_core, fanout, dptr, dcores, np.diff(dptr) > 0


def _events(rate_all: np.ndarray, sends: np.ndarray, n: int, T: int, analog: bool) -> np.ndarray:
    """Expected packets per inference of each source (neurons: T - 1 steps, inputs: T)."""
    steps = np.full(rate_all.size, float(T))
    steps[:n] = T - 1
    ev = rate_all * steps * sends
    if analog:
        ev[n:] = 0.0
    return ev


def _finish(spec: HardwareSpec, T: int, n: int, core_of, rate_all, fanout, events, routers,
            max_depth, link_load, router_load, analog_input: bool, cache: dict) -> CostReport:
    m = rate_all.size - n
    spikes = float(rate_all[:n].sum()) * T
    syn_events = events.copy()
    if analog_input:
        syn_events[n:] = rate_all[n:] * T
    syn_ops = float(syn_events @ fanout)
    traversals = float(events @ routers)
    packets = float(events.sum())
    active = events > 0
    deepest = float(max_depth[active].max()) if active.any() else 0.0
    peak_link = float(link_load.max()) if link_load.size else 0.0
    peak_router = float(router_load.max()) if router_load.size else 0.0
    per_step = peak_link / T                                    # mean packets per window
    step_cycles = per_step / spec.bandwidth + deepest * spec.cycles_per_hop
    counts = {"synaptic_ops": syn_ops, "neuron_updates": float(n * T), "spikes": spikes,
              "router_traversals": traversals, "packets": packets,
              "input_spikes": float(rate_all[n:].sum()) * T if m else 0.0}
    dptr = cache["dptr"]
    pair_src = np.repeat(np.arange(dptr.size - 1), np.diff(dptr))
    counts.update(message_counts(events, *message_fanout(spec, cache["src_core"], pair_src, cache["dcores"])))
    e = energy_pj(spec, counts, T)
    return CostReport(
        T=T, energy_pj=e, counts=counts, link_load=link_load, router_load=router_load,
        peak_link_load=peak_link, peak_router_load=peak_router,
        step_latency_cycles=step_cycles, latency_ns=T * step_cycles * spec.ns_per_cycle,
        port_use=per_step / (spec.bandwidth * spec.step_cycles),
        buffer_use=per_step / spec.buffer_depth,
        cores_used=int(np.unique(core_of).size) if n else 0, _spec=spec, _cache=cache)


def _check_T(T) -> int:
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise CostError(f"T must be a positive whole number of steps per inference, got {T!r}")
    return int(T)


# ---------------------------------------------------------------- public API
def estimate_cost(net: SpikingNetwork, spec: HardwareSpec, placement, rates,
                  input_rates=None, *, T: int = 25, analog_input: bool = False) -> CostReport:
    """Expected cost of one inference of ``T`` steps on ``spec`` under ``placement``.

    ``rates``: (n_neurons,) or scalar, expected spikes per step of each neuron
    (e.g. ``RunReport.rates`` or rates measured in training).  ``input_rates``:
    (n_inputs,) or scalar, spikes per step of each input channel (default 0); with
    ``analog_input`` it is the fraction of steps on which the input is nonzero, and
    inputs cost synaptic ops only (no packets), as in ``simulate`` with float input.
    """
    T = _check_T(T)
    core_of = as_core_of(placement, net, spec)
    topo = topology(spec)
    src_core, fanout, dptr, dcores, sends, n, m = _sources(net, spec, core_of)
    rate_all = np.concatenate([_rates("rates", rates, n),
                               _rates("input_rates", 0.0 if input_rates is None else input_rates, m)])
    weight = _events(rate_all, sends, n, T, analog_input)
    link_load = np.zeros(topo.links.shape[0])
    router_load = np.zeros(topo.n_routers)
    routers = np.zeros(n + m, np.int64)
    max_depth = np.zeros(n + m, np.int64)
    _trees(np.flatnonzero(sends), src_core, dptr, dcores, weight, topo.parent,
           topo.parent_link, topo.depth, topo.n_cores, link_load, router_load, routers, max_depth)
    cache = {"core_of": core_of, "src_core": src_core, "dptr": dptr, "dcores": dcores,
             "weight": weight, "routers": routers, "max_depth": max_depth, "n": n, "m": m,
             "link_load": link_load, "router_load": router_load, "analog": analog_input}
    return _finish(spec, T, n, core_of, rate_all, fanout, weight, routers, max_depth,
                   link_load.copy(), router_load.copy(), analog_input, cache)


def delta_cost(base: CostReport, net: SpikingNetwork, placement, rates, input_rates=None,
               *, old_index=None, sources=None) -> CostReport:
    """The cost of a changed network (e.g. grown), re-walking only the trees that change.

    ``base`` is a report from ``estimate_cost`` (or ``delta_cost``) of the old
    network on the same spec, with the same number of inputs, ``T`` and input mode.
    ``old_index`` (n_neurons,) gives each neuron's index in the old network, -1
    for a new neuron; default: the first old ``n`` neurons keep their index and the
    rest are new.  Equal to ``estimate_cost`` of the new network (up to float
    rounding); the result can serve as the base of the next delta.

    ``sources`` (optional) speeds it up: indices (neurons, then inputs as n_neurons + j)
    of every source whose synapses changed or that synapses onto a new or moved neuron;
    only their destination cores are recomputed (new and moved neurons are added
    automatically).  Without it every source's destination cores are recomputed and
    compared, O(synapses).  A wrong hint gives a wrong answer: it is a promise.
    """
    c = base._cache
    spec = base._spec
    if not c:
        raise CostError("delta_cost needs a base report from estimate_cost or delta_cost")
    if net.n_inputs != c["m"]:
        raise CostError(f"delta_cost: the network has {net.n_inputs} inputs, the base had {c['m']}; "
                        f"use estimate_cost for a different input layer")
    core_of = as_core_of(placement, net, spec)
    n, m, n0 = net.n_neurons, net.n_inputs, c["n"]
    if old_index is None:
        old_index = np.where(np.arange(n) < n0, np.arange(n), -1)
    old_index = np.asarray(old_index, np.int64)
    if old_index.shape != (n,) or np.any(old_index >= n0) or np.any(old_index < -1):
        raise CostError(f"old_index must have shape ({n},) with entries in -1..{n0 - 1}")
    kept = old_index[old_index >= 0]
    if np.unique(kept).size != kept.size:
        raise CostError("old_index maps two new neurons to the same old neuron")
    topo = topology(spec)
    map_all = np.concatenate([old_index, n0 + np.arange(m)])
    if sources is None:
        src_core, fanout, dptr, dcores, sends, _, _ = _sources(net, spec, core_of)
    else:
        sources = np.asarray(sources, np.int64).ravel()
        if sources.size and (sources.min() < 0 or sources.max() >= n + m):
            raise CostError(f"sources must index neurons and inputs, 0..{n + m - 1}")
        kept_idx = np.flatnonzero(old_index >= 0)
        moved = kept_idx[core_of[kept_idx] != c["core_of"][old_index[kept_idx]]]
        src_core, fanout, dptr, dcores, sends = _partial_sources(
            net, spec, core_of, np.concatenate([sources, moved]), map_all, c)
    rate_all = np.concatenate([_rates("rates", rates, n),
                               _rates("input_rates", 0.0 if input_rates is None else input_rates, m)])
    weight = _events(rate_all, sends, n, base.T, c["analog"])
    changed = _changed(map_all, dptr, dcores, c["dptr"], c["dcores"], src_core, c["src_core"])
    same = ~changed
    same_rate = np.zeros(n + m, bool)
    same_rate[same] = weight[same] == c["weight"][map_all[same]]
    redo = np.flatnonzero(~same_rate)             # new, moved, re-targeted or re-rated
    old_redo = map_all[redo]
    old_redo = old_redo[old_redo >= 0]
    dropped = np.setdiff1d(np.arange(n0), old_index[old_index >= 0])   # removed neurons
    undo = np.concatenate([old_redo, dropped])
    link_load = c["link_load"].copy()
    router_load = c["router_load"].copy()
    scratch_r = np.zeros(n0 + m, np.int64)
    scratch_d = np.zeros(n0 + m, np.int64)
    _trees(undo[c["weight"][undo] > 0], c["src_core"], c["dptr"], c["dcores"], -c["weight"],
           topo.parent, topo.parent_link, topo.depth, topo.n_cores, link_load, router_load,
           scratch_r, scratch_d)
    routers = np.zeros(n + m, np.int64)
    max_depth = np.zeros(n + m, np.int64)
    routers[same_rate] = c["routers"][map_all[same_rate]]
    max_depth[same_rate] = c["max_depth"][map_all[same_rate]]
    _trees(redo[sends[redo]], src_core, dptr, dcores, weight, topo.parent, topo.parent_link,
           topo.depth, topo.n_cores, link_load, router_load, routers, max_depth)
    np.maximum(link_load, 0.0, out=link_load)       # float cancellation below zero
    np.maximum(router_load, 0.0, out=router_load)
    cache = {"core_of": core_of, "src_core": src_core, "dptr": dptr, "dcores": dcores,
             "weight": weight, "routers": routers, "max_depth": max_depth, "n": n, "m": m,
             "link_load": link_load, "router_load": router_load, "analog": c["analog"]}
    return _finish(spec, base.T, n, core_of, rate_all, fanout, weight, routers, max_depth,
                   link_load.copy(), router_load.copy(), c["analog"], cache)


def cost_reference(net: SpikingNetwork, spec: HardwareSpec, placement, rates,
                   input_rates=None, *, T: int = 25, analog_input: bool = False) -> dict:
    """Slow, obvious per-source loop over ``Topology.tree_links``/``tree_routers``:
    the oracle for ``estimate_cost`` (returns energy_pj, link_load, router_load)."""
    T = _check_T(T)
    core_of = as_core_of(placement, net, spec)
    topo = topology(spec)
    n, m = net.n_neurons, net.n_inputs
    r = _rates("rates", rates, n)
    q = _rates("input_rates", 0.0 if input_rates is None else input_rates, m)
    link_load = np.zeros(topo.links.shape[0])
    router_load = np.zeros(topo.n_routers)
    syn = trav = msgs = hx = hy = 0.0
    rows = [(core_of[i], sp.csr_matrix(net.w).getrow(i).indices, r[i] * (T - 1), True) for i in range(n)]
    entry = spec.input_cores(m)
    rows += [(int(entry[j]), sp.csr_matrix(net.w_in).getrow(j).indices, q[j] * T, not analog_input)
             for j in range(m)]
    for src, targets, sent, routed in rows:     # sent: spikes per inference
        syn += sent * len(targets)
        dests = sorted(set(core_of[targets].tolist()))
        if not routed or not dests:
            continue
        for lk in topo.tree_links(src, dests):
            link_load[lk] += sent
        for v in topo.tree_nodes(src, dests):
            if v >= topo.n_cores:
                router_load[v - topo.n_cores] += sent
        trav += sent * topo.tree_routers(src, dests)
        msgs += sent * len(dests)
        dx, dy = tile_hops(spec, np.full(len(dests), src), np.array(dests))
        hx, hy = hx + sent * dx.sum(), hy + sent * dy.sum()
    e = energy_pj(spec, {"synaptic_ops": syn, "neuron_updates": n * T, "spikes": r.sum() * T,
                         "router_traversals": trav, "messages": msgs, "message_hops_x": hx,
                         "message_hops_y": hy}, T)
    return {"energy_pj": e, "link_load": link_load, "router_load": router_load}
