"""GradMax for continual learning, plain fine-tuning, and the task-incremental harness they
share with DEN (growth.den).

Setting: task-incremental ("multi-head"): every task owns a block of output units (its head,
one unit per class the task contains) in one output ``nn.Linear``; training and prediction on
task t use only head t's logits (softmax cross-entropy over the task's classes).  Each task
gets a fresh Adam optimizer.

GradMax-CL (the research notes' proposal): before learning task t >= 1, grow every hidden
layer by k neurons with GradMax on a batch of the new task, top layer first.  With
``freeze=True`` the old weights are frozen (gradient masks) and the new neurons' fan-out goes
only to the new neurons of the next layer and to head t, so old tasks keep their function
exactly; with ``freeze=False`` everything keeps training.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from growth.baselines.common import linears, mlp
from growth.errors import GrowthError
from growth.grow import grow_layer, hidden_sizes, use_grow_relu
from growth.metrics import CLReport, summarize
from models.snn import linear_layers, make_mlp
from models.training import fit, shuffled_batches


@dataclass
class TaskHeads:
    """Output-unit blocks per task: ``classes[t]`` the sorted labels of task t, its logits
    are output units ``offsets[t] .. offsets[t] + len(classes[t])``."""

    classes: list[np.ndarray]
    offsets: list[int]

    @classmethod
    def from_tasks(cls, tasks) -> TaskHeads:
        if not tasks:
            raise GrowthError("a continual-learning run needs at least one task")
        classes, offsets, off = [], [], 0
        n_in = tasks[0].x_train.shape[1]
        for t, task in enumerate(tasks):
            if len(task.x_train) == 0 or len(task.x_test) == 0:
                raise GrowthError(f"task {t} ({task.name}) is empty: {len(task.x_train)} training and "
                                  f"{len(task.x_test)} test samples; every task needs both")
            if task.x_train.shape[1] != n_in:
                raise GrowthError(f"task {t} ({task.name}) has {task.x_train.shape[1]} input features but task 0 "
                                  f"has {n_in}; every task of a sequence must share one input shape")
            c = np.unique(task.y_train)
            if len(c) < 2:
                raise GrowthError(f"task {t} ({task.name}) has {len(c)} class(es) in its training set; need >= 2")
            classes.append(c)
            offsets.append(off)
            off += len(c)
        return cls(classes, offsets)

    @property
    def n_out(self) -> int:
        return self.offsets[-1] + len(self.classes[-1])

    def rows(self, t: int) -> slice:
        return slice(self.offsets[t], self.offsets[t] + len(self.classes[t]))

    def local(self, t: int, y: torch.Tensor) -> torch.Tensor:
        """Labels of task t as indices into its head."""
        c = torch.as_tensor(self.classes[t])
        idx = torch.searchsorted(c, y)
        if (idx >= len(c)).any() or not torch.equal(c[idx.clamp_max(len(c) - 1)], y):
            raise GrowthError(f"labels outside task {t}'s classes {self.classes[t].tolist()}")
        return idx


def headed_tasks(tasks) -> tuple[list, TaskHeads]:
    """``tasks`` relabelled to head offset + position in the task (:class:`TaskHeads`), with
    ``n_classes`` = every head's units, so that masking a single-head learner's logits to a
    task's classes is exactly choosing its head; returns (tasks, heads)."""
    heads = TaskHeads.from_tasks(tasks)
    out = []
    for t, task in enumerate(tasks):
        def lab(y, t=t):
            return (heads.offsets[t] + heads.local(t, torch.from_numpy(y)).numpy()).astype(np.int64)
        out.append(replace(task, y_train=lab(task.y_train), y_test=lab(task.y_test), n_classes=heads.n_out))
    return out, heads


