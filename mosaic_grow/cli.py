"""The ``mosaic`` command line: hardware presets, simulation, mapping, sweeps, plots, demo.

Every subcommand has ``--help``; most take ``--json`` for machine-readable output.
Bad input (unknown preset, unreadable file, impossible request: the toolkit's own
``MosaicGrowError`` and ``OSError``) prints one line ``mosaic: error: ...`` on stderr and
exits with status 2; anything else is a bug and shows its traceback (exit status 1).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tomllib

from mapper import compare_methods, plot_placement
from mapper.request import MAX_TIME_LIMIT_S
from mosaic.cost import CostBudget
from mosaic.errors import MosaicGrowError
from mosaic.files import atomic_write_text, dumps_strict
from mosaic.generators import bernoulli_spikes, random_feedforward
from mosaic.network import MAX_NEURONS, SpikingNetwork
from mosaic.placement import Placement
from mosaic.simulate import simulate
from mosaic.spec import HardwareSpec
from mosaic.topology import hop_matrix, topology

from .errors import AppError, is_interrupt
from .interrupts import safe_interrupts
from .outputs import Outputs
from .store import ResultStore
from .sweep import PLACE_ALIASES, PLACE_METHODS, expand, load_config, open_store, place, run_sweep

DEFAULT_PRESET = "mosaic-8x8"
DEFAULT_SIZES = "64,128,128,10"
MAX_STEPS = 10**6            # time steps of one run: keeps steps x step_cycles within int64
MAX_SEED = 2**63 - 1


class CLIError(AppError):
    """Bad command-line input (a flag value, a combination of flags)."""


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (``mosaic: error: ...``), exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"mosaic: error: {self.prog}: {message} (see `{self.prog} --help`)\n")


# -- formatting ---------------------------------------------------------------
def fmt_value(v: Any) -> str:
    """A number or string as a short readable cell."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v != v:
            return "-"
        if v == 0 or 1e-3 <= abs(v) < 1e7:
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return f"{v:.3e}"
    return str(v)


def table(rows: list[list[Any]], headers: list[str] | None = None) -> str:
    """Rows as an aligned plain-text table (numbers right-aligned)."""
    cells = [[fmt_value(c) for c in r] for r in rows]
    if headers:
        cells = [list(headers)] + cells
    if not cells:
        return ""
    ncol = max(len(r) for r in cells)
    cells = [r + [""] * (ncol - len(r)) for r in cells]
    width = [max(len(r[i]) for r in cells) for i in range(ncol)]
    numeric = [all(_is_num(r[i]) for r in (rows if rows else [])) for i in range(ncol)]
    out = []
    for k, r in enumerate(cells):
        line = "  ".join(c.rjust(width[i]) if numeric[i] and not (headers and k == 0) else c.ljust(width[i])
                         for i, c in enumerate(r))
        out.append(line.rstrip())
        if headers and k == 0:
            out.append("  ".join("-" * w for w in width))
    return "\n".join(out)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def section(title: str, pairs: list[tuple[str, Any]]) -> str:
    """A titled two-column block of (name, value) pairs."""
    return f"{title}\n" + "\n".join("  " + line for line in table([[k, v] for k, v in pairs]).splitlines())


def emit_json(doc: Any) -> None:
    """Print ``doc`` as strict JSON: NaN and infinities become null, named in "null_reasons"."""
    print(dumps_strict(doc, indent=1))


# -- shared argument groups ---------------------------------------------------
def add_spec_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hardware")
    g.add_argument("--preset", default=None, metavar="NAME",
                   help=f"hardware preset (default {DEFAULT_PRESET}; see `mosaic hw list`)")
    g.add_argument("--spec", default=None, metavar="FILE", help="hardware spec TOML file (instead of --preset)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a spec field, e.g. --set bandwidth=2 (repeatable)")


def add_net_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network")
    g.add_argument("--net", default=None, metavar="FILE",
                   help="network file: .npz (SpikingNetwork.save) or NIR .nir/.h5 "
                        "(default: a random feed-forward demo network)")
    g.add_argument("--sizes", default=DEFAULT_SIZES, metavar="N0,N1,...",
                   help=f"layer sizes of the demo network, inputs first (default {DEFAULT_SIZES})")
    g.add_argument("--seed", type=int, default=0, help="random seed (network, inputs, mapping; default 0)")
    g.add_argument("--reset", choices=("subtract", "zero"), default=None,
                   help="reset of a NIR file's neurons (default: the file's, else 'zero' with a warning; snnTorch "
                        "exports need 'subtract')")


