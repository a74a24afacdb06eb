"""Hardware-aware growth vs hardware-agnostic growth schedules, on the simulated chip.

On digits and MNIST-1D, on mosaic-4x4 and mosaic-8x8, a spiking MLP grows from hidden
sizes 10-10 towards the same final neuron budget 50-50 in events of 10 neurons:

- fixed GradMax schedules (hardware-agnostic): round-robin and layer-by-layer;
- random growth: a random layer order with random fan-out;
- the hardware-aware controller (growth.controller): grows on a plateau, where GradMax's
  benefit per unit of added chip cost is best, never past its budgets.  Its energy budget
  is ``--budget`` (default 0.7) x the mean final energy per inference of the fixed
  schedules on the same chip, data set and seed; its port budget is saturation (1.0).

Every network is placed by the mapper (incrementally after each growth step) and measured
on the simulated chip (``mosaic.simulate``, energy per inference averaged over test
samples).  Writes a table, ``results.json`` and a Pareto plot (accuracy vs energy per
inference) to ``--out``.  ``--quick``: digits, mosaic-4x4, one seed, few steps.

    python examples/hardware_aware_growth.py            # full: 2 data sets x 2 chips x 3 seeds
    python examples/hardware_aware_growth.py --quick
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from growth.controller import ControllerConfig, PlateauRule
from growth.metrics import pareto_mask
from growth.schedules import layer_by_layer, random_path, round_robin
from growth.score import RunConfig, grow_with_controller, score_schedules
from models.datasets import load_dataset
from mosaic.cost import CostBudget
from mosaic.spec import HardwareSpec

ROOT, TARGET, K = (10, 10), (50, 50), 10
FIXED = ("gradmax-round-robin", "gradmax-layer-by-layer")


def _record(dataset, preset, seed, strategy, score, n_classes: int) -> dict:
    f = score.final
    return {"dataset": dataset, "preset": preset, "seed": seed, "strategy": strategy, "n_classes": n_classes,
            "sizes": f["sizes"][:-1], "accuracy": f["accuracy"], "energy_pj": f["energy_pj"],
            "model_energy_pj": f["model_energy_pj"], "latency_ns": f["latency_ns"],
            "port_use": f["port_use"], "cores": f["cores"], "budget": score.budget,
            "violations": score.violations, "events": [list(e) for e in score.events],
            "wall_s": score.wall_s}


def run_experiment(datasets=("digits", "mnist1d"), presets=("mosaic-4x4", "mosaic-8x8"), seeds=(0, 1, 2), *,
                   steps: int = 150, budget_fraction: float = 0.7, n_sim: int = 8,
                   progress: bool = True, log=print) -> list[dict]:
    """One record per (data set, chip, seed, strategy): the final network's figures."""
    torch.set_num_threads(1)
    specs = [HardwareSpec.preset(p) for p in presets]
    records: list[dict] = []
    n_events = sum((b - a) // K for a, b in zip(ROOT, TARGET))
    for dname in datasets:
        for seed in seeds:
            data = load_dataset(dname, seed=seed)
            cfg = RunConfig(steps=steps, batch_size=256, lr=1e-2, n_sim=n_sim, mapping="anneal",
                            time_limit=0.2, seed=seed, progress=progress)
            grow_steps = int(0.8 * steps)          # leave the last 20% of training to settle
            schedules = {
                "gradmax-round-robin": (round_robin(ROOT, TARGET, K, grow_steps), "gradmax"),
                "gradmax-layer-by-layer": (layer_by_layer(ROOT, TARGET, K, grow_steps), "gradmax"),
                "random": (random_path(ROOT, TARGET, K, grow_steps, seed=seed), "random"),
            }
            for name, (sched, method) in schedules.items():
                t0 = time.perf_counter()
                for spec, score in zip(specs, score_schedules(sched, specs, None, data, config=cfg, method=method)):
                    records.append(_record(dname, spec.name, seed, name, score, data.n_classes))
                log(f"{dname} seed {seed} {name}: {time.perf_counter() - t0:.0f} s")
            for spec in specs:
                fixed_e = [r["energy_pj"] for r in records if r["dataset"] == dname and r["seed"] == seed
                           and r["preset"] == spec.name and r["strategy"] in FIXED]
                budget = CostBudget(energy_pj=budget_fraction * float(np.mean(fixed_e)), port_use=1.0,
                                    cores=spec.n_cores)
                ccfg = ControllerConfig(k_options=(K,), max_sizes=TARGET, check_every=5,
                                        plateau=PlateauRule(window=1, eps=0.25), margin=0.95, T=cfg.T,
                                        mapping=cfg.mapping, time_limit=cfg.time_limit, seed=seed)
                t0 = time.perf_counter()
                score = grow_with_controller(spec, budget, data, ROOT, controller=ccfg, config=cfg,
                                             grow_until=0.8)
                rec = _record(dname, spec.name, seed, "controller", score, data.n_classes)
                rec["log"] = score.log
                records.append(rec)
                log(f"{dname} seed {seed} controller on {spec.name}: {time.perf_counter() - t0:.0f} s, "
                    f"{len(score.events)} growth events (fixed schedules: {n_events})")
    return records


def summarize(records: list[dict]) -> list[dict]:
    """Mean and std over seeds per (data set, chip, strategy)."""
    out = []
    keys = sorted({(r["dataset"], r["preset"], r["strategy"]) for r in records})
    for d, p, s in keys:
        rs = [r for r in records if (r["dataset"], r["preset"], r["strategy"]) == (d, p, s)]
        acc = np.array([r["accuracy"] for r in rs]) * 100
        e = np.array([r["energy_pj"] for r in rs]) / 1e3
        out.append({"dataset": d, "preset": p, "strategy": s, "n": len(rs),
                    "acc": float(acc.mean()), "acc_std": float(acc.std()),
                    "energy_nj": float(e.mean()), "energy_std": float(e.std()),
                    "latency_us": float(np.mean([r["latency_ns"] for r in rs]) / 1e3),
                    "port_use": float(np.max([r["port_use"] for r in rs])),
                    "neurons": float(np.mean([sum(r["sizes"]) for r in rs])),
                    "violations": int(sum(len(r["violations"]) for r in rs))})
    return out


def table(summary: list[dict]) -> str:
    head = (f"{'data':<8} {'chip':<11} {'strategy':<23} {'acc %':>11} {'energy nJ':>14} "
            f"{'lat us':>7} {'port':>7} {'hidden':>6} {'viol':>4}")
    lines = [head, "-" * len(head)]
    for r in summary:
        lines.append(f"{r['dataset']:<8} {r['preset']:<11} {r['strategy']:<23} "
                     f"{r['acc']:>5.1f}+-{r['acc_std']:<4.1f} {r['energy_nj']:>7.1f}+-{r['energy_std']:<5.1f} "
                     f"{r['latency_us']:>7.2f} {r['port_use']:>7.4f} {r['neurons']:>6.0f} {r['violations']:>4}")
    return "\n".join(lines)


def pareto_plot(summary: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    cells = sorted({(r["dataset"], r["preset"]) for r in summary})
    fig, axes = plt.subplots(1, len(cells), figsize=(4.2 * len(cells), 3.6), squeeze=False)
    marks = {"gradmax-round-robin": "o", "gradmax-layer-by-layer": "s", "random": "^", "controller": "*"}
    for ax, (d, p) in zip(axes[0], cells):
        rs = [r for r in summary if (r["dataset"], r["preset"]) == (d, p)]
        front = set(np.flatnonzero(pareto_mask([r["energy_nj"] for r in rs], [r["acc"] for r in rs])).tolist())
        for i, r in enumerate(rs):
            ax.errorbar(r["energy_nj"], r["acc"], xerr=r["energy_std"], yerr=r["acc_std"],
                        fmt=marks.get(r["strategy"], "x"), ms=11 if r["strategy"] == "controller" else 7,
                        label=r["strategy"], mfc="none" if i not in front else None)
        ax.set_title(f"{d} on {p}")
        ax.set_xlabel("energy per inference (nJ, simulated chip)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle("accuracy vs energy (filled: on the Pareto front)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="digits, mosaic-4x4, one seed, 60 steps")
    ap.add_argument("--out", default="results/hardware_aware_growth", help="output directory")
    ap.add_argument("--steps", type=int, default=None, help="training steps per run (default 150, quick 60)")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3, quick 1)")
    ap.add_argument("--budget", type=float, default=0.7,
                    help="controller energy budget as a fraction of the fixed schedules' energy")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    if not 0 < a.budget <= 10:
        ap.error(f"--budget must be a positive fraction, got {a.budget}")
    quick = a.quick
    kw = dict(datasets=("digits",) if quick else ("digits", "mnist1d"),
              presets=("mosaic-4x4",) if quick else ("mosaic-4x4", "mosaic-8x8"),
              seeds=tuple(range(a.seeds or (1 if quick else 3))), steps=a.steps or (60 if quick else 150),
              budget_fraction=a.budget, n_sim=4 if quick else 8, progress=not a.no_progress)
    t0 = time.perf_counter()
    records = run_experiment(**kw)
    summary = summarize(records)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"config": {k: v for k, v in kw.items()}, "records": records,
                                                  "summary": summary}, indent=1, default=float))
    pareto_plot(summary, out / "pareto.png")
    print(table(summary))
    print(f"\nwrote {out / 'results.json'} and {out / 'pareto.png'} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
