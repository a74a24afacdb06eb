"""Benchmark of the mapper (issue 16): placement quality, bounds, simulated routing
cost, scale and incremental remapping, every method side by side in one run with
the same time limit.

    python benchmarks/bench_map.py [--quick] [--time-limit S]

Workloads: a 64-128-128-10 spiking MLP (random weights, mosaic.generators) driven by
rate-coded scikit-learn digits, rates measured by mosaic.simulate, on mosaic-4x4 and
mosaic-8x8; a 2048-neuron distance-dependent small-world sheet on mosaic-8x8; a
784-512-512-10 MLP on mosaic-16x16 (uniform rates: 1 spike per source per step); a
16,384-neuron lattice-local sheet on the scaled mosaic-32x32-scaled preset; and a
64,000-neuron one mapped in a child process (wall time and peak resident memory of
that process, chip build included).  Bounds are checked against brute force on tiny
instances.  Then incremental placement of +10% neurons.  Ends with one JSON line
per target (``benchmarks.targets``).

Output: one JSON line per target, {"target": name, "value": ..., "goal": "...", "met": bool, ...}
(``targets.target`` / ``targets.emit``), also written to ``benchmarks/results/<name>.json``.
"""
from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory import peak_rss_gib  # noqa: E402
from targets import emit, target  # noqa: E402

from mosaic import HardwareSpec, SpikingNetwork  # noqa: E402
from mosaic.generators import random_feedforward, small_world  # noqa: E402
from mosaic.simulate import simulate  # noqa: E402
from mapper import map_network  # noqa: E402
from mapper.objective import build_problem, problem_cost  # noqa: E402

METHODS = ("greedy", "random", "partition", "anneal", "cpsat")
SCALED = "mosaic-32x32-scaled"


def digits_spikes(n_samples: int, steps: int, seed: int = 0) -> np.ndarray:
    """(n_samples * steps, 64) Bernoulli spikes with the pixel intensity as probability."""
    from models.datasets import load_dataset      # lazy: models pulls in torch (start-up time)
    x = load_dataset("digits", seed=seed).x_test[:n_samples]
    rng = np.random.default_rng(seed)
    return (rng.random((n_samples, steps, x.shape[1])) < x[:, None, :]).reshape(-1, x.shape[1])


