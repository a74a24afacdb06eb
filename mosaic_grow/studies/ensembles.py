"""Ensembles under an energy budget on the chip ("Continual learning beyond a single model").

Question: in continual learning, do k small networks beat one network that costs the same
energy per inference on ``mosaic-8x8``?  And does a cheap subspace ensemble (one line of
weights, sampled at test time) keep the gain at the training cost of one model?

Protocol (task-incremental, the task id given at test time, every method plain fine-tuning
with the softmax restricted to the task's classes, growth.baselines.common):

- single: one ReLU MLP ``[inputs, W, W, outputs]`` (``EWC(lam=0)``, i.e. fine-tuning);
- ensemble k: k MLPs ``[inputs, w_k, w_k, outputs]`` with different seeds, each trained as
  the single one; the prediction is the argmax of the mean softmax;
- subspace line k (Wortsman et al., "Learning neural network subspaces", ICML 2021, the
  proposal of the reading list's paper): two endpoint MLPs of width w_k trained jointly,
  every batch at a point ``theta(a) = (1 - a) theta_0 + a theta_1`` with ``a ~ U(0, 1)``, plus
  ``beta * cos^2(theta_0, theta_1)``; at test time k points ``a = (i + 1/2) / k`` vote as an
  ensemble.
- equal energy by sizing: the spiking twin of every trained MLP (growth.baselines.chip,
  ``measure_on_chip`` on the chip, cycle routing) gives its energy per inference; an
  ensemble's energy is the sum over the networks it runs.  ``w_k`` is the integer width whose
  interpolated energy (log-log, from single networks measured at ``widths`` on seed 0) times
  k is closest to the single network's; every run then reports its own measured ratio.

Target: ``ensemble_vs_single_equal_energy``, the mean over seeds of (ensemble accuracy -
single accuracy) for the largest k, with its paired p-value (growth.metrics.paired_p_value).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call
from tqdm.auto import tqdm

from growth.baselines import EWC, ContinualLearner, TrainConfig, mlp, run_sequence
from growth.baselines.chip import chip_figures
from growth.baselines.common import TaskLike, as_tensors, linears, task_classes, train_classifier
from growth.metrics import paired_p_value, summarize
from models.datasets import load_dataset, split_tasks
from mosaic import HardwareSpec
from mosaic.figures import new_figure, save

from ..errors import AppError

SEQUENCES = ("split-digits", "split-mnist5k")
CHIP = "mosaic-8x8"


class StudyError(AppError):
    """A study is asked for something it cannot run (unknown sequence, bad sizes)."""


@dataclass(frozen=True)
class EnsembleConfig:
    """One run of the study: single width ``width`` (two hidden layers), ensemble sizes ``ks``,
    widths measured for sizing, seeds, training (Adam) and the chip read-out (``T`` steps,
    ``per_task`` test samples per task on the chip)."""

    sequences: tuple[str, ...] = ("split-digits",)
    width: int = 64
    ks: tuple[int, ...] = (2, 4, 8)
    widths: tuple[int, ...] = (4, 8, 16, 32, 64)
    seeds: int = 5
    epochs: int = 30
    lr: float = 1e-3
    beta: float = 1.0            # subspace line: weight of cos^2(theta_0, theta_1)
    T: int = 16
    per_task: int = 8
    n_train: int | None = None   # cap on the training split (None: the data set's own)

    @classmethod
    def quick(cls) -> EnsembleConfig:
        return cls(width=32, ks=(2,), widths=(8, 16, 32), seeds=2, epochs=3, lr=1e-2, T=8, per_task=2, n_train=400)

    def __post_init__(self) -> None:
        for s in self.sequences:
            if s not in SEQUENCES:
                raise StudyError(f"unknown task sequence {s!r}; choose from {', '.join(SEQUENCES)}")
        if self.seeds < 2:
            raise StudyError(f"a paired p-value needs >= 2 seeds, got {self.seeds}")
        if not self.ks or min(self.ks) < 2:
            raise StudyError(f"ensemble sizes ks must all be >= 2, got {self.ks}")
        if self.width not in self.widths:
            raise StudyError(f"the single width {self.width} must be one of the measured widths {self.widths}")


def task_sequence(name: str, seed: int, n_train: int | None = None) -> list:
    """5 split tasks (class pairs in a seeded order) of ``"split-digits"`` or ``"split-mnist5k"``."""
    if name not in SEQUENCES:
        raise StudyError(f"unknown task sequence {name!r}; choose from {', '.join(SEQUENCES)}")
    ds = load_dataset(name.removeprefix("split-"), seed=seed, n_train=n_train)
    return split_tasks(ds, 5, seed=seed, shuffle_classes=True)


def mean_softmax_log(logit_list: Sequence[Tensor]) -> Tensor:
    """log of the mean softmax of several (N, C) logits: the ensemble's vote as logits."""
    p = torch.stack([torch.softmax(z, dim=1) for z in logit_list]).mean(0)
    return torch.log(p.clamp_min(1e-30))


