"""Grow hidden layers of an ``nn.Sequential`` MLP (ReLU twin or snnTorch spiking MLP) in place.

Hidden layer l is the output of the l-th ``nn.Linear``: growing it by k neurons adds k rows
to Linear l (fan-in, bias) and k columns to Linear l+1 (fan-out).  Parameters are resized in
place (the same ``nn.Parameter`` objects), so an optimizer keeps working; its per-parameter
state (Adam's exp_avg / exp_avg_sq, momentum buffers) is padded with zeros for the new
entries and left unchanged for the existing ones, as growneuron's ``copy_optimizer_slots``.

Initialisations (growneuron's growers, Evci et al. ICLR 2022):
- "gradmax": zero fan-in, fan-out = top-k left singular vectors of M (see growth.gradmax);
- "random":  zero fan-in, random fan-out (normal directions; growneuron draws uniform [0, 1));
- "zero":    random fan-in, zero fan-out.
Every method keeps the network's output unchanged right after growth (epsilon = 0).
Non-zero vectors are normalised and scaled to ``scale`` times the mean L2 norm of the existing
neurons' vectors (growneuron's ``scale_method='mean_norm'``; its AddGradmax default scale is 1).
"""
from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from growth.checks import positive_int
from growth.errors import GrowthError
from growth.gradmax import growth_matrix, top_singular
from models.snn import reset_state, run

METHODS = ("gradmax", "random", "zero")


class DeadLayerError(GrowthError):
    """GradMax found no gradient to grow along (the growth matrix is zero: the layer below
    is silent, or no gradient reaches the layer above)."""
# per-neuron parameters of snnTorch layers that must grow with the layer (states are reset)
_NEURON_PARAMS = ("beta", "alpha", "threshold", "graded_spikes_factor")

Batch = tuple[torch.Tensor, torch.Tensor]
Forward = Callable[[nn.Sequential, torch.Tensor], Any]
LossFn = Callable[[Any, torch.Tensor], torch.Tensor]


