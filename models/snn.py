"""snnTorch spiking MLPs: construction, input encoders, and stepping through time.

A model is an ``nn.Sequential`` alternating ``nn.Linear`` and an activation module:
``snntorch.Leaky`` / ``snntorch.Synaptic`` (``init_hidden=True``; the last one has
``output=True``) for a spiking net, ``nn.ReLU`` for its non-spiking twin.  All per-neuron
state lives in snnTorch's hidden state, so a layer can be grown by replacing its
``nn.Linear`` modules; nothing here caches layer sizes.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import snntorch as snn
import torch
from snntorch import spikegen, surrogate
from torch import nn

KINDS = ("leaky", "synaptic", "relu")
ENCODERS = ("direct", "rate", "latency")


class ModelError(ValueError):
    """A model, encoder or training request that cannot be honoured."""


def make_mlp(sizes: Sequence[int], kind: str = "leaky", *, beta: float = 0.9, alpha: float = 0.8,
             threshold: float = 1.0, reset: str = "subtract", bias: bool | None = None,
             surrogate_slope: float = 25.0, seed: int = 0) -> nn.Sequential:
    """An MLP with layer widths ``sizes`` (inputs first), e.g. ``[64, 128, 10]``.

    ``kind``: "leaky" (snnTorch ``Leaky``), "synaptic" (``Synaptic``, current-based) or
    "relu" (the ANN twin).  ``beta``/``alpha`` are per-step decay factors, ``threshold`` the
    firing threshold, ``reset`` "subtract" or "zero".  ``bias`` defaults to True except for
    "synaptic" (the chip adds a neuron's bias to its membrane, snnTorch adds a Linear bias to
    the synaptic current; the two differ when alpha > 0).  Surrogate gradient: fast sigmoid
    with ``surrogate_slope``.  Weights initialised by torch's default from ``seed``.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ModelError(f"make_mlp: sizes must list >= 2 positive widths (inputs first), got {sizes}")
    if kind not in KINDS:
        raise ModelError(f"make_mlp: unknown kind {kind!r}; use one of {KINDS}")
    if reset not in ("subtract", "zero"):
        raise ModelError(f"make_mlp: reset must be 'subtract' or 'zero', got {reset!r}")
    if not (0.0 <= beta <= 1.0 and 0.0 <= alpha <= 1.0) or threshold <= 0:
        raise ModelError(f"make_mlp: need 0 <= beta, alpha <= 1 and threshold > 0, "
                         f"got beta={beta}, alpha={alpha}, threshold={threshold}")
    if bias is None:
        bias = kind != "synaptic"
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers: list[nn.Module] = []
        grad = surrogate.fast_sigmoid(slope=surrogate_slope)
        n_layers = len(sizes) - 1
        for i in range(n_layers):
            layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=bias))
            last = i == n_layers - 1
            if kind == "relu":
                if not last:
                    layers.append(nn.ReLU())
                continue
            if kind == "leaky":
                layers.append(snn.Leaky(beta=beta, threshold=threshold, spike_grad=grad, init_hidden=True,
                                        reset_mechanism=reset, output=last))
            else:
                layers.append(snn.Synaptic(alpha=alpha, beta=beta, threshold=threshold, spike_grad=grad,
                                           init_hidden=True, reset_mechanism=reset, output=last))
    finally:
        torch.random.set_rng_state(gen_state)
    return nn.Sequential(*layers)


def linear_layers(model: nn.Sequential) -> list[nn.Linear]:
    """The model's ``nn.Linear`` modules in order."""
    return [m for m in model if isinstance(m, nn.Linear)]


def is_spiking(model: nn.Sequential) -> bool:
    return any(isinstance(m, (snn.Leaky, snn.Synaptic)) for m in model)


