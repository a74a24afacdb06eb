"""Pollution P^{i->j}: how much the weights protected for task j drive neurons' input on task
i's data.  Two quantities live here.

**The research notes' definition (equations 2-4), literally** -- :func:`notes_pollution`:

    p^{i->j}_{l,n} = E_{x ~ D_i}[ sum_{w in W^j_{l,n}} w(x) / sum_{w in W^i_{l,n}} w(x) ]
    P^{i->j}       = 1/(L+1) sum_l 1/N_l sum_n p^{i->j}_{l,n}

over the network the method runs on task i's inputs, with w(x) = w_{l,m,n} h_{l-1,m}(x) the
contribution of a weight to its neuron's pre-activation (presynaptic activity h: the input,
then ReLU activations; biases are not weights, so they drive h but enter no sum).
``W^j_{l,n}`` is given as the *part* of neuron n's incoming weights protected for task j
(``W * M_j`` for a set M_j; for LoRA-CL the frozen core / adapter a task owns, whose
contributions the same sums add up).  Protection by each method's own notion (providers below):
SupSup, the weights task j's mask keeps (within the network used on task i, ``W * M_i``);
LoRA-CL, the core for task 0 and the merged adapter of task j; the hard mixture of experts, the
weights of every expert task j trained; MNTDP, the modules on task j's path; units born for a
task (DEN, growth; :func:`protected_by_birth`): the edges whose later endpoint was born at task
j, a task's head being born with it.  EWC and fine-tuning protect no set: OUR rule takes, per
neuron, the ``fisher_share`` of incoming weights with the largest diagonal Fisher of task j
(positive only; at the final weights, on up to ``fisher_samples`` of task j's training inputs),
so the output units of other tasks' classes (zero Fisher) protect nothing for task j and are
undefined terms of row j.

The signed ratio is ill-posed where its denominator is near zero.  OUR epsilon rule: a term
(x, l, n) is *undefined* when ``|sum_{W^i} w(x)| <= eps * sum_{all m} |w_{l,m,n} h_m(x)|`` (this
includes 0/0); undefined terms are left out of the expectation, a neuron or layer with no
defined term out of its mean, and the share of undefined terms of each row i is reported.
P^{i->i} = 1 wherever anything is defined.

**A magnitude variant (OURS, not the notes')**: the same with ``|w(x)|`` inside both sums (same
undefined rule on its own denominator); it is non-negative and cannot cancel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .common import (
    BaselineError,
    ContinualLearner,
    TaskLike,
    as_tensors,
    check_tasks,
    linears,
)
from .ewc import EWC, diagonal_fisher
from .lora import LoRACL
from .supsup import SupSup


@dataclass
class ProtectedNet:
    """A ReLU MLP a method runs on some of task i's inputs: ``weights[l]`` (out, in) and
    ``biases[l]`` (out,) as used, ``protected[l][j]`` the part of ``weights[l]`` protected for
    task j (same shape; zero where j protects nothing).  Layer l's dict must hold task i."""

    weights: list[Tensor]
    biases: list[Tensor]
    protected: list[dict[int, Tensor]]


Provider = Callable[[ContinualLearner, Tensor, int, Sequence[TaskLike]], list[tuple[Tensor, ProtectedNet]]]


@dataclass
class NotesPollution:
    """P[i, j] = P^{i->j} by equations 2-4 (``signed``, the notes' literal form) and by our
    magnitude variant (``magnitude``); ``undefined_signed[i]`` / ``undefined_magnitude[i]``:
    share of row i's (sample, layer, neuron) terms left out by the epsilon rule ``eps``."""

    signed: np.ndarray
    magnitude: np.ndarray
    undefined_signed: np.ndarray
    undefined_magnitude: np.ndarray
    eps: float


