"""Continual-learning baselines next to growth, on the same tasks and the same chip (issue 9).

One table per task sequence (5 split-digits tasks; 5 split MNIST-5k tasks; 5 permuted MNIST-1D
tasks), mean +- std over seeds: average accuracy, BWT, FWT, forgetting (GEM / Chaudhry
conventions, growth.metrics), parameters, chip neurons, pollution (mean off-diagonal
P^{i->j}, growth.baselines.pollution: "P eq2-4" the research notes' equations 2-4, literally,
with "undef" the share of terms its epsilon rule leaves out; "P |.| ours" our magnitude
variant), and for the spiking twin on mosaic-8x8 (mosaic.simulate, cycle routing) the energy
per inference and the chip's accuracy on a subset of test samples.
Protocol: task-incremental, one output head per task (labels relabelled to
head offset + position in the task, exactly growth.cl.TaskHeads), task id given at test time,
except "SupSup GNu" (task inferred by the one-shot method, per batch) and the MoE gater
(routes without the task id; the head mask still applies).  MNTDP-D (growth.baselines.mntdp)
needs the task id and places each task's path on the chip.  FWT needs the accuracy on a task
before it is learned, which SupSup and MNTDP-D cannot give (n/a).  DEN and GradMax-CL come
from growth.den / growth.cl (hidden 32-32, the same learning rate as the baselines); DEN with
its own defaults (fewer steps per phase in --quick, ``DEN_QUICK``).
The hardware-aware controller row is growth.controller_cl (GradMax-CL whose growth per task
the controller decides) with a hard budget of 0.7 x GradMax-CL's final network's rate-bound
energy per inference (growth.controller.bound_cost: same chip, T and mapper).
Targets: the hardware-aware growth controller on the accuracy-energy Pareto front (value: the
fraction of the task sequences on whose front, mean accuracy vs mean chip energy, it lies);
P^{i->i} = 1 for every method (both forms); DEN's selective retraining selective (< 0.8 of
the visible units on some task) and its expansion conditional (fires on fewer tasks than can
expand, in every run); MNTDP-D's accuracy on split MNIST-5k (goal: within 2 points of the
best method with fewer neurons than DEN).

    python benchmarks/bench_cl.py [--quick] [--seeds N] [--jobs J] [--time-budget S] [--scenarios ...]

Output: one JSON line per target, {"target": name, "value": ..., "goal": "...", "met": bool, ...}
(``targets.target`` / ``targets.emit``), also written to ``benchmarks/results/<name>.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace

import numpy as np
import torch

from growth.baselines import (EWC, MNTDP, HardMoE, LoRACL, SupSup, TrainConfig, birth_nets, births_from_sizes,
                              pollution_figures)
from growth.baselines.chip import chip_figures
from growth.baselines.common import accuracy, linears, mlp, run_sequence
from growth.cl import CLConfig, CLResult, TaskHeads, headed_tasks, run_gradmax_cl
from growth.controller import ControllerConfig, bound_cost, incremental_placer, layered_network
from growth.controller_cl import run_controller_cl
from growth.den import DEN, DENConfig, run_den
from growth.metrics import pareto_mask, summarize
from targets import emit, target
from models.datasets import load_dataset, permuted_tasks, split_tasks
from mosaic import HardwareSpec
from mosaic.cost import CostBudget

HIDDEN = (32, 32)
BUDGET_FRACTION = 0.7     # controller budget: this fraction of GradMax-CL's rate-bound energy per inference
CONTROLLER = "hw-aware controller (CL)"
SCENARIOS = ("split-digits", "split-mnist5k", "permuted-mnist1d")
DEN_QUICK = dict(iters=120, head_iters=40)   # DEN's steps per phase in --quick (full: its defaults)
MNTDP_LABEL = "MNTDP-D"
DEN_LABEL = "DEN (growth.den)"


def scenario(name: str, seed: int, quick: bool):
    if name == "split-digits":
        ds = load_dataset("digits", seed=seed, n_train=600 if quick else None)
        return split_tasks(ds, 5, seed=seed)
    if name == "split-mnist5k":
        ds = load_dataset("mnist5k", seed=seed, n_train=600 if quick else None, n_test=200 if quick else None)
        return split_tasks(ds, 5, seed=seed)
    ds = load_dataset("mnist1d", seed=seed, n_train=300 if quick else 2000, n_test=100 if quick else 500)
    return permuted_tasks(ds, 5, seed=seed)


def moe_setup(name: str) -> dict:
    """k-means gater: centres per task (its threshold follows the data, growth.baselines.moe)."""
    return dict(clusters_per_task=4) if name == "permuted-mnist1d" else dict(clusters_per_task=2)


class DENChip:
    """DEN's per-task sub-network (units visible to task t, head t) as a plain MLP, for the
    chip and for pollution (protected by birth: an edge belongs to the task at which its
    later endpoint was born; head t's rows to task t)."""

    def __init__(self, den: DEN, heads: TaskHeads):
        self.den, self.heads, self._mlps = den, heads, {}

    def _vis(self, t):
        return [self.den.visible(l, t).bool() for l in range(len(self.den.W))]

    def mlp(self, t: int):
        if t in self._mlps:
            return self._mlps[t]
        vis = self._vis(t)
        sizes = [self.den.W[0].shape[1], *[int(v.sum()) for v in vis], len(self.heads.classes[t])]
        m = mlp(sizes)
        lins = linears(m)
        with torch.no_grad():
            prev = torch.ones(self.den.W[0].shape[1], dtype=torch.bool)
            for l, v in enumerate(vis):
                lins[l].weight.copy_(self.den.W[l][v][:, prev])
                lins[l].bias.copy_(self.den.b[l][v])
                prev = v
            rows = self.heads.rows(t)
            lins[-1].weight.copy_(self.den.Wo[rows][:, prev])
            lins[-1].bias.copy_(self.den.bo[rows])
        self._mlps[t] = m
        return m

    def chip_mlps(self, x, t):
        cls = torch.arange(self.heads.offsets[t], self.heads.offsets[t] + len(self.heads.classes[t]))
        return [(self.mlp(t), torch.ones(len(x), dtype=torch.bool), cls)]

    def protected_nets(self, x, t):
        """Eqs. 2-4 (growth.baselines.pollution): edges protected by birth."""
        vis = self._vis(t)
        return birth_nets(self.mlp(t), [self.den.born[l][vis[l].numpy()] for l in range(len(vis))], t, len(x))


class GrowthChip:
    """A growth.cl result (GradMax-CL, the CL controller) per task: task t runs
    ``result.task_mlp(t)`` (hidden units born up to task t when growth froze the old weights,
    head t) on the chip and for pollution (protected by birth)."""

    def __init__(self, result: CLResult):
        self.result, self._mlps = result, {}

    def mlp(self, t: int):
        if t not in self._mlps:
            self._mlps[t] = self.result.task_mlp(t)
        return self._mlps[t]

    def chip_mlps(self, x, t):
        h = self.result.heads
        cls = torch.arange(h.offsets[t], h.offsets[t] + len(h.classes[t]))
        return [(self.mlp(t), torch.ones(len(x), dtype=torch.bool), cls)]

    def protected_nets(self, x, t):
        """Eqs. 2-4 (growth.baselines.pollution): edges protected by birth (units appended per task)."""
        m = self.mlp(t)
        widths = [lin.out_features for lin in linears(m)[:-1]]
        return birth_nets(m, births_from_sizes(self.result.sizes, widths), t, len(x))


def dense_params(sizes) -> int:
    return int(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))