class _ReLUGrad1(torch.autograd.Function):
    """max(x, 0) with derivative 1 at x = 0 (and for x > 0), 0 for x < 0."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return g * (x >= 0).to(g.dtype)


class GrowReLU(nn.ReLU):
    """ReLU whose backward pass uses f'(0) = 1 instead of torch's f'(0) = 0.

    The forward pass is identical to ``nn.ReLU``.  GradMax needs f(0) = 0 and f'(0) != 0: a
    neuron grown with zero fan-in has pre-activation exactly 0, and with f'(0) = 0 its fan-in
    would never receive a gradient (growneuron's 'relu1' activation does the same in TF).
    It subclasses ``nn.ReLU`` so code that checks for ReLU layers still accepts it.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReLUGrad1.apply(x)


def use_grow_relu(model: nn.Sequential) -> int:
    """Replace every plain ``nn.ReLU`` in ``model`` by :class:`GrowReLU` (same forward);
    returns how many were replaced."""
    n = 0
    for i, m in enumerate(model):
        if type(m) is nn.ReLU:
            model[i] = GrowReLU()
            n += 1
    return n


def _linears(model: nn.Sequential) -> list[int]:
    if not isinstance(model, nn.Sequential):
        raise GrowthError(f"model must be an nn.Sequential of nn.Linear and activations, got {type(model).__name__}")
    return [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]


def hidden_sizes(model: nn.Sequential) -> list[int]:
    """Widths of the hidden layers (outputs of every Linear but the last)."""
    lin = _linears(model)
    return [model[i].out_features for i in lin[:-1]]


def _check_layer(model: nn.Sequential, layer: int) -> tuple[nn.Linear, nn.Linear, list[nn.Module]]:
    lin = _linears(model)
    n_hidden = len(lin) - 1
    if int(layer) != layer or not 0 <= layer < n_hidden:
        raise GrowthError(f"layer {layer!r} is not a hidden layer of this model; valid layers are "
                          f"0..{n_hidden - 1} ({n_hidden} hidden layers, sizes {hidden_sizes(model)})")
    a, b = lin[layer], lin[layer + 1]
    acts = [model[i] for i in range(a + 1, b)]
    if any(type(m) is nn.ReLU for m in acts):
        raise GrowthError(f"hidden layer {layer} uses nn.ReLU, whose f'(0) = 0 stops zero-fan-in "
                          "neurons from learning; call growth.use_grow_relu(model) first")
    return model[a], model[b], acts


def default_forward(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` for (B, n_in) input; for a (T, B, n_in) sequence, ``models.snn.run`` and
    the output spike counts summed over time (B, n_out), differentiable via the surrogate."""
    if x.ndim == 3:
        spk, _ = run(model, x)
        return spk.sum(0)
    return model(x)


def _batches(data: Batch | Iterable[Batch], max_batches: int | None) -> Iterable[Batch]:
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return [tuple(data)]  # type: ignore[list-item]
    out = []
    for i, b in enumerate(data):
        if max_batches is not None and i >= max_batches:
            break
        out.append(b)
    if not out:
        raise GrowthError("data yielded no batches; pass an (x, y) batch or a non-empty loader")
    return out


def capture_growth_matrix(model: nn.Sequential, layer: int, data: Batch | Iterable[Batch],
                          loss_fn: LossFn, *, forward: Forward = default_forward,
                          max_batches: int | None = None) -> torch.Tensor:
    """M (n_next, n_prev) float64 for hidden layer ``layer``: the gradient of ``loss_fn`` w.r.t.
    a zero auxiliary layer from Linear ``layer``'s input to Linear ``layer+1``'s output, summed
    over the batches of ``data`` and over every call of those Linears (time steps).

    Forward hooks record Linear l's input and Linear l+1's output at each call; the output
    gradients come from ``torch.autograd.grad``, so parameters' ``.grad`` are not touched.
    """
    lin_a, lin_b, _ = _check_layer(model, layer)
    m = torch.zeros(lin_b.out_features, lin_a.in_features, dtype=torch.float64)
    for x, y in _batches(data, max_batches):
        ins: list[torch.Tensor] = []
        outs: list[torch.Tensor] = []

        def hook_in(mod, inp, out):
            ins.append(inp[0].detach())

        def hook_out(mod, inp, out):
            if not out.requires_grad:
                out = out.detach().requires_grad_(True)
            outs.append(out)
            return out

        ha, hb = lin_a.register_forward_hook(hook_in), lin_b.register_forward_hook(hook_out)
        try:
            with torch.enable_grad():
                loss = loss_fn(forward(model, x), y)
                if loss.ndim != 0:
                    raise GrowthError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
                grads = torch.autograd.grad(loss, outs, allow_unused=True)
        finally:
            ha.remove()
            hb.remove()
        if len(ins) != len(outs):
            raise GrowthError(f"Linear {layer} ran {len(ins)} times but Linear {layer + 1} {len(outs)} "
                              "times; the model must apply them in sequence")
        for h, g in zip(ins, grads):
            if g is not None:
                m += growth_matrix(h.reshape(-1, h.shape[-1]), g.reshape(-1, g.shape[-1]))
    if not torch.isfinite(m).all():
        raise GrowthError("the growth matrix has NaN/inf entries; check the loss and the data")
    return m


def unit(v: torch.Tensor, dim: int) -> torch.Tensor:
    """``v`` with its non-zero vectors along ``dim`` scaled to unit L2 norm (zero ones kept)."""
    n = v.norm(dim=dim, keepdim=True)
    return torch.where(n > 0, v / n.clamp_min(1e-30), v)


def pad_param(p: nn.Parameter, new: torch.Tensor, dim: int, optimizer: torch.optim.Optimizer | None) -> None:
    """Append ``new`` to parameter ``p`` along ``dim`` in place; pad optimizer state with zeros."""
    old_shape = p.shape
    p.data = torch.cat([p.data, new.to(p.dtype)], dim=dim)
    p.grad = None
    if optimizer is None:
        return
    state = optimizer.state.get(p)
    if not state:
        return
    for key, v in list(state.items()):
        if torch.is_tensor(v) and v.shape == old_shape and v.ndim > 0:
            pad_shape = list(old_shape)
            pad_shape[dim] = new.shape[dim]
            state[key] = torch.cat([v, v.new_zeros(pad_shape)], dim=dim)


def renew_accumulators(modules: Iterable[nn.Module]) -> None:
    """Make sure the next backward through the parameters of ``modules`` (after a growth, and
    after their spiking states were reset) accumulates gradients of their new shapes.  Autograd
    keeps one gradient accumulator per parameter while any graph that used it is alive, and
    the accumulator remembers the shape it was made for.  A graph kept only by a reference
    cycle (garbage not yet collected) therefore broke the first backward after a growth
    ("invalid gradient ... expected shape compatible with" the old shape).  A zero-cost
    backward per parameter probes for a stale accumulator; if one is found, collecting the
    garbage frees it.  A graph the caller still holds keeps it (drop it before the next
    backward).  Gradients already stored are kept."""
    for p in {id(p): p for m in modules for p in m.parameters()}.values():
        if not p.requires_grad:
            continue
        grad, p.grad = p.grad, None
        if not _accumulates(p):
            gc.collect()
        p.grad = grad


def _accumulates(p: nn.Parameter) -> bool:
    """Whether a backward into ``p`` accumulates a gradient of its shape (``renew_accumulators``)."""
    try:
        with torch.enable_grad():
            p.sum().backward()
    except RuntimeError as e:
        if "invalid gradient" not in str(e):
            raise
        return False
    return True


def pad_neuron_params(act: nn.Module, n_old: int, k: int, optimizer: torch.optim.Optimizer | None) -> None:
    """Give k new neurons of a snnTorch layer the mean of its per-neuron parameters (beta,
    threshold, ...); scalar parameters are shared and left alone."""
    for name in _NEURON_PARAMS:
        v = getattr(act, name, None)
        if torch.is_tensor(v) and v.ndim >= 1 and v.numel() > 1 and v.shape[-1] == n_old:
            fill = v.mean(dim=-1, keepdim=True).expand(*v.shape[:-1], k)
            if isinstance(v, nn.Parameter):
                pad_param(v, fill.clone(), v.ndim - 1, optimizer)
            else:
                setattr(act, name, torch.cat([v, fill], dim=-1))


def insert_units(model: nn.Sequential, layer: int, fan_in: torch.Tensor, fan_out: torch.Tensor,
                 bias: torch.Tensor | None = None, *,
                 optimizer: torch.optim.Optimizer | None = None) -> None:
    """Append k neurons to hidden layer ``layer``: ``fan_in`` (k, n_prev) rows of Linear l,
    ``fan_out`` (n_next, k) columns of Linear l+1, ``bias`` (k,) (default zeros).  Per-neuron
    snnTorch parameters (beta, threshold, ...) of the layer's activation get the mean of the
    existing values; spiking hidden states are reset."""
    lin_a, lin_b, acts = _check_layer(model, layer)
    k = fan_in.shape[0]
    if fan_in.shape != (k, lin_a.in_features) or fan_out.shape != (lin_b.out_features, k):
        raise GrowthError(f"insert_units: fan_in must be ({k}, {lin_a.in_features}) and fan_out "
                          f"({lin_b.out_features}, {k}), got {tuple(fan_in.shape)} and {tuple(fan_out.shape)}")
    if bias is None:
        bias = torch.zeros(k)
    if bias.shape != (k,):
        raise GrowthError(f"insert_units: bias must have shape ({k},), got {tuple(bias.shape)}")
    for t, name in ((fan_in, "fan_in"), (fan_out, "fan_out"), (bias, "bias")):
        if not torch.isfinite(t).all():
            raise GrowthError(f"insert_units: {name} has NaN/inf entries")
    n_old = lin_a.out_features
    with torch.no_grad():
        pad_param(lin_a.weight, fan_in.detach(), 0, optimizer)
        if lin_a.bias is not None:
            pad_param(lin_a.bias, bias.detach(), 0, optimizer)
        pad_param(lin_b.weight, fan_out.detach(), 1, optimizer)
        lin_a.out_features += k
        lin_b.in_features += k
        for act in acts:
            pad_neuron_params(act, n_old, k, optimizer)
    if any(hasattr(a, "init_hidden") for a in acts):
        reset_state(model)
    renew_accumulators([lin_a, lin_b, *acts])


def grow_layer(model: nn.Sequential, layer: int, k: int, *, method: str = "gradmax",
               optimizer: torch.optim.Optimizer | None = None,
               data: Batch | Iterable[Batch] | None = None, loss_fn: LossFn | None = None,
               forward: Forward = default_forward, scale: float = 1.0, epsilon: float = 0.0,
               targets: torch.Tensor | None = None, max_batches: int | None = None,
               fill: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """Grow hidden layer ``layer`` of ``model`` by up to ``k`` neurons, in place.

    method: "gradmax" (needs ``data`` = an (x, y) batch or an iterable of batches, and
    ``loss_fn(forward(model, x), y)``; k is capped by rank M, so fewer may be added),
    "random" or "zero" (see module doc).  ``fill=True`` tops GradMax up to exactly k neurons
    when rank M < k: the extra fan-outs are random directions orthogonal to the chosen ones
    (benefit 0), scaled alike.  ``scale``: new vectors' norm relative to the mean
    norm of the existing ones.  ``epsilon``: the relative norm of random fan-in for
    gradmax/random (growneuron's epsilon; 0 keeps the function).  ``targets``: optional bool
    (n_next,) mask; fan-out to the other next-layer units stays zero (used to protect old
    tasks).  ``optimizer``: its state is padded.  Returns the benefit estimate per new neuron:
    the top singular values of M for "gradmax", NaN for the baselines (no estimate).
    """
    lin_a, lin_b, _ = _check_layer(model, layer)
    if method not in METHODS:
        raise GrowthError(f"unknown growth method {method!r}; use one of {METHODS}")
    k = positive_int(k, "k", " number of neurons")
    n_next, n_prev = lin_b.out_features, lin_a.in_features
    if targets is not None:
        targets = torch.as_tensor(targets, dtype=torch.bool)
        if targets.shape != (n_next,):
            raise GrowthError(f"targets must be a bool mask of shape ({n_next},), got {tuple(targets.shape)}")
    mask = torch.ones(n_next, 1) if targets is None else targets.to(torch.float32)[:, None]
    w_a, w_b = lin_a.weight.detach(), lin_b.weight.detach()
    fan_in_norm = w_a.norm(dim=1).mean().item()
    fan_out_norm = w_b.norm(dim=0).mean().item()

    def rand(shape):
        return torch.randn(shape, generator=generator)

    if method == "gradmax":
        if data is None or loss_fn is None:
            raise GrowthError("method='gradmax' needs data=(x, y) (or a loader) and loss_fn")
        m = capture_growth_matrix(model, layer, data, loss_fn, forward=forward, max_batches=max_batches)
        u, sv = top_singular(m * mask.to(m.dtype), k)
        if u.shape[1] == 0:
            raise DeadLayerError(f"the growth matrix of layer {layer} is zero (no gradient reaches layer "
                              f"{layer + 1}), so GradMax has no direction to grow; use method='random'")
        u, sv = u.to(torch.float32), sv.to(torch.float32)
        if fill and u.shape[1] < k:
            extra = rand((n_next, k - u.shape[1])) * mask
            extra = extra - u @ (u.T @ extra)
            u = torch.cat([u, unit(extra, 0)], dim=1)
            sv = torch.cat([sv, torch.zeros(k - len(sv))])
        k = u.shape[1]
        fan_out = u * (scale * fan_out_norm)
        fan_in = unit(rand((k, n_prev)), 1) * (epsilon * fan_in_norm)
        benefit = sv
    elif method == "random":
        fan_out = unit(rand((n_next, k)) * mask, 0) * (scale * fan_out_norm)
        fan_in = unit(rand((k, n_prev)), 1) * (epsilon * fan_in_norm)
        benefit = torch.full((k,), float("nan"))
    else:
        fan_out = torch.zeros(n_next, k)
        fan_in = unit(rand((k, n_prev)), 1) * (scale * fan_in_norm)
        benefit = torch.full((k,), float("nan"))
    insert_units(model, layer, fan_in, fan_out, optimizer=optimizer)
    return benefit
