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

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from growth.errors import GrowthError
from growth.grow import grow_layer, hidden_sizes, use_grow_relu
from growth.metrics import CLReport, summarize


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
        for t, task in enumerate(tasks):
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
    """Accuracy matrix R[i][j] (after task i, on task j), untrained baselines b, metrics and
    the final hidden sizes."""

    method: str
    matrix: list[list[float]]
    baseline: list[float]
    hidden: list[int]
    report: CLReport = field(init=False)

    def __post_init__(self) -> None:
        self.report = summarize(self.matrix, self.baseline)

    @property
    def neurons(self) -> int:
        return int(sum(self.hidden))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["neurons"] = self.neurons
        return d


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


def _linears(model: nn.Sequential) -> list[nn.Linear]:
    return [m for m in model if isinstance(m, nn.Linear)]


def _freeze_masks(model: nn.Sequential, old: list[int], heads: TaskHeads, t: int) -> dict:
    """Trainable-entry masks: new hidden neurons' fan-in and bias (rows beyond ``old``) and
    head t's rows of the output layer; everything else is frozen."""
    masks = {}
    lins = _linears(model)
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
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    handles = [p.register_hook(lambda g, m=m: g * m) for p, m in (masks or {}).items()]
    try:
        for _ in range(cfg.epochs):
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), cfg.batch_size):
                idx = perm[i:i + cfg.batch_size]
                opt.zero_grad()
                nn.functional.cross_entropy(logits(x[idx]), y[idx]).backward()
                opt.step()
    finally:
        for h in handles:
            h.remove()


def _run(tasks, cfg: CLConfig, grow: bool, progress: bool, name: str) -> CLResult:
    from models.snn import make_mlp

    heads = TaskHeads.from_tasks(tasks)
    n_in = tasks[0].x_train.shape[1]
    model = make_mlp([n_in, *cfg.hidden, heads.n_out], kind="relu", seed=cfg.seed)
    use_grow_relu(model)
    gen = torch.Generator().manual_seed(cfg.seed)

    def logits_fn(x, t):
        return model(x)[:, heads.rows(t)]

    baseline = task_accuracy(logits_fn, heads, tasks)
    matrix = []
    for t in tqdm(range(len(tasks)), desc=name, disable=not progress):
        x, y, _, _ = _tensors(tasks[t])
        yl = heads.local(t, y)
        old = hidden_sizes(model)
        if grow and t > 0:
            idx = torch.randperm(len(x), generator=gen)[:cfg.grow_batch]
            data = (x[idx], yl[idx])
            n_layers = len(old)
            for l in reversed(range(n_layers)):
                targets = None
                if cfg.freeze:
                    nxt = _linears(model)[l + 1].out_features
                    targets = torch.zeros(nxt, dtype=torch.bool)
                    if l == n_layers - 1:
                        targets[heads.rows(t)] = True
                    else:
                        targets[old[l + 1]:] = True
                grow_layer(model, l, cfg.k, data=data, loss_fn=nn.functional.cross_entropy,
                           forward=lambda m, xb: m(xb)[:, heads.rows(t)], targets=targets, fill=True,
                           generator=gen)
        masks = _freeze_masks(model, old, heads, t) if (grow and cfg.freeze and t > 0) else None
        _train(model, lambda xb: logits_fn(xb, t), x, yl, cfg, gen, masks)
        matrix.append(task_accuracy(logits_fn, heads, tasks))
    return CLResult(name, matrix, baseline, hidden_sizes(model))


def run_finetune(tasks, cfg: CLConfig | None = None, *, progress: bool = True) -> CLResult:
    """Plain fine-tuning: one fixed MLP trained on each task in turn."""
    return _run(tasks, cfg or CLConfig(), False, progress, "finetune")


def run_gradmax_cl(tasks, cfg: CLConfig | None = None, *, progress: bool = True) -> CLResult:
    """GradMax-CL: grow k neurons per hidden layer with GradMax on each new task (optionally
    freezing old weights), then train on it."""
    cfg = cfg or CLConfig()
    return _run(tasks, cfg, True, progress, "gradmax-cl" + ("-freeze" if cfg.freeze else ""))
