"""Does the order in which layers grow matter?  The growth-path experiment.

Root MLP 10-10 grown to 100-100 by 20 GradMax steps of 9 neurons along four paths
(first-layer-first, second-layer-first, alternating, random), against the root and the target
trained alone; paired trials, paired Wilcoxon and t-tests, and a plain verdict on the research
notes' claim that first-layer-first is best.  Prints the table per data set and writes one
PNG per data set (and, with --json, all results).

    python examples/growth_paths.py                       # digits and MNIST-1D, 10 trials
    python examples/growth_paths.py --mnist ~/data/mnist  # also MNIST from IDX files
    python examples/growth_paths.py --quick               # 2 trials, digits only
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from growth.paths import PathConfig, run_paths
from growth.grow import METHODS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="growth-path experiment")
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"], choices=["digits", "mnist1d"])
    ap.add_argument("--mnist", metavar="DIR", help="also run on MNIST from the IDX files in DIR")
    ap.add_argument("--trials", type=int, default=10, help="paired trials (default 10)")
    ap.add_argument("--method", default="gradmax", choices=METHODS, help="growth initialisation")
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
    results = {}
    for name, path in runs:
        cfg = PathConfig(dataset=name, data_path=path, trials=2 if args.quick else args.trials,
                         method=args.method, epochs=args.epochs, n_train=args.n_train, n_test=args.n_test)
        rep = run_paths(cfg, progress=not args.no_progress)
        print(rep.table() + "\n")
        png = out / f"growth_paths_{name}.png"
        rep.plot(png)
        print(f"plot: {png}\n")
        results[name] = rep.to_dict()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
