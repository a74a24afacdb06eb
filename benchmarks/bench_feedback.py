"""Benchmark of the cost feedback: accuracy-energy fronts of hardware-aware growth vs fixed
GradMax schedules and random growth, budgets, the Mosaic-scale workload's routing share, and
the speed of the analytic cost model.

1. Cost model on mosaic-8x8 at 2,048 neurons: one growth candidate (10 neurons added to the
   first hidden layer of a 64-1009-1019-10 network) answered by ``delta_cost`` vs a full
   ``estimate_cost``, the per-source reference loop and a simulation of the same network; and
   the model's energy vs the simulator's on that run.
2. The front grid (``growth.fronts``): per workload, strategy (fixed GradMax schedules at
   several final sizes, random growth at the same sizes, the controller at several energy
   budgets) and seed one point, run as a ``mosaic sweep`` ([front] kind: Dask LocalCluster,
   SQLite store, resumable) into ``--db`` (default ``results/bench_feedback/fronts.sqlite``,
   resumed if it exists).  Full: 5 seeds; ``--quick``: digits, the smallest and largest
   setting of each strategy, quick points, 2 seeds.  Per workload: per seed the hypervolume of
   each strategy's points against a fixed reference point (``growth.fronts.REFERENCES``: chance
   accuracy and the cost model's rate bound of the largest network any method may build: it
   depends on neither the points nor the methods), the controller's over the best other
   strategy's (mean over seeds), the paired t-test p-value over seeds, one figure with the three
   fronts, and the same ratio with every point's routing energy re-priced at each router/synapse
   energy ratio (the growth benefit against the ratio; decisions taken at the preset's ratio).
   Budget violations: every network the controller accepted, simulated with cycle routing.
3. The Mosaic-scale workload of ``examples/mosaic_workload.py`` (a recurrent SNN filling
   mosaic-8x8; ``--quick``: filling mosaic-4x4), or its saved ``results.json``
   (``--workload-json``): the routing share of energy at the preset's router/synapse energy
   ratio, and the ratio at which it reaches 0.2; the designer's plot (routing share, mapping
   benefit, growth benefit against the ratio).

Ends with one JSON line per target of the issue; a workload whose front runner is not
registered in ``growth.fronts.RUNNERS`` is reported ``"met": false`` with a note.

The grid's finished points are kept in ``benchmarks/results/bench_feedback_points.jsonl.gz``
(checked in): a full run imports them into its store first and exports the store's points
there at the end, so the grid resumes on another machine.  A partial run (``--workloads``
some of them, ``--no-workload``) with ``--carry-over`` keeps the previous full run's lines
for what it did not measure, marked ``"carried_over": true``.

    python benchmarks/bench_feedback.py [--quick] [--db results/bench_feedback/fronts.sqlite]
                                        [--workload-json results/mosaic_workload/results.json]
                                        [--workloads W ...] [--no-workload] [--carry-over]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from targets import emit, load, target

from growth import fronts as gf
from growth.controller import grown_index, layered_network
from mapper import map_network
from growth.recurrent_front import benefit_rank_correlation
from mosaic import HardwareSpec
from mosaic.cost import cost_reference, delta_cost, estimate_cost
from mosaic.simulate import simulate
from mosaic_grow.store import config_hash
from mosaic_grow.sweep import expand, open_store, parse_config, run_sweep


ROOT = Path(__file__).resolve().parents[1]
MIN_RECORDS = 5            # growths of one candidate type needed for its rank correlation
WORKLOADS = ("digits_mlp", "mnist1d_mlp", "smnist_recurrent", "mosaic_workload")   # the issue's
RECURRENT = ("smnist_recurrent", "mosaic_workload")
SEEDS, QUICK_SEEDS = 5, 2
POINTS = ROOT / "benchmarks" / "results" / "bench_feedback_points.jsonl.gz"   # the grid's points (full runs)
CARRIED = ("carried over from the previous full run's results file (not measured in this run; the "
           "grid's points of that run were not kept)")

def _example(name: str):
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench_cost_model(quick: bool) -> dict:
    spec = HardwareSpec.preset("mosaic-8x8")
    sizes, n_in, T = [1009, 1019, 10], 64, 10          # +10 neurons fills the 2,048 slots
    rng = np.random.default_rng(0)
    net = layered_network(n_in, sizes)
    rates = rng.uniform(0.0, 0.2, net.n_neurons)
    x = np.where(rng.random((T, n_in)) < 0.5, rng.random((T, n_in)), 0.0)
    in_rates = (x != 0).mean(0)
    core = map_network(net, spec, method="greedy").core_of
    base = estimate_cost(net, spec, core, rates, in_rates, T=T, analog_input=True)
    old = grown_index(sizes, 0, 10)
    big = layered_network(n_in, [sizes[0] + 10, *sizes[1:]])
    prev = np.where(old >= 0, core[np.maximum(old, 0)], -1)
    core2 = map_network(big, spec, method="greedy", previous=prev).core_of
    rates2 = np.where(old >= 0, rates[np.maximum(old, 0)], rates[:sizes[0]].mean())
    hint = big.n_neurons + np.arange(n_in)           # growing layer 0: only the inputs gain targets
    delta_cost(base, big, core2, rates2, in_rates, old_index=old, sources=hint)      # compile
    delta_cost(base, big, core2, rates2, in_rates, old_index=old)
    rep = 5 if quick else 30
    t_delta = _ms(lambda: delta_cost(base, big, core2, rates2, in_rates, old_index=old, sources=hint), rep)
    t_nohint = _ms(lambda: delta_cost(base, big, core2, rates2, in_rates, old_index=old), rep)
    t_full = _ms(lambda: estimate_cost(big, spec, core2, rates2, in_rates, T=T, analog_input=True), rep)
    t_ref = _ms(lambda: cost_reference(big, spec, core2, rates2, in_rates, T=T, analog_input=True), 1)
    sim = simulate(big, spec.replace(step_cycles=100_000), core2, x)
    t_sim = _ms(lambda: simulate(big, spec.replace(step_cycles=100_000), core2, x), 1 if quick else 3)
    model = estimate_cost(big, spec, core2, sim.rates, in_rates, T=T, analog_input=True)
    d = delta_cost(base, big, core2, rates2, in_rates, old_index=old, sources=hint)
    f = estimate_cost(big, spec, core2, rates2, in_rates, T=T, analog_input=True)
    err = abs(model.energy_pj["total"] - sim.energy_pj["total"]) / sim.energy_pj["total"]
    print(f"cost model on {spec.name}: {big.n_neurons} neurons, {big.n_synapses} synapses, one candidate (+10 neurons)")
    same = abs(d.energy_pj['total'] - f.energy_pj['total']) < 1e-6 * f.energy_pj['total']
    print(f"  delta_cost      {t_delta:9.2f} ms   (with the controller's sources hint; = estimate_cost: {same})")
    print(f"  delta, no hint  {t_nohint:9.2f} ms   ({t_nohint / t_delta:.1f}x the delta)")
    print(f"  estimate_cost   {t_full:9.2f} ms   ({t_full / t_delta:.1f}x the delta)")
    print(f"  reference loop  {t_ref:9.2f} ms   ({t_ref / t_delta:.0f}x the delta)")
    print(f"  simulate T={T:<3}  {t_sim:9.2f} ms   ({t_sim / t_delta:.0f}x the delta)")
    print(f"  energy model vs simulator (simulator's rates): {model.energy_pj['total'] / 1e3:.1f} vs "
          f"{sim.energy_pj['total'] / 1e3:.1f} nJ, error {100 * err:.2f}%")
    return {"delta_ms": t_delta, "full_ms": t_full, "ref_ms": t_ref, "sim_ms": t_sim, "energy_err": err}


def front_doc(workloads, seeds: int, quick: bool) -> dict:
    """The sweep config of the grid ([front] kind of ``mosaic_grow.sweep``)."""
    return {"front": {"workloads": list(workloads), "strategies": list(gf.STRATEGIES), "quick": quick},
            "sweep": {"seeds": list(range(seeds))}}


def _toml(doc: dict) -> str:
    f, s = doc["front"], doc["sweep"]
    return (f"[front]\nworkloads = {json.dumps(f['workloads'])}\nstrategies = {json.dumps(f['strategies'])}\n"
            f"quick = {'true' if f['quick'] else 'false'}\n\n[sweep]\nseeds = {json.dumps(s['seeds'])}\n")


def seed_groups(workloads, seeds: int, overrides) -> dict[int, list[str]]:
    """Workloads grouped by their number of seeds (``--seeds``, or ``--seeds-of W=N``)."""
    per = {w: seeds for w in workloads}
    for item in overrides or ():
        w, _, n = item.partition("=")
        if w not in per or not n.isdigit() or int(n) < 1:
            raise SystemExit(f"bench_feedback: --seeds-of wants WORKLOAD=N with WORKLOAD one of {workloads} "
                             f"and N >= 1, got {item!r}")
        per[w] = int(n)
    groups: dict[int, list[str]] = {}
    for w, n in per.items():
        groups.setdefault(n, []).append(w)
    return groups


def run_grid(db: Path, groups: dict[int, list[str]], quick: bool, workers: int,
             points_file: Path | None = None) -> tuple[list[dict], dict]:
    """Run (or resume) the grid's sweep into ``db``; returns the stored points and the stats.
    The config of each seed group is also written beside ``db`` (``front.toml``, then
    ``front-<n>seeds.toml`` for the others), so ``mosaic sweep <file> --db ... --resume``
    continues it.  ``points_file``: the grid's points of earlier runs (``POINTS``, checked in)
    are imported into ``db`` first (the sweep skips them), and every finished point of ``db``
    is exported there at the end, so a run on another machine resumes the grid."""
    docs = {n: front_doc(ws, n, quick) for n, ws in groups.items()}
    db.parent.mkdir(parents=True, exist_ok=True)
    for i, (n, doc) in enumerate(docs.items()):
        (db.parent / ("front.toml" if i == 0 else f"front-{n}seeds.toml")).write_text(_toml(doc))
    configs = [c for doc in docs.values() for c in expand(parse_config(doc, where="bench_feedback grid"))]
    # seed-major order: a run stopped early leaves whole seeds (every strategy), not whole strategies
    configs.sort(key=lambda c: c["seed"])
    mine = {config_hash(c) for c in configs}              # the store may hold other seeds' points too
    with open_store(db, resume=db.exists()) as store:
        store.set_meta("config:front.toml", "\n".join(_toml(doc) for doc in docs.values()))
        imported = store.import_points(points_file, only=mine) if points_file and points_file.exists() else 0
        st = run_sweep(configs, store, workers=workers, progress=True)
        points = [r["result"] for r in store.records("ok") if r["hash"] in mine]
        if points_file:
            store.export_points(points_file)
    stats = {"runs": st.total, "skipped": st.skipped, "executed": st.executed, "failed": st.failed,
             "wall_s": st.wall_s, "run_s": st.run_s, "errors": st.errors[:5], "imported": imported}
    return points, stats


def reference(workload: str, points: list[dict]) -> tuple[tuple[float, float], str]:
    """The workload's registered reference point, else 1.1 x its largest energy over all
    points and chance accuracy (said in the note)."""
    if workload in gf.REFERENCES:
        e, a = gf.REFERENCES[workload](workload)
        return (e, a), f"reference point: chance accuracy {a:.3g}, {e / 1e3:.1f} nJ (rate bound of the largest network)"
    e, a = 1.1 * max(p["energy_pj"] for p in points), 1.0 / points[0]["n_classes"]
    return (e, a), f"reference point: chance accuracy {a:.3g}, {e / 1e3:.1f} nJ (1.1 x the largest energy: no registered reference)"


def analyse_fronts(points: list[dict], workloads, out: Path, ratios) -> tuple[dict, list[dict]]:
    """Per workload with points: the front summary, its figure and the ratio sweep of the
    growth benefit (controller / best other hypervolume with re-priced routing energy)."""
    res, growth_rows = {}, []
    for w in workloads:
        pts = [p for p in points if p["workload"] == w]
        if not pts:
            continue
        ref, note = reference(w, pts)
        fs = gf.front_summary(pts, ref)
        fig = out / f"fronts_{w}.png"
        gf.plot_fronts(pts, ref, fig, title=f"{w} on {pts[0]['preset']}: {len(fs['seeds'])} seeds, "
                                            f"controller / best other {fs['ratio']:.3f}")
        res[w] = {**fs, "ref": ref, "note": note, "figure": str(fig.relative_to(ROOT)) if fig.is_relative_to(ROOT)
                  else str(fig), "n_points": len(pts)}
        if all("energy_by_kind" in p for p in pts):
            spec = HardwareSpec.preset(pts[0]["preset"])
            for r in ratios:
                s = gf.front_summary(pts, ref, energy=lambda p, r=r, spec=spec: gf.repriced(p, r, spec))
                growth_rows.append({"workload": w, "ratio": r, "growth_benefit": s["ratio"]})
        print(f"front {w}: {len(pts)} points, {len(fs['seeds'])} seeds; hypervolume per seed "
              + ", ".join(f"{s} {np.mean(v):.4g}" for s, v in fs["hypervolume"].items())
              + f"; controller / best other {fs['ratio']:.3f} (paired p {fs['p_value']:.3g}); {note}")
    return res, growth_rows


def front_targets(fr: dict, workloads) -> list[dict]:
    out = []
    for w in workloads:
        goal = ">= 1.05, mean over 5 seeds" if w in RECURRENT else ">= 1.0, mean over 5 seeds"
        if w not in fr:
            out.append(target(f"hypervolume_ratio_{w}", None, goal, False,
                              note="not measured in this run: no front runner registered in growth.fronts.RUNNERS"
                                   if w not in gf.RUNNERS else "not measured in this run"))
            continue
        c = fr[w]
        v = c["ratio"]
        n = len(c["seeds"])
        out.append(target(f"hypervolume_ratio_{w}", round(v, 4) if np.isfinite(v) else v, goal,
                          bool(np.isfinite(v) and v >= (1.05 if w in RECURRENT else 1.0) and n >= 5),
                          p_value=c["p_value"], seeds=n, points=c["n_points"],
                          per_seed=[round(x, 4) for x in c["ratios"]],
                          note=c["note"] + ("" if n >= 5 else f"; {n} seeds, the goal asks for 5")))
    return out


def benefit_target(points: list[dict], previous: dict | None = None) -> dict:
    """``benefit_rank_correlation``: Spearman's rho of the controller's predicted benefit vs
    the gain realised over a no-growth twin (nats, ``growth.benefit``), per candidate type;
    the value is the lowest rho over the types with at least ``MIN_RECORDS`` growths (the
    pooled "all" is printed beside it, not used: it mixes workloads).  ``previous``: the
    previous full run's line, whose types this run did not measure (the feed-forward fronts'
    are "layer:l", the recurrent ones "l:k") are carried over and marked so."""
    n = sum(len(p["benefit"]) for p in points if p["strategy"] == "controller")
    rc = benefit_rank_correlation([p for p in points if p["strategy"] == "controller"])
    note = f"lowest rho over candidate types with >= {MIN_RECORDS} growths"
    if previous:
        old = {t: {**v, "carried_over": True} for t, v in previous["per_type"].items() if t not in rc and t != "all"}
        rc.update(old)
        if old:
            note += f"; types {sorted(old)} {CARRIED}, the pooled 'all' is this run's only"
    used = {t: v for t, v in rc.items() if t != "all" and v["n"] >= MIN_RECORDS and v["rho"] is not None
            and np.isfinite(v["rho"])}
    rho = float(min(v["rho"] for v in used.values())) if used else None
    return target("benefit_rank_correlation", None if rho is None else round(rho, 4), ">= 0.5",
                  rho is not None and rho >= 0.5, per_type=rc, growths=n, note=note)


def violations_target(points: list[dict], carried: list[str], previous: dict | None) -> dict:
    """``budget_violations_simulated`` over this run's controller points, per workload; the
    workloads in ``carried`` from the ``previous`` line (its per-workload counts, or 0 each
    when its total was 0; otherwise unknown, and the target is not met)."""
    ctl = [p for p in points if p["strategy"] == "controller"]
    per = {w: sum(p["violations"] for p in ctl if p["workload"] == w) for w in dict.fromkeys(p["workload"] for p in ctl)}
    note = ""
    if carried and previous:
        old = previous.get("per_workload") or ({w: 0 for w in carried} if previous["value"] == 0 else {})
        per.update({w: old.get(w) for w in carried})
        note = f"workloads {carried}: {CARRIED}"
    known = all(v is not None for v in per.values())
    total = sum(v for v in per.values() if v is not None)
    duals = [p["dual"] for p in ctl if "dual" in p]            # recurrent points
    return target("budget_violations_simulated", total if known else None,
                  "== 0 (every accepted network, cycle routing)", known and total == 0, per_workload=per,
                  controller_points=len(ctl), dual_recorded_points=len(duals),
                  dual_bound_points=sum(any(h["lam"] > 0 for h in d) for d in duals), note=note)


def carry_over(lines: list[dict], previous: dict[str, dict], names: set[str]) -> list[dict]:
    """``lines`` with the targets in ``names`` (not measured in this run) replaced by the
    ``previous`` full run's lines, marked ``carried_over`` (left as they are if it has none)."""
    out = []
    for line in lines:
        old = previous.get(line["target"]) if line["target"] in names else None
        if old is not None and not old.get("carried_over"):    # carried once: its note says so already
            old = {**old, "carried_over": True, "note": f"{CARRIED}; {old.get('note', '')}".rstrip("; ")}
        out.append(line if old is None else old)
    return out


