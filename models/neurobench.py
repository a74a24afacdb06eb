"""NeuroBench's hardware-agnostic metrics, from a chip run and from an snnTorch model.

Definitions (NeuroBench 2.x, ``neurobench.metrics``), per sample:

- synaptic operations: for every weight layer and step, the connections with a nonzero
  weight from a nonzero input; "effective ACs" when the layer's input is spikes (0/1),
  "effective MACs" otherwise (analog input); biases are not operations.
- activation sparsity: zero outputs of the spiking layers over all neurons and steps.
- membrane updates: every neuron at the first step, then the neurons whose membrane
  changed in a step (NeuroBench's event-driven count).
- connection sparsity: zero weights over all weights of the Linear/Conv layers.
- footprint: bytes of the parameters and buffers (the model at rest).

On the chip (``chip_metrics``): ACs are the synaptic operations of neuron and input
spikes, MACs those of analog input currents (``mosaic.simulate`` counts one per nonzero
value per outgoing synapse); a time-stepped chip updates every neuron every step, so its
membrane updates are ``n x T`` (``counts['neuron_updates']``, an upper bound of
NeuroBench's); connection sparsity is over the blocks between layers that have synapses;
footprint is ``synapses x weight_bytes + neurons x 5 parameters x value_bytes`` (beta,
alpha, threshold, bias, refractory; an assumption about storage, not a spec figure).
"""
from __future__ import annotations

import numpy as np
import snntorch as snn
import torch
from torch import nn

from mosaic import SpikingNetwork
from mosaic.simulate import RunReport

