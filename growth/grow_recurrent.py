"""Grow the recurrent hidden layer of a ``models.recurrent`` SNN (RLeaky / RSynaptic) in place.

k new neurons get zero fan-in (their rows of the input weights and of the recurrent matrix
are zero), so they never spike at the moment of growth and the network's spikes are exactly
unchanged.  Their fan-out reaches two places: the read-out layer (new columns of the output
Linear) and the recurrent matrix (new columns of W_rec: synapses onto the existing hidden
neurons, felt one step later).  A fan-out vector is therefore (H + n_out,): recurrent targets
first, then read-out targets.

GradMax (Evci et al., ICLR 2022) for this layer: with zero fan-in, the gradient of the loss
w.r.t. a new neuron's fan-in is linear in its fan-out w, grad = A w, where A (n_prev, n_next)
sums over every time step of BPTT (through the membrane and synaptic-current decay, the
reset and the surrogate derivative), n_prev = n_in + H (inputs, then hidden spikes one step
back), n_next = H + n_out.  The best unit-norm fan-outs maximise sum ||A w_j||^2: the top-k
left singular vectors of M = A^T.  M is measured exactly by one BPTT pass on a copy of the
model grown by n_next auxiliary zero-fan-in neurons whose fan-outs are the unit vectors: row i
of M is the fan-in gradient of auxiliary neuron i.  Optimizer state (Adam's moments) is
padded with zeros, as ``growth.grow.insert_units`` does for MLPs.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from growth.checks import positive_int
from growth.errors import GrowthError
from growth.grow import DeadLayerError, pad_neuron_params, pad_param, renew_accumulators, unit
from growth.gradmax import top_singular
from models.recurrent import check_rsnn, copy_rsnn, reset_rsnn, run_rsnn

RMETHODS = ("gradmax", "random")

SeqBatch = tuple[torch.Tensor, torch.Tensor]
SeqLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def count_loss(spk: torch.Tensor, mem: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the output spike counts (``models.recurrent.train_rsnn``'s "count")."""
    return nn.functional.cross_entropy(spk.sum(0), y)


def _check(model: nn.Sequential, layer: int):
    mods = check_rsnn(model)
    if isinstance(layer, bool) or layer != 0:
        raise GrowthError(f"layer {layer!r} does not exist: a recurrent SNN has one hidden layer, layer 0 "
                          f"({mods[0].out_features} neurons)")
    return mods


def _new_mask(rec: nn.Module, H: int, k: int, mask) -> torch.Tensor | None:
    """The grown layer's (H + k, H + k) 0/1 recurrent mask, or None when the layer stays dense."""
    old = getattr(rec.recurrent, "mask", None)
    if mask is None:
        if old is None:
            return None
        m = torch.ones(H + k, H + k)
        m[:H, :H] = old
        return m
    m = torch.as_tensor(mask, dtype=torch.float32)
    if m.shape != (H + k, H + k) or not torch.all((m == 0) | (m == 1)):
        raise GrowthError(f"the recurrent mask of the grown layer must be a ({H + k}, {H + k}) 0/1 array "
                          f"(H = {H} neurons + k = {k} new), got shape {tuple(m.shape)}")
    keep = torch.ones(H, H) if old is None else old
    if not torch.equal(m[:H, :H], keep):
        raise GrowthError("the mask's top-left (H, H) block must equal the layer's current mask "
                          "(growth may not change existing synapses)")
    return m


def insert_recurrent_units(model: nn.Sequential, fan_out: torch.Tensor, *, layer: int = 0,
                           optimizer: torch.optim.Optimizer | None = None, mask=None) -> None:
    """Append k = ``fan_out.shape[1]`` zero-fan-in neurons to the recurrent layer: ``fan_out``
    (H + n_out, k), rows 0..H-1 the new columns of W_rec, the rest the read-out columns.
    ``mask``: the grown (H + k, H + k) recurrent mask (default: the current one, new synapses
    allowed); fan-out entries it forbids are set to 0.  States are reset."""
    lin_in, rec, lin_out, _ = _check(model, layer)
    H, n_out, n_in = lin_in.out_features, lin_out.out_features, lin_in.in_features
    if fan_out.ndim != 2 or fan_out.shape[0] != H + n_out or fan_out.shape[1] < 1:
        raise GrowthError(f"fan_out must be (H + n_out = {H + n_out}, k >= 1), got {tuple(fan_out.shape)}")
    if not torch.isfinite(fan_out).all():
        raise GrowthError("fan_out has NaN/inf entries")
    k = fan_out.shape[1]
    m = _new_mask(rec, H, k, mask)
    f_rec, f_out = fan_out[:H].detach(), fan_out[H:].detach()
    if m is not None:
        f_rec = f_rec * m[:H, H:]
    w = rec.recurrent.weight
    with torch.no_grad():
        pad_param(lin_in.weight, torch.zeros(k, n_in), 0, optimizer)
        pad_param(w, torch.zeros(k, H), 0, optimizer)
        pad_param(w, torch.cat([f_rec, torch.zeros(k, k)]), 1, optimizer)
        pad_param(lin_out.weight, f_out, 1, optimizer)
        pad_neuron_params(rec, H, k, optimizer)
    lin_in.out_features = rec.recurrent.in_features = rec.recurrent.out_features = lin_out.in_features = H + k
    rec.linear_features = H + k
    if m is not None:
        if hasattr(rec.recurrent, "mask"):
            rec.recurrent.mask = m
        else:
            rec.recurrent.register_buffer("mask", m)
    reset_rsnn(model)
    renew_accumulators([lin_in, rec, lin_out])


