"""The one gradient-descent loop every learner calls (``fit``), and its batch sources.

A learner supplies what is its own: the loss of a batch (``loss(idx, step)``, ``idx`` the
indices of the batch's samples), gradient masks (entries that must not change), hooks run
before a step (growth, evaluation) or after it (proximal steps, clipping), and the optimizer
when it outlives one call (growth adds parameters to it).  ``fit`` owns the rest: zeroing,
backward, masking, the optimizer and learning-rate schedule, the mean loss per epoch, the
CPU-time budget and the tqdm bar.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from .errors import ModelError

OPTIMIZERS = ("adam", "sgd")


class Step(NamedTuple):
    """Where a batch sits: ``epoch``, ``batch`` (index within the epoch) and ``index``
    (batches since the start of this ``fit`` call)."""

    epoch: int
    batch: int
    index: int


@dataclass
class FitResult:
    """``epochs`` and ``steps`` run, ``loss``: mean batch loss of the last epoch (weighted by
    batch size; nan if nothing ran), ``wall_s`` and ``cpu_s`` (s)."""

    epochs: int
    steps: int
    loss: float
    wall_s: float
    cpu_s: float


Batches = Callable[[int], Iterable[torch.Tensor]]
"""``batches(epoch)``: the index tensors of that epoch's batches, in order."""


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Batches:
    """Every epoch one ``torch.randperm(n)`` (drawn from ``generator``), cut into batches."""
    def batches(epoch: int) -> Iterator[torch.Tensor]:
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n, batch_size):
            yield perm[i:i + batch_size]
    return batches


def sampled_batches(n: int, batch_size: int, steps: int, generator: torch.Generator) -> Batches:
    """``steps`` batches of ``batch_size`` indices drawn with replacement from ``range(n)``."""
    def batches(epoch: int) -> Iterator[torch.Tensor]:
        for _ in range(steps):
            yield torch.randint(n, (batch_size,), generator=generator)
    return batches


def listed_batches(batches: list[torch.Tensor]) -> Batches:
    """A fixed list of index tensors (the same every epoch)."""
    return lambda epoch: batches


def make_optimizer(params: Iterable[torch.Tensor], *, optimizer: str = "adam", lr: float = 1e-3,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam, or SGD with momentum 0.9, over ``params``."""
    params = list(params)
    if not params:
        raise ModelError("fit: no trainable parameters")
    if not lr > 0 or not weight_decay >= 0:
        raise ModelError(f"fit: need lr > 0 and weight_decay >= 0, got lr={lr}, weight_decay={weight_decay}")
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ModelError(f"fit: unknown optimizer {optimizer!r}; use one of {OPTIMIZERS}")


def fit(params: Iterable[torch.Tensor] | torch.optim.Optimizer, batches: Batches,
        loss: Callable[[torch.Tensor, Step], torch.Tensor], *, epochs: int = 1, optimizer: str = "adam",
        lr: float = 1e-3, weight_decay: float = 0.0, cosine: bool = False,
        grad_masks: Mapping[torch.Tensor, torch.Tensor] | None = None,
        before_step: Callable[[torch.Tensor, Step], None] | None = None,
        after_step: Callable[[Step], None] | None = None, time_budget: float | None = None,
        progress: bool = False, desc: str = "train") -> FitResult:
    """Minimise ``loss(idx, step)`` over ``epochs`` passes of ``batches``.

    ``params``: the tensors to train (an optimizer is built from ``optimizer``, ``lr``,
    ``weight_decay``) or an existing ``torch.optim.Optimizer`` used as is.  ``cosine``: the
    learning rate follows a cosine from ``lr`` to 0 over ``epochs`` (one scheduler step per
    epoch).  Per batch: ``before_step(idx, step)`` (may grow the model), zero the gradients,
    ``loss(...).backward()``, multiply each gradient by its ``grad_masks`` entry (same shape;
    0 freezes an entry), the optimizer step, then ``after_step(step)`` under ``no_grad``.
    ``time_budget`` (CPU seconds of this process, robust to a shared machine) stops after the
    epoch that exceeds it.  The bar counts epochs and shows the last epoch's loss.
    """
    if epochs < 0 or int(epochs) != epochs:
        raise ModelError(f"fit: epochs must be a whole number >= 0, got {epochs!r}")
    opt = params if isinstance(params, torch.optim.Optimizer) else make_optimizer(
        params, optimizer=optimizer, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1)) if cosine else None
    masks = list((grad_masks or {}).items())
    t0, c0 = time.perf_counter(), time.process_time()
    last, done, n_steps = float("nan"), 0, 0
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    try:
        for ep in bar:
            total, count = 0.0, 0
            for b, idx in enumerate(batches(ep)):
                step = Step(ep, b, n_steps)
                if before_step is not None:
                    before_step(idx, step)
                opt.zero_grad()
                lo = loss(idx, step)
                lo.backward()
                total += lo.item() * len(idx)
                del lo  # free the graph now: a before_step that grows a layer must not meet it
                for p, m in masks:
                    if p.grad is not None:
                        p.grad.mul_(m)
                opt.step()
                if after_step is not None:
                    with torch.no_grad():
                        after_step(step)
                count += len(idx)
                n_steps += 1
            if sched is not None:
                sched.step()
            last, done = (total / count if count else float("nan")), ep + 1
            bar.set_postfix(loss=f"{last:.3f}")
            if time_budget is not None and time.process_time() - c0 > time_budget:
                break
    finally:
        bar.close()
    return FitResult(done, n_steps, last, time.perf_counter() - t0, time.process_time() - c0)
