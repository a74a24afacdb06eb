"""Shared pieces of the continual-learning baselines: the task protocol, ReLU MLPs, one
training loop, the accuracy matrix R[i, j] and the learner interface every baseline follows.

Evaluation protocols (used the same way for every method):
- ``task_given=True`` (task-incremental): the task id is known at test time; logits outside
  the task's classes are masked out, and learners that own per-task parts (SupSup) use it.
- ``task_given=False`` (task-agnostic): no task id; argmax over all classes.
Training always restricts the loss to the current task's classes (a no-op when every task
uses all classes, as permuted tasks do).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from growth.errors import GrowthError
from models.training import OPTIMIZERS, fit, shuffled_batches


class BaselineError(GrowthError):
    """Bad input to a continual-learning baseline (shapes, labels, hyper-parameters)."""


class TaskLike(Protocol):
    """What a task must provide (``models.datasets.Dataset`` does): float32 (N, D) inputs
    in [0, 1], int64 labels, and the total number of classes of the sequence."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


def check_tasks(tasks: Sequence[TaskLike]) -> tuple[int, int]:
    """Validate a task sequence; return (input size D, number of classes)."""
    if len(tasks) == 0:
        raise BaselineError("tasks: the task sequence is empty; pass at least one task")
    dims = {np.asarray(t.x_train).shape[1] for t in tasks} | {np.asarray(t.x_test).shape[1] for t in tasks}
    if len(dims) != 1:
        raise BaselineError(f"tasks: inputs of different sizes {sorted(dims)}; every task needs the same D")
    n_classes = max(int(t.n_classes) for t in tasks)
    for i, t in enumerate(tasks):
        for part in ("train", "test"):
            x, y = np.asarray(getattr(t, f"x_{part}")), np.asarray(getattr(t, f"y_{part}"))
            if x.ndim != 2 or y.shape != (x.shape[0],):
                raise BaselineError(f"task {i}: x_{part} {x.shape} and y_{part} {y.shape} do not match")
            if len(y) == 0:
                raise BaselineError(f"task {i}: x_{part} is empty")
            if not np.all(np.isfinite(x)):
                raise BaselineError(f"task {i}: x_{part} holds NaN or inf; clean the data first")
            if y.min() < 0 or y.max() >= n_classes:
                raise BaselineError(f"task {i}: label {int(y.max())} outside [0, {n_classes}); "
                                    "labels must be global class ids below n_classes")
    return dims.pop(), n_classes


def task_classes(task: TaskLike) -> Tensor:
    """Sorted class ids present in a task's training labels (int64 tensor)."""
    return torch.as_tensor(np.unique(np.asarray(task.y_train)), dtype=torch.long)


def as_tensors(x: np.ndarray, y: np.ndarray | None = None):
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    if y is None:
        return xt
    return xt, torch.as_tensor(np.asarray(y), dtype=torch.long)


def mask_logits(logits: Tensor, classes: Tensor | None) -> Tensor:
    """Logits with every class outside ``classes`` set to -inf (None: unchanged)."""
    if classes is None:
        return logits
    keep = torch.zeros(logits.shape[-1], dtype=torch.bool)
    keep[classes] = True
    return logits.masked_fill(~keep, float("-inf"))


