"""Dynamically Expandable Networks (Yoon, Yang, Lee & Hwang, "Lifelong Learning with
Dynamically Expandable Networks", ICLR 2018; reference code jaehong31/DEN), task-incremental
with one head per task (growth.cl.TaskHeads).

For task 0 the ReLU MLP is trained with L1 sparsity.  For every later task t:
1. selective retraining: train head t alone (L1), select the sub-network reached backwards
   from head t's non-zero weights (breadth-first, layer by layer), retrain only that
   sub-network with L2 and a drift penalty ``drift_reg * ||W - W^{t-1}||^2``;
2. dynamic expansion, only if the training loss is still above ``loss_threshold``: add
   ``expand_k`` units to every hidden layer, train them with L1 and group sparsity (group
   lasso on each new unit's fan-in) and remove the new units whose fan-in became all zero;
3. split/duplication: every pre-existing unit whose fan-in drifted by
   ``||w_i^t - w_i^{t-1}||_2 > split_threshold`` is duplicated: the copy (timestamp t) takes
   the new weights and the unit's fan-out, the original gets its old fan-in back and is
   retired for tasks >= t; then the units of task t are retrained briefly.
Timestamps: a unit born at task s is used only by tasks >= s (and a retired one only by
earlier tasks), so later units never disturb earlier tasks.

Defaults are the paper's / reference code's (DEN_run.py): expansion 10 units, L1 1e-5, L2
1e-4, group lasso 1e-3, drift penalty 0.5, loss threshold 0.01, split threshold 0.05, Adam lr
1e-3, batch 256, at most ``expand_k`` splits per layer; L1 and group lasso are applied as
proximal steps of that size after every Adam step, as in the reference code.
Differences: softmax cross-entropy over the task's classes (the reference uses a sigmoid
per class), plain accuracy is reported (the reference reports AUC), split/duplication runs
for every task (the paper's Algorithm 1; the reference code only after an expansion), the
splits taken are the most-drifted units (the reference takes the least-drifted ones above the
threshold) and the split's duplicate keeps the function for task t exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from growth.cl import CLResult, TaskHeads, task_accuracy
from growth.errors import GrowthError
from models.training import fit, sampled_batches

NEVER = 1 << 30  # "retired" value of a unit that is never retired


@dataclass
class DENConfig:
    """DEN hyper-parameters (defaults from the paper / reference code, see module doc)."""

    hidden: tuple[int, ...] = (32, 32)
    expand_k: int = 10
    l1: float = 1e-5
    l2: float = 1e-4
    group_lasso: float = 1e-3
    drift_reg: float = 0.5
    loss_threshold: float = 0.01
    split_threshold: float = 0.05
    max_split: int | None = None     # per layer and task; None -> expand_k
    lr: float = 1e-3
    batch_size: int = 256
    iters: int = 200                 # Adam steps per training phase (head alone: half)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.hidden or min(self.hidden) < 1:
            raise GrowthError(f"DENConfig.hidden must list positive widths, got {self.hidden}")
        for name in ("expand_k", "batch_size", "iters"):
            if getattr(self, name) < 1:
                raise GrowthError(f"DENConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("l1", "l2", "group_lasso", "drift_reg", "loss_threshold", "split_threshold"):
            if not getattr(self, name) >= 0:
                raise GrowthError(f"DENConfig.{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class TaskLog:
    """What DEN did on one task."""

    task: int
    loss_selective: float | None = None   # training loss after selective retraining
    expanded: bool = False
    added: list[int] = field(default_factory=list)   # new units kept per layer
    split: list[int] = field(default_factory=list)   # units duplicated per layer


class DEN:
    """A DEN over a fixed list of tasks' heads.  Weights ``W[l]`` (n_l, n_{l-1}), biases
    ``b[l]``, head weights ``Wo`` (n_out, n_L), ``bo``; per hidden unit ``born[l]`` and
    ``retired[l]`` (task indices)."""

    def __init__(self, n_in: int, heads: TaskHeads, cfg: DENConfig | None = None):
        self.cfg = cfg or DENConfig()
        self.heads = heads
        g = torch.Generator().manual_seed(self.cfg.seed)
        sizes = [n_in, *self.cfg.hidden]
        self.W = [self._init((sizes[i + 1], sizes[i]), sizes[i], g) for i in range(len(sizes) - 1)]
        self.b = [torch.zeros(s) for s in sizes[1:]]
        self.Wo = self._init((heads.n_out, sizes[-1]), sizes[-1], g)
        self.bo = torch.zeros(heads.n_out)
        self.born = [np.zeros(s, dtype=np.int64) for s in sizes[1:]]
        self.retired = [np.full(s, NEVER, dtype=np.int64) for s in sizes[1:]]
        self.log: list[TaskLog] = []
        self._gen = g

    @staticmethod
    def _init(shape, fan_in, g) -> torch.Tensor:
        bound = 1.0 / np.sqrt(fan_in)  # torch's nn.Linear default range
        return (torch.rand(shape, generator=g) * 2 - 1) * bound

    # --- structure --------------------------------------------------------------------------
    @property
    def sizes(self) -> list[int]:
        return [len(b) for b in self.b]

    def visible(self, l: int, t: int) -> torch.Tensor:
        return torch.from_numpy((self.born[l] <= t) & (self.retired[l] > t)).float()

    def params(self) -> list[torch.Tensor]:
        return [*self.W, *self.b, self.Wo, self.bo]

    def logits(self, x: torch.Tensor, t: int, params: list[torch.Tensor] | None = None,
               vis: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Head t's logits, using only the units visible to task t."""
        p = params or self.params()
        L = len(self.W)
        vis = vis or [self.visible(l, t) for l in range(L)]
        h = x
        for l in range(L):
            h = torch.relu(h @ p[l].T + p[L + l]) * vis[l]
        return (h @ p[2 * L].T + p[2 * L + 1])[:, self.heads.rows(t)]

    def _add_units(self, l: int, fan_in: torch.Tensor, bias: torch.Tensor, fan_out: torch.Tensor,
                   born: int, retired: int = NEVER) -> None:
        """Append units to hidden layer l: fan_in (k, n_{l-1}), bias (k,), fan_out (n_next, k)."""
        self.W[l] = torch.cat([self.W[l], fan_in])
        self.b[l] = torch.cat([self.b[l], bias])
        if l + 1 < len(self.W):
            self.W[l + 1] = torch.cat([self.W[l + 1], fan_out], dim=1)
        else:
            self.Wo = torch.cat([self.Wo, fan_out], dim=1)
        k = len(bias)
        self.born[l] = np.concatenate([self.born[l], np.full(k, born)])
        self.retired[l] = np.concatenate([self.retired[l], np.full(k, retired)])

    def _remove_units(self, l: int, keep: np.ndarray) -> None:
        keep_t = torch.from_numpy(keep)
        self.W[l], self.b[l] = self.W[l][keep_t], self.b[l][keep_t]
        if l + 1 < len(self.W):
            self.W[l + 1] = self.W[l + 1][:, keep_t]
        else:
            self.Wo = self.Wo[:, keep_t]
        self.born[l], self.retired[l] = self.born[l][keep], self.retired[l][keep]

    # --- training ---------------------------------------------------------------------------
    def _train(self, x, y, t, masks, *, prev=None, groups=None, iters=None) -> float:
        """Adam on the entries where ``masks`` (one per parameter, or None = frozen) is 1, with
        L2, the drift penalty towards ``prev`` (same shapes, where given), and proximal L1 and
        group-lasso steps (``groups``: (layer, row indices) whose fan-in rows are groups).
        Returns the mean training loss of the final model."""
        cfg = self.cfg
        params = [p.clone().requires_grad_(m is not None) for p, m in zip(self.params(), masks)]
        trained = [(p, m) for p, m in zip(params, masks) if m is not None]
        vis = [self.visible(l, t) for l in range(len(self.W))]

        def loss(idx, step):
            lo = nn.functional.cross_entropy(self.logits(x[idx], t, params, vis), y[idx])
            for p, m in trained:
                lo = lo + cfg.l2 * ((p * m) ** 2).sum()
            if prev is not None and cfg.drift_reg > 0:
                for p, m, q in zip(params, masks, prev):
                    if m is not None and q is not None:
                        region = tuple(slice(0, s) for s in q.shape)
                        lo = lo + cfg.drift_reg * (((p[region] - q) * m[region]) ** 2).sum()
            return lo

        def proximal(step):  # L1 and group-lasso proximal steps, as the reference code
            for p, m in trained:
                if cfg.l1 > 0:
                    p.copy_(torch.where(m > 0, torch.sign(p) * (p.abs() - cfg.l1).clamp_min(0), p))
            for l, rows in groups or []:
                w = params[l][rows]
                norm = w.norm(dim=1, keepdim=True)
                params[l][rows] = torch.where(norm < cfg.group_lasso, torch.zeros_like(w),
                                              w - cfg.group_lasso * w / norm.clamp_min(1e-30))

        fit([p for p, _ in trained], sampled_batches(len(x), min(cfg.batch_size, len(x)), iters or cfg.iters,
                                                    self._gen),
            loss, lr=cfg.lr, grad_masks=dict(trained), after_step=proximal)
        L = len(self.W)
        with torch.no_grad():
            self.W = [p.detach() for p in params[:L]]
            self.b = [p.detach() for p in params[L:2 * L]]
            self.Wo, self.bo = params[2 * L].detach(), params[2 * L + 1].detach()
            return float(nn.functional.cross_entropy(self.logits(x, t), y))

    def _head_mask(self, t: int, cols: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.zeros(self.heads.n_out)
        rows[self.heads.rows(t)] = 1
        m = rows[:, None] * (torch.ones(self.Wo.shape[1]) if cols is None else cols)[None, :]
        return m, rows

    def learn_task(self, t: int, x: torch.Tensor, y: torch.Tensor) -> TaskLog:
        """Learn task t (tasks must come in order 0, 1, ...) from x (N, D), local labels y."""
        if t != len(self.log):
            raise GrowthError(f"DEN learns tasks in order: expected task {len(self.log)}, got {t}")
        L = len(self.W)
        log = TaskLog(t)
        if t == 0:
            hm, hb = self._head_mask(0)
            masks = [torch.ones_like(w) for w in self.W] + [torch.ones_like(b) for b in self.b] + [hm, hb]
            self._train(x, y, t, masks)
            self.log.append(log)
            return log
        before = [p.clone() for p in self.params()]
        # 1. selective retraining: head t alone, then the sub-network it reaches
        hm, hb = self._head_mask(t, self.visible(L - 1, t))
        self._train(x, y, t, [None] * (2 * L) + [hm, hb], iters=max(1, self.cfg.iters // 2))
        sel = [None] * L
        reach = (self.Wo[self.heads.rows(t)] != 0).any(0) & (self.visible(L - 1, t) > 0)
        sel[L - 1] = reach
        for l in range(L - 1, 0, -1):
            sel[l - 1] = (self.W[l][sel[l]] != 0).any(0) & (self.visible(l - 1, t) > 0)
        w_masks, b_masks = [], []
        for l in range(L):
            src = torch.ones(self.W[l].shape[1]) if l == 0 else sel[l - 1].float()
            w_masks.append(sel[l].float()[:, None] * src[None, :])
            b_masks.append(sel[l].float())
        hm, hb = self._head_mask(t, sel[L - 1].float())
        prev = before[:2 * L] + [None, None]  # no drift penalty on the heads (as the reference)
        log.loss_selective = self._train(x, y, t, w_masks + b_masks + [hm, hb], prev=prev)
        # 2. dynamic expansion, only if the loss stays above the threshold
        if log.loss_selective > self.cfg.loss_threshold:
            log.expanded = True
            self._expand(x, y, t, prev, log)
        # 3. split / duplication of drifted units
        self._split(t, before, log)
        if any(log.split):
            masks = self._task_unit_masks(t)
            self._train(x, y, t, masks, prev=None)
        self.log.append(log)
        return log

    def _expand(self, x, y, t, before, log: TaskLog) -> None:
        k, L = self.cfg.expand_k, len(self.W)
        old = self.sizes
        for l in range(L):
            n_prev = self.W[l].shape[1]
            n_next = self.W[l + 1].shape[0] if l + 1 < L else self.Wo.shape[0]
            fan_out = self._init((n_next, k), old[l] + k, self._gen)
            if l + 1 == L:  # only head t reads the new units
                fan_out = fan_out * self._head_mask(t)[1][:, None]
            self._add_units(l, self._init((k, n_prev), n_prev, self._gen), torch.zeros(k), fan_out, born=t)
        masks_w, masks_b = [], []
        for l in range(L):
            m = torch.zeros_like(self.W[l])
            m[old[l]:] = 1                      # new units' fan-in
            if l > 0:
                m[:, old[l - 1]:] = 1           # fan-out of the previous layer's new units
            masks_w.append(m)
            mb = torch.zeros_like(self.b[l])
            mb[old[l]:] = 1
            masks_b.append(mb)
        hm, hb = self._head_mask(t)
        groups = [(l, torch.arange(old[l], self.sizes[l])) for l in range(L)]
        self._train(x, y, t, masks_w + masks_b + [hm, hb], prev=before, groups=groups)
        for l in range(L):
            keep = np.ones(self.sizes[l], dtype=bool)
            keep[old[l]:] = (self.W[l][old[l]:] != 0).any(1).numpy()
            log.added.append(int(keep[old[l]:].sum()))
            self._remove_units(l, keep)

    def split(self, t: int, before: list[torch.Tensor]) -> list[int]:
        """Duplicate every unit (existing before task t) whose fan-in drifted from ``before``
        (the parameters before task t) by more than the split threshold; returns the number
        split per layer.  Task t's function is unchanged; the originals get their old fan-in
        back and serve tasks < t only."""
        log = TaskLog(t)
        self._split(t, before, log)
        return log.split

    def _split(self, t: int, before: list[torch.Tensor], log: TaskLog) -> None:
        L = len(self.W)
        cap = self.cfg.max_split if self.cfg.max_split is not None else self.cfg.expand_k
        for l in range(L):
            w_prev, b_prev = before[l], before[L + l]
            n_old, n_in_old = w_prev.shape
            cur = self.W[l][:n_old, :n_in_old]
            drift = (cur - w_prev).norm(dim=1).numpy()
            alive = (self.born[l][:n_old] < t) & (self.retired[l][:n_old] > t)
            cand = np.flatnonzero(alive & (drift > self.cfg.split_threshold))
            cand = cand[np.argsort(-drift[cand], kind="stable")][:cap]
            log.split.append(len(cand))
            if not len(cand):
                continue
            idx = torch.from_numpy(cand)
            nxt = self.W[l + 1] if l + 1 < L else self.Wo
            self._add_units(l, self.W[l][idx].clone(), self.b[l][idx].clone(), nxt[:, idx].clone(), born=t)
            restored = torch.zeros_like(self.W[l][idx])
            restored[:, :n_in_old] = w_prev[idx]
            self.W[l][idx] = restored
            self.b[l][idx] = b_prev[idx]
            self.retired[l][cand] = t

    def _task_unit_masks(self, t: int) -> list[torch.Tensor | None]:
        """Masks training only the units born at task t (fan-in, bias, fan-out) and head t."""
        L = len(self.W)
        new = [torch.from_numpy(self.born[l] == t).float() for l in range(L)]
        masks_w = []
        for l in range(L):
            m = new[l][:, None].expand_as(self.W[l]).clone()
            if l > 0:
                m = torch.maximum(m, new[l - 1][None, :].expand_as(m))
            masks_w.append(m)
        hm, hb = self._head_mask(t)
        return masks_w + [n.clone() for n in new] + [hm, hb]

    @property
    def n_neurons(self) -> int:
        """Hidden units held in memory (retired originals included)."""
        return int(sum(self.sizes))


def run_den(tasks, cfg: DENConfig | None = None, *, progress: bool = True) -> tuple[CLResult, DEN]:
    """Learn ``tasks`` in order with DEN; returns the accuracy matrix (as :class:`CLResult`) and
    the trained model (its ``log`` says what happened per task)."""
    cfg = cfg or DENConfig()
    heads = TaskHeads.from_tasks(tasks)
    den = DEN(tasks[0].x_train.shape[1], heads, cfg)
    baseline = task_accuracy(den.logits, heads, tasks)
    matrix = []
    for t in tqdm(range(len(tasks)), desc="DEN", disable=not progress):
        x, y = torch.from_numpy(tasks[t].x_train), torch.from_numpy(tasks[t].y_train)
        den.learn_task(t, x, heads.local(t, y))
        matrix.append(task_accuracy(den.logits, heads, tasks))
    return CLResult("den", matrix, baseline, den.sizes), den
