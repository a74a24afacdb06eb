"""Dynamically Expandable Networks (Yoon, Yang, Lee & Hwang, "Lifelong Learning with
Dynamically Expandable Networks", ICLR 2018; reference code jaehong31/DEN, TensorFlow),
task-incremental with one head per task (growth.cl.TaskHeads).

Task 0: the ReLU MLP is trained with L1 sparsity.  Every later task t:
1. selective retraining: head t alone is trained with a strong L1 (``l1_head``), the units
   reached backwards from head t's non-zero weights (breadth-first through non-zero weights,
   layer by layer) form the set S, and only the weights among S are retrained, with L2, L1
   and the drift term ``drift_reg * ||W - W^{t-1}||^2``.  ``TaskLog.selected`` and
   ``selected_share`` say how much of the network S was;
2. dynamic expansion, only if the training loss after step 1 is above tau: ``expand_k``
   units are added to every hidden layer, trained with L1 and group sparsity (group lasso on
   each new unit's fan-in) and the new units whose fan-in went to zero are removed.  tau is
   ``loss_threshold`` if given, else calibrated on the data after task 0, between two losses
   measured there: l_rep, the loss selective retraining reaches on a task the network already
   represents (task 0 again, from a fresh head 0), and l_chance = log C_0, the loss of a
   uniform guess over task 0's C_0 classes (a network that represents nothing):
   tau = l_rep + ``tau_fraction`` x (l_chance - l_rep), so a task expands when the network
   serves it clearly worse than a task it represents;
3. split/duplication: every unit older than t whose fan-in drifted by
   ``rho_i = ||w_i^t - w_i^{t-1}||_2 > split_threshold`` (sigma) is split, with no cap: the
   original gets back its weights of before task t (fan-in, bias, fan-out) and stays, for
   every task, beside its copy i' (timestamp t), which takes the new weights (its fan-in
   reads the copies of split units below); then all hidden weights and head t are retrained
   with L2, L1 and the drift term towards the weights before task t (the final pass).
Timestamps: a unit born at task s is used only by tasks >= s.

Defaults: the reference's (DEN_run.py) expansion 10, L2 1e-4, drift 0.5, sigma 0.05, Adam lr
1e-3, batch 256.  L1 and group lasso are proximal steps after every Adam step, as in the
reference, here of size lr x strength (proximal gradient; the reference's thresholds do not
follow lr), so they keep their weight against Adam's steps (about lr each) at any learning
rate: at lr 1e-3 the strengths ``l1`` 1e-2 and ``group_lasso`` 1.0 are the reference's
thresholds 1e-5 and 1e-3.  Ours: ``l1_head`` 0.5 (with the reference's L1 almost no head
weight reaches zero and S is the whole network; at 0.5 a head weight survives only where
Adam's steps keep more than half their full size in one direction, i.e. where its gradient
is consistent; at 1.0 or more every weight is zeroed given enough steps and S empties), tau
calibrated (``tau_fraction`` 0.5) instead of the reference's 0.01, which every task's loss
exceeds, and 600 Adam steps per phase (430, the reference's max_iter / 10, for the
head-alone phase);
``DENConfig.reference()`` sets the reference's 4300 steps per phase.
Remaining differences from the reference code:
- softmax cross-entropy over the task's classes (the reference: a sigmoid per class), plain
  accuracy (the reference reports AUC), a task-incremental split of one data set (the
  reference: permuted MNIST, one 10-class head per task);
- weights drawn from U(+-1/sqrt(fan-in)) (torch's default; the reference: TensorFlow's
  Glorot uniform), batch indices drawn with replacement (the reference: the first 256 of a
  fresh shuffle);
- constant learning rate and a fixed number of steps per phase (the reference: decay 0.95 per
  epoch, early stop when the mean validation loss of 10 checks moves by < 1e-6);
- the head-alone phase of selective retraining runs ``head_iters`` steps (the reference's loop
  starts at its counter ``max_iter / 10`` and leaves after one step) from a zero head t (the
  reference: random): on fixed features it is an L1-regularised linear classifier, so it
  reaches its sparse solution without first waiting for random weights to decay;
- S is grown from every row of head t (the reference looks at the first class's column only);
- split/duplication runs for every task t >= 1 (the paper's Algorithm 1; the reference only
  after an expansion), every unit above sigma is split (the reference: at most ``ex_k`` per
  layer, the least drifted), the copy keeps its trained head-t weight and bias (the
  reference draws them at random), the original's weights to head t and to units born at t
  are 0 and the copy's fan-in from split originals is 0 (the reference: current values);
- the drift term is ``drift_reg * sum (W - W^{t-1})^2`` (the reference's ``tf.nn.l2_loss``
  halves it), L2 likewise.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from growth.cl import CLResult, TaskHeads, task_accuracy
from growth.errors import GrowthError
from models.training import fit, sampled_batches

REFERENCE_ITERS = 4300  # DEN_run.py: max_iter, Adam steps of every training phase


@dataclass
class DENConfig:
    """DEN hyper-parameters (see the module doc for which are the reference's)."""

    hidden: tuple[int, ...] = (32, 32)
    expand_k: int = 10
    l1: float = 1e-2                 # proximal L1 step per Adam step (x lr), every phase
    l1_head: float = 0.5             # ... in the head-alone phase of selective retraining
    l2: float = 1e-4
    group_lasso: float = 1.0         # proximal group-lasso step (x lr)
    drift_reg: float = 0.5
    loss_threshold: float | None = None  # tau; None: calibrated on task 0 (module doc)
    tau_fraction: float = 0.5        # where tau lies between l_rep (0) and l_chance (1)
    split_threshold: float = 0.05    # sigma
    lr: float = 1e-3
    batch_size: int = 256
    iters: int = 600                 # Adam steps per training phase
    head_iters: int = 430            # Adam steps of the head-alone phase
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.hidden or min(self.hidden) < 1:
            raise GrowthError(f"DENConfig.hidden must list positive widths, got {self.hidden}")
        for name in ("expand_k", "batch_size", "iters", "head_iters"):
            if getattr(self, name) < 1:
                raise GrowthError(f"DENConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("l1", "l1_head", "l2", "group_lasso", "drift_reg", "split_threshold"):
            if not getattr(self, name) >= 0:
                raise GrowthError(f"DENConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.tau_fraction <= 1:
            raise GrowthError(f"DENConfig.tau_fraction must lie in [0, 1], got {self.tau_fraction}")
        if self.loss_threshold is not None and not self.loss_threshold >= 0:
            raise GrowthError(f"DENConfig.loss_threshold must be >= 0 or None (calibrated), got {self.loss_threshold}")

    @classmethod
    def reference(cls, **overrides) -> DENConfig:
        """The reference's step counts: 4300 Adam steps per phase (head-alone phase: 430)."""
        return replace(cls(iters=REFERENCE_ITERS, head_iters=REFERENCE_ITERS // 10), **overrides)


@dataclass
class TaskLog:
    """What DEN did on one task (per hidden layer where a list)."""

    task: int
    loss_selective: float | None = None   # training loss after selective retraining
    tau: float | None = None              # the loss threshold it was compared with
    expanded: bool = False
    selected: list[int] = field(default_factory=list)  # units in S (selective retraining)
    visible: list[int] = field(default_factory=list)   # units task t could have selected
    added: list[int] = field(default_factory=list)     # new units kept (expansion)
    split: list[int] = field(default_factory=list)     # units duplicated

    @property
    def selected_share(self) -> float | None:
        """Share of the hidden units visible to task t that selective retraining retrained."""
        return sum(self.selected) / sum(self.visible) if self.visible else None


class DEN:
    """A DEN over a fixed list of tasks' heads.  Weights ``W[l]`` (n_l, n_{l-1}), biases
    ``b[l]``, head weights ``Wo`` (n_out, n_L), ``bo``; per hidden unit ``born[l]`` (task)."""

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
        self.log: list[TaskLog] = []
        self.tau: float | None = self.cfg.loss_threshold
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
        return torch.from_numpy(self.born[l] <= t).float()

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

    def _add_units(self, l: int, fan_in: torch.Tensor, bias: torch.Tensor, fan_out: torch.Tensor, born: int) -> None:
        """Append units to hidden layer l: fan_in (k, n_{l-1}), bias (k,), fan_out (n_next, k)."""
        self.W[l] = torch.cat([self.W[l], fan_in])
        self.b[l] = torch.cat([self.b[l], bias])
        if l + 1 < len(self.W):
            self.W[l + 1] = torch.cat([self.W[l + 1], fan_out], dim=1)
        else:
            self.Wo = torch.cat([self.Wo, fan_out], dim=1)
        self.born[l] = np.concatenate([self.born[l], np.full(len(bias), born)])

    def _remove_units(self, l: int, keep: np.ndarray) -> None:
        keep_t = torch.from_numpy(keep)
        self.W[l], self.b[l] = self.W[l][keep_t], self.b[l][keep_t]
        if l + 1 < len(self.W):
            self.W[l + 1] = self.W[l + 1][:, keep_t]
        else:
            self.Wo = self.Wo[:, keep_t]
        self.born[l] = self.born[l][keep]

    # --- training ---------------------------------------------------------------------------
    def _train(self, x, y, t, masks, *, prev=None, groups=None, iters=None, l1=None) -> float:
        """Adam on the entries where ``masks`` (one per parameter, or None = frozen) is 1, with
        L2, the drift penalty towards ``prev`` (on each tensor's leading block of ``prev``'s
        shape, where given), and proximal L1 (strength ``l1``, default ``cfg.l1``) and group-lasso steps
        (``groups``: (layer, row indices) whose fan-in rows are groups).  Returns the mean
        training loss (cross-entropy) of the final model."""
        cfg = self.cfg
        l1 = cfg.lr * (cfg.l1 if l1 is None else l1)
        gl = cfg.lr * cfg.group_lasso
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
                if l1 > 0:
                    p.copy_(torch.where(m > 0, torch.sign(p) * (p.abs() - l1).clamp_min(0), p))
            for l, rows in groups or []:
                w = params[l][rows]
                norm = w.norm(dim=1, keepdim=True)
                params[l][rows] = torch.where(norm < gl, torch.zeros_like(w), w - gl * w / norm.clamp_min(1e-30))

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

    def _all_masks(self, t: int) -> list[torch.Tensor]:
        """Every hidden weight and bias, and head t."""
        return [torch.ones_like(w) for w in self.W] + [torch.ones_like(b) for b in self.b] + list(self._head_mask(t))

    def learn_task(self, t: int, x: torch.Tensor, y: torch.Tensor) -> TaskLog:
        """Learn task t (tasks must come in order 0, 1, ...) from x (N, D), local labels y (N,)."""
        if t != len(self.log):
            raise GrowthError(f"DEN learns tasks in order: expected task {len(self.log)}, got {t}")
        n_in = self.W[0].shape[1]
        if x.ndim != 2 or x.shape[1] != n_in or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
            raise GrowthError(f"DEN task {t}: need x of shape (N, {n_in}) and y of shape (N,) with N >= 1, "
                              f"got x {tuple(x.shape)} and y {tuple(y.shape)}")
        log = TaskLog(t)
        if t == 0:
            self._train(x, y, t, self._all_masks(0))
            if self.tau is None:
                rep_loss, chance = self._calibration_loss(x, y), float(np.log(len(self.heads.classes[0])))
                self.tau = rep_loss + self.cfg.tau_fraction * max(chance - rep_loss, 0.0)
            self.log.append(log)
            return log
        L = len(self.W)
        before = [p.clone() for p in self.params()]
        prev = before[:2 * L] + [None, None]  # no drift penalty on the heads (as the reference)
        log.loss_selective = self._selective(x, y, t, prev, log)
        log.tau = self.tau
        if log.loss_selective > self.tau:  # 2. dynamic expansion
            log.expanded = True
            self._expand(x, y, t, prev, log)
        self._split(t, before, log)  # 3. split / duplication, then the final pass
        if any(log.split):
            self._train(x, y, t, self._all_masks(t), prev=prev)
        self.log.append(log)
        return log

    def _calibration_loss(self, x, y) -> float:
        """The loss selective retraining reaches on a task the network already represents:
        task 0 again, from a fresh head 0; the network is left as it was."""
        state = [p.clone() for p in self.params()]
        gen_state = self._gen.get_state()
        L = len(self.W)
        loss = self._selective(x, y, 0, [p.clone() for p in self.params()[:2 * L]] + [None, None], TaskLog(0))
        self.W, self.b = state[:L], state[L:2 * L]
        self.Wo, self.bo = state[2 * L], state[2 * L + 1]
        self._gen.set_state(gen_state)
        return loss

    def _selective(self, x, y, t, prev, log: TaskLog) -> float:
        """1. Selective retraining: head t alone (L1 ``l1_head``, from zero), then the
        sub-network S it reaches; returns the training loss after it."""
        L = len(self.W)
        vis = [self.visible(l, t) > 0 for l in range(L)]
        rows = self.heads.rows(t)
        self.Wo[rows], self.bo[rows] = 0.0, 0.0
        hm, hb = self._head_mask(t, vis[L - 1].float())
        self._train(x, y, t, [None] * (2 * L) + [hm, hb], iters=self.cfg.head_iters, l1=self.cfg.l1_head)
        sel = [None] * L
        sel[L - 1] = (self.Wo[self.heads.rows(t)] != 0).any(0) & vis[L - 1]
        for l in range(L - 1, 0, -1):
            sel[l - 1] = (self.W[l][sel[l]] != 0).any(0) & vis[l - 1]
        log.selected = [int(s.sum()) for s in sel]
        log.visible = [int(v.sum()) for v in vis]
        w_masks, b_masks = [], []
        for l in range(L):
            src = torch.ones(self.W[l].shape[1]) if l == 0 else sel[l - 1].float()
            w_masks.append(sel[l].float()[:, None] * src[None, :])
            b_masks.append(sel[l].float())
        hm, hb = self._head_mask(t, sel[L - 1].float())
        return self._train(x, y, t, w_masks + b_masks + [hm, hb], prev=prev)

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
        """Split every unit older than task t whose fan-in drifted from ``before`` (the
        parameters before task t) by more than sigma; returns the number split per layer.
        The originals get their weights of ``before`` back and stay beside their copies."""
        log = TaskLog(t)
        self._split(t, before, log)
        return log.split

    def _split(self, t: int, before: list[torch.Tensor], log: TaskLog) -> None:
        L = len(self.W)
        n_old = [len(b) for b in before[L:2 * L]]
        cands = []
        for l in range(L):  # drifts measured on the state after retraining, before any split
            drift = (self.W[l][:n_old[l], :before[l].shape[1]] - before[l]).norm(dim=1).numpy()
            cands.append(np.flatnonzero((self.born[l][:n_old[l]] < t) & (drift > self.cfg.split_threshold)))
        originals_below = np.zeros(0, dtype=np.int64)  # split units of the layer below
        for l in range(L):
            cand = cands[l]
            log.split.append(len(cand))
            idx = torch.from_numpy(cand)
            nxt = self.W[l + 1] if l + 1 < L else self.Wo
            fan_in = self.W[l][idx].clone()
            fan_in[:, torch.from_numpy(originals_below)] = 0  # a copy reads the copies below
            self._add_units(l, fan_in, self.b[l][idx].clone(), nxt[:, idx].clone(), born=t)
            self._restore(l, cand, before, t)
            originals_below = cand

    def _restore(self, l: int, units: np.ndarray, before: list[torch.Tensor], t: int) -> None:
        """Give the original ``units`` of layer l their weights of before task t: fan-in and
        bias, fan-out into the old units (heads < t and > t included); 0 to and from units born
        at t and to head t."""
        L = len(self.W)
        if not len(units):
            return
        idx = torch.from_numpy(units)
        w_prev = before[l]
        fan_in = torch.zeros(len(units), self.W[l].shape[1])
        fan_in[:, :w_prev.shape[1]] = w_prev[idx]
        self.W[l][idx] = fan_in
        self.b[l][idx] = before[L + l][idx]
        if l + 1 < L:
            out = torch.zeros(self.W[l + 1].shape[0], len(units))
            out[:before[l + 1].shape[0]] = before[l + 1][:, idx]
            self.W[l + 1][:, idx] = out
        else:
            out = before[2 * L][:, idx].clone()
            out[self.heads.rows(t)] = 0
            self.Wo[:, idx] = out

    @property
    def n_neurons(self) -> int:
        """Hidden units held in memory (originals and their copies)."""
        return int(sum(self.sizes))


def run_den(tasks, cfg: DENConfig | None = None, *, progress: bool = True) -> tuple[CLResult, DEN]:
    """Learn ``tasks`` in order with DEN; returns the accuracy matrix (as :class:`CLResult`) and
    the trained model (its ``log`` says what happened per task: units selected, expansion,
    splits)."""
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
