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

The chip side (``chip_metrics``, ``network_connection_sparsity``) lives in
``mosaic.neurobench`` (``RunReport.summary()`` reports it) and is re-exported here.
"""
from __future__ import annotations

import snntorch as snn
import torch
from torch import nn

from mosaic.neurobench import chip_metrics, network_connection_sparsity

from .errors import ModelError

__all__ = ["chip_metrics", "network_connection_sparsity", "model_metrics", "model_static_metrics"]

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


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