def random_spikes(n_inputs: int, steps: int, p: float = 0.2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((steps, n_inputs)) < p


def local_sheet(n: int, *, k: int = 16, length: float = 2.3, p_long: float = 0.05, n_inputs: int = 32,
                input_fanout: int = 16, weight: float = 0.25, seed: int = 0) -> SpikingNetwork:
    """The small-world sheet at scale: neurons on the lattice of ``sheet_positions(n)``, each with
    ``k`` synapses to lattice neighbours at offsets drawn with probability ~
    exp(-distance / ``length``) (lattice units; 2.3 is ``small_world(2048)``'s 0.05 of
    the unit square), a fraction ``p_long`` rewired to uniform targets.  Vectorised
    (``small_world`` draws per neuron over all n, O(n^2): minutes at 64k)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))                   # the lattice of sheet_positions(n)
    rad = int(np.ceil(6 * length))
    dx, dy = (a.ravel() for a in np.meshgrid(np.arange(-rad, rad + 1), np.arange(-rad, rad + 1)))
    d = np.hypot(dx, dy)
    near = (d > 0) & (d <= rad)
    prob = np.exp(-d[near] / length)
    dx, dy = dx[near], dy[near]
    src = np.repeat(np.arange(n), k)
    pick = rng.choice(dx.size, src.size, p=prob / prob.sum())
    tgt = np.clip(src // side + dy[pick], 0, side - 1) * side + np.clip(src % side + dx[pick], 0, side - 1)
    long = (rng.random(src.size) < p_long) | (tgt >= n) | (tgt == src)
    tgt[long] = rng.integers(0, n, int(long.sum()))
    ok = tgt != src
    sign = np.where(rng.random(int(ok.sum())) < 0.8, 1.0, -1.0)
    w = sp.csr_matrix((weight * sign, (src[ok], tgt[ok])), shape=(n, n))
    ir = np.repeat(np.arange(n_inputs), input_fanout)
    w_in = sp.csr_matrix((np.full(ir.size, 2.0), (ir, rng.integers(0, n, ir.size))), shape=(n_inputs, n))
    return SpikingNetwork(w_in, w, 0.9, 1.0, layer=np.zeros(n, np.int64))


def subnet(net: SpikingNetwork, keep: np.ndarray) -> SpikingNetwork:
    """The network restricted to the neurons ``keep`` (in that order)."""
    return SpikingNetwork(net.w_in[:, keep], net.w[keep][:, keep], net.beta[keep], net.threshold[keep],
                          alpha=net.alpha[keep], bias=net.bias[keep], refractory=net.refractory[keep],
                          reset=net.reset, layer=None if net.layer is None else net.layer[keep])


def simulate_placement(net, spec, core_of, spikes) -> tuple[float, float]:
    """Simulated routing energy (pJ, whole run) and mean step latency (cycles)."""
    r = simulate(net, spec, core_of, spikes, routing="cycle")
    return float(r.energy_pj["routing"]), float(r.step_latency_cycles.mean())


def run_workload(name, net, spec, rates, spikes, time_limit, targets, goal) -> dict:
    """Every method with the same time limit; targets cpsat_vs_greedy / _vs_partition."""
    print(f"\n== {name}: {net.n_neurons} neurons, {net.n_inputs} inputs, {spec.name} "
          f"({spec.n_cores} cores x {spec.neurons_per_core}), time limit {time_limit:g} s per method")
    print(f"{'method':9s} {'objective':>11s} {'x greedy':>8s} {'bound':>10s} {'gap':>6s} {'status':>8s} "
          f"{'wall s':>7s} {'E_route pJ':>11s} {'lat cyc':>7s}")
    res = {m: map_network(net, spec, m, rates=rates, time_limit=time_limit, seed=0) for m in METHODS}
    g = res["greedy"].objective
    sims = {}
    for m, pl in res.items():
        sims[m] = simulate_placement(net, spec, pl.core_of, spikes) if spikes is not None else (np.nan, np.nan)
        print(f"{m:9s} {pl.objective:11.1f} {pl.objective / g:8.3f} {pl.bound:10.1f} {pl.gap:6.1%} "
              f"{pl.status:>8s} {pl.wall_s:7.2f} {sims[m][0]:11.1f} {sims[m][1]:7.2f}")
    print(f"   bound: {res['cpsat'].bound_kind}")
    figures = {"traffic": {m: round(pl.objective, 2) for m, pl in res.items()},
               "routing_pj": {m: round(s[0], 1) for m, s in sims.items()},
               "latency_cycles": {m: round(s[1], 3) for m, s in sims.items()}}
    ratio = res["cpsat"].objective / g
    vs_part = res["cpsat"].objective / res["partition"].objective
    targets.append(target(f"cpsat_vs_greedy_{name}", round(ratio, 4), f"<= {goal}", ratio <= goal, **figures))
    targets.append(target(f"cpsat_vs_partition_{name}", round(vs_part, 4), "<= 0.9", vs_part <= 0.9))
    targets.append(target(f"cpsat_wall_s_{name}", round(res["cpsat"].wall_s, 2), f"<= {1.1 * time_limit:g}",
                          res["cpsat"].wall_s <= 1.1 * time_limit))
    return res


def brute_force_bounds() -> bool:
    """Tiny instances: every method's bound <= the brute-force optimum."""
    spec = HardwareSpec.preset("mosaic-4x4").replace(rows=2, cols=2, neurons_per_core=3)
    ok = True
    for seed in range(3):
        net = random_feedforward([3, 3, 2, 2], p=0.6, recurrent_p=0.2, seed=seed)
        p = build_problem(net, spec)
        best = min(problem_cost(p, np.array(a)) for a in itertools.product(range(4), repeat=net.n_neurons)
                   if np.bincount(a, minlength=4).max() <= 3)
        for m in METHODS:
            pl = map_network(net, spec, m, time_limit=5, seed=0)
            ok &= pl.bound <= best + 1e-9
    print(f"\n== bounds vs brute force on 3 tiny instances: {'valid' if ok else 'VIOLATED'}")
    return ok


def _map_child(n: int, preset: str, time_limit: float, queue) -> None:
    net = local_sheet(n)
    spec = HardwareSpec.preset(preset)
    t = time.perf_counter()
    pl = map_network(net, spec, "cpsat", time_limit=time_limit, seed=0, progress=True)
    wall, peak = time.perf_counter() - t, peak_rss_gib()
    greedy = map_network(net, spec, "greedy").objective           # after the measurement
    queue.put((wall, pl.objective, greedy, pl.extra.get("n_parts"), peak))


def scale_run(n: int, preset: str, time_limit: float, targets, label: str) -> None:
    """Map ``local_sheet(n)`` in a fresh process: wall time (chip build included) and peak RSS."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_map_child, args=(n, preset, time_limit, q))
    proc.start()
    wall, obj, greedy, n_parts, peak_gib = q.get()
    proc.join()
    print(f"\n== scale: {n} neurons on {preset} (time limit {time_limit:g} s, {n_parts} parts): "
          f"{wall:.1f} s, peak resident {peak_gib:.2f} GiB, objective {obj:.0f} ({obj / greedy:.3f} x greedy)")
    targets.append(target(f"map_{label}_wall_s", round(wall, 1), "<= 120", wall <= 120, neurons=n,
                          time_limit_s=time_limit, cpsat_vs_greedy=round(obj / greedy, 4)))
    targets.append(target(f"map_{label}_peak_gib", round(peak_gib, 3), "<= 4", peak_gib <= 4, neurons=n,
                          how="VmHWM of the mapping process (memory.peak_rss_gib)"))


def incremental(name, net, spec, keep_frac, time_limit, rates=None, full=None) -> tuple:
    """Map ``net`` minus 10% of its neurons (10% of every core reserved), then the
    whole net incrementally; returns (placement, wall s, x full, x full with a
    migration budget of the new neurons' number)."""
    n = net.n_neurons
    rng = np.random.default_rng(0)
    n_new = int(round(n * (1 - keep_frac)))
    if net.layer is not None and len(np.unique(net.layer)) > 1:
        # grow the hidden layers: new neurons inserted in the middle of the index range
        hidden = np.flatnonzero(net.layer < net.layer.max())
        new = np.sort(rng.choice(hidden, n_new, replace=False))
    else:
        new = np.arange(n - n_new, n)                     # appended
    keep = np.setdiff1d(np.arange(n), new)
    base = subnet(net, keep)
    base_rates = None if rates is None else np.concatenate([rates[:net.n_inputs], rates[net.n_inputs:][keep]])
    reserve = min(0.1, 1.0 - np.ceil(base.n_neurons / spec.n_cores) / spec.neurons_per_core)
    pl0 = map_network(base, spec, "cpsat", rates=base_rates, time_limit=time_limit, reserve=reserve, seed=0)
    prev = {int(k): int(c) for k, c in zip(keep, pl0.core_of)} if new[0] < n - n_new else pl0.core_of
    method = "cpsat"
    t = time.perf_counter()
    pl = map_network(net, spec, method, rates=rates, previous=prev, time_limit=2.0, seed=0)
    wall = time.perf_counter() - t
    if full is None:
        full = map_network(net, spec, "cpsat", rates=rates, time_limit=time_limit, seed=0)
    moved = map_network(net, spec, method, rates=rates, previous=prev, migration_budget=n_new,
                        time_limit=time_limit, seed=0)                 # the full re-placement's time limit
    rel, rel_m = pl.objective / full.objective, moved.objective / full.objective
    print(f"\n== incremental {name}: {base.n_neurons} -> {n} neurons (+{n_new}) on {spec.name}")
    print(f"   base placed with reserve {reserve:.0%}: objective {pl0.objective:.1f}")
    print(f"   incremental: {pl.extra.get('new_placed_by')} status {pl.status} in {wall * 1000:.1f} ms, "
          f"objective {pl.objective:.1f} (x{rel:.3f} of a full re-placement, {full.objective:.1f})")
    print(f"   with a migration budget of {n_new} neurons: {moved.extra['moved']} moved, objective "
          f"{moved.objective:.1f} (x{rel_m:.3f})")
    return pl, wall, rel, rel_m


def _small_workloads(quick: bool, tl: float, targets) -> dict:
    """The mapping workloads; returns {name: (net, spec, rates array or None, results)}."""
    out = {}
    if quick:
        spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8)
        net = random_feedforward([16, 32, 32, 8], seed=0)
        spikes = random_spikes(net.n_inputs, 40)
        rates = simulate(net, spec, None, spikes, routing="ideal")
        out["mlp_quick_4x4"] = (net, spec, rates, run_workload("mlp_quick_4x4", net, spec, rates, spikes, tl,
                                                               targets, 0.6))
        return out
    mlp = random_feedforward([64, 128, 128, 10], seed=0)
    spikes = digits_spikes(20, 25)
    specs = {k: HardwareSpec.preset(k) for k in ("mosaic-4x4", "mosaic-8x8", "mosaic-16x16", SCALED)}
    rates = simulate(mlp, specs["mosaic-4x4"], None, spikes, routing="ideal")
    for key, goal in (("4x4", 0.6), ("8x8", 0.27)):
        name = f"digits_mlp_{key}"
        out[name] = (mlp, specs[f"mosaic-{key}"], rates,
                     run_workload(name, mlp, specs[f"mosaic-{key}"], rates, spikes, tl, targets, goal))
    sw = small_world(2048, seed=0)
    out["small_world_2048_8x8"] = (sw, specs["mosaic-8x8"], None, run_workload(
        "small_world_2048_8x8", sw, specs["mosaic-8x8"], None, random_spikes(sw.n_inputs, 30), tl, targets, 0.45))
    big = random_feedforward([784, 512, 512, 10], seed=0)
    out["mlp_784_16x16"] = (big, specs["mosaic-16x16"], None, run_workload(
        "mlp_784_16x16", big, specs["mosaic-16x16"], None, random_spikes(784, 20, 0.05), tl, targets, 0.45))
    sheet = local_sheet(16384)
    out["sheet_16k_32x32"] = (sheet, specs[SCALED], None, run_workload(
        "sheet_16k_32x32", sheet, specs[SCALED], None, random_spikes(sheet.n_inputs, 5), tl, targets, 0.6))
    return out


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small instances, short time limits (< 1 min)")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds per method and workload")
    args = ap.parse_args(argv)
    targets: list[dict] = []
    t0 = time.perf_counter()
    tl = args.time_limit or (2.0 if args.quick else 40.0)
    work = _small_workloads(args.quick, tl, targets)
    small = [w[3]["cpsat"].gap for w in work.values() if w[0].n_neurons <= 300]
    targets.append(target("gap_le_300_neurons", round(max(small), 4), "<= 0.40", max(small) <= 0.40))
    valid = all(pl.bound <= pl.objective + 1e-9 for w in work.values() for pl in w[3].values())
    valid &= brute_force_bounds()
    targets.append(target("bound_valid", valid, "bound <= objective of every method; <= brute-force optimum",
                          valid, bound_kind=next(iter(work.values()))[3]["cpsat"].bound_kind))
    if args.quick:
        scale_run(4096, "mosaic-16x16", tl, targets, "4k")
    else:
        scale_run(64000, SCALED, 60.0, targets, "64k")
    rel, rel_m = [], []
    inc = [("mlp_quick_4x4", True)] if args.quick else [("digits_mlp_4x4", True), ("small_world_2048_8x8", False)]
    for name, small in inc:
        net, spec, rates, res = work[name]
        r_all = None if rates is None else np.concatenate([rates.input_rates, rates.rates])
        pl, wall, a, b = incremental(name, net, spec, 0.9, tl, r_all, res["cpsat"])
        rel.append(a)
        rel_m.append(b)
        if small:                          # CP-SAT proves the new neurons' cores
            targets.append(target("incremental_optimal_s", round(wall, 3), "<= 2 and optimal",
                                  wall <= 2.0 and pl.status == "optimal"))
    targets.append(target("incremental_vs_full", round(max(rel), 4), "<= 1.05", max(rel) <= 1.05,
                          note="no migration"))
    targets.append(target("incremental_migration_vs_full", round(max(rel_m), 4), "<= 1.05", max(rel_m) <= 1.05,
                          note="migration budget = number of new neurons"))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    emit("bench_map", targets, quick=args.quick)
    return targets


if __name__ == "__main__":
    main()
