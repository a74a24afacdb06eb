"""Activation sparsity on the chip: how much energy do fewer spikes save, at what accuracy,
and does a sparser network change where and when the controller grows it?

A spiking MLP (``models.snn.make_mlp``, snnTorch ``Leaky``, direct input over ``T`` steps)
is trained with ``models.training.fit`` on the spike-count cross-entropy for ``epochs``; each
setting then trains a copy ``tune_epochs`` more with a spike-rate penalty ``lam`` x (mean
spikes per hidden neuron per step) added to the loss (``lam = 0``: the dense reference, trained
as long).  The penalty starts from the trained network because the freshly initialised one
is almost silent: from there even a weak penalty silences it before the cross-entropy can
make it fire.  Threshold scaling multiplies every layer's firing threshold of the dense
network by ``s`` (same weights).  Each setting is measured on the chip (``models.readout.measure_on_chip``,
cycle routing, greedy placement): accuracy (snnTorch on the whole test split, and the
chip's own on the samples it ran), mean firing rate (spikes per neuron per chip step),
synaptic operations and energy per inference, and the routing share of that energy.

Growth decisions: the dense network (``lam = 0``) and the sparsest setting within one
accuracy point of it (within five if no setting but the dense one is within one) are each handed to ``growth.controller.GrowthController`` with the same
energy budget (``growth_budget`` x the dense network's cost-model energy at its measured
rates); for up to ``growth_rounds`` rounds the controller costs every (layer, k) candidate
from the network's own measured rates, the chosen one is grown by GradMax and trained one
epoch with the network's own penalty, until no candidate fits the budget.  The log says
where (layer, k) and when (round, energy before the step) each network grew.
"""
from __future__ import annotations

import copy
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import snntorch as snn
import torch
from torch import nn
from tqdm.auto import tqdm

from growth.controller import ControllerConfig, GrowthController, activity, layer_benefits, layered_network
from growth.grow import grow_layer, hidden_sizes
from growth.metrics import pareto_mask
from mapper import map_network
from models.datasets import load_dataset
from models.export import to_network
from models.readout import measure_on_chip
from models.snn import encode, evaluate, make_mlp, reset_state, run
from models.training import fit, shuffled_batches
from mosaic.cost import CostBudget, estimate_cost
from mosaic.figures import new_figure, save
from mosaic.spec import HardwareSpec
from mosaic_grow.errors import AppError


@dataclass(frozen=True)
class SparsityConfig:
    """The study's protocol: ``dataset`` (``n_train``/``n_test``, None: all), hidden sizes,
    ``T`` steps per inference, ``epochs`` of Adam at ``lr`` (cosine, batch 64) and
    ``tune_epochs`` more per setting, the rate penalties ``lams`` (the first must be 0, the
    dense reference) and threshold factors
    ``thresholds``; ``n_chip`` test samples on ``preset``; the growth comparison's
    ``growth_rounds``, ``growth_budget`` (x the dense network's energy) and ``k_options``."""

    dataset: str = "digits"
    n_train: int | None = None
    n_test: int | None = None
    hidden: tuple[int, ...] = (64, 64)
    T: int = 8
    epochs: int = 20
    tune_epochs: int = 10
    lr: float = 2e-3
    lams: tuple[float, ...] = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)
    thresholds: tuple[float, ...] = (1.1, 1.25, 1.5, 2.0)
    n_chip: int = 100
    preset: str = "mosaic-8x8"
    growth_rounds: int = 10
    growth_budget: float = 1.15
    k_options: tuple[int, ...] = (4, 8, 16)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.lams or self.lams[0] != 0 or min(self.lams) < 0:
            raise AppError(f"sparsity study: lams must start with 0 (the dense reference) and be >= 0, got {self.lams}")
        if (any(s <= 0 for s in self.thresholds) or min(self.epochs, self.tune_epochs, self.n_chip) < 1
                or self.growth_rounds < 0):
            raise AppError(f"sparsity study: need thresholds > 0, epochs, tune_epochs, n_chip >= 1 and "
                           f"growth_rounds >= 0; "
                           f"got {self}")

    @classmethod
    def quick(cls) -> SparsityConfig:
        """Seconds: small hidden layers, 4 epochs, a dense and one penalised network, one threshold
        factor, 16 chip samples."""
        return cls(hidden=(32, 32), epochs=4, tune_epochs=2, lams=(0.0, 0.3), thresholds=(1.5,), n_chip=16,
                   growth_rounds=2)