def metrics(R, r_init) -> dict:
    """ACC, BWT, forgetting and FWT of an accuracy matrix; FWT is NaN when the learner cannot
    answer for a task before learning it (NaN above the diagonal or in ``r_init``)."""
    R, r_init = np.asarray(R, dtype=float), np.asarray(r_init, dtype=float)
    upper = np.triu(np.ones_like(R, dtype=bool), 1)
    # ACC, BWT and forgetting read only the diagonal and below, so unanswerable entries above
    # it are zeroed for summarize()
    rep = summarize(np.where(upper & np.isnan(R), 0.0, R))
    answers = not (np.isnan(R[upper]).any() or np.isnan(r_init).any())
    fwt = summarize(R, r_init).fwt if answers else float("nan")
    return dict(acc=rep.acc, bwt=rep.bwt, fwt=fwt, forgetting=rep.forgetting)


def measured(view, tasks, spec, chip: dict, R, r_init, *, params: int, neurons: int, t0: float) -> dict:
    """One table row: metrics, size, both pollution figures, energy and accuracy on the chip."""
    cf = chip_figures(view, tasks, spec, **chip)
    return dict(metrics(R, r_init), params=params, neurons=neurons, **pollution_figures(view, tasks),
                energy_nj=cf.energy_pj / 1e3, chip_acc=cf.accuracy, wall_s=time.perf_counter() - t0)


