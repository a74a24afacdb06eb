"""A graph of neuron populations and linear maps, compiled into the chip IR.

The common ground of NIR import (``models.nir_io``) and snnTorch export
(``models.export``): ``Source`` nodes (network inputs), ``Neurons`` (a population of
chip neurons), ``Map`` (a linear node: dense weights, a convolution, pooling, a scale,
a reshape; ``build(in_shape)`` gives its matrix) and ``Sink`` (an output).  Edges carry
tensors; several edges into one node add up (fan-in sums).  ``compile_graph`` composes
every chain of maps between two populations (or an input and a population) into one
sparse weight block, so the chip sees only neuron-to-neuron synapses.

Time: every neuron-to-neuron synapse on the chip delays one step, an input synapse none.
A cycle must pass through a population (a recurrent edge then reads the previous step,
as in snnTorch's ``RLeaky``); a cycle of maps alone is refused.  A population on a
longest path of ``d`` populations from the input integrates ``d - 1`` steps after
snnTorch's same-step evaluation; a skip edge between populations whose depths differ by
more than one therefore arrives early on the chip (``early_edges`` lists them).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from mosaic import SpikingNetwork
from mosaic.errors import MosaicGrowError

from .errors import ModelError
from .unroll import conv_matrix, pool_matrix


class GraphError(ModelError):
    """A graph that does not compile: unknown node, shape mismatch, cycle without neurons."""


@dataclass
class Source:
    """Network input of ``shape`` (flattened in C order onto consecutive input indices)."""
    shape: tuple


@dataclass
class Sink:
    """A network output; it must be fed by populations (the chip's outputs are spikes)."""


@dataclass
class Map:
    """A linear node: ``build(in_shape) -> (matrix (in_size, out_size), bias (out_size,), out_shape)``."""
    build: Callable
    kind: str


@dataclass
class Neurons:
    """A population (``mosaic.network`` semantics): input current ``gain * I``; ``bias`` is its
    own drive per step; parameters are scalars or arrays of the population's size.
    ``synaptic``: the input passes a synaptic filter, so a bias arriving on an edge is refused."""
    beta: np.ndarray
    alpha: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray
    gain: np.ndarray
    synaptic: bool
    layer: np.ndarray | None = None
    kind: str = "neurons"


@dataclass
class Graph:
    nodes: dict
    edges: list = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False)  # the shapes and matrices, built once


def _prepared(g: Graph) -> "_Compiler":
    if "compiler" not in g.cache:
        c = _Compiler(g)
        c.shapes()
        g.cache["compiler"] = c
    return g.cache["compiler"]


def dense_map(weight, bias=None, kind: str = "Linear") -> Map:
    """``y = W x + b`` with ``weight`` (out, in)."""
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2:
        raise GraphError(f"{kind} weight must be 2-D (out, in), got shape {w.shape}")
    b = np.zeros(w.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64).reshape(-1)
    if b.shape != (w.shape[0],):
        raise GraphError(f"{kind} bias has shape {b.shape}, expected ({w.shape[0]},)")
    m = sp.csr_matrix(w.T)

    def build(shape):
        if int(np.prod(shape)) != w.shape[1]:
            raise GraphError(f"weight takes {w.shape[1]} inputs, its input has shape {tuple(shape)}")
        return m, b, (w.shape[0],)
    return Map(build, kind)


def identity_map(kind: str = "Identity", reshape: Callable | None = None) -> Map:
    """A reshape (``reshape(shape) -> new shape``) or pass-through."""
    def build(shape):
        n = int(np.prod(shape))
        return sp.identity(n, format="csr"), np.zeros(n), tuple(reshape(shape)) if reshape else tuple(shape)
    return Map(build, kind)


def scale_map(scale, kind: str = "Scale") -> Map:
    """``y = s * x`` elementwise (``s`` a scalar or one value per element): a diagonal."""
    s = np.asarray(scale, dtype=np.float64).reshape(-1)

    def build(shape):
        n = int(np.prod(shape))
        if s.size not in (1, n):
            raise GraphError(f"{s.size} scale values for an input of {n}")
        return sp.diags(np.broadcast_to(s, (n,))).tocsr(), np.zeros(n), tuple(shape)
    return Map(build, kind)


def flatten_map(start_dim: int, end_dim: int, kind: str = "Flatten") -> Map:
    """Merge dimensions ``start_dim..end_dim`` of one sample's shape (no batch dimension)."""
    def reshape(shape):
        nd = len(shape)
        a, z = int(start_dim) % nd, int(end_dim) % nd
        return tuple(shape[:a]) + (int(np.prod(shape[a:z + 1])),) + tuple(shape[z + 1:])
    return identity_map(kind, reshape)


