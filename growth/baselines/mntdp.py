"""MNTDP-D: modular networks with task-driven priors, deterministic variant (Veniat et al.,
"Efficient continual learning with modular networks and task-driven priors", ICLR 2021).

A library of modules per hidden layer (one ``nn.Linear`` + ReLU each, ``sizes[l] ->
sizes[l+1]``) and one head per task (``sizes[L] ->`` the task's classes).  Task t's network is
a path: one module per hidden layer, then its head.  For a new task:

1. retrieve: the most similar earlier task s, by a probe on its path's features (last hidden
   layer): a k-nearest-neighbour classifier (``n_neighbors``) fitted on the features of up to
   ``probe_samples`` of the new task's training inputs, scored on its validation inputs;
   ties go to the earliest task;
2. perturb and search: candidate i = 0..L reuses the first L - i modules of s's path (frozen)
   and appends i new modules; every candidate gets a new head, trains its new parameters
   (Adam, cross-entropy on the task's classes) and is scored on the validation inputs; the
   best is kept (ties: fewer new modules).  OUR option ``tolerance`` (default 0, the
   reference's rule) keeps the candidate with the fewest new modules whose validation
   accuracy is within ``tolerance`` of the best;
3. the kept candidate's new modules join the library; they are new neurons on the chip.

The first task gets a fully new path.  The validation inputs are ``val_fraction`` of the
task's training set (seeded split) and are not trained on.  The task id is needed at test time.

Differences from the reference code (TomVeniat/MNTDP): MLP modules instead of conv/ResNet
blocks; new modules are randomly initialised (PyTorch default), not copied; candidates train
for a fixed number of epochs (no early stopping, no hyper-parameter search per task); the
probe uses at most ``probe_samples`` inputs per split (the reference: 1000).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier
from torch import Tensor, nn

from .common import (
    BaselineError,
    ContinualLearner,
    TaskLike,
    TrainConfig,
    as_tensors,
    linears,
    mlp,
    task_classes,
    train_classifier,
)
from .pollution import ProtectedNet


@dataclass
class PathChoice:
    """What MNTDP-D chose for one task: the source task (None for the first), the kNN probe
    accuracy of every earlier task, the validation accuracy of candidate i (i new modules),
    the i kept and the neurons it added (new hidden modules and the head)."""

    source: int | None
    probe: list[float]
    val_acc: list[float]
    new_modules: int
    neurons_added: int
    path: tuple[int, ...] = field(default=())


class MNTDP(ContinualLearner):
    """MNTDP-D on ReLU MLP modules of layer ``sizes`` (module docstring); each head has as many
    units as its task has classes, so ``sizes[-1]`` only has to be a valid size."""

    answers_unseen_tasks = False

    def __init__(self, sizes: Sequence[int], *, val_fraction: float = 0.2, n_neighbors: int = 15,
                 probe_samples: int = 1000, tolerance: float = 0.0, train: TrainConfig | None = None):
        self.sizes = [int(s) for s in sizes]
        if len(self.sizes) < 3:
            raise BaselineError(f"MNTDP: sizes need at least [inputs, hidden, outputs], got {list(sizes)}")
        mlp(self.sizes)  # validates sizes now rather than at the first task
        if not 0 < val_fraction < 1:
            raise BaselineError(f"MNTDP: val_fraction must lie in (0, 1), got {val_fraction}")
        if n_neighbors < 1 or probe_samples < 1:
            raise BaselineError(f"MNTDP: n_neighbors and probe_samples must be >= 1; got {n_neighbors}, {probe_samples}")
        if not 0 <= tolerance < 1:
            raise BaselineError(f"MNTDP: tolerance must lie in [0, 1), got {tolerance}")
        self.train = train or TrainConfig()
        self.tolerance = float(tolerance)
        self.val_fraction, self.n_neighbors, self.probe_samples = float(val_fraction), int(n_neighbors), int(probe_samples)
        self.L = len(self.sizes) - 2
        self.library: list[list[nn.Linear]] = [[] for _ in range(self.L)]
        self.born: list[list[int]] = [[] for _ in range(self.L)]   # task at which each module was made
        self.paths: list[tuple[int, ...]] = []
        self.heads: list[nn.Linear] = []
        self.classes: list[Tensor] = []
        self.choices: list[PathChoice] = []
        self.n_classes = 0
        self.name = "MNTDP-D"
        self._mlps: dict[int, nn.Sequential] = {}

    def _features(self, modules: Sequence[nn.Linear], x: Tensor) -> Tensor:
        h = x
        for m in modules:
            h = torch.relu(m(h))
        return h

    def path_modules(self, t: int) -> list[nn.Linear]:
        self._check_task(t)
        return [self.library[l][k] for l, k in enumerate(self.paths[t])]

    def probe(self, x_tr: Tensor, y_tr: Tensor, x_val: Tensor, y_val: Tensor) -> list[float]:
        """kNN accuracy on the validation inputs, in the feature space of every earlier path."""
        n = self.probe_samples
        out = []
        with torch.no_grad():
            for s in range(len(self.paths)):
                mods = self.path_modules(s)
                knn = KNeighborsClassifier(n_neighbors=min(self.n_neighbors, len(x_tr[:n])))
                knn.fit(self._features(mods, x_tr[:n]).numpy(), y_tr[:n].numpy())
                pred = knn.predict(self._features(mods, x_val[:n]).numpy())
                out.append(float(np.mean(pred == y_val[:n].numpy())))
        return out

    def _split(self, t: int, n: int) -> tuple[Tensor, Tensor]:
        n_val = round(self.val_fraction * n)
        if n_val < 1 or n - n_val < 1:
            raise BaselineError(f"MNTDP: task {t} has {n} training samples; val_fraction {self.val_fraction} "
                                "must leave at least one for training and one for validation")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.train.seed + 104729 * (t + 1)))
        return order[n_val:], order[:n_val]

    def _candidate(self, t: int, i: int, source: int | None, n_cls: int, x: Tensor, y: Tensor
                   ) -> tuple[list[nn.Linear], nn.Linear]:
        """Train candidate i (i new modules after L - i reused ones of ``source``'s path)."""
        reused = self.path_modules(source)[:self.L - i] if source is not None else []
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(self.train.seed + 7919 * t + 31 * i)
        new = [nn.Linear(self.sizes[l], self.sizes[l + 1]) for l in range(self.L - i, self.L)]
        head = nn.Linear(self.sizes[-2], n_cls)
        torch.random.set_rng_state(gen_state)
        modules = [*reused, *new]
        cfg = self.train
        train_classifier(lambda xb: head(self._features(modules, xb)), [p for m in (*new, head) for p in m.parameters()],
                         x, y, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed + 1000 * t + i,
                         progress=cfg.progress, desc=f"{self.name} task {t} candidate {i}")
        return modules, head

    def fit_task(self, t: int, task: TaskLike) -> None:
        if t != len(self.paths):
            raise BaselineError(f"MNTDP: tasks must come in order; expected task {len(self.paths)}, got {t}")
        x, y = as_tensors(task.x_train, task.y_train)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise BaselineError(f"MNTDP: task {t} has inputs {tuple(x.shape)}, the modules take {self.sizes[0]}")
        cls = task_classes(task)
        local = torch.searchsorted(cls, y)
        tr, val = self._split(t, len(x))
        probe = self.probe(x[tr], local[tr], x[val], local[val]) if self.paths else []
        source = int(np.argmax(probe)) if probe else None
        cands, accs = [], []
        for i in (range(self.L + 1) if source is not None else [self.L]):
            modules, head = self._candidate(t, i, source, len(cls), x[tr], local[tr])
            with torch.no_grad():
                accs.append(float((head(self._features(modules, x[val])).argmax(1) == local[val]).float().mean()))
            cands.append((i, modules, head))
        i, modules, head = cands[next(k for k, a in enumerate(accs) if a >= max(accs) - self.tolerance)]
        path = [*self.paths[source][:self.L - i]] if source is not None else []
        for l in range(self.L - i, self.L):
            for p in modules[l].parameters():
                p.requires_grad_(False)
            self.library[l].append(modules[l])
            self.born[l].append(t)
            path.append(len(self.library[l]) - 1)
        for p in head.parameters():
            p.requires_grad_(False)
        self.paths.append(tuple(path))
        self.heads.append(head)
        self.classes.append(cls)
        self.n_classes = max(self.n_classes, int(task.n_classes))
        added = sum(self.sizes[l + 1] for l in range(self.L - i, self.L)) + len(cls)
        self.choices.append(PathChoice(source, probe, accs, i, added, tuple(path)))

    def _check_task(self, t: int | None) -> None:
        if t is None:
            raise BaselineError("MNTDP: the task id is needed at test time (task-incremental); pass t")
        if not 0 <= t < len(self.paths):
            raise BaselineError(f"MNTDP: task {t} not learned; learned tasks are 0..{len(self.paths) - 1}")

    def logits(self, x: Tensor, t: int | None) -> Tensor:
        self._check_task(t)
        out = torch.full((len(x), self.n_classes), float("-inf"))
        with torch.no_grad():
            out[:, self.classes[t]] = self.heads[t](self._features(self.path_modules(t), x))
        return out

    def n_parameters(self) -> int:
        mods = [m for layer in self.library for m in layer] + self.heads
        return sum(p.numel() for m in mods for p in m.parameters())

    def n_neurons(self) -> int:
        return sum(m.out_features for layer in self.library for m in layer) + sum(h.out_features for h in self.heads)

    def task_mlp(self, t: int) -> nn.Sequential:
        """The plain ReLU MLP of task t's path and head (built once)."""
        self._check_task(t)
        if t not in self._mlps:
            lins = [*self.path_modules(t), self.heads[t]]
            m = mlp([self.sizes[0], *self.sizes[1:-1], lins[-1].out_features])
            with torch.no_grad():
                for dst, src in zip(linears(m), lins):
                    dst.weight.copy_(src.weight)
                    dst.bias.copy_(src.bias)
            self._mlps[t] = m
        return self._mlps[t]

    def protected_nets(self, x: Tensor, t: int) -> list[tuple[Tensor, ProtectedNet]]:
        """Eqs. 2-4: task j protects the modules on its path (and its head); within task t's
        path, layer l's weights are protected for every task whose path holds the same module."""
        lins = linears(self.task_mlp(t))
        w = [m.weight.detach() for m in lins]
        prot: list[dict[int, Tensor]] = []
        for l, wl in enumerate(w):
            if l < self.L:
                prot.append({j: (wl if p[l] == self.paths[t][l] else torch.zeros_like(wl))
                             for j, p in enumerate(self.paths)})
            else:
                prot.append({t: wl})
        return [(torch.ones(len(x), dtype=torch.bool), ProtectedNet(w, [m.bias.detach() for m in lins], prot))]

    def chip_mlps(self, x: Tensor, t: int | None) -> list[tuple[nn.Sequential, Tensor, Tensor]]:
        """Task t's path and head; output unit k answers the task's k-th class."""
        self._check_task(t)
        return [(self.task_mlp(t), torch.ones(len(x), dtype=torch.bool), self.classes[t].clone())]
