"""The end-to-end demo behind ``mosaic demo``: train, grow, map, simulate, plot.

1. train a small spiking MLP (snnTorch ``Leaky``) on scikit-learn's digits (offline);
2. grow its hidden layer with GradMax in a few steps (and, from the same trained root,
   with random fan-out as the baseline), training after every step;
3. measure every stage on the chip: accuracy and energy per inference from simulating
   test samples on the preset (default ``mosaic-8x8``, greedy placement);
4. map the final GradMax network with CP-SAT and with greedy, using spike rates measured
   on the chip, and simulate both with the cycle-approximate network-on-chip;
5. simulate the same network on a fixed number of neuron slots split into 4 to 64 tiles;
6. write the headline plots (growth paths, accuracy vs energy Pareto front, energy by
   category for CP-SAT vs greedy, router load on the Mosaic layout, energy and latency vs
   core count, the placement) and a ``summary.json`` into the output folder.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import matplotlib.pyplot as plt
import numpy as np
import torch

from growth import grow_layer
from mapper import map_network, plot_placement
from mapper.request import MAX_TIME_LIMIT_S
from models import encode, load_dataset, make_mlp
from models.export import layer_slices, to_network
from models.readout import chip_inputs, measure_on_chip
from models.snn import evaluate, train
from mosaic.files import atomic_write_text, dumps_strict
from mosaic.network import MAX_NEURONS
from mosaic.simulate import simulate
from mosaic.spec import HardwareSpec

from . import plots
from .errors import AppError


class DemoError(AppError):
    """A demo configuration is invalid (checked before anything trains or is written)."""


@dataclass
class DemoConfig:
    """Sizes and budgets.  ``hidden0`` neurons grown by ``k`` per step, ``n_grow`` steps;
    ``epochs0`` epochs of training before growth and ``epochs`` after each step; ``T`` time
    steps per inference (rate-coded inputs); ``n_chip`` test samples simulated per stage;
    ``time_limit`` CP-SAT seconds; ``n_train`` training samples (None: all 1437)."""

    preset: str = "mosaic-8x8"
    hidden0: int = 32
    k: int = 32
    n_grow: int = 3
    epochs0: int = 10
    epochs: int = 4
    batch_size: int = 128
    lr: float = 5e-3
    T: int = 10
    encoder: str = "rate"
    n_chip: int = 100
    time_limit: float = 20.0
    n_train: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for f in ("hidden0", "k", "n_grow", "epochs0", "epochs", "batch_size", "T", "n_chip"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_NEURONS:
                raise DemoError(f"DemoConfig.{f} must be a whole number in 1..{MAX_NEURONS:,}, got {v!r}")
        for f, high in (("lr", 1.0), ("time_limit", MAX_TIME_LIMIT_S)):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= high:
                raise DemoError(f"DemoConfig.{f} (--{f.replace('_', '-')}) must be a positive, finite "
                                f"number up to {high:g}, got {v!r}")

    @classmethod
    def quick(cls, **changes: Any) -> "DemoConfig":
        """A configuration that runs in well under a minute (for tests and a first look)."""
        base = dict(hidden0=16, k=16, n_grow=1, epochs0=3, epochs=1, n_chip=20, time_limit=1.0, n_train=400)
        return cls(**{**base, **changes})


def _stage_on_chip(net, spec, x, y, cfg: DemoConfig, placement=None) -> dict[str, Any]:
    """Accuracy, energy per inference (pJ by category) and packets of ``net`` on the chip."""
    res = measure_on_chip(net, spec, placement, x, cfg.T, cfg.encoder, routing="cycle", seed=cfg.seed)
    return {"chip_accuracy": res.accuracy(y), "energy_pj": res.energy_pj, "packets": res.packets}


def _chip_traffic(net, spec, placement, x, cfg: DemoConfig) -> dict[str, Any]:
    """Simulate the samples ``x`` one by one: router load summed over them, mean and max step
    latency (cycles), mean energy per inference (pJ by category)."""
    res = measure_on_chip(net, spec, placement, x, cfg.T, cfg.encoder, routing="cycle", seed=cfg.seed)
    return {"router_load": res.router_load.astype(float), "latency_mean_cycles": res.latency_mean_cycles,
            "latency_max_cycles": float(res.latency_max_cycles), "energy_pj": res.energy_pj}


def run_demo(out_dir: str | Path, cfg: DemoConfig | None = None, *, progress: bool = True,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo, write its plots and ``summary.json`` into ``out_dir``; returns the summary."""
    cfg = cfg or DemoConfig()
    torch.set_num_threads(1)          # small models train fastest so, and the machine is shared
    out = Path(out_dir)
    spec = HardwareSpec.preset(cfg.preset)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    t_start = time.perf_counter()
    data = load_dataset("digits", seed=cfg.seed, n_train=cfg.n_train)
    x_chip, y_chip = data.x_test[: cfg.n_chip], data.y_test[: cfg.n_chip]
    log(f"[1/5] training a spiking MLP 64-{cfg.hidden0}-10 on digits "
        f"({len(data.y_train)} train / {len(data.y_test)} test, T={cfg.T}, {cfg.encoder} code)")
    root = make_mlp([data.n_features, cfg.hidden0, data.n_classes], "leaky", seed=cfg.seed)
    train(root, data, T=cfg.T, encoder=cfg.encoder, epochs=cfg.epochs0, batch_size=cfg.batch_size, lr=cfg.lr,
          seed=cfg.seed, progress=progress)
    arms, models_final = _grow_arms(root, data, spec, x_chip, y_chip, cfg, progress, log)
    net = to_network(models_final["gradmax"])
    placements, mapped, rate_report = _map_and_measure(net, spec, x_chip, y_chip, cfg, log)
    per_cores = _core_count(net, spec, rate_report, x_chip, cfg, log)
    written = _write_plots(out, spec, net, arms, mapped, per_cores, placements, rate_report, x_chip, log)
    summary = _summary(cfg, spec, net, arms, mapped, per_cores, written, time.perf_counter() - t_start)
    atomic_write_text(out / "summary.json", dumps_strict(json.loads(json.dumps(summary, default=float)), indent=1))
    return summary