def read_workloads(paths) -> dict:
    """Saved results of ``examples/mosaic_workload.py``; several files (runs at other
    lambda_con) must share chip, size and training settings and have their records merged."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    keys = ("preset", "hidden", "n_out", "prune", "dataset", "settings")
    for p, r in zip(paths[1:], runs[1:]):
        if any(r[k] != runs[0][k] for k in keys):
            sys.exit(f"bench_feedback: {p} differs from {paths[0]} in {[k for k in keys if r[k] != runs[0][k]]}; "
                     "only runs of other lambda_con on the same chip and settings can be merged")
    recs = sorted((rec for r in runs for rec in r["records"]), key=lambda rec: rec["lambda_con"])
    return {**runs[0], "records": recs}


def workload_targets(res: dict | None, quick: bool, default_ratio: float) -> list[dict]:
    """``routing_share_mosaic_workload``: the largest routing share over lambda_con at the
    preset's energy ratio (cycle routing, preset window), with the ratio where it reaches 0.2."""
    if res is None:
        return [target("routing_share_mosaic_workload", None, ">= 0.2 at the default ratio, or the ratio at "
                       "which it reaches 0.2", False, note="not measured in this run")]
    best = max(res["records"], key=lambda r: r["chip"]["preset"]["defer"]["routing_share"])
    share = best["chip"]["preset"]["defer"]["routing_share"]
    sweep = best["ratio_sweep"]
    r, sh = np.log([x["ratio"] for x in sweep]), np.array([x["routing_share"] for x in sweep])
    at = float(np.exp(np.interp(0.2, sh, r))) if sh.max() >= 0.2 else float("nan")
    tight = best["chip"]["tight"]
    note = (f"{res['preset']}, {res['hidden'] + res['n_out']} neurons, lambda_con {best['lambda_con']:g}"
            + ("; --quick: a mosaic-4x4 stand-in, a few training batches" if quick else ""))
    accs = {f"{r['lambda_con']:g}": round(r["accuracy"], 4) for r in res["records"]}
    hops = {f"{r['lambda_con']:g}": [round(x, 3) for x in r["hop_shares"]["synapses"][:4]] for r in res["records"]}
    worst = min(accs.values())
    acc_line = target("mosaic_workload_accuracy", worst, "well above chance (0.1): >= 0.3 at every lambda_con",
                      worst >= 0.3, per_lambda=accs, synapse_share_by_hops_0_to_3=hops,
                      n_eval=res["records"][0]["n_eval"], train=res["settings"], note=note)
    return [acc_line, target("routing_share_mosaic_workload", round(share, 4),
                   ">= 0.2 at the default ratio, or the ratio at which it reaches 0.2", share >= 0.2,
                   default_ratio=round(default_ratio, 3), ratio_at_0_2=round(at, 3),
                   tight_window_cycles=tight["step_cycles"], tight_late=tight["defer"]["packets"]["late"],
                   tight_dropped=tight["drop"]["packets"]["dropped"],
                   mapping_benefit_at_default=round(min(sweep, key=lambda x: abs(x["ratio"] - default_ratio))["mapping_benefit"], 5),
                   note=note)]


