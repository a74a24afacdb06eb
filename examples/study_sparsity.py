"""How much energy does activation sparsity save on the chip, and does a sparser network
change where and when the controller grows it?

A spiking MLP on digits trained with spike-rate penalties of several strengths, and the dense
one with its thresholds scaled up: accuracy, firing rate, synaptic operations, energy per
inference and routing share on mosaic-8x8, the accuracy-energy front, and the growth
controller's decisions on the dense and the sparsest near-dense network under one budget
(mosaic_grow.studies.sparsity).  Prints the table and writes study_sparsity.png.

    python examples/study_sparsity.py --out figures     # the full study (minutes)
    python examples/study_sparsity.py --quick --out .   # seconds: two penalties, tiny data
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mosaic_grow.studies.sparsity import SparsityConfig, run_sparsity, sparsity_figure, sparsity_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two penalties, one threshold factor, tiny data")
    ap.add_argument("--out", default=".", help="folder for study_sparsity.png (must exist)")
    ap.add_argument("--json", metavar="FILE", help="also write the settings and growth logs as JSON")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if not out.is_dir():
        print(f"error: --out {out} is not an existing folder", file=sys.stderr)
        return 2
    result = run_sparsity(SparsityConfig.quick() if args.quick else SparsityConfig())
    print(sparsity_table(result))
    sparsity_figure(result, out / "study_sparsity.png")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"wrote {out / 'study_sparsity.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
