"""Run a spiking network on the chip: neurons step by step, spikes over the network-on-chip.

Time line.  Every time step ``t`` has one routing window of ``spec.step_cycles``
router cycles, followed by the neuron update of step ``t``.  Injected at the start
of window ``t``: one packet per spike the neurons emitted at step ``t - 1`` (in
neuron order), then one packet per input spike of step ``t`` (in input order, at the
input's entry tile ``spec.input_cores``: ``spec.io_core`` unless ``spec.input_entry`` says otherwise).  Every synapse copy delivered during window ``t`` adds to the
input current of update ``t``: a neuron spike therefore integrates one step after
it was emitted, an input spike in its own step.  Spikes of the last step ``T - 1``
would integrate at step ``T``, after the run, and are not injected.  Float inputs
are analog currents (``I[t] = x[t] @ w_in``, snnTorch's "direct" encoding): no
packets, one synaptic op per nonzero value per outgoing synapse.

Neurons (snnTorch ``Leaky`` for ``alpha = 0``, ``Synaptic`` for ``alpha > 0``, per
neuron): ``syn = alpha*syn + I``; ``mem = beta*mem + syn + bias``,
minus ``threshold`` if the neuron spiked at ``t - 1`` (reset "subtract");
``spk = mem > threshold``.  Reset "zero": Leaky zeroes ``mem`` before the update,
Synaptic zeroes the updated ``mem`` (that step's input is lost, ``syn`` kept).  The
reset flag of step 0 is ``initial_mem > threshold``, as in snnTorch (so a run can
continue another one from its ``final_mem``).  ``refractory = R`` steps: after a
spike the next R updates discard their input, apply the reset once and hold ``mem``
(``syn`` only decays); refractory neurons never spike.

Network-on-chip, ``routing="cycle"``.  A packet of source core ``s`` follows ``s``'s
routing tree (``mosaic.topology``) to its destination cores; synapses onto the
source's own core are delivered at cycle 0 through no router (the packet still
counts as injected).  Every directed link is an output port with a FIFO; FIFOs of
ports leaving a router hold ``buffer_depth`` packets, a tile's own output ports are
unbounded (a neuron never loses its spike).  With ``virtual_channels = V > 1`` a port has
V such FIFOs sharing its bandwidth, and a packet enters the one holding the fewest packets
(the lowest on a tie), so a blocked head no longer stalls the whole port.  In a cycle,
ports are served in increasing link index (a port's FIFOs in order); each forwards up to
``bandwidth`` packets from its FIFO heads.
A head packet is forwarded only when it is ready and every FIFO it goes to next (one
per tree branch leaving the next router) has room, counting occupancy at the start
of the cycle plus what earlier ports pushed this cycle (space freed in a cycle is
usable from the next cycle); otherwise the port stalls (head-of-line blocking).  A
packet forwarded in cycle ``c`` enters the next router, is ready there at
``c + cycles_per_hop``, and is delivered at a tile in cycle ``c``: with no
contention a copy arrives ``hops x cycles_per_hop`` cycles after injection.  A
window has cycles ``0 .. step_cycles - 1``; a packet with a copy still undelivered
at its end is late (counted once); ``late="defer"`` keeps it in the network, its
remaining copies integrate in the step whose window delivers them, ``late="drop"``
removes its undelivered copies.  ``routing="ideal"``: no contention and no budget,
every copy arrives ``hops x cycles_per_hop`` cycles after injection.

Counters: ``packets`` injected, delivered (all copies arrived), late, dropped,
in_flight (at the end of the run); ``injected = delivered + dropped + in_flight``
is checked.  ``router_load`` counts packets entering each router (a multicast
packet once per router), ``link_load`` packets forwarded per link.
``step_latency_cycles[t]``: cycle of the last delivery of window ``t`` (0 if
none), or ``step_cycles`` if the window ended with packets in the network.
Energy in pJ from these counts (``mosaic.energy.energy_pj``): synaptic = ``e_synaptic_pj``
x synaptic ops (per delivered copy, the source's synapses onto that core); neuron =
``e_neuron_pj`` x neurons x T; spike_out = ``e_spike_out_pj`` x neuron spikes; routing =
``e_router_pj`` x router traversals; static = ``e_static_pj`` x cores x T; Loihi-style
access, message and hop terms from ``mosaic.events`` (messages: one per injected packet per
destination core).  ``step_latency_ns[t]`` = ``step_latency_cycles[t]`` x ns per cycle, plus
(when the spec has per-event latencies) the step's processing and synchronisation time.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from . import events, kernels, routes
from .energy import energy_pj
from .errors import ChipError
from .network import SpikingNetwork
from .neurobench import run_metrics, static_metrics
from .neurons import spike_counts
from .placement import as_core_of
from .simstate import POOL, Chip, Inputs, Routes, counter_dict, neuron_params, neuron_state, noc_state, record
from .spec import HardwareSpec
from .topology import topology

# Kernel calls are at most this long, so Ctrl-C (raised between calls) stops a run within
# about a second; results do not depend on the chunking (the state carries over exactly).
CHUNK_STEPS = 256       # time steps per kernel call of ``simulate``
CHUNK_WORK = 100_000_000   # simulate_batch: at most this many neuron and synapse updates per kernel call
ROUTINGS = ("cycle", "ideal")
PARALLEL_WORK = 20_000_000   # simulate_batch: updates from which a batch runs on every core
LATE_MODES = ("defer", "drop")


class SimulationError(ChipError):
    """A simulation request is malformed (input shape or values, routing or late policy)."""


@dataclass(eq=False)
class RunReport:
    """What a run did and cost.  Loads in packets, latency in cycles and ns, energy in pJ,
    ``rates`` in spikes per neuron per step, ``input_rates`` in spikes per input per step."""

    spikes: np.ndarray               # (T, n_neurons) bool
    packets: dict                    # injected, delivered, late, dropped, in_flight
    energy_pj: dict                  # synaptic, neuron, spike_out, routing, static, total
    counts: dict                     # synaptic_ops, neuron_updates, spikes, router_traversals, ...
    router_load: np.ndarray          # (n_routers,) packets that entered each router
    link_load: np.ndarray            # (n_links,) packets forwarded over each link
    step_latency_cycles: np.ndarray  # (T,) int
    step_latency_ns: np.ndarray      # (T,) float
    rates: np.ndarray                # (n_neurons,)
    input_rates: np.ndarray          # (n_inputs,), zeros for analog input
    T: int
    spec: str
    routing: str
    late: str
    wall_s: float
    final_mem: np.ndarray            # (n_neurons,) membrane after the last step
    neurobench: dict = field(default_factory=dict)  # mosaic.neurobench.run_metrics

    def summary(self) -> dict:
        """The scalar figures as a plain JSON-serialisable dict: the one reduction of a run
        (the sweeps' store rows and the growth scores read it).  Latency in cycles and ns
        (``latency_total_ns``: the T steps back to back), loads in packets, energy in pJ;
        ``neurobench``: NeuroBench's figures of the run (``mosaic.neurobench.run_metrics``)."""
        lat = self.step_latency_cycles
        lat_ns = self.step_latency_ns
        n_spk = int(self.counts["spikes"])
        return {
            "spec": self.spec, "routing": self.routing, "late": self.late, "T": int(self.T),
            "n_neurons": int(self.spikes.shape[1]), "spikes": n_spk,
            "mean_rate": float(self.rates.mean()) if self.rates.size else 0.0,
            "packets": {k: int(v) for k, v in self.packets.items()},
            "energy_pj": {k: float(v) for k, v in self.energy_pj.items()},
            "counts": {k: int(v) for k, v in self.counts.items()},
            "latency_mean_cycles": float(lat.mean()) if lat.size else 0.0,
            "latency_max_cycles": int(lat.max()) if lat.size else 0,
            "latency_mean_ns": float(lat_ns.mean()) if lat_ns.size else 0.0,
            "latency_max_ns": float(lat_ns.max()) if lat_ns.size else 0.0,
            "latency_total_ns": float(lat_ns.sum()),
            "peak_router_load": int(self.router_load.max()) if self.router_load.size else 0,
            "router_load_mean": float(self.router_load.mean()) if self.router_load.size else 0.0,
            "peak_link_load": int(self.link_load.max()) if self.link_load.size else 0,
            "wall_s": float(self.wall_s),
            "neurobench": dict(self.neurobench),
        }

    def to_json(self) -> str:
        """``summary()`` plus the per-step latency, per-router/link loads and rates
        (the spike raster is left out; it is ``spikes``)."""
        doc = {**self.summary(),
               "step_latency_cycles": self.step_latency_cycles.tolist(),
               "router_load": self.router_load.tolist(), "link_load": self.link_load.tolist(),
               "rates": self.rates.tolist(), "input_rates": self.input_rates.tolist()}
        return json.dumps(doc)


@dataclass
class Prepared:
    """Validated arrays of one run (shared by ``simulate`` and the reference)."""

    core_of: np.ndarray
    x: np.ndarray            # (T, n_inputs) bool spikes or float currents (dtype)
    spiking_input: bool
    mem0: np.ndarray         # (n,) dtype
    dtype: type
    T: int


def prepare(net: SpikingNetwork, spec: HardwareSpec, placement, input_spikes, routing: str,
            late: str, initial_mem, dtype) -> Prepared:
    """Check every argument of a run; raise ``SimulationError`` (or ``PlacementError``) naming it."""
    if not isinstance(net, SpikingNetwork):
        raise SimulationError(f"net must be a SpikingNetwork, got {type(net).__name__}")
    if not isinstance(spec, HardwareSpec):
        raise SimulationError(f"spec must be a HardwareSpec, got {type(spec).__name__}")
    if routing not in ROUTINGS:
        raise SimulationError(f"routing must be one of {ROUTINGS}, got {routing!r}")
    if late not in LATE_MODES:
        raise SimulationError(f"late must be one of {LATE_MODES}, got {late!r}")
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise SimulationError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}")
    core_of = as_core_of(placement, net, spec)
    if input_spikes is None:
        raise SimulationError(f"input_spikes is required: an array of shape (T, {net.n_inputs}), "
                         f"bool spikes or float currents")
    x = np.asarray(input_spikes)
    if x.ndim != 2 or x.shape[1] != net.n_inputs or x.shape[0] < 1:
        raise SimulationError(f"input_spikes: expected shape (T, {net.n_inputs}) with T >= 1 "
                         f"(time steps x network inputs), got shape {x.shape}")
    if x.dtype == np.bool_:
        spiking = True
    elif np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < 0 or x.max() > 1):
            raise SimulationError("input_spikes: integer input must be 0/1 spikes; pass analog "
                             "currents as a float array")
        x, spiking = x.astype(np.bool_), True
    elif np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)):
            t, i = np.argwhere(~np.isfinite(x))[0]
            raise SimulationError(f"input_spikes: non-finite value {x[t, i]} at step {t}, input {i}")
        x, spiking = x.astype(dt), False
    else:
        raise SimulationError(f"input_spikes: expected bool spikes or float currents, got dtype {x.dtype}")
    if initial_mem is None:
        mem0 = np.zeros(net.n_neurons, dt)
    else:
        mem0 = np.asarray(initial_mem, dtype=np.float64)
        if mem0.shape != (net.n_neurons,):
            raise SimulationError(f"initial_mem: expected shape ({net.n_neurons},), got {mem0.shape}")
        if not np.all(np.isfinite(mem0)):
            raise SimulationError(f"initial_mem: non-finite value at neuron {int(np.flatnonzero(~np.isfinite(mem0))[0])}")
        mem0 = mem0.astype(dt)
    return Prepared(core_of, np.ascontiguousarray(x), spiking, mem0, dt.type, int(x.shape[0]))  # one kernel layout


