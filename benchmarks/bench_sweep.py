"""Sweep throughput on Dask and the cost of the SQLite result store.

A sweep of 2 core counts (Mosaic grids 4x8 and 8x8 of 32-neuron tiles) x 4 seeds of a
1,000-neuron feed-forward network (100 inputs, layers 300-300-300-100) for 10,000 steps on the
cycle-approximate simulator (runs of 2-5 s each on an idle machine, like a real sweep's, so
that the engine's scaling is not lost in warm-up and noise) runs twice, on a LocalCluster of
1 and of 2 single-threaded worker processes (cluster start-up and each worker's first,
compiling run are excluded: every worker is warmed up first).  Printed side by side: wall
time per configuration, the speed-up, the share of a core each worker got while running
(its CPU seconds over wall seconds: on a machine shared with other work the speed-up is
bounded by ``2 x share(2 workers) / share(1 worker)``, printed too), and the result store's
time per run (the client's INSERT transaction) over the run's own time.  Both sweeps must
store the same table.

    python benchmarks/bench_sweep.py [--quick]

Targets (issues 8, 20): speed-up >= 1.7x with 2 workers on 2 cores; store overhead < 5% per
run.  One JSON line each (``benchmarks/targets.py``), also written to
``benchmarks/results/bench_sweep.json`` (``results/quick/`` for ``--quick``).

Output: one JSON line per target, {"target": name, "value": ..., "goal": "...", "met": bool, ...}
(``targets.target`` / ``targets.emit``), also written to ``benchmarks/results/<name>.json``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from mosaic_grow.cli import table
from mosaic_grow.store import ResultStore
from mosaic_grow.sweep import close_client, execute, make_client, run_config, run_sweep
from targets import emit, target

GRIDS = ("4x8", "8x8")
SEEDS = (0, 1, 2, 3)
TIMING = ("wall_s", "map_wall_s", "sim_wall_s", "cpu_s")


def execute_timed(cfg: dict) -> tuple:
    """``mosaic_grow.sweep.execute`` plus the run's CPU seconds (``cpu_s``) in its result: CPU time over
    wall time is the share of a core the worker got (1.0 on an idle machine)."""
    c0 = time.process_time()
    status, result, error, wall = execute(cfg)
    if result is not None:
        result["cpu_s"] = time.process_time() - c0
    return status, result, error, wall


def configs(steps: int) -> list[dict]:
    return [{"preset": "mosaic-8x8", "grid": g, "generator": "random_feedforward",
             "sizes": [100, 300, 300, 300, 100], "p": 0.1, "rate": 0.2, "steps": steps, "routing": "cycle",
             "late": "defer", "method": "fill", "seed": s}
            for g in GRIDS for s in SEEDS]


def warm_up() -> float:
    """Run one small config in this worker (loads the numba kernels); returns its seconds."""
    t0 = time.perf_counter()
    run_config({"preset": "mosaic-4x4", "grid": "2x2", "generator": "random_feedforward", "sizes": [8, 16, 8],
                "rate": 0.5, "steps": 5, "method": "fill", "seed": 0})
    return time.perf_counter() - t0


def sweep_with(n_workers: int, cfgs: list[dict], db: Path) -> dict:
    client = make_client(workers=n_workers)
    try:
        client.wait_for_workers(n_workers)
        client.run(warm_up)
        with ResultStore(db) as store:
            stats = run_sweep(cfgs, store, client=client, progress=False, run=execute_timed)
            all_rows = store.rows()
            rows = [{k: v for k, v in r.items() if k not in TIMING} for r in all_rows]
    finally:
        close_client(client)
    cpu_share = sum(r["cpu_s"] for r in all_rows) / sum(r["wall_s"] for r in all_rows)
    return {"stats": stats, "rows": rows, "cpu_share": cpu_share}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (100 steps instead of 10000)")
    args = ap.parse_args(argv)
    cfgs = configs(100 if args.quick else 10000)
    print(f"sweep: {len(cfgs)} runs ({len(GRIDS)} core counts x {len(SEEDS)} seeds), {cfgs[0]['steps']} steps "
          f"each, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        res = {n: sweep_with(n, cfgs, Path(tmp) / f"w{n}.sqlite") for n in (1, 2)}
    s1, s2 = res[1]["stats"], res[2]["stats"]
    same = res[1]["rows"] == res[2]["rows"]
    speedup = s1.wall_s / s2.wall_s
    per_run = s1.run_s / s1.executed
    store_per_run = s1.store_s / s1.executed
    overhead = store_per_run / per_run
    share1, share2 = res[1]["cpu_share"], res[2]["cpu_share"]
    bound = 2 * share2 / share1
    print(table([["1 worker", s1.executed, s1.failed, s1.wall_s, s1.wall_s / len(cfgs), s1.store_s / s1.executed * 1e3],
                 ["2 workers", s2.executed, s2.failed, s2.wall_s, s2.wall_s / len(cfgs), s2.store_s / s2.executed * 1e3]],
                ["cluster", "runs", "failed", "wall (s)", "wall per run (s)", "store per run (ms)"]))
    print(f"mean run time: {per_run:.3f} s with 1 worker, {s2.run_s / s2.executed:.3f} s with 2; share of a core "
          f"each worker got while running: {share1:.2f} (1 worker), {share2:.2f} (2 workers) - below 1.0 the "
          f"workers compete with other processes; load average now {os.getloadavg()[0]:.1f}")
    print(f"speed-up 2 vs 1 worker: {speedup:.2f}x (the core shares allow {bound:.2f}x: scaling efficiency "
          f"{speedup / bound:.2f}); store {store_per_run * 1e3:.2f} ms per run ({100 * overhead:.2f}%); "
          f"identical tables: {same}")
    if not same:
        print("WARNING: the 1- and 2-worker sweeps stored different results")
    emit("bench_sweep", [
        target("sweep_speedup_2_workers", round(speedup, 4), ">= 1.7", speedup >= 1.7,
               core_share_1_worker=round(share1, 3), core_share_2_workers=round(share2, 3),
               speedup_allowed_by_core_shares=round(bound, 3), mean_run_s=round(per_run, 3),
               identical_tables=same),
        target("sweep_store_overhead_per_run", round(overhead, 4), "< 0.05", overhead < 0.05),
    ], quick=args.quick)


if __name__ == "__main__":
    main()
