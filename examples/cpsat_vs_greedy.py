"""Map two workloads with CP-SAT, greedy (PACMAN-style chip-order fill) and random placement,
then simulate every placement on the chip.

Workloads: a distance-dependent small-world sheet on mosaic-4x4 (the chip's 512 slots
nearly full) and a random feed-forward MLP 64-128-128-10 on mosaic-8x8.  For every method:
the mapper's traffic cost (spikes x routers per step, measured rates), its lower bound, the
solver time, and from the cycle-approximate simulation the routing energy, total energy, mean
step latency and the busiest router.  Writes, into --out:
  traffic_cost.png               traffic cost per method and workload (relative to greedy)
  router_load_<workload>_<method>.png  router load of greedy and CP-SAT on the chip layout

    python examples/cpsat_vs_greedy.py [--quick] [--out results/cpsat_vs_greedy] [--time-limit S]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mapper import map_network
from mosaic import HardwareSpec
from mosaic_grow.cli import table
from mosaic.generators import random_feedforward, small_world
from mosaic_grow.plots import new_figure, router_heatmap, save
from mosaic.simulate import simulate

METHODS = ("greedy", "random", "cpsat")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller networks, 1 s solver limit, 10 steps")
    ap.add_argument("--out", default="results/cpsat_vs_greedy", help="folder for the PNGs")
    ap.add_argument("--time-limit", type=float, default=None, help="CP-SAT seconds (default 30, quick 1)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    limit = args.time_limit or (1.0 if args.quick else 30.0)
    steps = 10 if args.quick else 50
    workloads = {
        "small_world": (small_world(160 if args.quick else 480, seed=args.seed), HardwareSpec.preset("mosaic-4x4")),
        "mlp": (random_feedforward([64, 64, 64, 10] if args.quick else [64, 128, 128, 10], seed=args.seed),
                HardwareSpec.preset("mosaic-8x8")),
    }
    rows, ratios = [], {}
    for wl, (net, spec) in workloads.items():
        x = np.random.default_rng(args.seed + 1).random((steps, net.n_inputs)) < 0.2
        measured = simulate(net, spec, None, x, routing="ideal")     # spike rates for the objective
        ratios[wl] = {}
        for m in METHODS:
            p = map_network(net, spec, m, rates=measured, time_limit=limit, seed=args.seed)
            rep = simulate(net, spec, p, x, routing="cycle")
            rows.append([wl, spec.name, m, p.objective, p.bound, p.wall_s, rep.energy_pj["routing"] / 1e3,
                         rep.energy_pj["total"] / 1e3, float(rep.step_latency_cycles.mean()),
                         int(rep.router_load.max())])
            ratios[wl][m] = p.objective
            if m != "random":
                router_heatmap(spec, rep.router_load, out / f"router_load_{wl}_{m}.png",
                               title=f"{wl} on {spec.name}, {m} placement")
    print(f"{steps} steps, input rate 0.2, CP-SAT limit {limit:g} s")
    print(table(rows, ["workload", "chip", "method", "traffic cost", "lower bound", "solver (s)", "routing (nJ)",
                       "total (nJ)", "latency (cyc)", "max router load"]))
    fig, (ax,) = new_figure(1, 6, 4)
    w = 0.8 / len(METHODS)
    for i, m in enumerate(METHODS):
        vals = [ratios[wl][m] / ratios[wl]["greedy"] for wl in workloads]
        ax.bar(np.arange(len(workloads)) + i * w, vals, width=w, label=m)
    ax.set_xticks(np.arange(len(workloads)) + w, list(workloads))
    ax.set_ylabel("traffic cost relative to greedy")
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.legend()
    ax.set_title("placement traffic cost (spikes x routers)")
    save(fig, out / "traffic_cost.png")
    for wl in workloads:
        r = ratios[wl]["cpsat"] / ratios[wl]["greedy"]
        print(f"found: on {wl}, CP-SAT's traffic cost is {r:.2f}x greedy's and "
              f"{ratios[wl]['cpsat'] / ratios[wl]['random']:.2f}x random's")
    print(f"plots written to {out}/")


if __name__ == "__main__":
    main()