FULL_RUN_GOAL_S = 4500   # "about an hour" on 2 cores: at most an hour and a quarter
QUICK_RUN_GOAL_S = 120   # "about a minute" (--quick): at most two


def wall_target(wall: float, stats: dict, points: list[dict], read_workload: dict | None, a, seeds: int) -> dict:
    """``bench_feedback_wall_s``: the wall time a fresh full run would take on this machine,
    estimated from what was measured: this run outside the grid, every stored point's own
    wall time over the workers (points already stored cost nothing now), and the Mosaic
    workload's own records when they were read from files.  Quick runs report their wall time."""
    points_s = sum(p["wall_s"] for p in points)
    workload_s = sum(r["wall_s"] for r in read_workload["records"]) if read_workload else 0.0
    full = (wall - stats["wall_s"]) + points_s / max(1, a.workers) + workload_s
    value, bound = (wall, QUICK_RUN_GOAL_S) if a.quick else (full, FULL_RUN_GOAL_S)
    goal = (f"about a minute (quick run, <= {bound} s)" if a.quick
            else f"about an hour on 2 cores (full run, <= {bound} s)")
    return target("bench_feedback_wall_s", round(value), goal, value <= bound,
                  this_run_wall_s=round(wall), grid_wall_s=round(stats["wall_s"]), points_wall_s=round(points_s),
                  workload_wall_s=round(workload_s), note=run_note(a, seeds))


