"""Continual-learning baselines next to growth, on the same tasks and the same chip (issue 9).

One table per task sequence (5 split-digits tasks; 5 permuted MNIST-1D tasks), mean +- std
over seeds: average accuracy, BWT, forgetting (GEM / Chaudhry conventions, growth.metrics),
parameters, chip neurons, pollution (mean off-diagonal P^{i->j}: "pollut" the older pooled
reconstruction; "P eq2-4" the research notes' equations 2-4 with "undef" the share of terms
its epsilon rule leaves out; "P |.| ours" our magnitude variant; see
growth.baselines.pollution), and for the spiking twin on mosaic-8x8 (mosaic.simulate, cycle
routing) the energy per inference and the chip's accuracy on a subset of test samples.
Protocol: task-incremental, one output head per task (labels relabelled to
head offset + position in the task, exactly growth.cl.TaskHeads), task id given at test time,
except "SupSup GNu" (task inferred by the one-shot method, per batch) and the MoE gater
(routes without the task id; the head mask still applies).  MNTDP-D (growth.baselines.mntdp)
needs the task id and places each task's path on the chip.  DEN and GradMax-CL come from
growth.den / growth.cl with their own defaults (hidden 32-32, Adam 1e-3).
The hardware-aware controller row is growth.controller_cl (GradMax-CL whose growth per task
the controller decides) with a hard budget of 0.7 x GradMax-CL's final network's rate-bound
energy per inference (growth.controller_cl.bound_cost: same chip, T and mapper).
Target: the hardware-aware growth controller on the accuracy-energy Pareto front (value: the
fraction of the task sequences on whose front, mean accuracy vs mean chip energy, it lies).

    python benchmarks/bench_cl.py [--quick] [--seeds N] [--scenarios split-digits permuted-mnist1d]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from growth.baselines import (EWC, MNTDP, HardMoE, LoRACL, SupSup, TrainConfig, birth_nets, births_from_sizes,
                              off_diagonal_mean, pollution_figures, pollution_matrix)
from growth.baselines.chip import chip_figures
from growth.baselines.common import accuracy, linears, mlp, pollution_terms_mlp, run_sequence
from growth.cl import CLConfig, CLResult, TaskHeads, headed_tasks, run_gradmax_cl
from growth.controller import ControllerConfig, incremental_placer, layered_network
from growth.controller_cl import bound_cost, run_controller_cl
from growth.den import DEN, DENConfig, run_den
from growth.metrics import pareto_mask, summarize
from targets import emit, target
from models.datasets import load_dataset, permuted_tasks, split_tasks
from mosaic import HardwareSpec
from mosaic.cost import CostBudget

HIDDEN = (32, 32)
BUDGET_FRACTION = 0.7     # controller budget: this fraction of GradMax-CL's rate-bound energy per inference
CONTROLLER = "hw-aware controller (CL)"
SCENARIOS = ("split-digits", "permuted-mnist1d")


def scenario(name: str, seed: int, quick: bool):
    if name == "split-digits":
        ds = load_dataset("digits", seed=seed, n_train=600 if quick else None)
        return split_tasks(ds, 5, seed=seed)
    ds = load_dataset("mnist1d", seed=seed, n_train=300 if quick else 2000, n_test=100 if quick else 500)
    return permuted_tasks(ds, 5, seed=seed)


def moe_setup(name: str) -> dict:
    """k-means gater: centres per task (its threshold follows the data, growth.baselines.moe)."""
    return dict(clusters_per_task=2) if name == "split-digits" else dict(clusters_per_task=4)


class DENChip:
    """DEN's per-task sub-network (units visible to task t, head t) as a plain MLP, for the
    chip and for pollution.  Pollution ownership by birth: an edge belongs to the task at
    which its later endpoint was born; head t's rows to task t (DEN keeps no snapshots)."""

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

    def pollution_terms(self, x, t):
        vis = self._vis(t)
        born = [torch.from_numpy(b) for b in self.den.born]
        m = self.mlp(t)
        lins = linears(m)
        parts = []
        prev_born = torch.zeros(self.den.W[0].shape[1], dtype=torch.long)
        for l, v in enumerate(vis):
            owner = torch.maximum(born[l][v][:, None], prev_born[None, :])
            parts.append({j: lins[l].weight * (owner == j) for j in range(t + 1)})
            prev_born = born[l][v]
        owner = torch.maximum(torch.full((lins[-1].out_features, 1), t), prev_born[None, :])
        parts.append({j: lins[-1].weight * (owner == j) for j in range(t + 1)})
        return pollution_terms_mlp([l.weight for l in lins], [l.bias for l in lins], parts, x)

    def protected_nets(self, x, t):
        """Eqs. 2-4 (growth.baselines.pollution): edges protected by birth."""
        vis = self._vis(t)
        return birth_nets(self.mlp(t), [self.den.born[l][vis[l].numpy()] for l in range(len(vis))], t, len(x))


