"""Benchmark of the network-on-chip under synthetic traffic (issue 19), as NoC engineers do it.

    python benchmarks/bench_noc.py [--quick] [--out noc.json] [--plot noc.png]

1. Latency-throughput curves (``mosaic.noc.characterise``): mosaic-8x8 and mesh-8x8 at
   bandwidth 1, buffer depth 8, every pattern (uniform, transpose, bit complement, hotspot,
   nearest neighbour, multicast); uniform traffic also at depth 4 and 16, bandwidth 2, and with
   two virtual channels per port (2 x 4 and 2 x 8 packets).
   Each curve: offered loads up to 1.1 x the pattern's channel-load bound, the saturation
   throughput by bisection (mean latency > 3x zero-load or accepted < 95% of offered).
2. Saturation vs the bisection bound for uniform traffic (``mosaic.noc.bisection_bound``:
   4 (R+1) b / R^2 on an R x R Mosaic, 4 b / R on a mesh), with the routing's own limit
   (``channel_load_bound``) to tell the routing's share of a shortfall from the router's.
3. Zero-load latency: uniform traffic at 0.002 packets per tile per cycle over 100,000
   cycles; mean latency against mean hops x cycles_per_hop, of the packets sent and over all
   tile pairs.
4. Conservation: every run delivered every packet and every copy, and the loads add up.

Ends with one JSON line per target (``benchmarks/targets.py``), also written to
``benchmarks/results/bench_noc.json`` (``results/quick/`` for ``--quick``).

Output: one JSON line per target, {"target": name, "value": ..., "goal": "...", "met": bool, ...}
(``targets.target`` / ``targets.emit``), also written to ``benchmarks/results/<name>.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mosaic import HardwareSpec
from mosaic.noc import PATTERNS, Traffic, characterise, simulate_traffic
from targets import emit, target

PRESETS = ("mosaic-8x8", "mesh-8x8")
# (bandwidth, buffer depth, virtual channels) of the extra uniform curves: buffer depth, bandwidth,
# and virtual channels at the same storage per port (2 x 4) and at twice it (2 x 8, as 1 x 16)
VARIANTS = ((1, 4, 1), (1, 16, 1), (2, 8, 1), (1, 4, 2), (1, 8, 2))
ZERO_LOAD_RATE = 0.002


def curves(quick: bool) -> list[dict]:
    """Every curve of the benchmark (see the module docstring)."""
    phases = {"warmup": 300, "measure": 800, "drain": 800} if quick else {}
    tr = Traffic(**phases)
    base = [HardwareSpec.preset(p) for p in PRESETS]
    patterns = ("uniform", "transpose") if quick else PATTERNS
    out = characterise(base, patterns, tr, iters=4 if quick else 7, progress=True)
    if not quick:
        extra = [s.replace(bandwidth=b, buffer_depth=d, virtual_channels=v) for s in base for b, d, v in VARIANTS]
        out += characterise(extra, ("uniform",), tr, progress=True)
    return out


def zero_load(quick: bool) -> dict:
    """Uniform traffic near zero load on each preset: mean latency against the mean hops x
    cycles_per_hop of the packets sent (``hop_error``) and over all tile pairs (``rel_error``;
    it includes the sampling noise of the destinations, 0.4% at 100,000 cycles)."""
    out = {}
    for p in PRESETS:
        run = simulate_traffic(HardwareSpec.preset(p), Traffic(rate=ZERO_LOAD_RATE, warmup=200,
                                                               measure=10000 if quick else 100000, drain=1000))
        out[p] = {**run.summary(), "hop_error": abs(run.latency_mean / run.hop_latency - 1),
                  "rel_error": abs(run.latency_mean / run.zero_load_latency - 1)}
    return out


def saturation_target(name: str, curve: dict) -> dict:
    sat, bound, limit = curve["saturation"], curve["bisection_bound"], curve["channel_bound"]
    ratio = sat / bound
    return target(name, round(ratio, 4), ">= 0.7 (saturation / bisection bound, b=1, depth 8)", ratio >= 0.7,
                  saturation=round(sat, 4), bisection_bound=round(bound, 4), channel_bound=round(limit, 4),
                  saturation_vs_channel_bound=round(sat / limit, 4))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="uniform and transpose only, short phases (< 1 min)")
    ap.add_argument("--out", type=Path, help="write every curve and the zero-load runs as JSON here")
    ap.add_argument("--plot", type=Path, help="draw the latency-throughput curves (PNG) with mosaic_grow.plots")
    args = ap.parse_args(argv)
    for opt, path in (("--out", args.out), ("--plot", args.plot)):
        if path is not None and not path.parent.is_dir():
            ap.error(f"{opt}: folder {str(path.parent)!r} does not exist")
    t0 = time.perf_counter()
    cs = curves(args.quick)
    zl = zero_load(args.quick)
    wall = time.perf_counter() - t0
    base = {(c["topology"], c["pattern"]): c for c in cs
            if (c["bandwidth"], c["buffer_depth"], c["virtual_channels"]) == (1, 8, 1)}
    for c in cs:
        print(f"  {c['spec']:<11} b{c['bandwidth']} d{c['buffer_depth']:<3} v{c['virtual_channels']} {c['pattern']:<10} "
              f"zero-load {c['zero_load_latency']:6.2f} cyc  saturation {c['saturation']:.4f}  "
              f"channel bound {c['channel_bound']:.4f}  bisection bound {c['bisection_bound']:.4f}")
    for p, z in zl.items():
        print(f"  zero load {p}: latency {z['latency_mean']:.3f} vs hops x cph {z['hop_latency']:.3f} of the "
              f"packets sent ({100 * z['hop_error']:.2f}%), {z['zero_load_latency']:.3f} over all pairs "
              f"({100 * z['rel_error']:.2f}%)")
    print(f"  {len(cs)} curves, {sum(len(c['runs']) for c in cs)} runs plus saturation searches in {wall:.0f} s")
    if args.out:
        args.out.write_text(json.dumps({"curves": cs, "zero_load": zl, "wall_s": wall}))
    plotted = 0
    if args.plot is not None:
        from mosaic_grow import plots          # lazy: matplotlib only when a plot is asked for
        plots.noc_curves(cs, args.plot)
        plotted = len(base)
        print(f"  wrote {args.plot}")
    want = {(t, p) for t in ("mosaic", "mesh") for p in (("uniform", "transpose") if args.quick else PATTERNS)}
    zl_ok = all(z["rel_error"] <= 0.02 and z["hop_error"] <= 0.02 for z in zl.values())
    conserved = all(c["conserved"] for c in cs) and all(z["conserved"] for z in zl.values())
    emit("bench_noc", [
        saturation_target("uniform_saturation_vs_bound_mosaic_8x8", base[("mosaic", "uniform")]),
        saturation_target("uniform_saturation_vs_bound_mesh_8x8", base[("mesh", "uniform")]),
        target("zero_load_latency_matches_hops", zl_ok, "== true (mean latency within 2% of mean hops x "
               "cycles_per_hop, of the packets sent and over all pairs)", zl_ok,
               rel_error={p: round(z["rel_error"], 5) for p, z in zl.items()},
               hop_error={p: round(z["hop_error"], 5) for p, z in zl.items()}),
        target("conservation_all_runs", conserved, "== true", conserved, curves=len(cs)),
        target("curves_per_pattern_and_topology", len(set(base) & want), f"== {len(want)} (one per pattern "
               "and topology in the plot)", set(base) >= want and (args.plot is None or plotted == len(want)),
               plotted=args.plot is not None),
    ], quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
