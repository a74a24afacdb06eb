"""Hard mixture of experts (Gross et al., CVPR 2017) grown task by task (continual learning).

Step 0, a feature extractor h: a small ReLU MLP (``feature_sizes``) trained on the first task
with its top layer then removed (``features="trained"``), or a fixed Gaussian random projection
to ``feature_sizes[-1]`` dimensions (``features="random"``).  Step 1, the gater: k-means on
h(x); every input goes to the expert of its nearest centroid (Euclidean distance in feature
units).  Step 2, one ReLU MLP expert per shard, trained on the inputs routed to it.

Growth.  When a task arrives, k-means (``clusters_per_task`` clusters) summarises its features.
The threshold follows the data: the ``quantile`` of every within-cluster distance seen so far
(each point's distance to its own task's cluster centre, this task included).  A centre
farther than the threshold from every centroid becomes a centroid of ONE new expert shared by
all such centres of the task (new neurons on the chip); a nearer centre merges into its
nearest centroid (count-weighted mean) and its inputs train that centroid's expert (plain
fine-tuning).  On demand, :meth:`HardMoE.split_expert` splits an expert in two (2-means over
its centroids, weighted by their counts; the second group gets a copy of the expert) and
:meth:`HardMoE.remove_expert` removes one (its inputs then go to the nearest remaining
centroid).  An expert answers only with the classes it was trained on.

Differences from the slides / paper: the extractor is a small MLP, not a CNN; the gater and
the extractor are counted in the parameters and the extractor's neurons in ``n_neurons``, but
the chip runs only the experts (energy per inference excludes the gating).
"""
from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import Tensor, nn

from .common import (
    BaselineError,
    ContinualLearner,
    TaskLike,
    TrainConfig,
    as_tensors,
    linears,
    mask_logits,
    mlp,
    task_classes,
    train_classifier,
)
from .pollution import ProtectedNet

FEATURES = ("trained", "random")