from .errors import ModelError

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def _aligned_window(net: SpikingNetwork, T: int, aligned: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron, the first and one-past-last step of its window: all steps, or (``aligned``,
    a ``measure_on_chip`` of T + L - 1 steps) layer l's steps l .. l + T - L."""
    n = net.n_neurons
    if not aligned:
        return np.zeros(n, np.int64), np.full(n, T, np.int64)
    if net.layer is None:
        raise ModelError("chip_metrics(aligned=True) needs layer labels (layer l lags l steps)")
    L = int(net.layer.max()) + 1
    if T < L:
        raise ModelError(f"chip_metrics(aligned=True): {T} steps is fewer than the {L} layers' lag")
    lo = net.layer.astype(np.int64)
    return lo, lo + (T - L + 1)


def chip_metrics(net: SpikingNetwork, reports, *, aligned: bool = False, weight_bytes: int = 4,
                 value_bytes: int = 4) -> dict:
    """NeuroBench figures of chip runs (one ``RunReport`` or a list, one sample each; means per sample).

    ``aligned``: the runs are ``measure_on_chip``'s (T + L - 1 steps, layer l lagging l steps), and
    sparsity and membrane updates count each layer over its T snnTorch-aligned steps only.
    Synaptic operations need every copy delivered (ideal routing, or no packet dropped or in
    flight) to separate input MACs from spike ACs.
    """
    reports = [reports] if isinstance(reports, RunReport) else list(reports)
    if not reports:
        raise ModelError("chip_metrics needs at least one RunReport")
    outdeg = np.diff(net.w.indptr)
    acs = macs = spikes = neuron_steps = 0.0
    for rep in reports:
        if rep.spikes.shape[1] != net.n_neurons:
            raise ModelError(f"a RunReport of {rep.spikes.shape[1]} neurons does not belong to this "
                             f"network of {net.n_neurons}")
        if rep.packets["dropped"] or rep.packets["in_flight"]:
            raise ModelError("chip_metrics: packets were dropped or left in flight, so the counters do not "
                             "separate input MACs from spike ACs; run with routing='ideal' or late='defer' "
                             "and enough steps")
        T = rep.spikes.shape[0]
        neuron_ops = float(rep.spikes[:-1].sum(axis=0) @ outdeg) if T > 1 else 0.0
        input_ops = rep.counts["synaptic_ops"] - neuron_ops
        analog = rep.counts["input_packets"] == 0 and input_ops > 0
        acs += neuron_ops + (0.0 if analog else input_ops)
        macs += input_ops if analog else 0.0
        lo, hi = _aligned_window(net, T, aligned)
        steps = np.arange(T)[:, None]
        spikes += float((rep.spikes & (steps >= lo) & (steps < hi)).sum())
        neuron_steps += float((hi - lo).sum())
    k = len(reports)
    return {"effective_acs": acs / k, "effective_macs": macs / k,
            "activation_sparsity": 1.0 - spikes / neuron_steps if neuron_steps else 0.0,
            "membrane_updates": neuron_steps / k,
            "connection_sparsity": network_connection_sparsity(net),
            "footprint_bytes": int(net.n_synapses * weight_bytes + net.n_neurons * 5 * value_bytes)}


def network_connection_sparsity(net: SpikingNetwork) -> float:
    """1 - synapses / connections of the dense blocks (inputs -> layer, layer -> layer) that hold
    any synapse; one block of all neurons when unlabelled."""
    lab = np.zeros(net.n_neurons, np.int64) if net.layer is None else net.layer
    sizes = np.bincount(lab)
    dense = 0
    w_in, w = net.w_in.tocoo(), net.w.tocoo()
    for b in np.unique(lab[w_in.col]):
        dense += net.n_inputs * sizes[b]
    for a, b in set(zip(lab[w.row].tolist(), lab[w.col].tolist())):
        dense += sizes[a] * sizes[b]
    return 1.0 - net.n_synapses / dense if dense else 0.0


def _binary_ops(layer: nn.Module, x: torch.Tensor) -> float:
    """Connections with a nonzero weight from a nonzero input (NeuroBench's binarised layer)."""
    w = (layer.weight != 0).to(x.dtype)
    xb = (x != 0).to(x.dtype)
    if isinstance(layer, nn.Linear):
        return float(nn.functional.linear(xb, w).sum())
    conv = nn.functional.conv1d if isinstance(layer, nn.Conv1d) else nn.functional.conv2d
    return float(conv(xb, w, None, layer.stride, layer.padding, layer.dilation, layer.groups).sum())


@torch.no_grad()
def model_metrics(model: nn.Module, x_seq) -> dict:
    """NeuroBench figures of an snnTorch model stepped through ``x_seq`` (T, B, ...) from rest,
    per sample: ``effective_acs``, ``effective_macs``, ``activation_sparsity``,
    ``membrane_updates``, ``connection_sparsity``, ``footprint_bytes``."""
    x_seq = torch.as_tensor(x_seq)
    if x_seq.ndim < 3:
        raise ModelError(f"model_metrics: x_seq must be (T, batch, features...), got shape {tuple(x_seq.shape)}")
    ops = {"ac": 0.0, "mac": 0.0}
    act = {"spikes": 0.0, "all": 0.0, "updates": 0.0}
    prev_mem: dict = {}
    hooks = []

    def on_weights(layer, inputs, _out):
        x = inputs[0]
        spiking = bool(torch.all((x == 0) | (x == 1) | (x == -1)))
        ops["ac" if spiking else "mac"] += _binary_ops(layer, x)

    def on_neurons(layer, _inputs, out):
        spk = out[0] if isinstance(out, tuple) else out
        act["spikes"] += float(torch.count_nonzero(spk))
        act["all"] += spk.numel()
        mem = layer.mem.detach().clone()
        old = prev_mem.get(id(layer))
        act["updates"] += mem.numel() if old is None else float(torch.count_nonzero(mem - old))
        prev_mem[id(layer)] = mem
        cast = spk.to(x_seq.dtype)  # snnTorch spikes are float32; a float64 model's next layer needs float64
        return (cast, *out[1:]) if isinstance(out, tuple) else cast

    for m in model.modules():
        if isinstance(m, WEIGHT_LAYERS):
            hooks.append(m.register_forward_hook(on_weights))
        elif isinstance(m, snn.SpikingNeuron):
            for state in ("mem", "syn", "spk"):  # from rest: a shape mismatch makes snnTorch start at zero
                if hasattr(m, state):
                    setattr(m, state, torch.zeros(0, dtype=x_seq.dtype))
            hooks.append(m.register_forward_hook(on_neurons))
    try:
        for t in range(x_seq.shape[0]):
            model(x_seq[t])
    finally:
        for h in hooks:
            h.remove()
    B = x_seq.shape[1]
    return {"effective_acs": ops["ac"] / B, "effective_macs": ops["mac"] / B,
            "activation_sparsity": 1.0 - act["spikes"] / act["all"] if act["all"] else 0.0,
            "membrane_updates": act["updates"] / B, **model_static_metrics(model)}


def model_static_metrics(model: nn.Module) -> dict:
    """``connection_sparsity`` (zero weights of the Linear/Conv layers) and ``footprint_bytes``
    (parameters and buffers), as NeuroBench's ``ConnectionSparsity`` and ``Footprint`` of the
    model at rest (NeuroBench also counts the hidden state snnTorch keeps in buffers, mem/syn/spk,
    whose size is that of the last batch; it is left out here)."""
    zeros = total = 0
    for m in model.modules():
        if isinstance(m, WEIGHT_LAYERS):
            zeros += int((m.weight == 0).sum())
            total += m.weight.numel()
    state = {n for n, _ in model.named_buffers() if n.rsplit(".", 1)[-1] in ("mem", "syn", "spk")}
    size = sum(t.numel() * t.element_size() for t in model.parameters())
    size += sum(t.numel() * t.element_size() for n, t in model.named_buffers() if n not in state)
    return {"connection_sparsity": zeros / total if total else 0.0, "footprint_bytes": int(size)}