def _fanout(net: SpikingNetwork, spec: HardwareSpec, prep: Prepared, key: str | None) -> events.Fanout:
    """The run's message fan-out (``events.fanout``, cached under the routing-table key)."""
    return events.fanout(net, spec, prep.core_of, prep.spiking_input,
                         key=f"{key or _fingerprint(net, prep.core_of, spec, prep.spiking_input)}/{spec.cores_per_tile}")


def run_counts(net: SpikingNetwork, spec: HardwareSpec, prep: Prepared, counters: dict, per_neuron, last,
               per_input, link_traversals: int, steps: int, key: str | None = None) -> dict:
    """The event counts of one run, or of several summed (a batch): ``counters`` (kernel
    counters, ``counter_dict``), spikes ``per_neuron`` and of the ``last`` step of each run,
    input spikes ``per_input`` (zeros for analog input), ``steps`` neuron steps per neuron
    (T, or B x T).  The one place counts are made (``finish_report``, ``BatchReport.totals``)."""
    counts = {"synaptic_ops": int(counters["synaptic_ops"]), "neuron_updates": net.n_neurons * steps,
              "spikes": int(per_neuron.sum()), "router_traversals": int(counters["router_traversals"]),
              "link_traversals": int(link_traversals),
              "input_spikes": int(per_input.sum()),
              "input_packets": int(counters["input_packets"])}
    fan = _fanout(net, spec, prep, key)
    sent = events.injections(per_neuron, last, per_input if prep.spiking_input else per_input[:0])
    counts.update({k: int(round(v)) for k, v in
                   events.message_counts(sent, fan.n_dest, fan.hops_x, fan.hops_y).items()})
    return counts


