"""Hard mixture of experts with a k-means gater (modular continual learning).

The gater keeps centroids in input space, each owned by one expert, and routes every input
to the expert of its nearest centroid (Euclidean distance).  When a task arrives, k-means
(``clusters_per_task`` clusters) summarises its training inputs; a cluster centre farther
than ``threshold`` from every existing centroid becomes a new centroid; all such far
clusters of one task share ONE new expert (new neurons on the chip).  A centre within the
threshold merges into its nearest centroid (count-weighted mean) and its data train that
centroid's expert.  So a new expert is added exactly when some centre's distance to every
centroid exceeds the threshold.  Experts are ReLU MLPs trained by plain fine-tuning on the
inputs routed to them; an expert answers only with the classes it was trained on.  The gater itself (a nearest-centroid search) is counted in the
parameters but not as chip neurons.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .common import (
    BaselineError,
    ContinualLearner,
    PollutionTerms,
    TaskLike,
    TrainConfig,
    as_tensors,
    increments,
    linears,
    mask_logits,
    mlp,
    pollution_terms_mlp,
    task_classes,
    train_classifier,
)


class KMeansGater:
    """Nearest-centroid router that grows: see the module docstring.  Distances in input units."""

    def __init__(self, threshold: float, *, clusters_per_task: int = 1, seed: int = 0):
        if not threshold > 0 or not np.isfinite(threshold):
            raise BaselineError(f"KMeansGater: threshold must be a finite number > 0, got {threshold}")
        if clusters_per_task < 1:
            raise BaselineError(f"KMeansGater: clusters_per_task must be >= 1, got {clusters_per_task}")
        self.threshold, self.k, self.seed = float(threshold), int(clusters_per_task), int(seed)
        self.centroids = np.zeros((0, 0))
        self.counts = np.zeros(0)
        self.expert_of = np.zeros(0, dtype=np.int64)   # centroid -> expert
        self.n_experts = 0

    def distances(self, x: np.ndarray) -> np.ndarray:
        """(N, n_centroids) Euclidean distances."""
        x = np.asarray(x, dtype=np.float64)
        if self.centroids.shape[0] and x.shape[1] != self.centroids.shape[1]:
            raise BaselineError(f"KMeansGater: inputs have {x.shape[1]} features, centroids "
                                f"{self.centroids.shape[1]}")
        return np.sqrt(((x[:, None, :] - self.centroids[None, :, :]) ** 2).sum(-1))

    def route(self, x: np.ndarray) -> np.ndarray:
        """Expert index of every row of ``x``."""
        if self.n_experts == 0:
            raise BaselineError("KMeansGater: no centroid yet; call update with a task's inputs first")
        return self.expert_of[self.distances(x).argmin(axis=1)]

    def update(self, x: np.ndarray) -> list[int]:
        """Absorb one task's inputs; return the experts created (empty list or one new id)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0 or not np.all(np.isfinite(x)):
            raise BaselineError(f"KMeansGater.update: need finite, non-empty (N, D) inputs, got shape {x.shape}")
        k = min(self.k, len(x))
        if k == 1:
            centres, sizes = x.mean(0, keepdims=True), np.array([len(x)])
        else:
            from sklearn.cluster import KMeans
            km = KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit(x)
            centres, sizes = km.cluster_centers_, np.bincount(km.labels_, minlength=k)
        if self.centroids.shape[0] == 0:
            self.centroids = np.zeros((0, x.shape[1]))
        new_expert = None
        near = self.distances(centres) if self.centroids.shape[0] else np.full((k, 0), np.inf)
        for c, size, d in zip(centres, sizes, near):
            if d.size == 0 or d.min() > self.threshold:
                if new_expert is None:
                    new_expert = self.n_experts
                    self.n_experts += 1
                self.centroids = np.vstack([self.centroids, c])
                self.counts = np.append(self.counts, size)
                self.expert_of = np.append(self.expert_of, new_expert)
            else:
                j = int(d.argmin())
                total = self.counts[j] + size
                self.centroids[j] = (self.counts[j] * self.centroids[j] + size * c) / total
                self.counts[j] = total
        return [] if new_expert is None else [new_expert]

    def n_parameters(self) -> int:
        return int(self.centroids.size)