class GrowthChip:
    """A growth.cl result (GradMax-CL, the CL controller) per task: task t runs
    ``result.task_mlp(t)`` (hidden units born up to task t when growth froze the old weights,
    head t) on the chip; pollution ownership by increments (``result.task_parts``)."""

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

    def pollution_terms(self, x, t):
        lins = linears(self.mlp(t))
        return pollution_terms_mlp([l.weight for l in lins], [l.bias for l in lins], self.result.task_parts(t), x)

    def protected_nets(self, x, t):
        """Eqs. 2-4 (growth.baselines.pollution): edges protected by birth (units appended per task)."""
        m = self.mlp(t)
        widths = [lin.out_features for lin in linears(m)[:-1]]
        return birth_nets(m, births_from_sizes(self.result.sizes, widths), t, len(x))


def dense_params(sizes) -> int:
    return int(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))


def metrics(R) -> dict:
    # SupSup cannot answer for unseen tasks (NaN above the diagonal); ACC, BWT and forgetting
    # read only the diagonal and below, so those entries are zeroed for summarize().
    R = np.where(np.triu(np.ones_like(R, dtype=bool), 1) & np.isnan(R), 0.0, R)
    rep = summarize(R)
    return dict(acc=rep.acc, bwt=rep.bwt, forgetting=rep.forgetting)


def run_seed(name: str, seed: int, quick: bool, spec, chip: dict, lora_grid) -> tuple[dict, dict]:
    raw = scenario(name, seed, quick)
    tasks, heads = headed_tasks(raw)
    D, n_out = raw[0].n_features, heads.n_out
    per_task_out = max(len(c) for c in heads.classes)
    epochs, lr = (4, 1e-2) if quick else (30, 1e-3)
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=64, seed=seed)
    sizes = [D, *HIDDEN, n_out]
    learners = {
        "fine-tune": EWC(sizes, lam=0.0, train=cfg),
        "EWC (lam 100, empirical)": EWC(sizes, lam=100.0, train=cfg),
        "online EWC (lam 100, g 0.9)": EWC(sizes, lam=100.0, online=True, gamma=0.9, train=cfg),
        "LoRA-CL (r 4, a 4)": LoRACL(sizes, rank=4, alpha=4.0, train=cfg),
        "SupSup GG (k 0.5)": SupSup([D, *HIDDEN, per_task_out], keep=0.5, train=replace(cfg, lr=1e-2)),  # scores: 1e-2
        "MoE k-means": HardMoE(sizes, train=cfg, **moe_setup(name)),
        "MNTDP-D": MNTDP(sizes, train=cfg),
    }
    rows = {}
    for label, L in learners.items():
        t0 = time.perf_counter()
        res = run_sequence(L, tasks)
        P = pollution_matrix(L, tasks)
        cf = chip_figures(L, tasks, spec, **chip)
        rows[label] = dict(metrics(res.R), params=L.n_parameters(), neurons=L.n_neurons(),
                           pollution=off_diagonal_mean(P), **pollution_figures(L, tasks), energy_nj=cf.energy_pj / 1e3, chip_acc=cf.accuracy,
                           wall_s=time.perf_counter() - t0)
        if isinstance(L, HardMoE):
            rows[label]["experts"] = L.gater.n_experts
            rows[label]["acc_task_free"] = float(np.mean([accuracy(L, tk, j, task_given=False)
                                                          for j, tk in enumerate(tasks)]))
        if isinstance(L, SupSup):
            t0 = time.perf_counter()
            R = res.R.copy()
            R[-1] = [accuracy(L, tk, j, task_given=False) for j, tk in enumerate(tasks)]
            cg = chip_figures(L, tasks, spec, **{**chip, "task_given": False})
            rows["SupSup GNu (one-shot)"] = dict(rows[label], acc=float(R[-1].mean()), bwt=float("nan"),
                                                 forgetting=float("nan"), energy_nj=cg.energy_pj / 1e3,
                                                 chip_acc=cg.accuracy, wall_s=time.perf_counter() - t0)
    # growth methods (growth.den, growth.cl) on the same headed tasks
    t0 = time.perf_counter()
    den_cfg = DENConfig(hidden=HIDDEN, seed=seed, iters=40 if quick else 200, head_iters=20 if quick else 100, lr=lr)
    den_res, den = run_den(tasks, den_cfg, progress=False)
    den_log = dict(shares=[lg.selected_share for lg in den.log[1:]], fired=sum(lg.expanded for lg in den.log[1:]),
                   tasks=len(den.log), tau=den.tau, split=[sum(lg.split) for lg in den.log[1:]])
    view = DENChip(den, heads)
    cf = chip_figures(view, tasks, spec, **chip)
    rows["DEN (growth.den)"] = dict(metrics(np.array(den_res.matrix)),
                                    params=sum(p.numel() for p in den.params()), neurons=den.n_neurons + n_out,
                                    pollution=off_diagonal_mean(pollution_matrix(view, tasks)),
                                    **pollution_figures(view, tasks),
                                    energy_nj=cf.energy_pj / 1e3, chip_acc=cf.accuracy,
                                    wall_s=time.perf_counter() - t0)
    t0 = time.perf_counter()
    gm = run_gradmax_cl(tasks, CLConfig(hidden=HIDDEN, epochs=epochs, lr=lr, seed=seed), progress=False)
    view = GrowthChip(gm)
    cf = chip_figures(view, tasks, spec, **chip)
    rows["GradMax-CL (growth.cl)"] = dict(metrics(np.array(gm.matrix)), params=dense_params([D, *gm.hidden, n_out]),
                                          neurons=gm.neurons + n_out,
                                          pollution=off_diagonal_mean(pollution_matrix(view, tasks)),
                                          **pollution_figures(view, tasks),
                                          energy_nj=cf.energy_pj / 1e3, chip_acc=cf.accuracy,
                                          wall_s=time.perf_counter() - t0)
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
    view = GrowthChip(hw)
    cf = chip_figures(view, tasks, spec, **chip)
    rows[CONTROLLER] = dict(metrics(np.array(hw.matrix)), params=dense_params([D, *hw.hidden, n_out]),
                            neurons=hw.neurons + n_out, pollution=off_diagonal_mean(pollution_matrix(view, tasks)),
                            **pollution_figures(view, tasks),
                            energy_nj=cf.energy_pj / 1e3, chip_acc=cf.accuracy,
                            bound_vs_budget=hw.cost.energy_pj["total"] / budget.energy_pj,
                            wall_s=time.perf_counter() - t0)
    # LoRA sensitivity to (r, alpha)
    sweep = {}
    for r, a in lora_grid:
        res = run_sequence(LoRACL(sizes, rank=r, alpha=a, train=cfg), tasks)
        sweep[(r, a)] = metrics(res.R)
    return rows, sweep, den_log


