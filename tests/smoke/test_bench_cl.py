import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_cl_quick_prints_its_target_line():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_cl.py"), "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    assert [d["target"] for d in lines] == ["hw_aware_growth_on_pareto_front", "pollution_diagonal_is_one",
                                            "den_selected_share", "den_expansion_conditional",
                                            "mntdp_acc_split_mnist"]
    diag = lines[1]
    assert diag["met"] is True and diag["value"] == 1.0, diag     # P^{i->i} = 1 for every method
    assert any("MNTDP" in m for m in diag["methods"]), diag["methods"]
    scenarios = {"split-digits", "split-mnist5k", "permuted-mnist1d"}
    assert set(lines[2]["shares"]) == set(lines[3]["fired"]) == scenarios
    # DEN's defaults are selective and expand conditionally on every sequence, quick mode too
    assert lines[2]["met"] is True and lines[3]["met"] is True, (lines[2], lines[3])
    mntdp = lines[4]
    assert isinstance(mntdp["met"], bool) and 0 < mntdp["value"] <= 1 and mntdp["den_neurons"] > 0, mntdp
    assert "FWT" in out.stdout
    assert isinstance(lines[0]["met"], bool) and lines[0]["goal"]
    for method in ("EWC", "LoRA-CL", "SupSup GG", "SupSup GNu", "MoE k-means", "MNTDP-D", "DEN", "GradMax-CL",
                   "hw-aware controller (CL)"):
        assert out.stdout.count(method) >= 3, method   # one row per task sequence
    assert isinstance(lines[0]["value"], float) and 0 <= lines[0]["value"] <= 1
    assert set(lines[0]["fronts"]) == scenarios