def _rate_penalty(layers: list[torch.Tensor]) -> torch.Tensor:
    """Mean spikes per hidden neuron per step (the output layer is not penalised: the class
    is read from its spike counts)."""
    return torch.cat([l.mean(dim=(0, 1)) for l in layers[:-1]]).mean()


def train_epochs(model: nn.Sequential, ds, cfg: SparsityConfig, lam: float, epochs: int, seed: int) -> float:
    """``epochs`` of Adam on spike-count cross-entropy + ``lam`` x hidden rate; last loss."""
    x, y = torch.as_tensor(ds.x_train), torch.as_tensor(ds.y_train)
    gen = torch.Generator().manual_seed(seed)

    def loss(idx, step):
        spk, _, layers = run(model, encode(x[idx], cfg.T), record=True)
        ce = nn.functional.cross_entropy(spk.sum(0), y[idx])
        return ce + lam * _rate_penalty(layers) if lam else ce

    model.train()
    res = fit(model.parameters(), shuffled_batches(len(y), 64, gen), loss, epochs=epochs, lr=cfg.lr, cosine=True)
    model.eval()
    reset_state(model)
    return res.loss


def scaled_thresholds(model: nn.Sequential, factor: float) -> nn.Sequential:
    """A copy of ``model`` with every spiking layer's threshold multiplied by ``factor``."""
    out = copy.deepcopy(model)
    for m in out:
        if isinstance(m, snn.Leaky):
            m.threshold = m.threshold * factor
    return out


def measure(model: nn.Sequential, ds, spec: HardwareSpec, cfg: SparsityConfig) -> dict:
    """snnTorch test accuracy and the chip's figures per inference (module doc)."""
    acc = evaluate(model, ds, T=cfg.T)["accuracy"]
    net = to_network(model)
    placement = map_network(net, spec, method="greedy")
    xs, ys = ds.x_test[:cfg.n_chip], ds.y_test[:cfg.n_chip]
    res = measure_on_chip(net, spec, placement, xs, cfg.T, routing="cycle")
    e = res.energy_pj
    return dict(accuracy=float(acc), chip_accuracy=res.accuracy(ys), neurons=int(net.n_neurons),
                rate=res.spikes_per_sample / (net.n_neurons * res.steps),
                synaptic_ops=e["synaptic"] / spec.e_synaptic_pj, energy_pj=float(e["total"]),
                routing_share=float(e["routing"] / e["total"]) if e["total"] > 0 else 0.0)


def sparsest_within(records: list[dict], points: float = 1.0) -> dict:
    """The setting of lowest firing rate whose accuracy is within ``points`` accuracy points
    (percent) of the dense network's (``lam = 0``, unscaled)."""
    dense = next(r for r in records if r["knob"] == "dense")
    ok = [r for r in records if r["accuracy"] >= dense["accuracy"] - points / 100]
    return min(ok, key=lambda r: (r["rate"], r["energy_pj"]))


