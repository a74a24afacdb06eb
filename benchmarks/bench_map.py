"""Benchmark of the mapper (issue 5): placement quality, bounds, simulated routing cost
and incremental remapping, every method side by side in one run.

    python benchmarks/bench_map.py [--quick] [--time-limit S]

Workloads: a 64-128-128-10 spiking MLP (random weights, mosaic.generators) driven by
rate-coded scikit-learn digits, rates measured by mosaic.simulate, on mosaic-4x4 and
mosaic-8x8; a 2048-neuron distance-dependent small-world sheet on mosaic-8x8 and a
784-512-512-10 MLP on mosaic-16x16 (uniform rates: 1 spike per source per step).
Then incremental placement of +10% neurons.  Ends with one JSON line per target.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from mosaic import HardwareSpec, SpikingNetwork
from mosaic.generators import random_feedforward, small_world
from mapper import map_network

METHODS = ("greedy", "random", "anneal", "cpsat")


def digits_spikes(n_samples: int, steps: int, seed: int = 0) -> np.ndarray:
    """(n_samples * steps, 64) Bernoulli spikes with the pixel intensity as probability."""
    from models.datasets import load_dataset
    x = load_dataset("digits", seed=seed).x_test[:n_samples]
    rng = np.random.default_rng(seed)
    return (rng.random((n_samples, steps, x.shape[1])) < x[:, None, :]).reshape(-1, x.shape[1])


def random_spikes(n_inputs: int, steps: int, p: float = 0.2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((steps, n_inputs)) < p


def subnet(net: SpikingNetwork, keep: np.ndarray) -> SpikingNetwork:
    """The network restricted to the neurons ``keep`` (in that order)."""
    return SpikingNetwork(net.w_in[:, keep], net.w[keep][:, keep], net.beta[keep], net.threshold[keep],
                          alpha=net.alpha[keep], bias=net.bias[keep], refractory=net.refractory[keep],
                          reset=net.reset, layer=None if net.layer is None else net.layer[keep])


def simulate_placement(net, spec, core_of, spikes):
    from mosaic.simulate import simulate
    r = simulate(net, spec, core_of, spikes, routing="cycle")
    return r.energy_pj["routing"], float(r.step_latency_cycles.mean())


def run_workload(name, net, spec, rates, spikes, time_limit, rows, targets, goal):
    print(f"\n== {name}: {net.n_neurons} neurons, {net.n_inputs} inputs, {spec.name} "
          f"({spec.n_cores} cores x {spec.neurons_per_core})")
    print(f"{'method':8s} {'objective':>11s} {'x greedy':>8s} {'bound':>10s} {'gap':>6s} {'status':>8s} "
          f"{'wall s':>7s} {'E_route pJ':>11s} {'lat cyc':>7s}")
    res = {}
    for m in METHODS:
        tl = time_limit if m in ("anneal", "cpsat") else 1.0
        pl = map_network(net, spec, m, rates=rates, time_limit=tl, seed=0)
        res[m] = pl
    g = res["greedy"].objective
    sims = {}
    for m, pl in res.items():
        e, lat = simulate_placement(net, spec, pl.core_of, spikes) if spikes is not None else (np.nan, np.nan)
        sims[m] = (e, lat)
        print(f"{m:8s} {pl.objective:11.1f} {pl.objective / g:8.3f} {pl.bound:10.1f} {pl.gap:6.1%} "
              f"{pl.status:>8s} {pl.wall_s:7.2f} {e:11.1f} {lat:7.2f}")
    ratio = res["cpsat"].objective / g
    e_ratio = sims["cpsat"][0] / sims["greedy"][0] if spikes is not None and sims["greedy"][0] > 0 else None
    print(f"   bound: {res['cpsat'].bound_kind}")
    if e_ratio is not None:
        print(f"   simulated routing energy cpsat / greedy = {e_ratio:.3f}")
    targets.append({"target": f"cpsat_vs_greedy_{name}", "value": round(ratio, 4), "goal": f"<= {goal}",
                    "met": bool(ratio <= goal)})
    targets.append({"target": f"cpsat_wall_s_{name}", "value": round(res["cpsat"].wall_s, 2), "goal": "<= 60",
                    "met": bool(res["cpsat"].wall_s <= 60)})
    rows[name] = res
    return res


def incremental(name, net, spec, keep_frac, time_limit, exact, rates=None, full=None):
    """Map ``net`` minus 10% of its neurons, then the whole net incrementally."""
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
    # leave 10% of every core free for the growth, or what the chip still allows
    reserve = min(0.1, 1.0 - np.ceil(base.n_neurons / spec.n_cores) / spec.neurons_per_core)
    pl0 = map_network(base, spec, "cpsat", rates=base_rates, time_limit=time_limit, reserve=reserve, seed=0)
    prev = {int(k): int(c) for k, c in zip(keep, pl0.core_of)} if new[0] < n - n_new else pl0.core_of
    t = time.perf_counter()
    pl = map_network(net, spec, "cpsat" if exact else "anneal", rates=rates, previous=prev, time_limit=2.0, seed=0)
    wall = time.perf_counter() - t
    if full is None:
        full = map_network(net, spec, "cpsat", rates=rates, time_limit=time_limit, seed=0)
    # a full re-placement under the same constraints (the same reserve kept for the next growth)
    full_r = map_network(net, spec, "cpsat", rates=rates, time_limit=time_limit, seed=0,
                         reserve=min(reserve, 1.0 - np.ceil(n / spec.n_cores) / spec.neurons_per_core))
    rel = pl.objective / full.objective
    rel_r = pl.objective / full_r.objective
    print(f"\n== incremental {name}: {base.n_neurons} -> {n} neurons (+{n_new}) on {spec.name}")
    print(f"   base placed with reserve {reserve:.0%}: objective {pl0.objective:.1f}, room costs "
          f"{pl0.extra.get('reserve_cost', float('nan')):+.1f} "
          f"({pl0.extra.get('reserve_cost', 0) / max(pl0.objective, 1e-9):+.1%})")
    print(f"   incremental: {pl.extra.get('new_placed_by')} status {pl.status} in {wall * 1000:.1f} ms, "
          f"objective {pl.objective:.1f}")
    print(f"   full re-placement: {full_r.objective:.1f} with the same reserve (incremental x{rel_r:.3f}), "
          f"{full.objective:.1f} without (x{rel:.3f})")
    moved = map_network(net, spec, "cpsat" if exact else "anneal", rates=rates, previous=prev,
                        migration_budget=n_new, time_limit=2.0, seed=0)
    print(f"   with a migration budget of {n_new} neurons: {moved.extra['moved']} moved, objective "
          f"{moved.objective:.1f} (x{moved.objective / full_r.objective:.3f} of the same-reserve re-placement)")
    return pl, wall, rel, rel_r


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small instances, short time limits (< 1 min)")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds per cpsat/anneal run")
    args = ap.parse_args(argv)
    targets: list[dict] = []
    rows: dict = {}
    t0 = time.perf_counter()
    if args.quick:
        tl = args.time_limit or 2.0
        spec = HardwareSpec.preset("mosaic-4x4")
        net = random_feedforward([16, 32, 32, 8], seed=0)
        spikes = random_spikes(net.n_inputs, 40)
        from mosaic.simulate import simulate
        rates = simulate(net, spec, None, spikes, routing="ideal")
        spec_small = spec.replace(neurons_per_core=8)
        res = run_workload("mlp_quick_4x4", net, spec_small, rates, spikes, tl, rows, targets, 0.6)
        gaps = res["cpsat"].gap
        targets.append({"target": "gap_le_300_neurons", "value": round(gaps, 4), "goal": "<= 0.40",
                        "met": bool(gaps <= 0.40)})
        targets.append({"target": "bound_valid", "value": True, "goal": "bound <= objective, all methods",
                        "met": bool(all(p.bound <= p.objective + 1e-9 for p in res.values()))})
        r_all = np.concatenate([rates.input_rates, rates.rates])
        pl, wall, rel, rel_r = incremental("mlp_quick", net, spec_small, 0.9, tl, True, r_all, res["cpsat"])
        targets.append({"target": "incremental_optimal_s", "value": round(wall, 3), "goal": "<= 2 and optimal",
                        "met": bool(wall <= 2.0 and pl.status == "optimal")})
        targets.append({"target": "incremental_vs_full", "value": round(rel, 4), "goal": "<= 1.05",
                        "met": bool(rel <= 1.05)})
        targets.append({"target": "incremental_vs_full_same_reserve", "value": round(rel_r, 4), "goal": "<= 1.05",
                        "met": bool(rel_r <= 1.05)})
    else:
        tl = args.time_limit or 40.0
        mlp = random_feedforward([64, 128, 128, 10], seed=0)
        spikes = digits_spikes(20, 25)
        from mosaic.simulate import simulate
        specs = {k: HardwareSpec.preset(k) for k in ("mosaic-4x4", "mosaic-8x8", "mosaic-16x16")}
        rates = simulate(mlp, specs["mosaic-4x4"], None, spikes, routing="ideal")
        res4 = run_workload("digits_mlp_4x4", mlp, specs["mosaic-4x4"], rates, spikes, tl, rows, targets, 0.6)
        res8 = run_workload("digits_mlp_8x8", mlp, specs["mosaic-8x8"], rates, spikes, tl, rows, targets, 0.27)
        sw = small_world(2048, seed=0)
        res_sw = run_workload("small_world_2048_8x8", sw, specs["mosaic-8x8"], None,
                              random_spikes(sw.n_inputs, 30), tl, rows, targets, 0.45)
        big = random_feedforward([784, 512, 512, 10], seed=0)
        run_workload("mlp_784_16x16", big, specs["mosaic-16x16"], None, random_spikes(784, 20, 0.05), tl, rows,
                     targets, 0.45)
        gaps = [res4["cpsat"].gap, res8["cpsat"].gap]
        targets.append({"target": "gap_le_300_neurons", "value": round(max(gaps), 4), "goal": "<= 0.40",
                        "met": bool(max(gaps) <= 0.40)})
        targets.append({"target": "bound_valid", "value": True, "goal": "bound <= objective, all methods",
                        "met": bool(all(p.bound <= p.objective + 1e-9 for r in rows.values() for p in r.values()))})
        r_all = np.concatenate([rates.input_rates, rates.rates])
        pl, wall, rel, rel_r = incremental("digits_mlp_4x4", mlp, specs["mosaic-4x4"], 0.9, tl, True, r_all,
                                    res4["cpsat"])
        targets.append({"target": "incremental_optimal_s", "value": round(wall, 3), "goal": "<= 2 and optimal",
                        "met": bool(wall <= 2.0 and pl.status == "optimal")})
        rel_all, rel_r_all = [rel], [rel_r]
        pl, wall, rel, rel_r = incremental("small_world_2048", sw, specs["mosaic-8x8"], 0.9, tl, False, None,
                                    res_sw["cpsat"])
        rel_all.append(rel)
        rel_r_all.append(rel_r)
        targets.append({"target": "best_insertion_ms_2048", "value": round(wall * 1000, 1), "goal": "< 100",
                        "met": bool(wall < 0.1)})
        targets.append({"target": "incremental_vs_full", "value": round(max(rel_all), 4), "goal": "<= 1.05",
                        "met": bool(max(rel_all) <= 1.05)})
        targets.append({"target": "incremental_vs_full_same_reserve", "value": round(max(rel_r_all), 4),
                        "goal": "<= 1.05", "met": bool(max(rel_r_all) <= 1.05)})
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    for t in targets:
        print(json.dumps(t))
    return targets


if __name__ == "__main__":
    main()
