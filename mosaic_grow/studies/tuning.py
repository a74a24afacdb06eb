"""The cost of tuning: hyper-parameters searched on validation task streams, frozen, then
judged on held-out test streams.

Streams: a stream is 5 split-digits tasks (class pairs in an order drawn from the stream's
seed, the train/test split and every network's initialisation drawn from it too).  Its id
``"validation-i"`` or ``"test-i"`` fixes the seed (1000 + i, 2000 + i) and tags every task of
the stream (the task's name starts with the id), so the code that trains can check where its
data came from: the search objective refuses any task that is not tagged ``validation``.

Search: one Optuna study per method (TPE, seeded), ask-and-tell in rounds of ``batch`` trials
per method; a round's trials of every method are one sweep (``mosaic_grow.sweep.run_sweep``,
kind ``study = "tuning"`` in ``run_config``) run on Dask and stored in the sweep's SQLite
result store (``ResultStore``), one row per trial keyed by its config's hash.  Optuna's own
state lives in memory only: it is rebuilt from the store on every start by replaying the
trials in order (same seed, same told values, so the same suggestions), and a trial already
stored ``ok`` is told its stored value instead of being run again.  A killed study therefore
resumes where it stopped, losing at most the trials that were running, repeating none.

Evaluation: after ``n`` trials (``checkpoints``), the incumbent (best validation value among
the first n, earliest on ties) is frozen and run on every test stream (the same sweep
machinery, role ``test``).  Reported per method and n: the incumbent's validation value, its
test accuracy (mean and std over test streams), and the gap validation - test
("hyper-overfitting").  Accuracy is ACC (mean final accuracy over the 5 tasks, task given).
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from growth.baselines import EWC, MNTDP, LoRACL, SupSup, TrainConfig, run_sequence
from growth.cl import CLConfig, run_gradmax_cl
from growth.controller import ControllerConfig, bound_cost, incremental_placer, layered_network
from growth.controller_cl import run_controller_cl
from growth.den import DENConfig, run_den
from growth.metrics import average_accuracy
from models.datasets import load_dataset, split_tasks
from mosaic import HardwareSpec
from mosaic.cost import CostBudget
from mosaic.figures import new_figure, save

from ..errors import AppError
from ..store import ResultStore, config_hash
from ..sweep import close_client, make_client, open_store, run_sweep

METHODS = ("fine-tune", "EWC", "LoRA-CL", "SupSup", "DEN", "GradMax-CL", "hw-controller", "MNTDP")
ROLES = {"validation": 1000, "test": 2000}   # stream seed = base + index
HIDDEN = (32, 32)
CHIP = "mosaic-8x8"
GROWTH_K = 10            # GradMax-CL's default neurons per layer per task: the controller's yardstick
DB = "tuning.sqlite"


class TuningError(AppError):
    """The tuning protocol was asked to do something it forbids or cannot (a test stream in
    the search, an unknown method or stream)."""


@dataclass(frozen=True)
class Stream:
    """A task stream: its id (``"<role>-<index>"``) and its 5 tasks, each tagged with the id."""

    id: str
    tasks: list = field(repr=False)

    @property
    def role(self) -> str:
        return self.id.rsplit("-", 1)[0]


def stream_ids(role: str, n: int) -> list[str]:
    if role not in ROLES:
        raise TuningError(f"unknown stream role {role!r}; choose from {', '.join(ROLES)}")
    return [f"{role}-{i}" for i in range(n)]


def make_stream(stream_id: str, quick: bool) -> Stream:
    """Build the stream ``stream_id`` (module doc); ``quick`` caps training data at 300 samples."""
    role, _, idx = stream_id.rpartition("-")
    if role not in ROLES or not idx.isdigit():
        raise TuningError(f"stream id {stream_id!r} is not '<role>-<index>' with role in {', '.join(ROLES)}")
    seed = ROLES[role] + int(idx)
    ds = load_dataset("digits", seed=seed, n_train=300 if quick else None)
    tasks = split_tasks(ds, 5, seed=seed, shuffle_classes=True)
    return Stream(stream_id, [replace(t, name=f"{stream_id}|{t.name}") for t in tasks])


def data_role(tasks) -> str:
    """The role every task of a stream is tagged with (from the data, not from any config)."""
    roles = {t.name.split("|", 1)[0].rsplit("-", 1)[0] for t in tasks}
    if len(roles) != 1:
        raise TuningError(f"a stream mixes tasks of roles {sorted(roles)}")
    return roles.pop()


def suggest(trial: optuna.Trial, method: str, quick: bool) -> dict[str, Any]:
    """Method ``method``'s search space (epochs 1-3 when ``quick``, else 5-20)."""
    if method not in METHODS:
        raise TuningError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    lo, hi = (1, 3) if quick else (5, 20)
    p: dict[str, Any] = {"lr": trial.suggest_float("lr", 1e-3 if method == "SupSup" else 1e-4,
                                                   1e-1 if method == "SupSup" else 3e-2, log=True)}
    if method == "DEN":
        p["iters"] = trial.suggest_int("iters", 10 if quick else 50, 30 if quick else 200)
        p["l1"] = trial.suggest_float("l1", 1e-7, 1e-3, log=True)
        p["tau_fraction"] = trial.suggest_float("tau_fraction", 0.1, 0.9)
        p["expand_k"] = trial.suggest_int("expand_k", 1, 20)
        return p
    p["epochs"] = trial.suggest_int("epochs", lo, hi)
    if method == "EWC":
        p["lam"] = trial.suggest_float("lam", 1.0, 1e5, log=True)
    elif method == "LoRA-CL":
        p["rank"] = trial.suggest_int("rank", 1, 16)
        p["alpha"] = trial.suggest_float("alpha", 0.5, 32.0, log=True)
    elif method == "SupSup":
        p["keep"] = trial.suggest_float("keep", 0.1, 0.9)
    elif method == "GradMax-CL":
        p["k"] = trial.suggest_int("k", 1, 20)
        p["freeze"] = trial.suggest_categorical("freeze", [True, False])
    elif method == "hw-controller":
        p["budget_fraction"] = trial.suggest_float("budget_fraction", 0.3, 1.0)
        p["rounds"] = trial.suggest_int("rounds", 1, 4)
    elif method == "MNTDP":
        p["n_neighbors"] = trial.suggest_int("n_neighbors", 1, 30)
        p["tolerance"] = trial.suggest_float("tolerance", 0.0, 0.1)
    return p


