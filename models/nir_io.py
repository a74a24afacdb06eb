"""NIR (Neuromorphic Intermediate Representation) import and export of layered networks.

Supported nodes: ``Input``, ``Output``, ``Affine``/``Linear`` (weights), and ``LIF``,
``CubaLIF``, ``IF`` (neurons), chained input -> weights -> neurons -> ... -> output.
Any other node type raises :class:`NIRError` naming it.

Discretisation (forward Euler with step ``dt``, the convention of
``snntorch.export_to_nir``, which uses dt = 1e-4 s): a ``LIF`` with ``tau``, ``r``,
``v_leak`` is ``beta = 1 - dt/tau``, its input scaled by ``r*dt/tau`` and a constant drive
``bias = v_leak*dt/tau`` per step; ``CubaLIF`` adds ``alpha = 1 - dt/tau_syn`` and the
input gain ``w_in*dt/tau_syn``; ``IF`` is ``beta = 1`` with gain ``r*dt``.  Gains within
1e-5 of 1 are taken as exactly 1 (float32 noise of exporters).  NIR neurons reset to
``v_reset`` (only 0 is supported): reset "zero".  snnTorch's default is "subtract" and its
NIR export does not record it, so pass ``reset="subtract"`` for such graphs; graphs we
write record ``dt``, ``reset`` and the exact beta/alpha in their metadata.
"""
from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import scipy.sparse as sp

from mosaic import SpikingNetwork

from .errors import ModelError
from .export import ExportError, _labelled, layer_slices, layer_weights

SNNTORCH_DT = 1e-4  # s; snntorch.export_nir
_WEIGHTS = (nir.Affine, nir.Linear)
_NEURONS = (nir.LIF, nir.CubaLIF, nir.IF)


class NIRError(ModelError):
    """A NIR graph that is not a supported layered network, or a network NIR cannot hold."""


def to_nir(net: SpikingNetwork, *, dt: float = SNNTORCH_DT, sizes: list[int] | None = None) -> nir.NIRGraph:
    """The NIR graph of a layered feed-forward network (``to_network`` layout, or ``sizes``).

    Nodes ``input``, ``fc{i}`` (Affine, the bias of Leaky layers as in snnTorch; Linear for
    bias-free layers), ``lif{i}`` (LIF; CubaLIF when alpha > 0; IF when beta = 1), ``output``.
    """
    if not dt > 0:
        raise NIRError(f"to_nir: dt must be > 0 seconds, got {dt}")
    try:
        net = _labelled(net, sizes)
        sl = layer_slices(net)
        mats = layer_weights(net)
    except ExportError as e:
        raise NIRError(f"to_nir: {e}") from None
    if np.any(net.refractory != 0):
        raise NIRError("to_nir: refractory periods have no NIR LIF/CubaLIF counterpart")
    nodes: dict = {"input": nir.Input(input_type={"input": np.array([net.n_inputs])})}
    edges = []
    prev = "input"
    for i, (s, wt) in enumerate(zip(sl, mats)):
        beta, alpha, thr, bias = net.beta[s], net.alpha[s], net.threshold[s], net.bias[s]
        zeros = np.zeros(len(thr))
        meta = {"beta": beta.copy(), "alpha": alpha.copy()}
        if np.all(alpha == 0):
            nodes[f"fc{i}"] = nir.Affine(weight=wt, bias=bias.copy()) if np.any(bias) else nir.Linear(weight=wt)
            if np.all(beta == 1):
                neuron = nir.IF(r=np.full(len(thr), 1.0 / dt), v_threshold=thr.copy(), v_reset=zeros, metadata=meta)
            elif np.all(beta < 1):
                tau = dt / (1.0 - beta)
                neuron = nir.LIF(tau=tau, r=tau / dt, v_leak=zeros, v_threshold=thr.copy(), v_reset=zeros,
                                 metadata=meta)
            else:
                raise NIRError(f"to_nir: layer {i} mixes beta = 1 (IF) and beta < 1 (LIF) neurons")
        else:
            if np.any(alpha == 0) or np.any(alpha >= 1) or np.any(beta >= 1):
                raise NIRError(f"to_nir: layer {i} needs 0 < alpha < 1 and beta < 1 for every CubaLIF neuron")
            tau_syn, tau_mem = dt / (1.0 - alpha), dt / (1.0 - beta)
            nodes[f"fc{i}"] = nir.Linear(weight=wt)
            neuron = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=bias / (1.0 - beta),
                                 v_threshold=thr.copy(), v_reset=zeros, w_in=tau_syn / dt, metadata=meta)
        nodes[f"lif{i}"] = neuron
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        prev = f"lif{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([sl[-1].stop - sl[-1].start])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges,
                        metadata={"dt": float(dt), "reset": net.reset, "generator": "mosaic-grow models.nir_io"})