def growth_log(model: nn.Sequential, ds, spec: HardwareSpec, cfg: SparsityConfig, lam: float,
               budget_pj: float) -> list[dict]:
    """The controller's decisions growing a copy of ``model`` within ``budget_pj`` (module doc)."""
    model = copy.deepcopy(model)
    n_in, n_out = ds.n_features, ds.n_classes
    ctl = GrowthController(spec, CostBudget(energy_pj=budget_pj),
                           ControllerConfig(k_options=cfg.k_options, T=cfg.T, seed=cfg.seed))
    gen = torch.Generator().manual_seed(cfg.seed)
    x_val = np.asarray(ds.x_train[:64])
    sizes = [*hidden_sizes(model), n_out]
    rates, in_rates, analog = activity(model, x_val, cfg.T)
    core_of = np.asarray(map_network(layered_network(n_in, sizes), spec, method="greedy",
                                     rates=np.maximum(rates, 1e-3)).core_of)
    log = []
    for r in range(cfg.growth_rounds):
        idx = torch.randperm(len(ds.y_train), generator=gen)[:256]
        batch = (encode(torch.as_tensor(ds.x_train[idx.numpy()]), cfg.T), torch.as_tensor(ds.y_train[idx.numpy()]))
        sv = layer_benefits(model, batch, nn.functional.cross_entropy, len(sizes) - 1)
        base, cands = ctl.candidates(n_in, sizes, core_of, rates, in_rates, sv, analog_input=analog)
        best = ctl.select(cands)
        entry = dict(round=r, sizes=list(sizes), energy_pj=float(base.energy_pj["total"]),
                     mean_rate=float(np.mean(rates)), action="refuse" if best is None else "grow")
        log.append(entry)
        if best is None:
            entry["reason"] = "; ".join(f"(layer {c.layer}, k {c.k}) {', '.join(c.refused)}" for c in cands)
            break
        grow_layer(model, best.layer, best.k, data=batch, loss_fn=nn.functional.cross_entropy, fill=True,
                   generator=gen)
        entry.update(layer=best.layer, k=best.k, predicted_energy_pj=float(best.cost.energy_pj["total"]))
        core_of = best.core_of
        sizes = [*hidden_sizes(model), n_out]
        train_epochs(model, ds, cfg, lam, 1, cfg.seed + 100 + r)
        rates, in_rates, analog = activity(model, x_val, cfg.T)
    return log


def run_sparsity(cfg: SparsityConfig | None = None, *, quick: bool = False, progress: bool = True) -> dict:
    """The study: ``{"settings": [one record per setting], "growth": {"dense": log, "sparse":
    log, "sparse_setting": name, "tolerance_points": 1 or 5, "budget_pj": ...}}`` (``cfg``
    default: ``SparsityConfig.quick()`` if ``quick`` else ``SparsityConfig()``)."""
    cfg = cfg or (SparsityConfig.quick() if quick else SparsityConfig())
    torch.set_num_threads(1)
    ds = load_dataset(cfg.dataset, seed=cfg.seed, n_train=cfg.n_train, n_test=cfg.n_test)
    spec = HardwareSpec.preset(cfg.preset)
    sizes = [ds.n_features, *cfg.hidden, ds.n_classes]
    models, records = {}, []
    bar = tqdm(total=len(cfg.lams) + len(cfg.thresholds), desc="sparsity study", disable=not progress)
    base = make_mlp(sizes, "leaky", seed=cfg.seed)
    train_epochs(base, ds, cfg, 0.0, cfg.epochs, cfg.seed)
    for lam in cfg.lams:
        model = copy.deepcopy(base)
        train_epochs(model, ds, cfg, lam, cfg.tune_epochs, cfg.seed + 1)
        name = "dense" if lam == 0 else f"rate penalty {lam:g}"
        models[name] = (model, lam)
        records.append(dict(setting=name, knob="dense" if lam == 0 else "rate penalty", strength=float(lam),
                            **measure(model, ds, spec, cfg)))
        bar.update()
    for s in cfg.thresholds:
        model = scaled_thresholds(models["dense"][0], s)
        name = f"threshold x{s:g}"
        models[name] = (model, 0.0)
        records.append(dict(setting=name, knob="threshold", strength=float(s), **measure(model, ds, spec, cfg)))
        bar.update()
    bar.close()
    sparse, tolerance = sparsest_within(records), 1.0
    if sparse["knob"] == "dense":            # nothing sparser within 1 point: compare with the sparsest within 5
        sparse, tolerance = sparsest_within(records, 5.0), 5.0
    dense_model = models["dense"][0]
    rates, in_rates, _ = activity(dense_model, np.asarray(ds.x_train[:64]), cfg.T)
    net = layered_network(ds.n_features, sizes[1:])
    core_of = map_network(net, spec, method="greedy", rates=np.maximum(rates, 1e-3)).core_of
    budget = cfg.growth_budget * estimate_cost(net, spec, core_of, rates, in_rates, T=cfg.T).energy_pj["total"]
    growth = {"budget_pj": float(budget), "sparse_setting": sparse["setting"], "tolerance_points": tolerance}
    for key, name in (("dense", "dense"), ("sparse", sparse["setting"])):
        growth[key] = growth_log(models[name][0], ds, spec, cfg, models[name][1], budget)
    return {"settings": records, "growth": growth}


