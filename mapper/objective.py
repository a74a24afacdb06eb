"""The mapping objectives and the problem data every solver shares.

Traffic objective (default): sum over sources s (every input, rooted at
``spec.io_core``, and every neuron, rooted at its core) of
``rate(s) x routers of the multicast tree from core(s) to the cores holding s's
targets``, with the simulator's routing trees (``mosaic.topology``): a packet
is counted once per router it traverses, shared branches once.  Multiplied by
``spec.e_router_pj`` it is the routing energy per step in pJ.

Synapse objective (Mosaic's training penalty, Dalgaty et al. 2024): sum over
synapses of ``|w| x M(h)``, ``M = mosaic.topology.hop_penalty`` (h the raw router
count between the two cores, inputs at ``spec.io_core``; beta = 8, clipped at e^15,
as EIS-Hub/Mosaic's ``generate_mosaic_mask``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

from mosaic import HardwareSpec, SpikingNetwork
from mosaic.topology import hop_matrix, hop_penalty, topology, tree_walk

from .errors import MappingError


@dataclass(frozen=True, eq=False)
class Problem:
    """Arrays describing one mapping instance (sources = inputs first, then neurons)."""

    n_inputs: int
    n_neurons: int
    n_cores: int
    n_nodes: int
    n_links: int
    io_core: int
    tgt_ptr: np.ndarray     # (n_src+1,) CSR of source -> target neurons
    tgt_idx: np.ndarray
    pred_ptr: np.ndarray    # (n_neurons+1,) CSR of neuron -> sources targeting it
    pred_idx: np.ndarray
    rates: np.ndarray       # (n_src,) spikes per step
    parent: np.ndarray      # (n_cores, n_nodes) routing-tree parents
    parent_link: np.ndarray
    hops: np.ndarray        # (n_cores, n_cores)

    @property
    def n_src(self) -> int:
        return self.n_inputs + self.n_neurons

    def roots(self, core_of: np.ndarray) -> np.ndarray:
        """Root core of every source."""
        return np.concatenate([np.full(self.n_inputs, self.io_core, np.int64), core_of]).astype(np.int64)


def source_rates(net: SpikingNetwork, rates=None) -> np.ndarray:
    """Spikes per step of every source (inputs first): ``rates`` is None (1 each),
    an array of n_neurons (inputs 1) or n_inputs + n_neurons, or an object with
    ``.rates`` (n_neurons,) and ``.input_rates`` (n_inputs,) such as a RunReport."""
    n_in, n = net.n_inputs, net.n_neurons
    if rates is None:
        return np.ones(n_in + n)
    if hasattr(rates, "rates"):
        r = np.asarray(rates.rates, dtype=np.float64)
        ri = getattr(rates, "input_rates", None)
        ri = np.ones(n_in) if ri is None else np.asarray(ri, dtype=np.float64)
        if r.shape != (n,) or ri.shape != (n_in,):
            raise MappingError(f"rates object has rates {r.shape} and input_rates {ri.shape}; "
                               f"the network has {n} neurons and {n_in} inputs")
        out = np.concatenate([ri, r])
    else:
        a = np.asarray(rates, dtype=np.float64)
        if a.shape == (n,):
            out = np.concatenate([np.ones(n_in), a])
        elif a.shape == (n_in + n,):
            out = a.copy()
        else:
            raise MappingError(f"rates has shape {a.shape}; expected ({n},) per neuron or "
                               f"({n_in + n},) inputs first, or a RunReport")
    if not np.all(np.isfinite(out)) or np.any(out < 0):
        raise MappingError("rates must be finite and >= 0 spikes per step")
    return out


def build_problem(net: SpikingNetwork, spec: HardwareSpec, rates=None) -> Problem:
    """Gather the connectivity, rates and routing trees of one instance."""
    conn = sp.vstack([net.w_in, net.w]).tocsr()
    conn.eliminate_zeros()
    conn = (conn != 0).astype(np.int8).tocsr()
    conn.sort_indices()
    pred = conn.T.tocsr()
    pred.sort_indices()
    t = topology(spec)
    return Problem(net.n_inputs, net.n_neurons, spec.n_cores, t.n_nodes, len(t.links), spec.io_core,
                   conn.indptr.astype(np.int64), conn.indices.astype(np.int64),
                   pred.indptr.astype(np.int64), pred.indices.astype(np.int64),
                   source_rates(net, rates), np.ascontiguousarray(t.parent, dtype=np.int64),
                   np.ascontiguousarray(t.parent_link, dtype=np.int64), hop_matrix(spec).astype(np.int64))


@numba.njit(cache=True)
def tree_costs(roots, core_of, tgt_ptr, tgt_idx, parent, n_cores, n_nodes):
    """Routers of every source's multicast tree (int64 per source; ``mosaic.topology.tree_walk``)."""
    n_src = roots.size
    out = np.zeros(n_src, np.int64)
    dest = core_of[tgt_idx]
    mark = np.full(n_nodes, -1, np.int64)
    nodes = np.empty(n_nodes, np.int64)
    for s in range(n_src):
        r = roots[s]
        c = 0
        for i in range(tree_walk(parent[r], r, dest[tgt_ptr[s]:tgt_ptr[s + 1]], s, mark, nodes)):
            if nodes[i] >= n_cores:
                c += 1
        out[s] = c
    return out


