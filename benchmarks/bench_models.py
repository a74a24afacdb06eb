"""Benchmark for issue 4: spiking MLPs trained with snnTorch, exported to the simulated
``mosaic-8x8`` chip, and compared with the snnTorch run on the same input.

Measured side by side in one run: training time (CPU seconds of this single-threaded
process, so other load on the machine does not count; wall seconds printed too), test
accuracy in snnTorch and on the chip (routing "ideal"), how many predictions agree,
spikes and energy per inference from the simulator, the accuracy cost of quantising the
weights to the chip's ``weight_bits``, and ANN-to-SNN conversion.  Digits figures are
means over three stratified splits (seeds 0, 1, 2: one 360-sample test set moves by
+-0.5 % between splits).  Ends with one JSON line per target of the issue.

    python benchmarks/bench_models.py [--quick]

Output: one JSON line per target, {"target": name, "value": ..., "goal": "...", "met": bool, ...}
(``targets.target`` / ``targets.emit``), also written to ``benchmarks/results/<name>.json``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from models.convert import convert
from models.datasets import load_dataset
from models.export import quantize, to_network
from models.readout import measure_on_chip
from models.snn import evaluate, make_mlp, train
from mosaic import HardwareSpec
from targets import emit, target

SPEC = "mosaic-8x8"


def run_one(ds, sizes, *, T, encoder, epochs, lr, spec, seed=0, budget=None, bits=None, standardize=False):
    """Train, evaluate in snnTorch and on the chip; one row of figures."""
    model = make_mlp(sizes, seed=seed)
    info = train(model, ds, T=T, encoder=encoder, epochs=epochs, lr=lr, seed=seed, progress=False,
                 time_budget=budget, standardize=standardize)
    ev = evaluate(model, ds, T, encoder)
    chip = measure_on_chip(to_network(model), spec, None, ds.x_test, T, encoder, routing="ideal")
    row = {"data": ds.name, "encoder": encoder, "T": T, "sizes": "-".join(map(str, sizes)),
           "epochs": info["epochs"], "train_cpu_s": info["cpu_s"], "train_wall_s": info["wall_s"],
           "snn_acc": ev["accuracy"], "chip_acc": chip.accuracy(ds.y_test),
           "agree": float(np.mean(chip.predictions == ev["predictions"])),
           "spikes_snn": ev["spikes_per_sample"] + ev["input_spikes_per_sample"],
           "spikes_chip": chip.spikes_per_sample, "energy_nj": chip.energy_pj["total"] / 1e3,
           "packets": chip.packets["injected"] / len(ds.y_test)}
    if bits:
        q = quantize(model, bits)
        qchip = measure_on_chip(to_network(q), spec, None, ds.x_test, T, encoder, routing="ideal")
        row[f"chip_acc_w{bits}"] = qchip.accuracy(ds.y_test)
    return row


def show(rows, keys):
    print("  ".join(f"{k:>12}" for k in keys))
    for r in rows:
        print("  ".join(f"{r[k]:>12.4g}" if isinstance(r[k], float) else f"{str(r[k]):>12}" for k in keys))


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, a few epochs (a smoke test, < 1 min)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # small models train fastest on one thread; the machine is shared
    spec = HardwareSpec.preset(SPEC)
    q = args.quick
    splits = [0] if q else [0, 1, 2]
    small = dict(n_train=200, n_test=40) if q else {}
    rows = []
    for split in splits:
        ds = load_dataset("digits", seed=split, **small)
        rows.append(run_one(ds, [64, 128, 10], T=15, encoder="direct", epochs=1 if q else 20, lr=2e-3,
                            spec=spec, bits=spec.weight_bits))
        rows.append(run_one(ds, [64, 128, 10], T=20, encoder="rate", epochs=1 if q else 20, lr=2e-3,
                            spec=spec, bits=spec.weight_bits))
    t0 = time.process_time()
    m1 = load_dataset("mnist1d", **(dict(n_train=200, n_test=50) if q else {}))
    gen_s = time.process_time() - t0
    # MNIST-1D in [0, 1] has a large common offset: train standardised, folded into layer 0
    rows.append(run_one(m1, [40, 256, 128, 10], T=25, encoder="direct", epochs=1 if q else 27, lr=2e-3,
                        spec=spec, budget=110.0, bits=spec.weight_bits, standardize=True))
    print(f"== spiking MLPs on {SPEC} (routing ideal); digits splits {splits}; MNIST-1D generated in "
          f"{gen_s:.1f} CPU s ==")
    show(rows, ["data", "encoder", "T", "sizes", "epochs", "train_cpu_s", "train_wall_s", "snn_acc", "chip_acc",
                f"chip_acc_w{spec.weight_bits}", "agree", "spikes_chip", "energy_nj", "packets"])

    # ANN twin and conversion (Rueckauer 2017 percentile normalisation), digits split 0
    ds = load_dataset("digits", seed=0, **small)
    ann = make_mlp([64, 128, 10], kind="relu", seed=0)  # first-layer bias: chip-exact after conversion
    info = train(ann, ds, epochs=5 if q else 60, lr=3e-3, progress=False)
    ann_acc = evaluate(ann, ds)["accuracy"]
    conv_rows = []
    for T in ([20] if q else [10, 20, 50]):
        snn_c = convert(ann, ds.x_train, percentile=99.9)
        ev = evaluate(snn_c, ds, T, "direct")
        chip = measure_on_chip(to_network(snn_c), spec, None, ds.x_test, T, "direct")
        conv_rows.append({"T": T, "ann_acc": ann_acc, "snn_acc": ev["accuracy"], "chip_acc": chip.accuracy(ds.y_test),
                          "gap": ann_acc - chip.accuracy(ds.y_test), "spikes_chip": chip.spikes_per_sample,
                          "energy_nj": chip.energy_pj["total"] / 1e3})
    print(f"== ANN 64-128-10 ({info['cpu_s']:.1f} CPU s) -> SNN by 99.9th-percentile normalisation, direct input ==")
    show(conv_rows, ["T", "ann_acc", "snn_acc", "chip_acc", "gap", "spikes_chip", "energy_nj"])

    dig = [r for r in rows if r["data"] == "digits"]
    mean = lambda enc, k: float(np.mean([r[k] for r in dig if r["encoder"] == enc]))  # noqa: E731
    m1row = rows[-1]
    targets = [
        ("digits_direct_chip_acc", mean("direct", "chip_acc"), ">= 0.98", lambda v: v >= 0.98),
        ("digits_rate_chip_acc", mean("rate", "chip_acc"), ">= 0.975", lambda v: v >= 0.975),
        ("digits_train_cpu_s_max", max(r["train_cpu_s"] for r in dig), "<= 30", lambda v: v <= 30),
        ("mnist1d_chip_acc", m1row["chip_acc"], ">= 0.68", lambda v: v >= 0.68),
        ("mnist1d_train_cpu_s", m1row["train_cpu_s"], "<= 120", lambda v: v <= 120),
        ("chip_equals_snntorch_ideal", min(r["agree"] for r in rows), "== 1.0", lambda v: v == 1.0),
        ("conversion_gap_best_T", min(r["gap"] for r in conv_rows), "<= 0.01", lambda v: v <= 0.01),
    ]
    out = [target(name, round(float(v), 4), goal, ok(v)) for name, v, goal, ok in targets]
    emit("bench_models", out, quick=q)
    return out


if __name__ == "__main__":
    main()
