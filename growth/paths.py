"""The growth-path experiment: does the order in which layers grow matter?

Root MLP with hidden layers 10-10, target 100-100, grown in 20 GradMax steps of 9 neurons
(10 per layer), so a path is an order of layers.  Training: Adam (lr 5e-3), MSE loss on
one-hot targets, exactly 300 batches of 128 per epoch for 3 epochs (900 steps; batches cut
from a fresh permutation per epoch when the training set holds 300 x 128 samples, drawn with
replacement when it is smaller, as for digits, MNIST-5k and MNIST-1D), growth steps evenly
spaced.  The initialisation of new neurons is GradMax or random (``PathConfig.method``).  Paths first-layer-first, second-layer-first,
alternating and random are compared with the root and the target trained alone.

Trials are paired: trial i draws one root network and one batch order from its seed and
every arm uses them (the target network is drawn from the same seed).  A probe found
differences of 1-5 points with a trial std of 2-8 points, so the default is 10 trials, and
every pair of arms gets a paired Wilcoxon signed-rank test and a paired t-test
(``scipy.stats``).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn
from tqdm.auto import tqdm

from growth.errors import GrowthError
from growth.grow import DeadLayerError, grow_layer, hidden_sizes, use_grow_relu
from growth.schedules import Schedule, layer_by_layer, random_path, round_robin
from models.datasets import load_dataset
from models.snn import make_mlp
from models.training import fit, listed_batches, sampled_batches
from mosaic.figures import new_figure, save

PATHS = ("first-layer-first", "second-layer-first", "alternating", "random")
ARMS = ("root",) + PATHS + ("target",)
ALPHA = 0.05  # significance level of the verdict (paired Wilcoxon)


@dataclass
class PathConfig:
    """Settings of the experiment (defaults: the research notes' protocol)."""

    dataset: str = "digits"          # "digits", "mnist5k", "mnist1d", "mnist"/"fashion" (data_path)
    data_path: str | None = None
    root: tuple[int, int] = (10, 10)
    target: tuple[int, int] = (100, 100)
    k: int = 9                       # neurons per growth step
    batch_size: int = 128
    batches_per_epoch: int = 300     # with replacement when the set is smaller than this x batch
    epochs: int = 3
    lr: float = 5e-3
    trials: int = 10
    method: str = "gradmax"          # growth initialisation (growth.grow.METHODS)
    seed: int = 0
    n_train: int | None = None
    n_test: int | None = None

    def __post_init__(self) -> None:
        if len(self.root) != 2 or len(self.target) != 2:
            raise GrowthError(f"root and target must list 2 hidden sizes, got {self.root}, {self.target}")
        if any(r < 1 or t < r for r, t in zip(self.root, self.target)):
            raise GrowthError(f"need 1 <= root <= target per layer, got root {self.root}, target {self.target}")
        for name in ("k", "batch_size", "batches_per_epoch", "epochs", "trials"):
            if getattr(self, name) < 1:
                raise GrowthError(f"PathConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise GrowthError(f"PathConfig.lr must be > 0, got {self.lr}")


@dataclass
class PairTest:
    """Paired comparison of arms a and b over the trials (diff = acc_a - acc_b)."""

    a: str
    b: str
    mean_diff: float
    p_wilcoxon: float
    p_ttest: float


@dataclass
class PathReport:
    """Final test accuracy per arm and trial, accuracy curves, paired tests and the verdict."""

    config: PathConfig
    acc: dict[str, list[float]]
    curves: dict[str, list[list[float]]]  # arm -> per trial: test accuracy at each eval step
    eval_steps: list[int]
    pairs: list[PairTest]
    verdict: str
    schedules: dict[str, list[int]] = field(default_factory=dict)  # fixed paths' layer orders
    steps: int = 0                   # optimisation steps every arm of every trial ran (batches)
    dead_layers: list[dict] = field(default_factory=list)  # GradMax found no gradient: grown randomly

    def mean(self, arm: str) -> float:
        return float(np.mean(self.acc[arm]))

    def std(self, arm: str) -> float:
        return float(np.std(self.acc[arm], ddof=1)) if len(self.acc[arm]) > 1 else 0.0

    def table(self) -> str:
        c = self.config
        lines = [f"growth paths on {c.dataset}: {c.trials} paired trials, {c.method} init, root "
                 f"{c.root[0]}-{c.root[1]} -> target {c.target[0]}-{c.target[1]}, k={c.k}, {self.steps} steps",
                 f"{'arm':<20}{'mean acc %':>11}{'std':>7}{'min':>7}{'max':>7}"]
        for arm in ARMS:
            a = 100 * np.asarray(self.acc[arm])
            lines.append(f"{arm:<20}{a.mean():>11.2f}{self.std(arm) * 100:>7.2f}{a.min():>7.2f}{a.max():>7.2f}")
        lines.append(f"{'pair (a - b)':<42}{'diff pts':>9}{'p Wilcoxon':>12}{'p t-test':>10}")
        for p in self.pairs:
            lines.append(f"{p.a + ' - ' + p.b:<42}{100 * p.mean_diff:>9.2f}{p.p_wilcoxon:>12.4f}{p.p_ttest:>10.4f}")
        if self.dead_layers:
            lines.append(f"dead layers: {len(self.dead_layers)} GradMax growth steps found no gradient and "
                         "grew with random fan-out (dead_layers)")
        lines.append("verdict: " + self.verdict)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["config"] = asdict(self.config)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PathReport:
        """The inverse of :meth:`to_dict` (e.g. a report read back from JSON)."""
        cfg = {**d["config"], "root": tuple(d["config"]["root"]), "target": tuple(d["config"]["target"])}
        return cls(**{**d, "config": PathConfig(**cfg), "pairs": [PairTest(**p) for p in d["pairs"]]})

    def plot(self, path: str | Path | None = None):
        """Two panels: final accuracy per arm (paired trials joined by lines, mean marked) and
        mean test accuracy along training.  Writes a PNG when ``path`` is given."""
        fig, (ax1, ax2) = new_figure(2, 5.5, 4.2)
        acc = np.array([self.acc[a] for a in ARMS]) * 100
        xs = np.arange(len(ARMS))
        ax1.plot(xs, acc, color="0.75", lw=0.8, zorder=1)
        ax1.errorbar(xs, acc.mean(1), yerr=acc.std(1, ddof=1) if acc.shape[1] > 1 else None,
                     fmt="o", color="C3", capsize=4, zorder=2, label="mean ± std")
        ax1.set_xticks(xs, [a.replace("-layer-", "-\n") for a in ARMS], fontsize="small")
        ax1.set_ylabel("final test accuracy (%)")
        ax1.set_title(f"{self.config.dataset}: {self.config.trials} paired trials")
        ax1.legend(fontsize="small")
        for i, arm in enumerate(ARMS):
            cur = np.array(self.curves[arm]) * 100
            ax2.plot(self.eval_steps, cur.mean(0), marker=".", label=arm, color=f"C{i}")
        ax2.set_xlabel("training step (batch)")
        ax2.set_ylabel("mean test accuracy (%)")
        ax2.set_title("accuracy along training (growth at the dots)")
        ax2.grid(True, alpha=0.3)
        ax2.legend(fontsize="small")
        return save(fig, path)


def _load(cfg: PathConfig):
    return load_dataset(cfg.dataset, seed=cfg.seed, n_train=cfg.n_train, n_test=cfg.n_test, path=cfg.data_path)


def _mlp(sizes: list[int], seed: int) -> nn.Sequential:
    m = make_mlp(sizes, kind="relu", seed=seed)
    use_grow_relu(m)
    return m


def _accuracy(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def protocol_batches(n: int, cfg: PathConfig, seed: int) -> list[torch.Tensor]:
    """The ``epochs x batches_per_epoch`` index batches of one trial over ``n`` training
    samples: per epoch a permutation cut into batches when it holds them all, otherwise
    batches drawn with replacement (``models.training.sampled_batches``)."""
    gen = torch.Generator().manual_seed(seed)
    per, bs = cfg.batches_per_epoch, cfg.batch_size
    out: list[torch.Tensor] = []
    for ep in range(cfg.epochs):
        if n >= per * bs:
            perm = torch.randperm(n, generator=gen)
            out += [perm[i * bs:(i + 1) * bs] for i in range(per)]
        else:
            out += list(sampled_batches(n, bs, per, gen)(ep))
    return out


def path_schedules(cfg: PathConfig, total_steps: int, trial_seed: int) -> dict[str, Schedule]:
    """The four paths of one trial (the random one drawn from ``trial_seed``)."""
    r, t, k = cfg.root, cfg.target, cfg.k
    return {"first-layer-first": layer_by_layer(r, t, k, total_steps, order=(0, 1)),
            "second-layer-first": layer_by_layer(r, t, k, total_steps, order=(1, 0)),
            "alternating": round_robin(r, t, k, total_steps),
            "random": random_path(r, t, k, total_steps, seed=trial_seed)}


def _train_arm(model, batches, x, y, x_te, y_te, n_classes, lr, schedule, method, eval_steps, dead):
    """Train one arm, growing at its schedule's events; a GradMax growth that finds no gradient
    (a dead layer) grows with random fan-out instead, so the path still reaches its target, and
    is recorded in ``dead`` (step, layer, reason)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    onehot = nn.functional.one_hot(y, n_classes).float()

    def loss_fn(out, tgt):
        return nn.functional.mse_loss(out, tgt)

    curve = []
    g = torch.Generator().manual_seed(0)

    def before(idx, step):
        if step.index in eval_steps:
            curve.append(_accuracy(model, x_te, y_te))
        if schedule is not None:
            for ev in schedule.at(step.index):
                try:
                    grow_layer(model, ev.layer, ev.k, method=method, optimizer=opt, data=(x[idx], onehot[idx]),
                               loss_fn=loss_fn, fill=True, generator=g)
                except DeadLayerError as e:
                    dead.append({"step": step.index, "layer": ev.layer, "k": ev.k,
                                 "reason": f"{e}: grown with random fan-out"})
                    grow_layer(model, ev.layer, ev.k, method="random", optimizer=opt, generator=g)

    res = fit(opt, listed_batches(batches), lambda idx, step: loss_fn(model(x[idx]), onehot[idx]),
              before_step=before)
    curve.append(_accuracy(model, x_te, y_te))
    return curve, res.steps


def run_paths(cfg: PathConfig | None = None, *, progress: bool = True, data=None) -> PathReport:
    """Run every arm on every trial and return the :class:`PathReport` (``data``: an already
    loaded ``models.Dataset`` to use instead of ``cfg.dataset``)."""
    cfg = cfg or PathConfig()
    ds = data if data is not None else _load(cfg)
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    x_te, y_te = torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test)
    total = cfg.batches_per_epoch * cfg.epochs
    n_events = sum(math.ceil((t - r) / cfg.k) for r, t in zip(cfg.root, cfg.target))
    if total < n_events + 1:
        raise GrowthError(f"{total} training steps cannot hold {n_events} growth steps; "
                          "use more epochs or a smaller k")
    acc = {a: [] for a in ARMS}
    curves = {a: [] for a in ARMS}
    eval_steps: list[int] = []
    orders: dict[str, list[int]] = {}
    dead_layers: list[dict] = []
    bar = tqdm(total=cfg.trials * len(ARMS), desc=f"growth paths ({cfg.dataset})", disable=not progress)
    for trial in range(cfg.trials):
        seed = cfg.seed * 100_003 + trial
        batches = protocol_batches(len(x), cfg, seed)
        scheds = path_schedules(cfg, total, seed)
        eval_steps = [e.step for e in scheds["alternating"].events]
        orders = {p: s.order() for p, s in scheds.items() if p != "random"}
        root_init = _mlp([ds.n_features, *cfg.root, ds.n_classes], seed)
        for arm in ARMS:
            if arm == "target":
                model = _mlp([ds.n_features, *cfg.target, ds.n_classes], seed)
            else:
                model = _mlp([ds.n_features, *cfg.root, ds.n_classes], seed)
                model.load_state_dict(root_init.state_dict())
            dead: list[dict] = []
            curve, steps = _train_arm(model, batches, x, y, x_te, y_te, ds.n_classes, cfg.lr,
                                      scheds.get(arm), cfg.method, set(eval_steps), dead)
            dead_layers += [{"trial": trial, "arm": arm, **d} for d in dead]
            if steps != total:
                raise RuntimeError(f"arm {arm} ran {steps} steps, not the protocol's {total}")
            if arm in PATHS and hidden_sizes(model) != list(cfg.target):
                raise GrowthError(f"path {arm} ended at sizes {hidden_sizes(model)}, not the target {list(cfg.target)}")
            acc[arm].append(curve[-1])
            curves[arm].append(curve)
            bar.update()
    bar.close()
    pairs = paired_tests(acc)
    return PathReport(cfg, acc, curves, eval_steps + [total], pairs, verdict(acc, pairs), orders, total,
                      dead_layers)


def _pvalues(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = a - b
    if np.allclose(d, 0):
        return 1.0, 1.0
    if len(d) < 2:
        return float("nan"), float("nan")
    p_w = float(stats.wilcoxon(a, b).pvalue)
    p_t = float(stats.ttest_rel(a, b).pvalue) if np.std(d) > 0 else 0.0
    return p_w, p_t


def paired_tests(acc: dict[str, list[float]]) -> list[PairTest]:
    """Paired Wilcoxon signed-rank and paired t-test p-values (two-sided) for every pair of arms."""
    out = []
    for a, b in itertools.combinations(acc, 2):
        va, vb = np.asarray(acc[a]), np.asarray(acc[b])
        p_w, p_t = _pvalues(va, vb)
        out.append(PairTest(a, b, float(np.mean(va - vb)), p_w, p_t))
    return out


def verdict(acc: dict[str, list[float]], pairs: list[PairTest], claim: str = "first-layer-first") -> str:
    """Say plainly whether ``claim`` is the best growth path (highest mean and significantly
    better than every other path, paired Wilcoxon p < 0.05)."""
    means = {p: float(np.mean(acc[p])) for p in PATHS}
    best = max(means, key=means.get)
    test = {frozenset((p.a, p.b)): p for p in pairs}

    def vs(other: str) -> str:
        t = test[frozenset((claim, other))]
        diff = t.mean_diff if t.a == claim else -t.mean_diff
        return f"{claim} - {other} = {100 * diff:+.2f} pts (Wilcoxon p = {t.p_wilcoxon:.3g}, t-test p = {t.p_ttest:.3g})"

    if best != claim:
        return (f"DOES NOT HOLD: {best} has the highest mean accuracy ({100 * means[best]:.2f}%), "
                f"not {claim} ({100 * means[claim]:.2f}%); {vs(best)}.")
    weak = [o for o in PATHS if o != claim and not test[frozenset((claim, o))].p_wilcoxon < ALPHA]
    if weak:
        return (f"NOT SHOWN: {claim} has the highest mean accuracy ({100 * means[claim]:.2f}%) but is not "
                f"significantly better than {', '.join(weak)} at p < {ALPHA}: " + "; ".join(vs(o) for o in weak) + ".")
    return (f"HOLDS: {claim} has the highest mean accuracy ({100 * means[claim]:.2f}%) and beats every "
            f"other path at p < {ALPHA} (paired Wilcoxon).")


def plot_reports(reports: list[PathReport], path: str | Path | None = None):
    """One panel per data set: final test accuracy of every arm, mean ± std over the paired
    trials, one marker series per initialisation method (root and target do not grow, so
    they are the same for every method), thin lines joining one trial's arms."""
    if not reports:
        raise GrowthError("plot_reports: no reports to plot")
    datasets = list(dict.fromkeys(r.config.dataset for r in reports))
    methods = list(dict.fromkeys(r.config.method for r in reports))
    fig, axes = new_figure(len(datasets), 4.6, 4.0)
    xs = np.arange(len(ARMS))
    for ax, name in zip(axes, datasets):
        for r in (r for r in reports if r.config.dataset == name):
            i = methods.index(r.config.method)
            dx = 0.25 * (i - (len(methods) - 1) / 2)
            acc = np.array([r.acc[a] for a in ARMS]) * 100
            ax.plot(xs + dx, acc, color=f"C{i}", lw=0.4, alpha=0.35)
            ax.errorbar(xs + dx, acc.mean(1), yerr=acc.std(1, ddof=1) if acc.shape[1] > 1 else None,
                        fmt="o", color=f"C{i}", capsize=3, label=f"{r.config.method} init ({r.config.trials} trials)")
        ax.set_xticks(xs, [a.replace("-layer-", "-\n") for a in ARMS], fontsize="x-small")
        c = next(r for r in reports if r.config.dataset == name)
        ax.set_title(f"{name}: {c.config.root[0]}-{c.config.root[1]} -> {c.config.target[0]}-"
                     f"{c.config.target[1]}, {c.steps} steps", fontsize="small")
        ax.set_ylabel("final test accuracy (%)")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize="x-small")
    return save(fig, path)