def _controller(tasks, p: dict, seed: int) -> list[list[float]]:
    spec = HardwareSpec.preset(CHIP)
    D, n_out = tasks[0].n_features, tasks[0].n_classes
    sizes = [h + GROWTH_K * (len(tasks) - 1) for h in HIDDEN] + [n_out]
    net = layered_network(D, sizes)
    full = bound_cost(D, sizes, spec, incremental_placer(seed=seed)(net, spec, None, np.ones(net.n_neurons)), 8)
    budget = CostBudget(energy_pj=p["budget_fraction"] * full.energy_pj["total"])
    return run_controller_cl(tasks, spec, budget, config=CLConfig(hidden=HIDDEN, epochs=p["epochs"], lr=p["lr"]),
                             controller=ControllerConfig(k_options=(1, 4, 8), T=8), rounds=p["rounds"],
                             train_between=1, seed=seed, progress=False).matrix


def run_method(method: str, p: dict[str, Any], tasks, seed: int) -> float:
    """ACC of ``method`` with hyper-parameters ``p`` on one stream's ``tasks``."""
    D, n_out = tasks[0].n_features, tasks[0].n_classes
    sizes = [D, *HIDDEN, n_out]
    if method == "DEN":
        cfg = DENConfig(hidden=HIDDEN, lr=p["lr"], iters=p["iters"], head_iters=max(1, p["iters"] // 2), l1=p["l1"],
                        tau_fraction=p["tau_fraction"], expand_k=p["expand_k"], seed=seed)
        return average_accuracy(run_den(tasks, cfg, progress=False)[0].matrix)
    if method == "GradMax-CL":
        cfg = CLConfig(hidden=HIDDEN, epochs=p["epochs"], lr=p["lr"], k=p["k"], freeze=p["freeze"], seed=seed)
        return average_accuracy(run_gradmax_cl(tasks, cfg, progress=False).matrix)
    if method == "hw-controller":
        return average_accuracy(_controller(tasks, p, seed))
    train = TrainConfig(epochs=p["epochs"], lr=p["lr"], batch_size=64, seed=seed)
    learner = {"fine-tune": lambda: EWC(sizes, lam=0.0, train=train),
               "EWC": lambda: EWC(sizes, lam=p.get("lam", 0.0), train=train),
               "LoRA-CL": lambda: LoRACL(sizes, rank=p.get("rank", 1), alpha=p.get("alpha", 1.0), train=train),
               "SupSup": lambda: SupSup([D, *HIDDEN, 2], keep=p.get("keep", 0.5), train=train),
               "MNTDP": lambda: MNTDP(sizes, n_neighbors=p.get("n_neighbors", 15), tolerance=p.get("tolerance", 0.0),
                                      train=train)}[method]()
    R = run_sequence(learner, tasks).R
    return average_accuracy(np.where(np.isnan(R), 0.0, R))   # ACC reads the final row; SupSup: NaN above it


def stream_accuracies(method: str, p: dict, streams: list[Stream]) -> list[float]:
    return [run_method(method, p, s.tasks, ROLES[s.role] + int(s.id.rsplit("-", 1)[1])) for s in streams]


def objective(method: str, p: dict, streams: list[Stream]) -> list[float]:
    """The search objective: per-stream ACC on validation streams only (checked on the data's
    tags; a test stream raises :class:`TuningError`)."""
    for s in streams:
        if data_role(s.tasks) != "validation":
            raise TuningError(f"stream {s.id} is tagged {data_role(s.tasks)!r}: the search sees validation "
                              "streams only")
    return stream_accuracies(method, p, streams)


def run_trial(cfg: dict[str, Any]) -> dict[str, Any]:
    """One sweep run of kind ``study = "tuning"``: a search trial (``role = "validation"``,
    through :func:`objective`) or a frozen incumbent on the test streams (``role = "test"``)."""
    torch.set_num_threads(1)
    streams = [make_stream(i, bool(cfg["quick"])) for i in cfg["streams"]]
    if cfg["role"] == "validation":
        accs = objective(cfg["method"], cfg["params"], streams)
    elif cfg["role"] == "test":
        accs = stream_accuracies(cfg["method"], cfg["params"], streams)
    else:
        raise TuningError(f"tuning run role must be 'validation' or 'test', got {cfg['role']!r}")
    return {"value": float(np.mean(accs)), "accs": accs, "streams_seen": [s.id for s in streams],
            "data_roles": [data_role(s.tasks) for s in streams], "pid": os.getpid(), "finished_at": time.time()}


@dataclass(frozen=True)
class TuningConfig:
    """Methods, trials per method, streams per role, trials asked per method and round
    (``batch``), checkpoints (trial counts) of the test curve, the TPE seed and its random
    start-up trials (``startup``; fixed, so that a run of fewer trials replays a prefix of a
    longer one exactly)."""

    methods: tuple[str, ...] = METHODS
    trials: int = 16
    val_streams: int = 2
    test_streams: int = 3
    batch: int = 4
    checkpoints: tuple[int, ...] = (1, 2, 4, 8, 16)
    quick: bool = False
    seed: int = 0
    startup: int = 8

    @classmethod
    def quick_run(cls, **kw) -> TuningConfig:
        return cls(**{**dict(trials=3, val_streams=1, test_streams=1, batch=3, checkpoints=(1, 3), quick=True,
                             startup=2), **kw})

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise TuningError(f"unknown or no methods {bad}; choose from {', '.join(METHODS)}")
        if min(self.trials, self.batch, self.val_streams, self.test_streams, self.startup) < 1:
            raise TuningError(f"trials, batch, stream counts and startup must be >= 1: {self}")
        if not self.checkpoints or max(self.checkpoints) > self.trials or min(self.checkpoints) < 1:
            raise TuningError(f"checkpoints {self.checkpoints} must lie in 1..{self.trials}")


def trial_config(cfg: TuningConfig, method: str, number: int, params: dict) -> dict[str, Any]:
    return {"study": "tuning", "role": "validation", "method": method, "trial": number, "params": params,
            "streams": stream_ids("validation", cfg.val_streams), "quick": cfg.quick, "seed": cfg.seed}


def test_config(cfg: TuningConfig, method: str, params: dict) -> dict[str, Any]:
    return {"study": "tuning", "role": "test", "method": method, "params": params,
            "streams": stream_ids("test", cfg.test_streams), "quick": cfg.quick}


def _stored(store: ResultStore) -> dict[str, dict]:
    return {r["hash"]: r for r in store.records()}


def run_all(configs: list[dict], store: ResultStore, client) -> None:
    """Run every config not yet stored; a run another live process holds (a concurrent
    resume) is waited for, so every process tells Optuna the same values."""
    while run_sweep(configs, store, client=client, progress=False).pending:
        time.sleep(1.0)


def search(cfg: TuningConfig, store: ResultStore, client) -> dict[str, list[dict]]:
    """Run (or resume) every method's search; returns per method its trials in order as
    {number, params, value (None if failed), hash}."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = dict(seed=cfg.seed, n_startup_trials=cfg.startup)
    studies = {m: optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(**sampler))
               for m in cfg.methods}
    trials: dict[str, list[dict]] = {m: [] for m in cfg.methods}
    while len(trials[cfg.methods[0]]) < cfg.trials:
        asked = []
        for m, study in studies.items():
            n0 = len(trials[m])
            for i in range(min(cfg.batch, cfg.trials - n0)):
                tr = study.ask()
                asked.append((m, tr, trial_config(cfg, m, n0 + i, suggest(tr, m, cfg.quick))))
        run_all([c for _, _, c in asked], store, client)
        rows = _stored(store)
        for m, tr, c in asked:
            row = rows.get(config_hash(c))
            ok = row is not None and row["status"] == "ok"
            value = row["result"]["value"] if ok else None
            if ok:
                studies[m].tell(tr, value)
            else:
                studies[m].tell(tr, state=optuna.trial.TrialState.FAIL)
            trials[m].append({"number": c["trial"], "params": c["params"], "value": value, "hash": config_hash(c),
                              "error": None if ok else (row or {}).get("error", "not run")})
    return trials


def incumbents(trials: list[dict], checkpoints) -> dict[int, dict | None]:
    """Best trial (validation value; earliest on ties) among the first n, per checkpoint n."""
    out = {}
    for n in checkpoints:
        done = [t for t in trials[:n] if t["value"] is not None]
        out[n] = max(done, key=lambda t: (t["value"], -t["number"])) if done else None
    return out


def run_study(cfg: TuningConfig, folder: str | Path, *, workers: int | None = None, scheduler: str | None = None
              ) -> list[dict]:
    """Search, freeze and test (module doc), storing every run in ``folder/tuning.sqlite``;
    resumes what that store already holds.  Returns records: one ``kind="trial"`` per trial
    and one ``kind="curve"`` per (method, checkpoint)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    store = open_store(folder / DB, resume=True)
    client = make_client(workers, scheduler)
    try:
        trials = search(cfg, store, client)
        inc = {m: incumbents(trials[m], cfg.checkpoints) for m in cfg.methods}
        tests = {config_hash(c): c for m in cfg.methods for t in inc[m].values() if t is not None
                 for c in [test_config(cfg, m, t["params"])]}
        run_all(list(tests.values()), store, client)
        rows = _stored(store)
    finally:
        close_client(client)
        store.close()
    records = [dict(kind="trial", method=m, **{k: v for k, v in t.items() if k != "hash"})
               for m in cfg.methods for t in trials[m]]
    for m in cfg.methods:
        for n, t in inc[m].items():
            row = rows.get(config_hash(test_config(cfg, m, t["params"]))) if t is not None else None
            accs = row["result"]["accs"] if row is not None and row["status"] == "ok" else None
            test = float(np.mean(accs)) if accs else None
            records.append(dict(kind="curve", method=m, trials=n, incumbent=None if t is None else t["number"],
                                params=None if t is None else t["params"], val=None if t is None else t["value"],
                                test=test, test_std=float(np.std(accs)) if accs else None,
                                gap=None if test is None else t["value"] - test))
    return records


def table(records: list[dict]) -> str:
    """Per method and trial count: incumbent's validation ACC, test ACC, gap."""
    lines = [f"{'method':14s} {'trials':>6s} {'best#':>5s} {'val':>6s} {'test':>12s} {'gap':>7s}"]
    for r in (r for r in records if r["kind"] == "curve"):
        if r["test"] is None:
            lines.append(f"{r['method']:14s} {r['trials']:6d}   no finished trial")
            continue
        lines.append(f"{r['method']:14s} {r['trials']:6d} {r['incumbent']:5d} {r['val']:6.3f} "
                     f"{r['test']:6.3f}+-{r['test_std']:.3f} {r['gap']:+7.3f}")
    return "\n".join(lines)


def figure(records: list[dict], path: str | Path | None):
    """Test ACC of the incumbent vs tuning trials per method (left), validation - test gap (right)."""
    fig, (ax_t, ax_g) = new_figure(2, width=5.5, height=4.0)
    curves = [r for r in records if r["kind"] == "curve" and r["test"] is not None]
    for m in dict.fromkeys(r["method"] for r in curves):
        rs = [r for r in curves if r["method"] == m]
        ax_t.errorbar([r["trials"] for r in rs], [r["test"] for r in rs], yerr=[r["test_std"] for r in rs],
                      marker="o", capsize=2, label=m)
        ax_g.plot([r["trials"] for r in rs], [r["gap"] for r in rs], marker="o", label=m)
    ticks = sorted({r["trials"] for r in curves})
    for ax in (ax_t, ax_g):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("tuning trials (on validation streams)")
    ax_t.set(ylabel="test-stream ACC of the incumbent", title="accuracy vs tuning cost")
    ax_g.set(ylabel="validation ACC - test ACC", title="hyper-overfitting")
    ax_g.axhline(0.0, color="k", lw=0.5)
    ax_t.legend(fontsize=7, loc="lower right")
    return save(fig, path)


def targets(records: list[dict], cfg: TuningConfig) -> list[dict]:
    """``tuning_curve_methods``: methods whose test curve has a value at every checkpoint."""
    curves = [r for r in records if r["kind"] == "curve"]
    complete = [m for m in cfg.methods
                if all(r["test"] is not None for r in curves if r["method"] == m)
                and sum(r["method"] == m for r in curves) == len(cfg.checkpoints)]
    last = {r["method"]: r for r in curves if r["trials"] == max(cfg.checkpoints)}
    return [dict(target="tuning_curve_methods", value=len(complete), goal=f"== {len(METHODS)} with a test-stream "
                 "curve each", met=len(complete) == len(METHODS), methods=complete, trials=cfg.trials,
                 val_streams=cfg.val_streams, test_streams=cfg.test_streams,
                 final={m: {"val": r["val"], "test": r["test"], "gap": r["gap"]} for m, r in last.items()})]


def bench(quick: bool, out: str | Path | None = None, *, progress: bool = False,
          folder: str | Path | None = None) -> list[dict]:
    """Run the study (quick or full), print its table, write ``study_tuning.png`` into ``out``
    if given, and return its target dicts (benchmarks/targets.py's keys); the trial store goes
    to ``folder`` (default: a fresh temporary folder).  ``progress`` is accepted for the
    benchmark's common call; the sweep prints its own."""
    cfg = TuningConfig.quick_run() if quick else TuningConfig()
    with tempfile.TemporaryDirectory() as tmp:
        records = run_study(cfg, folder or tmp)
    print(table(records), flush=True)
    if out is not None:
        figure(records, Path(out) / "study_tuning.png")
    return targets(records, cfg)