def add_common_args(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    if json_flag:
        p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of tables")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise CLIError(f"--set expects FIELD=VALUE, got {text!r}")
    key, raw = (s.strip() for s in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def load_spec(args: argparse.Namespace) -> HardwareSpec:
    """The spec chosen by --preset/--spec, with --set overrides applied."""
    if args.preset and args.spec:
        raise CLIError("give either --preset or --spec, not both")
    spec = HardwareSpec.from_toml(args.spec) if args.spec else HardwareSpec.preset(args.preset or DEFAULT_PRESET)
    if args.overrides:
        spec = spec.replace(**dict(parse_override(o) for o in args.overrides))
    return spec


def parse_sizes(text: str, flag: str = "--sizes", min_len: int = 2) -> list[int]:
    """Comma-separated positive integers, e.g. "64,128,10", each at most ``MAX_NEURONS``."""
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise CLIError(f"{flag} expects comma-separated integers like {DEFAULT_SIZES}, got {text!r}") from None
    if len(sizes) < min_len or min(sizes) < 1:
        what = "the input count and at least one layer" if min_len == 2 else "at least one value"
        raise CLIError(f"{flag} needs {what}, all >= 1, got {text!r}")
    if max(sizes) > MAX_NEURONS or sum(sizes) > MAX_NEURONS:
        raise CLIError(f"{flag} {text!r}: at most {MAX_NEURONS:,} neurons in all")
    return sizes


def check_number(value: Any, flag: str, low: float, high: float, *, low_open: bool = False,
                 integer: bool = False) -> None:
    """Refuse a flag value outside [low, high] ((low, high] if ``low_open``), NaN or infinite."""
    ok = value is not None and math.isfinite(value) and (value > low if low_open else value >= low) \
        and value <= high and (not integer or float(value).is_integer())
    if not ok:
        kind = "a whole number" if integer else "a number"
        raise CLIError(f"{flag} must be {kind} in {'(' if low_open else '['}{low:g}, {high:g}], got {value}")


def load_net(path: str | None, sizes: str = DEFAULT_SIZES, seed: int = 0,
             spec: HardwareSpec | None = None, reset: str | None = None) -> SpikingNetwork:
    """A network from a .npz/.nir/.h5 file, or the seeded random feed-forward demo network
    (checked against ``spec``'s neuron slots before it is built)."""
    if path is None:
        layers = parse_sizes(sizes)
        if spec is not None and sum(layers[1:]) > spec.n_slots:
            raise CLIError(f"--sizes {sizes}: {sum(layers[1:]):,} neurons do not fit {spec.name} "
                           f"({spec.n_cores} cores x {spec.neurons_per_core} = {spec.n_slots:,} slots); "
                           f"use smaller layers or a bigger preset")
        return random_feedforward(layers, seed=seed)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"network file {path!r} does not exist")
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return SpikingNetwork.load(p)
    if suffix in (".nir", ".h5", ".hdf5"):
        from models.nir_io import from_nir  # lazy: models loads torch (seconds); only NIR files need it
        return from_nir(p, reset=reset)
    raise CLIError(f"network file {path!r}: unknown extension {suffix!r}; use .npz (SpikingNetwork.save) "
                   f"or a NIR graph (.nir, .h5)")


def bernoulli_inputs(n_inputs: int, steps: int, rate: float, seed: int) -> np.ndarray:
    """(steps, n_inputs) bool: each input spikes with probability ``rate`` per step."""
    check_number(steps, "--steps", 1, MAX_STEPS, integer=True)
    if not 0.0 <= rate <= 1.0:
        raise CLIError(f"--rate is a spike probability per input per step, in [0, 1]; got {rate}")
    return bernoulli_spikes(n_inputs, steps, rate, seed + 1)


def progress_on(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


# -- hw -------------------------------------------------------------------------
def spec_figures(spec: HardwareSpec) -> dict[str, Any]:
    """Derived figures of a spec: cores, slots, routers, links, hop statistics, step budget."""
    H = hop_matrix(spec)
    off = H[~np.eye(spec.n_cores, dtype=bool)] if spec.n_cores > 1 else np.zeros(1)
    topo = topology(spec)
    return {"cores": spec.n_cores, "neuron_slots": spec.n_slots, "routers": topo.n_routers,
            "links": int(len(topo.links)), "hops_max": int(off.max()), "hops_mean": float(off.mean()),
            "ns_per_cycle": spec.ns_per_cycle, "step_budget_ns": spec.step_cycles * spec.ns_per_cycle}


def cmd_hw(args: argparse.Namespace) -> int:
    if args.hw_cmd == "list":
        specs = [HardwareSpec.preset(n) for n in HardwareSpec.presets()]
        if args.json:
            emit_json([{"name": s.name, "topology": s.topology, "rows": s.rows, "cols": s.cols,
                        "neurons_per_core": s.neurons_per_core, "cores": s.n_cores, "neuron_slots": s.n_slots,
                        "description": s.description} for s in specs])
            return 0
        print(table([[s.name, s.topology, f"{s.rows}x{s.cols}", s.neurons_per_core, s.n_slots, s.bandwidth,
                      s.description] for s in specs],
                    ["preset", "topology", "grid", "neurons/core", "slots", "bandwidth", "description"]))
        return 0
    if args.name and args.spec:
        raise CLIError("give a preset NAME or --spec FILE, not both")
    spec = HardwareSpec.from_toml(args.spec) if args.spec else HardwareSpec.preset(args.name or DEFAULT_PRESET)
    fig = spec_figures(spec)
    if args.json:
        emit_json({**spec.to_dict(), "derived": fig})
        return 0
    d = spec.to_dict()
    print(f"{spec.name}: {spec.description}" if spec.description else spec.name)
    print(section("grid", [("rows x cols", f"{spec.rows} x {spec.cols}"), ("topology", spec.topology),
                           ("neurons per core", spec.neurons_per_core), ("io core", spec.io_core),
                           ("weight bits", spec.weight_bits)]))
    print(section("router", [("bandwidth (packets/cycle/port)", d["bandwidth"]),
                             ("buffer depth (packets)", d["buffer_depth"]),
                             ("cycles per hop", d["cycles_per_hop"]), ("clock (MHz)", d["clock_mhz"]),
                             ("step budget (cycles)", d["step_cycles"]), ("time step (us)", d["dt_us"])]))
    print(section("energy (pJ per event)", [("synaptic op", d["e_synaptic_pj"]), ("neuron update", d["e_neuron_pj"]),
                                           ("spike out", d["e_spike_out_pj"]), ("router traversal", d["e_router_pj"]),
                                           ("static (per core per step)", d["e_static_pj"])]))
    print(section("derived", [("cores", fig["cores"]), ("neuron slots", fig["neuron_slots"]),
                              ("routers", fig["routers"]), ("directed links", fig["links"]),
                              ("hops max (distinct cores)", fig["hops_max"]),
                              ("hops mean (distinct cores)", fig["hops_mean"]),
                              ("ns per cycle", fig["ns_per_cycle"]),
                              ("step budget (ns)", fig["step_budget_ns"])]))
    return 0


# -- simulate -------------------------------------------------------------------
def report_summary_rows(report: Any, net: SpikingNetwork, spec: HardwareSpec,
                        placement: Placement) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The RunReport (its ``summary()``, plus per-router figures) as titled (name, value) blocks."""
    s = report.summary()
    T, n_spikes, en = s["T"], s["spikes"], s["energy_pj"]
    rl = np.asarray(report.router_load, dtype=float)
    used = np.unique(placement.core_of).size
    return [
        ("workload", [("neurons", net.n_neurons), ("inputs", net.n_inputs), ("synapses", net.n_synapses),
                      ("layers", ",".join(map(str, net.layer_sizes()))), ("time steps", T)]),
        ("hardware", [("chip", f"{spec.name} ({spec.rows}x{spec.cols} {spec.topology})"),
                      ("cores used", f"{used} of {spec.n_cores}"), ("placement", placement.method)]),
        ("activity", [("spikes", n_spikes),                     # undefined ("-") without neurons or spikes
                      ("spikes per neuron per step", n_spikes / (T * net.n_neurons) if net.n_neurons else math.nan)]),
        ("packets", list(s["packets"].items())),
        ("latency per step", [("mean (cycles)", s["latency_mean_cycles"]), ("max (cycles)", s["latency_max_cycles"]),
                              ("max (ns)", s["latency_max_ns"]), ("budget (cycles)", spec.step_cycles)]),
        ("router load (packets)", [("max", s["peak_router_load"]), ("mean", float(rl.mean()) if rl.size else 0.0),
                                   ("routers used", int(np.count_nonzero(rl)))]),
        ("energy (pJ)", list(en.items()) + [("per spike", en["total"] / n_spikes if n_spikes else math.nan)]),
        ("NeuroBench", list(s["neurobench"].items())),
    ]


def choose_placement(args: argparse.Namespace, net: SpikingNetwork, spec: HardwareSpec) -> Placement:
    if args.placement:
        if not Path(args.placement).is_file():
            raise FileNotFoundError(f"placement file {args.placement!r} does not exist")
        p = Placement.from_json(args.placement)
    else:
        p = place(net, spec, args.method, args.seed, args.time_limit)
    p.validate(net, spec)
    return p


def check_run_args(args: argparse.Namespace) -> None:
    """The numeric flags of simulate/map, checked before anything is loaded or built."""
    check_number(args.seed, "--seed", 0, MAX_SEED, integer=True)
    check_number(args.steps, "--steps", 1, MAX_STEPS, integer=True)
    check_number(args.rate, "--rate", 0.0, 1.0)
    check_number(args.time_limit, "--time-limit", 0.0, MAX_TIME_LIMIT_S, low_open=True)


def input_paths(args: argparse.Namespace) -> list[str | None]:
    """The files a command reads (its outputs may not replace them)."""
    return [getattr(args, k, None) for k in ("net", "spec", "placement", "schedule", "config", "db")]


def stage_outputs(outs: Outputs, args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """Temporary paths for --out and --plot (checked now, renamed into place on success)."""
    return (outs.file(args.out, "--out") if args.out else None,
            outs.file(args.plot, "--plot") if args.plot else None)


def cmd_simulate(args: argparse.Namespace) -> int:
    check_run_args(args)
    with Outputs(input_paths(args)) as outs:
        out, plot = stage_outputs(outs, args)
        spec = load_spec(args)
        net = load_net(args.net, args.sizes, args.seed, spec, args.reset)
        placement = choose_placement(args, net, spec)
        x = bernoulli_inputs(net.n_inputs, args.steps, args.rate, args.seed)
        t0 = time.perf_counter()
        report = simulate(net, spec, placement, x, routing=args.routing, late=args.late,
                          progress=progress_on(args))
        wall = time.perf_counter() - t0
        if out:
            atomic_write_text(out, dumps_strict(json.loads(report.to_json())))
        if plot:
            from .plots import router_heatmap  # lazy: matplotlib (about 1 s); only --plot needs it
            router_heatmap(spec, report.router_load, plot,
                           title=f"router load: {net.n_neurons} neurons, {args.steps} steps on {spec.name}")
    if args.json:
        emit_json({**report.summary(), "wall_s": wall, "placement": placement.summary()})
        return 0
    print(f"mosaic simulate: {net.n_neurons} neurons on {spec.name}, {args.steps} steps, "
          f"input rate {args.rate}, routing={args.routing}, late={args.late}")
    for title, pairs in report_summary_rows(report, net, spec, placement):
        print(section(title, pairs))
    print(f"simulated in {wall:.2f} s" + (f"; full report written to {args.out}" if args.out else "")
          + (f"; router-load heatmap written to {args.plot}" if args.plot else ""))
    return 0


def add_placement_args(p: argparse.ArgumentParser, default_method: str) -> None:
    g = p.add_argument_group("placement")
    g.add_argument("--placement", default=None, metavar="FILE", help="placement JSON (Placement.to_json)")
    g.add_argument("--method", default=default_method, choices=[*PLACE_METHODS, *PLACE_ALIASES],
                   help=f"mapping method when no --placement is given (default {default_method}; "
                        f"fill is the old name of greedy, the chip-order fill)")
    g.add_argument("--time-limit", type=float, default=10.0, help="CP-SAT time limit in seconds (default 10)")


# -- map ----------------------------------------------------------------------------
def cmd_map(args: argparse.Namespace) -> int:
    check_run_args(args)
    with Outputs(input_paths(args)) as outs:
        out, plot = stage_outputs(outs, args)
        spec = load_spec(args)
        net = load_net(args.net, args.sizes, args.seed, spec, args.reset)
        rates = None
        if args.measure_rates:
            x = bernoulli_inputs(net.n_inputs, args.steps, args.rate, args.seed)
            rates = simulate(net, spec, None, x, routing="ideal", progress=progress_on(args))
        kw = dict(rates=rates, time_limit=args.time_limit, seed=args.seed)
        if args.compare:
            results = compare_methods(net, spec, ("greedy", "random", "anneal", "cpsat"), **kw)
        else:
            results = {args.method: place(net, spec, args.method, progress=progress_on(args), **kw)}
        best_name = min(results, key=lambda m: results[m].objective)
        best = results[best_name]
        if out:
            best.to_json(out)
        if plot:
            plot_placement(net, spec, best, rates=rates, path=plot)
    if args.json:
        emit_json({m: pl.summary() | {"extra": {k: v for k, v in pl.extra.items() if np.isscalar(v)}}
                   for m, pl in results.items()})
        return 0
    print(f"mosaic map: {net.n_neurons} neurons, {net.n_synapses} synapses on {spec.name} "
          f"({spec.n_slots} slots); cost = spikes x routers per step"
          + (" (measured rates)" if rates is not None else " (every neuron spiking once per step)"))
    greedy = results.get("greedy")
    rows = [[m, pl.objective, pl.bound, pl.gap, pl.status, int(np.unique(pl.core_of).size), pl.wall_s,
             pl.objective / greedy.objective if greedy is not None and greedy.objective > 0 else float("nan")]
            for m, pl in results.items()]
    print(table(rows, ["method", "cost", "lower bound", "gap", "status", "cores used", "wall (s)", "vs greedy"]))
    extras = [f"placement written to {args.out}" if args.out else "", f"picture written to {args.plot}" if args.plot else ""]
    if any(extras):
        print(f"best: {best_name}; " + "; ".join(e for e in extras if e))
    return 0


# -- grow / score -------------------------------------------------------------------
def add_growth_run_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training and measuring")
    g.add_argument("--preset", default=DEFAULT_PRESET, help=f"hardware preset (default {DEFAULT_PRESET})")
    g.add_argument("--dataset", default="digits", choices=["digits", "mnist1d"], help="data set (default digits)")
    g.add_argument("--steps", type=int, default=600, help="Adam training steps (default 600)")
    g.add_argument("--n-sim", type=int, default=40, help="test samples simulated on the chip per row (default 40)")
    g.add_argument("--mapping", default="greedy", choices=["greedy", "anneal", "cpsat"],
                   help="incremental placement method (default greedy)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    b = p.add_argument_group("budget (per inference; none = unlimited)")
    b.add_argument("--energy-nj", type=float, default=None, help="energy budget in nJ")
    b.add_argument("--latency-us", type=float, default=None, help="latency budget in us")
    b.add_argument("--port-use", type=float, default=None, help="busiest port's share of the step budget (0-1]")
    b.add_argument("--cores", type=int, default=None, help="cores holding neurons")
    o = p.add_argument_group("output")
    o.add_argument("--plot", default=None, metavar="PNG", help="accuracy and energy along the run")
    o.add_argument("--out", default=None, metavar="JSON", help="write the rows as JSON")
    add_common_args(p)


def check_growth_args(args: argparse.Namespace) -> None:
    """The numeric flags of grow/score, checked before torch is loaded or anything trains."""
    check_number(args.seed, "--seed", 0, MAX_SEED, integer=True)
    check_number(args.steps, "--steps", 1, MAX_STEPS, integer=True)
    check_number(args.n_sim, "--n-sim", 1, MAX_STEPS, integer=True)
    check_number(args.port_use, "--port-use", 0.0, 1.0, low_open=True) if args.port_use is not None else None
    for flag, v in (("--energy-nj", args.energy_nj), ("--latency-us", args.latency_us), ("--cores", args.cores)):
        if v is not None:
            check_number(v, flag, 0.0, 1e300, low_open=True)
    if getattr(args, "max_neurons", None) is not None:
        check_number(args.max_neurons, "--max-neurons", 1, MAX_NEURONS, integer=True)
    if getattr(args, "check_every", None) is not None:
        check_number(args.check_every, "--check-every", 1, MAX_STEPS, integer=True)
    HardwareSpec.preset(args.preset)                       # an unknown preset fails before training


def _growth_setup(args: argparse.Namespace):
    import torch

    from growth.score import RunConfig  # lazy: growth loads torch (seconds); only grow/score need it
    torch.set_num_threads(1)
    spec = HardwareSpec.preset(args.preset)
    budget = CostBudget(energy_pj=None if args.energy_nj is None else args.energy_nj * 1e3,
                        latency_ns=None if args.latency_us is None else args.latency_us * 1e3,
                        port_use=args.port_use, cores=args.cores)
    cfg = RunConfig(steps=args.steps, n_sim=args.n_sim, mapping=args.mapping, seed=args.seed,
                    progress=progress_on(args))
    return spec, budget, cfg


def _write_score(score, plot: Path | None, out: Path | None) -> None:
    if plot:
        score.plot(plot)
    if out:
        atomic_write_text(out, dumps_strict(json.loads(score.to_json()), indent=1))


def _emit_score(score, args: argparse.Namespace, title: str) -> int:
    if args.json:
        print(dumps_strict(json.loads(score.to_json()), indent=1))
        return 0
    print(title)
    print(score.table())
    if score.events:
        print("growth events (step, layer, neurons added): " + ", ".join(map(str, score.events)))
    print(f"{score.wall_s:.1f} s" + (f"; plot written to {args.plot}" if args.plot else "")
          + (f"; rows written to {args.out}" if args.out else ""))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    check_growth_args(args)
    if not Path(args.schedule).is_file():
        raise FileNotFoundError(f"schedule file {args.schedule!r} does not exist")
    from growth.schedules import Schedule  # lazy: torch (seconds), as in _growth_setup
    from growth.score import score_schedule_file  # lazy: torch (seconds), as in _growth_setup
    Schedule.load(args.schedule)                   # a bad schedule fails before training
    with Outputs(input_paths(args)) as outs:
        out, plot = stage_outputs(outs, args)
        spec, budget, cfg = _growth_setup(args)
        score = score_schedule_file(args.schedule, spec, dataset=args.dataset, budget=budget, config=cfg,
                                    method=args.method)
        _write_score(score, plot, out)
    return _emit_score(score, args, f"mosaic score: {args.schedule} ({args.method}) on {spec.name}, "
                                    f"{args.dataset}, {args.steps} training steps")


def cmd_grow(args: argparse.Namespace) -> int:
    # lazy: growth and models load torch (seconds); only this command and `score` need them
    from growth.controller import ControllerConfig
    from growth.score import grow_with_controller
    from models.datasets import load_dataset
    check_growth_args(args)
    initial = parse_sizes(args.initial, "--initial", 1)
    if args.max_neurons is not None and args.max_neurons < sum(initial):
        raise CLIError(f"--max-neurons {args.max_neurons} is below the {sum(initial)} hidden neurons the network "
                       f"starts with (--initial {args.initial}); raise it or start smaller")
    k_options = tuple(parse_sizes(args.k, "--k", 1))
    with Outputs(input_paths(args)) as outs:
        out, plot = stage_outputs(outs, args)
        spec, budget, cfg = _growth_setup(args)
        ccfg = ControllerConfig(k_options=k_options, max_neurons=args.max_neurons,
                                check_every=args.check_every, mapping=args.mapping, T=cfg.T, seed=args.seed)
        data = load_dataset(args.dataset, seed=args.seed)
        score = grow_with_controller(spec, budget, data, initial, controller=ccfg, config=cfg)
        _write_score(score, plot, out)
    return _emit_score(score, args, f"mosaic grow: hardware-aware growth from hidden sizes {initial} on "
                                    f"{spec.name}, {args.dataset}, {args.steps} training steps")


# -- sweep / plot -----------------------------------------------------------------
def cmd_sweep(args: argparse.Namespace) -> int:
    configs = expand(load_config(args.config))
    if args.dry_run:
        if args.json:
            emit_json(configs)
        else:
            print(f"{len(configs)} runs in {args.config}; first ones:")
            for c in configs[:5]:
                print("  " + json.dumps(c, sort_keys=True))
        return 0
    if args.workers is not None and args.workers < 0:
        raise CLIError(f"--workers must be >= 0 (0 = run in this process), got {args.workers}")
    if not (math.isfinite(args.connect_timeout) and args.connect_timeout > 0):
        raise CLIError(f"--connect-timeout must be a positive number of seconds, got {args.connect_timeout}")
    if args.limit is not None and args.limit < 0:
        raise CLIError(f"--limit must be >= 0 (runs to execute now), got {args.limit}")
    with Outputs(input_paths(args)) as outs:
        csv_tmp = outs.file(args.csv, "--csv") if args.csv else None
        with _new_db_removed_on_failure(args.db):
            with open_store(args.db, args.resume) as store:
                store.set_meta("config:" + Path(args.config).name, Path(args.config).read_text())
                stats = run_sweep(configs, store, workers=args.workers, scheduler=args.scheduler,
                                  limit=args.limit, progress=progress_on(args),
                                  connect_timeout=args.connect_timeout)
                n_csv = store.to_csv(csv_tmp) if csv_tmp else None
    doc = {"runs": stats.total, "skipped_done": stats.skipped, "executed": stats.executed,
           "failed": stats.failed, "pending": stats.pending, "wall_s": stats.wall_s, "db": args.db,
           "errors": stats.errors}
    if args.json:
        emit_json(doc)
    else:
        print(f"mosaic sweep: {stats.total} runs in {args.config}: {stats.skipped} already done, "
              f"{stats.executed} executed ({stats.failed} failed), {stats.pending} pending; "
              f"{stats.wall_s:.1f} s; results in {args.db}")
        for e in stats.errors[:5]:
            print(f"  failed {e}")
        if stats.pending:
            print(f"  continue with: mosaic sweep {args.config} --db {args.db} --resume")
        if n_csv is not None:
            print(f"  {n_csv} rows written to {args.csv}")
    return 1 if stats.failed else 0


@contextlib.contextmanager
def _new_db_removed_on_failure(db: str):
    """A sweep database this command creates is removed again if the command fails before
    any run is stored (a bad --scheduler, Ctrl-C at start-up): no empty database is left."""
    files = [Path(db + s) for s in ("", "-wal", "-shm", "-journal")]
    new = db != ":memory:" and not files[0].exists()
    try:
        yield
    except BaseException:
        if new and files[0].exists() and _stored_runs(db) == 0:
            for f in files:
                f.unlink(missing_ok=True)
        raise


def _stored_runs(db: str) -> int:
    try:
        with ResultStore(db, readonly=True) as store:
            return len(store)
    except MosaicGrowError:
        return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .plots import plot_sweep  # lazy: matplotlib (about 1 s); only this command and --plot need it
    if not Path(args.db).is_file():
        raise FileNotFoundError(f"sweep database {args.db!r} does not exist; run `mosaic sweep` first")
    with Outputs(input_paths(args)) as outs:
        folder = outs.folder(args.out, "--out")
        with ResultStore(args.db, readonly=True) as store:
            rows = store.rows()
        paths = [Path(args.out) / p.name for p in plot_sweep(rows, folder)]
    if args.json:
        emit_json([str(p) for p in paths])
    else:
        print(f"mosaic plot: {len(rows)} runs from {args.db}; wrote " + ", ".join(str(p) for p in paths))
    return 0


# -- demo -----------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import DemoConfig, run_demo  # lazy: the demo loads torch (seconds)
    changes = {"preset": args.preset, "seed": args.seed}
    check_number(args.seed, "--seed", 0, MAX_SEED, integer=True)
    if args.time_limit is not None:
        check_number(args.time_limit, "--time-limit", 0.0, MAX_TIME_LIMIT_S, low_open=True)
        changes["time_limit"] = args.time_limit
    HardwareSpec.preset(args.preset)                       # fail fast on an unknown preset
    cfg = DemoConfig.quick(**changes) if args.quick else DemoConfig(**changes)
    with Outputs() as outs:
        folder = outs.folder(args.out, "--out")
        shown = str(Path(args.out))                 # name the final folder, not its staging copy
        log = (lambda s: None) if args.json else (lambda s: print(s.replace(str(folder), shown)))
        summary = run_demo(folder, cfg, progress=progress_on(args), log=log)
    if args.json:
        emit_json(summary)
        return 0
    c = summary["cpsat_over_greedy"]
    fin = summary["final"]
    print(f"\nmosaic demo: grew to {fin['neurons']} neurons, test accuracy {100 * fin['accuracy_snntorch']:.1f}% "
          f"(snnTorch), {100 * summary['mapping']['cpsat']['chip_accuracy']:.1f}% on {summary['preset']}; "
          f"CP-SAT vs greedy: traffic x{c['traffic_cost']:.2f}, routing energy x{c['routing_energy'] or 1:.2f}, "
          f"total energy x{c['total_energy']:.3f}; "
          f"{summary['wall_s']:.0f} s. Plots and summary.json in {args.out}/")
    return 0


# -- noc: synthetic traffic on the network-on-chip --------------------------------
NOC_QUICK = {"warmup": 200, "measure": 600, "drain": 600}


def noc_specs(args: argparse.Namespace) -> list[HardwareSpec]:
    """The chip of --preset/--spec/--set in every --topologies x --bandwidths x --depths x --vcs setting."""
    base = load_spec(args)
    topos = [t.strip() for t in args.topologies.split(",") if t.strip()]
    return [base.replace(topology=t, bandwidth=b, buffer_depth=d, virtual_channels=v,
                         name=f"{t}-{base.rows}x{base.cols}-b{b}-d{d}" + (f"-v{v}" if v > 1 else ""))
            for t in topos for b in parse_sizes(args.bandwidths, "--bandwidths", 1)
            for d in parse_sizes(args.depths, "--depths", 1) for v in parse_sizes(args.vcs, "--vcs", 1)]


def cmd_noc(args: argparse.Namespace) -> int:
    from mosaic.noc import Traffic, characterise      # lazy: numba kernels load on first use
    specs = noc_specs(args)
    phases = NOC_QUICK if args.quick else {"warmup": args.warmup, "measure": args.measure, "drain": args.drain}
    traffic = Traffic(rate=0.0, hotspot_share=args.hotspot_share, fanout=args.fanout, seed=args.seed, **phases)
    patterns = [p.strip() for p in args.patterns.split(",") if p.strip()]
    for p in patterns:                                # a bad name fails before any run
        Traffic(pattern=p)
    with Outputs(input_paths(args)) as outs:
        out, plot = stage_outputs(outs, args)
        t0 = time.perf_counter()
        curves = characterise(specs, patterns, traffic, iters=4 if args.quick else 7, progress=progress_on(args))
        wall = time.perf_counter() - t0
        if out:
            atomic_write_text(out, dumps_strict(curves))
        if plot:
            from .plots import noc_curves  # lazy: matplotlib (about 1 s); only --plot needs it
            noc_curves(curves, plot)
    if args.json:
        emit_json({"curves": curves, "wall_s": wall})
        return 0
    rows = [[c["spec"], c["pattern"], c["zero_load_latency"], c["channel_bound"], c["saturation"],
             c["bisection_bound"] if c["pattern"] == "uniform" else "",
             c["saturation"] / c["bisection_bound"] if c["pattern"] == "uniform" else "",
             "yes" if c["conserved"] else "NO"] for c in curves]
    print(f"mosaic noc: synthetic traffic, {len(curves)} curves ({wall:.1f} s); loads in packets per tile "
          f"per cycle, latency in cycles")
    print(table(rows, ["chip", "pattern", "zero-load lat", "channel bound", "saturation", "bisection bound",
                       "sat / bisection", "conserved"]))
    extra = [f"curves written to {args.out}"] if args.out else []
    extra += [f"plot written to {args.plot}"] if args.plot else []
    if extra:
        print("; ".join(extra))
    return 0


def add_noc_parser(sub) -> None:
    p = sub.add_parser("noc", help="characterise the network-on-chip with synthetic traffic "
                                   "(latency vs offered load, saturation vs the bisection bound)",
                       description="Drive the chip's network-on-chip alone (no neurons) with Bernoulli "
                                   "synthetic traffic at rising offered loads: latency-throughput curves "
                                   "per pattern, topology and router setting, saturation throughput "
                                   "(mean latency > 3x zero-load, or accepted < 95%% of offered) against "
                                   "the bisection bound.")
    add_spec_args(p)
    g = p.add_argument_group("traffic")
    g.add_argument("--topologies", default="mosaic,mesh", metavar="T,T",
                   help="topologies to compare on the spec's grid (default mosaic,mesh)")
    g.add_argument("--bandwidths", default="1", metavar="B,B", help="router bandwidths (packets/cycle; default 1)")
    g.add_argument("--depths", default="8", metavar="D,D", help="buffer depths (packets; default 8)")
    g.add_argument("--vcs", default="1", metavar="V,V",
                   help="virtual channels per router port, each of the buffer depth (default 1)")
    g.add_argument("--patterns", default="uniform,transpose,bitcomp,hotspot,neighbor,multicast",
                   metavar="P,P", help="traffic patterns (default all six)")
    g.add_argument("--hotspot-share", type=float, default=0.2, help="hotspot: share to the hot tile (default 0.2)")
    g.add_argument("--fanout", type=int, default=4, help="multicast: destinations per packet (default 4)")
    g.add_argument("--warmup", type=int, default=1000, help="warm-up cycles (default 1000)")
    g.add_argument("--measure", type=int, default=2000, help="measurement cycles (default 2000)")
    g.add_argument("--drain", type=int, default=4000, help="most drain cycles for measured packets (default 4000)")
    g.add_argument("--seed", type=int, default=0, help="seed of the injection process (default 0)")
    g.add_argument("--quick", action="store_true", help="short phases and a coarse saturation search")
    g.add_argument("--out", default=None, metavar="FILE", help="write the curves as JSON here")
    g.add_argument("--plot", default=None, metavar="PNG", help="draw latency vs offered load here")
    add_common_args(p)
    p.set_defaults(func=cmd_noc)


# -- parser ---------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``mosaic`` argument parser: one ``_add_<command>`` function per subcommand."""
    parser = Parser(
        prog="mosaic", description="Grow spiking networks, map them onto a Mosaic-style multi-core chip, "
                                   "simulate the routing, sweep the hardware.",
        epilog="Start here: `mosaic demo --out results` (end to end, a few minutes) or `mosaic simulate`. "
               "`mosaic COMMAND --help` for each command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_hw(sub)
    _add_simulate(sub)
    _add_map(sub)
    _add_grow(sub)
    _add_score(sub)
    _add_sweep(sub)
    _add_plot(sub)
    _add_demo(sub)
    add_noc_parser(sub)
    return parser


def _add_hw(sub) -> None:
    """The `mosaic hw` subcommand."""
    hw = sub.add_parser("hw", help="list or show hardware presets", description="List or show hardware presets.")
    hw_sub = hw.add_subparsers(dest="hw_cmd", metavar="{list,show}")
    hw_sub.required = True
    p = hw_sub.add_parser("list", help="list the shipped presets", description="List the shipped presets.")
    add_common_args(p)
    p.set_defaults(func=cmd_hw)
    p = hw_sub.add_parser("show", help="show one preset with derived figures (cores, slots, hops)",
                          description="Show one preset (or a --spec file) with derived figures.")
    p.add_argument("name", nargs="?", default=None, help=f"preset name (default {DEFAULT_PRESET})")
    p.add_argument("--spec", default=None, metavar="FILE", help="a hardware spec TOML file instead of a preset")
    add_common_args(p)
    p.set_defaults(func=cmd_hw)


def _add_simulate(sub) -> None:
    """The `mosaic simulate` subcommand."""
    p = sub.add_parser("simulate", help="run a network on the chip and print its cost",
                       description="Simulate a spiking network on a chip (default: a random feed-forward "
                                   "network driven by Bernoulli input spikes on mosaic-8x8) and print "
                                   "spikes, packets, latency, router load and energy.")
    add_spec_args(p)
    add_net_args(p)
    add_placement_args(p, "greedy")
    g = p.add_argument_group("run")
    g.add_argument("--steps", type=int, default=50, help="time steps (default 50)")
    g.add_argument("--rate", type=float, default=0.2, help="input spike probability per step (default 0.2)")
    g.add_argument("--routing", default="cycle", choices=["cycle", "ideal"],
                   help="cycle-approximate network-on-chip or ideal (no contention); default cycle")
    g.add_argument("--late", default="defer", choices=["defer", "drop"],
                   help="packets over the step's cycle budget: deliver next step or drop (default defer)")
    g.add_argument("--out", default=None, metavar="FILE", help="write the full RunReport JSON here")
    g.add_argument("--plot", default=None, metavar="PNG", help="draw the router load on the chip layout here")
    add_common_args(p)
    p.set_defaults(func=cmd_simulate)


def _add_map(sub) -> None:
    """The `mosaic map` subcommand."""
    p = sub.add_parser("map", help="place a network's neurons on the cores (CP-SAT, anneal, greedy, random)",
                       description="Map a network onto a chip and print the placement's traffic cost "
                                   "(spikes x routers), lower bound, gap and solver time; --compare runs "
                                   "every method side by side.")
    add_spec_args(p)
    add_net_args(p)
    g = p.add_argument_group("mapping")
    g.add_argument("--method", default="cpsat", choices=list(PLACE_METHODS), help="mapping method (default cpsat)")
    g.add_argument("--compare", action="store_true", help="run greedy, random, anneal and cpsat side by side")
    g.add_argument("--time-limit", type=float, default=10.0, help="solver time limit in seconds (default 10)")
    g.add_argument("--measure-rates", action="store_true",
                   help="simulate first (fill placement, --steps, --rate) and map with the measured spike rates")
    g.add_argument("--steps", type=int, default=50, help="time steps of the rate measurement (default 50)")
    g.add_argument("--rate", type=float, default=0.2, help="input spike probability per step (default 0.2)")
    g.add_argument("--out", default=None, metavar="FILE", help="write the (best) placement JSON here")
    g.add_argument("--plot", default=None, metavar="PNG", help="draw the (best) placement on the chip here")
    add_common_args(p)
    p.set_defaults(func=cmd_map)


def _add_grow(sub) -> None:
    """The `mosaic grow` subcommand."""
    p = sub.add_parser("grow", help="grow a spiking network where and when the chip's budget allows",
                       description="Train a spiking MLP and let the hardware-aware controller grow it "
                                   "(GradMax) at validation-loss plateaus, choosing the layer and size whose "
                                   "benefit per added energy/latency/port load is best within the budget; "
                                   "prints accuracy, energy and latency per inference after every growth.")
    p.add_argument("--initial", default="16", metavar="N1,N2,...", help="initial hidden sizes (default 16)")
    p.add_argument("--k", default="8,16", metavar="K1,K2,...", help="neurons per growth step to consider")
    p.add_argument("--max-neurons", type=int, default=None, help="cap on hidden neurons in total")
    p.add_argument("--check-every", type=int, default=20, help="training steps between growth opportunities")
    add_growth_run_args(p)
    p.set_defaults(func=cmd_grow)


def _add_score(sub) -> None:
    """The `mosaic score` subcommand."""
    p = sub.add_parser("score", help="score a growth schedule on the chip (accuracy, energy, latency)",
                       description="Train along a growth schedule (TOML/JSON: initial sizes and (step, layer, k) "
                                   "events), map incrementally after every growth, and print accuracy, "
                                   "energy and latency per inference, port use and budget violations per "
                                   "segment.")
    p.add_argument("schedule", help="schedule file (.toml or .json, see growth.schedules)")
    p.add_argument("--method", default="gradmax", choices=["gradmax", "random"], help="growth initialisation")
    add_growth_run_args(p)
    p.set_defaults(func=cmd_score)


def _add_sweep(sub) -> None:
    """The `mosaic sweep` subcommand."""
    p = sub.add_parser("sweep", help="run a parameter sweep on Dask into a SQLite store",
                       description="Run the grid of a sweep config (hardware x workloads x mapping x seeds) "
                                   "on a Dask LocalCluster (or --scheduler), storing each run's result in a "
                                   "SQLite file keyed by the hash of its config. An interrupted sweep "
                                   "continues with --resume; runs that failed are retried then. Exit status "
                                   "1 if any run failed (each is recorded with its error).")
    p.add_argument("config", help="sweep config TOML (see examples/sweep_example.toml)")
    p.add_argument("--db", default="results.sqlite", help="result store (default results.sqlite)")
    p.add_argument("--resume", action="store_true", help="continue a sweep into an existing --db")
    p.add_argument("--workers", type=int, default=None,
                   help="local Dask worker processes (default: one per core; 0 = no Dask, run here)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="use an existing Dask scheduler")
    p.add_argument("--connect-timeout", type=float, default=20.0, metavar="S",
                   help="seconds to wait for --scheduler before giving up (default 20)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="execute at most N runs now (the rest stay pending for --resume)")
    p.add_argument("--csv", default=None, metavar="FILE", help="export all stored runs to CSV at the end")
    p.add_argument("--dry-run", action="store_true", help="list the runs without executing them")
    add_common_args(p)
    p.set_defaults(func=cmd_sweep)


def _add_plot(sub) -> None:
    """The `mosaic plot` subcommand."""
    p = sub.add_parser("plot", help="draw the plots a sweep database supports",
                       description="Draw energy/latency vs core count, saturation (accepted vs offered "
                                   "traffic) and accuracy-energy Pareto plots from a sweep database.")
    p.add_argument("db", help="sweep database written by `mosaic sweep`")
    p.add_argument("--out", default="plots", help="folder for the PNGs (default plots/)")
    add_common_args(p)
    p.set_defaults(func=cmd_plot)


def _add_demo(sub) -> None:
    """The `mosaic demo` subcommand."""
    p = sub.add_parser("demo", help="end to end: train on digits, grow with GradMax, map with CP-SAT, "
                                    "simulate on mosaic-8x8, write the plots",
                       description="Train a small spiking network on digits, grow it with GradMax (random "
                                   "growth as the baseline), map it with CP-SAT and greedy, simulate it on "
                                   "the chip, and write the headline plots and summary.json into --out. "
                                   "A few minutes on 2 cores; --quick takes well under a minute.")
    p.add_argument("--out", default="results", help="output folder (default results/)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run")
    p.add_argument("--preset", default=DEFAULT_PRESET, help=f"hardware preset (default {DEFAULT_PRESET})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--time-limit", type=float, default=None, help="CP-SAT seconds (default 20, quick 2)")
    add_common_args(p)
    p.set_defaults(func=cmd_demo)


# The toolkit's own errors (bad input, impossible requests: every ``MosaicGrowError``) and
# the operating system's (a missing or unreadable file, a full disk) are one line and exit 2.
# Anything else is a bug: its traceback is shown and the exit status is 1.
BAD_INPUT = (MosaicGrowError, OSError)


def _interrupted(own_process: bool) -> int:
    """Ctrl-C: finished work was kept (stored sweep rows), partial outputs were removed.  As
    the console script (``own_process``) it exits at once: everything is closed by now, and
    the interpreter's teardown takes seconds once torch is loaded."""
    print("mosaic: interrupted", file=sys.stderr)
    if own_process:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    return 130


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mosaic`` console script; returns the exit status (``argv`` None:
    this process's command line, whose Ctrl-C exit is immediate, see ``_interrupted``)."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        with safe_interrupts():
            return func(args)
    except KeyboardInterrupt:
        return _interrupted(argv is None)
    except BrokenPipeError:                     # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except SystemError as e:                    # Ctrl-C inside a numba call surfaces as SystemError
        if is_interrupt(e):
            return _interrupted(argv is None)
        raise
    except BAD_INPUT as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"mosaic: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