def mlp(sizes: Sequence[int], *, seed: int = 0) -> nn.Sequential:
    """A ReLU MLP ``Linear, ReLU, ..., Linear`` (PyTorch default init, seeded)."""
    if len(sizes) < 2 or any(int(s) <= 0 for s in sizes):
        raise BaselineError(f"sizes: need at least [inputs, outputs], all positive; got {list(sizes)}")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(int(a), int(b)))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    torch.random.set_rng_state(gen_state)
    return nn.Sequential(*layers)


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def train_classifier(forward: Callable[[Tensor], Tensor], params: Iterable[Tensor], x: Tensor, y: Tensor, *,
                     classes: Tensor | None = None, epochs: int = 20, lr: float = 1e-2, batch_size: int = 64,
                     seed: int = 0, penalty: Callable[[], Tensor] | None = None,
                     optimizer: str = "adam", progress: bool = False, desc: str = "train") -> float:
    """Minimise cross-entropy (+ ``penalty()``) over mini-batches; return the last epoch's mean loss.

    ``classes`` restricts the softmax to the task's classes.  Batches are shuffled by a
    generator seeded with ``seed`` so two runs with the same arguments are identical.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        raise BaselineError("train_classifier: no trainable parameters")
    if epochs < 0 or batch_size <= 0 or lr <= 0:
        raise BaselineError(f"train_classifier: need epochs >= 0, batch_size > 0, lr > 0; "
                            f"got {epochs}, {batch_size}, {lr}")
    if optimizer not in OPTIMIZERS:
        raise BaselineError(f"optimizer: unknown {optimizer!r}; use one of {OPTIMIZERS}")

    def loss(idx, step):
        lo = nn.functional.cross_entropy(mask_logits(forward(x[idx]), classes), y[idx])
        return lo if penalty is None else lo + penalty()

    gen = torch.Generator().manual_seed(seed)
    return fit(params, shuffled_batches(x.shape[0], batch_size, gen), loss, epochs=epochs, optimizer=optimizer,
               lr=lr, progress=progress, desc=desc).loss


@dataclass
class TrainConfig:
    """Training hyper-parameters shared by the baselines (Adam, cross-entropy)."""

    epochs: int = 20
    lr: float = 1e-2
    batch_size: int = 64
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size <= 0 or not self.lr > 0:
            raise BaselineError(f"TrainConfig: need epochs >= 0, batch_size > 0, lr > 0; got {self}")


class ContinualLearner(ABC):
    """A method that learns tasks one after the other.

    ``fit_task(t, task)`` trains on task t; ``logits(x, t)`` returns (N, n_classes) logits
    (``t`` is None when the task is not given); ``chip_mlps(x, t)`` the plain ReLU MLPs
    that run on the chip for inputs ``x`` of task t, for the spiking version and its energy.
    Pollution (growth.baselines.pollution) reads a learner's protected sets from its
    ``protected_nets(x, t)`` method or from a built-in provider of its class.
    """

    name: str = "learner"

    @abstractmethod
    def fit_task(self, t: int, task: TaskLike) -> None: ...

    @abstractmethod
    def logits(self, x: Tensor, t: int | None) -> Tensor: ...

    @abstractmethod
    def n_parameters(self) -> int:
        """Parameters stored to run every learned task (masks count one bit each as 1/32)."""

    @abstractmethod
    def n_neurons(self) -> int:
        """Hidden plus output neurons that must sit on the chip."""

    @abstractmethod
    def chip_mlps(self, x: Tensor, t: int | None) -> list[tuple[nn.Sequential, Tensor, Tensor]]:
        """[(ReLU MLP, boolean selector of the rows of ``x`` it processes, global class of
        each output unit (-1: unused))] for inputs ``x``."""

    def predict(self, x: Tensor, t: int | None, classes: Tensor | None = None) -> Tensor:
        with torch.no_grad():
            return mask_logits(self.logits(x, t), classes).argmax(dim=1)


class SingleMLPLearner(ContinualLearner):
    """A learner whose every task runs through one plain MLP, ``self.model`` (EWC, LoRA-CL
    after merging)."""

    model: nn.Sequential

    def logits(self, x: Tensor, t: int | None) -> Tensor:
        return self.model(x)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def n_neurons(self) -> int:
        return sum(m.out_features for m in linears(self.model))


@dataclass
class SequenceResult:
    """Accuracy matrix ``R[i, j]``: test accuracy on task j after training tasks 0..i;
    ``r_init[j]``: accuracy on task j before any training (for FWT, GEM conventions)."""

    R: np.ndarray
    r_init: np.ndarray
    learner: ContinualLearner = field(repr=False)
    task_given: bool = True


def accuracy(learner: ContinualLearner, task: TaskLike, t: int, *, task_given: bool = True) -> float:
    """Test accuracy of ``learner`` on ``task`` (index ``t``) under the chosen protocol."""
    x, y = as_tensors(task.x_test, task.y_test)
    classes = task_classes(task) if task_given else None
    pred = learner.predict(x, t if task_given else None, classes)
    return float((pred == y).float().mean())


def run_sequence(learner: ContinualLearner, tasks: Sequence[TaskLike], *, task_given: bool = True,
                 progress: bool = False) -> SequenceResult:
    """Train ``learner`` on ``tasks`` in order and fill the accuracy matrix."""
    check_tasks(tasks)
    n = len(tasks)
    R = np.zeros((n, n))
    r_init = np.array([accuracy(learner, tk, j, task_given=task_given) if _ready(learner) else np.nan
                       for j, tk in enumerate(tasks)])
    for i, task in enumerate(tqdm(tasks, desc=learner.name, disable=not progress, leave=False)):
        learner.fit_task(i, task)
        for j, tk in enumerate(tasks):
            R[i, j] = accuracy(learner, tk, j, task_given=task_given) if (j <= i or _ready(learner)) else np.nan
    return SequenceResult(R=R, r_init=r_init, learner=learner, task_given=task_given)


def _ready(learner: ContinualLearner) -> bool:
    """Whether the learner can answer for a task it has not seen (SupSup cannot)."""
    return getattr(learner, "answers_unseen_tasks", True)
