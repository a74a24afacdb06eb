"""Benchmark of the growth package (issue 6).

1. The growth-path experiment exactly as the research notes' protocol (growth.paths: root
   10-10 -> target 100-100, 20 steps of 9, 300 batches of 128 per epoch, 3 epochs = 900
   steps, Adam 5e-3, MSE): table of final accuracies, paired Wilcoxon / t-test p-values per
   pair of arms and the verdict on "first-layer-first is best", on MNIST-5k, digits and
   MNIST-1D with GradMax and random initialisation, 10 paired trials each.  The six runs go
   to ``--jobs`` worker processes (default 2); one trial of one data set and method (6 arms x
   900 steps) costs 25-55 s of CPU, so full mode needs about 35 min on 2 free cores (digits
   alone: 10 min wall at load 15).  ``--datasets``/``--methods`` run a subset (the target
   lines name the runs they cover).  Every run writes ``results/growth_paths/<data
   set>-<method>.json`` (every accuracy and p-value) and the figure
   ``results/growth_paths/growth_paths.png`` is redrawn from all the run files there.  --quick: digits, GradMax, 2 trials
   of a 90-step protocol (30 batches per epoch).
2. The cost of one GradMax growth step (k = 9, one batch of 128) relative to one training
   epoch of 300 batches of 128 (the experiment's epoch), measured side by side.
3. DEN vs GradMax-CL (frozen old weights, and not) vs plain fine-tuning on 5 split-digits
   tasks: average accuracy, BWT, forgetting, final hidden neuron count.

Ends with one JSON line per target.  Usage: python benchmarks/bench_growth.py [--quick]

Output: one JSON line per target, {"target": name, "value": ..., "goal": "...", "met": bool, ...}
(``targets.target`` / ``targets.emit``), also written to ``benchmarks/results/<name>.json``.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import torch
from torch import nn

from growth.cl import CLConfig, run_finetune, run_gradmax_cl
from growth.den import DENConfig, run_den
from growth.grow import grow_layer, use_grow_relu
from growth.paths import PathConfig, PathReport, plot_reports, run_paths
from models import load_dataset, make_mlp, split_tasks
from targets import RESULTS, emit, target

DATASETS = ("mnist5k", "digits", "mnist1d")
METHODS = ("gradmax", "random")


def _paths_job(cfg: PathConfig):
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    return run_paths(cfg, progress=False), time.perf_counter() - t0


def growth_paths(quick: bool, jobs: int, datasets, methods) -> tuple[list[int], list[int], list[str]]:
    """Run every (data set, method) of the protocol; returns the steps, trials and name of each run."""
    if quick:
        cfgs = [PathConfig(dataset="digits", trials=2, batches_per_epoch=30)]
    else:
        cfgs = [PathConfig(dataset=d, method=m, trials=10) for d in datasets for m in methods]
    t0 = time.perf_counter()
    if jobs == 1 or len(cfgs) == 1:
        runs = [_paths_job(c) for c in cfgs]
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            runs = list(pool.map(_paths_job, cfgs))
    for rep, wall in runs:
        print(rep.table())
        print(f"({wall:.1f} s wall)\n")
    print(f"growth paths: {len(runs)} runs in {time.perf_counter() - t0:.0f} s wall with {jobs} worker(s)\n")
    reports = [r for r, _ in runs]
    out = RESULTS / ("quick" if quick else "") / "growth_paths"
    out.mkdir(parents=True, exist_ok=True)
    for r in reports:
        (out / f"{r.config.dataset}-{r.config.method}.json").write_text(json.dumps(r.to_dict(), indent=1))
    every = [PathReport.from_dict(json.loads(f.read_text())) for f in sorted(out.glob("*-*.json"))]
    plot_reports(every, out / "growth_paths.png")
    return ([r.steps for r in reports], [r.config.trials for r in reports],
            [f"{r.config.dataset}/{r.config.method}" for r in reports])


def gradmax_cost(quick: bool) -> float:
    ds = load_dataset("digits")
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    onehot = nn.functional.one_hot(y, 10).float()
    model = make_mlp([64, 100, 100, 10], kind="relu", seed=0)
    use_grow_relu(model)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, len(x), (128,), generator=g) for _ in range(300)]

    def epoch():
        for idx in batches:
            opt.zero_grad()
            nn.functional.mse_loss(model(x[idx]), onehot[idx]).backward()
            opt.step()

    epoch()  # warm-up; also gives Adam state to carry
    reps = 1 if quick else 3
    t_epoch = []
    for _ in range(reps):
        t0 = time.perf_counter()
        epoch()
        t_epoch.append(time.perf_counter() - t0)
    t_grow = []
    for i in range(5 if quick else 20):
        m, o = copy.deepcopy(model), None
        o = torch.optim.Adam(m.parameters(), lr=5e-3)
        o.load_state_dict(opt.state_dict())
        idx = batches[i]
        t0 = time.perf_counter()
        grow_layer(m, i % 2, 9, optimizer=o, data=(x[idx], onehot[idx]), loss_fn=nn.functional.mse_loss)
        t_grow.append(time.perf_counter() - t0)
    te, tg = statistics.median(t_epoch), statistics.median(t_grow)
    print(f"GradMax step (k=9, batch 128, 100-100 MLP): {1e3 * tg:.2f} ms (median of {len(t_grow)}); "
          f"one epoch of 300 batches: {1e3 * te:.0f} ms; ratio {tg / te:.4f}\n")
    return tg / te


def continual(quick: bool) -> None:
    tasks = split_tasks(load_dataset("digits"), 5)
    epochs, iters = (5, 40) if quick else (30, 200)
    rows = []
    cl = dict(hidden=(32, 32), epochs=epochs, k=10)
    t0 = time.perf_counter()
    rows.append(run_finetune(tasks, CLConfig(**cl), progress=False))
    rows.append(run_gradmax_cl(tasks, CLConfig(**cl, freeze=True), progress=False))
    rows.append(run_gradmax_cl(tasks, CLConfig(**cl, freeze=False), progress=False))
    rows.append(run_den(tasks, DENConfig(hidden=(32, 32), iters=iters), progress=False)[0])
    print(f"5 split-digits tasks (task-incremental, heads per task), start 32-32 hidden; "
          f"{time.perf_counter() - t0:.1f} s wall")
    print(f"{'method':<20}{'ACC %':>8}{'BWT pts':>9}{'forget pts':>11}{'FWT pts':>9}{'neurons':>9}  hidden")
    for r in rows:
        rp = r.report
        print(f"{r.method:<20}{100 * rp.acc:>8.2f}{100 * rp.bwt:>9.2f}{100 * rp.forgetting:>11.2f}"
              f"{100 * rp.fwt:>9.2f}{r.neurons:>9}  {r.hidden}")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reduced run (digits only, 2 trials, 90 steps)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for the growth-path runs")
    ap.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS),
                    help="growth-path data sets (default all three)")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                    help="initialisation of new neurons (default both)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    steps, trials, runs = growth_paths(args.quick, max(1, args.jobs), args.datasets, args.methods)
    ratio = gradmax_cost(args.quick)
    continual(args.quick)
    emit("bench_growth", [target("growth_path_steps", min(steps), "== 900 (every run)",
                                 min(steps) == max(steps) == 900, runs=runs),
                          target("growth_path_trials", min(trials), ">= 10", min(trials) >= 10, runs=runs),
                          target("gradmax_step_vs_epoch", round(ratio, 5), "< 0.05", ratio < 0.05)],
         quick=args.quick)


if __name__ == "__main__":
    main()