def _packets(counters: dict) -> dict:
    """The packet counters of a run (or summed runs); checks packet conservation."""
    packets = {k: int(counters[k]) for k in ("injected", "delivered", "late", "dropped", "in_flight")}
    if packets["injected"] != packets["delivered"] + packets["dropped"] + packets["in_flight"]:
        raise RuntimeError(f"packet conservation violated: {packets}")
    return packets


def finish_report(net: SpikingNetwork, spec: HardwareSpec, prep: Prepared, *, spikes, counters: dict,
                  router_load, link_load, step_latency, final_mem, routing: str, late: str,
                  wall_s: float, key: str | None = None) -> RunReport:
    """Assemble a RunReport from raw counters; checks packet conservation.  ``key``: the run's
    ``_fingerprint``, if the caller has computed it."""
    T = prep.T
    packets = _packets(counters)
    per_neuron = spike_counts(np.ascontiguousarray(spikes))
    per_input = (spike_counts(np.ascontiguousarray(prep.x)) if prep.spiking_input
                 else np.zeros(net.n_inputs, np.int64))
    counts = run_counts(net, spec, prep, counters, per_neuron, spikes[-1], per_input, link_load.sum(), T, key)
    e = energy_pj(spec, counts, T)
    lat = np.asarray(step_latency, dtype=np.int64)
    input_rates = per_input / T
    lat_ns = lat * spec.ns_per_cycle
    if events.has_latencies(spec):
        x_spk = prep.x if prep.spiking_input else np.zeros((T, 0), np.bool_)
        lat_ns = lat_ns + events.processing_ns(spec, _fanout(net, spec, prep, key), prep.core_of, spikes, x_spk)
    return RunReport(spikes=spikes, packets=packets, energy_pj=e, counts=counts,
                     router_load=np.asarray(router_load, np.int64),
                     link_load=np.asarray(link_load, np.int64), step_latency_cycles=lat,
                     step_latency_ns=lat_ns, rates=per_neuron / T,
                     input_rates=np.asarray(input_rates, np.float64), T=T, spec=spec.name,
                     routing=routing, late=late, wall_s=float(wall_s),
                     final_mem=np.asarray(final_mem, np.float64),
                     neurobench=run_metrics(net, per_neuron, np.asarray(spikes[-1], np.int64), T, counts,
                                            packets, _static_metrics(net, key)))


