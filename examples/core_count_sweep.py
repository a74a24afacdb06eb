"""How many cores should a fixed workload be split over?  A core-count sweep on Dask.

The chip keeps 512 neuron slots but splits them into 4 to 64 Mosaic tiles (128 down to 8
neurons per tile); a 400-neuron feed-forward network (64-192-192-16) is mapped with greedy
and CP-SAT and simulated for every seed.  Runs execute on a Dask LocalCluster (one
single-threaded worker process per core) and land in a SQLite store keyed by each run's
config hash, so re-running with the same --out resumes instead of recomputing.  Writes,
into --out: sweep.sqlite, sweep.csv and
  energy_latency_vs_cores.png   energy per run and mean step latency vs number of cores

    python examples/core_count_sweep.py [--quick] [--out results/core_count_sweep] [--workers N]
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from mosaic_grow.cli import table
from mosaic_grow.plots import energy_latency_vs_cores
from mosaic_grow.store import ResultStore
from mosaic_grow.sweep import run_sweep

SLOTS = 512
GRIDS = ((2, 2), (2, 4), (4, 4), (4, 8), (8, 8))


def configs(quick: bool) -> list[dict]:
    grids = GRIDS[1:4] if quick else GRIDS
    methods = ("greedy",) if quick else ("greedy", "cpsat")
    seeds = (0,) if quick else (0, 1, 2)
    out = []
    for rows, cols in grids:
        for method in methods:
            for seed in seeds:
                out.append({"preset": "mosaic-8x8", "grid": f"{rows}x{cols}", "neurons_per_core": SLOTS // (rows * cols),
                            "generator": "random_feedforward", "sizes": [64, 192, 192, 16], "p": 0.3,
                            "rate": 0.2, "steps": 10 if quick else 50, "routing": "cycle", "late": "defer",
                            "method": method, "time_limit": 5.0, "seed": seed})
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 grids, greedy only, one seed, 10 steps")
    ap.add_argument("--out", default="results/core_count_sweep", help="folder for the database and PNGs")
    ap.add_argument("--workers", type=int, default=None, help="Dask worker processes (default: one per core)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with ResultStore(out / "sweep.sqlite") as store:         # resumes: finished runs are skipped
        stats = run_sweep(configs(args.quick), store, workers=args.workers, progress=True)
        store.to_csv(out / "sweep.csv")
        rows = store.rows("ok")
    print(f"{stats.total} runs: {stats.executed} executed ({stats.failed} failed), {stats.skipped} already stored; "
          f"{stats.wall_s:.1f} s")
    energy_latency_vs_cores(rows, out / "energy_latency_vs_cores.png", group="method")
    agg: dict[tuple, list] = defaultdict(list)
    for r in rows:
        agg[(r["n_cores"], r["method"])].append(r)
    lines = []
    for (cores, method), rs in sorted(agg.items()):
        e = np.mean([r["energy_total_pj"] for r in rs]) / 1e3
        share = np.mean([r["energy_routing_pj"] / r["energy_total_pj"] for r in rs])
        lines.append([cores, SLOTS // cores, method, len(rs), e, 100 * share,
                      np.mean([r["latency_mean_cycles"] for r in rs]), np.mean([r["router_load_max"] for r in rs])])
    print(table(lines, ["cores", "neurons/core", "method", "seeds", "energy (nJ)", "routing %", "latency (cyc)",
                        "max router load"]))
    best = min(lines, key=lambda r: r[4])
    print(f"found: the lowest energy is {best[4]:.0f} nJ with {best[0]} cores ({best[2]}); "
          f"routing's share grows from {lines[0][5]:.1f}% to {max(r[5] for r in lines):.1f}% as the cores multiply")
    print(f"plots and data written to {out}/")


if __name__ == "__main__":
    main()