COLS = [("acc", "avg acc", "{:.3f}"), ("bwt", "BWT", "{:+.3f}"), ("forgetting", "forget", "{:.3f}"),
        ("params", "params", "{:.0f}"), ("neurons", "neurons", "{:.0f}"), ("pollution", "pollut", "{:.3f}"),
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, tiny data, few epochs (< 1 min)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per scenario (default 3, quick 1)")
    ap.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS),
                    help="task sequences to run (default both)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    seeds = args.seeds or (1 if args.quick else 3)
    spec = HardwareSpec.preset("mosaic-8x8")
    chip = dict(T=8, per_task=2) if args.quick else dict(T=16, per_task=8)
    t_start = time.perf_counter()
    results, den_logs = {}, {}
    for name in args.scenarios:
        per_seed, sweeps = [], []
        den_logs[name] = []
        for seed in range(seeds):
            grid = [(1, 4.0), (4, 4.0)] if args.quick else ([(r, a) for r in (1, 4, 16) for a in (1.0, 4.0, 16.0)]
                                                            if seed == 0 else [])
            rows, sweep, den_log = run_seed(name, seed, args.quick, spec, chip, grid)
            den_logs[name].append(den_log)
            print(f"[{name} seed {seed} done, {time.perf_counter() - t_start:.0f} s]", file=sys.stderr)
            per_seed.append(rows)
            sweeps.append(sweep)
        agg = aggregate(per_seed)
        results[name] = agg
        print_table(f"{name}: 5 tasks, {seeds} seed(s), mosaic-8x8, T={chip['T']} steps, "
                    f"{chip['per_task']} chip samples per task", agg)
        moe = agg["MoE k-means"]
        print(f"MoE: {moe['experts'][0]:.1f} experts; task-free accuracy (no head mask) {moe['acc_task_free'][0]:.3f}")
        print("LoRA-CL sensitivity (seed 0): rank r x alpha -> avg acc / BWT")
        for (r, a), m in sweeps[0].items():
            print(f"  r={r:<3d} alpha={a:<5g} scale={a / r:<6.3g} acc {m['acc']:.3f}  BWT {m['bwt']:+.3f}")
        for seed, d in enumerate(den_logs[name]):
            print(f"DEN seed {seed}: share of units selected per task {[round(v, 3) for v in d['shares']]}, "
                  f"expansion fired on {d['fired']} of {d['tasks'] - 1} tasks (tau {d['tau']:.4f}), "
                  f"units split per task {d['split']}")
    print(f"\nwall {time.perf_counter() - t_start:.0f} s")
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
    emit("bench_cl", [target("hw_aware_growth_on_pareto_front", len(on) / len(fronts),
                             "1.0 (on the front of every task sequence)", len(on) == len(fronts), fronts=fronts),
                      target("pollution_diagonal_is_one", diag_all, "== 1 for every method", diag_all == 1.0,
                             methods=sorted(diag)),
                      target("den_selected_share", round(lowest, 4), "< 0.8 on at least one task",
                             lowest < 0.8, shares={k: [d["shares"] for d in v] for k, v in den_logs.items()}),
                      target("den_expansion_conditional", fired, f"< {n_later} (fires on fewer tasks than can expand)",
                             fired < n_later, fired={k: [d["fired"] for d in v] for k, v in den_logs.items()})],
         quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
