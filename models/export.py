"""snnTorch models <-> chip IR (``mosaic.SpikingNetwork``), and weight quantisation.

``to_network`` compiles an ``nn.Sequential`` through ``models.graph``: every spiking
layer (Leaky, Synaptic, RLeaky, RSynaptic) becomes a population, numbered in model order
with layer labels 0..L-1; the linear layers between two of them (Linear, Conv1d/Conv2d and
AvgPool2d unrolled by ``models.unroll``, Flatten) fold into one sparse weight block; an
RLeaky/RSynaptic's recurrent weights become synapses within its layer.  Neuron parameters
come from the snnTorch modules (beta and alpha clamped to [0, 1] as snnTorch does in its
forward pass).  A bias is a constant input current per step; the IR adds ``bias`` to the
membrane every step, which is the same thing for Leaky but not for Synaptic (there the
bias passes through the synaptic filter), so a bias into a synaptic layer is refused.
Exactness: the chip computes ``beta*mem + syn + bias``, snnTorch ``beta*mem + (W x + b)``;
the spikes agree bit for bit when these sums are exact (e.g. weights and biases on a 2^-k
grid, see ``quantize``), and run the model in float64.  ``from_network`` is the inverse
for layered feed-forward networks (an MLP of Leaky/Synaptic layers).
"""
from __future__ import annotations

import numpy as np
import snntorch as snn
import torch
from torch import nn

from mosaic import SpikingNetwork

from .errors import ModelError
from .graph import (Graph, GraphError, Map, Neurons, Source, compile_graph, conv_map, dense_map, flatten_map,
                    identity_map, pool_map, scale_map)
from .snn import linear_layers


class ExportError(ModelError):
    """A model or network that has no exact counterpart on the other side."""


_NEURON_TYPES = (snn.Leaky, snn.Synaptic, snn.RLeaky, snn.RSynaptic)


def _t(v) -> np.ndarray:
    return np.asarray(v.detach().double().cpu().numpy() if isinstance(v, torch.Tensor) else v, dtype=np.float64)


def _neurons(i: int, act: nn.Module) -> Neurons:
    """The population of snnTorch neuron module ``model[i]`` (beta, alpha clamped to [0, 1])."""
    name = f"model[{i}] ({type(act).__name__})"
    if not act.reset_delay:
        raise ExportError(f"{name}: reset_delay=False has no chip counterpart; use snnTorch's default")
    if act.inhibition or act.state_quant or float(act.graded_spikes_factor) != 1.0:
        raise ExportError(f"{name}: inhibition, state_quant and graded spikes are not supported")
    if act.reset_mechanism not in ("subtract", "zero"):
        raise ExportError(f"{name}: reset_mechanism {act.reset_mechanism!r} is not supported")
    if isinstance(act, snn.RLeaky) and act.reset_mechanism == "zero":
        raise ExportError(f"{name}: RLeaky's reset 'zero' also discards the input of the step after a spike, "
                          "the chip's LIF keeps it; use reset_mechanism='subtract'")
    synaptic = isinstance(act, (snn.Synaptic, snn.RSynaptic))
    alpha = np.clip(_t(act.alpha), 0, 1) if synaptic else np.zeros(1)
    return Neurons(np.clip(_t(act.beta), 0, 1), alpha, _t(act.threshold), np.zeros(1), np.ones(1),
                   synaptic=synaptic, kind=type(act).__name__)