def conv_map(weight, bias, stride, padding, dilation, groups, kind: str) -> Map:
    """A Conv1d/Conv2d (``models.unroll.conv_matrix``) with one bias per output channel (or none)."""
    w = np.asarray(weight, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64).reshape(-1)

    def build(shape):
        m, out = conv_matrix(w, shape, stride, padding, dilation, groups)
        if b is not None and b.size not in (1, out[0]):
            raise GraphError(f"bias has {b.size} values for {out[0]} output channels")
        per = int(np.prod(out[1:]))
        return m, np.zeros(m.shape[1]) if b is None else np.repeat(np.broadcast_to(b, (out[0],)), per), out
    return Map(build, kind)


def pool_map(kernel_size, stride, padding, average: bool, kind: str) -> Map:
    """2-D sum or average pooling (``models.unroll.pool_matrix``)."""
    def build(shape):
        m, out = pool_matrix(shape, kernel_size, stride, padding, average=average)
        return m, np.zeros(m.shape[1]), out
    return Map(build, kind)


def natural_key(key: str):
    """Sort key with embedded numbers compared as numbers ("2.lif" < "10.lif")."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(key))]


def _order(g: Graph, preds: dict, succ: dict) -> tuple[list[str], set]:
    """Topological order of the nodes after dropping the back edges of a depth-first walk from
    the sources (ties in natural key order), and those back edges."""
    sources = [k for k, n in g.nodes.items() if isinstance(n, Source)]
    back, state = set(), {}
    for s in sources:
        stack = [(s, iter(sorted(succ[s], key=natural_key)))]
        state[s] = 1
        while stack:
            k, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[k] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((k, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(succ[nxt], key=natural_key))))
    lost = [k for k in g.nodes if k not in state]
    if lost:
        raise GraphError(f"nodes {sorted(lost, key=natural_key)} are not reachable from an Input node")
    indeg = {k: sum(1 for p in preds[k] if (p, k) not in back) for k in g.nodes}
    ready = sorted((k for k, d in indeg.items() if d == 0), key=natural_key)
    order = []
    while ready:
        k = ready.pop(0)
        order.append(k)
        for s in succ[k]:
            if (k, s) not in back:
                indeg[s] -= 1
                if indeg[s] == 0:
                    ready.append(s)
                    ready.sort(key=natural_key)
    return order, back


def _broadcast(key: str, name: str, v, shape: tuple) -> np.ndarray:
    """A parameter as one value per neuron: a scalar, the population's size flat, or any shape
    that broadcasts to the population's (e.g. one value per channel, (C, 1, 1))."""
    a = np.asarray(v, dtype=np.float64)
    n = int(np.prod(shape))
    if a.size == n:
        return a.reshape(-1).copy()
    try:
        return np.broadcast_to(a, shape).reshape(-1).copy()
    except ValueError:
        raise GraphError(f"node {key!r}: {name} has shape {a.shape}, expected a scalar, {n} values or a shape "
                         f"broadcasting to {tuple(shape)}") from None


