"""Every example script runs in quick mode and writes its PNGs.

Convention for examples/*.py: each takes ``--quick`` (a fast run, used here) and
``--out DIR`` (the folder its PNGs go to), and prints what it found.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))
SLOW = {"mosaic_workload",          # trains a 512-neuron recurrent network even in --quick mode (minutes)
        # the studies' quick modes run end to end in tests/mosaic_grow/test_study_*.py already
        # (tuning's and width's with -m slow there too)
        "study_tuning", "study_width", "study_ensembles", "study_sparsity",
        # 12-30 s each even in --quick mode (training, CP-SAT); their parts are tested in tests/growth, tests/mapper
        "growth_paths", "hardware_aware_growth", "core_count_sweep", "cpsat_vs_greedy"}


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    assert {"simulate_on_mosaic.py", "cpsat_vs_greedy.py", "core_count_sweep.py"} <= names


@pytest.mark.parametrize("script", [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p
                                    for p in EXAMPLES], ids=[p.stem for p in EXAMPLES])
def test_example_quick_writes_pngs(script, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(out)], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pngs = list(out.glob("*.png"))
    assert pngs, f"{script.name} wrote no PNG into --out"
    assert all(p.stat().st_size > 1000 for p in pngs)
    assert proc.stdout.strip(), f"{script.name} printed nothing"