# -- routing tables (cached per network, placement and chip) ---------------------
_TABLES: "OrderedDict[str, Routes]" = OrderedDict()
_TABLES_MAX = 4
_STATIC: "OrderedDict[str, dict]" = OrderedDict()


def _static_metrics(net: SpikingNetwork, key: str | None) -> dict:
    """``neurobench.static_metrics`` of ``net``, cached for the last few networks: ``key`` (the
    routing tables' ``_fingerprint``, which covers the weights) and the layer labels."""
    if key is None:
        return static_metrics(net)
    if net.layer is not None:
        key += hashlib.sha256(np.ascontiguousarray(net.layer)).hexdigest()
    if key not in _STATIC:
        _STATIC[key] = static_metrics(net)
        while len(_STATIC) > _TABLES_MAX:
            _STATIC.popitem(last=False)
    return _STATIC[key]


def _fingerprint(net: SpikingNetwork, core_of: np.ndarray, spec: HardwareSpec, spiking: bool) -> str:
    """Key of a run's routing tables: its weights, placement and chip geometry (SHA-256: the
    CPU's SHA instructions hash a network's arrays 2-3x faster than blake2b), fed the arrays'
    buffers (a copy of them cost 3x the hashing: 0.13 s at 64k neurons and 5M synapses)."""
    h = hashlib.sha256()
    for m in (net.w, net.w_in):
        for a in (m.indptr, m.indices, m.data):
            h.update(np.ascontiguousarray(a))
        h.update(repr(m.shape).encode())
    h.update(np.ascontiguousarray(core_of))
    h.update(repr((spec.topology, spec.rows, spec.cols, spec.io_core, spec.input_entry, spiking)).encode())
    return h.hexdigest()