@dataclass
class CLConfig:
    """Settings shared by GradMax-CL and fine-tuning."""

    hidden: tuple[int, ...] = (32, 32)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    k: int = 10                 # neurons grown per hidden layer per new task (GradMax-CL)
    freeze: bool = True         # GradMax-CL: freeze old weights
    grow_batch: int = 256       # samples of the new task used to compute M
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.hidden or min(self.hidden) < 1:
            raise GrowthError(f"CLConfig.hidden must list positive widths, got {self.hidden}")
        for name in ("epochs", "batch_size", "k", "grow_batch"):
            if getattr(self, name) < 1:
                raise GrowthError(f"CLConfig.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class CLResult:
    """Accuracy matrix ``R[i][j]`` (after task i, on task j), untrained baselines b, metrics and
    the final hidden sizes.  Runners of growth.cl also keep (out of ``to_dict``) the trained
    ``model`` (all heads), ``sizes[t]`` (hidden sizes after task t), the task ``heads`` and ``isolated`` (True when
    task t's outputs depend only on the hidden units that existed after task t and head t, as
    with frozen GradMax-CL: see :meth:`task_mlp`)."""

    method: str
    matrix: list[list[float]]
    baseline: list[float]
    hidden: list[int]
    report: CLReport = field(init=False)
    model: nn.Sequential | None = field(default=None, repr=False, compare=False)
    sizes: list[list[int]] | None = field(default=None, repr=False, compare=False)
    heads: TaskHeads | None = field(default=None, repr=False, compare=False)
    isolated: bool = False

    _NOT_JSON = ("model", "heads")

    def __post_init__(self) -> None:
        self.report = summarize(self.matrix, self.baseline)

    @property
    def neurons(self) -> int:
        return int(sum(self.hidden))

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self._NOT_JSON}
        d["report"] = self.report.to_dict()
        d["neurons"] = self.neurons
        return d

    def task_mlp(self, t: int) -> nn.Sequential:
        """The plain ReLU MLP that computes task t's head (input -> hidden -> head t logits):
        hidden units that existed after task t when ``isolated``, else all of them."""
        if self.model is None:
            raise GrowthError(f"{self.method}: this result holds no trained model (only growth.cl runners keep it)")
        if not 0 <= t < len(self.sizes):
            raise GrowthError(f"task {t} outside 0..{len(self.sizes) - 1}")
        src = linear_layers(self.model)
        keep = self.sizes[t] if self.isolated else self.hidden
        rows = self.heads.rows(t)
        out = mlp([src[0].in_features, *keep, rows.stop - rows.start])
        n_prev = src[0].in_features
        with torch.no_grad():
            for l, lin in enumerate(linears(out)):
                r = slice(0, keep[l]) if l < len(keep) else rows
                lin.weight.copy_(src[l].weight[r, :n_prev])
                lin.bias.copy_(src[l].bias[r] if src[l].bias is not None else torch.zeros_like(lin.bias))
                if l < len(keep):
                    n_prev = keep[l]
        return out


def _tensors(task):
    return (torch.from_numpy(task.x_train), torch.from_numpy(task.y_train),
            torch.from_numpy(task.x_test), torch.from_numpy(task.y_test))


def task_accuracy(logits_fn, heads: TaskHeads, tasks) -> list[float]:
    """Test accuracy on every task; ``logits_fn(x, t)`` returns head t's logits."""
    out = []
    with torch.no_grad():
        for t, task in enumerate(tasks):
            x, y = torch.from_numpy(task.x_test), torch.from_numpy(task.y_test)
            pred = logits_fn(x, t).argmax(1)
            out.append(float((pred == heads.local(t, y)).float().mean()))
    return out


def _freeze_masks(model: nn.Sequential, old: list[int], heads: TaskHeads, t: int) -> dict:
    """Trainable-entry masks: new hidden neurons' fan-in and bias (rows beyond ``old``) and
    head t's rows of the output layer; everything else is frozen."""
    masks = {}
    lins = linear_layers(model)
    for l, lin in enumerate(lins):
        rows = torch.zeros(lin.out_features, dtype=torch.bool)
        if l < len(lins) - 1:
            rows[old[l]:] = True
        else:
            rows[heads.rows(t)] = True
        masks[lin.weight] = rows[:, None].expand_as(lin.weight).float()
        if lin.bias is not None:
            masks[lin.bias] = rows.float()
    return masks


def _train(model, logits, x, y, cfg: CLConfig, gen: torch.Generator, masks: dict | None):
    fit(model.parameters(), shuffled_batches(len(x), cfg.batch_size, gen),
        lambda idx, step: nn.functional.cross_entropy(logits(x[idx]), y[idx]), epochs=cfg.epochs, lr=cfg.lr,
        grad_masks=masks)