def neuron_ratios(net: ProtectedNet, x: Tensor, i: int, owners: Sequence[int], *, eps: float
                  ) -> tuple[list[Tensor], list[Tensor]]:
    """Per layer, (len(owners), N, N_l) ratios (NaN where undefined) of the signed and the
    magnitude form of eq. 3's inner ratio, for the rows of ``x`` run through ``net``."""
    n_layers = len(net.weights)
    if not (len(net.biases) == len(net.protected) == n_layers) or n_layers == 0:
        raise BaselineError(f"pollution: {n_layers} weight, {len(net.biases)} bias and {len(net.protected)} "
                            "protected-set layers; the protected sets must cover every layer")
    if x.ndim != 2 or x.shape[1] != net.weights[0].shape[1]:
        raise BaselineError(f"pollution: inputs {tuple(x.shape)} do not fit a first layer of "
                            f"{net.weights[0].shape[1]} inputs")
    signed, magnitude = [], []
    h = x
    with torch.no_grad():
        for l, (w, b, prot) in enumerate(zip(net.weights, net.biases, net.protected)):
            if i not in prot:
                raise BaselineError(f"pollution: the protected sets do not cover layer {l} for task {i}; "
                                    f"give task {i}'s part (zeros if it protects nothing there)")
            for j, part in prot.items():
                if part.shape != w.shape:
                    raise BaselineError(f"pollution: layer {l} part of task {j} has shape {tuple(part.shape)}, "
                                        f"the layer's weights {tuple(w.shape)}")
            scale = h.abs() @ w.abs().T
            zero = torch.zeros_like(w)
            num_s = torch.stack([h @ prot.get(j, zero).T for j in owners])
            num_m = torch.stack([h.abs() @ prot.get(j, zero).abs().T for j in owners])
            den_s, den_m = h @ prot[i].T, h.abs() @ prot[i].abs().T
            signed.append(torch.where(den_s.abs() > eps * scale, num_s / den_s, torch.nan))
            magnitude.append(torch.where(den_m > eps * scale, num_m / den_m, torch.nan))
            pre = h @ w.T + b
            h = torch.relu(pre) if l < n_layers - 1 else pre
    return signed, magnitude


def network_mean(per_layer: Sequence[Tensor]) -> tuple[np.ndarray, float]:
    """Eq. 4 over per-layer (J, N, N_l) ratios: mean over samples (eq. 3's expectation), then
    neurons, then layers, each skipping NaN; returns (P over J, share of NaN terms)."""
    layer_means = torch.stack([torch.nanmean(torch.nanmean(r, dim=1), dim=1) for r in per_layer])
    undefined = sum(int(torch.isnan(r[0]).sum()) for r in per_layer)
    total = sum(r[0].numel() for r in per_layer)
    return torch.nanmean(layer_means, dim=0).numpy().astype(float), undefined / total


def notes_pollution(learner: ContinualLearner, tasks: Sequence[TaskLike], *, eps: float = 1e-3,
                    split: str = "test", provider: Provider | None = None) -> NotesPollution:
    """Both pollution matrices of ``learner`` after it learned ``tasks`` (module docstring).

    ``provider(learner, x, i, tasks)`` returns [(row selector of x, ProtectedNet)] for task i's
    inputs x; by default the learner's ``protected_nets(x, i)`` or the built-in one for EWC,
    LoRA-CL and SupSup."""
    check_tasks(tasks)
    if not (eps >= 0 and math.isfinite(eps)):
        raise BaselineError(f"notes_pollution: eps must be a finite number >= 0, got {eps}")
    if split not in ("train", "test"):
        raise BaselineError(f"notes_pollution: split must be 'train' or 'test', got {split!r}")
    provider = provider or default_provider(learner)
    n = len(tasks)
    out = NotesPollution(np.zeros((n, n)), np.zeros((n, n)), np.zeros(n), np.zeros(n), float(eps))
    for i, task in enumerate(tasks):
        x = as_tensors(getattr(task, f"x_{split}"))
        groups = [neuron_ratios(net, x[sel], i, range(n), eps=eps) for sel, net in provider(learner, x, i, tasks)]
        if not groups:
            raise BaselineError(f"notes_pollution: the provider gave no network for task {i}")
        shapes = {tuple(r.shape[2] for r in g[0]) for g in groups}
        if len(shapes) != 1:
            raise BaselineError(f"notes_pollution: task {i}'s inputs run through networks of different layer "
                                f"sizes {sorted(shapes)}; eq. 4 needs one N_l per layer")
        for form, k in (("signed", 0), ("magnitude", 1)):
            per_layer = [torch.cat([g[k][l] for g in groups], dim=1) for l in range(len(groups[0][k]))]
            getattr(out, form)[i], getattr(out, f"undefined_{form}")[i] = network_mean(per_layer)
    return out