def kmeans(z: np.ndarray, k: int, *, seed: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(centres (k, d), label of every row) of k-means on ``z`` (k = 1: the mean)."""
    if k == 1:
        return z.mean(0, keepdims=True), np.zeros(len(z), dtype=np.int64)
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(z, sample_weight=weights)
    return km.cluster_centers_, km.labels_.astype(np.int64)


class KMeansGater:
    """Nearest-centroid router that grows; its threshold is a quantile of within-cluster
    distances (module docstring).  Distances in feature units."""

    def __init__(self, *, quantile: float = 0.9, clusters_per_task: int = 2, seed: int = 0):
        if not 0 < quantile <= 1:
            raise BaselineError(f"KMeansGater: quantile must lie in (0, 1], got {quantile}")
        if clusters_per_task < 1:
            raise BaselineError(f"KMeansGater: clusters_per_task must be >= 1, got {clusters_per_task}")
        self.quantile, self.k, self.seed = float(quantile), int(clusters_per_task), int(seed)
        self.centroids = np.zeros((0, 0))
        self.counts = np.zeros(0)
        self.expert_of = np.zeros(0, dtype=np.int64)   # centroid -> expert
        self.n_experts = 0
        self.within: list[np.ndarray] = []             # per update: each point's distance to its centre

    @property
    def threshold(self) -> float:
        """The ``quantile`` of every within-cluster distance seen so far."""
        if not self.within:
            raise BaselineError("KMeansGater: no data yet; the threshold follows the data, call update first")
        return float(np.quantile(np.concatenate(self.within), self.quantile))

    def distances(self, z: np.ndarray) -> np.ndarray:
        """(N, n_centroids) Euclidean distances."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or (self.centroids.shape[0] and z.shape[1] != self.centroids.shape[1]):
            raise BaselineError(f"KMeansGater: inputs of shape {z.shape}, centroids have "
                                f"{self.centroids.shape[1]} features")
        return np.sqrt(((z[:, None, :] - self.centroids[None, :, :]) ** 2).sum(-1))

    def route(self, z: np.ndarray) -> np.ndarray:
        """Expert index of every row of ``z``."""
        if self.n_experts == 0:
            raise BaselineError("KMeansGater: no centroid yet; call update with a task's inputs first")
        return self.expert_of[self.distances(z).argmin(axis=1)]

    def update(self, z: np.ndarray) -> list[int]:
        """Absorb one task's features; return the experts created (empty list or one new id)."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or len(z) == 0 or not np.all(np.isfinite(z)):
            raise BaselineError(f"KMeansGater.update: need finite, non-empty (N, D) inputs, got shape {z.shape}")
        if self.centroids.shape[0] and z.shape[1] != self.centroids.shape[1]:
            raise BaselineError(f"KMeansGater.update: {z.shape[1]} features, centroids have {self.centroids.shape[1]}")
        k = min(self.k, len(z))
        centres, labels = kmeans(z, k, seed=self.seed)
        sizes = np.bincount(labels, minlength=k)
        self.within.append(np.linalg.norm(z - centres[labels], axis=1))
        thr = self.threshold
        if self.centroids.shape[0] == 0:
            self.centroids = np.zeros((0, z.shape[1]))
        near = self.distances(centres) if self.centroids.shape[0] else np.full((k, 0), np.inf)
        new_expert = None
        for c, size, d in zip(centres, sizes, near):
            if size == 0:
                continue
            if d.size == 0 or d.min() > thr:
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

    def split(self, e: int) -> int:
        """Move half of expert e's centroids (2-means, count-weighted) to a new expert; its id."""
        self._check(e)
        own = np.flatnonzero(self.expert_of == e)
        if len(own) < 2:
            raise BaselineError(f"KMeansGater.split: expert {e} has {len(own)} centroid(s); splitting needs >= 2")
        _, labels = kmeans(self.centroids[own], 2, seed=self.seed, weights=self.counts[own])
        self.expert_of[own[labels == 1]] = self.n_experts
        self.n_experts += 1
        return self.n_experts - 1

    def remove(self, e: int) -> None:
        """Drop expert e's centroids; experts above e are renumbered down by one."""
        self._check(e)
        if self.n_experts == 1:
            raise BaselineError("KMeansGater.remove: cannot remove the last expert")
        keep = self.expert_of != e
        self.centroids, self.counts = self.centroids[keep], self.counts[keep]
        self.expert_of = self.expert_of[keep] - (self.expert_of[keep] > e)
        self.n_experts -= 1

    def _check(self, e: int) -> None:
        if not 0 <= e < self.n_experts:
            raise BaselineError(f"KMeansGater: expert {e} outside 0..{self.n_experts - 1}")

    def n_parameters(self) -> int:
        return int(self.centroids.size)


class HardMoE(ContinualLearner):
    """Experts of layer ``sizes`` behind a feature extractor and a :class:`KMeansGater`."""

    def __init__(self, sizes: Sequence[int], *, features: str = "trained", feature_sizes: Sequence[int] = (32,),
                 quantile: float = 0.9, clusters_per_task: int = 2, train: TrainConfig | None = None):
        if features not in FEATURES:
            raise BaselineError(f"HardMoE: features must be one of {FEATURES}, got {features!r}")
        if not feature_sizes or any(int(s) <= 0 for s in feature_sizes):
            raise BaselineError(f"HardMoE: feature_sizes must be positive layer sizes, got {list(feature_sizes)}")
        self.train = train or TrainConfig()
        self.sizes = [int(s) for s in sizes]
        mlp(self.sizes)  # validates sizes now rather than at the first task
        self.features, self.feature_sizes = features, [int(s) for s in feature_sizes]
        self.extractor: nn.Sequential | None = None
        self.gater = KMeansGater(quantile=quantile, clusters_per_task=clusters_per_task, seed=self.train.seed)
        self.experts: list[nn.Sequential] = []
        self.owners: list[list[int]] = []              # expert -> the tasks that trained it, in order
        self.classes: list[Tensor] = []                # expert -> classes it was trained on
        self.name = f"MoE k-means ({features} features, q={quantile:g})"

    @property
    def answers_unseen_tasks(self) -> bool:
        """Before the first task there is no expert to route to."""
        return bool(self.experts)

    def _build_extractor(self, task: TaskLike) -> nn.Sequential:
        D, cfg = self.sizes[0], self.train
        if self.features == "random":
            proj = nn.Linear(D, self.feature_sizes[-1], bias=False)
            gen = torch.Generator().manual_seed(cfg.seed + 4241)
            with torch.no_grad():
                proj.weight.copy_(torch.randn(self.feature_sizes[-1], D, generator=gen) / np.sqrt(D))
            return nn.Sequential(proj)
        x, y = as_tensors(task.x_train, task.y_train)
        net = mlp([D, *self.feature_sizes, int(task.n_classes)], seed=cfg.seed + 4241)
        train_classifier(net, net.parameters(), x, y, classes=task_classes(task), epochs=cfg.epochs, lr=cfg.lr,
                         batch_size=cfg.batch_size, seed=cfg.seed + 4241, progress=cfg.progress,
                         desc="feature extractor")
        return nn.Sequential(*list(net)[:-1])   # top layer removed: the last hidden ReLU activations

    def embed(self, x: Tensor | np.ndarray) -> np.ndarray:
        """h(x) in feature units."""
        if self.extractor is None:
            raise BaselineError("HardMoE: no feature extractor yet; fit the first task first")
        with torch.no_grad():
            return self.extractor(torch.as_tensor(np.asarray(x), dtype=torch.float32)).numpy()

    def route(self, x: Tensor | np.ndarray) -> Tensor:
        """Expert of every row of ``x``."""
        return torch.as_tensor(self.gater.route(self.embed(x)))

    def fit_task(self, t: int, task: TaskLike) -> None:
        if np.asarray(task.x_train).shape[1:] != (self.sizes[0],):
            raise BaselineError(f"HardMoE: task {t} has inputs {np.asarray(task.x_train).shape}, the experts "
                                f"take {self.sizes[0]} features")
        if self.extractor is None:
            self.extractor = self._build_extractor(task)
        x, y = as_tensors(task.x_train, task.y_train)
        for e in self.gater.update(self.embed(x)):
            self.experts.append(mlp(self.sizes, seed=self.train.seed + 31 * e))
            self.owners.append([])
            self.classes.append(torch.zeros(0, dtype=torch.long))
        route = self.route(x)
        cfg = self.train
        for e in route.unique().tolist():
            sel = route == e
            model = self.experts[e]
            train_classifier(model, model.parameters(), x[sel], y[sel], classes=task_classes(task),
                             epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                             seed=cfg.seed + 1000 * t + e, progress=cfg.progress, desc=f"expert {e} task {t}")
            self.owners[e].append(t)
            self.classes[e] = torch.unique(torch.cat([self.classes[e], task_classes(task)]))

    def split_expert(self, e: int) -> int:
        """Split expert e in two (module docstring); the new expert starts as a copy; its id."""
        new = self.gater.split(e)
        self.experts.append(copy.deepcopy(self.experts[e]))
        self.owners.append(list(self.owners[e]))
        self.classes.append(self.classes[e].clone())
        return new

    def remove_expert(self, e: int) -> None:
        """Remove expert e and its centroids; experts above e are renumbered down by one."""
        self.gater.remove(e)
        for store in (self.experts, self.owners, self.classes):
            del store[e]

    def logits(self, x: Tensor, t: int | None) -> Tensor:
        route = self.route(x)
        out = torch.empty(len(x), self.sizes[-1])
        for e in route.unique().tolist():
            out[route == e] = mask_logits(self.experts[e](x[route == e]), self.classes[e])
        return out

    def n_parameters(self) -> int:
        ext = sum(p.numel() for p in self.extractor.parameters()) if self.extractor is not None else 0
        return sum(p.numel() for m in self.experts for p in m.parameters()) + self.gater.n_parameters() + ext

    def n_neurons(self) -> int:
        ext = sum(m.out_features for m in linears(self.extractor)) if self.extractor is not None else 0
        return len(self.experts) * sum(self.sizes[1:]) + ext

    def protected_nets(self, x: Tensor, t: int) -> list[tuple[Tensor, ProtectedNet]]:
        """Eqs. 2-4: the routed expert; every weight of an expert is protected for each task that
        trained it (task t protects nothing in an expert it did not train)."""
        route = self.route(x)
        out = []
        for e in route.unique().tolist():
            w = [m.weight.detach() for m in linears(self.experts[e])]
            prot = [{j: wl for j in {*self.owners[e]}} | ({} if t in self.owners[e] else {t: torch.zeros_like(wl)})
                    for wl in w]
            out.append((route == e, ProtectedNet(w, [m.bias.detach() for m in linears(self.experts[e])], prot)))
        return out

    def chip_mlps(self, x: Tensor, t: int | None) -> list[tuple[nn.Sequential, Tensor, Tensor]]:
        """The routed expert per input; an expert's units outside its classes count as unused."""
        route = self.route(x)
        out = []
        for e in route.unique().tolist():
            cls = torch.arange(self.sizes[-1])
            cls[~torch.isin(cls, self.classes[e])] = -1
            out.append((self.experts[e], route == e, cls))
        return out
