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
from .simstate import neuron_params, neuron_state, record
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
    def __init__(self, src: _Source):
        self.src = src
        self.remaining = len(src.remote)
        self.late = False


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
    inputs = [source(spec.io_core, net.w_in, j) for j in range(net.n_inputs)] if prep.spiking_input else []

    prm = neuron_params(net, dt)
    beta, alpha, thr, bias, refr = prm.beta, prm.alpha, prm.thr, prm.bias, prm.refr
    mem, syn, prev, ref_left = neuron_state(prep.mem0, prm)
    rec = record(T, n, topo.n_routers, len(links))
    spikes, latency, router_load, link_load = rec.spikes, rec.latency, rec.router_load, rec.link_load
    c = {"injected": 0, "delivered": 0, "late": 0, "dropped": 0, "synaptic_ops": 0,
         "router_traversals": 0, "input_packets": 0}
    queues: list[deque] = [deque() for _ in links]      # entries [packet, ready cycle]
    S, cph, bw, depth = spec.step_cycles, spec.cycles_per_hop, spec.bandwidth, spec.buffer_depth

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
                queues[link_of[(src.core, w)]].append([p, w0])
        if routing == "cycle":
            for cyc in range(w0, w0 + S):
                busy = [L for L in range(len(links)) if queues[L]]
                if not busy:
                    break
                popped = [0] * len(links)
                for L in busy:
                    q = queues[L]
                    v = links[L][1]
                    for _ in range(bw):
                        if not q or q[0][1] > cyc:
                            break
                        p = q[0][0]
                        if v < nc:
                            deliver(I, p.src, v)
                            p.remaining -= 1
                            if p.remaining == 0:
                                c["delivered"] += 1
                            last = cyc - w0
                        else:
                            nxt = [link_of[(v, w)] for w in p.src.children[v]]
                            if any(len(queues[X]) + popped[X] >= depth for X in nxt):
                                break
                            for X in nxt:
                                queues[X].append([p, cyc + cph])
                            router_load[v - nc] += 1
                            c["router_traversals"] += 1
                        q.popleft()
                        popped[L] += 1
                        link_load[L] += 1
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
        # neuron update of step t
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
        ref_left = np.where(refractory, ref_left - 1, np.where(spk, refr, 0))
        spikes[t] = spk
        prev = spk
    in_flight = len({id(e[0]) for q in queues for e in q})
    return finish_report(net, spec, prep, spikes=spikes, counters={**c, "in_flight": in_flight},
                         router_load=router_load, link_load=link_load, step_latency=latency,
                         final_mem=mem, routing=routing, late=late,
                         wall_s=time.perf_counter() - t_start)
