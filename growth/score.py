"""Score growth on the chip: grow along a schedule (or let the controller decide), map
incrementally after every growth step, and measure accuracy, energy and latency per
inference, peak router-port load and budget violations per step.

A run trains a spiking MLP (``models.snn.make_mlp``, snnTorch ``Leaky``) for ``steps``
Adam steps on batches of the training split (a held-out ``val_fraction`` of it gives the
validation loss the controller's plateau rule watches).  Loss: cross-entropy on output spike
counts.  Growth uses GradMax (``growth.grow.grow_layer``), or random fan-out for the random
baseline.  The network is placed by ``mapper.map_network`` at the start and incrementally
(old neurons pinned) after each growth step.

A *row* describes one segment: the network after i growth events, trained until the next
event (or the end), measured then.  Energy and latency come from the simulator
(``models.readout.measure_on_chip`` on ``n_sim`` test samples: T + L - 1 chip steps per
inference, means over the samples) and from the cost model (rates measured on the same
samples); budgets are checked against the simulated figures, and every violation is
reported in the row, never hidden.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from growth.controller import (
    ControllerConfig,
    GrowthController,
    MeasuredCost,
    activity,
    candidate_benefit,
    grown_index,
    layer_benefits,
    layered_network,
)
from growth.benefit import (Lookahead, Pair, RealisedGain, check_options, fork_generator, fork_optimizer,
                            lookahead_fields, lookahead_losses, repeated_lookahead, stream_seed)
from growth.energy_dual import EnergyDual, layer_slopes
from growth.errors import GrowthError
from growth.grow import DeadLayerError, grow_layer, hidden_sizes
from growth.regularizer import MosaicRegularizer
from growth.schedule_score import ScheduleScore
from growth.schedules import GrowthEvent, Schedule
from mapper import map_network
from models.datasets import load_dataset
from models.readout import measure_on_chip
from models.snn import encode, evaluate, make_mlp, predict, reset_state, run, standardization, standardized_input
from models.training import fit, sampled_batches
from mosaic.cost import CostBudget, estimate_cost
from mosaic.spec import HardwareSpec


DEAD_LAYER = ("skip", "random")


@dataclass
class RunConfig:
    """Training and measuring.  ``steps`` Adam steps of ``batch_size`` at ``lr``; ``T`` steps
    per inference with ``encoder`` ("direct": analog currents); ``val_fraction`` of the
    training split held out; ``n_sim`` test samples simulated on the chip per row (0: cost
    model only); ``mapping`` method and ``time_limit`` (s) of the mapper; ``reg`` strength of
    the Mosaic hop regulariser ``growth.regularizer.MosaicRegularizer``: reg x mean(M W^2),
    M up to e^15 = 3.3e6 per synapse (0: off).  ``dead_layer``: what a GradMax growth event
    does when the layer has no gradient (its growth matrix is zero, e.g. the layer below went
    silent): "skip" it or grow it with "random" fan-out; either way the run goes on and the
    score's log records it.  ``standardize`` (direct input only): train on standardised inputs
    with the fold ``models.snn.standardized_input`` (the network outside training, grown,
    measured and simulated, takes the raw [0, 1] input), as ``models.snn.train(standardize=True)``."""

    steps: int = 600
    batch_size: int = 64
    lr: float = 5e-3
    T: int = 10
    encoder: str = "direct"
    val_fraction: float = 0.2
    n_sim: int = 40
    mapping: str = "greedy"
    time_limit: float = 1.0
    reg: float = 0.0
    seed: int = 0
    progress: bool = False
    dead_layer: str = "skip"
    standardize: bool = False

    def __post_init__(self) -> None:
        if self.dead_layer not in DEAD_LAYER:
            raise GrowthError(f"RunConfig.dead_layer must be one of {DEAD_LAYER}, got {self.dead_layer!r}")
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0 or self.T < 1:
            raise GrowthError(f"RunConfig needs steps, batch_size, T >= 1 and lr > 0, got {self}")
        if not 0 < self.val_fraction < 1 or self.n_sim < 0:
            raise GrowthError(f"RunConfig needs 0 < val_fraction < 1 and n_sim >= 0, got {self}")
        if self.standardize and self.reg > 0:
            raise GrowthError(f"RunConfig: standardize=True with reg={self.reg}: the hop regulariser would "
                              f"see the folded first-layer weights; use one or the other")


# ------------------------------------------------------------------ the run
def _loss_fn(out, y):
    return nn.functional.cross_entropy(out, y)


class _Run:
    """State of one training-and-growth run on one chip (``spec`` None: training only)."""

    def __init__(self, data, spec: HardwareSpec | None, budget: CostBudget | None,
                 initial: Sequence[int] | None, cfg: RunConfig, model: nn.Sequential | None = None) -> None:
        self.spec, self.cfg = spec, cfg
        self.budget = budget or CostBudget()
        rng = np.random.default_rng(cfg.seed)
        x, y = np.asarray(data.x_train, np.float32), np.asarray(data.y_train)
        perm = rng.permutation(len(y))
        n_val = max(1, int(round(cfg.val_fraction * len(y))))
        self.x_val, self.y_val = torch.as_tensor(x[perm[:n_val]]), torch.as_tensor(y[perm[:n_val]])
        self.x_tr, self.y_tr = torch.as_tensor(x[perm[n_val:]]), torch.as_tensor(y[perm[n_val:]])
        self.data = data
        self.n_in, self.n_out = x.shape[1], int(data.n_classes)
        self.model = model if model is not None else make_mlp([self.n_in, *initial, self.n_out], "leaky",
                                                              seed=cfg.seed)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.torch_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.fold = standardization(self.model, self.x_tr, cfg.encoder) if cfg.standardize else None
        self.core_of = None if spec is None else self._place(None)
        self.reg = None if spec is None else self._regularizer()

    # -- structure
    def sizes(self) -> list[int]:
        return hidden_sizes(self.model) + [self.n_out]

    def _place(self, previous):
        net = layered_network(self.n_in, self.sizes())
        rates, _, _ = activity(self.model, self.x_val[:64].numpy(), self.cfg.T, self.cfg.encoder)
        return self.place(net, self.spec, previous, rates)

    def place(self, net, spec, previous, rates) -> np.ndarray:
        """``mapper.map_network`` (incremental when ``previous`` is given); a floor on the
        rates keeps silent neurons' synapses in the mapper's objective."""
        p = map_network(net, spec, method=self.cfg.mapping, rates=np.maximum(rates, 1e-3),
                        previous=previous, time_limit=self.cfg.time_limit, seed=self.cfg.seed)
        return np.asarray(p.core_of, np.int64)

    def _regularizer(self):
        if self.cfg.reg <= 0:
            return None
        return MosaicRegularizer(self.model, self.spec, self.core_of, self.cfg.reg)

    # -- training
    def _seq(self, x, seed):
        return encode(x, self.cfg.T, self.cfg.encoder, seed=seed)

    def train(self, n_steps: int, step0: int, dual: EnergyDual | None = None) -> None:
        """``n_steps`` Adam steps on random training batches (the run's optimizer and
        generator carry on across calls); loss: spike-count cross-entropy (+ regulariser,
        + the energy budget's penalty ``dual.penalty`` of the hidden spikes)."""
        bind = dual is not None and dual.lam > 0
        fold = self.fold
        x = self.x_tr if fold is None else (self.x_tr - fold[0]) / fold[1]

        def loss(idx, step):
            seq = (self._seq(x[idx], step0 + step.index) if fold is None
                   else x[idx].unsqueeze(0).expand(self.cfg.T, *x[idx].shape))   # direct, outside [0, 1]
            out = run(self.model, seq, record=bind)
            lo = _loss_fn(out[0].sum(0), self.y_tr[idx])
            if bind:
                lo = lo + dual.penalty(out[2][:-1])
            return lo if self.reg is None else lo + self.reg(self.model)

        self.model.train()
        with standardized_input(self.model, fold) if fold is not None else contextlib.nullcontext():
            fit(self.opt, sampled_batches(len(self.y_tr), self.cfg.batch_size, n_steps, self.gen), loss)
        self.model.eval()

    @torch.no_grad()
    def val(self) -> tuple[float, float]:
        """(validation loss, validation accuracy)."""
        spk, _ = run(self.model, self._seq(self.x_val, 0))
        return float(_loss_fn(spk.sum(0), self.y_val)), float(np.mean(predict(spk) == self.y_val.numpy()))

    def fork(self, *, regularized: bool = True) -> _Run:
        """A twin of this run: a deep copy of the model with a copy of the optimizer state and
        of both generators; placement, data and config shared.  Training or growing the twin
        leaves this run alone.  ``regularized=False``: the twin trains without the hop
        regulariser (a grown copy's placement is not known)."""
        twin = copy.copy(self)
        reset_state(self.model)              # snnTorch's hidden state holds graph tensors
        twin.model = copy.deepcopy(self.model)
        twin.opt = fork_optimizer(self.opt, twin.model.parameters())
        twin.gen, twin.torch_gen = fork_generator(self.gen), fork_generator(self.torch_gen)
        twin.reg = (None if self.reg is None or not regularized
                    else MosaicRegularizer(twin.model, self.spec, self.core_of, self.cfg.reg))
        return twin

    def pair(self, twin: _Run, seed: int, dual: EnergyDual | None) -> Pair:
        """An extra realised-gain pair (``growth.benefit.Pair``): copies of this (grown) run and
        of its no-growth ``twin``, both drawing the batches of ``seed``."""
        g, t = self.fork(), twin.fork()
        g.gen, t.gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        return (lambda n, s0: (g.train(n, s0, dual), t.train(n, s0, dual))), lambda: (g.val(), t.val())

    def estimates(self, est: dict, estimator: str, look: tuple | None, look_repeats: int = 1) -> list:
        """The controller's benefits per hidden layer from ``estimator``; fills ``est`` with
        "gradmax" (singular values per layer) and, when ``look`` = the arguments of
        :meth:`lookahead`, "lookahead" (averaged over ``look_repeats`` batch streams)."""
        est["gradmax"] = self.benefits()
        if look is not None:
            est["lookahead"] = repeated_lookahead(lambda r: self.lookahead(*look, stream=r), look_repeats)
        if estimator == "gradmax":
            return est["gradmax"]
        twin = est["lookahead"].benefits("twin")
        return [{k: b for (li, k), b in twin.items() if li == layer} for layer in range(len(est["gradmax"]))]

    def lookahead(self, k_options: Sequence[int], steps: int, dual: EnergyDual | None, at: int,
                  batch_size: int | None = None, stream: int = 0) -> Lookahead:
        """The look-ahead (``growth.benefit.lookahead_losses``) of every (hidden layer, k) at
        training step ``at``: the no-growth twin and the grown copies (GradMax on one fixed
        batch) train ``steps`` steps of ``batch_size`` (None: the run's) on the same batches,
        with the energy dual's current penalty and without the hop regulariser.  Its batches
        come from (seed, ``at``, ``stream``: ``growth.benefit.stream_seed``), not the run's
        generators, so the run trains the same."""
        cfg = self.cfg if batch_size is None else dataclasses.replace(self.cfg, batch_size=int(batch_size))
        seed = stream_seed(self.cfg.seed, at, stream)
        idx = torch.randint(len(self.y_tr), (256,), generator=torch.Generator().manual_seed(seed))
        batch = (self._seq(self.x_tr[idx], 7), self.y_tr[idx])

        def fork(r):
            c = r.fork(regularized=False)
            c.cfg = cfg
            c.gen, c.torch_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
            return c

        def grow(c, cand):
            try:
                grow_layer(c.model, cand[0], cand[1], optimizer=c.opt, data=batch, loss_fn=_loss_fn,
                           generator=c.torch_gen)
            except DeadLayerError:
                grow_layer(c.model, cand[0], cand[1], method="random", optimizer=c.opt, generator=c.torch_gen)

        cands = [(li, k) for li in range(len(self.sizes()) - 1) for k in sorted(set(k_options))]
        return lookahead_losses(self, cands, copy=fork, grow=grow, train=lambda c, n: c.train(n, 0, dual),
                                val_loss=lambda c: c.val()[0], steps=steps)

    def grow(self, layer: int, k: int, method: str) -> tuple[int, str | None]:
        """Grow ``layer`` by up to ``k`` (GradMax may add fewer), re-map.  Returns the number
        added and, for a dead layer (``RunConfig.dead_layer``), what was done instead."""
        before = self.sizes()
        idx = torch.randint(len(self.y_tr), (256,), generator=self.gen)
        batch = (self._seq(self.x_tr[idx], 7), self.y_tr[idx])
        note = None
        try:
            grow_layer(self.model, layer, k, method=method, optimizer=self.opt, data=batch,
                       loss_fn=_loss_fn, generator=self.torch_gen)
        except DeadLayerError as e:
            note = f"{e}: {'grown with random fan-out' if self.cfg.dead_layer == 'random' else 'skipped'}"
            if self.cfg.dead_layer == "skip":
                return 0, note
            grow_layer(self.model, layer, k, method="random", optimizer=self.opt, generator=self.torch_gen)
        added = self.sizes()[layer] - before[layer]
        old = grown_index(before, layer, added)
        self.core_of = self._place(np.where(old >= 0, self.core_of[np.maximum(old, 0)], -1))
        self.reg = self._regularizer()
        return added, note

    def benefits(self) -> list[np.ndarray]:
        idx = torch.randint(len(self.y_tr), (256,), generator=self.gen)
        batch = (self._seq(self.x_tr[idx], 7), self.y_tr[idx])
        return layer_benefits(self.model, batch, _loss_fn, len(self.sizes()) - 1)

    # -- measuring
    def measure(self, step: int) -> dict:
        cfg = self.cfg
        acc = evaluate(self.model, self.data, T=cfg.T, encoder=cfg.encoder)["accuracy"]
        xs = np.asarray(self.data.x_test[: max(cfg.n_sim, 64)], np.float32)
        rates, in_rates, analog = activity(self.model, xs[: max(cfg.n_sim, 1)] if cfg.n_sim else xs,
                                           cfg.T, cfg.encoder)
        net_struct = layered_network(self.n_in, self.sizes())
        model_cost = estimate_cost(net_struct, self.spec, self.core_of, rates, in_rates, T=cfg.T,
                                   analog_input=analog)
        row = {"step": int(step), "sizes": self.sizes(), "accuracy": float(acc),
               "model_energy_pj": float(model_cost.energy_pj["total"]),
               "model_latency_ns": float(model_cost.latency_ns),
               "model_port_use": float(model_cost.port_use), "cores": int(model_cost.cores_used)}
        if cfg.n_sim:
            row.update(self._simulate(xs[: cfg.n_sim]))
        else:
            row.update(energy_pj=row["model_energy_pj"], latency_ns=row["model_latency_ns"],
                       port_use=row["model_port_use"], energy_by_kind=dict(model_cost.energy_pj),
                       peak_port_load=float(model_cost.peak_link_load / cfg.T))
        sim_view = MeasuredCost(row)
        row["violations"] = self.budget.violations(sim_view)
        return row

    def _simulate(self, xs: np.ndarray) -> dict:
        """Simulated figures per inference (``models.readout.measure_on_chip``, cycle
        routing, T + L - 1 steps); port load per input step."""
        res = measure_on_chip(self.model, self.spec, self.core_of, xs, self.cfg.T, self.cfg.encoder, routing="cycle")
        port = res.peak_link_load / self.cfg.T
        return {"energy_pj": float(res.energy_pj["total"]), "latency_ns": res.latency_ns,
                "peak_port_load": port, "port_use": port / (self.spec.bandwidth * self.spec.step_cycles),
                "energy_by_kind": res.energy_pj}


def train_root(initial: Sequence[int], data, config: RunConfig | None = None) -> nn.Sequential:
    """The root network (hidden sizes ``initial``) trained for ``config.steps`` exactly as
    ``score_schedule`` trains it when the schedule has no events."""
    cfg = config or RunConfig()
    run = _Run(data, None, None, initial, cfg)
    run.train(cfg.steps, 0)
    return run.model


def score_network(model: nn.Sequential, spec: HardwareSpec, budget: CostBudget | None, data, *,
                  config: RunConfig | None = None, step: int = 0) -> dict:
    """Place a trained spiking MLP on ``spec`` and measure it: one row of ``score_schedule``
    (accuracy, simulated energy and latency per inference, port use, cost-model figures and
    budget violations)."""
    return _Run(data, spec, budget, None, config or RunConfig(), model=model).measure(step)


def _segments(events: Sequence[GrowthEvent], steps: int) -> list[int]:
    bad = [e for e in events if e.step >= steps]
    if bad:
        raise GrowthError(f"growth event at step {bad[0].step} is past the run's {steps} training steps; "
                          f"raise steps or move the event")
    return sorted({e.step for e in events})


def score_schedule(schedule: Schedule, spec: HardwareSpec, budget: CostBudget | None, data, *,
                   config: RunConfig | None = None, method: str = "gradmax",
                   model: nn.Sequential | None = None) -> ScheduleScore:
    """Train from ``schedule.initial`` (or from ``model``, a spiking MLP of those hidden
    sizes), grow at its events (``method`` "gradmax" or "random"), map incrementally after
    every growth step, and measure each segment (module doc).  An empty schedule gives one
    row: the root network trained for ``config.steps``."""
    return score_schedules(schedule, [spec], budget, data, config=config, method=method, model=model)[0]


def score_schedules(schedule: Schedule, specs: Sequence[HardwareSpec], budget: CostBudget | dict | None,
                    data, *, config: RunConfig | None = None, method: str = "gradmax",
                    model: nn.Sequential | None = None) -> list[ScheduleScore]:
    """``score_schedule`` on several chips at once: training does not depend on the chip, so the
    model is trained once and placed and measured on each ``spec`` (``budget`` may map a
    spec name to its budget)."""
    cfg = config or RunConfig()
    if model is not None and hidden_sizes(model) != list(schedule.initial):
        raise GrowthError(f"the model's hidden sizes {hidden_sizes(model)} differ from the schedule's "
                          f"initial sizes {list(schedule.initial)}")
    t0 = time.perf_counter()
    runs = []
    for spec in specs:
        b = budget.get(spec.name) if isinstance(budget, dict) else budget
        runs.append(_Run(data, spec, b, schedule.initial, cfg, model=model))
    lead = runs[0]
    for r in runs[1:]:                       # one model, one optimizer, many placements
        r.model, r.opt, r.gen, r.torch_gen = lead.model, lead.opt, lead.gen, lead.torch_gen
        r.core_of = r._place(None)
    scores = [ScheduleScore(r.spec.name, r.budget.to_dict()) for r in runs]
    steps_at = _segments(schedule.events, cfg.steps)
    bounds = sorted({0, *steps_at, cfg.steps})
    bar = tqdm(total=cfg.steps, desc="score schedule", disable=not cfg.progress, leave=False)
    for a, b in zip(bounds, bounds[1:]):
        if a in steps_at:
            for e in schedule.at(a):
                added, note = _grow_all(runs, e.layer, e.k, method)
                for s in scores:
                    s.events.append((a, e.layer, added))
                    if note is not None:
                        s.log.append({"step": a, "layer": e.layer, "k": e.k, "dead_layer": note})
        lead.train(b - a, a)
        bar.update(b - a)
        if b in steps_at or b == cfg.steps:
            for r, s in zip(runs, scores):
                s.rows.append(r.measure(b))
    bar.close()
    for s in scores:
        s.wall_s = time.perf_counter() - t0
    return scores


def _grow_all(runs: list[_Run], layer: int, k: int, method: str) -> tuple[int, str | None]:
    added, note = runs[0].grow(layer, k, method)
    if added == 0:
        return 0, note
    sizes = runs[0].sizes()
    before = list(sizes)
    before[layer] -= added
    old = grown_index(before, layer, added)
    for r in runs[1:]:
        r.core_of = r._place(np.where(old >= 0, r.core_of[np.maximum(old, 0)], -1))
        r.reg = r._regularizer()
    return added, note


def grow_with_controller(spec: HardwareSpec, budget: CostBudget, data, initial: Sequence[int], *,
                         controller: ControllerConfig | None = None, config: RunConfig | None = None,
                         grow_until: float = 0.8, calibrate: bool = True, dual_lr: float = 1.0, estimator: str = "gradmax",
                         look_steps: int = 5, look_batch: int | None = None, look_repeats: int = 1,
                         validate_benefit: bool = False, validate_repeats: int = 1) -> ScheduleScore:
    """Train from hidden sizes ``initial`` and let :class:`GrowthController` decide where and
    when to grow (every ``controller.check_every`` steps, up to ``grow_until`` x the run's
    steps, so new neurons have time to train).  Rows are measured before every growth and at
    the end, like ``score_schedule``; the controller's decision log is ``score.log``.
    ``calibrate``: on a plateau, the current network is simulated (cycle routing) on the
    validation samples the rates come from (the dual's measurement of the same opportunity,
    when there is one), and the controller scales its predicted energies by measured /
    modelled (``growth.controller.calibration``); False: the cost model alone.
    ``dual_lr`` > 0 with an energy budget: training is bound to margin x budget as well
    (``growth.energy_dual.EnergyDual``: at every opportunity the chip's energy on the
    validation samples moves a multiplier on the hidden layers' spike energy); its history
    is ``score.dual``.  0: growth alone is budgeted and training may drift above it.
    ``estimator``: the benefit per (layer, k), "gradmax" (singular values) or "lookahead"
    (``growth.benefit``, twin baseline, ``look_steps`` training steps of ``look_batch``
    samples per candidate; None: the run's batch size; mean over ``look_repeats`` batch streams).
    ``score.benefit`` holds one record per growth (``growth.benefit.RealisedGain``, closed
    ``plateau.window + 1`` checks later); ``validate_benefit``: its realised gain is measured
    against a no-growth twin trained on the same batches, mean over ``validate_repeats`` pairs,
    and both estimates are recorded (each pair's training doubles those intervals; the run
    itself trains the same either way)."""
    cfg = config or RunConfig()
    if not 0 <= grow_until <= 1:
        raise GrowthError(f"grow_until must be a fraction of the run in [0, 1], got {grow_until}")
    check_options(estimator, look_steps, look_batch, look_repeats, validate_repeats)
    ccfg = controller or ControllerConfig(T=cfg.T)
    if ccfg.T != cfg.T:
        raise GrowthError(f"controller T = {ccfg.T} differs from the run's T = {cfg.T}")
    t0 = time.perf_counter()
    run = _Run(data, spec, budget, initial, cfg)
    ctl = GrowthController(spec, budget, ccfg, placer=run.place)
    score = ScheduleScore(spec.name, budget.to_dict())
    gains = RealisedGain(ccfg.check_every * (ccfg.plateau.window + 1), validate_repeats)
    step = 0
    bar = tqdm(total=cfg.steps, desc="controller", disable=not cfg.progress, leave=False)
    dual = (EnergyDual(budget.energy_pj * ccfg.margin, dual_lr)
            if dual_lr > 0 and budget.energy_pj is not None else None)
    xv = run.x_val[:64].numpy()
    while step < cfg.steps:
        n = min(ccfg.check_every, cfg.steps - step)
        run.train(n, step, dual)
        gains.advance(n, step)               # the twin, on the same batches and dual penalty
        step += n
        bar.update(n)
        growing = step < grow_until * cfg.steps
        loss_acc = run.val() if gains.due or growing else None     # one validation pass per opportunity
        if gains.due:
            gains.close(loss_acc)
        act, measured = _dual_step(run, dual, xv, step) if dual is not None else (None, None)
        if not growing:
            continue
        ctl.observe(loss_acc[0])
        rates, in_rates, analog = act or activity(run.model, xv, cfg.T, cfg.encoder)
        if calibrate and measured is None:   # simulated only if the controller asks (on a plateau)
            measured = lambda: run._simulate(xv)["energy_pj"]      # noqa: E731
        est: dict = {}
        look = (ccfg.k_options, look_steps, dual, step, look_batch) if estimator == "lookahead" or validate_benefit \
            else None                        # validation records both estimates
        pick = ctl.decide(step, run.n_in, run.sizes(), run.core_of, rates, in_rates,
                          lambda: run.estimates(est, estimator, look, look_repeats), analog_input=analog,
                          measured=measured if calibrate else None)
        if pick is None:
            continue
        gains.close(loss_acc)                # cut short by this growth (not with the default horizon)
        score.rows.append(run.measure(step))
        added, note = _grow_tracked(run, pick, _benefit_record(pick, est), gains, loss_acc, dual, validate_benefit)
        score.events.append((step, pick.layer, added))
        if note is not None:
            ctl.log.append({"step": step, "layer": pick.layer, "k": pick.k, "dead_layer": note})
    bar.close()
    gains.close(run.val)                     # validated only if a gain is still open
    score.rows.append(run.measure(cfg.steps))
    score.log, score.benefit, score.model = ctl.log, gains.records, run.model
    score.dual = [] if dual is None else dual.history
    score.wall_s = time.perf_counter() - t0
    return score


def _dual_step(run: _Run, dual: EnergyDual, xv: np.ndarray, step: int) -> tuple[tuple, float]:
    """The energy dual's update at an opportunity: the activity of the validation samples
    ``xv`` and the chip's simulated energy (pJ per inference), returned for reuse."""
    cfg = run.cfg
    act = rates, in_rates, analog = activity(run.model, xv, cfg.T, cfg.encoder)
    measured = run._simulate(xv)["energy_pj"]
    sizes = run.sizes()
    dual.update(step, measured, layer_slopes(layered_network(run.n_in, sizes), run.spec, run.core_of,
                                             rates, in_rates, sizes, cfg.T, analog))
    return act, measured


def _grow_tracked(run: _Run, pick, record: dict, gains: RealisedGain, before: tuple[float, float],
                  dual: EnergyDual | None, validate: bool) -> tuple[int, str | None]:
    """Grow the run by ``pick`` and open its realised gain: with ``validate``, against a twin
    forked before the growth (model, optimizer) and after it (the batch generator, so that it
    draws the batches the grown run draws next); extra pairs on streams of (seed, growth index)."""
    twin = run.fork() if validate else None
    added, note = run.grow(pick.layer, pick.k, "gradmax")
    if twin is None:
        gains.start(record, before)
    else:
        twin.gen = fork_generator(run.gen)
        at = len(gains.records)
        gains.start(record, before, lambda n, s0: twin.train(n, s0, dual), twin.val,
                    lambda r: run.pair(twin, stream_seed(run.cfg.seed, at, r, pairs=True), dual))
    return added, note


def _benefit_record(pick, est: dict) -> dict:
    """The prediction part of a growth's benefit record (type "layer:l"): the estimate the
    controller used and, when computed, GradMax's and the look-ahead's (twin and "now"
    baselines; per batch stream as ``lookahead_streams`` when repeated) beside it.  GradMax
    may have capped k by its rank: the look-ahead of the smallest k option >= the k grown is
    the same growth."""
    look = est.get("lookahead")
    ks = sorted(k for li, k in (look.grown if look is not None else {}) if li == pick.layer and k >= pick.k)
    cand = (pick.layer, ks[0]) if ks else None
    return {"type": f"layer:{pick.layer}", "layer": pick.layer, "k": pick.k, "predicted": float(pick.benefit),
            "gradmax": candidate_benefit(est["gradmax"][pick.layer], pick.k)[1], **lookahead_fields(look, cand)}


def score_schedule_file(schedule_path: str | Path, preset: str | HardwareSpec, *, dataset: str = "digits",
                        budget: CostBudget | None = None, config: RunConfig | None = None,
                        method: str = "gradmax", plot: str | Path | None = None,
                        out: str | Path | None = None) -> ScheduleScore:
    """What ``mosaic score`` runs: load a schedule file (.toml/.json) and a preset name (or
    spec), score it on ``dataset`` ("digits" or "mnist1d"), optionally write the plot and a
    JSON of the rows.  Print ``score.table()`` for the table."""
    schedule = Schedule.load(schedule_path)
    spec = preset if isinstance(preset, HardwareSpec) else HardwareSpec.preset(preset)
    cfg = config or RunConfig()
    data = load_dataset(dataset, seed=cfg.seed)
    score = score_schedule(schedule, spec, budget, data, config=cfg, method=method)
    if plot is not None:
        score.plot(plot)
    if out is not None:
        score.to_json(out)
    return score


__all__ = ["RunConfig", "ScheduleScore", "score_schedule", "score_schedules", "score_schedule_file",
           "score_network", "train_root",
           "grow_with_controller"]
