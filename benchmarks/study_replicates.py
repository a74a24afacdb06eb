"""Study: how much of one growth's predicted benefit and of its realised gain is batch noise.

At growth opportunities along a training run of a feed-forward front workload
(``growth.fronts.MLP_WORKLOADS``: digits_mlp, mnist1d_mlp, their run settings, one torch
thread), each candidate (grow hidden layer 0 or 1 by the workload's k) is measured ``R``
times:

- predicted: the controller's look-ahead (``growth.score._Run.lookahead``, twin baseline, the
  front's steps and batch) on ``R`` batch streams (``growth.benefit.stream_seed``);
- realised: ``R`` pairs (a copy grown by the candidate, a no-growth twin, both forked at the
  opportunity, each pair on its own batch stream: ``_Run.pair``, what
  ``RealisedGain(repeats=R)`` adds), L_val(twin) - L_val(grown) in nats after the controller's
  horizon (check_every x (plateau window + 1) steps) and after ``LONG`` x that horizon.

The run itself grows between opportunities (alternating layers, every other opportunity) so
that the opportunities span sizes.  Reported per workload: the noise (pooled sd over the R
repeats of one opportunity) and the signal (sd over opportunities of the R-mean, and that
less the noise's share, noise^2 / R) of both figures, and Spearman's rho between the mean
prediction and the mean realised gain over R' of the repeats, averaged over the disjoint
groups of R' repeats (R' = 1, 2, 4, ..., R), per layer and over all.  Writes
``benchmarks/results/study_replicates.json`` (``--quick``: ``benchmarks/results/quick/``).

    python benchmarks/study_replicates.py [--quick] [--repeats 8] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from growth.benefit import spearman, stream_seed
from growth.fronts import MLP_LOOK_BATCH, MLP_LOOK_STEPS, MLP_PLATEAU, MLP_WORKLOADS
from growth.score import RunConfig, _Run
from models.datasets import load_dataset
from mosaic.spec import HardwareSpec

RESULTS = Path(__file__).resolve().parent / "results"
LONG = 4                     # the longer horizon, in controller horizons
OPPORTUNITIES = {"digits_mlp": 12, "mnist1d_mlp": 10}


def measure(name: str, repeats: int, seed: int, quick: bool) -> dict:
    """Predicted and realised benefits of every (opportunity, layer): arrays [item, repeat]."""
    w = MLP_WORKLOADS[name]
    steps = w.quick_steps if quick else w.steps
    cfg = RunConfig(steps=steps, batch_size=w.batch_size, lr=w.lr, T=w.T, standardize=w.standardize, n_sim=0,
                    seed=seed)
    horizon = w.check_every(steps) * (MLP_PLATEAU.window + 1)     # the front controller's (RealisedGain)
    run = _Run(load_dataset(w.dataset, seed=seed), HardwareSpec.preset(w.preset), None, w.root, cfg)
    n_opp = 2 if quick else OPPORTUNITIES[name]
    at_steps = np.linspace(horizon, 0.8 * steps, n_opp).round().astype(int)
    items, pred, real, real_long = [], [], [], []
    step = 0
    for i, at in enumerate(tqdm(at_steps, desc=name, leave=False)):
        run.train(int(at) - step, step)
        step = int(at)
        looks = [run.lookahead((w.k,), MLP_LOOK_STEPS, None, step, MLP_LOOK_BATCH, stream=r) for r in range(repeats)]
        for layer in (0, 1):
            grown = run.fork()
            grown.grow(layer, w.k, "gradmax")
            gains = []
            for r in range(repeats):
                train, val = grown.pair(run, stream_seed(seed, step, r, pairs=True), None)
                train(horizon, step)
                (g, _), (t, _) = val()
                train((LONG - 1) * horizon, step + horizon)
                (gl, _), (tl, _) = val()
                gains.append((t - g, tl - gl))
            items.append({"step": step, "layer": layer, "sizes": run.sizes()})
            pred.append([lk.benefits("twin")[layer, w.k] for lk in looks])
            real.append([a for a, _ in gains])
            real_long.append([b for _, b in gains])
        if i % 2 == 1 and max(run.sizes()[:-1]) < w.max_hidden // 2:
            run.grow(i // 2 % 2, w.k, "gradmax")
    return {"workload": name, "seed": seed, "repeats": repeats, "horizon_steps": horizon,
            "long_horizon_steps": LONG * horizon, "look_steps": MLP_LOOK_STEPS, "items": items,
            "predicted": pred, "realised": real, "realised_long": real_long}


def spread(x: np.ndarray) -> dict:
    """Noise (pooled within-item sd over repeats), the sd over items of the mean of all
    repeats, and that corrected for the noise left in the mean (signal), nats."""
    noise = float(np.sqrt(np.mean(np.var(x, axis=1, ddof=1))))
    sd_mean = float(np.std(x.mean(1), ddof=1))
    signal = float(np.sqrt(max(0.0, sd_mean**2 - noise**2 / x.shape[1])))
    return {"noise_sd": noise, "sd_of_mean": sd_mean, "signal_sd": signal, "mean": float(x.mean()),
            "signal_to_noise": signal / noise if noise > 0 else float("nan")}


def _mean(values: list[float]) -> float:
    v = np.asarray(values, float)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")


def rho_by_repeats(pred: np.ndarray, real: np.ndarray, mask: np.ndarray) -> dict:
    """{R': rho of the R'-repeat means, averaged over the disjoint groups of R' repeats}; also
    with the full-R prediction against R'-repeat realised gains ("real_only") and vice versa."""
    out = {}
    n = pred.shape[1]
    r = 1
    while r <= n:
        groups = [slice(g * r, (g + 1) * r) for g in range(n // r)]
        both = [spearman(pred[mask, s].mean(1), real[mask, s].mean(1)) for s in groups]
        real_only = [spearman(pred[mask].mean(1), real[mask, s].mean(1)) for s in groups]
        pred_only = [spearman(pred[mask, s].mean(1), real[mask].mean(1)) for s in groups]
        out[str(r)] = {"both": _mean(both), "realised_averaged_only": _mean(real_only),
                       "predicted_averaged_only": _mean(pred_only), "groups": len(groups)}
        r *= 2
    return out


def summarise(m: dict) -> dict:
    pred, real, long = (np.asarray(m[k]) for k in ("predicted", "realised", "realised_long"))
    layers = np.array([it["layer"] for it in m["items"]])
    per = {}
    for t, mask in [("all", np.ones(len(layers), bool)), ("layer:0", layers == 0), ("layer:1", layers == 1)]:
        per[t] = {"n": int(mask.sum()), "predicted": spread(pred[mask]), "realised": spread(real[mask]),
                  "realised_long": spread(long[mask]), "rho": rho_by_repeats(pred, real, mask),
                  "rho_long": rho_by_repeats(pred, long, mask)}
    return per


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 opportunities, 2 repeats, the quick run lengths")
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    repeats = 2 if args.quick else args.repeats
    t0 = time.perf_counter()
    out = {"settings": {"repeats": repeats, "seed": args.seed, "long": LONG, "quick": args.quick}, "workloads": {}}
    for name in OPPORTUNITIES:
        m = measure(name, repeats, args.seed, args.quick)
        out["workloads"][name] = {"summary": summarise(m), "raw": m}
        s = out["workloads"][name]["summary"]["all"]
        print(json.dumps({"workload": name, "n": s["n"], "predicted": s["predicted"], "realised": s["realised"],
                          "realised_long": s["realised_long"],
                          "rho_both": {r: v["both"] for r, v in s["rho"].items()},
                          "rho_long_both": {r: v["both"] for r, v in s["rho_long"].items()}}), flush=True)
    out["wall_s"] = time.perf_counter() - t0
    folder = RESULTS / "quick" if args.quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study_replicates.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path} ({out['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
