import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_studies_quick_prints_every_sections_target_lines():
    # the ensembles and tuning sections' quick modes run in their own tests (tests/mosaic_grow)
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_studies.py"), "--quick", "--sections",
                          "width", "sparsity"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    lines = [d for d in lines if d["section"] in ("width", "sparsity")]
    assert [(d["section"], d["target"]) for d in lines] == [
        ("width", "width_points"), ("width", "width_widest_forgets_less"),
        ("width", "width_energy_widest_over_narrowest"), ("sparsity", "sparsity_energy_reduction")]
    width, _, energy, sparsity = lines
    assert width["value"] == 2 and width["met"] is False and "quick run" in width["note"]   # 2 widths in quick mode
    assert "capacity" in width["not_fit_example"]["mosaic-4x4"]
    assert energy["value"] > 1                                      # the wider net costs more per inference
    assert 0 < sparsity["value"] <= 1 and sparsity["met"] is True
    assert set(sparsity["growth"]) == {"dense", "sparse"}
    for png in ("study_width.png", "study_sparsity.png"):
        assert (ROOT / "benchmarks" / "results" / "quick" / png).stat().st_size > 5000