class Ensemble(ContinualLearner):
    """k continual learners trained side by side; predicts by the mean softmax."""

    def __init__(self, members: Sequence[ContinualLearner]):
        if len(members) < 1:
            raise StudyError("an ensemble needs at least one member")
        self.members = list(members)
        self.name = f"ensemble x{len(members)}"

    def fit_task(self, t: int, task: TaskLike) -> None:
        for m in self.members:
            m.fit_task(t, task)

    def logits(self, x: Tensor, t: int | None) -> Tensor:
        return mean_softmax_log([m.logits(x, t) for m in self.members])

    def n_parameters(self) -> int:
        return sum(m.n_parameters() for m in self.members)

    def n_neurons(self) -> int:
        return sum(m.n_neurons() for m in self.members)

    def chip_mlps(self, x: Tensor, t: int | None):
        return [c for m in self.members for c in m.chip_mlps(x, t)]


class SubspaceLine(ContinualLearner):
    """A line of MLPs of layer ``sizes`` between two endpoints trained jointly (module doc);
    ``samples`` points vote at test time."""

    def __init__(self, sizes: Sequence[int], *, samples: int, beta: float = 1.0, train: TrainConfig | None = None):
        if samples < 1 or not beta >= 0:
            raise StudyError(f"SubspaceLine: need samples >= 1 and beta >= 0, got {samples}, {beta}")
        self.train = train or TrainConfig()
        self.template = mlp(sizes, seed=self.train.seed)
        self.ends = [{k: nn.Parameter(v.detach().clone()) for k, v in mlp(sizes, seed=self.train.seed + s).named_parameters()}
                     for s in (0, 7919)]
        self.samples, self.beta = int(samples), float(beta)
        self.alphas = [(i + 0.5) / self.samples for i in range(self.samples)]
        self.name = f"subspace line x{samples}"

    def params_at(self, a: float | Tensor) -> dict[str, Tensor]:
        return {k: (1 - a) * self.ends[0][k] + a * self.ends[1][k] for k in self.ends[0]}

    def point(self, a: float) -> nn.Sequential:
        """The plain MLP at ``theta(a)``."""
        net = mlp([lin.in_features for lin in linears(self.template)] + [linears(self.template)[-1].out_features])
        with torch.no_grad():
            for k, v in self.params_at(a).items():
                net.get_parameter(k).copy_(v)
        return net

    def _cos2(self) -> Tensor:
        a = torch.cat([p.flatten() for p in self.ends[0].values()])
        b = torch.cat([p.flatten() for p in self.ends[1].values()])
        return torch.nn.functional.cosine_similarity(a, b, dim=0) ** 2

    def fit_task(self, t: int, task: TaskLike) -> None:
        x, y = as_tensors(task.x_train, task.y_train)
        cfg = self.train
        gen = torch.Generator().manual_seed(cfg.seed + 104729 * (t + 1))

        def forward(xb):
            a = torch.rand((), generator=gen)
            return functional_call(self.template, self.params_at(a), (xb,))

        train_classifier(forward, [p for e in self.ends for p in e.values()], x, y, classes=task_classes(task),
                         epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed + 1000 * t,
                         penalty=(lambda: self.beta * self._cos2()) if self.beta > 0 else None)

    def logits(self, x: Tensor, t: int | None) -> Tensor:
        with torch.no_grad():
            return mean_softmax_log([functional_call(self.template, self.params_at(a), (x,)) for a in self.alphas])

    def n_parameters(self) -> int:
        return sum(p.numel() for e in self.ends for p in e.values())

    def n_neurons(self) -> int:
        return self.samples * sum(m.out_features for m in linears(self.template))

    def chip_mlps(self, x: Tensor, t: int | None):
        n_out = linears(self.template)[-1].out_features
        return [(self.point(a), torch.ones(len(x), dtype=torch.bool), torch.arange(n_out)) for a in self.alphas]


class _One:
    """One of a learner's chip MLPs alone, so chip_figures measures it by itself."""

    def __init__(self, entry):
        self.entry = entry

    def chip_mlps(self, x: Tensor, t: int | None):
        net, _, cls = self.entry
        return [(net, torch.ones(len(x), dtype=torch.bool), cls)]


def energy_per_inference(learner: ContinualLearner, tasks, spec: HardwareSpec, cfg: EnsembleConfig) -> float:
    """Energy per inference on the chip (pJ): the sum over the networks ``learner`` runs for
    every input, each measured alone by ``chip_figures`` (``cfg.per_task`` samples per task)."""
    probe = as_tensors(tasks[0].x_test[:1])
    return float(sum(chip_figures(_One(e), tasks, spec, T=cfg.T, per_task=cfg.per_task, routing="cycle").energy_pj
                     for e in learner.chip_mlps(probe, 0)))