def _grow_arms(root, data, spec, x_chip, y_chip, cfg: DemoConfig, progress: bool, log):
    """Grow copies of the trained ``root`` with GradMax and with random fan-out, measuring every
    stage: ({method: {hidden, accuracy, chip_accuracy, energy_nj}}, {method: final model})."""
    rng = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(len(data.y_train), generator=rng)[:256]
    xb = encode(torch.as_tensor(data.x_train[idx.numpy()]), cfg.T, cfg.encoder, seed=cfg.seed)
    yb = torch.as_tensor(data.y_train[idx.numpy()])

    def loss_fn(o, t):
        return torch.nn.functional.cross_entropy(o, t)

    arms: dict[str, dict[str, list]] = {}
    models_final = {}
    for method in ("gradmax", "random"):
        log(f"[2/5] growing the hidden layer by {cfg.k} x {cfg.n_grow} with {method}, "
            f"measuring every stage on {spec.name}")
        model = copy.deepcopy(root)
        stages: dict[str, list] = {"hidden": [], "accuracy": [], "chip_accuracy": [], "energy_nj": []}
        for stage in range(cfg.n_grow + 1):
            if stage:
                grow_layer(model, 0, cfg.k, method=method, data=(xb, yb), loss_fn=loss_fn, fill=True,
                           generator=torch.Generator().manual_seed(cfg.seed + stage))
                train(model, data, T=cfg.T, encoder=cfg.encoder, epochs=cfg.epochs, batch_size=cfg.batch_size,
                      lr=cfg.lr, seed=cfg.seed + stage, progress=progress)
            acc = evaluate(model, data, cfg.T, cfg.encoder, seed=cfg.seed)["accuracy"]
            chip = _stage_on_chip(to_network(model), spec, x_chip, y_chip, cfg)
            hidden = model[0].out_features
            stages["hidden"].append(hidden)
            stages["accuracy"].append(acc)
            stages["chip_accuracy"].append(chip["chip_accuracy"])
            stages["energy_nj"].append(chip["energy_pj"]["total"] / 1e3)
            log(f"      {method:8s} hidden={hidden:3d}  accuracy {100 * acc:5.1f}% (snnTorch), "
                f"{100 * chip['chip_accuracy']:5.1f}% on chip, {chip['energy_pj']['total'] / 1e3:8.1f} nJ/inference")
        arms[method] = stages
        models_final[method] = model
    return arms, models_final


def _map_and_measure(net, spec, x_chip, y_chip, cfg: DemoConfig, log):
    """Map ``net`` with greedy and CP-SAT using chip-measured rates and simulate both:
    (placements, {method: figures}, the rate-measuring RunReport)."""
    log(f"[3/5] mapping the grown network ({net.n_neurons} neurons, {net.n_synapses} synapses) "
        f"with CP-SAT ({cfg.time_limit:g} s) and greedy, using rates measured on the chip")
    xs = chip_inputs(x_chip[:20], cfg.T, cfg.encoder, len(layer_slices(net)), cfg.seed)
    rate_report = simulate(net, spec, None, np.concatenate(list(xs)), routing="ideal")
    placements = {m: map_network(net, spec, m, rates=rate_report, time_limit=cfg.time_limit, seed=cfg.seed)
                  for m in ("greedy", "cpsat")}
    for m, p in placements.items():
        log(f"      {m:6s} traffic cost {p.objective:10.1f}  lower bound {p.bound:8.1f}  "
            f"cores {np.unique(p.core_of).size:2d}  {p.wall_s:5.1f} s")

    log(f"[4/5] simulating {len(y_chip)} test digits on {spec.name} (cycle-approximate routing)")
    mapped = {}
    for m, p in placements.items():
        res = _stage_on_chip(net, spec, x_chip, y_chip, cfg, placement=p)
        tr = _chip_traffic(net, spec, p, x_chip[:10], cfg)
        lat_mean, lat_max = tr["latency_mean_cycles"], tr["latency_max_cycles"]
        mapped[m] = {**res, "router_load": tr["router_load"], "latency_mean_cycles": lat_mean,
                     "latency_max_cycles": lat_max, "traffic_cost": p.objective, "bound": p.bound,
                     "cores_used": int(np.unique(p.core_of).size)}
        log(f"      {m:6s} accuracy {100 * res['chip_accuracy']:5.1f}%  energy {res['energy_pj']['total'] / 1e3:8.1f} "
            f"nJ/inference (routing {res['energy_pj']['routing'] / 1e3:6.2f} nJ)  latency mean {lat_mean:5.1f} "
            f"max {lat_max:4.0f} cycles")
    return placements, mapped, rate_report


