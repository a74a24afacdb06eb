"""Hardware-aware growth vs hardware-agnostic growth, judged by accuracy-energy fronts.

On digits and MNIST-1D (``growth.fronts.MLP_WORKLOADS``: spiking MLPs grown from 10-10 in
events of 10 neurons on mosaic-4x4), every strategy gives one point per setting and seed:

- fixed GradMax schedules (hardware-agnostic, round robin) at several final sizes;
- random growth (random layer order, random fan-out) at the same final sizes;
- the hardware-aware controller (growth.controller) at several energy budgets (pJ per
  inference): it grows on a plateau where GradMax's benefit per unit of added chip cost is
  best, never past its budget or the largest fixed size.

Every network is placed by the mapper (incrementally after each growth step) and measured on
the simulated chip (cycle routing).  Prints the points and, per data set, each strategy's
hypervolume against the workload's fixed reference point; writes ``results.json`` and one
front plot per data set to ``--out``.  The same grid, on Dask and resumable, is what
``benchmarks/bench_feedback.py`` runs.  ``--quick``: digits, quick points, one seed.

    python examples/hardware_aware_growth.py            # full: 2 data sets x 3 seeds
    python examples/hardware_aware_growth.py --quick
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from growth import fronts as gf


def run_experiment(workloads=("digits_mlp", "mnist1d_mlp"), seeds=(0, 1, 2), *, quick: bool = False,
                   log=print) -> list[dict]:
    """Every front point of ``workloads`` x strategies x settings x ``seeds``, in this process."""
    points = []
    for w in workloads:
        for seed in seeds:
            for s in gf.STRATEGIES:
                for x in gf.settings(w, s, quick=quick):
                    p = gf.run_point(w, s, x, seed, quick=quick)
                    points.append(p)
                    log(f"{w} seed {seed} {s} {x:g}: accuracy {p['accuracy']:.3f}, {p['energy_pj'] / 1e3:.1f} nJ, "
                        f"{p['n_neurons']} neurons, {p['wall_s']:.0f} s")
    return points


def table(points: list[dict]) -> str:
    head = f"{'workload':<12} {'strategy':<10} {'setting':>9} {'acc %':>11} {'energy nJ':>14} {'neurons':>7} {'viol':>4}"
    lines = [head, "-" * len(head)]
    for key in sorted({(p["workload"], p["strategy"], p["setting"]) for p in points}):
        ps = [p for p in points if (p["workload"], p["strategy"], p["setting"]) == key]
        acc, e = 100 * np.array([p["accuracy"] for p in ps]), np.array([p["energy_pj"] for p in ps]) / 1e3
        lines.append(f"{key[0]:<12} {key[1]:<10} {key[2]:>9g} {acc.mean():>5.1f}+-{acc.std():<4.1f} "
                     f"{e.mean():>7.1f}+-{e.std():<5.1f} {np.mean([p['n_neurons'] for p in ps]):>7.0f} "
                     f"{sum(p['violations'] for p in ps):>4}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="digits, quick points, one seed")
    ap.add_argument("--out", default="results/hardware_aware_growth", help="output directory")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3, quick 1)")
    a = ap.parse_args(argv)
    if a.seeds is not None and a.seeds < 1:
        ap.error(f"--seeds must be >= 1, got {a.seeds}")
    workloads = ("digits_mlp",) if a.quick else ("digits_mlp", "mnist1d_mlp")
    t0 = time.perf_counter()
    points = run_experiment(workloads, tuple(range(a.seeds or (1 if a.quick else 3))), quick=a.quick)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print(table(points))
    summary = {}
    for w in workloads:
        pts = [p for p in points if p["workload"] == w]
        ref = gf.REFERENCES[w](w)
        s = summary[w] = gf.front_summary(pts, ref)
        gf.plot_fronts(pts, ref, out / f"fronts_{w}.png")
        print(f"{w}: hypervolume (nJ x accuracy above chance, reference {ref[0] / 1e3:.0f} nJ, accuracy {ref[1]:g}) "
              + ", ".join(f"{k} {np.mean(v) / 1e3:.1f}" for k, v in s["hypervolume"].items())
              + f"; controller / best other {s['ratio']:.3f}")
    (out / "results.json").write_text(json.dumps({"points": points, "summary": summary}, indent=1, default=float))
    print(f"\nwrote {out / 'results.json'} and the front plots in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
