"""NIR (Neuromorphic Intermediate Representation) import and export.

Import (``from_nir``): any graph of ``Input``, ``Output``, ``Affine``, ``Linear``,
``Scale``, ``Flatten``, ``Conv1d``, ``Conv2d``, ``SumPool2d``, ``AvgPool2d`` (linear
nodes, unrolled into sparse synapse matrices by ``models.unroll``) and ``LIF``,
``CubaLIF``, ``IF`` (neurons), nested ``NIRGraph`` nodes included: fan-in sums, skip
connections and recurrent edges through neuron nodes (one step delay, as on the chip;
``models.graph``).  ``Delay`` is refused (every synapse of the simulator delays exactly
one step), so is any other node type, with its name and type.

Discretisation (forward Euler with step ``dt``, the convention of
``snntorch.export_to_nir``, which uses dt = 1e-4 s): a ``LIF`` with ``tau``, ``r``,
``v_leak`` is ``beta = 1 - dt/tau``, its input scaled by ``r*dt/tau`` and a constant drive
``bias = v_leak*dt/tau`` per step; ``CubaLIF`` adds ``alpha = 1 - dt/tau_syn`` and the
input gain ``w_in*dt/tau_syn``; ``IF`` is ``beta = 1`` with gain ``r*dt``.  Gains within
1e-5 of 1 are taken as exactly 1 (float32 noise of exporters).

Reset: NIR neurons reset to ``v_reset`` (only 0 is supported), i.e. "zero".  snnTorch
subtracts by default and its export does not record it (such a file imports with "zero"
and differs from snnTorch), so a graph without ``metadata['reset']`` warns
(:class:`NIRResetWarning`) unless ``reset=`` is given; graphs we write record ``dt``,
``reset`` and the exact beta/alpha/bias/layer labels in their metadata.

Export (``to_nir``): a layered network (populations 0..L-1, inputs into 0, synapses
l -> l+1 and within a layer) becomes the chain snnTorch writes, ``input -> fc0 -> lif0 ->
fc1 -> ...`` with a recurrent ``lif{l} -> rec{l} -> id{l} -> lif{l}`` loop where a layer
has synapses inside it; snnTorch's output at step t is the chip's at step t + L - 1 (a bias
on a layer l >= 1 drives it on the chip from step 0, l steps early, see ``models.readout``).  Any
other network becomes one population per run of neurons of one kind (IF / LIF / CubaLIF;
``lif0`` alone when all are alike), every synapse within it in its recurrent loop: snnTorch
runs a one-kind network step for step with the chip; between populations of different
kinds snnTorch passes spikes within the step where the chip takes one, so a mixed network
round-trips through our ``from_nir`` exactly but is not step-exact in snnTorch.
``id{l}`` is an identity ``Flatten``: snnTorch's ``import_from_nir`` folds a two-node loop
``lif <-> rec`` into a subgraph that feeds the input through ``rec``, a three-node loop it
runs correctly.  Run an export in snnTorch with ``to_snntorch`` (its importer, with the
neurons set to the graph's reset).
"""
from __future__ import annotations

import contextlib
import copy
import io
import warnings
from pathlib import Path

import h5py
import nir
import numpy as np
import snntorch as snn
import torch
from snntorch.import_nir import import_from_nir

from mosaic import SpikingNetwork

from .errors import ModelError
from .export import ExportError, _labelled
from .graph import (Graph, GraphError, Neurons, Sink, Source, compile_graph, conv_map, dense_map, early_edges,
                    flatten_map, identity_map, pool_map, scale_map)

SNNTORCH_DT = 1e-4  # s; snntorch.export_nir
_NEURONS = (nir.LIF, nir.CubaLIF, nir.IF)
_SUPPORTED = ("Input, Output, Affine, Linear, Scale, Flatten, Conv1d, Conv2d, SumPool2d, AvgPool2d, "
              "LIF, CubaLIF, IF, NIRGraph")


class NIRError(ModelError):
    """A NIR graph the chip cannot run, or a network NIR cannot hold."""


class NIRResetWarning(UserWarning):
    """A NIR graph that does not say how its neurons reset."""


