"""Ensembles under an energy budget on mosaic-8x8: k small networks and a subspace line
against one network of the same energy per inference, in continual learning
(mosaic_grow.studies.ensembles).  Prints the table, writes the figure and the records.

    python examples/study_ensembles.py --quick --out /tmp/ens      # 2 seeds, k = 2, tiny
    python examples/study_ensembles.py --out docs/guides/figures   # the full run
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from mosaic_grow.studies.ensembles import SEQUENCES, EnsembleConfig, figure, run_study, table, targets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, k = 2, 3 epochs, 400 training samples")
    ap.add_argument("--sequences", nargs="+", choices=SEQUENCES, help="task sequences (default: split-digits)")
    ap.add_argument("--seeds", type=int, help="seeds (default 5, quick 2)")
    ap.add_argument("--ks", type=int, nargs="+", help="ensemble sizes (default 2 4 8, quick 2)")
    ap.add_argument("--out", default=".", help="folder for study_ensembles.png and .json (created)")
    args = ap.parse_args(argv)
    cfg = EnsembleConfig.quick() if args.quick else EnsembleConfig()
    if args.sequences:
        cfg = replace(cfg, sequences=tuple(args.sequences))
    if args.seeds:
        cfg = replace(cfg, seeds=args.seeds)
    if args.ks:
        cfg = replace(cfg, ks=tuple(args.ks))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = run_study(cfg)
    print(table(records))
    figure(records, out / "study_ensembles.png")
    (out / "study_ensembles.json").write_text(json.dumps({"records": records, "targets": targets(records)}, indent=1))
    print(f"wrote {out / 'study_ensembles.png'} and {out / 'study_ensembles.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