def diagonal_is_one(P: np.ndarray, *, tol: float = 1e-9) -> bool:
    """Whether every defined diagonal entry P^{i->i} equals 1 (eq. 3 by construction)."""
    d = np.diag(np.asarray(P, dtype=float))
    d = d[~np.isnan(d)]
    return bool(d.size) and bool(np.all(np.abs(d - 1) <= tol))


def protected_by_birth(weights: Sequence[Tensor], born: Sequence[Sequence[int]], t: int) -> list[dict[int, Tensor]]:
    """Protected parts by birth for the network of task t: ``born[l]`` the task at which each
    hidden unit of layer l was born (inputs: task 0; the last layer, task t's head: task t);
    an edge is protected for the task of its later endpoint."""
    if len(born) != len(weights) - 1:
        raise BaselineError(f"protected_by_birth: {len(born)} hidden layers of birth tasks for "
                            f"{len(weights)} weight layers; give one per hidden layer")
    prev = torch.zeros(weights[0].shape[1], dtype=torch.long)
    out = []
    for l, w in enumerate(weights):
        cur = torch.as_tensor(born[l], dtype=torch.long) if l < len(born) else torch.full((w.shape[0],), t)
        if cur.shape != (w.shape[0],):
            raise BaselineError(f"protected_by_birth: layer {l} has {w.shape[0]} units but {len(cur)} birth tasks")
        owner = torch.maximum(cur[:, None], prev[None, :])
        out.append({j: w * (owner == j) for j in sorted({*owner.unique().tolist(), t})})
        prev = cur
    return out


def _plain(model) -> tuple[list[Tensor], list[Tensor]]:
    lins = linears(model)
    return [m.weight.detach() for m in lins], [m.bias.detach() for m in lins]


def ewc_nets(learner: EWC, x: Tensor, i: int, tasks: Sequence[TaskLike], *, fisher_share: float = 0.5,
              fisher_samples: int = 512) -> list[tuple[Tensor, ProtectedNet]]:
    """EWC / fine-tuning: per neuron, the top ``fisher_share`` of incoming weights by task j's
    positive diagonal Fisher (our rule; see the module docstring)."""
    weights, biases = _plain(learner.model)
    names = [f"{name}.weight" for name, m in learner.model.named_modules() if isinstance(m, torch.nn.Linear)]
    protected: list[dict[int, Tensor]] = [{} for _ in weights]
    for j, task in enumerate(tasks):
        xj, yj = as_tensors(task.x_train[:fisher_samples], task.y_train[:fisher_samples])
        cls = torch.as_tensor(np.unique(np.asarray(task.y_train)), dtype=torch.long)
        fis = diagonal_fisher(learner.model, xj, yj, classes=cls, kind=learner.fisher)
        for l, (w, name) in enumerate(zip(weights, names)):
            f = fis[name]
            k = math.ceil(fisher_share * w.shape[1])
            top = torch.zeros_like(f, dtype=torch.bool).scatter_(1, torch.topk(f, k, dim=1).indices, True)
            protected[l][j] = w * (top & (f > 0))
    return [(torch.ones(len(x), dtype=torch.bool), ProtectedNet(weights, biases, protected))]


def lora_nets(learner: LoRACL, x: Tensor, i: int, tasks: Sequence[TaskLike]) -> list[tuple[Tensor, ProtectedNet]]:
    """LoRA-CL: task 0 protects the core, task j >= 1 its merged adapter."""
    weights, biases = _plain(learner.model)
    protected = [{0: learner.core[l], **{j + 1: d[l] for j, d in enumerate(learner.deltas)}}
                 for l in range(len(weights))]
    return [(torch.ones(len(x), dtype=torch.bool), ProtectedNet(weights, biases, protected))]