class _Compiler:
    def __init__(self, g: Graph):
        self.g = g
        self.preds = {k: [] for k in g.nodes}
        self.succ = {k: [] for k in g.nodes}
        for a, b in g.edges:
            if a not in g.nodes or b not in g.nodes:
                raise GraphError(f"edge ({a!r}, {b!r}) names a node the graph does not have")
            if b not in self.succ[a]:
                self.succ[a].append(b)
                self.preds[b].append(a)
        if not any(isinstance(n, Source) for n in g.nodes.values()):
            raise GraphError("the graph has no Input node")
        self.order, self.back = _order(g, self.preds, self.succ)
        self.shape: dict = {}
        self.mats: dict = {}
        self.expr: dict = {}

    def shapes(self) -> None:
        for k in self.order:
            node = self.g.nodes[k]
            fwd = [p for p in self.preds[k] if (p, k) not in self.back]
            if isinstance(node, Source):
                if self.preds[k]:
                    raise GraphError(f"Input node {k!r} has incoming edges")
                self.shape[k] = tuple(int(s) for s in node.shape)
                continue
            sizes = {p: int(np.prod(self.shape[p])) for p in fwd}
            if len(set(sizes.values())) > 1:
                raise GraphError(f"node {k!r} sums inputs of different sizes {sizes}")
            in_shape = self.shape[fwd[0]]
            if isinstance(node, Map):
                try:
                    self.mats[k] = node.build(in_shape)
                except MosaicGrowError as e:
                    raise GraphError(f"node {k!r} ({node.kind}): {e}") from None
                self.shape[k] = self.mats[k][2]
            else:
                self.shape[k] = in_shape
        for a, b in self.back:
            na, nb = int(np.prod(self.shape[a])), int(np.prod(self.shape[b]))
            if not isinstance(self.g.nodes[b], Map) and na != nb:
                raise GraphError(f"recurrent edge ({a!r}, {b!r}) carries {na} values into a node of {nb}")

    def depths(self) -> dict[str, int]:
        """Longest path in populations from the inputs (inputs 0), recurrent edges left out."""
        if "depth" not in self.__dict__:
            d: dict = {}
            for k in self.order:
                own = 1 if isinstance(self.g.nodes[k], Neurons) else 0
                d[k] = own + max([d[p] for p in self.preds[k] if (p, k) not in self.back], default=0)
            self.depth = d
        return self.depth

    def contribution(self, p: str, stack: tuple = ()) -> tuple[dict, np.ndarray]:
        """What node ``p`` sends: {population or input key: matrix (src_size, size)}, bias."""
        node = self.g.nodes[p]
        if not isinstance(node, Map):
            n = int(np.prod(self.shape[p]))
            return {p: sp.identity(n, format="csr")}, np.zeros(n)
        if p in self.expr:
            return self.expr[p]
        if p in stack:
            raise GraphError(f"the cycle {' -> '.join(stack[stack.index(p):] + (p,))} has no neuron node; "
                             "a recurrent edge must pass through neurons (one step delay)")
        m, b, _ = self.mats[p]
        terms, b_in = self.gather(p, stack + (p,))
        self.expr[p] = ({s: (a @ m).tocsr() for s, a in terms.items()}, b_in @ m + b)
        return self.expr[p]

    def gather(self, k: str, stack: tuple = ()) -> tuple[dict, np.ndarray]:
        """The summed input of node ``k``."""
        terms: dict = {}
        b_in = 0.0
        for p in self.preds[k]:
            t, b = self.contribution(p, stack)
            for s, a in t.items():
                terms[s] = terms[s] + a if s in terms else a
            b_in = b_in + b
        return terms, np.asarray(b_in, dtype=np.float64)

    def check_sinks(self) -> None:
        for k, node in self.g.nodes.items():
            if not isinstance(node, Sink):
                continue
            terms, b = self.gather(k)
            ok = len(terms) == 1 and not np.any(b)
            if ok:
                (s, a), = terms.items()
                ok = isinstance(self.g.nodes[s], Neurons) and a.shape[0] == a.shape[1] and \
                    (a != sp.identity(a.shape[0])).nnz == 0
            if not ok:
                raise GraphError(f"output {k!r} must be fed by the spikes of one neuron node; its input is "
                                 f"{sorted(terms, key=natural_key)} through weights (the chip has no "
                                 "non-spiking read-out)")


RELAY_THRESHOLD = 0.25  # a relay (beta 0, weight 1) fires at t + 1 iff its source fired at t, either reset


@dataclass
class _Block:
    """Consecutive chip neurons: a population or a relay stage; ``inputs`` {source key: matrix}."""
    key: object
    label: np.ndarray
    params: dict
    inputs: dict


def _population_block(c: "_Compiler", k: str) -> _Block:
    node, shape = c.g.nodes[k], c.shape[k]
    m = int(np.prod(shape))
    terms, b_in = c.gather(k)
    gain = _broadcast(k, "gain", node.gain, shape)
    b_in = np.broadcast_to(b_in, (m,))
    if node.synaptic and np.any(b_in != 0):
        raise GraphError(f"node {k!r}: a bias on an edge into a synaptic (current-based) population is "
                         "filtered by its synapse on the other side but added to the membrane on the chip; "
                         "drive the membrane instead (NIR: v_leak)")
    params = {name: _broadcast(k, name, getattr(node, name), shape) for name in ("beta", "alpha", "threshold")}
    params["bias"] = _broadcast(k, "bias", node.bias, shape) + gain * b_in
    label = _broadcast(k, "layer", node.layer, shape) if node.layer is not None else np.full(m, c.depths()[k] - 1)
    return _Block(k, label, params, {s: (a @ sp.diags(gain)).tocsr() for s, a in terms.items()})