def baseline_rows(name: str, tasks, heads, cfg: TrainConfig, spec, chip: dict) -> dict:
    """Every growth.baselines learner on the headed tasks."""
    D, n_out = tasks[0].x_train.shape[1], heads.n_out
    per_task_out = max(len(c) for c in heads.classes)
    sizes = [D, *HIDDEN, n_out]
    learners = {
        "fine-tune": EWC(sizes, lam=0.0, train=cfg),
        "EWC (lam 100, empirical)": EWC(sizes, lam=100.0, train=cfg),
        "online EWC (lam 100, g 0.9)": EWC(sizes, lam=100.0, online=True, gamma=0.9, train=cfg),
        "LoRA-CL (r 4, a 4)": LoRACL(sizes, rank=4, alpha=4.0, train=cfg),
        "SupSup GG (k 0.5)": SupSup([D, *HIDDEN, per_task_out], keep=0.5, train=replace(cfg, lr=1e-2)),  # scores: 1e-2
        "MoE k-means": HardMoE(sizes, train=cfg, **moe_setup(name)),
        MNTDP_LABEL: MNTDP(sizes, train=cfg),
    }
    rows = {}
    for label, L in learners.items():
        t0 = time.perf_counter()
        res = run_sequence(L, tasks)
        rows[label] = measured(L, tasks, spec, chip, res.R, res.r_init, params=L.n_parameters(),
                               neurons=L.n_neurons(), t0=t0)
        if isinstance(L, HardMoE):
            rows[label]["experts"] = L.gater.n_experts
            rows[label]["acc_task_free"] = float(np.mean([accuracy(L, tk, j, task_given=False)
                                                          for j, tk in enumerate(tasks)]))
        if isinstance(L, MNTDP):
            rows[label]["new_modules"] = float(sum(c.new_modules for c in L.choices))
        if isinstance(L, SupSup):
            t0 = time.perf_counter()
            R = res.R.copy()
            R[-1] = [accuracy(L, tk, j, task_given=False) for j, tk in enumerate(tasks)]
            cg = chip_figures(L, tasks, spec, **{**chip, "task_given": False})
            rows["SupSup GNu (one-shot)"] = dict(rows[label], acc=float(R[-1].mean()), bwt=float("nan"),
                                                 forgetting=float("nan"), energy_nj=cg.energy_pj / 1e3,
                                                 chip_acc=cg.accuracy, wall_s=time.perf_counter() - t0)
    return rows


