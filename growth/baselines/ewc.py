"""Elastic weight consolidation (Kirkpatrick et al., PNAS 2017) on a ReLU MLP.

Penalty while training task t: ``lam/2 * sum_k sum_{s<t} F_s,k (theta_k - theta*_s,k)^2``
with ``F_s`` the diagonal Fisher of task s at its solution ``theta*_s``.  ``online=True`` keeps
one running Fisher ``F <- gamma F + F_t`` anchored at the latest solution (Schwarz et al.,
"Progress & Compress", ICML 2018).

Fisher (``fisher=``):
- ``"empirical"``: mean over training samples of (d log p(y_n | x_n) / d theta)^2 with the
  observed label y_n;
- ``"true"``: mean over samples of sum_c p(c | x_n) (d log p(c | x_n) / d theta)^2, the
  expectation under the model's own predictive distribution.
Both use the softmax restricted to the task's classes, as in training.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from .common import (
    BaselineError,
    SingleMLPLearner,
    TaskLike,
    TrainConfig,
    as_tensors,
    linears,
    mask_logits,
    mlp,
    task_classes,
    train_classifier,
)

FISHERS = ("empirical", "true")


def diagonal_fisher(model: nn.Module, x: Tensor, y: Tensor | None = None, *, classes: Tensor | None = None,
                    kind: str = "empirical") -> dict[str, Tensor]:
    """Diagonal Fisher of ``model`` on inputs ``x`` (per-sample gradients, averaged).

    ``kind="empirical"`` needs the labels ``y``; ``kind="true"`` ignores them.
    Returns one tensor per named parameter, shaped like the parameter.
    """
    if kind not in FISHERS:
        raise BaselineError(f"fisher: unknown kind {kind!r}; use one of {FISHERS}")
    if kind == "empirical" and y is None:
        raise BaselineError("fisher: the empirical Fisher needs the labels y")
    if x.ndim != 2 or x.shape[0] == 0:
        raise BaselineError(f"fisher: x must be a non-empty (N, D) tensor, got shape {tuple(x.shape)}")
    params = {k: v.detach() for k, v in model.named_parameters()}

    def log_probs(p, xi):
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return torch.log_softmax(mask_logits(out, classes), dim=1)[0]

    if kind == "empirical":
        def sample_sq(xi, yi):
            g = grad(lambda p: log_probs(p, xi)[yi])(params)
            return {k: v ** 2 for k, v in g.items()}
        sq = vmap(sample_sq)(x, y)
        return {k: v.mean(0) for k, v in sq.items()}

    cls = torch.arange(model(x[:1]).shape[1]) if classes is None else classes

    def sample_true(xi):
        lp = log_probs(params, xi).detach()
        out = {k: torch.zeros_like(v) for k, v in params.items()}
        for c in cls:
            g = grad(lambda p: log_probs(p, xi)[c])(params)
            for k in out:
                out[k] = out[k] + lp[c].exp() * g[k] ** 2
        return out
    sq = vmap(sample_true)(x)
    return {k: v.mean(0) for k, v in sq.items()}


class EWC(SingleMLPLearner):
    """EWC on a single-head ReLU MLP of layer ``sizes``; ``lam=0`` is plain fine-tuning."""

    def __init__(self, sizes: Sequence[int], *, lam: float = 100.0, fisher: str = "empirical",
                 online: bool = False, gamma: float = 1.0, fisher_samples: int | None = 512,
                 train: TrainConfig | None = None):
        if not lam >= 0:
            raise BaselineError(f"EWC: lam must be >= 0, got {lam}")
        if fisher not in FISHERS:
            raise BaselineError(f"EWC: unknown fisher {fisher!r}; use one of {FISHERS}")
        if not 0 < gamma <= 1:
            raise BaselineError(f"EWC: gamma must lie in (0, 1], got {gamma}")
        self.train = train or TrainConfig()
        self.model = mlp(sizes, seed=self.train.seed)
        self.lam, self.fisher, self.online, self.gamma = float(lam), fisher, online, float(gamma)
        self.fisher_samples = fisher_samples
        self.anchors: list[tuple[dict[str, Tensor], dict[str, Tensor]]] = []  # (Fisher, theta*)
        self.name = ("online-" if online else "") + ("EWC" if lam > 0 else "fine-tune")

    def penalty(self) -> Tensor:
        total = torch.zeros(())
        for fis, star in self.anchors:
            for k, p in self.model.named_parameters():
                total = total + (fis[k] * (p - star[k]) ** 2).sum()
        return 0.5 * self.lam * total

    def fit_task(self, t: int, task: TaskLike) -> None:
        x, y = as_tensors(task.x_train, task.y_train)
        cls = task_classes(task)
        cfg = self.train
        train_classifier(self.model, self.model.parameters(), x, y, classes=cls, epochs=cfg.epochs, lr=cfg.lr,
                         batch_size=cfg.batch_size, seed=cfg.seed + 1000 * t,
                         penalty=self.penalty if self.anchors else None, progress=cfg.progress,
                         desc=f"{self.name} task {t}")
        if self.fisher_samples is not None and len(x) > self.fisher_samples:
            idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed + t))[:self.fisher_samples]
            x, y = x[idx], y[idx]
        fis = diagonal_fisher(self.model, x, y, classes=cls, kind=self.fisher)
        star = {k: v.detach().clone() for k, v in self.model.named_parameters()}
        if self.online and self.anchors:
            old, _ = self.anchors[0]
            self.anchors = [({k: self.gamma * old[k] + fis[k] for k in fis}, star)]
        else:
            self.anchors.append((fis, star))

    def chip_mlps(self, x: Tensor, t: int | None) -> list[tuple[nn.Sequential, Tensor, Tensor]]:
        return [(self.model, torch.ones(len(x), dtype=torch.bool), torch.arange(linears(self.model)[-1].out_features))]