def _add_relays(blocks: list[_Block], depth: dict, sizes: dict) -> list[_Block]:
    """Route every skip from a population of depth ``d_s`` into one of depth ``d > d_s + 1``
    through ``d - d_s - 1`` relay stages (shared per source), so it arrives when snnTorch's does."""
    need: dict = {}
    for b in blocks:
        for s in list(b.inputs):
            gap = depth[b.key] - 1 - depth.get(s, depth[b.key])
            if s in sizes and gap > 0:
                need[s] = max(need.get(s, 0), gap)
                b.inputs[("relay", s, gap)] = b.inputs.pop(s)
    relays = []
    for s, g in need.items():
        n = sizes[s]
        eye = sp.identity(n, format="csr")
        for j in range(1, g + 1):
            params = {"beta": np.zeros(n), "alpha": np.zeros(n), "threshold": np.full(n, RELAY_THRESHOLD),
                      "bias": np.zeros(n)}
            relays.append(_Block(("relay", s, j), np.full(n, depth[s] - 1 + j), params,
                                 {s if j == 1 else ("relay", s, j - 1): eye}))
    if not relays:
        return blocks
    return sorted(blocks + relays, key=lambda b: int(b.label[0]))


def compile_graph(g: Graph, reset: str, population_order: list[str] | None = None, *,
                  relays: bool = False) -> SpikingNetwork:
    """The ``SpikingNetwork`` of ``g``: populations by depth, then in topological order (or in
    ``population_order``), inputs in Source order; layer label ``depth - 1`` (the steps the
    population lags snnTorch on the chip; a chain's populations are 0..L-1), or their own.
    ``relays``: delay skip connections between populations with relay neurons (beta 0,
    threshold ``RELAY_THRESHOLD``, weight 1; ``_add_relays``), labelled by the depth they sit at."""
    c = _prepared(g)
    c.check_sinks()
    depth = c.depths()
    pops = sorted((k for k in c.order if isinstance(g.nodes[k], Neurons)), key=lambda k: depth[k])
    if population_order is not None and sorted(population_order) == sorted(pops):
        pops = list(population_order)
    if not pops:
        raise GraphError("the graph has no neuron node")
    blocks = [_population_block(c, k) for k in pops]
    if relays:
        blocks = _add_relays(blocks, depth, {k: int(np.prod(c.shape[k])) for k in pops})
    sources = [k for k, n in g.nodes.items() if isinstance(n, Source)]
    in_off = dict(zip(sources, np.cumsum([0] + [int(np.prod(c.shape[k])) for k in sources]).tolist()))
    off = dict(zip([b.key for b in blocks], np.cumsum([0] + [b.label.size for b in blocks]).tolist()))
    n, n_in = int(sum(b.label.size for b in blocks)), int(sum(np.prod(c.shape[k]) for k in sources))
    w_parts, w_in_parts = [], []
    for b in blocks:
        for s, a in b.inputs.items():
            blk = a.tocoo()
            parts, base = (w_in_parts, in_off[s]) if s in in_off else (w_parts, off[s])
            parts.append((blk.row + base, blk.col + off[b.key], blk.data))

    def assemble(parts, rows):
        if not parts:
            return sp.csr_matrix((rows, n))
        r, cc, d = (np.concatenate(x) for x in zip(*parts))
        m = sp.csr_matrix((d, (r, cc)), shape=(rows, n))
        m.eliminate_zeros()
        return m
    v = {f: np.concatenate([b.params[f] for b in blocks]) for f in ("beta", "alpha", "threshold", "bias")}
    try:
        return SpikingNetwork(assemble(w_in_parts, n_in), assemble(w_parts, n), v["beta"], v["threshold"],
                              alpha=v["alpha"], bias=v["bias"], reset=reset,
                              layer=np.round(np.concatenate([b.label for b in blocks])).astype(np.int64))
    except MosaicGrowError as e:
        raise GraphError(str(e)) from None


def early_edges(g: Graph) -> list[tuple[str, str]]:
    """(source, population) pairs whose synapses reach the population earlier on the chip than in
    snnTorch's same-step evaluation: a skip over populations.  Depth: longest path in
    populations from the inputs (inputs 0), recurrent edges left out; the chip integrates a
    population of depth ``d`` ``d - 1`` steps late, so a source of depth ``< d - 1`` is early."""
    c = _prepared(g)
    depth = c.depths()
    early = []
    for k in c.order:
        if isinstance(g.nodes[k], Neurons):
            early += [(s, k) for s in c.gather(k)[0] if s != k and depth[s] < depth[k] - 1]
    return early
