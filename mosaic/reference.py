"""The slow, obvious simulator: the oracle for the numba kernels of ``mosaic.simulate``.

Same signature, same semantics (see ``mosaic.simulate``'s docstring), same
``RunReport``.  Written as plain loops: per step, per router cycle, per port, with
one ``deque`` per link FIFO and multicast trees taken straight from the topology's
``parent`` array.  The neurons' parameters and start state and the recorded arrays are
the kernels' own ``NeuronParams``, ``NeuronState`` and ``Record`` (``mosaic.simstate``).  Use it on small networks only.
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np

from .network import SpikingNetwork
from .noc import NocRun, Traffic, destinations, measure, schedule, zero_load_latency
from .simstate import NeuronParams, NeuronState, neuron_params, neuron_state, record
from .simulate import RunReport, finish_report, prepare
from .spec import HardwareSpec
from .topology import topology


class _Source:
    """One spike source: its core, its synapses grouped by destination core, its tree."""

    def __init__(self, core: int, targets: np.ndarray, weights: np.ndarray, core_of: np.ndarray, topo):
        self.core = core
        cores = core_of[targets]
        order = np.lexsort((targets, cores))
        self.by_core: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for d in np.unique(cores):
            sel = order[cores[order] == d]
            self.by_core[int(d)] = (targets[sel], weights[sel])
        self.remote = [d for d in sorted(self.by_core) if d != core]
        self.children: dict[int, list[int]] = {}
        self.routers = 0
        self.max_depth = 0
        if self.remote:
            nodes = topo.tree_nodes(core, self.remote)
            for v in nodes:
                if v != core:
                    self.children.setdefault(int(topo.parent[core, v]), []).append(int(v))
            self.routers = int(np.count_nonzero(nodes >= topo.n_cores))
            self.max_depth = int(max(topo.depth[core, d] for d in self.remote))


class _Packet:
    def __init__(self, src: _Source, idx: int = -1):
        self.src = src
        self.idx = idx                  # synthetic traffic: the packet's index in the schedule
        self.remaining = len(src.remote)
        self.late = False


def vc_queue(queues: list, popped: list, X: int, vcs: int) -> int:
    """The FIFO a packet takes on link ``X``: the emptiest of its ``vcs`` virtual channels
    (packets that left this cycle still count), the lowest on a tie."""
    fifos = range(X * vcs, X * vcs + vcs)
    return min(fifos, key=lambda F: (len(queues[F]) + popped[F], F))


def serve_cycle(cyc: int, queues: list, links: list, link_of: dict, spec: HardwareSpec, link_load,
                arrive, enter) -> bool:
    """One router cycle: every FIFO non-empty at the cycle's start, in increasing index
    (FIFO ``F`` of link ``F // virtual_channels``; a link's FIFOs share its ``bandwidth``),
    forwards ready head packets (entries ``[packet, ready cycle]``); a packet at a tile
    calls ``arrive(packet, tile, cyc)``, at a router it needs room in every next FIFO
    (``vc_queue``; ``buffer_depth``, space freed this cycle not counted) and calls
    ``enter(packet, router)``.  Returns whether any FIFO held a packet."""
    busy = [F for F in range(len(queues)) if queues[F]]
    if not busy:
        return False
    nc, cph, vcs = spec.n_cores, spec.cycles_per_hop, spec.virtual_channels
    popped = [0] * len(queues)
    used = [0] * len(links)
    for F in busy:
        q = queues[F]
        L = F // vcs
        v = links[L][1]
        while used[L] < spec.bandwidth:
            if not q or q[0][1] > cyc:
                break
            p = q[0][0]
            if v < nc:
                arrive(p, v, cyc)
            else:
                nxt = [vc_queue(queues, popped, link_of[(v, w)], vcs) for w in p.src.children[v]]
                if any(len(queues[X]) + popped[X] >= spec.buffer_depth for X in nxt):
                    break
                for X in nxt:
                    queues[X].append([p, cyc + cph])
                enter(p, v)
            q.popleft()
            popped[F] += 1
            used[L] += 1
            link_load[L] += 1
    return True


def neuron_step(prm: NeuronParams, st: NeuronState, I: np.ndarray) -> NeuronState:
    """One step of every neuron from input currents ``I`` (whole-array numpy, semantics in
    ``mosaic.simulate``): the new state, whose ``prev`` is the step's spikes."""
    mem, syn, prev, ref_left = st
    beta, alpha, thr, bias = prm.beta, prm.alpha, prm.thr, prm.bias
    dt = mem.dtype
    refractory = ref_left > 0
    s_new = alpha * syn + I
    m = beta * mem + s_new + bias
    if not prm.zero_reset:
        m = np.where(prev, m - thr, m)
    else:
        leaky = alpha == 0
        m_leaky = beta * np.where(prev, np.zeros_like(mem), mem) + s_new + bias
        m = np.where(leaky, m_leaky, np.where(prev, np.zeros_like(m), m))
    held = np.where(prev, np.zeros_like(mem) if prm.zero_reset else mem - thr, mem)
    mem = np.where(refractory, held, m).astype(dt)
    syn = np.where(refractory, alpha * syn, s_new).astype(dt)
    spk = ~refractory & (mem > thr)
    ref_left = np.where(refractory, ref_left - 1, np.where(spk, prm.refr, 0))
    return NeuronState(mem, syn, spk, ref_left)


def simulate_reference(net: SpikingNetwork, spec: HardwareSpec, placement=None, input_spikes=None, *,
                       routing: str = "cycle", late: str = "defer", initial_mem=None,
                       dtype=np.float64, progress: bool = False) -> RunReport:
    """Pure-Python/numpy version of ``mosaic.simulate`` (same arguments, same report).
    ``progress`` is accepted for signature compatibility and ignored."""
    t_start = time.perf_counter()
    prep = prepare(net, spec, placement, input_spikes, routing, late, initial_mem, dtype)
    dt, n, T, core_of = prep.dtype, net.n_neurons, prep.T, prep.core_of
    topo = topology(spec)
    nc = spec.n_cores
    links = [tuple(int(a) for a in l) for l in topo.links]
    link_of = {l: i for i, l in enumerate(links)}

    def source(core, m, row):
        lo, hi = m.indptr[row], m.indptr[row + 1]
        return _Source(core, m.indices[lo:hi].astype(np.int64), m.data[lo:hi].astype(dt), core_of, topo)

    neurons = [source(int(core_of[i]), net.w, i) for i in range(n)]
    entry = spec.input_cores(net.n_inputs)
    inputs = [source(int(entry[j]), net.w_in, j) for j in range(net.n_inputs)] if prep.spiking_input else []

    prm = neuron_params(net, dt)
    mem, syn, prev, ref_left = neuron_state(prep.mem0, prm)
    rec = record(T, n, topo.n_routers, len(links))
    spikes, latency, router_load, link_load = rec.spikes, rec.latency, rec.router_load, rec.link_load
    c = {"injected": 0, "delivered": 0, "late": 0, "dropped": 0, "synaptic_ops": 0,
         "router_traversals": 0, "input_packets": 0}
    vcs = spec.virtual_channels
    queues: list[deque] = [deque() for _ in range(len(links) * vcs)]   # entries [packet, ready cycle]
    no_pops = [0] * len(queues)
    S, cph = spec.step_cycles, spec.cycles_per_hop

    def deliver(I, src, core):
        tg, w = src.by_core[core]
        for j in range(tg.size):
            I[tg[j]] += w[j]
        c["synaptic_ops"] += tg.size

    for t in range(T):
        I = np.zeros(n, dt)
        if not prep.spiking_input:
            for j in range(net.n_inputs):
                xv = prep.x[t, j]
                if xv != 0:
                    lo, hi = net.w_in.indptr[j], net.w_in.indptr[j + 1]
                    I[net.w_in.indices[lo:hi]] += xv * net.w_in.data[lo:hi].astype(dt)
                    c["synaptic_ops"] += hi - lo
        new = [neurons[i] for i in range(n) if t > 0 and spikes[t - 1, i]]
        new_in = [inputs[j] for j in range(len(inputs)) if prep.x[t, j]]
        w0 = t * S
        last = -1
        for k, src in enumerate(new + new_in):
            if not src.by_core:
                continue
            c["injected"] += 1
            c["input_packets"] += k >= len(new)
            if routing == "ideal":
                for d in sorted(src.by_core):
                    deliver(I, src, d)
                for v, kids in src.children.items():
                    for w in kids:
                        link_load[link_of[(v, w)]] += 1
                        if w >= nc:
                            router_load[w - nc] += 1
                c["router_traversals"] += src.routers
                c["delivered"] += 1
                last = max(last, src.max_depth * cph)
                continue
            if src.core in src.by_core:
                deliver(I, src, src.core)
                last = max(last, 0)
            if not src.remote:
                c["delivered"] += 1
                continue
            p = _Packet(src)
            for w in src.children[src.core]:
                queues[vc_queue(queues, no_pops, link_of[(src.core, w)], vcs)].append([p, w0])
        if routing == "cycle":
            def arrive(p, v, cyc):
                nonlocal last
                deliver(I, p.src, v)
                p.remaining -= 1
                if p.remaining == 0:
                    c["delivered"] += 1
                last = cyc - w0

            def enter(p, v):
                router_load[v - nc] += 1
                c["router_traversals"] += 1

            for cyc in range(w0, w0 + S):
                if not serve_cycle(cyc, queues, links, link_of, spec, link_load, arrive, enter):
                    break
            live = {id(e[0]): e[0] for q in queues for e in q}
            if live:
                last = S
                for p in live.values():
                    if not p.late:
                        p.late = True
                        c["late"] += 1
                if late == "drop":
                    c["dropped"] += len(live)
                    for q in queues:
                        q.clear()
        latency[t] = max(last, 0)
        mem, syn, prev, ref_left = neuron_step(prm, NeuronState(mem, syn, prev, ref_left), I)
        spikes[t] = prev
    in_flight = len({id(e[0]) for q in queues for e in q})
    return finish_report(net, spec, prep, spikes=spikes, counters={**c, "in_flight": in_flight},
                         router_load=router_load, link_load=link_load, step_latency=latency,
                         final_mem=mem, routing=routing, late=late,
                         wall_s=time.perf_counter() - t_start)


def traffic_reference(spec: HardwareSpec, traffic: Traffic) -> NocRun:
    """Pure-Python version of ``mosaic.noc.simulate_traffic``: the same pattern rows and
    injection schedule, one ``deque`` per link FIFO, ``serve_cycle`` each cycle, the same
    phases and report.  Small chips and short runs only."""
    dest = destinations(spec, traffic)
    topo = topology(spec)
    nc = spec.n_cores
    links = [tuple(int(a) for a in l) for l in topo.links]
    link_of = {l: i for i, l in enumerate(links)}
    tiles = np.arange(nc)
    m = dest.m
    rows = [_Source(int(dest.src[k]), m.indices[m.indptr[k]:m.indptr[k + 1]].astype(np.int64),
                    np.ones(m.indptr[k + 1] - m.indptr[k]), tiles, topo) for k in range(m.shape[0])]
    m0, m1 = traffic.warmup, traffic.warmup + traffic.measure
    stop = m1 + traffic.drain
    inj_cycle, inj_row = schedule(dest, nc, traffic.rate, stop, traffic.seed)
    n = inj_cycle.size
    done = np.full(n, -1, np.int64)
    vcs = spec.virtual_channels
    queues: list[deque] = [deque() for _ in range(len(links) * vcs)]
    no_pops = [0] * len(queues)
    link_load = np.zeros(len(links), np.int64)
    link_meas = np.zeros(len(links), np.int64)
    received = np.zeros(nc)
    outstanding = int(np.count_nonzero((inj_cycle >= m0) & (inj_cycle < m1)))

    def finish(idx, cyc):
        nonlocal outstanding
        done[idx] = cyc
        outstanding -= m0 <= inj_cycle[idx] < m1

    def arrive(p, v, cyc):
        received[v] += p.src.by_core[v][0].size
        p.remaining -= 1
        if p.remaining == 0:
            finish(p.idx, cyc)

    q, cyc, injecting, stopped = 0, 0, True, stop
    while True:
        if cyc == m0:
            link_meas -= link_load
        if cyc == m1:
            link_meas += link_load
        while injecting and q < n and inj_cycle[q] == cyc:
            src = rows[inj_row[q]]
            if src.core in src.by_core:
                received[src.core] += src.by_core[src.core][0].size
            if not src.remote:
                finish(q, cyc)
            else:
                p = _Packet(src, q)
                for w in src.children[src.core]:
                    queues[vc_queue(queues, no_pops, link_of[(src.core, w)], vcs)].append([p, cyc])
            q += 1
        serve_cycle(cyc, queues, links, link_of, spec, link_load, arrive, lambda p, v: None)
        cyc += 1
        if injecting and cyc >= m1 and (outstanding == 0 or cyc >= stop):
            injecting, stopped = False, cyc
        if not injecting and not any(queues):
            break
    if cyc <= m1:
        link_meas += link_load
    sent = inj_cycle < stopped
    hops = np.array([r.max_depth for r in rows], np.int64)
    tree_links = np.array([sum(len(k) for k in r.children.values()) for r in rows], np.int64)
    conserved = (bool(np.all(done[sent] >= inj_cycle[sent])) and received.sum() == m.indptr[inj_row[sent] + 1].sum()
                 - m.indptr[inj_row[sent]].sum() and link_load.sum() == tree_links[inj_row[sent]].sum())
    return measure(spec, traffic, born=inj_cycle[sent], done=done[sent], hops=hops[inj_row[sent]],
                   stopped=stopped, link_meas=link_meas, conserved=conserved, cycles=cyc,
                   zero_load=zero_load_latency(spec, dest, hops))