def growth_rows(tasks, heads, seed: int, quick: bool, epochs: int, lr: float, spec, chip: dict) -> tuple[dict, dict]:
    """DEN, GradMax-CL and the hardware-aware controller; also DEN's log (shares, firing)."""
    D, n_out = tasks[0].x_train.shape[1], heads.n_out
    rows = {}
    t0 = time.perf_counter()
    den_res, den = run_den(tasks, DENConfig(hidden=HIDDEN, seed=seed, lr=lr, **(DEN_QUICK if quick else {})),
                           progress=False)
    den_log = dict(shares=[lg.selected_share for lg in den.log[1:]], fired=sum(lg.expanded for lg in den.log[1:]),
                   tasks=len(den.log), tau=den.tau, split=[sum(lg.split) for lg in den.log[1:]])
    rows[DEN_LABEL] = measured(DENChip(den, heads), tasks, spec, chip, den_res.matrix, den_res.baseline,
                               params=sum(p.numel() for p in den.params()), neurons=den.n_neurons + n_out, t0=t0)
    t0 = time.perf_counter()
    gm = run_gradmax_cl(tasks, CLConfig(hidden=HIDDEN, epochs=epochs, lr=lr, seed=seed), progress=False)
    rows["GradMax-CL (growth.cl)"] = measured(GrowthChip(gm), tasks, spec, chip, gm.matrix, gm.baseline,
                                              params=dense_params([D, *gm.hidden, n_out]), neurons=gm.neurons + n_out,
                                              t0=t0)
    # the hardware-aware controller (growth.controller_cl): budget = 0.7 x GradMax-CL's final
    # network on the controller's own yardstick (rate-bound energy per inference, same chip,
    # same T, placed by the same greedy mapper), so it must reach its accuracy with 30% less
    t0 = time.perf_counter()
    gm_sizes = [*gm.hidden, n_out]
    gm_net = layered_network(D, gm_sizes)
    gm_bound = bound_cost(D, gm_sizes, spec, incremental_placer(seed=seed)(gm_net, spec, None, np.ones(gm_net.n_neurons)),
                          chip["T"]).energy_pj["total"]
    budget = CostBudget(energy_pj=BUDGET_FRACTION * gm_bound)
    # up to `rounds` growth steps per new task, `between` epochs of training after each, then the
    # rest of GradMax-CL's epochs: the same epochs per new task (task 0 trains only the rest)
    rounds, between = (3, 1) if quick else (6, 2)
    hw = run_controller_cl(tasks, spec, budget, config=CLConfig(hidden=HIDDEN, epochs=epochs - rounds * between, lr=lr),
                           controller=ControllerConfig(k_options=(1, 4, 8), T=chip["T"]), rounds=rounds,
                           train_between=between, seed=seed, progress=False)
    if budget.violations(hw.cost):
        raise RuntimeError(f"the controller broke its budget: {budget.violations(hw.cost)}")
    rows[CONTROLLER] = measured(GrowthChip(hw), tasks, spec, chip, hw.matrix, hw.baseline,
                                params=dense_params([D, *hw.hidden, n_out]), neurons=hw.neurons + n_out, t0=t0)
    rows[CONTROLLER]["bound_vs_budget"] = hw.cost.energy_pj["total"] / budget.energy_pj
    return rows, den_log


def run_seed(name: str, seed: int, quick: bool, chip: dict, lora_grid) -> tuple[dict, dict, dict]:
    """Every method on one seed of task sequence ``name``: (table rows, LoRA sweep, DEN log)."""
    torch.set_num_threads(1)
    spec = HardwareSpec.preset("mosaic-8x8")
    raw = scenario(name, seed, quick)
    tasks, heads = headed_tasks(raw)
    epochs, lr = (4, 1e-2) if quick else (30, 1e-3)
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=64, seed=seed)
    rows = baseline_rows(name, tasks, heads, cfg, spec, chip)
    grown, den_log = growth_rows(tasks, heads, seed, quick, epochs, lr, spec, chip)
    rows.update(grown)
    sizes = [raw[0].n_features, *HIDDEN, heads.n_out]
    sweep = {}
    for r, a in lora_grid:   # LoRA sensitivity to (r, alpha)
        res = run_sequence(LoRACL(sizes, rank=r, alpha=a, train=cfg), tasks)
        sweep[(r, a)] = metrics(res.R, res.r_init)
    return rows, sweep, den_log


COLS = [("acc", "avg acc", "{:.3f}"), ("bwt", "BWT", "{:+.3f}"), ("fwt", "FWT", "{:+.3f}"),
        ("forgetting", "forget", "{:.3f}"), ("params", "params", "{:.0f}"), ("neurons", "neurons", "{:.0f}"),
        ("pollution_notes", "P eq2-4", "{:+.3f}"), ("undefined_notes", "undef", "{:.2f}"),
        ("pollution_abs", "P |.| ours", "{:.3f}"),
        ("energy_nj", "E/inf nJ", "{:.1f}"), ("chip_acc", "chip acc", "{:.3f}")]


