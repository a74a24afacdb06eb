import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_cl_quick_prints_its_target_line():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_cl.py"), "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    assert [d["target"] for d in lines] == ["hw_aware_growth_on_pareto_front", "pollution_diagonal_is_one",
                                            "den_selected_share", "den_expansion_conditional"]
    diag = lines[1]
    assert diag["met"] is True and diag["value"] == 1.0, diag     # P^{i->i} = 1 for every method
    assert any("MNTDP" in m for m in diag["methods"]), diag["methods"]
    assert set(lines[2]["shares"]) == set(lines[3]["fired"]) == {"split-digits", "permuted-mnist1d"}
    assert isinstance(lines[0]["met"], bool) and lines[0]["goal"]
    for method in ("EWC", "LoRA-CL", "SupSup GG", "SupSup GNu", "MoE k-means", "MNTDP-D", "DEN", "GradMax-CL",
                   "hw-aware controller (CL)"):
        assert out.stdout.count(method) >= 2, method   # one row per task sequence
    assert isinstance(lines[0]["value"], float) and 0 <= lines[0]["value"] <= 1
    assert set(lines[0]["fronts"]) == {"split-digits", "permuted-mnist1d"}