def run_note(a, seeds: int) -> str:
    """What this run covered, and how it differs from the full benchmark."""
    parts = [("a full run's wall time, estimated as this run outside the grid + points_wall_s (every stored "
              "point's own wall time) over the workers + workload_wall_s (the Mosaic workload's records, when "
              "read from files); this_run_wall_s and grid_wall_s count only what ran now")]
    if not a.quick and seeds < SEEDS:
        parts.append(f"REDUCED run: {seeds} seeds of the full {SEEDS}")
    for item in a.seeds_of or ():
        parts.append(f"REDUCED run: {item.replace('=', ' with ')} seeds of the full {SEEDS}")
    if a.workload_json:
        parts.append("Mosaic workload read from " + ", ".join(Path(p).name if Path(p).is_absolute() else p
                                                                for p in a.workload_json))
    if a.note:
        parts.append(a.note)
    return "; ".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="digits only, quick points, 2 seeds (about a minute)")
    ap.add_argument("--db", default=None, help="SQLite store of the grid (resumed if it exists; default "
                                               "results/bench_feedback[/quick]/fronts.sqlite)")
    ap.add_argument("--workloads", nargs="+", default=None, help=f"front workloads (default: {', '.join(WORKLOADS)}"
                                                                 "; quick: digits_mlp)")
    ap.add_argument("--seeds", type=int, default=None, help=f"seeds per point (default {SEEDS}, quick {QUICK_SEEDS})")
    ap.add_argument("--seeds-of", nargs="+", default=None, metavar="WORKLOAD=N",
                    help="a different number of seeds for some workloads (a reduced run; said in the note)")
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes (0: in this process)")
    ap.add_argument("--workload-json", nargs="+", default=None,
                    help="results.json of examples/mosaic_workload.py (several: runs of other lambda_con on the "
                         "same chip and settings, their records merged)")
    ap.add_argument("--note", default=None, help="said in the wall-time line's note (e.g. how an earlier, "
                                                 "resumed part of the run went, or what it left out)")
    ap.add_argument("--out", default=None, help="figures folder (default docs/images/bench_feedback, the "
                                                "figures the docs show; quick: results/bench_feedback/quick)")
    ap.add_argument("--points", default=None, help=f"the grid's points file, imported into --db first and "
                                                   f"updated at the end (default {POINTS.relative_to(ROOT)}; "
                                                   "quick runs: none)")
    ap.add_argument("--no-workload", action="store_true", help="do not run (or read) the Mosaic workload; its "
                                                               "lines need --carry-over")
    ap.add_argument("--carry-over", action="store_true",
                    help="a partial run: targets it does not measure (fronts of workloads without points, the "
                         "Mosaic workload with --no-workload) keep the previous full run's lines, marked "
                         "carried_over; the benefit types, violations and wall time of those workloads too")
    a = ap.parse_args(argv)
    if a.carry_over and a.quick:
        raise SystemExit("bench_feedback: --carry-over is for full runs (a quick run writes its own results file)")
    if a.no_workload and not a.carry_over:
        raise SystemExit("bench_feedback: --no-workload leaves the Mosaic workload's lines unmeasured; add --carry-over")
    t_start = time.perf_counter()
    store_dir = ROOT / "results" / "bench_feedback" / ("quick" if a.quick else "")
    out = Path(a.out) if a.out else (store_dir if a.quick else ROOT / "docs" / "images" / "bench_feedback")
    out.mkdir(parents=True, exist_ok=True)
    db = Path(a.db) if a.db else store_dir / "fronts.sqlite"
    points_file = Path(a.points) if a.points else (None if a.quick else POINTS)
    workloads = a.workloads or (["digits_mlp"] if a.quick else list(WORKLOADS))
    cm = bench_cost_model(a.quick)
    runnable = [w for w in workloads if w in gf.RUNNERS]
    seeds = a.seeds or (QUICK_SEEDS if a.quick else SEEDS)
    groups = seed_groups(runnable, seeds, a.seeds_of)
    points, stats = run_grid(db, groups, a.quick, a.workers, points_file)
    print(f"\nfront grid ({db}): {stats['runs']} points, {stats['skipped']} already stored "
          f"({stats['imported']} imported from {points_file}), {stats['executed']} run "
          f"({stats['failed']} failed) in {stats['wall_s']:.0f} s wall, {stats['run_s']:.0f} s of point runs"
          + "".join(f"\n  failed {e}" for e in stats["errors"]))
    wl = _example("mosaic_workload")
    fr, growth_rows = analyse_fronts(points, workloads, out, wl.RATIOS)
    workload = (None if a.no_workload else
                read_workloads(a.workload_json) if a.workload_json else wl.run_workload(quick=a.quick))
    if workload is not None:
        wl.plot(workload, out / "ratio_sweep.png", growth=growth_rows)
    wall = time.perf_counter() - t_start
    print(f"\nbench_feedback wall time {wall:.0f} s; figures in {out}\n")
    previous = {d["target"]: d for d in load("bench_feedback")} if a.carry_over else {}
    carried = [w for w in WORKLOADS if w not in fr] if a.carry_over else []
    lines = front_targets(fr, list(dict.fromkeys([*WORKLOADS, *workloads]))) + workload_targets(
        workload, a.quick, wl.DEFAULT_RATIO) + [
        benefit_target(points, previous.get("benefit_rank_correlation") if carried else None),
        violations_target(points, carried, previous.get("budget_violations_simulated")),
        target("cost_model_candidate_ms", round(cm["delta_ms"], 3), "< 10 on mosaic-8x8 at 2,048 neurons",
               cm["delta_ms"] < 10),
        target("cost_model_vs_simulator_energy", round(cm["energy_err"], 4), "<= 0.10", cm["energy_err"] <= 0.10),
        wall_target(wall, stats, points, workload if a.workload_json else None, a, seeds),
    ]
    unmeasured = {f"hypervolume_ratio_{w}" for w in carried}
    if workload is None:
        unmeasured |= {"mosaic_workload_accuracy", "routing_share_mosaic_workload"}
    if unmeasured:                                # a partial run cannot estimate a full one's wall time
        unmeasured.add("bench_feedback_wall_s")
    out_lines = carry_over(lines, previous, unmeasured)
    if out_lines[-1].get("carried_over"):
        out_lines[-1]["partial_run"] = {k: v for k, v in lines[-1].items() if k not in ("target", "goal")}
    emit("bench_feedback", out_lines, quick=a.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
