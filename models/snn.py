"""snnTorch spiking MLPs: construction, input encoders, and stepping through time.

A model is an ``nn.Sequential`` alternating ``nn.Linear`` and an activation module:
``snntorch.Leaky`` / ``snntorch.Synaptic`` (``init_hidden=True``; the last one has
``output=True``) for a spiking net, ``nn.ReLU`` for its non-spiking twin.  All per-neuron
state lives in snnTorch's hidden state, so a layer can be grown by replacing its
``nn.Linear`` modules; nothing here caches layer sizes.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import snntorch as snn
import torch
from snntorch import spikegen, surrogate
from torch import nn

from .errors import ModelError
from .training import Step, fit, shuffled_batches

KINDS = ("leaky", "synaptic", "relu")
ENCODERS = ("direct", "rate", "latency")


def make_mlp(sizes: Sequence[int], kind: str = "leaky", *, beta: float = 0.9, alpha: float = 0.8,
             threshold: float = 1.0, reset: str = "subtract", bias: bool | str | None = None,
             surrogate_slope: float = 25.0, seed: int = 0) -> nn.Sequential:
    """An MLP with layer widths ``sizes`` (inputs first), e.g. ``[64, 128, 10]``.

    ``kind``: "leaky" (snnTorch ``Leaky``), "synaptic" (``Synaptic``, current-based) or
    "relu" (the ANN twin).  ``beta``/``alpha`` are per-step decay factors, ``threshold`` the
    firing threshold, ``reset`` "subtract" or "zero".  ``bias``: True (every Linear), False, or
    "first" (the first Linear only; the default, False for "synaptic").  Why: on the chip a
    bias is a constant drive from step 0, while layer l's input arrives l steps late (one
    step per synapse), so only first-layer biases keep spike-for-spike equality; and a
    Synaptic layer filters a Linear bias through alpha, the chip does not.  Surrogate gradient: fast sigmoid
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
        bias = False if kind == "synaptic" else "first"
    if bias not in (True, False, "first"):
        raise ModelError(f"make_mlp: bias must be True, False or 'first', got {bias!r}")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers: list[nn.Module] = []
        grad = surrogate.fast_sigmoid(slope=surrogate_slope)
        n_layers = len(sizes) - 1
        for i in range(n_layers):
            layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=bias is True or (bias == "first" and i == 0)))
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


EVAL_BATCH = 512


def encode_batches(x, T: int, encoder: str = "direct", seed: int = 0, batch_size: int = EVAL_BATCH):
    """Yield ``(start, encode(x[start:start+batch_size], T, encoder, seed + start))``: the
    evaluation's input draws, identical for snnTorch (``evaluate``) and the chip read-out."""
    for i in range(0, len(x), batch_size):
        yield i, encode(x[i:i + batch_size], T, encoder, seed=seed + i)


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
    dtype = lins[0].weight.dtype
    x_seq = x_seq.to(dtype)
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
                    h = spk
                h = h.to(dtype)  # snnTorch's spike functions return float32
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



def predict(spk_out) -> np.ndarray:
    """Class per sample from output spikes (T, B, n_out): most spikes; ties go to the
    earliest first spike, then to the lowest index.  Used for snnTorch and the chip alike."""
    s = np.asarray(spk_out.detach().cpu() if isinstance(spk_out, torch.Tensor) else spk_out) > 0
    T = s.shape[0]
    counts = s.sum(0).astype(np.int64)
    first = np.where(s.any(0), s.argmax(0), T)
    return np.argmax(counts * (T + 1) - first, axis=1)


def _loss(model: nn.Sequential, xb: torch.Tensor, yb: torch.Tensor, T: int, encoder: str, seed: int,
          loss: str, ls: float) -> torch.Tensor:
    ce = lambda z, y: nn.functional.cross_entropy(z, y, label_smoothing=ls)  # noqa: E731
    if not is_spiking(model):
        return ce(model(xb), yb)
    xs = xb.unsqueeze(0).expand(T, *xb.shape) if encoder == "direct" else encode(xb, T, encoder, seed=seed)
    spk, mem = run(model, xs)
    if loss == "count":  # cross-entropy on the output spike counts
        return ce(spk.sum(0), yb)
    if loss == "rate":  # snnTorch's ce_rate_loss: cross-entropy on the spikes of every step
        return ce(spk.flatten(0, 1), yb.repeat(spk.shape[0]))
    return ce(mem.sum(0), yb)  # "membrane"


LOSSES = ("count", "rate", "membrane")