def supsup_nets(learner: SupSup, x: Tensor, i: int, tasks: Sequence[TaskLike]) -> list[tuple[Tensor, ProtectedNet]]:
    """SupSup: network ``W * M_i``; task j protects the edges its mask keeps."""
    if not 0 <= i < len(learner.masks):
        raise BaselineError(f"notes_pollution: SupSup has no mask for task {i}")
    used = [w * m.float() for w, m in zip(learner.weights, learner.masks[i])]
    protected = [{j: u * learner.masks[j][l].float() for j in range(len(learner.masks))} for l, u in enumerate(used)]
    return [(torch.ones(len(x), dtype=torch.bool),
             ProtectedNet(used, [torch.zeros(u.shape[0]) for u in used], protected))]


BUILT_IN: dict[type, Provider] = {EWC: ewc_nets, LoRACL: lora_nets, SupSup: supsup_nets}


def default_provider(learner) -> Provider:
    """The learner's own ``protected_nets(x, i)`` or the built-in provider of its class."""
    if hasattr(learner, "protected_nets"):
        return lambda L, x, i, tasks: L.protected_nets(x, i)
    for cls, fn in BUILT_IN.items():
        if isinstance(learner, cls):
            return fn
    raise BaselineError(f"notes_pollution: no protected-set definition for {type(learner).__name__}; give the "
                        "learner a protected_nets(x, t) method or pass provider=")


def off_diagonal_mean(P: np.ndarray) -> float:
    """Mean of P^{i->j} over i != j, skipping undefined (NaN) entries."""
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] < 2:
        raise BaselineError(f"off_diagonal_mean: need a square matrix of at least 2 tasks, got shape {P.shape}")
    off = P[~np.eye(len(P), dtype=bool)]
    return float(np.nanmean(off)) if np.any(~np.isnan(off)) else float("nan")


def pollution_figures(learner, tasks: Sequence[TaskLike], **kw) -> dict:
    """One table row's pollution figures: mean off-diagonal P^{i->j} by eqs. 2-4 (``pollution_notes``)
    and by our magnitude variant (``pollution_abs``), the share of undefined terms of each form
    over all rows, and whether both diagonals are 1.  ``kw`` goes to :func:`notes_pollution`."""
    P = notes_pollution(learner, tasks, **kw)
    return {"pollution_notes": off_diagonal_mean(P.signed), "pollution_abs": off_diagonal_mean(P.magnitude),
            "undefined_notes": float(P.undefined_signed.mean()), "undefined_abs": float(P.undefined_magnitude.mean()),
            "diagonal_is_one": float(diagonal_is_one(P.signed) and diagonal_is_one(P.magnitude))}


def births_from_sizes(sizes: Sequence[Sequence[int]], width: Sequence[int]) -> list[np.ndarray]:
    """Birth task of every hidden unit of a network grown by appending units: ``sizes[t][l]``
    units in layer l after task t; ``width[l]`` units in the network measured (units beyond
    the last task's count cannot be dated: an error)."""
    if not sizes:
        raise BaselineError("births_from_sizes: no task sizes")
    out = []
    for l, n in enumerate(width):
        counts = np.array([s[l] for s in sizes])
        if n > counts[-1] or np.any(np.diff(counts) < 0):
            raise BaselineError(f"births_from_sizes: layer {l} has {n} units, sizes per task {counts.tolist()}; "
                                "need non-decreasing counts covering every unit")
        out.append(np.searchsorted(counts, np.arange(n), side="right").astype(np.int64))
    return out


def birth_nets(model, born: Sequence[Sequence[int]], t: int, n_rows: int) -> list[tuple[Tensor, ProtectedNet]]:
    """Provider output for a grown network (DEN, growth.cl) run on ``n_rows`` inputs of task t:
    the plain ReLU MLP ``model`` with edges protected by birth (:func:`protected_by_birth`)."""
    weights, biases = _plain(model)
    return [(torch.ones(n_rows, dtype=torch.bool), ProtectedNet(weights, biases, protected_by_birth(weights, born, t)))]
