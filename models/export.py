"""snnTorch MLP <-> chip IR (``mosaic.SpikingNetwork``), and weight quantisation.

``to_network`` lays the layers out one after the other: neurons ``0..n_1-1`` are layer 0,
and so on; ``w_in`` is the first Linear's weight transposed, ``w`` is block
feed-forward (layer l -> l+1), ``layer`` labels 0..L-1.  Neuron parameters come from the
snnTorch modules (beta and alpha clamped to [0, 1] as snnTorch does in its forward pass).
A Linear bias is a constant input current per step; the IR adds ``bias`` to the membrane
every step, which is the same thing for ``Leaky`` but not for ``Synaptic`` (there the
bias passes through the synaptic filter), so a Synaptic layer with a nonzero bias is
refused.  Exactness: the chip computes ``beta*mem + syn + bias``, snnTorch
``beta*mem + (W x + b)``; the spikes agree bit for bit when these sums are exact (e.g.
weights and biases on a 2^-k grid, see ``quantize``), and run the model in float64.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import snntorch as snn
import torch
from torch import nn

from mosaic import SpikingNetwork

from .errors import ModelError
from .snn import check_model, is_spiking, linear_layers


class ExportError(ModelError):
    """A model or network that has no exact counterpart on the other side."""


def _param(act, name: str, n: int) -> np.ndarray:
    v = getattr(act, name).detach().double().cpu().numpy()
    if name in ("beta", "alpha"):
        v = np.clip(v, 0.0, 1.0)
    v = np.broadcast_to(v, (n,)) if v.size in (1, n) else None
    if v is None:
        raise ExportError(f"{type(act).__name__}.{name} has a shape that is neither scalar nor per-neuron ({n})")
    return np.array(v, dtype=np.float64)


def spiking_layers(model: nn.Sequential) -> list[tuple[nn.Linear, nn.Module]]:
    """(Linear, Leaky/Synaptic) pairs of a spiking model, checked for export."""
    check_model(model)
    if not is_spiking(model):
        raise ExportError("to_network needs a spiking model (Leaky/Synaptic layers); convert the "
                          "ReLU twin first with models.convert.convert")
    mods = list(model)
    pairs = [(mods[i], mods[i + 1]) for i in range(0, len(mods), 2)]
    for i, (_, act) in enumerate(pairs):
        if not act.reset_delay:
            raise ExportError(f"layer {i}: reset_delay=False has no chip counterpart; use snnTorch's default")
        if act.inhibition or act.state_quant or float(act.graded_spikes_factor) != 1.0:
            raise ExportError(f"layer {i}: inhibition, state_quant and graded spikes are not supported")
        if act.reset_mechanism not in ("subtract", "zero"):
            raise ExportError(f"layer {i}: reset_mechanism {act.reset_mechanism!r} is not supported")
    resets = {act.reset_mechanism for _, act in pairs}
    if len(resets) > 1:
        raise ExportError(f"all layers must share one reset mechanism on the chip, got {sorted(resets)}")
    return pairs


def to_network(model: nn.Sequential) -> SpikingNetwork:
    """The chip IR of a spiking MLP (``models.snn`` conventions), layer labels 0..L-1."""
    pairs = spiking_layers(model)
    sizes = [lin.out_features for lin, _ in pairs]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    n = int(offs[-1])
    cols = dict(beta=[], alpha=[], threshold=[], bias=[])
    blocks = []
    for i, (lin, act) in enumerate(pairs):
        k = sizes[i]
        cols["beta"].append(_param(act, "beta", k))
        cols["threshold"].append(_param(act, "threshold", k))
        cols["alpha"].append(_param(act, "alpha", k) if isinstance(act, snn.Synaptic) else np.zeros(k))
        b = np.zeros(k) if lin.bias is None else lin.bias.detach().double().cpu().numpy()
        if isinstance(act, snn.Synaptic) and np.any(b != 0):
            raise ExportError(f"layer {i}: a Linear bias into a Synaptic layer is filtered by alpha in "
                              "snnTorch but added to the membrane on the chip; build it with bias=False")
        cols["bias"].append(b)
        blocks.append(sp.coo_matrix(lin.weight.detach().double().cpu().numpy().T))
    w_in = sp.hstack([blocks[0], sp.csr_matrix((blocks[0].shape[0], n - sizes[0]))], format="csr")
    rows, cs, vals = [], [], []
    for i in range(1, len(blocks)):
        b = blocks[i]
        rows.append(b.row + offs[i - 1])
        cs.append(b.col + offs[i])
        vals.append(b.data)
    w = sp.csr_matrix((np.concatenate(vals) if vals else np.zeros(0),
                       (np.concatenate(rows) if rows else np.zeros(0, int),
                        np.concatenate(cs) if cs else np.zeros(0, int))), shape=(n, n))
    w.eliminate_zeros()
    w_in.eliminate_zeros()
    layer = np.repeat(np.arange(len(sizes)), sizes)
    return SpikingNetwork(w_in, w, np.concatenate(cols["beta"]), np.concatenate(cols["threshold"]),
                          alpha=np.concatenate(cols["alpha"]), bias=np.concatenate(cols["bias"]),
                          reset=pairs[0][1].reset_mechanism, layer=layer)


def layer_slices(net: SpikingNetwork) -> list[slice]:
    """Index range of every layer of a layered network (labels 0..L-1, contiguous)."""
    if net.layer is None:
        raise ExportError("the network has no layer labels; pass sizes= or label the layers")
    lab = net.layer
    L = int(lab.max()) + 1 if lab.size else 0
    sizes = np.bincount(lab, minlength=L)
    if np.any(sizes == 0) or not np.array_equal(lab, np.repeat(np.arange(L), sizes)):
        raise ExportError("layer labels must be 0..L-1, contiguous and in neuron order")
    offs = np.concatenate([[0], np.cumsum(sizes)])
    return [slice(int(offs[i]), int(offs[i + 1])) for i in range(L)]


def _uniform(v: np.ndarray) -> torch.Tensor:
    """A float64 tensor (a scalar if constant over the layer), so no precision is lost."""
    return torch.tensor(float(v[0]), dtype=torch.float64) if np.all(v == v[0]) else torch.as_tensor(v)


def layer_weights(net: SpikingNetwork) -> list[np.ndarray]:
    """Dense (n_l, n_{l-1}) weight matrix into every layer of a layered feed-forward
    network (``n_{-1}`` = inputs); ``ExportError`` if a synapse skips or goes back a layer."""
    sl = layer_slices(net)
    w_in = net.w_in.tocsc()
    if w_in[:, sl[0].stop:].nnz:
        raise ExportError("input weights reach beyond layer 0; not a feed-forward MLP")
    w = net.w.tocsc()
    mats = [w_in[:, sl[0]].toarray().T]
    for i, s in enumerate(sl):
        lo, hi = (sl[i - 1].start, sl[i - 1].stop) if i else (0, 0)
        rows = np.unique(w[:, s].tocoo().row)
        bad = rows[(rows < lo) | (rows >= hi)]
        if bad.size:
            raise ExportError(f"neuron {bad[0]} (layer {int(net.layer[bad[0]])}) connects into layer {i}; "
                              "only layer l -> l+1 connections are an MLP")
        if i:
            mats.append(w[sl[i - 1], s].toarray().T)
    return mats


def _labelled(net: SpikingNetwork, sizes) -> SpikingNetwork:
    if sizes is None:
        return net
    if sum(sizes) != net.n_neurons or min(sizes) < 1:
        raise ExportError(f"sizes {list(sizes)} do not add up to the network's {net.n_neurons} neurons")
    net = net.copy()
    net.layer = np.repeat(np.arange(len(sizes)), sizes)
    return net


def from_network(net: SpikingNetwork, sizes: list[int] | None = None, *,
                 dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """The snnTorch MLP of a layered feed-forward network (inverse of ``to_network``).

    ``sizes`` (neurons per layer) labels an unlabelled network.  Raises ``ExportError``
    for connections that skip or go back a layer, refractory periods, or a bias on a
    layer with alpha > 0.  Parameters constant over a layer become scalars.
    """
    net = _labelled(net, sizes)
    sl = layer_slices(net)
    if np.any(net.refractory != 0):
        raise ExportError("refractory periods have no snnTorch Leaky/Synaptic counterpart")
    mods: list[nn.Module] = []
    for i, (s, wt) in enumerate(zip(sl, layer_weights(net))):
        bias, alpha = net.bias[s], net.alpha[s]
        lin = nn.Linear(wt.shape[1], wt.shape[0], bias=bool(np.any(bias != 0)) or not np.any(alpha > 0))
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(wt))
            if lin.bias is not None:
                lin.bias.copy_(torch.as_tensor(bias))
        last = i == len(sl) - 1
        beta, thr = _uniform(net.beta[s]), _uniform(net.threshold[s])
        if np.all(alpha == 0):
            act = snn.Leaky(beta=beta, threshold=thr, init_hidden=True, reset_mechanism=net.reset, output=last)
        elif np.all(alpha > 0):
            if np.any(bias != 0):
                raise ExportError(f"layer {i}: bias on Synaptic neurons has no exact snnTorch counterpart")
            act = snn.Synaptic(alpha=_uniform(alpha), beta=beta, threshold=thr, init_hidden=True,
                               reset_mechanism=net.reset, output=last)
        else:
            raise ExportError(f"layer {i} mixes alpha = 0 and alpha > 0 neurons; snnTorch needs one kind per layer")
        mods += [lin.to(dtype), act.to(dtype)]
    return nn.Sequential(*mods)


def quantize(model: nn.Sequential, bits: int) -> nn.Sequential:
    """A copy of ``model`` with every Linear's weight and bias rounded to ``bits``-bit signed
    fixed point: per layer, step = the smallest power of two with max|w| <= step*(2^(bits-1)-1)
    (a shared exponent, so products and sums stay exact in float64).  Biases are rounded to
    the same grid but not clipped (we assume a neuron's bias register is wider than a weight)."""
    import copy

    if int(bits) != bits or not 2 <= bits <= 24:
        raise ExportError(f"quantize: bits must be an integer in 2..24, got {bits!r}")
    q = copy.deepcopy(model)
    top = 2 ** (int(bits) - 1) - 1
    with torch.no_grad():
        for lin in linear_layers(q):
            m = float(lin.weight.abs().max())
            if m == 0:
                continue
            step = 2.0 ** np.ceil(np.log2(m / top))
            lin.weight.copy_(torch.clamp(torch.round(lin.weight / step), -top, top) * step)
            if lin.bias is not None:  # same grid, not clipped: bias registers are wider (assumption)
                lin.bias.copy_(torch.round(lin.bias / step) * step)
    return q