def write(path: str | Path, net: SpikingNetwork, *, dt: float = SNNTORCH_DT) -> None:
    """Write ``net`` as a NIR HDF5 file (``nir.write``); nothing is written on error."""
    graph = to_nir(net, dt=dt)
    nir.write(str(path), graph)


def _chain(graph: nir.NIRGraph) -> list[str]:
    """Node keys from the Input to the Output along a single path."""
    for key, node in graph.nodes.items():
        if not isinstance(node, (nir.Input, nir.Output) + _WEIGHTS + _NEURONS):
            raise NIRError(f"unsupported NIR node {key!r} of type {type(node).__name__}; supported: Input, "
                           "Output, Affine, Linear, LIF, CubaLIF, IF")
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"need exactly one Input and one Output node, got {len(inputs)} and {len(outputs)}")
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        if a not in graph.nodes or b not in graph.nodes:
            raise NIRError(f"edge ({a!r}, {b!r}) names a node the graph does not have")
        succ.setdefault(a, []).append(b)
    order = [inputs[0]]
    while order[-1] != outputs[0]:
        nxt = succ.get(order[-1], [])
        if len(nxt) != 1:
            raise NIRError(f"node {order[-1]!r} has {len(nxt)} successors; only a chain "
                           "Input -> weights -> neurons -> ... -> Output is supported")
        if nxt[0] in order:
            raise NIRError(f"the graph has a cycle through {nxt[0]!r}; recurrent layers are not supported")
        order.append(nxt[0])
    if len(order) != len(graph.nodes):
        raise NIRError(f"nodes {sorted(set(graph.nodes) - set(order))} are not on the Input -> Output chain")
    return order


def _vec(node, name: str, n: int, key: str) -> np.ndarray:
    v = np.asarray(getattr(node, name), dtype=np.float64)
    if v.size == 1:
        return np.full(n, float(v.reshape(-1)[0]))
    if v.shape != (n,):
        raise NIRError(f"node {key!r}: {name} has shape {v.shape}, expected a scalar or ({n},)")
    return v.copy()


def _snap(g: np.ndarray) -> np.ndarray:
    return np.where(np.abs(g - 1.0) <= 1e-5, 1.0, g)


def _from_meta(node, name: str, derived: np.ndarray) -> np.ndarray:
    """The exact value stored in our metadata when it agrees with the derived one."""
    m = getattr(node, "metadata", None) or {}
    if name in m:
        v = np.asarray(m[name], dtype=np.float64).reshape(-1)
        if v.shape == derived.shape and np.allclose(v, derived, rtol=1e-9, atol=1e-12):
            return v
    return derived