def aggregate(per_seed: list[dict]) -> dict:
    out = {}
    for label in per_seed[0]:
        out[label] = {}
        for key in per_seed[0][label]:
            v = np.array([s[label][key] for s in per_seed], dtype=float)
            out[label][key] = (float(np.mean(v)), float(np.std(v)))
    return out


def fmt(cell, f) -> str:
    m, s = cell
    if np.isnan(m):
        return "n/a"
    return f.format(m) + (f"+-{f.format(s).lstrip('+')}" if s > 0 and f != "{:.0f}" else "")


def print_table(title: str, agg: dict) -> None:
    print(f"\n== {title} ==")
    head = f"{'method':30s}" + "".join(f"{h:>16s}" for _, h, _ in COLS)
    print(head)
    for label, row in agg.items():
        print(f"{label:30s}" + "".join(f"{fmt(row[k], f):>16s}" for k, _, f in COLS))
    b = agg[CONTROLLER]["bound_vs_budget"]
    print(f"{CONTROLLER}: budget {BUDGET_FRACTION} x GradMax-CL's rate-bound energy; its final rate-bound "
          f"energy / budget = {fmt(b, '{:.3f}')} (checked <= 1 on every seed)")


def report(name: str, agg: dict, seeds: int, chip: dict, sweep: dict, den_logs: list[dict]) -> None:
    print_table(f"{name}: 5 tasks, {seeds} seed(s), mosaic-8x8, T={chip['T']} steps, "
                f"{chip['per_task']} chip samples per task", agg)
    moe = agg["MoE k-means"]
    print(f"MoE: {moe['experts'][0]:.1f} experts; task-free accuracy (no head mask) {moe['acc_task_free'][0]:.3f}")
    print(f"MNTDP-D: {agg[MNTDP_LABEL]['new_modules'][0]:.1f} new modules over the tasks after the first "
          f"(each a layer of {HIDDEN[0]} neurons)")
    print("LoRA-CL sensitivity (seed 0): rank r x alpha -> avg acc / BWT")
    for (r, a), m in sweep.items():
        print(f"  r={r:<3d} alpha={a:<5g} scale={a / r:<6.3g} acc {m['acc']:.3f}  BWT {m['bwt']:+.3f}")
    for seed, d in enumerate(den_logs):
        print(f"DEN seed {seed}: share of units selected per task {[round(v, 3) for v in d['shares']]}, "
              f"expansion fired on {d['fired']} of {d['tasks'] - 1} tasks (tau {d['tau']:.4f}), "
              f"units split per task {d['split']}")


def mntdp_target(results: dict, note: str) -> dict:
    """MNTDP-D's ACC on split MNIST-5k against the best method's and DEN's neurons."""
    agg = results.get("split-mnist5k")
    if agg is None:
        return target("mntdp_acc_split_mnist", None, "within 0.02 of the best method with fewer neurons than DEN",
                      False, note="split-mnist5k not run")
    best = max(agg, key=lambda k: agg[k]["acc"][0])
    m, den = agg[MNTDP_LABEL], agg[DEN_LABEL]
    gap = agg[best]["acc"][0] - m["acc"][0]
    return target("mntdp_acc_split_mnist", round(m["acc"][0], 4),
                  "within 0.02 of the best method with fewer neurons than DEN",
                  gap <= 0.02 and m["neurons"][0] < den["neurons"][0], best=best, best_acc=round(agg[best]["acc"][0], 4),
                  gap=round(gap, 4), mntdp_neurons=m["neurons"][0], den_neurons=den["neurons"][0],
                  mntdp_new_modules=m["new_modules"][0], note=note)