def routing_tables(net: SpikingNetwork, spec: HardwareSpec, core_of: np.ndarray, spiking: bool,
                   key: str | None = None) -> Routes:
    """Per-source multicast trees as flat arrays (``mosaic.routes``).

    Sources are the neurons, then (for spike input) the inputs at ``spec.input_cores``.
    Cached for the last few (network, placement, chip) combinations (``key``: their
    ``_fingerprint`` if the caller has it); weights are float64.
    """
    key = key or _fingerprint(net, core_of, spec, spiking)
    if key in _TABLES:
        _TABLES.move_to_end(key)
        return _TABLES[key]
    m = sp.vstack([net.w, net.w_in], format="csr") if spiking else net.w
    src_core = np.concatenate([core_of, spec.input_cores(net.n_inputs if spiking else 0)]).astype(np.int64)
    t = build_routes(spec, m, core_of, src_core)
    _TABLES[key] = t
    while len(_TABLES) > _TABLES_MAX:
        _TABLES.popitem(last=False)
    return t


def build_routes(spec: HardwareSpec, m: sp.csr_matrix, core_of: np.ndarray, src_core: np.ndarray) -> Routes:
    """Routing tables of the sources ``m``'s rows (row ``k`` sends from core ``src_core[k]`` to
    the targets ``m.indices`` with weights ``m.data``; target ``i`` lives on core ``core_of[i]``)."""
    topo = topology(spec)
    indptr = m.indptr.astype(np.int64)
    indices = m.indices.astype(np.int64)
    perm, edge_ptr = routes.count_routes(topo.parent, indptr, indices, core_of, src_core)
    if edge_ptr[-1] >= 2 ** 31 or indices.size >= 2 ** 31:
        raise SimulationError(f"network too large for the routing tables: {edge_ptr[-1]} tree links, "
                              f"{indices.size} synapses (limit 2**31 each)")
    link_head = np.ascontiguousarray(topo.links[:, 1]).astype(np.int32)
    edges, root_end, local_a, local_b, n_remote, n_routers, max_depth = \
        routes.fill_routes(topo.parent, topo.parent_link, topo.depth, spec.n_cores, indptr, indices,
                            core_of, src_core, perm, edge_ptr)
    rt = Routes(syn_ptr=indptr, edge_ptr=edge_ptr, root_end=root_end, local_a=local_a, local_b=local_b,
                  n_remote=n_remote, edges=edges, syn_tgt=indices[perm].astype(np.int32),
                  syn_w=m.data[perm].astype(np.float64, copy=False), link_head=link_head, n_routers=n_routers,
                  max_depth=max_depth, max_fan=1, max_edges=max(1, int(np.diff(edge_ptr).max(initial=0))))
    return rt._replace(max_fan=int(routes.max_branching(rt, spec.n_cores)))


