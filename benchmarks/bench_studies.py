"""Studies the research notes ask for, run on the chip: width against forgetting and energy
(``mosaic_grow.studies.width``), activation sparsity (``mosaic_grow.studies.sparsity``),
ensembles under an energy budget (``mosaic_grow.studies.ensembles``) and the cost of tuning
(``mosaic_grow.studies.tuning``).

Each section runs its study (``bench(quick)`` of its module) and returns its target lines;
sections run side by side in worker processes (one per section, at most ``--workers``).
Full runs write the studies' figures into ``docs/figures/`` for the guide; quick runs into
``benchmarks/results/quick/``.  ``--sections`` runs a subset: the target lines of the other
sections are kept from the results file their last run wrote (full or quick, as this run).
Full runs checkpoint (the width study per block, the sparsity study whole) in the temporary
folder and resume from it; ``--width-seeds N`` makes a reduced width run of N seeds.  Targets: ``width_points`` (>= 6 widths with every method and
seed measured on the chip, per task sequence), ``sparsity_energy_reduction`` (reported),
``ensemble_vs_single_equal_energy`` (reported, with its paired p-value) and
``tuning_curve_methods`` (== 8, a test-stream curve each).

    python benchmarks/bench_studies.py [--quick] [--sections width sparsity ensembles tuning] [--workers 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from mosaic_grow.studies import ensembles, sparsity, tuning, width
from targets import RESULTS, emit, load, target

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = {"width": width.bench, "sparsity": sparsity.bench, "ensembles": ensembles.bench, "tuning": tuning.bench}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every study in its quick mode (about a minute)")
    ap.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    ap.add_argument("--workers", type=int, default=2, help="worker processes (sections run side by side)")
    ap.add_argument("--width-seeds", type=int, help="a reduced width run: this many of its seeds (the notes say so)")
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error(f"--workers must be >= 1, got {args.workers}")
    figures = RESULTS / "quick" if args.quick else ROOT / "docs" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=min(args.workers, len(args.sections)), mp_context=get_context("spawn")) as pool:
        opts = {"width": {"seeds": args.width_seeds}}
        jobs = {name: pool.submit(SECTIONS[name], args.quick, figures, progress=not args.quick, **opts.get(name, {}))
                for name in args.sections}
        lines = {name: job.result() for name, job in jobs.items()}
    print(f"wall {time.perf_counter() - t0:.0f} s; figures in {figures}", file=sys.stderr)
    folder = RESULTS / "quick" if args.quick else RESULTS
    kept = [t for t in load("bench_studies", folder) if t.get("section") in SECTIONS and t["section"] not in lines]
    out = []
    for name in SECTIONS:
        if name not in lines:
            out += [t for t in kept if t["section"] == name]
            continue
        for d in lines[name]:
            extra = {k: v for k, v in d.items() if k not in ("target", "value", "goal", "met")}
            out.append(target(d["target"], d["value"], d["goal"], d["met"], section=name, **extra))
    emit("bench_studies", out, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