def _learners(kind: str, k: int, width: int, n_in: int, n_out: int, train: TrainConfig, beta: float):
    sizes = [n_in, width, width, n_out]
    if kind == "single":
        return EWC(sizes, lam=0.0, train=train)
    if kind == "ensemble":
        return Ensemble([EWC(sizes, lam=0.0, train=replace(train, seed=train.seed + 31 * i)) for i in range(k)])
    return SubspaceLine(sizes, samples=k, beta=beta, train=train)


def run_one(kind: str, k: int, width: int, tasks, spec, cfg: EnsembleConfig, seed: int) -> dict:
    """Train one method on ``tasks`` and measure it: average accuracy, forgetting, energy."""
    t0 = time.perf_counter()
    train = TrainConfig(epochs=cfg.epochs, lr=cfg.lr, batch_size=64, seed=seed)
    learner = _learners(kind, k, width, tasks[0].n_features, tasks[0].n_classes, train, cfg.beta)
    res = run_sequence(learner, tasks)
    rep = summarize(res.R)
    return dict(kind=kind, k=k, width=width, seed=seed, acc=rep.acc, forgetting=rep.forgetting,
                params=learner.n_parameters(), neurons=learner.n_neurons(),
                energy_pj=energy_per_inference(learner, tasks, spec, cfg), wall_s=time.perf_counter() - t0)


def member_width(k: int, budget_pj: float, widths: Sequence[int], energies: Sequence[float], cap: int) -> int:
    """Integer width w in 1..cap minimising |k * E(w) - budget|, E interpolated log-log (and
    extrapolated linearly in log-log below the smallest measured width) from ``energies``."""
    lw, le = np.log(np.asarray(widths, float)), np.log(np.asarray(energies, float))
    order = np.argsort(lw)
    lw, le = lw[order], le[order]
    cand = np.arange(1, cap + 1)
    lc = np.log(cand)
    est = np.interp(lc, lw, le)
    slope = (le[1] - le[0]) / (lw[1] - lw[0]) if len(lw) > 1 else 1.0
    est = np.where(lc < lw[0], le[0] + slope * (lc - lw[0]), est)
    return int(cand[np.argmin(np.abs(k * np.exp(est) - budget_pj))])


def run_study(cfg: EnsembleConfig, *, progress: bool = True) -> list[dict]:
    """Every record of the study: the sizing widths (``kind="sizing"``, seed 0), then per
    sequence and seed the single network, each ensemble and each subspace line."""
    torch.set_num_threads(1)
    spec = HardwareSpec.preset(CHIP)
    records = []
    jobs = len(cfg.sequences) * (len(cfg.widths) + cfg.seeds * (1 + 2 * len(cfg.ks)))
    bar = tqdm(total=jobs, desc="ensembles", disable=not progress)
    for name in cfg.sequences:
        tasks0 = task_sequence(name, 0, cfg.n_train)
        sizing = []
        for w in cfg.widths:
            sizing.append(dict(run_one("single", 1, w, tasks0, spec, cfg, 0), sequence=name, kind="sizing"))
            bar.update(1)
        budget = next(r["energy_pj"] for r in sizing if r["width"] == cfg.width)
        wk = {k: member_width(k, budget, cfg.widths, [r["energy_pj"] for r in sizing], cfg.width) for k in cfg.ks}
        records += sizing
        for seed in range(cfg.seeds):
            tasks = task_sequence(name, seed, cfg.n_train)
            runs = [("single", 1, cfg.width)] + [(kind, k, wk[k]) for k in cfg.ks for kind in ("ensemble", "subspace")]
            for kind, k, w in runs:
                if kind == "single" and seed == 0:    # the same run as the sizing one at this width
                    rec = next(dict(r, kind="single") for r in sizing if r["width"] == w)
                else:
                    rec = dict(run_one(kind, k, w, tasks, spec, cfg, seed), sequence=name)
                records.append(rec)
                bar.update(1)
    bar.close()
    return records


def paired(records: list[dict], sequence: str, kind: str, k: int) -> dict:
    """Accuracy and energy of ``kind`` x ``k`` against the single network, paired by seed."""
    single = {r["seed"]: r for r in records if r["sequence"] == sequence and r["kind"] == "single"}
    other = {r["seed"]: r for r in records if r["sequence"] == sequence and r["kind"] == kind and r["k"] == k}
    seeds = sorted(set(single) & set(other))
    a, b = np.array([other[s]["acc"] for s in seeds]), np.array([single[s]["acc"] for s in seeds])
    ratio = np.array([other[s]["energy_pj"] / single[s]["energy_pj"] for s in seeds])
    return dict(sequence=sequence, kind=kind, k=k, width=other[seeds[0]]["width"], seeds=len(seeds),
                acc=float(a.mean()), single_acc=float(b.mean()), diff=float((a - b).mean()),
                p_value=paired_p_value(a, b), energy_ratio=float(ratio.mean()),
                energy_ratio_range=[float(ratio.min()), float(ratio.max())])