def run_all(scenarios, seeds: int, quick: bool, chip: dict, jobs: int, budget: float, t_start: float) -> dict:
    """run_seed for every (sequence, seed), seed by seed, at most ``jobs`` at once; after
    ``budget`` seconds no seed > 0 starts.  Returns {(sequence, seed): run_seed's result}."""
    todo = [(name, seed) for seed in range(seeds) for name in scenarios]
    done, running = {}, {}
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        while todo or running:
            while todo and len(running) < max(1, jobs) and (todo[0][1] == 0 or time.perf_counter() - t_start < budget):
                name, seed = todo.pop(0)
                grid = ([(1, 4.0), (4, 4.0)] if quick else [(r, a) for r in (1, 4, 16) for a in (1.0, 4.0, 16.0)]) \
                    if seed == 0 else []
                running[pool.submit(run_seed, name, seed, quick, chip, grid)] = (name, seed)
            if not running:
                break
            fut = next(as_completed(running))
            run = running.pop(fut)
            done[run] = fut.result()
            print(f"[{run[0]} seed {run[1]} done, {time.perf_counter() - t_start:.0f} s]", file=sys.stderr, flush=True)
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, tiny data, few epochs")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per scenario (default 3, quick 1)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes, one (scenario, seed) each (default 2)")
    ap.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS),
                    help="task sequences to run (default all three)")
    ap.add_argument("--time-budget", type=float, default=float("inf"),
                    help="seconds after which no further seed starts (seed 0 of every sequence always runs); "
                         "the target lines state the seeds that ran")
    args = ap.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 3)
    chip = dict(T=8, per_task=2) if args.quick else dict(T=16, per_task=8)
    t_start = time.perf_counter()
    done = run_all(args.scenarios, seeds, args.quick, chip, args.jobs, args.time_budget, t_start)
    results, den_logs, ran = {}, {}, {}
    for name in args.scenarios:
        per = [done[(name, seed)] for seed in range(seeds) if (name, seed) in done]
        ran[name] = len(per)
        results[name] = aggregate([p[0] for p in per])
        den_logs[name] = [p[2] for p in per]
        report(name, results[name], len(per), chip, per[0][1], den_logs[name])
    print(f"\nwall {time.perf_counter() - t_start:.0f} s")
    note = f"{'quick' if args.quick else 'full'} mode; seeds per task sequence {ran}"
    if min(ran.values()) < seeds:
        note += f" (reduced from {seeds}: --time-budget {args.time_budget:g} s reached before the other seeds started)"
    emit("bench_cl", targets(results, den_logs, note=note), quick=args.quick)
    return 0


def targets(results: dict, den_logs: dict, note: str) -> list[dict]:
    fronts = {}
    for name, agg in results.items():
        labels = [k for k, v in agg.items() if not np.isnan(v["energy_nj"][0])]
        on_front = pareto_mask([agg[k]["energy_nj"][0] for k in labels], [agg[k]["acc"][0] for k in labels])
        fronts[name] = [k for k, on in zip(labels, on_front) if on]
        print(f"accuracy-energy Pareto front, {name}: {', '.join(fronts[name])}")
    on = [name for name, front in fronts.items() if CONTROLLER in front]
    diag = {f"{name}/{label}": row["diagonal_is_one"][0] for name, agg in results.items()
            for label, row in agg.items() if "diagonal_is_one" in row and not np.isnan(row["diagonal_is_one"][0])}
    diag_all = float(min(diag.values())) if diag else float("nan")
    runs = [d for logs in den_logs.values() for d in logs]
    lowest = min(min(d["shares"]) for d in runs)
    fired = max(d["fired"] for d in runs)
    n_later = min(d["tasks"] - 1 for d in runs)
    return [target("hw_aware_growth_on_pareto_front", len(on) / len(fronts), "1.0 (on the front of every task sequence)",
                   len(on) == len(fronts), fronts=fronts, note=note),
            target("pollution_diagonal_is_one", diag_all, "== 1 for every method (eqs. 2-4 and the magnitude form)",
                   diag_all == 1.0, methods=sorted(diag), note=note),
            target("den_selected_share", round(lowest, 4), "< 0.8 on at least one task", lowest < 0.8,
                   shares={k: [[round(x, 4) for x in d["shares"]] for d in v] for k, v in den_logs.items()}, note=note),
            target("den_expansion_conditional", fired, f"< {n_later} (fires on fewer tasks than can expand, every run)",
                   fired < n_later, fired={k: [d["fired"] for d in v] for k, v in den_logs.items()},
                   tau={k: [round(d["tau"], 4) for d in v] for k, v in den_logs.items()}, note=note),
            mntdp_target(results, note)]


if __name__ == "__main__":
    sys.exit(main())
