"""Recurrent spiking networks (snnTorch ``RLeaky`` / ``RSynaptic``) for temporal tasks.

A model is ``nn.Sequential(Linear(n_in, H), RLeaky|RSynaptic(H), Linear(H, n_out),
Leaky(output=True))``, every module ``init_hidden=True``.  The recurrent weights are the
layer's own ``recurrent`` Linear (no bias: on the chip a recurrent bias would be a constant
drive), dense or masked: a (H, H) 0/1 mask multiplies the weights at construction and is
kept as the buffer ``recurrent.mask``; ``recurrent_masks`` hands it to
``models.training.fit`` as a gradient mask, so masked-out synapses stay exactly zero under
BPTT.  Training (``train_rsnn``) is backpropagation through time in the one loop
``models.training.fit``; classification reads the output spike counts
(``models.snn.predict``).  ``models.export.to_network`` gives the chip IR: hidden neurons
first (label 0), output neurons (label 1), the recurrent matrix inside layer 0.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn


from .errors import ModelError
from .sequences import SequenceDataset, encode_sequence, encoded_inputs, time_first
from .snn import predict
from .training import fit, shuffled_batches

RKINDS = ("leaky", "synaptic")
_RECURRENT = (snn.RLeaky, snn.RSynaptic)
_STATES = ("mem", "syn", "spk")
LOSSES = ("count", "membrane", "rate")
RATE_TARGETS = (0.8, 0.2)        # "rate" loss: spike on 80% of the steps for the label, 20% otherwise


def make_rsnn(n_inputs: int, hidden: int, n_outputs: int, kind: str = "leaky", *, mask=None,
              beta: float = 0.9, alpha: float = 0.8, threshold: float = 1.0, reset: str = "subtract",
              surrogate_slope: float = 25.0, seed: int = 0) -> nn.Sequential:
    """A one-hidden-layer recurrent SNN: ``hidden`` RLeaky ("leaky") or RSynaptic
    ("synaptic") neurons with all-to-all recurrent weights (``mask`` (hidden, hidden), 0/1:
    entry [i, j] allows the synapse from neuron j to neuron i), a Leaky read-out of
    ``n_outputs``.  ``beta``/``alpha`` per-step decays, ``reset`` "subtract" or "zero".
    No biases.  Seeded weights (torch defaults, recurrent ones scaled by 1/2)."""
    for name, v in (("n_inputs", n_inputs), ("hidden", hidden), ("n_outputs", n_outputs)):
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ModelError(f"make_rsnn: {name} must be a positive integer, got {v!r}")
    if kind not in RKINDS:
        raise ModelError(f"make_rsnn: unknown kind {kind!r}; use one of {RKINDS}")
    if reset not in ("subtract", "zero"):
        raise ModelError(f"make_rsnn: reset must be 'subtract' or 'zero', got {reset!r}")
    if not (0.0 <= beta <= 1.0 and 0.0 <= alpha <= 1.0) or not threshold > 0:
        raise ModelError(f"make_rsnn: need 0 <= beta, alpha <= 1 and threshold > 0, got {beta}, {alpha}, {threshold}")
    H = int(hidden)
    m = None
    if mask is not None:
        m = torch.as_tensor(np.asarray(mask), dtype=torch.float32)
        if m.shape != (H, H) or not torch.all((m == 0) | (m == 1)):
            raise ModelError(f"make_rsnn: mask must be a ({H}, {H}) array of 0/1, got shape {tuple(m.shape)}")
    grad = surrogate.fast_sigmoid(slope=surrogate_slope)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kw = dict(beta=beta, threshold=threshold, spike_grad=grad, init_hidden=True, reset_mechanism=reset,
                  linear_features=H)
        rec = snn.RLeaky(**kw) if kind == "leaky" else snn.RSynaptic(alpha=alpha, **kw)
        rec.recurrent = nn.Linear(H, H, bias=False)
        with torch.no_grad():
            rec.recurrent.weight.mul_(0.5 if m is None else 0.5 * m)
        if m is not None:
            rec.recurrent.register_buffer("mask", m)
        out = snn.Leaky(beta=beta, threshold=threshold, spike_grad=grad, init_hidden=True,
                        reset_mechanism=reset, output=True)
        return nn.Sequential(nn.Linear(int(n_inputs), H, bias=False), rec,
                             nn.Linear(H, int(n_outputs), bias=False), out)


def check_rsnn(model: nn.Sequential) -> tuple[nn.Linear, nn.Module, nn.Linear, snn.Leaky]:
    """The four modules of a ``make_rsnn`` model; ``ModelError`` for anything else."""
    mods = list(model) if isinstance(model, nn.Sequential) else []
    kinds = (nn.Linear, _RECURRENT, nn.Linear, snn.Leaky)
    if len(mods) != 4 or not all(isinstance(m, k) for m, k in zip(mods, kinds)):
        raise ModelError("a recurrent SNN is nn.Sequential(Linear, RLeaky|RSynaptic, Linear, Leaky); "
                         f"got {[type(m).__name__ for m in mods]}")
    if not mods[3].output or not all(m.init_hidden for m in mods[1::2]):
        raise ModelError("recurrent SNN: every spiking layer needs init_hidden=True, the last output=True")
    return mods[0], mods[1], mods[2], mods[3]


def recurrent_masks(model: nn.Sequential) -> dict[torch.Tensor, torch.Tensor]:
    """``{recurrent weight: mask}`` for ``fit(grad_masks=...)`` (empty when dense)."""
    rec = check_rsnn(model)[1].recurrent
    return {rec.weight: rec.mask} if hasattr(rec, "mask") else {}


def reset_rsnn(model: nn.Sequential) -> None:
    """Zero this model's hidden states (the next step starts from rest)."""
    for m in model:
        for s in _STATES:
            if isinstance(m, (snn.Leaky, *_RECURRENT)) and hasattr(m, s):
                setattr(m, s, torch.zeros(0, dtype=getattr(m, s).dtype))