def train(model: nn.Sequential, ds, *, T: int = 10, encoder: str = "direct", epochs: int = 20,
          lr: float = 2e-3, batch_size: int = 64, loss: str = "count", weight_decay: float = 0.0,
          noise: float = 0.0, label_smoothing: float = 0.0, standardize: bool = False, seed: int = 0,
          progress: bool = True, time_budget: float | None = None) -> dict:
    """Train ``model`` on ``ds`` by backpropagation through time (Adam, surrogate gradient).

    The learning rate follows a cosine schedule from ``lr`` to 0 over ``epochs``.
    Spiking models see ``encode(x, T, encoder)``; the loss is cross-entropy on the output
    spike counts ("count", default), on every step's spikes ("rate") or on the summed output
    membrane ("membrane").  A ReLU twin is trained on ``x`` directly (T and encoder unused).
    ``noise``: std of Gaussian noise added to each training batch (clipped to [0, 1]);
    ``label_smoothing`` of the cross-entropy.  ``standardize`` (direct input or ReLU only):
    train on ``(x - mean) / std`` (per-feature mean, one std over all features), then fold
    that affine map into the first Linear (``W/std``, ``b - W mean/std``), so the returned
    model takes the raw [0, 1] input; this conditions data with a large common offset
    (e.g. MNIST-1D) the way a normalisation layer would, at no cost on the chip.
    ``time_budget`` (CPU seconds of this process, robust to a shared machine) stops after
    the epoch that exceeds it.  Returns a dict with ``epochs`` run, final ``loss``, ``wall_s``
    and ``cpu_s``.  Seeded: same seed, same model.
    """
    check_model(model)
    if loss not in LOSSES:
        raise ModelError(f"train: unknown loss {loss!r}; use one of {LOSSES}")
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ModelError(f"train: need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    first = linear_layers(model)[0]
    if ds.n_features != first.in_features:
        raise ModelError(f"train: data set {ds.name!r} has {ds.n_features} features, the model expects "
                         f"{first.in_features}")
    x = torch.as_tensor(ds.x_train, dtype=first.weight.dtype)
    y = torch.as_tensor(ds.y_train)
    fold = standardization(model, x, encoder) if standardize else None
    if fold is not None:
        x = (x - fold[0]) / fold[1]
    gen = torch.Generator().manual_seed(seed)

    def batch_loss(idx: torch.Tensor, step: Step) -> torch.Tensor:
        xb = x[idx]
        if noise > 0:
            xb = xb + noise * torch.randn(xb.shape, generator=gen, dtype=xb.dtype)
            xb = xb if standardize else torch.clamp(xb, 0.0, 1.0)
        return _loss(model, xb, y[idx], T, encoder, seed * 100003 + step.epoch * 1009 + step.batch, loss,
                     label_smoothing)

    model.train()
    with standardized_input(model, fold) if fold is not None else contextlib.nullcontext():
        res = fit(model.parameters(), shuffled_batches(len(y), batch_size, gen), batch_loss, epochs=epochs,
                  lr=lr, weight_decay=weight_decay, cosine=True, time_budget=time_budget, progress=progress,
                  desc=f"train {ds.name}")
    model.eval()
    reset_state(model)
    return {"epochs": res.epochs, "loss": res.loss, "wall_s": res.wall_s, "cpu_s": res.cpu_s}


def standardization(model: nn.Sequential, x: torch.Tensor, encoder: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, std)`` of the training inputs ``x`` (per feature, one std over all features)
    for ``standardized_input``; refuses a spike code (it cannot be shifted) and a first Linear
    without a bias (the shift folds into it)."""
    first = linear_layers(model)[0]
    if is_spiking(model) and encoder != "direct":
        raise ModelError("train: standardize needs direct input (a spike code cannot be shifted)")
    if first.bias is None:
        raise ModelError("train: standardize folds into the first Linear's bias; build it with a bias")
    return x.mean(0), x.std().clamp_min(1e-6)


@contextlib.contextmanager
def standardized_input(model: nn.Sequential, fold: tuple[torch.Tensor, torch.Tensor]) -> Iterator[None]:
    """Inside the block ``model`` takes ``(x - mean) / std`` (``fold`` from ``standardization``)
    and computes the same function as outside it on raw ``x``: the first Linear becomes
    ``(W std, b + W mean)``; on leaving (also on an error) it is folded back (``W / std``,
    ``b - W mean / std``), so training inside conditions the data without changing the chip's input."""
    mu, sd = fold
    first = linear_layers(model)[0]
    with torch.no_grad():
        first.bias.add_(first.weight @ mu)
        first.weight.mul_(sd)
    try:
        yield
    finally:
        with torch.no_grad():
            first.weight.div_(sd)
            first.bias.sub_(first.weight @ mu)


@torch.no_grad()
def evaluate(model: nn.Sequential, ds, T: int = 10, encoder: str = "direct", *, split: str = "test",
             seed: int = 0) -> dict:
    """Accuracy and spike counts of ``model`` on ``ds`` (``split`` "test" or "train").

    Returns ``accuracy`` (fraction), ``predictions`` (int array), and for spiking models
    ``spikes_per_sample`` (all layers, mean over samples), ``spikes_per_layer`` (list) and
    ``input_spikes_per_sample`` (0 for direct input).  Input draws: ``encode_batches``.
    """
    check_model(model)
    x = getattr(ds, f"x_{split}")
    y = getattr(ds, f"y_{split}")
    dtype = linear_layers(model)[0].weight.dtype
    preds, per_layer, in_spk = [], None, 0.0
    for i, xs in encode_batches(x, T, encoder if is_spiking(model) else "direct", seed):
        xs = xs.to(dtype)
        if not is_spiking(model):
            preds.append(model(xs[0]).argmax(1).numpy())
            continue
        spk, _, layers = run(model, xs, record=True)
        preds.append(predict(spk))
        counts = np.array([float(l.sum()) for l in layers])
        per_layer = counts if per_layer is None else per_layer + counts
        if encoder != "direct":
            in_spk += float(xs.sum())
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    out = {"accuracy": float(np.mean(pred == y)) if len(y) else float("nan"), "predictions": pred,
           "n": int(len(y))}
    if per_layer is not None:
        out["spikes_per_layer"] = (per_layer / len(y)).tolist()
        out["spikes_per_sample"] = float(per_layer.sum() / len(y))
        out["input_spikes_per_sample"] = in_spk / len(y)
    return out