class HardMoE(ContinualLearner):
    """Experts of layer ``sizes`` behind a :class:`KMeansGater`."""

    def __init__(self, sizes: Sequence[int], *, threshold: float, clusters_per_task: int = 1,
                 train: TrainConfig | None = None):
        self.train = train or TrainConfig()
        self.sizes = [int(s) for s in sizes]
        mlp(self.sizes)  # validates sizes now rather than at the first task
        self.gater = KMeansGater(threshold, clusters_per_task=clusters_per_task, seed=self.train.seed)
        self.experts: list[nn.Sequential] = []
        self.snapshots: list[list[list[Tensor]]] = []  # expert -> weight snapshots after each task it trained on
        self.owners: list[list[int]] = []              # expert -> the task of each snapshot
        self.classes: list[Tensor] = []                # expert -> classes it was trained on
        self.name = f"MoE k-means thr={threshold:g}"

    @property
    def answers_unseen_tasks(self) -> bool:
        """Before the first task there is no expert to route to."""
        return bool(self.experts)

    def fit_task(self, t: int, task: TaskLike) -> None:
        x, y = as_tensors(task.x_train, task.y_train)
        for e in self.gater.update(task.x_train):
            self.experts.append(mlp(self.sizes, seed=self.train.seed + 31 * e))
            self.snapshots.append([])
            self.owners.append([])
            self.classes.append(torch.zeros(0, dtype=torch.long))
        route = torch.as_tensor(self.gater.route(task.x_train))
        cfg = self.train
        for e in route.unique().tolist():
            sel = route == e
            model = self.experts[e]
            train_classifier(model, model.parameters(), x[sel], y[sel], classes=task_classes(task),
                             epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                             seed=cfg.seed + 1000 * t + e, progress=cfg.progress, desc=f"expert {e} task {t}")
            self.snapshots[e].append([m.weight.detach().clone() for m in linears(model)])
            self.owners[e].append(t)
            self.classes[e] = torch.unique(torch.cat([self.classes[e], task_classes(task)]))

    def logits(self, x: Tensor, t: int | None) -> Tensor:
        route = torch.as_tensor(self.gater.route(x.numpy()))
        out = torch.empty(len(x), self.sizes[-1])
        for e in route.unique().tolist():
            out[route == e] = mask_logits(self.experts[e](x[route == e]), self.classes[e])
        return out

    def n_parameters(self) -> int:
        return sum(p.numel() for m in self.experts for p in m.parameters()) + self.gater.n_parameters()

    def n_neurons(self) -> int:
        return len(self.experts) * sum(self.sizes[1:])

    def pollution_terms(self, x: Tensor, t: int) -> PollutionTerms:
        """Each input uses its routed expert; an expert's weights are owned by increments
        over the tasks that trained it (the first such task also owns its initialisation)."""
        route = torch.as_tensor(self.gater.route(x.numpy()))
        num: dict[int, float] = {}
        den = 0.0
        for e in route.unique().tolist():
            lin = linears(self.experts[e])
            parts = [{self.owners[e][s]: p for s, p in part.items()} for part in increments(self.snapshots[e])]
            n_e, d_e = pollution_terms_mlp([m.weight for m in lin], [m.bias for m in lin], parts, x[route == e])
            for j, v in n_e.items():
                num[j] = num.get(j, 0.0) + v
            den += d_e
        return num, den

    def chip_mlps(self, x: Tensor, t: int | None) -> list[tuple[nn.Sequential, Tensor, Tensor]]:
        """The routed expert per input; an expert's units outside its classes count as unused."""
        route = torch.as_tensor(self.gater.route(x.numpy()))
        out = []
        for e in route.unique().tolist():
            cls = torch.arange(self.sizes[-1])
            cls[~torch.isin(cls, self.classes[e])] = -1
            out.append((self.experts[e], route == e, cls))
        return out