# -- import ------------------------------------------------------------------------
def _read(graph_or_path) -> nir.NIRGraph:
    if isinstance(graph_or_path, (str, Path)):
        path = Path(graph_or_path)
        if not path.is_file():
            raise NIRError(f"{path}: no such NIR file")
        try:
            graph = nir.read(str(path))
            with h5py.File(path, "r") as f:
                stored = set(f["node/nodes"].keys())
        except Exception as e:  # h5py/KeyError/ValueError from a foreign or broken file
            raise NIRError(f"{path}: not a readable NIR file ({type(e).__name__}: {e})") from None
        added = sorted(set(graph.nodes) - stored)      # nir's reader gives a loose end its own Input/Output
        if added:
            raise NIRError(f"{path}: node {added[0]!r} is not in the file: a node is fed by nothing or feeds "
                           "nothing (an edge or a node is missing)")
    else:
        graph = graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise NIRError(f"from_nir needs a nir.NIRGraph or a path, got {type(graph).__name__}")
    return graph


def _flatten(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict, list]:
    """Nodes and edges with nested graphs inlined as ``{key}.{inner key}``; their Input and
    Output nodes become pass-throughs (``None`` values)."""
    nodes, edges, ports = {}, [], {}
    for key, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            inner, inner_edges = _flatten(node, f"{prefix}{key}.")
            ins = [k for k, n in node.nodes.items() if isinstance(n, nir.Input)]
            outs = [k for k, n in node.nodes.items() if isinstance(n, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NIRError(f"nested graph {prefix}{key!r} needs one Input and one Output, got "
                               f"{len(ins)} and {len(outs)}")
            for k in (ins[0], outs[0]):
                inner[f"{prefix}{key}.{k}"] = None
            nodes.update(inner)
            edges += inner_edges
            ports[key] = (f"{prefix}{key}.{ins[0]}", f"{prefix}{key}.{outs[0]}")
        else:
            nodes[f"{prefix}{key}"] = node
    for a, b in graph.edges:  # an edge names a nested graph by its key or "key.port"
        edges.append((ports[a][1] if a in ports else f"{prefix}{a}", ports[b][0] if b in ports else f"{prefix}{b}"))
    return nodes, edges


def _arr(key: str, node, name: str, finite: bool = False) -> np.ndarray:
    """A numeric parameter as float64; booleans, text, objects and NaN are refused, so is
    inf if ``finite`` (weights; a time constant may be inf: no leak)."""
    a = np.asarray(getattr(node, name))
    if a.dtype.kind not in "iuf":
        raise NIRError(f"node {key!r}: {name} must hold numbers, got {a.dtype} values")
    a = a.astype(np.float64)
    bad = ~np.isfinite(a) if finite else np.isnan(a)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NIRError(f"node {key!r}: {name} holds {a[at]} at {at}; replace it with a finite number")
    return a


def _snap(g: np.ndarray) -> np.ndarray:
    return np.where(np.abs(g - 1.0) <= 1e-5, 1.0, g)


def _from_meta(node, name: str, derived: np.ndarray) -> np.ndarray:
    """The exact value stored in our metadata when it agrees with the derived one."""
    m = getattr(node, "metadata", None) or {}
    if name in m:
        v = np.asarray(m[name], dtype=np.float64)
        if v.size == derived.size and np.allclose(v.reshape(-1), derived.reshape(-1), rtol=1e-9, atol=1e-12):
            return v.reshape(derived.shape)
    return derived


def _neurons(key: str, node, dt: float) -> Neurons:
    """A population from a NIR neuron node discretised with step ``dt`` (module docstring)."""
    v_reset = getattr(node, "v_reset", None)
    if v_reset is not None and np.any(np.asarray(v_reset) != 0):
        raise NIRError(f"node {key!r}: v_reset != 0 is not supported (the chip resets to 0 or subtracts)")
    with np.errstate(divide="ignore", invalid="ignore"):
        if isinstance(node, nir.IF):
            beta, alpha, bias = np.ones(1), np.zeros(1), np.zeros(1)
            gain = _snap(_arr(key, node, "r") * dt)
        elif isinstance(node, nir.LIF):
            tau = _arr(key, node, "tau")
            beta, alpha = _from_meta(node, "beta", 1.0 - dt / tau), np.zeros(1)
            gain = _snap(_arr(key, node, "r") * dt / tau)
            bias = _from_meta(node, "bias", _arr(key, node, "v_leak") * dt / tau)
        else:
            ts, tm = _arr(key, node, "tau_syn"), _arr(key, node, "tau_mem")
            alpha, beta = _from_meta(node, "alpha", 1.0 - dt / ts), _from_meta(node, "beta", 1.0 - dt / tm)
            gain = _snap(_arr(key, node, "w_in") * dt / ts) * _snap(_arr(key, node, "r") * dt / tm)
            bias = _from_meta(node, "bias", _arr(key, node, "v_leak") * dt / tm)
    taus = [np.asarray(getattr(node, f)) for f in ("tau", "tau_mem", "tau_syn") if hasattr(node, f)]
    if taus and all(t.dtype == np.float32 for t in taus):  # a float32 model's decay factors are float32 numbers
        beta, alpha = (np.float32(v).astype(np.float64) for v in (beta, alpha))
    for name, v in (("beta", beta), ("alpha", alpha)):
        if np.any((v < -1e-12) | (v > 1 + 1e-12)) or not np.all(np.isfinite(v)):
            raise NIRError(f"node {key!r}: {name} = 1 - dt/tau outside [0, 1] for dt = {dt}; "
                           "pass the dt the graph was made with")
    meta = getattr(node, "metadata", None) or {}
    layer = meta.get("layer")
    if layer is not None:
        lab = np.asarray(layer)
        if lab.dtype.kind not in "iuf" or not np.all(np.isfinite(lab) & (lab >= 0) & (lab == np.round(lab))):
            raise NIRError(f"node {key!r}: metadata layer must hold whole numbers >= 0, got {lab.reshape(-1)[:4]}")
    return Neurons(np.clip(beta, 0, 1), np.clip(alpha, 0, 1), _arr(key, node, "v_threshold"), bias, gain,
                   synaptic=isinstance(node, nir.CubaLIF), layer=layer, kind=type(node).__name__)


def _node(key: str, node, dt: float):
    """The ``models.graph`` node of one NIR node."""
    kind = type(node).__name__
    if node is None:
        return identity_map("NIRGraph port")
    if isinstance(node, nir.Input):
        shape = np.asarray(next(iter(node.input_type.values()), []), dtype=np.int64).reshape(-1)
        if shape.size == 0:
            raise NIRError(f"Input node {key!r} has no shape")
        return Source(tuple(shape.tolist()))
    if isinstance(node, nir.Output):
        return Sink()
    if isinstance(node, _NEURONS):
        return _neurons(key, node, dt)
    if isinstance(node, (nir.Affine, nir.Linear)):
        bias = _arr(key, node, "bias", finite=True) if isinstance(node, nir.Affine) else None
        return dense_map(_arr(key, node, "weight", finite=True), bias, kind)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        return conv_map(_arr(key, node, "weight", finite=True), _arr(key, node, "bias", finite=True), node.stride,
                        node.padding, node.dilation, node.groups, kind)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        return pool_map(node.kernel_size, node.stride, node.padding, kind == "AvgPool2d", kind)
    if isinstance(node, nir.Scale):
        return scale_map(_arr(key, node, "scale", finite=True))
    if isinstance(node, nir.Flatten):
        return flatten_map(node.start_dim, node.end_dim)
    if isinstance(node, nir.Delay):
        raise NIRError(f"node {key!r} of type Delay: the simulator delays every synapse by exactly one step "
                       "and has no per-synapse delays; remove the Delay or fold it into the schedule")
    raise NIRError(f"unsupported NIR node {key!r} of type {kind}; supported: {_SUPPORTED}")


def _reset_of(meta: dict, reset: str | None, what: str) -> str:
    if reset is not None:
        return reset
    if "reset" in meta:
        r = meta["reset"]
        r = r.decode(errors="replace") if isinstance(r, bytes) else str(r)
        if r not in ("subtract", "zero"):
            raise NIRError(f"{what}: metadata reset must be 'subtract' or 'zero', got {r!r}")
        return r
    warnings.warn(f"{what} carries no reset information: reading NIR's reset to v_reset (reset='zero'); "
                  "snnTorch's export_to_nir does not record its default 'subtract', so pass "
                  "reset='subtract' (CLI: --reset subtract) for such files, or reset='zero' to silence this",
                  NIRResetWarning, stacklevel=3)
    return "zero"


def from_nir(graph_or_path, *, dt: float | None = None, reset: str | None = None,
             relays: bool = False) -> SpikingNetwork:
    """The ``SpikingNetwork`` of a NIR graph or NIR HDF5 file (module docstring).

    ``dt`` (s) defaults to the graph's ``metadata['dt']``, else snnTorch's 1e-4; ``reset``
    ("subtract" or "zero") to ``metadata['reset']``, else "zero" with a
    :class:`NIRResetWarning`.  Layer labels: a neuron node's depth - 1 (longest path in neuron
    nodes from the input; the steps it lags snnTorch on the chip), or our recorded labels.  A
    skip connection that reaches a population earlier on the chip than in snnTorch
    (``models.graph.early_edges``) warns, unless ``relays`` delays it with relay neurons
    (``models.graph.compile_graph``; a skip from the input itself cannot be delayed so).
    """
    graph = _read(graph_or_path)
    meta = graph.metadata or {}
    raw = meta.get("dt", SNNTORCH_DT) if dt is None else dt
    try:
        dt = float(raw)
    except (TypeError, ValueError):
        raise NIRError(f"from_nir: dt must be a number of seconds, got {raw!r}") from None
    if not (np.isfinite(dt) and dt > 0):
        raise NIRError(f"from_nir: dt must be a finite number of seconds > 0, got {dt}")
    if reset is not None and reset not in ("subtract", "zero"):
        raise NIRError(f"from_nir: reset must be 'subtract' or 'zero', got {reset!r}")
    nodes, edges = _flatten(graph)
    order = meta.get("populations")
    order = None if order is None else (order.decode() if isinstance(order, bytes) else str(order)).split(",")
    try:
        g = Graph({k: _node(k, n, dt) for k, n in nodes.items()}, edges)
        net = compile_graph(g, "zero" if reset is None else reset, order, relays=relays)
        early = [(a, b) for a, b in early_edges(g) if not relays or isinstance(g.nodes[a], Source)]
    except GraphError as e:
        raise NIRError(f"from_nir: {e}") from None
    net.reset = _reset_of(meta, reset, "the NIR graph")
    form = meta.get("form", b"")
    if early and (form.decode() if isinstance(form, bytes) else str(form)) != "populations":  # chip timing
        warnings.warn(f"from_nir: {early[0][0]!r} -> {early[0][1]!r} skips populations: every synapse delays "
                      "one step on the chip, so it arrives earlier than in snnTorch's same-step evaluation"
                      + ("" if relays else "; relays=True delays skips between populations"), stacklevel=2)
    return net


# -- export --------------------------------------------------------------------------
def _neuron_kinds(net: SpikingNetwork) -> np.ndarray:
    """0 (IF: alpha = 0, beta = 1), 1 (LIF: alpha = 0, beta < 1) or 2 (CubaLIF) per neuron."""
    kind = np.where(net.alpha > 0, 2, np.where(net.beta == 1, 0, 1))
    bad = np.flatnonzero((kind == 2) & ((net.alpha >= 1) | (net.beta >= 1)))
    if bad.size:
        j = int(bad[0])
        raise NIRError(f"to_nir: neuron {j} has alpha = {net.alpha[j]}, beta = {net.beta[j]}; a CubaLIF needs "
                       "0 < alpha < 1 and beta < 1 (finite time constants)")
    return kind


def _runs(keys: np.ndarray) -> list[slice]:
    """Maximal runs of equal rows of ``keys`` (n, k)."""
    if not len(keys):
        return []
    cut = np.flatnonzero(np.any(keys[1:] != keys[:-1], axis=1)) + 1
    b = np.concatenate([[0], cut, [len(keys)]])
    return [slice(int(b[i]), int(b[i + 1])) for i in range(len(b) - 1)]


def _is_chain(net: SpikingNetwork, pops: list[slice]) -> bool:
    """Populations labelled 0..L-1 in order, inputs into population 0 only, synapses l -> l+1 or within l."""
    if net.layer is None or [int(net.layer[p.start]) for p in pops] != list(range(len(pops))):
        return False
    if net.w_in.tocsc()[:, pops[0].stop:].nnz:
        return False
    lab = net.layer
    w = net.w.tocoo()
    d = lab[w.col] - lab[w.row]
    return bool(np.all((d == 0) | (d == 1)))


def _neuron_node(net: SpikingNetwork, s: slice, kind: int, dt: float):
    beta, alpha, thr, bias = net.beta[s], net.alpha[s], net.threshold[s].copy(), net.bias[s]
    zeros = np.zeros(len(thr))
    meta = {"beta": beta.copy(), "alpha": alpha.copy(), "bias": bias.copy(),
            "layer": (np.zeros(len(thr), np.int64) if net.layer is None else net.layer[s].copy())}
    if kind == 0:
        return nir.IF(r=np.full(len(thr), 1.0 / dt), v_threshold=thr, v_reset=zeros, metadata=meta)
    tau_mem = dt / (1.0 - beta)
    if kind == 1:
        return nir.LIF(tau=tau_mem, r=tau_mem / dt, v_leak=zeros, v_threshold=thr, v_reset=zeros, metadata=meta)
    tau_syn = dt / (1.0 - alpha)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=bias / (1.0 - beta),
                       v_threshold=thr, v_reset=zeros, w_in=tau_syn / dt, metadata=meta)


MAX_DENSE_WEIGHTS = 2 ** 27  # 1 GiB of float64: NIR's Affine/Linear nodes are dense matrices


def _check_dense_size(net: SpikingNetwork, pops: list[slice]) -> None:
    """Refuse an export whose dense weight blocks (NIR has no sparse Linear) would not fit in memory."""
    size = np.array([p.stop - p.start for p in pops], dtype=np.int64)
    lab = np.repeat(np.arange(len(pops)), size)
    w = net.w.tocoo()
    pairs = set(zip(lab[w.row].tolist(), lab[w.col].tolist()))
    total = net.n_inputs * int(size.sum()) + sum(int(size[a] * size[b]) for a, b in pairs)
    if total > MAX_DENSE_WEIGHTS:
        raise NIRError(f"to_nir: the graph would hold {total:,} dense weights for {net.n_synapses:,} synapses "
                       f"(limit {MAX_DENSE_WEIGHTS:,}; NIR weight nodes are dense); export a smaller network or "
                       "save it with SpikingNetwork.save")


def _weights(w: np.ndarray, bias: np.ndarray | None):
    """Affine when a bias is carried, else Linear; ``w`` is (out, in)."""
    return nir.Affine(weight=w, bias=bias.copy()) if bias is not None and np.any(bias) else nir.Linear(weight=w)


def to_nir(net: SpikingNetwork, *, dt: float = SNNTORCH_DT, sizes: list[int] | None = None) -> nir.NIRGraph:
    """The NIR graph of any ``SpikingNetwork`` (module docstring: layered chain or populations).

    ``sizes`` labels an unlabelled network's layers.  Nodes: ``input``, ``lif{i}`` (IF when
    beta = 1, LIF, or CubaLIF when alpha > 0), weights ``fc{i}`` (chain) or ``in{i}`` and
    ``w{i}_{j}``, recurrent ``rec{i} -> id{i}``, ``output`` (the last population).  The bias
    of an IF/LIF population rides on its input weights (Affine, as snnTorch writes it), a
    CubaLIF's is ``v_leak``.  Refractory periods have no NIR counterpart and raise.
    """
    if not dt > 0:
        raise NIRError(f"to_nir: dt must be > 0 seconds, got {dt}")
    try:
        net = _labelled(net, sizes)
    except ExportError as e:
        raise NIRError(f"to_nir: {e}") from None
    if np.any(net.refractory != 0):
        raise NIRError("to_nir: refractory periods have no NIR LIF/CubaLIF counterpart")
    kinds = _neuron_kinds(net)
    lab = np.zeros(net.n_neurons, np.int64) if net.layer is None else net.layer
    pops = _runs(np.stack([lab, kinds], axis=1))
    chain = _is_chain(net, pops)
    if not chain:
        pops = _runs(kinds[:, None])
    _check_dense_size(net, pops)
    nodes: dict = {"input": nir.Input(input_type={"input": np.array([net.n_inputs])})}
    edges: list = []
    w_in, w = net.w_in.tocsc(), net.w.tocsr()
    for i, s in enumerate(pops):
        kind = int(kinds[s.start])
        nodes[f"lif{i}"] = _neuron_node(net, s, kind, dt)
        bias = net.bias[s] if kind < 2 else None
        src = "input" if i == 0 or not chain else f"lif{i - 1}"
        w_src = w_in[:, s] if src == "input" else w[pops[i - 1], s]
        if w_src.nnz or (bias is not None and np.any(bias)):
            key = f"fc{i}" if chain else f"in{i}"
            nodes[key] = _weights(w_src.toarray().T, bias)
            edges += [(src, key), (key, f"lif{i}")]
        for j, t in enumerate(pops):
            blk = w[t, s]
            if (chain and j != i) or not blk.nnz:
                continue
            if j == i:
                nodes[f"rec{i}"] = nir.Linear(weight=blk.toarray().T)
                nodes[f"id{i}"] = nir.Flatten(input_type={"input": np.array([s.stop - s.start])}, start_dim=0,
                                              end_dim=0)
                edges += [(f"lif{i}", f"rec{i}"), (f"rec{i}", f"id{i}"), (f"id{i}", f"lif{i}")]
            else:
                nodes[f"w{j}_{i}"] = nir.Linear(weight=blk.toarray().T)
                edges += [(f"lif{j}", f"w{j}_{i}"), (f"w{j}_{i}", f"lif{i}")]
    nodes["output"] = nir.Output(output_type={"output": np.array([pops[-1].stop - pops[-1].start])})
    edges.append((f"lif{len(pops) - 1}", "output"))
    meta = {"dt": float(dt), "reset": net.reset, "generator": "mosaic-grow models.nir_io",
            "form": "chain" if chain else "populations", "populations": ",".join(f"lif{i}" for i in range(len(pops)))}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write(path: str | Path, net: SpikingNetwork, *, dt: float = SNNTORCH_DT) -> None:
    """Write ``net`` as a NIR HDF5 file (``nir.write``); nothing is written on error."""
    graph = to_nir(net, dt=dt)
    nir.write(str(path), graph)


def to_snntorch(graph_or_path, *, reset: str | None = None, dt: float | None = None):
    """snnTorch's ``import_from_nir`` of a graph, with its neurons set to the graph's reset.

    snnTorch's importer makes every neuron reset "zero" with ``reset_delay=False`` (and an
    ``IF`` a Leaky with beta 0.9); that matches the chip only for LIF neurons resetting to
    zero.  Here every neuron module is replaced by an ``snn.Leaky``/``snn.Synaptic`` with the
    node's beta, alpha and threshold in float64, the reset of ``reset`` or the graph's
    metadata (``NIRResetWarning`` if neither) and snnTorch's default delayed reset, so the
    module runs spike for spike with the chip (``to_nir``'s timing).  Neurons inside nested
    graphs keep the importer's.  Returns the torch module; call it as
    ``out, state = m(x_t, state)`` step by step (float32).
    """
    graph = _read(graph_or_path)
    meta = graph.metadata or {}
    dt = float(meta.get("dt", SNNTORCH_DT)) if dt is None else float(dt)
    reset = _reset_of(meta, reset, "the NIR graph")
    placeholder = copy.deepcopy(graph)  # the importer asserts r == 1 on IF nodes; its modules are replaced
    for key, node in placeholder.nodes.items():
        if isinstance(node, nir.IF):
            thr = np.asarray(node.v_threshold, dtype=np.float64)
            ones = np.ones_like(thr)
            placeholder.nodes[key] = nir.LIF(tau=2 * dt * ones, r=2 * ones, v_leak=0 * ones, v_threshold=thr,
                                             v_reset=0 * ones)
    with contextlib.redirect_stdout(io.StringIO()):  # the importer prints progress and warnings
        module = import_from_nir(placeholder)
    for key, node in graph.nodes.items():
        if not isinstance(node, _NEURONS):
            continue
        pop = _neurons(key, node, dt)
        if np.any(pop.gain != 1) or np.any(pop.bias != 0):
            raise NIRError(f"to_snntorch: node {key!r} scales its input or drives its membrane (v_leak); "
                           "snnTorch's Leaky/Synaptic have neither")
        t = lambda v: torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1))  # noqa: E731
        kw = dict(beta=t(pop.beta), threshold=t(pop.threshold), reset_mechanism=reset, init_hidden=True)
        new = snn.Synaptic(alpha=t(pop.alpha), **kw) if pop.synaptic else snn.Leaky(**kw)
        name = key.replace(".", "_")
        if not hasattr(module, name):
            raise NIRError(f"to_snntorch: snnTorch's importer has no module for node {key!r}")
        setattr(module, name, new)
    return module