def _torch_map(i: int, mod: nn.Module) -> Map:
    """The linear node of a torch layer (Linear, Conv1d/2d, AvgPool2d, Flatten)."""
    name = f"model[{i}] ({type(mod).__name__})"
    if isinstance(mod, (nn.Identity, nn.Dropout)):  # dropout as in evaluation: the identity
        return identity_map(name)
    if isinstance(mod, nn.Linear):
        return dense_map(_t(mod.weight), None if mod.bias is None else _t(mod.bias), name)
    if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
        if mod.padding_mode != "zeros":
            raise ExportError(f"{name}: padding_mode {mod.padding_mode!r}; only zero padding is supported")
        return conv_map(_t(mod.weight), None if mod.bias is None else _t(mod.bias), mod.stride, mod.padding,
                        mod.dilation, mod.groups, name)
    if isinstance(mod, nn.AvgPool2d):
        if mod.ceil_mode or not mod.count_include_pad or mod.divisor_override is not None:
            raise ExportError(f"{name}: only ceil_mode=False, count_include_pad=True, no divisor_override")
        return pool_map(mod.kernel_size, mod.stride, mod.padding, True, name)
    if isinstance(mod, nn.Flatten):  # torch counts the batch dimension, the graph does not
        if mod.start_dim == 0:
            raise ExportError(f"{name}: flattening the batch dimension is not a layer of one sample")
        return flatten_map(mod.start_dim - 1 if mod.start_dim > 0 else mod.start_dim,
                           mod.end_dim - 1 if mod.end_dim > 0 else mod.end_dim, name)
    raise ExportError(f"{name} is not supported by to_network; supported: nn.Linear, nn.Conv1d, nn.Conv2d, "
                      "nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity, snn.Leaky, snn.Synaptic, snn.RLeaky, "
                      "snn.RSynaptic")


def _recurrent_map(i: int, act: nn.Module) -> Map:
    """The recurrent weights of an RLeaky/RSynaptic: all-to-all (its Linear/Conv2d) or one-to-one V."""
    if act.all_to_all:
        return _torch_map(i, act.recurrent)
    return scale_map(_t(act.recurrent.V), f"model[{i}] (V)")


def model_graph(model: nn.Sequential, input_shape=None) -> tuple[Graph, str]:
    """The ``models.graph.Graph`` of an snnTorch ``nn.Sequential`` and its reset mechanism."""
    if not isinstance(model, nn.Sequential) or not len(model):
        raise ExportError(f"to_network needs a non-empty nn.Sequential, got {type(model).__name__}")
    first = model[0]
    if input_shape is None:
        if not isinstance(first, nn.Linear):
            raise ExportError(f"model[0] is {type(first).__name__}: pass input_shape=(C, H, W) (one sample, "
                              "no batch dimension)")
        input_shape = (first.in_features,)
    nodes: dict = {"input": Source(tuple(int(s) for s in np.atleast_1d(input_shape)))}
    edges, prev, resets = [], "input", set()
    for i, mod in enumerate(model):
        key = str(i)
        if isinstance(mod, _NEURON_TYPES):
            nodes[key] = _neurons(i, mod)
            resets.add(mod.reset_mechanism)
            if isinstance(mod, (snn.RLeaky, snn.RSynaptic)):
                nodes[f"{i}.rec"] = _recurrent_map(i, mod)
                edges += [(key, f"{i}.rec"), (f"{i}.rec", key)]
        else:
            nodes[key] = _torch_map(i, mod)
        edges.append((prev, key))
        prev = key
    if not resets:
        raise ExportError("to_network needs a spiking model (Leaky/Synaptic layers); convert the "
                          "ReLU twin first with models.convert.convert")
    if len(resets) > 1:
        raise ExportError(f"all layers must share one reset mechanism on the chip, got {sorted(resets)}")
    if not isinstance(model[-1], _NEURON_TYPES):
        raise ExportError(f"the last module is {type(model[-1]).__name__}; the chip's outputs are spikes, so "
                          "the model must end with a spiking layer")
    return Graph(nodes, edges), resets.pop()


def to_network(model: nn.Sequential, input_shape=None) -> SpikingNetwork:
    """The chip IR of an snnTorch ``nn.Sequential``: Linear, Conv1d/Conv2d (unrolled), AvgPool2d,
    Flatten, Dropout/Identity (evaluation: the identity) and Leaky, Synaptic, RLeaky, RSynaptic
    layers (``output=True`` or not; parameters scalar, per neuron or per channel).  One layer
    label per spiking layer; layer l integrates l steps after snnTorch (one step per synapse),
    recurrent weights read the previous step on both.  ``input_shape`` (one sample, e.g.
    (C, H, W)) is needed when the model does not start with a Linear."""
    g, reset = model_graph(model, input_shape)
    try:
        return compile_graph(g, reset)
    except GraphError as e:
        raise ExportError(f"to_network: {e}") from None


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