def check_model(model: nn.Sequential) -> None:
    """Raise :class:`ModelError` unless ``model`` alternates Linear and a supported activation
    (Leaky/Synaptic with the last one ``output=True``, or ReLU with a bare last Linear)."""
    mods = list(model)
    if not isinstance(model, nn.Sequential) or not mods or not isinstance(mods[0], nn.Linear):
        raise ModelError("model must be an nn.Sequential starting with nn.Linear")
    if is_spiking(model):
        if len(mods) % 2:
            raise ModelError("a spiking model must alternate nn.Linear and snn.Leaky/Synaptic")
        for i in range(0, len(mods), 2):
            lin, act = mods[i], mods[i + 1]
            if not isinstance(lin, nn.Linear) or not isinstance(act, (snn.Leaky, snn.Synaptic)):
                raise ModelError(f"model[{i}:{i + 2}] is {type(lin).__name__}, {type(act).__name__}; "
                                 "expected nn.Linear then snn.Leaky or snn.Synaptic")
            if not act.init_hidden:
                raise ModelError(f"model[{i + 1}]: spiking layers need init_hidden=True")
            if act.output != (i + 2 == len(mods)):
                raise ModelError(f"model[{i + 1}]: output=True must be set on the last spiking layer only")
    else:
        for i, m in enumerate(mods):
            want = nn.Linear if i % 2 == 0 else nn.ReLU
            if not isinstance(m, want):
                raise ModelError(f"model[{i}] is {type(m).__name__}; an ANN twin alternates nn.Linear "
                                 "and nn.ReLU and ends with nn.Linear")
        if not isinstance(mods[-1], nn.Linear):
            raise ModelError("an ANN twin must end with nn.Linear")
    lins = linear_layers(model)
    for a, b in zip(lins, lins[1:]):
        if a.out_features != b.in_features:
            raise ModelError(f"Linear {a.in_features}->{a.out_features} feeds Linear "
                             f"{b.in_features}->{b.out_features}: widths do not chain")


def encode(x, T: int, encoder: str = "direct", seed: int = 0) -> torch.Tensor:
    """Turn static inputs ``x`` (B, n_in), values in [0, 1], into a (T, B, n_in) sequence.

    "direct": the value as an input current at every step; "rate": Bernoulli spikes with
    probability x per step (``spikegen.rate``, seeded); "latency": one spike per input, earlier
    for larger values (``spikegen.latency``, linear, normalised over T steps; zeros never fire).
    """
    if encoder not in ENCODERS:
        raise ModelError(f"encode: unknown encoder {encoder!r}; use one of {ENCODERS}")
    if int(T) != T or T < 1:
        raise ModelError(f"encode: T must be a positive number of steps, got {T!r}")
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if x.ndim != 2:
        raise ModelError(f"encode: x must be (batch, n_inputs), got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        x = x.float()
    if not torch.all(torch.isfinite(x)) or (x.numel() and (x.min() < 0 or x.max() > 1)):
        raise ModelError("encode: x must be finite and lie in [0, 1] (scale the data first)")
    T = int(T)
    if encoder == "direct":
        return x.unsqueeze(0).expand(T, *x.shape).clone()
    if encoder == "rate":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return spikegen.rate(x, num_steps=T)
    spk = spikegen.latency(x, num_steps=T, normalize=True, linear=True, clip=True, threshold=0.01)
    return spk.to(x.dtype)


def run(model: nn.Sequential, x_seq: torch.Tensor, *, record: bool = False):
    """Step ``model`` through ``x_seq`` (T, B, n_in) from a reset hidden state.

    Returns ``(spk_out, mem_out)``, each (T, B, n_out).  For a ReLU twin the output is the
    Linear read-out at each step (returned as both).  With ``record=True`` a third element
    lists every spiking layer's spikes, each (T, B, n_l).
    """
    if x_seq.ndim != 3:
        raise ModelError(f"run: x_seq must be (T, batch, n_inputs), got shape {tuple(x_seq.shape)}")
    lins = linear_layers(model)
    if x_seq.shape[2] != lins[0].in_features:
        raise ModelError(f"run: x_seq has {x_seq.shape[2]} inputs, the model expects {lins[0].in_features}")
    x_seq = x_seq.to(lins[0].weight.dtype)
    if not is_spiking(model):
        out = model(x_seq)
        return (out, out, []) if record else (out, out)
    reset_state(model)
    spk_rec, mem_rec, layer_rec = [], [], []
    for t in range(x_seq.shape[0]):
        h = x_seq[t]
        spikes_t = []
        for m in model:
            h = m(h)
            if isinstance(m, (snn.Leaky, snn.Synaptic)):
                if m.output:
                    spk, mem = h[0], h[-1]
                    spikes_t.append(spk)
                else:
                    spikes_t.append(h)
        spk_rec.append(spk)
        mem_rec.append(mem)
        if record:
            layer_rec.append(spikes_t)
    spk_out, mem_out = torch.stack(spk_rec), torch.stack(mem_rec)
    if record:
        layers = [torch.stack([s[i] for s in layer_rec]) for i in range(len(layer_rec[0]))]
        return spk_out, mem_out, layers
    return spk_out, mem_out


def reset_state(model: nn.Sequential) -> None:
    """Zero the hidden state of this model's spiking layers only (snntorch.utils.reset
    resets every instance of the class, including other models')."""
    for m in model:
        if isinstance(m, snn.Synaptic):
            m.syn = torch.zeros(0, dtype=m.syn.dtype)
            m.mem = torch.zeros(0, dtype=m.mem.dtype)
        elif isinstance(m, snn.Leaky):
            m.mem = torch.zeros(0, dtype=m.mem.dtype)