def comparisons(records: list[dict]) -> list[dict]:
    keys = sorted({(r["sequence"], r["kind"], r["k"]) for r in records if r["kind"] in ("ensemble", "subspace")})
    return [paired(records, *key) for key in keys]


def table(records: list[dict]) -> str:
    """One line per (sequence, method, k): accuracy vs the single network at equal energy."""
    lines = [f"{'sequence':14s} {'method':9s} {'k':>2s} {'width':>5s} {'acc':>6s} {'single':>6s} "
             f"{'diff':>7s} {'p':>6s} {'E/E_1':>6s}"]
    for c in comparisons(records):
        lines.append(f"{c['sequence']:14s} {c['kind']:9s} {c['k']:2d} {c['width']:5d} {c['acc']:6.3f} "
                     f"{c['single_acc']:6.3f} {c['diff']:+7.3f} {c['p_value']:6.3f} {c['energy_ratio']:6.2f}")
    return "\n".join(lines)


def figure(records: list[dict], path: str | Path | None):
    """Left: energy per inference vs width (sizing); right: average accuracy vs k at the
    single network's energy (the single network: the band, mean +- std over seeds)."""
    fig, (ax_e, ax_a) = new_figure(2, width=5.0, height=4.0)
    for name in sorted({r["sequence"] for r in records}):
        sz = sorted((r for r in records if r["sequence"] == name and r["kind"] == "sizing"), key=lambda r: r["width"])
        ax_e.loglog([r["width"] for r in sz], [r["energy_pj"] / 1e3 for r in sz], "o-", label=name)
        ax_e.set_xticks([r["width"] for r in sz], [str(r["width"]) for r in sz])
        single = [r["acc"] for r in records if r["sequence"] == name and r["kind"] == "single"]
        ks = sorted({r["k"] for r in records if r["sequence"] == name and r["kind"] == "ensemble"})
        ax_a.axhspan(np.mean(single) - np.std(single), np.mean(single) + np.std(single), alpha=0.2, color="gray")
        ax_a.axhline(np.mean(single), color="gray", label=f"{name}: single")
        for kind, marker in (("ensemble", "o-"), ("subspace", "^--")):
            accs = [[r["acc"] for r in records if r["sequence"] == name and r["kind"] == kind and r["k"] == k]
                    for k in ks]
            ax_a.errorbar(ks, [np.mean(a) for a in accs], yerr=[np.std(a) for a in accs], fmt=marker, capsize=3,
                          label=f"{name}: {kind}")
        ax_a.set_xscale("log", base=2)
        ax_a.set_xticks(ks, [str(k) for k in ks])
    ax_e.minorticks_off()
    ax_a.minorticks_off()
    ax_e.set(xlabel="hidden width (2 layers)", ylabel="energy per inference (nJ)", title=f"sizing on {CHIP}")
    ax_a.set(xlabel="networks run per inference (k)", ylabel="average accuracy (task given)",
             title="k small networks at the single one's energy")
    ax_e.legend(fontsize=7)
    ax_a.legend(fontsize=7)
    return save(fig, path)


def bench(quick: bool, out: str | Path | None = None, *, progress: bool = False) -> list[dict]:
    """Run the study (quick or full), print its table, write ``study_ensembles.png`` into
    ``out`` if given, and return its target dicts (benchmarks/targets.py's keys)."""
    records = run_study(EnsembleConfig.quick() if quick else EnsembleConfig(), progress=progress)
    print(table(records), flush=True)
    if out is not None:
        figure(records, Path(out) / "study_ensembles.png")
    return targets(records)


def targets(records: list[dict]) -> list[dict]:
    """``ensemble_vs_single_equal_energy``: the largest k's ensemble on the first sequence,
    reported with its paired p-value; met when every compared run's measured energy is within
    25% of its single network's."""
    comps = comparisons(records)
    ens = [c for c in comps if c["kind"] == "ensemble"]
    main = max((c for c in ens if c["sequence"] == ens[0]["sequence"]), key=lambda c: c["k"])
    matched = all(0.75 <= c["energy_ratio_range"][0] and c["energy_ratio_range"][1] <= 1.25 for c in comps)
    return [dict(target="ensemble_vs_single_equal_energy", value=round(main["diff"], 4),
                 goal="reported, with its paired p-value; energies matched within 25%", met=bool(matched),
                 p_value=main["p_value"], k=main["k"], sequence=main["sequence"], comparisons=comps)]