def _core_count(net, spec, rate_report, x_chip, cfg: DemoConfig, log) -> list[dict[str, Any]]:
    """Energy and latency of ``net`` on a fixed number of neuron slots split into 4 to 64 tiles."""
    slots = 1 << int(np.ceil(np.log2(net.n_neurons)))
    log(f"      the same network on {slots} neuron slots split into 4 to 64 tiles (greedy and CP-SAT)")
    per_cores = []
    for rows_, cols_ in ((2, 2), (2, 4), (4, 4), (4, 8), (8, 8)):
        if slots % (rows_ * cols_) or slots // (rows_ * cols_) < 1:
            continue
        s_g = spec.replace(rows=rows_, cols=cols_, neurons_per_core=slots // (rows_ * cols_))
        for m in ("greedy", "cpsat"):
            p_g = map_network(net, s_g, m, rates=rate_report, time_limit=max(1.0, cfg.time_limit / 4), seed=cfg.seed)
            tr = _chip_traffic(net, s_g, p_g, x_chip[:10], cfg)
            per_cores.append({"n_cores": s_g.n_cores, "method": m, "energy_total_pj": tr["energy_pj"]["total"],
                              "energy_routing_pj": tr["energy_pj"]["routing"],
                              "latency_mean_cycles": tr["latency_mean_cycles"]})
    return per_cores


def _write_plots(out: Path, spec, net, arms, mapped, per_cores, placements, rate_report, x_chip,
                 log) -> list[Path]:
    """The headline PNGs in ``out``; returns their paths."""
    log(f"[5/5] writing plots to {out}/")
    written = []
    written.append(out / "growth_accuracy.png")
    plots.growth_paths({m: (a["hidden"], a["accuracy"]) for m, a in arms.items()}, written[-1],
                       xlabel="hidden neurons", ylabel="test accuracy (snnTorch)")
    points = [(arms["gradmax"]["energy_nj"][0], arms["gradmax"]["chip_accuracy"][0],
               f"root {arms['gradmax']['hidden'][0]}")]       # both arms start from the same root
    points += [(a["energy_nj"][i], a["chip_accuracy"][i], f"{m} {a['hidden'][i]}")
               for m, a in arms.items() for i in range(1, len(a["hidden"]))]
    e, acc, labels = (list(v) for v in zip(*points))
    written.append(out / "pareto_accuracy_energy.png")
    plots.pareto_front(e, acc, written[-1], labels=labels, energy_label=f"energy per inference on {spec.name} (nJ)")
    written.append(out / "energy_cpsat_vs_greedy.png")
    plots.energy_breakdown({m: v["energy_pj"] for m, v in mapped.items()}, written[-1],
                           title=f"energy per inference on {spec.name}: CP-SAT vs greedy placement")
    written.append(out / "router_load_cpsat.png")
    plots.router_heatmap(spec, mapped["cpsat"]["router_load"], written[-1],
                         title=f"router load, CP-SAT placement, {len(x_chip[:10])} digits on {spec.name}")
    written.append(out / "energy_latency_vs_cores.png")
    plots.energy_latency_vs_cores(per_cores, written[-1], group="method", energy_label="energy per inference (uJ)")
    written.append(out / "placement_cpsat.png")
    fig = plot_placement(net, spec, placements["cpsat"], rates=rate_report, path=written[-1])
    plt.close(fig)
    return written


def _summary(cfg: DemoConfig, spec, net, arms, mapped, per_cores, written, wall_s: float) -> dict[str, Any]:
    """The ``summary.json`` document: growth paths, mapping figures, CP-SAT over greedy ratios."""
    g, c = mapped["greedy"], mapped["cpsat"]
    return {
        "preset": spec.name, "config": cfg.__dict__, "growth": arms,
        "final": {"neurons": net.n_neurons, "synapses": net.n_synapses,
                  "accuracy_snntorch": arms["gradmax"]["accuracy"][-1]},
        "mapping": {m: {k: v for k, v in d.items() if k != "router_load"} for m, d in mapped.items()},
        "core_count": per_cores,
        "cpsat_over_greedy": {"traffic_cost": c["traffic_cost"] / g["traffic_cost"] if g["traffic_cost"] else None,
                              "routing_energy": (c["energy_pj"]["routing"] / g["energy_pj"]["routing"]
                                                 if g["energy_pj"]["routing"] else None),
                              "total_energy": c["energy_pj"]["total"] / g["energy_pj"]["total"]},
        "plots": [p.name for p in written], "wall_s": wall_s,
    }