def train_task(model: nn.Sequential, heads: TaskHeads, t: int, x: torch.Tensor, y_local: torch.Tensor,
               cfg: CLConfig, gen: torch.Generator, old: list[int] | None = None) -> None:
    """Train ``model`` on task t (head t's logits, ``cfg.epochs`` of Adam); with ``old`` (the
    hidden sizes before task t) only the newer neurons' fan-in and head t train."""
    masks = _freeze_masks(model, old, heads, t) if old is not None else None
    _train(model, lambda xb: model(xb)[:, heads.rows(t)], x, y_local, cfg, gen, masks)


def growth_targets(model: nn.Sequential, heads: TaskHeads, old: list[int], t: int, layer: int) -> torch.Tensor:
    """Frozen growth during task t: the next-layer units a new neuron of hidden ``layer`` may
    feed, as a bool mask: the next hidden layer's units born in task t (beyond ``old``, the
    hidden sizes before task t), or head t for the top hidden layer."""
    nxt = linear_layers(model)[layer + 1].out_features
    targets = torch.zeros(nxt, dtype=torch.bool)
    if layer == len(old) - 1:
        targets[heads.rows(t)] = True
    else:
        targets[old[layer + 1]:] = True
    return targets


GrowHook = Callable[[nn.Sequential, TaskHeads, int, tuple[torch.Tensor, torch.Tensor], list[int], torch.Generator],
                    None]
"""``grow(model, heads, t, (x, y_local), old_sizes, generator)``: grows ``model`` in place
before it learns task t >= 1 (``y_local``: labels as indices into head t)."""


def run_tasks(tasks, cfg: CLConfig, name: str, grow: GrowHook | None = None, *, progress: bool = True) -> CLResult:
    """The task-incremental harness: a ReLU MLP (``cfg.hidden``, one head per task) learns
    ``tasks`` in order; before task t >= 1, ``grow`` (if any) may add hidden neurons; with
    ``grow`` and ``cfg.freeze`` only the new neurons' fan-in and head t train on task t."""
    heads = TaskHeads.from_tasks(tasks)
    n_in = tasks[0].x_train.shape[1]
    model = make_mlp([n_in, *cfg.hidden, heads.n_out], kind="relu", seed=cfg.seed)
    use_grow_relu(model)
    gen = torch.Generator().manual_seed(cfg.seed)

    def logits_fn(x, t):
        return model(x)[:, heads.rows(t)]

    baseline = task_accuracy(logits_fn, heads, tasks)
    matrix, sizes = [], []
    for t in tqdm(range(len(tasks)), desc=name, disable=not progress):
        x, y, _, _ = _tensors(tasks[t])
        yl = heads.local(t, y)
        old = hidden_sizes(model)
        if grow is not None and t > 0:
            grow(model, heads, t, (x, yl), old, gen)
        isolate = grow is not None and cfg.freeze and t > 0
        train_task(model, heads, t, x, yl, cfg, gen, old if isolate else None)
        matrix.append(task_accuracy(logits_fn, heads, tasks))
        sizes.append(hidden_sizes(model))
    return CLResult(name, matrix, baseline, hidden_sizes(model), model=model, sizes=sizes,
                    heads=heads, isolated=grow is not None and cfg.freeze)


def _grow_k_per_layer(cfg: CLConfig) -> GrowHook:
    def grow(model, heads, t, data, old, gen):
        x, yl = data
        idx = torch.randperm(len(x), generator=gen)[:cfg.grow_batch]
        for l in reversed(range(len(old))):
            targets = growth_targets(model, heads, old, t, l) if cfg.freeze else None
            grow_layer(model, l, cfg.k, data=(x[idx], yl[idx]), loss_fn=nn.functional.cross_entropy,
                       forward=lambda m, xb: m(xb)[:, heads.rows(t)], targets=targets, fill=True,
                       generator=gen)
    return grow


def run_finetune(tasks, cfg: CLConfig | None = None, *, progress: bool = True) -> CLResult:
    """Plain fine-tuning: one fixed MLP trained on each task in turn."""
    return run_tasks(tasks, cfg or CLConfig(), "finetune", progress=progress)


def run_gradmax_cl(tasks, cfg: CLConfig | None = None, *, progress: bool = True) -> CLResult:
    """GradMax-CL: grow k neurons per hidden layer with GradMax on each new task (optionally
    freezing old weights), then train on it."""
    cfg = cfg or CLConfig()
    return run_tasks(tasks, cfg, "gradmax-cl" + ("-freeze" if cfg.freeze else ""), _grow_k_per_layer(cfg),
                     progress=progress)
