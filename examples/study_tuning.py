"""The cost of tuning: each continual-learning method's hyper-parameters searched with Optuna
on validation task streams (trials on Dask, stored in a SQLite result store), frozen, then
run on held-out test streams (mosaic_grow.studies.tuning).  Prints the table, writes the
figure and the records; rerunning with the same --out resumes the stored search.

    python examples/study_tuning.py --quick --out /tmp/tune        # 3 trials, 1 + 1 streams
    python examples/study_tuning.py --out docs/guides/figures      # the full run
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from mosaic_grow.studies.tuning import METHODS, TuningConfig, figure, run_study, table, targets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 trials per method, 1 validation and 1 test stream")
    ap.add_argument("--methods", nargs="+", choices=METHODS, help="methods (default: all 8)")
    ap.add_argument("--trials", type=int, help="trials per method (default 16, quick 3); checkpoints up to it")
    ap.add_argument("--batch", type=int, help="trials asked per method and round (default 4, quick 3)")
    ap.add_argument("--workers", type=int, help="Dask worker processes (default: one per core)")
    ap.add_argument("--out", default=".", help="folder for tuning.sqlite, study_tuning.png and .json (created)")
    args = ap.parse_args(argv)
    cfg = TuningConfig.quick_run() if args.quick else TuningConfig()
    if args.methods:
        cfg = replace(cfg, methods=tuple(args.methods))
    if args.trials:
        cfg = replace(cfg, trials=args.trials, checkpoints=tuple(sorted({*(c for c in cfg.checkpoints
                                                                           if c < args.trials), args.trials})))
    if args.batch:
        cfg = replace(cfg, batch=args.batch)
    out = Path(args.out)
    records = run_study(cfg, out, workers=args.workers)
    print(table(records))
    figure(records, out / "study_tuning.png")
    (out / "study_tuning.json").write_text(json.dumps({"records": records, "targets": targets(records, cfg)},
                                                      indent=1))
    print(f"wrote {out / 'study_tuning.png'} and {out / 'study_tuning.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
