"""Does the order in which layers grow matter?  The growth-path experiment.

Root MLP 10-10 grown to 100-100 by 20 steps of 9 neurons along four paths
(first-layer-first, second-layer-first, alternating, random), against the root and the target
trained alone, with the research notes' protocol (900 Adam steps, growth.paths); paired
trials, paired Wilcoxon and t-tests, and a plain verdict on the notes' claim that
first-layer-first is best.  Prints the table per data set and initialisation, writes one PNG
per run, one figure across all runs (growth_paths.png) and, with --json, all results.

    python examples/growth_paths.py                       # MNIST-5k, digits, MNIST-1D; GradMax
    python examples/growth_paths.py --methods gradmax random
    python examples/growth_paths.py --mnist ~/data/mnist  # also full MNIST from IDX files
    python examples/growth_paths.py --quick               # 2 trials, digits only
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from growth.grow import METHODS
from growth.paths import PathConfig, plot_reports, run_paths

DATASETS = ["mnist5k", "digits", "mnist1d"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="growth-path experiment")
    ap.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    ap.add_argument("--mnist", metavar="DIR", help="also run on MNIST from the IDX files in DIR")
    ap.add_argument("--trials", type=int, default=10, help="paired trials (default 10)")
    ap.add_argument("--methods", nargs="+", default=["gradmax"], choices=METHODS, help="growth initialisations")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--n-train", type=int, help="training samples (default: the data set's own)")
    ap.add_argument("--n-test", type=int, help="test samples (default: the data set's own)")
    ap.add_argument("--out", default=".", help="folder for the PNG plots (must exist)")
    ap.add_argument("--json", metavar="FILE", help="write all results as JSON")
    ap.add_argument("--quick", action="store_true", help="2 trials on digits only")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if not out.is_dir():
        print(f"error: --out {out} is not an existing folder", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    runs = [(d, None) for d in (["digits"] if args.quick else args.datasets)]
    if args.mnist and not args.quick:
        runs.append(("mnist", args.mnist))
    results, reports = {}, []
    for name, path in runs:
        for method in args.methods:
            cfg = PathConfig(dataset=name, data_path=path, trials=2 if args.quick else args.trials, method=method,
                             epochs=args.epochs, n_train=args.n_train, n_test=args.n_test)
            rep = run_paths(cfg, progress=not args.no_progress)
            print(rep.table() + "\n")
            png = out / f"growth_paths_{name}_{method}.png"
            rep.plot(png)
            print(f"plot: {png}\n")
            results[f"{name}/{method}"] = rep.to_dict()
            reports.append(rep)
    plot_reports(reports, out / "growth_paths.png")
    print(f"figure: {out / 'growth_paths.png'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