def _inputs(net: SpikingNetwork, prep: Prepared) -> Inputs:
    """The kernels' ``Inputs``; ``prep.x`` is (T, n_inputs), or (B, T, n_inputs) for a batch."""
    dt, lead = prep.dtype, prep.x.shape[:-1] + (0,)
    w_in = net.w_in
    x_spk = prep.x if prep.spiking_input else np.zeros(lead, np.bool_)
    x_cur = np.zeros(lead, dt) if prep.spiking_input else prep.x
    return Inputs(x_spk, x_cur, w_in.indptr.astype(np.int64), w_in.indices.astype(np.int64),
                  w_in.data.astype(dt))


def _kernel_args(net: SpikingNetwork, spec: HardwareSpec, prep: Prepared, late: str):
    """Routing tables (run dtype), neuron parameters, router settings, the topology of a run and
    its ``_fingerprint`` (the routing-table cache key, computed once per call)."""
    key = _fingerprint(net, prep.core_of, spec, prep.spiking_input)
    tab = routing_tables(net, spec, prep.core_of, prep.spiking_input, key)
    rt = tab._replace(syn_w=tab.syn_w.astype(prep.dtype, copy=False))   # no copy for float64 runs
    chip = Chip(spec.step_cycles, spec.cycles_per_hop, spec.bandwidth, spec.buffer_depth, late == "drop",
                spec.n_cores, spec.virtual_channels)
    return rt, neuron_params(net, prep.dtype), chip, topology(spec), key