def _grown(log: list[dict]) -> dict[int, int]:
    out: dict[int, int] = {}
    for e in log:
        if e["action"] == "grow":
            out[e["layer"]] = out.get(e["layer"], 0) + e["k"]
    return out


def sparsity_table(result: dict) -> str:
    """One line per setting, then where and when each network grew."""
    head = (f"{'setting':20s} {'acc':>6s} {'chip acc':>8s} {'rate':>7s} {'SOPs':>9s} {'E/inf nJ':>9s} "
            f"{'routing':>7s}  front")
    lines = [head, "-" * len(head)]
    recs = result["settings"]
    front = pareto_mask([r["energy_pj"] for r in recs], [r["accuracy"] for r in recs])
    for r, on in zip(recs, front):
        lines.append(f"{r['setting']:20s} {r['accuracy']:>6.3f} {r['chip_accuracy']:>8.3f} {r['rate']:>7.4f} "
                     f"{r['synaptic_ops']:>9.0f} {r['energy_pj'] / 1e3:>9.2f} {r['routing_share']:>7.3f}  "
                     f"{'*' if on else ''}")
    g = result["growth"]
    lines.append(f"growth within {g['budget_pj'] / 1e3:.1f} nJ per inference (sparse: the sparsest setting within "
                 f"{g['tolerance_points']:g} accuracy points of dense):")
    for key in ("dense", "sparse"):
        steps = [f"r{e['round']}: L{e['layer']}+{e['k']}" for e in g[key] if e["action"] == "grow"]
        name = "dense" if key == "dense" else g["sparse_setting"]
        lines.append(f"  {name:20s} grew {_grown(g[key]) or 'nothing'} ({', '.join(steps) or '-'}); "
                     f"{'stopped by the budget' if g[key] and g[key][-1]['action'] == 'refuse' else 'round limit'}")
    return "\n".join(lines)