def _batches(data: SeqBatch | Iterable[SeqBatch]) -> list[SeqBatch]:
    if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]):
        return [tuple(data)]  # type: ignore[list-item]
    out = list(data)
    if not out:
        raise GrowthError("data yielded no batches; pass an (x_seq, y) batch or a non-empty list")
    return out


def recurrent_growth_matrix(model: nn.Sequential, data: SeqBatch | Iterable[SeqBatch], *,
                            loss_fn: SeqLoss = count_loss, layer: int = 0) -> torch.Tensor:
    """M (H + n_out, n_in + H) float64, summed over the batches of ``data`` ((T, B, n_in)
    sequences and labels) and over time steps: row i is the BPTT gradient of
    ``loss_fn(spk, mem, y)`` w.r.t. the fan-in (inputs, then hidden spikes) of a zero-fan-in
    neuron whose fan-out is unit vector i (module doc).  The model is not changed."""
    lin_in, _, lin_out, _ = _check(model, layer)
    H, n_out, n_in = lin_in.out_features, lin_out.out_features, lin_in.in_features
    n_next = H + n_out
    aux = copy_rsnn(model)
    if hasattr(aux[1].recurrent, "mask"):
        del aux[1].recurrent.mask           # the auxiliary neurons may reach every target
    insert_recurrent_units(aux, torch.eye(n_next))
    a_in, a_rec = aux[0].weight, aux[1].recurrent.weight
    m = torch.zeros(n_next, n_in + H, dtype=torch.float64)
    with torch.enable_grad():
        for x, y in _batches(data):
            spk, mem, _ = run_rsnn(aux, x)
            loss = loss_fn(spk, mem, y)
            if loss.ndim != 0:
                raise GrowthError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
            g_in, g_rec = torch.autograd.grad(loss, [a_in, a_rec])
            m += torch.cat([g_in[H:], g_rec[H:, :H]], dim=1).to(torch.float64)
    if not torch.isfinite(m).all():
        raise GrowthError("the growth matrix has NaN/inf entries; check the loss and the data")
    return m


def _fan_out_norm(model: nn.Sequential) -> float:
    """Mean L2 norm of the existing neurons' fan-outs (recurrent column and read-out column)."""
    _, rec, lin_out, _ = check_rsnn(model)
    f = torch.cat([rec.recurrent.weight.detach(), lin_out.weight.detach()])
    return float(f.norm(dim=0).mean())


def grow_recurrent(model: nn.Sequential, k: int, *, method: str = "gradmax", layer: int = 0,
                   optimizer: torch.optim.Optimizer | None = None,
                   data: SeqBatch | Iterable[SeqBatch] | None = None, loss_fn: SeqLoss = count_loss,
                   scale: float = 1.0, mask=None, fill: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Grow the recurrent layer by up to ``k`` neurons in place; returns the benefit per new
    neuron (GradMax: the top singular values of M; "random": NaN).

    "gradmax" needs ``data`` (an (x_seq, y) batch or a list) and adds min(k, rank M) neurons
    whose fan-outs are M's top left singular vectors; "random": k normal directions.  Either
    way the fan-outs are scaled to ``scale`` x the mean fan-out norm of the existing neurons.
    With a recurrent mask, GradMax's directions use only the recurrent targets every new
    neuron may reach.  ``fill=True`` tops GradMax up to exactly k neurons when rank M < k:
    random directions orthogonal to the chosen ones (benefit 0), scaled alike.
    ``optimizer``: its state is padded."""
    lin_in, rec, lin_out, _ = _check(model, layer)
    if method not in RMETHODS:
        raise GrowthError(f"unknown recurrent growth method {method!r}; use one of {RMETHODS}")
    k, H = positive_int(k, "k", " number of neurons"), lin_in.out_features
    m = _new_mask(rec, H, k, mask)
    allowed = torch.ones(H + lin_out.out_features)
    if m is not None:
        allowed[:H] = m[:H, H:].min(dim=1).values
    norm = scale * _fan_out_norm(model)
    if method == "gradmax":
        if data is None:
            raise GrowthError("method='gradmax' needs data=(x_seq, y) (or a list of batches)")
        g = recurrent_growth_matrix(model, data, loss_fn=loss_fn)
        u, sv = top_singular(g * allowed[:, None].to(g.dtype), k)
        if u.shape[1] == 0:
            raise DeadLayerError("the recurrent growth matrix is zero (no gradient reaches the new neurons' "
                                 "fan-in), so GradMax has no direction to grow; use method='random'")
        u, benefit = u.to(torch.float32), sv.to(torch.float32)
        if fill and u.shape[1] < k:
            extra = torch.randn(u.shape[0], k - u.shape[1], generator=generator) * allowed[:, None]
            u = torch.cat([u, unit(extra - u @ (u.T @ extra), 0)], dim=1)
            benefit = torch.cat([benefit, torch.zeros(k - len(benefit))])
        fan_out = u * norm
    else:
        fan_out = unit(torch.randn(H + lin_out.out_features, k, generator=generator) * allowed[:, None], 0) * norm
        benefit = torch.full((k,), float("nan"))
    insert_recurrent_units(model, fan_out, optimizer=optimizer, mask=m)
    return benefit
