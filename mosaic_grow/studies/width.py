"""Width against forgetting and energy: do wider networks forget less, and what does the
width cost on the chip?

Fine-tuning (``growth.cl.run_finetune``), EWC (``growth.baselines.EWC``) and GradMax-CL
(``growth.cl.run_gradmax_cl``, old weights frozen, ``max(2, width // 8)`` neurons grown per
hidden layer per new task) learn three five-task sequences (split digits, split MNIST-5k,
permuted MNIST-1D; task-incremental, one head per task, ``growth.cl.headed_tasks``) with two
hidden layers of ``width`` neurons each.  Per point: average accuracy, forgetting (accuracy
lost since the task was learned, ``growth.metrics.forgetting(reference="first")``; the
record's ``forgetting_max`` is the default reference, the best accuracy before the end, which
also counts an untrained head's chance-level score), and the energy per inference of the spiking twins on the chip
(``growth.baselines.chip.chip_figures``: ``models.readout.measure_on_chip``, cycle routing).
The chip is the first preset of ``WidthConfig.presets`` the network fits on: a network too
large for the first (``mosaic-8x8``) is measured on the next, and the record keeps the
mapper's own error for every preset it did not fit.  ``bound_energy_pj`` is the rate-bound
energy of the final network (``growth.controller.bound_cost``: every neuron and input
active on every step) on the preset used.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from growth.baselines import EWC, TrainConfig
from growth.baselines.chip import chip_figures
from growth.baselines.common import run_sequence
from growth.cl import CLConfig, CLResult, headed_tasks, run_finetune, run_gradmax_cl
from growth.controller import layered_network
from growth.controller import bound_cost
from growth.metrics import forgetting, pareto_mask, summarize
from mapper import MappingError, map_network
from models.datasets import load_dataset, permuted_tasks, split_tasks
from mosaic.figures import new_figure, save
from mosaic.spec import HardwareSpec
from mosaic_grow.errors import AppError

SEQUENCES = ("split-digits", "split-mnist5k", "permuted-mnist1d")
METHODS = ("fine-tune", "EWC", "GradMax-CL")
WIDTHS = (16, 32, 64, 128, 256, 512, 1024)
PRESETS = ("mosaic-8x8", "mosaic-16x16", "mosaic-32x32-scaled")


@dataclass(frozen=True)
class WidthConfig:
    """The study's protocol.  ``epochs`` of Adam at ``lr`` (batch 64) per task; ``ewc_lam``
    and ``fisher_samples`` of EWC; ``n_train``/``n_test`` per data set (None: all);
    ``T`` steps per inference and ``per_task`` test samples per task on the chip;
    ``presets``: the chips tried in order (the first one the network fits is used)."""

    widths: tuple[int, ...] = WIDTHS
    sequences: tuple[str, ...] = SEQUENCES
    methods: tuple[str, ...] = METHODS
    seeds: int = 3
    epochs: int = 3
    lr: float = 3e-3
    ewc_lam: float = 100.0
    fisher_samples: int = 64
    n_train: tuple[tuple[str, int | None], ...] = (("digits", None), ("mnist5k", 1000), ("mnist1d", 600))
    n_test: tuple[tuple[str, int | None], ...] = (("digits", None), ("mnist5k", 500), ("mnist1d", 200))
    T: int = 8
    per_task: int = 2
    presets: tuple[str, ...] = PRESETS

    def __post_init__(self) -> None:
        bad = [s for s in self.sequences if s not in SEQUENCES] + [m for m in self.methods if m not in METHODS]
        if bad:
            raise AppError(f"width study: unknown sequence or method {bad}; sequences {SEQUENCES}, methods {METHODS}")
        if not self.widths or min(self.widths) < 1 or self.seeds < 1 or self.epochs < 1 or not self.presets:
            raise AppError(f"width study: need widths >= 1, seeds >= 1, epochs >= 1 and a preset; got {self}")

    @classmethod
    def quick(cls) -> WidthConfig:
        """Seconds, not minutes: two widths, one seed, little data; the base chip is
        ``mosaic-4x4`` (512 slots), so the wide point does not fit and moves to ``mosaic-8x8``."""
        return cls(widths=(16, 256), seeds=1, epochs=1, n_train=(("digits", 300), ("mnist5k", 300), ("mnist1d", 300)),
                   n_test=(("digits", 100), ("mnist5k", 100), ("mnist1d", 100)), T=4, per_task=1,
                   presets=("mosaic-4x4", "mosaic-8x8"))


def task_sequence(name: str, seed: int, cfg: WidthConfig):
    """The five tasks of sequence ``name``, relabelled per head (``growth.cl.headed_tasks``)."""
    data = {"split-digits": "digits", "split-mnist5k": "mnist5k", "permuted-mnist1d": "mnist1d"}[name]
    ds = load_dataset(data, seed=seed, n_train=dict(cfg.n_train)[data], n_test=dict(cfg.n_test)[data])
    raw = permuted_tasks(ds, 5, seed=seed) if name.startswith("permuted") else split_tasks(ds, 5, seed=seed)
    return headed_tasks(raw)


class TaskNets:
    """A ``growth.cl`` result as ``chip_figures`` sees a learner: task t runs
    ``result.task_mlp(t)`` (built once, so each task's twin is calibrated and placed once)."""

    def __init__(self, result: CLResult):
        self.result, self._mlps = result, {}

    def chip_mlps(self, x, t):
        if t not in self._mlps:
            self._mlps[t] = self.result.task_mlp(t)
        rows = self.result.heads.rows(t)
        return [(self._mlps[t], torch.ones(len(x), dtype=torch.bool), torch.arange(rows.start, rows.stop))]


def train_method(method: str, tasks, heads, width: int, seed: int, cfg: WidthConfig):
    """Train one method on ``tasks``; returns (accuracy matrix, learner for ``chip_figures``,
    final hidden sizes)."""
    if method == "EWC":
        sizes = [tasks[0].n_features, width, width, heads.n_out]
        learner = EWC(sizes, lam=cfg.ewc_lam, fisher_samples=cfg.fisher_samples,
                      train=TrainConfig(epochs=cfg.epochs, lr=cfg.lr, batch_size=64, seed=seed))
        return run_sequence(learner, tasks).R, learner, [width, width]
    cl = CLConfig(hidden=(width, width), epochs=cfg.epochs, lr=cfg.lr, k=max(2, width // 8), seed=seed)
    res = (run_finetune if method == "fine-tune" else run_gradmax_cl)(tasks, cl, progress=False)
    return np.array(res.matrix), TaskNets(res), list(res.hidden)


def on_chip(learner, tasks, cfg: WidthConfig) -> tuple[str, object, dict[str, str]]:
    """``chip_figures`` on the first preset the learner's networks fit: (preset, figures,
    {preset: the mapper's error} for every preset tried before it)."""
    errors: dict[str, str] = {}
    for name in cfg.presets:
        try:
            return name, chip_figures(learner, tasks, HardwareSpec.preset(name), T=cfg.T, per_task=cfg.per_task), errors
        except MappingError as e:
            errors[name] = str(e)
    raise AppError(f"width study: the network fits none of the presets {list(cfg.presets)}: "
                   f"{'; '.join(f'{k}: {v}' for k, v in errors.items())}; add a larger preset")


def run_point(sequence: str, method: str, width: int, seed: int, cfg: WidthConfig, data=None) -> dict:
    """One record: train, score the accuracy matrix, measure on the chip."""
    t0 = time.perf_counter()
    tasks, heads = data if data is not None else task_sequence(sequence, seed, cfg)
    R, learner, hidden = train_method(method, tasks, heads, width, seed, cfg)
    rep = summarize(R)
    lost = forgetting(R, reference="first")
    preset, cf, errors = on_chip(learner, tasks, cfg)
    spec = HardwareSpec.preset(preset)
    sizes = [*hidden, heads.n_out]
    n_in = tasks[0].n_features
    core_of = map_network(layered_network(n_in, sizes), spec, method="greedy").core_of
    bound = bound_cost(n_in, sizes, spec, core_of, cfg.T).energy_pj["total"]
    return dict(sequence=sequence, method=method, width=int(width), seed=int(seed), acc=rep.acc, bwt=rep.bwt,
                forgetting=lost, forgetting_max=rep.forgetting, hidden=hidden, chip_neurons=cf.neurons, preset=preset,
                not_fit=errors, energy_pj=cf.energy_pj, chip_acc=cf.accuracy, bound_energy_pj=float(bound),
                T=cfg.T, wall_s=time.perf_counter() - t0)


def run_block(sequence: str, seed: int, method: str, cfg: WidthConfig) -> list[dict]:
    """Every width's point of one sequence, seed (one task draw) and method."""
    torch.set_num_threads(1)
    data = task_sequence(sequence, seed, cfg)
    return [run_point(sequence, method, width, seed, cfg, data) for width in cfg.widths]


def run_width(cfg: WidthConfig | None = None, *, quick: bool = False, workers: int = 1,
              checkpoint: str | Path | None = None, progress: bool = True) -> list[dict]:
    """Every (sequence, seed, method, width) point of the study (``cfg`` default:
    ``WidthConfig.quick()`` if ``quick`` else ``WidthConfig()``); plain dict records, in
    that order.  ``workers`` > 1 runs the (sequence, seed, method) blocks in that many processes;
    ``checkpoint``: a JSON-lines file each finished block's records are appended to (as
    they finish); blocks it already holds for this protocol are not run again, so an
    interrupted run resumes where it stopped (``load_checkpoint``)."""
    cfg = cfg or (WidthConfig.quick() if quick else WidthConfig())
    if workers < 1:
        raise AppError(f"width study: workers must be >= 1, got {workers}")
    key0 = repr(replace(cfg, seeds=1))          # the protocol but the seed count: blocks are per seed
    done: dict[tuple, list[dict]] = {}
    if checkpoint is not None and Path(checkpoint).exists():
        for line in Path(checkpoint).read_text().splitlines():
            d = json.loads(line) if line.strip() else {}
            if d.get("protocol") == key0:
                done[(d["sequence"], d["seed"], d["method"])] = d["records"]
    blocks = [(s, seed, m) for seed in range(cfg.seeds) for s in cfg.sequences for m in cfg.methods
              if (s, seed, m) not in done]
    bar = tqdm(total=len(blocks), desc="width study (sequence x seed x method)", disable=not progress)

    def finished(key, records):
        done[key] = records
        if checkpoint is not None:
            with open(checkpoint, "a") as fh:
                fh.write(json.dumps({"protocol": key0, "sequence": key[0], "seed": key[1], "method": key[2],
                                     "records": records}) + "\n")
        bar.update()

    if workers == 1:
        for key in blocks:
            finished(key, run_block(*key, cfg))
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            jobs = {pool.submit(run_block, *key, cfg): key for key in blocks}
            for job in as_completed(jobs):
                finished(jobs[job], job.result())
    bar.close()
    return [r for s in cfg.sequences for seed in range(cfg.seeds) for m in cfg.methods for r in done[(s, seed, m)]]


def load_checkpoint(path: str | Path) -> list[dict]:
    """The records a (possibly interrupted) ``run_width(checkpoint=path)`` appended."""
    return [r for line in Path(path).read_text().splitlines() if line.strip() for r in json.loads(line)["records"]]


def aggregate(records: list[dict]) -> list[dict]:
    """Mean and std over seeds per (sequence, method, width); the preset(s) used."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["sequence"], r["method"], r["width"]), []).append(r)
    out = []
    for (seq, method, width), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        row = dict(sequence=seq, method=method, width=width, seeds=len(rs),
                   preset="/".join(sorted({r["preset"] for r in rs})))
        for k in ("acc", "forgetting", "energy_pj", "chip_acc", "bound_energy_pj"):
            v = np.array([r[k] for r in rs], float)
            row[k], row[k + "_std"] = float(v.mean()), float(v.std())
        out.append(row)
    return out


def width_table(records: list[dict]) -> str:
    """One line per (sequence, method, width): mean +- std over seeds, and the chip used."""
    head = f"{'sequence':18s} {'method':11s} {'width':>5s} {'avg acc':>13s} {'forgetting':>13s} {'E/inf nJ':>16s}  chip"
    lines = [head, "-" * len(head)]
    for a in aggregate(records):
        lines.append(f"{a['sequence']:18s} {a['method']:11s} {a['width']:>5d} "
                     f"{a['acc']:>7.3f}+-{a['acc_std']:.3f} {a['forgetting']:>7.3f}+-{a['forgetting_std']:.3f} "
                     f"{a['energy_pj'] / 1e3:>9.1f}+-{a['energy_pj_std'] / 1e3:<5.1f}  {a['preset']}")
    return "\n".join(lines)


def width_figure(records: list[dict], path: str | Path | None = None, base: str | None = None):
    """Forgetting vs width, energy per inference vs width (hollow: measured on a larger
    preset than ``base``, default the first record's first tried preset), and the
    forgetting-energy front per sequence; writes a PNG when ``path`` is given."""
    agg = aggregate(records)
    if not agg:
        raise AppError("width_figure: no records to plot")
    base = base or next(iter(records[0]["not_fit"]), records[0]["preset"])
    fig, (a1, a2, a3) = new_figure(3, 5.0, 4.0)
    seqs = sorted({a["sequence"] for a in agg})
    marks = dict(zip(seqs, "osD^v"))
    for si, seq in enumerate(seqs):
        for mi, method in enumerate(sorted({a["method"] for a in agg})):
            rows = [a for a in agg if a["sequence"] == seq and a["method"] == method]
            if not rows:
                continue
            w = [a["width"] for a in rows]
            label = f"{method}, {seq}"
            a1.errorbar(w, [a["forgetting"] for a in rows], [a["forgetting_std"] for a in rows], color=f"C{mi}",
                        marker=marks[seq], ls=["-", "--", ":", "-."][si % 4], label=label, capsize=2)
            a2.plot(w, [a["energy_pj"] / 1e3 for a in rows], color=f"C{mi}", ls=["-", "--", ":", "-."][si % 4])
            for a in rows:
                a2.plot(a["width"], a["energy_pj"] / 1e3, marker=marks[seq], color=f"C{mi}",
                        mfc=f"C{mi}" if a["preset"] == base else "none")
            a3.scatter([a["energy_pj"] / 1e3 for a in rows], [a["forgetting"] for a in rows], color=f"C{mi}",
                       marker=marks[seq], s=18)
        rows = [a for a in agg if a["sequence"] == seq]
        e = np.array([a["energy_pj"] / 1e3 for a in rows])
        f = np.array([a["forgetting"] for a in rows])
        front = pareto_mask(e, -f)
        order = np.argsort(e[front])
        a3.step(e[front][order], f[front][order], where="post", color="0.4", ls=["-", "--", ":", "-."][si % 4],
                lw=0.9, label=f"front, {seq}")
    for ax in (a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("hidden width (neurons per layer)")
    a1.set_ylabel("forgetting (accuracy points lost)")
    a1.legend(fontsize=6)
    a2.set_yscale("log")
    a2.set_ylabel(f"energy per inference (nJ; hollow: not on {base})")
    a3.set_xscale("log")
    a3.set_xlabel("energy per inference (nJ)")
    a3.set_ylabel("forgetting")
    a3.legend(fontsize=6)
    a1.set_title("forgetting vs width")
    a2.set_title("energy vs width")
    a3.set_title("forgetting-energy front")
    return save(fig, path)


def width_targets(records: list[dict], cfg: WidthConfig, quick: bool) -> list[dict]:
    """The study's target lines (``benchmarks/targets.py`` keys): ``width_points`` = the
    fewest widths with a complete chip-measured point (every method and seed) over the task
    sequences, with the preset each width used and one network's not-fit error; then two
    reported lines: the share of (sequence, method) pairs whose widest network forgets less
    than its narrowest, and the median energy ratio widest / narrowest, each with its table."""
    need = len(cfg.methods) * cfg.seeds
    per_seq = {s: sum(1 for w in cfg.widths
                      if sum(1 for r in records if r["sequence"] == s and r["width"] == w
                             and np.isfinite(r["energy_pj"])) == need) for s in cfg.sequences}
    value = min(per_seq.values())
    presets = {str(w): sorted({r["preset"] for r in records if r["width"] == w}) for w in cfg.widths}
    moved = next((r for r in records if r["not_fit"]), None)
    agg = aggregate(records)
    note = (f"{cfg.seeds} seed(s), {cfg.epochs} epochs per task, T={cfg.T}, {cfg.per_task} chip samples per task"
            + ("; quick run" if quick else ""))
    ends, energy = {}, {}
    for s in cfg.sequences:
        for m in cfg.methods:
            rows = sorted((a for a in agg if a["sequence"] == s and a["method"] == m), key=lambda a: a["width"])
            if len(rows) < 2:
                continue
            ends[f"{s}/{m}"] = {str(rows[0]["width"]): round(rows[0]["forgetting"], 4),
                                str(rows[-1]["width"]): round(rows[-1]["forgetting"], 4)}
            energy[f"{s}/{m}"] = {str(a["width"]): round(a["energy_pj"] / 1e3, 1) for a in rows}
    less = [list(v.values())[1] < list(v.values())[0] for v in ends.values()]
    ratios = [list(v.values())[-1] / list(v.values())[0] for v in energy.values()]
    return [dict(target="width_points", value=value, goal=">= 6 per task sequence", met=value >= 6,
                 per_sequence=per_seq, preset_per_width=presets,
                 not_fit_example=None if moved is None else {"width": moved["width"], **moved["not_fit"]}, note=note),
            dict(target="width_widest_forgets_less", value=round(float(np.mean(less)), 4) if less else None,
                 goal="reported (share of sequence/method pairs whose widest net forgets less than its narrowest)",
                 met=bool(less), forgetting_narrowest_widest=ends, note=note),
            dict(target="width_energy_widest_over_narrowest", value=round(float(np.median(ratios)), 2) if ratios else None,
                 goal="reported (median over sequence/method of energy per inference, widest / narrowest)",
                 met=bool(ratios), energy_nj_per_width=energy, note=note)]


def bench(quick: bool, out: str | Path | None = None, *, progress: bool = False,
          workers: int | None = None, seeds: int | None = None) -> list[dict]:
    """Run the study (quick or full), print its table, write ``study_width.png`` into ``out``
    if given, and return :func:`width_targets`; a full run checkpoints its blocks to
    ``<temp dir>/mosaic_study_width.jsonl`` and resumes from it (``run_width``).  ``seeds``
    overrides the protocol's seed count (a reduced run; the notes say so).  ``workers``:
    processes for the (sequence, seed, method) blocks (default 1 quick, one per block full)."""
    full = WidthConfig.quick() if quick else WidthConfig()
    cfg = full if seeds is None else replace(full, seeds=seeds)
    ckpt = None if quick else Path(tempfile.gettempdir()) / "mosaic_study_width.jsonl"
    if ckpt is not None:
        print(f"width study: checkpoint {ckpt}", file=sys.stderr, flush=True)
    records = run_width(cfg, progress=progress, checkpoint=ckpt,
                        workers=workers or (1 if quick else len(cfg.sequences) * len(cfg.methods) * cfg.seeds))
    print(width_table(records), flush=True)
    if out is not None:
        width_figure(records, Path(out) / "study_width.png", base=cfg.presets[0])
    lines = width_targets(records, cfg, quick)
    if cfg.seeds < full.seeds:
        for d in lines:
            d["note"] += f"; reduced run: {cfg.seeds} of the protocol's {full.seeds} seeds (the full run did not fit the time)"
    return lines


__all__ = ["WidthConfig", "run_width", "run_point", "width_table", "width_figure", "aggregate", "bench", "width_targets",
           "task_sequence", "run_block", "load_checkpoint", "TaskNets", "on_chip", "train_method"]