@numba.njit(cache=True)
def tree_loads(roots, core_of, tgt_ptr, tgt_idx, parent, parent_link, weights, n_nodes, n_links):
    """Walk every source's tree once (``mosaic.topology.tree_walk``): ``(node_load,
    link_sources)``, the sum of ``weights[s]`` over the sources whose tree contains each
    node (the source's own tile excluded) and the number of distinct sources using each
    directed link."""
    node = np.zeros(n_nodes)
    link = np.zeros(n_links, np.int64)
    dest = core_of[tgt_idx]
    mark = np.full(n_nodes, -1, np.int64)
    nodes = np.empty(n_nodes, np.int64)
    for s in range(roots.size):
        r = roots[s]
        for i in range(tree_walk(parent[r], r, dest[tgt_ptr[s]:tgt_ptr[s + 1]], s, mark, nodes)):
            v = nodes[i]
            node[v] += weights[s]
            link[parent_link[r, v]] += 1
    return node, link


def _core_array(core_of, n_neurons: int, n_cores: int) -> np.ndarray:
    c = np.asarray(getattr(core_of, "core_of", core_of))
    if c.shape != (n_neurons,) or not np.issubdtype(c.dtype, np.integer) and not np.all(c == np.round(c)):
        raise MappingError(f"core_of must hold one whole core index per neuron ({n_neurons},), got shape {c.shape}")
    c = c.astype(np.int64)
    if c.size and (c.min() < 0 or c.max() >= n_cores):
        bad = int(np.flatnonzero((c < 0) | (c >= n_cores))[0])
        raise MappingError(f"neuron {bad} is on core {c[bad]}, outside 0..{n_cores - 1}")
    return c


def problem_cost(p: Problem, core_of: np.ndarray) -> float:
    """The traffic objective of ``core_of`` on a built problem."""
    costs = tree_costs(p.roots(core_of), core_of, p.tgt_ptr, p.tgt_idx, p.parent, p.n_cores, p.n_nodes)
    return float(np.dot(p.rates, costs))


def traffic_cost(net: SpikingNetwork, spec: HardwareSpec, core_of, rates=None) -> float:
    """Spike traffic x routers (routers traversed per step, rate-weighted): the
    default mapping objective, equal to ``placement.objective``."""
    p = build_problem(net, spec, rates)
    return problem_cost(p, _core_array(core_of, net.n_neurons, spec.n_cores))


def router_load(net: SpikingNetwork, spec: HardwareSpec, core_of, rates=None) -> np.ndarray:
    """(n_nodes,) packets per step through every node of ``mosaic.topology(spec)``
    (tiles first; a tile's entry counts the packets it receives or injects)."""
    p = build_problem(net, spec, rates)
    c = _core_array(core_of, net.n_neurons, spec.n_cores)
    return tree_loads(p.roots(c), c, p.tgt_ptr, p.tgt_idx, p.parent, p.parent_link, p.rates, p.n_nodes,
                      p.n_links)[0]


def port_loads(p: Problem, core_of: np.ndarray) -> np.ndarray:
    """Distinct sources using each directed link of the router graph."""
    return tree_loads(p.roots(core_of), core_of, p.tgt_ptr, p.tgt_idx, p.parent, p.parent_link, p.rates,
                      p.n_nodes, p.n_links)[1]


def synapse_cost(net: SpikingNetwork, spec: HardwareSpec, core_of) -> float:
    """Mosaic's per-synapse cost sum |w| x M(h) (inputs at the I/O core)."""
    c = _core_array(core_of, net.n_neurons, spec.n_cores)
    m = hop_penalty(spec)
    w = net.w.tocoo()
    wi = net.w_in.tocoo()
    return float(np.sum(np.abs(w.data) * m[c[w.row], c[w.col]])
                 + np.sum(np.abs(wi.data) * m[spec.io_core, c[wi.col]]))