def simulate(net: SpikingNetwork, spec: HardwareSpec, placement=None, input_spikes=None, *,
             routing: str = "cycle", late: str = "defer", initial_mem=None, dtype=np.float64,
             progress: bool = False) -> RunReport:
    """Run ``net`` placed on ``spec`` for ``T = len(input_spikes)`` steps (numba kernels).

    ``placement``: a ``Placement``, a ``core_of`` array or ``None`` (fill cores in
    order).  ``input_spikes``: (T, n_inputs) bool spikes (packets from ``spec.input_cores``)
    or float currents (analog, no packets).  ``routing``: "cycle" (contention, cycle
    budget) or "ideal"; ``late``: "defer" or "drop".  Semantics: module docstring.
    Many samples of one network: ``simulate_batch``.
    """
    t_start = time.perf_counter()
    prep = prepare(net, spec, placement, input_spikes, routing, late, initial_mem, dtype)
    rt, prm, chip, topo, key = _kernel_args(net, spec, prep, late)
    T = prep.T
    st = neuron_state(prep.mem0, prm)
    inp = _inputs(net, prep)
    rec = record(T, net.n_neurons, topo.n_routers, len(topo.links))
    chunk = min(max(1, T // 100), CHUNK_STEPS) if progress else CHUNK_STEPS
    bar = tqdm(total=T, desc=f"simulate {spec.name} ({routing})", unit="step", disable=not progress)
    src_count = np.zeros(rt.edge_ptr.size - 1, np.int64)    # packets per source, loads added once
    if routing == "ideal":
        for t0 in range(0, T, chunk):
            t1 = min(T, t0 + chunk)
            kernels.run_ideal(t0, t1, chip, prm, st, inp, rt, src_count, rec)
            bar.update(t1 - t0)
    else:
        noc = noc_state(len(topo.links) * spec.virtual_channels, POOL)
        crowded = np.zeros(3, np.int64)
        for t0 in range(0, T, chunk):
            t1 = min(T, t0 + chunk)
            noc = kernels.run_cycle(t0, t1, chip, prm, st, inp, rt, noc, src_count, crowded, rec)
            bar.update(t1 - t0)
    kernels.ideal_loads(src_count, rt, spec.n_cores, rec)
    bar.close()
    return finish_report(net, spec, prep, spikes=rec.spikes, counters=counter_dict(rec.counters),
                         router_load=rec.router_load, link_load=rec.link_load, step_latency=rec.latency,
                         final_mem=st.mem, routing=routing, late=late, wall_s=time.perf_counter() - t_start,
                         key=key)


# -- batches: many samples of one network in one kernel call ---------------------------
@dataclass(eq=False)
class BatchReport:
    """B independent runs of one network (``simulate_batch``), as arrays with a leading
    sample axis: ``spikes`` (B, T, n) bool, ``counters`` (B, len(COUNTERS)) int64,
    ``router_load`` (B, n_routers) and ``link_load`` (B, n_links) in packets,
    ``step_latency_cycles`` (B, T), ``final_mem`` (B, n).  ``report(b)`` is sample b's
    ``RunReport``, identical to a ``simulate`` run of that sample alone (``wall_s``: the
    batch's wall time over B); ``totals()`` sums over the samples."""

    net: SpikingNetwork
    spec: HardwareSpec
    prep: Prepared                   # of the whole batch: x (B, T, n_inputs), T = steps per sample
    spikes: np.ndarray
    counters: np.ndarray
    router_load: np.ndarray
    link_load: np.ndarray
    step_latency_cycles: np.ndarray
    final_mem: np.ndarray
    routing: str
    late: str
    wall_s: float
    key: str                         # the routing-table cache key of the batch's network and placement

    def __len__(self) -> int:
        return self.spikes.shape[0]

    def report(self, b: int) -> RunReport:
        """Sample ``b``'s run (0 <= b < B) as ``simulate`` reports it."""
        if not 0 <= b < len(self):
            raise SimulationError(f"sample index {b} out of range for a batch of {len(self)}")
        p = self.prep
        prep_b = Prepared(p.core_of, p.x[b], p.spiking_input, p.mem0, p.dtype, p.T)
        return finish_report(self.net, self.spec, prep_b, spikes=self.spikes[b],
                             counters=counter_dict(self.counters[b]), router_load=self.router_load[b],
                             link_load=self.link_load[b], step_latency=self.step_latency_cycles[b],
                             final_mem=self.final_mem[b], routing=self.routing, late=self.late,
                             wall_s=self.wall_s / len(self), key=self.key)

    def totals(self) -> dict:
        """Sums over the samples: ``packets`` and ``counts`` (events), ``energy_pj`` (pJ, all
        B runs), ``router_load`` and ``link_load`` (packets), ``samples`` and ``steps`` (B x T).
        Counted from the batch's arrays in one pass (``run_counts``, as every per-sample
        report), so every energy term, message counts included, is the sum of the samples'."""
        B, T = len(self), self.prep.T
        p = self.prep
        counters = counter_dict(self.counters.sum(axis=0))
        per_neuron = spike_counts(self.spikes.reshape(B * T, -1))
        last = np.count_nonzero(self.spikes[:, -1], axis=0)
        per_input = (spike_counts(p.x.reshape(B * T, -1)) if p.spiking_input
                     else np.zeros(self.net.n_inputs, np.int64))
        counts = run_counts(self.net, self.spec, p, counters, per_neuron, last, per_input,
                            self.link_load.sum(), B * T, self.key)
        return {"samples": B, "steps": B * T, "packets": _packets(counters), "counts": counts,
                "energy_pj": energy_pj(self.spec, counts, B * T),
                "router_load": self.router_load.sum(axis=0), "link_load": self.link_load.sum(axis=0)}


def _stacked(arrays, B: int):
    """The same NamedTuple of arrays with a leading axis of B copies of each array."""
    return type(arrays)(*(np.repeat(a[None], B, axis=0) for a in arrays))


def _batch_input(net: SpikingNetwork, inputs) -> np.ndarray:
    x = np.asarray(inputs) if inputs is not None else None
    if x is None or x.ndim != 3 or x.shape[2] != net.n_inputs or min(x.shape[:2]) < 1:
        raise SimulationError(f"inputs: expected shape (B, T, {net.n_inputs}) with B, T >= 1 (samples x "
                              f"time steps x network inputs), got "
                              + ("None" if x is None else f"shape {x.shape}"))
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        b, t, i = np.argwhere(~np.isfinite(x))[0]
        raise SimulationError(f"inputs: non-finite value {x[b, t, i]} at sample {b}, step {t}, input {i}")
    return x


def simulate_batch(net: SpikingNetwork, spec: HardwareSpec, placement=None, inputs=None, *,
                   routing: str = "cycle", late: str = "defer", dtype=np.float64,
                   progress: bool = False, parallel: bool | None = None) -> BatchReport:
    """Run ``net`` on ``spec`` for B independent samples, ``inputs`` (B, T, n_inputs) bool
    spikes or float currents, each from rest (as B ``simulate`` calls, bit for bit), in
    one kernel call spread over the cores (numba ``prange`` over samples).  Arguments as
    ``simulate``; the routing tables are built (or fetched from their cache) once.
    ``parallel``: None (default) uses the cores when the batch has at least
    ``PARALLEL_WORK`` neuron and synapse updates (B x T x (neurons + synapses)), below
    which waking a thread team costs more than it saves (milliseconds on a busy machine)."""
    t_start = time.perf_counter()
    x = _batch_input(net, inputs)
    B, T = x.shape[:2]
    flat = prepare(net, spec, placement, x.reshape(B * T, -1), routing, late, None, dtype)
    prep = Prepared(flat.core_of, flat.x.reshape(B, T, -1), flat.spiking_input, flat.mem0, flat.dtype, T)
    rt, prm, chip, topo, key = _kernel_args(net, spec, prep, late)
    st = _stacked(neuron_state(prep.mem0, prm), B)
    inp = _inputs(net, prep)
    rec = _stacked(record(T, net.n_neurons, topo.n_routers, len(topo.links)), B)
    per_sample = T * (net.n_neurons + rt.syn_tgt.size)       # updates a sample can take at most
    if parallel is None:
        parallel = B * per_sample >= PARALLEL_WORK
    kernel = kernels.run_batch if parallel else kernels.run_batch_serial
    chunk = max(1, CHUNK_WORK // max(per_sample, 1))         # a small chunk leaves a core idle
    chunk = min(max(1, B // 20), chunk) if progress else chunk
    with tqdm(total=B, desc=f"simulate_batch {spec.name} ({routing})", unit="sample",
              disable=not progress) as bar:
        for b0 in range(0, B, chunk):
            part = slice(b0, min(B, b0 + chunk))
            kernel(routing == "ideal", chip, prm, type(st)(*(a[part] for a in st)),
                   inp._replace(x_spk=inp.x_spk[part], x_cur=inp.x_cur[part]), rt,
                   len(topo.links) * spec.virtual_channels,
                   type(rec)(*(a[part] for a in rec)))
            bar.update(part.stop - part.start)
    return BatchReport(net, spec, prep, rec.spikes, rec.counters, rec.router_load, rec.link_load, rec.latency,
                       st.mem, routing, late, time.perf_counter() - t_start, key)