def sparsity_figure(result: dict, path: str | Path | None = None):
    """Accuracy vs energy per inference (the front), energy and routing share vs firing
    rate, and the growth each network got within the same budget; PNG when ``path`` given."""
    recs = result["settings"]
    if not recs:
        raise AppError("sparsity_figure: no settings to plot")
    fig, (a1, a2, a3) = new_figure(3, 5.0, 4.0)
    e = np.array([r["energy_pj"] / 1e3 for r in recs])
    acc = np.array([100 * r["accuracy"] for r in recs])
    rate = np.array([r["rate"] for r in recs])
    for i, knob in enumerate(("dense", "rate penalty", "threshold")):
        sel = np.array([r["knob"] == knob for r in recs])
        a1.scatter(e[sel], acc[sel], color=f"C{i}", label=knob, zorder=3)
        a2.scatter(rate[sel], e[sel], color=f"C{i}", label=knob)
    for r, x, y in zip(recs, e, acc):
        a1.annotate(r["setting"].replace("rate penalty", "lam").replace("threshold ", "thr "), (x, y), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")
    front = pareto_mask(e, acc)
    order = np.argsort(e[front])
    a1.step(e[front][order], acc[front][order], where="post", color="0.4", lw=0.9, label="front")
    a1.set_xlabel("energy per inference (nJ)")
    a1.set_ylabel("test accuracy (%)")
    a1.set_title("accuracy-energy front")
    a1.legend(fontsize=7)
    a2.set_xlabel("mean firing rate (spikes per neuron per step)")
    a2.set_ylabel("energy per inference (nJ)")
    share = a2.twinx()
    share.plot(rate[np.argsort(rate)], [recs[i]["routing_share"] for i in np.argsort(rate)], "k:", lw=0.9)
    share.set_ylabel("routing share of the energy (dotted)")
    a2.set_title("energy follows the spikes")
    g = result["growth"]
    for i, key in enumerate(("dense", "sparse")):
        log = g[key]
        a3.plot([x["round"] for x in log], [x["energy_pj"] / 1e3 for x in log], "o-", color=f"C{i + 3}",
                label="dense" if key == "dense" else g["sparse_setting"])
        for x in log:
            if x["action"] == "grow":
                a3.annotate(f"L{x['layer']}+{x['k']}", (x["round"], x["energy_pj"] / 1e3), fontsize=7,
                            xytext=(3, -9 if i else 4), textcoords="offset points", color=f"C{i + 3}")
    a3.axhline(g["budget_pj"] / 1e3, color="C3", ls="--", lw=0.8, label="budget")
    a3.set_xlabel("growth round")
    a3.set_ylabel("cost-model energy before the round (nJ)")
    a3.set_title("where and when the controller grows")
    a3.legend(fontsize=7)
    return save(fig, path)


def sparsity_targets(result: dict, cfg: SparsityConfig, quick: bool) -> list[dict]:
    """The study's target line (``benchmarks/targets.py`` keys): ``sparsity_energy_reduction``
    = energy per inference of the sparsest setting within one accuracy point of the dense
    network, relative to the dense one (reported), with the growth each network got."""
    recs = result["settings"]
    dense = next(r for r in recs if r["knob"] == "dense")
    sparse = sparsest_within(recs)
    ratio = sparse["energy_pj"] / dense["energy_pj"]
    g = result["growth"]
    growth = {k: {"grown": {str(l): n for l, n in _grown(g[k]).items()},
                  "steps": [[e["round"], e["layer"], e["k"]] for e in g[k] if e["action"] == "grow"],
                  "stopped_by_budget": bool(g[k]) and g[k][-1]["action"] == "refuse"} for k in ("dense", "sparse")}
    note = (f"{cfg.dataset}, hidden {list(cfg.hidden)}, T={cfg.T}, {cfg.epochs} + {cfg.tune_epochs} epochs, "
            f"{cfg.n_chip} chip samples, "
            f"one seed" + ("; quick run" if quick else ""))
    return [dict(target="sparsity_energy_reduction", value=round(ratio, 4),
                 goal="reported (energy of the sparsest setting within 1 accuracy point of dense / dense energy)",
                 met=bool(np.isfinite(ratio)), setting=sparse["setting"], reduction=round(1 - ratio, 4),
                 dense={k: round(dense[k], 5) for k in ("accuracy", "rate", "energy_pj", "routing_share")},
                 sparse={k: round(sparse[k], 5) for k in ("accuracy", "rate", "energy_pj", "routing_share")},
                 growth_budget_pj=round(g["budget_pj"], 1), growth=growth, note=note)]


def bench(quick: bool, out: str | Path | None = None, *, progress: bool = False) -> list[dict]:
    """Run the study (quick or full), print its table, write ``study_sparsity.png`` into
    ``out`` if given, and return :func:`sparsity_targets`.  A full run keeps its result in
    ``<temp dir>/mosaic_study_sparsity.json`` and reuses it when rerun with the same protocol."""
    cfg = SparsityConfig.quick() if quick else SparsityConfig()
    ckpt = Path(tempfile.gettempdir()) / "mosaic_study_sparsity.json"
    saved = json.loads(ckpt.read_text()) if not quick and ckpt.exists() else {}
    if saved.get("protocol") == repr(cfg):
        result = saved["result"]
    else:
        result = run_sparsity(cfg, progress=progress)
        if not quick:
            ckpt.write_text(json.dumps({"protocol": repr(cfg), "result": result}))
    print(sparsity_table(result), flush=True)
    if out is not None:
        sparsity_figure(result, Path(out) / "study_sparsity.png")
    return sparsity_targets(result, cfg, quick)


__all__ = ["SparsityConfig", "run_sparsity", "sparsity_table", "sparsity_figure", "bench", "sparsity_targets", "measure",
           "scaled_thresholds", "sparsest_within", "train_epochs", "growth_log"]