def from_nir(graph_or_path, *, dt: float | None = None, reset: str | None = None) -> SpikingNetwork:
    """A layered ``SpikingNetwork`` from a NIR graph or a NIR HDF5 file.

    ``dt`` (s) defaults to the graph's ``metadata['dt']``, else snnTorch's 1e-4; ``reset``
    to ``metadata['reset']``, else "zero" (NIR's reset to ``v_reset``; pass "subtract" for
    snnTorch exports).  Layer labels follow the chain.
    """
    if isinstance(graph_or_path, (str, Path)):
        path = Path(graph_or_path)
        if not path.is_file():
            raise NIRError(f"{path}: no such NIR file")
        try:
            graph = nir.read(str(path))
        except Exception as e:  # h5py/KeyError/ValueError from a foreign or broken file
            raise NIRError(f"{path}: not a readable NIR file ({type(e).__name__}: {e})") from None
    else:
        graph = graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise NIRError(f"from_nir needs a nir.NIRGraph or a path, got {type(graph).__name__}")
    meta = graph.metadata or {}
    dt = float(meta.get("dt", SNNTORCH_DT)) if dt is None else float(dt)
    if not dt > 0:
        raise NIRError(f"from_nir: dt must be > 0 seconds, got {dt}")
    if reset is None:
        r = meta.get("reset", "zero")
        reset = r.decode() if isinstance(r, bytes) else str(r)
    order = _chain(graph)
    body = order[1:-1]
    if len(body) % 2 or not body:
        raise NIRError("expected alternating weight and neuron nodes between Input and Output")
    n_in = None
    mats, params = [], []
    for j in range(0, len(body), 2):
        wk, nk = body[j], body[j + 1]
        wn, nn_ = graph.nodes[wk], graph.nodes[nk]
        if not isinstance(wn, _WEIGHTS) or not isinstance(nn_, _NEURONS):
            raise NIRError(f"expected weights then neurons, got {wk!r} ({type(wn).__name__}) then "
                           f"{nk!r} ({type(nn_).__name__})")
        wt = np.asarray(wn.weight, dtype=np.float64)
        if wt.ndim != 2:
            raise NIRError(f"node {wk!r}: weight must be 2-D (out, in), got shape {wt.shape}")
        n_out, k_in = wt.shape
        if n_in is not None and k_in != n_in:
            raise NIRError(f"node {wk!r}: weight takes {k_in} inputs, the previous layer has {n_in}")
        n_in = k_in if n_in is None else n_in
        b = _vec(wn, "bias", n_out, wk) if isinstance(wn, nir.Affine) else np.zeros(n_out)
        v_reset = getattr(nn_, "v_reset", None)
        if v_reset is not None and np.any(np.asarray(v_reset) != 0):
            raise NIRError(f"node {nk!r}: v_reset != 0 is not supported (the chip resets to 0 or subtracts)")
        thr = _vec(nn_, "v_threshold", n_out, nk)
        if isinstance(nn_, nir.IF):
            beta, alpha = np.ones(n_out), np.zeros(n_out)
            gain = _snap(_vec(nn_, "r", n_out, nk) * dt)
            bias = gain * b
        elif isinstance(nn_, nir.LIF):
            tau = _vec(nn_, "tau", n_out, nk)
            beta = _from_meta(nn_, "beta", 1.0 - dt / tau)
            alpha = np.zeros(n_out)
            gain = _snap(_vec(nn_, "r", n_out, nk) * dt / tau)
            bias = _vec(nn_, "v_leak", n_out, nk) * dt / tau + gain * b
        else:
            if np.any(b != 0):
                raise NIRError(f"node {wk!r}: a bias into CubaLIF {nk!r} is filtered by the synapse; "
                               "the chip adds bias to the membrane (use v_leak instead)")
            ts, tm = _vec(nn_, "tau_syn", n_out, nk), _vec(nn_, "tau_mem", n_out, nk)
            alpha = _from_meta(nn_, "alpha", 1.0 - dt / ts)
            beta = _from_meta(nn_, "beta", 1.0 - dt / tm)
            gain = _snap(_vec(nn_, "w_in", n_out, nk) * dt / ts) * _snap(_vec(nn_, "r", n_out, nk) * dt / tm)
            bias = _vec(nn_, "v_leak", n_out, nk) * dt / tm
        for name, v in (("beta", beta), ("alpha", alpha)):
            if np.any((v < -1e-12) | (v > 1 + 1e-12)) or not np.all(np.isfinite(v)):
                raise NIRError(f"node {nk!r}: {name} = 1 - dt/tau outside [0, 1] for dt = {dt}; "
                               "pass the dt the graph was made with")
        mats.append(wt * gain[:, None])
        params.append((np.clip(beta, 0, 1), np.clip(alpha, 0, 1), thr, bias))
        n_in = n_out
    sizes = [m.shape[0] for m in mats]
    n = sum(sizes)
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    w_in = sp.hstack([sp.csr_matrix(mats[0].T), sp.csr_matrix((mats[0].shape[1], n - sizes[0]))], format="csr")
    w = sp.lil_matrix((n, n))
    for i in range(1, len(mats)):
        w[offs[i - 1]:offs[i], offs[i]:offs[i + 1]] = mats[i].T
    try:
        return SpikingNetwork(w_in, w.tocsr(), np.concatenate([p[0] for p in params]),
                              np.concatenate([p[2] for p in params]), alpha=np.concatenate([p[1] for p in params]),
                              bias=np.concatenate([p[3] for p in params]), reset=reset,
                              layer=np.repeat(np.arange(len(sizes)), sizes))
    except ValueError as e:
        raise NIRError(f"from_nir: {e}") from None
