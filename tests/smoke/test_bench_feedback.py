"""benchmarks/bench_feedback.py --quick ends with its target lines (slow: deselected by default)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_feedback_quick_prints_json_targets():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_feedback.py"), "--quick"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"target"')]
    assert {d["target"] for d in lines} == {"controller_vs_best_fixed", "budget_violations_simulated",
                                            "cost_model_candidate_ms", "cost_model_vs_simulator_energy",
                                            "hypervolume_ratio_digits", "hypervolume_ratio_smnist_recurrent",
                                            "hypervolume_ratio_mosaic_workload", "routing_share_mosaic_workload",
                                            "benefit_rank_correlation"}
    assert all(isinstance(d["met"], bool) for d in lines)
