"""LoRA for continual learning (the research notes' algorithm): train a core ReLU MLP on
task 0; for every later task freeze the core, train low-rank adapters ``W + scale * B @ A``
(rank ``r``, ``scale = alpha / r`` as in Hu et al., "LoRA", ICLR 2022; A Gaussian, B zero at
start, so a fresh adapter leaves the model unchanged), then merge them into the core.
Biases stay frozen after task 0.  The merged model is a plain MLP of the core's size.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from .common import (
    BaselineError,
    SingleMLPLearner,
    TaskLike,
    TrainConfig,
    as_tensors,
    linears,
    mlp,
    task_classes,
    train_classifier,
)


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a rank-``rank`` adapter: ``y = x (W + scale B A)^T + b``."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, *, generator: torch.Generator | None = None):
        super().__init__()
        if rank <= 0 or rank > min(base.in_features, base.out_features):
            raise BaselineError(f"LoRA: rank must lie in [1, {min(base.in_features, base.out_features)}] "
                                f"for a {base.in_features}->{base.out_features} layer, got {rank}")
        if not alpha > 0:
            raise BaselineError(f"LoRA: alpha must be > 0, got {alpha}")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.scale = alpha / rank
        a = torch.randn(rank, base.in_features, generator=generator) / math.sqrt(base.in_features)
        self.A = nn.Parameter(a)
        self.B = nn.Parameter(torch.zeros(base.out_features, rank))

    def delta(self) -> Tensor:
        """The adapter's weight update ``scale * B @ A`` (out, in)."""
        return self.scale * self.B @ self.A

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + (x @ self.A.T) @ self.B.T * self.scale

    def merged(self) -> Tensor:
        """``W + scale * B @ A``."""
        return self.base.weight + self.delta()


class LoRACL(SingleMLPLearner):
    """Core MLP of layer ``sizes`` trained on task 0, then one merged rank-``rank`` adapter per task."""

    def __init__(self, sizes: Sequence[int], *, rank: int = 4, alpha: float = 4.0,
                 train: TrainConfig | None = None):
        self.train = train or TrainConfig()
        self.model = mlp(sizes, seed=self.train.seed)
        if rank <= 0:
            raise BaselineError(f"LoRA: rank must be >= 1, got {rank}")
        if not alpha > 0:
            raise BaselineError(f"LoRA: alpha must be > 0, got {alpha}")
        self.rank, self.alpha = int(rank), float(alpha)
        self.deltas: list[list[Tensor]] = []  # per task >= 1: merged update of every layer
        self.core: list[Tensor] = []          # weights after task 0
        self.name = f"LoRA r={rank} a={alpha:g}"

    def fit_task(self, t: int, task: TaskLike) -> None:
        x, y = as_tensors(task.x_train, task.y_train)
        cfg = self.train
        kw = dict(classes=task_classes(task), epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                  seed=cfg.seed + 1000 * t, progress=cfg.progress, desc=f"{self.name} task {t}")
        if not self.core:
            train_classifier(self.model, self.model.parameters(), x, y, **kw)
            self.core = [m.weight.detach().clone() for m in linears(self.model)]
            for p in self.model.parameters():
                p.requires_grad_(False)
            return
        gen = torch.Generator().manual_seed(cfg.seed + 7919 * t)
        adapted = nn.Sequential(*[LoRALinear(m, min(self.rank, m.in_features, m.out_features), self.alpha,
                                             generator=gen) if isinstance(m, nn.Linear) else m
                                  for m in self.model])
        adapters = [m for m in adapted if isinstance(m, LoRALinear)]
        train_classifier(adapted, [p for a in adapters for p in (a.A, a.B)], x, y, **kw)
        with torch.no_grad():
            self.deltas.append([a.delta().detach().clone() for a in adapters])
            for a in adapters:
                a.base.weight.copy_(a.merged())

    def chip_mlps(self, x: Tensor, t: int | None) -> list[tuple[nn.Sequential, Tensor, Tensor]]:
        return [(self.model, torch.ones(len(x), dtype=torch.bool), torch.arange(linears(self.model)[-1].out_features))]
