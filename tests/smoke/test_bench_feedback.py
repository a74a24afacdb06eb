"""benchmarks/bench_feedback.py --quick ends with its target lines (slow: deselected by default)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_feedback_quick_prints_json_targets(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_feedback.py"), "--quick",
                          "--db", str(tmp_path / "fronts.sqlite"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = {d["target"]: d for d in (json.loads(line) for line in out.stdout.splitlines()
                                      if line.startswith('{"target"'))}
    assert set(lines) == {"hypervolume_ratio_digits_mlp", "hypervolume_ratio_mnist1d_mlp",
                          "hypervolume_ratio_smnist_recurrent", "hypervolume_ratio_mosaic_workload",
                          "budget_violations_simulated", "routing_share_mosaic_workload",
                          "benefit_rank_correlation", "cost_model_candidate_ms", "cost_model_vs_simulator_energy",
                          "bench_feedback_wall_s", "mosaic_workload_accuracy"}
    assert all(isinstance(d["met"], bool) for d in lines.values())
    wall = lines["bench_feedback_wall_s"]            # quick: this run's wall time; a full run's is estimated
    assert wall["value"] == wall["this_run_wall_s"] >= wall["grid_wall_s"] and wall["workload_wall_s"] == 0
    v = lines["budget_violations_simulated"]         # digits only: no point records an energy dual
    assert v["controller_points"] > 0 and v["dual_recorded_points"] == v["dual_bound_points"] == 0
    hv = lines["hypervolume_ratio_digits_mlp"]
    assert hv["value"] is not None and hv["seeds"] == 2 and "reference point" in hv["note"]
    assert lines["hypervolume_ratio_mnist1d_mlp"]["value"] is None       # not in the quick grid
    assert {p.name for p in tmp_path.glob("*.png")} == {"fronts_digits_mlp.png", "ratio_sweep.png"}
    assert (tmp_path / "front.toml").read_text().startswith("[front]")