def copy_rsnn(model: nn.Sequential) -> nn.Sequential:
    """A deep copy of the model, both at rest (snnTorch's hidden states after a forward pass
    are graph tensors, which ``copy.deepcopy`` refuses)."""
    reset_rsnn(model)
    return copy.deepcopy(model)


def run_rsnn(model: nn.Sequential, x_seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Step the model through ``x_seq`` (T, B, n_in) from rest.  Returns output spikes and
    membranes (T, B, n_out) and the hidden spikes (T, B, H)."""
    lin_in, rec, lin_out, out = check_rsnn(model)
    if x_seq.ndim != 3 or x_seq.shape[2] != lin_in.in_features:
        raise ModelError(f"run_rsnn: x_seq must be (T, batch, {lin_in.in_features}), got {tuple(x_seq.shape)}")
    dtype = lin_in.weight.dtype
    reset_rsnn(model)
    spk, mem, hid = [], [], []
    for t in range(x_seq.shape[0]):
        h = rec(lin_in(x_seq[t].to(dtype)))
        h = (h[0] if isinstance(h, tuple) else h).to(dtype)
        rec.spk = rec.spk.to(dtype)  # snnTorch's spikes are float32; keep the recurrent input in dtype
        s, m = out(lin_out(h))
        spk.append(s.to(dtype))
        mem.append(m)
        hid.append(h)
    return torch.stack(spk), torch.stack(mem), torch.stack(hid)


def _encoded(ds: SequenceDataset, part: str, idx, encoder: str, sub: int, seed: int) -> torch.Tensor:
    x = getattr(ds, f"x_{part}")
    return encode_sequence(time_first(x[idx]), encoder, sub=sub, seed=seed)


def _loss(kind: str, spk: torch.Tensor, mem: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Classification loss of output spikes / membranes (T, B, n_out) against labels ``y``."""
    if kind == "rate":           # target spike counts: RATE_TARGETS of the steps (snnTorch's mse_count_loss)
        hi, lo = RATE_TARGETS
        goal = torch.full_like(spk[0], lo * spk.shape[0])
        goal[torch.arange(len(y)), y] = hi * spk.shape[0]
        return nn.functional.mse_loss(spk.sum(0), goal) / spk.shape[0]
    return nn.functional.cross_entropy((spk if kind == "count" else mem).sum(0), y)


def train_rsnn(model: nn.Sequential, ds: SequenceDataset, *, encoder: str = "direct", sub: int = 4,
               epochs: int = 5, lr: float = 2e-3, batch_size: int = 64, loss: str = "count",
               penalty: Callable[[nn.Sequential], torch.Tensor] | None = None, max_batches: int | None = None,
               seed: int = 0, progress: bool = False, time_budget: float | None = None) -> dict:
    """BPTT (Adam, cosine learning rate, surrogate gradient) through ``models.training.fit``.

    Loss: cross-entropy on the output spike counts ("count") or summed output membrane
    ("membrane"), or the mean squared error of the spike counts against target counts
    ("rate": ``RATE_TARGETS`` x T for the label and the others, which keeps every output
    neuron spiking and so its surrogate gradient alive), plus ``penalty(model)`` if given (e.g. the hop regulariser).
    ``max_batches`` caps the batches per epoch.  Recurrent masks are kept.  Returns the
    ``FitResult`` fields as a dict."""
    lin_in = check_rsnn(model)[0]
    if encoded_inputs(ds.n_features, encoder) != lin_in.in_features:
        raise ModelError(f"train_rsnn: {ds.name!r} encoded with {encoder!r} gives "
                         f"{encoded_inputs(ds.n_features, encoder)} inputs, the model takes {lin_in.in_features}")
    if loss not in LOSSES:
        raise ModelError(f"train_rsnn: loss must be one of {LOSSES}, got {loss!r}")
    y = torch.as_tensor(ds.y_train)
    gen = torch.Generator().manual_seed(seed)
    every = shuffled_batches(len(y), batch_size, gen)
    batches = every if max_batches is None else (lambda ep: (b for i, b in zip(range(max_batches), every(ep))))

    def batch_loss(idx: torch.Tensor, step) -> torch.Tensor:
        spk, mem, _ = run_rsnn(model, _encoded(ds, "train", idx.numpy(), encoder, sub, seed * 7919 + step.index))
        lo = _loss(loss, spk, mem, y[idx])
        return lo if penalty is None else lo + penalty(model)

    model.train()
    res = fit(model.parameters(), batches, batch_loss, epochs=epochs, lr=lr, cosine=True,
              grad_masks=recurrent_masks(model), progress=progress, time_budget=time_budget,
              desc=f"train rsnn {ds.name}")
    model.eval()
    reset_rsnn(model)
    return {"epochs": res.epochs, "steps": res.steps, "loss": res.loss, "wall_s": res.wall_s, "cpu_s": res.cpu_s}


@torch.no_grad()
def evaluate_rsnn(model: nn.Sequential, ds: SequenceDataset, *, encoder: str = "direct", sub: int = 4,
                  split: str = "test", n: int | None = None, seed: int = 0, batch_size: int = 256) -> dict:
    """``accuracy`` (fraction), ``hidden_spikes_per_sample``, ``output_spikes_per_sample``
    and ``input_spikes_per_sample`` (0 for "direct") on the first ``n`` samples of ``split``."""
    y = getattr(ds, f"y_{split}")[:n]
    preds, hid, outs, ins = [], 0.0, 0.0, 0.0
    for i in range(0, len(y), batch_size):
        xs = _encoded(ds, split, slice(i, min(i + batch_size, len(y))), encoder, sub, seed + i)
        spk, _, h = run_rsnn(model, xs)
        preds.append(predict(spk))
        hid, outs = hid + float(h.sum()), outs + float(spk.sum())
        ins += 0.0 if encoder == "direct" else float(xs.sum())
    reset_rsnn(model)
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    k = max(len(y), 1)
    return {"accuracy": float(np.mean(pred == y)) if len(y) else float("nan"), "n": int(len(y)),
            "hidden_spikes_per_sample": hid / k, "output_spikes_per_sample": outs / k,
            "input_spikes_per_sample": ins / k}
