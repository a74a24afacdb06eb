"""Do wider networks forget less, and what does the width cost on the chip?

Fine-tuning, EWC and GradMax-CL at hidden widths 16 to 1024 (two hidden layers) on split
digits, split MNIST-5k and permuted MNIST-1D (5 tasks each, 3 seeds): average accuracy,
forgetting and energy per inference of the spiking twins on mosaic-8x8, or on the smallest
larger preset for a network that does not fit (mosaic_grow.studies.width).  Prints the table
and writes study_width.png (forgetting vs width, energy vs width, forgetting-energy front).

    python examples/study_width.py --out figures      # the full study (tens of minutes)
    python examples/study_width.py --quick --out .    # seconds: 2 widths, 1 seed, tiny data
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mosaic_grow.studies.width import WidthConfig, run_width, width_figure, width_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 widths, 1 seed, tiny data, a 4x4 base chip")
    ap.add_argument("--out", default=".", help="folder for study_width.png (must exist)")
    ap.add_argument("--json", metavar="FILE", help="also write every record as JSON")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if not out.is_dir():
        print(f"error: --out {out} is not an existing folder", file=sys.stderr)
        return 2
    cfg = WidthConfig.quick() if args.quick else WidthConfig()
    records = run_width(cfg)
    print(width_table(records))
    width_figure(records, out / "study_width.png", base=cfg.presets[0])
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    print(f"wrote {out / 'study_width.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
