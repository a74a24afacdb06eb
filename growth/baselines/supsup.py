"""SupSup: supermasks in superposition (Wortsman et al., NeurIPS 2020).

A ReLU MLP (no biases) with fixed random weights, the *scaled signed Kaiming constant*
(each weight is +-sqrt(2 / (k * fan_in)), sign random, k the kept fraction; Ramanujan et al.,
"What's hidden in a randomly weighted neural network?", CVPR 2020).  Each task learns one
binary supermask per layer by edge-popup: real-valued scores, the mask keeps exactly the
``round(k * n)`` weights of largest score in each layer, gradients pass straight through to
the scores.  Weights never change, so with the task given (scenario GG) a task's accuracy
cannot be touched by later tasks.  With the task not given at test time (scenario GNu), the
one-shot method infers it per batch: superpose the masks ``W * sum_i alpha_i M_i`` with
``alpha_i = 1/T``, take the output entropy H averaged over the batch and pick
``argmax_i (-dH/dalpha_i)``; the paper assumes each test batch comes from one task.

Outputs are per-task local labels (position of the class among the task's sorted classes),
so ``sizes[-1]`` must be at least the number of classes per task.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from .common import (
    BaselineError,
    ContinualLearner,
    TaskLike,
    TrainConfig,
    as_tensors,
    task_classes,
    train_classifier,
)


class _TopK(torch.autograd.Function):
    """Binary mask of the ``n_keep`` largest scores; straight-through gradient."""

    @staticmethod
    def forward(ctx, scores: Tensor, n_keep: int) -> Tensor:  # type: ignore[override]
        return topk_mask(scores, n_keep)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        return g, None


def topk_mask(scores: Tensor, n_keep: int) -> Tensor:
    """Float mask with ones at the ``n_keep`` largest entries of ``scores`` (ties by index)."""
    flat = scores.detach().flatten()
    mask = torch.zeros_like(flat)
    mask[torch.topk(flat, n_keep, sorted=False).indices] = 1.0
    return mask.view_as(scores)


class SupSup(ContinualLearner):
    """SupSup on a fixed random MLP of layer ``sizes``; ``keep`` = fraction of weights each mask keeps."""

    answers_unseen_tasks = False

    def __init__(self, sizes: Sequence[int], *, keep: float = 0.5, infer_batch: int = 128,
                 train: TrainConfig | None = None):
        if not 0 < keep <= 1:
            raise BaselineError(f"SupSup: keep must lie in (0, 1], got {keep}")
        if len(sizes) < 2 or any(int(s) <= 0 for s in sizes):
            raise BaselineError(f"SupSup: sizes need at least [inputs, outputs], all positive; got {list(sizes)}")
        if infer_batch <= 0:
            raise BaselineError(f"SupSup: infer_batch must be >= 1, got {infer_batch}")
        self.train = train or TrainConfig()
        self.keep, self.infer_batch = float(keep), int(infer_batch)
        gen = torch.Generator().manual_seed(self.train.seed)
        self.weights: list[Tensor] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            sign = torch.randint(0, 2, (int(b), int(a)), generator=gen).float() * 2 - 1
            self.weights.append(sign * math.sqrt(2.0 / (self.keep * int(a))))
        self.n_keep = [max(1, round(self.keep * w.numel())) for w in self.weights]
        self.masks: list[list[Tensor]] = []   # per task: bool mask per layer
        self.classes: list[Tensor] = []       # per task: sorted global classes (local label = position)
        self.n_classes = 0
        self.name = f"SupSup k={keep:g}"
        self._mlps: dict[int, nn.Sequential] = {}

    def _forward(self, x: Tensor, masks: Sequence[Tensor]) -> Tensor:
        h = x
        for l, (w, m) in enumerate(zip(self.weights, masks)):
            h = h @ (w * m).T
            if l < len(self.weights) - 1:
                h = torch.relu(h)
        return h

    def fit_task(self, t: int, task: TaskLike) -> None:
        if t != len(self.masks):
            raise BaselineError(f"SupSup: tasks must come in order; expected task {len(self.masks)}, got {t}")
        x, y = as_tensors(task.x_train, task.y_train)
        cls = task_classes(task)
        if len(cls) > self.weights[-1].shape[0]:
            raise BaselineError(f"SupSup: task {t} has {len(cls)} classes but the output layer only "
                                f"{self.weights[-1].shape[0]}; make sizes[-1] >= classes per task")
        local = torch.searchsorted(cls, y)
        gen = torch.Generator().manual_seed(self.train.seed + 7919 * (t + 1))
        scores = []
        for w in self.weights:  # kaiming-uniform scores, as edge-popup initialises them
            bound = 1.0 / math.sqrt(w.shape[1])
            scores.append(nn.Parameter((torch.rand(w.shape, generator=gen) * 2 - 1) * bound))
        cfg = self.train
        train_classifier(lambda xb: self._forward(xb, [_TopK.apply(s, k) for s, k in zip(scores, self.n_keep)]),
                         scores, x, local, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                         seed=cfg.seed + 1000 * t, progress=cfg.progress, desc=f"{self.name} task {t}")
        self.masks.append([topk_mask(s, k).bool() for s, k in zip(scores, self.n_keep)])
        self.classes.append(cls)
        self.n_classes = max(self.n_classes, int(task.n_classes))

    def infer_task(self, x: Tensor) -> int:
        """One-shot task inference for a batch ``x`` assumed to come from one learned task."""
        if not self.masks:
            raise BaselineError("SupSup: no task learned yet; fit_task first")
        n_tasks = len(self.masks)
        with torch.enable_grad():
            alpha = torch.full((n_tasks,), 1.0 / n_tasks, requires_grad=True)
            mixed = [sum(alpha[i] * self.masks[i][l].float() for i in range(n_tasks))
                     for l in range(len(self.weights))]
            logp = torch.log_softmax(self._forward(x, mixed), dim=1)
            entropy = -(logp.exp() * logp).sum(dim=1).mean()
            (g,) = torch.autograd.grad(entropy, alpha)
        return int(torch.argmax(-g))

    def task_of_rows(self, x: Tensor, t: int | None) -> Tensor:
        """Task used for each row: ``t`` if given, else one inferred task per batch of ``infer_batch`` rows."""
        if t is not None:
            if not 0 <= t < len(self.masks):
                raise BaselineError(f"SupSup: task {t} not learned; learned tasks are 0..{len(self.masks) - 1}")
            return torch.full((len(x),), t, dtype=torch.long)
        out = torch.empty(len(x), dtype=torch.long)
        for s in range(0, len(x), self.infer_batch):
            out[s:s + self.infer_batch] = self.infer_task(x[s:s + self.infer_batch])
        return out

    def logits(self, x: Tensor, t: int | None) -> Tensor:
        rows = self.task_of_rows(x, t)
        out = torch.full((len(x), self.n_classes), float("-inf"))
        with torch.no_grad():
            for task in rows.unique().tolist():
                sel = rows == task
                z = self._forward(x[sel], [m.float() for m in self.masks[task]])
                cls = self.classes[task]
                block = out[sel]
                block[:, cls] = z[:, :len(cls)]
                out[sel] = block
        return out

    def n_parameters(self) -> int:
        """Random weights plus one bit per mask entry, in 32-bit words."""
        n_w = sum(w.numel() for w in self.weights)
        return n_w + math.ceil(len(self.masks) * n_w / 32)

    def n_neurons(self) -> int:
        return sum(w.shape[0] for w in self.weights)

    def _masked_mlp(self, t: int) -> nn.Sequential:
        """The plain MLP (zero biases) that runs task t: weights ``W * M_t`` (built once)."""
        if t in self._mlps:
            return self._mlps[t]
        layers: list[nn.Module] = []
        for l, (w, m) in enumerate(zip(self.weights, self.masks[t])):
            lin = nn.Linear(w.shape[1], w.shape[0], bias=True)
            with torch.no_grad():
                lin.weight.copy_(w * m.float())
                lin.bias.zero_()
            layers.append(lin)
            if l < len(self.weights) - 1:
                layers.append(nn.ReLU())
        self._mlps[t] = nn.Sequential(*layers)
        return self._mlps[t]

    def chip_mlps(self, x: Tensor, t: int | None) -> list[tuple[nn.Sequential, Tensor, Tensor]]:
        """The masked MLP of each row's (given or inferred) task; outputs map to that task's classes."""
        rows = self.task_of_rows(x, t)
        out = []
        for task in rows.unique().tolist():
            cls = torch.full((self.weights[-1].shape[0],), -1, dtype=torch.long)
            cls[:len(self.classes[task])] = self.classes[task]
            out.append((self._masked_mlp(task), rows == task, cls))
        return out
