"""benchmarks/bench_noc.py: a --quick run ends with its parseable target lines."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_noc.py"


@pytest.mark.slow
def test_quick_run_ends_with_targets(tmp_path):
    out, png = tmp_path / "noc.json", tmp_path / "noc.png"
    r = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out), "--plot", str(png)],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    targets = [json.loads(line) for line in r.stdout.strip().splitlines()[-5:]]
    assert [t["target"] for t in targets] == ["uniform_saturation_vs_bound_mosaic_8x8",
                                              "uniform_saturation_vs_bound_mesh_8x8",
                                              "zero_load_latency_matches_hops", "conservation_all_runs",
                                              "curves_per_pattern_and_topology"]
    for t in targets:
        assert set(t) >= {"target", "value", "goal", "met"} and isinstance(t["met"], bool)
    mos, mesh = targets[0], targets[1]
    assert mos["value"] == round(mos["saturation"] / mos["bisection_bound"], 4)
    assert mos["bisection_bound"] == 0.5625 and mesh["bisection_bound"] == 0.5
    assert targets[3]["value"] is True and targets[4]["met"]
    doc = json.loads(out.read_text())
    for c in doc["curves"]:
        offered = [run["offered"] for run in c["runs"]]
        assert offered == sorted(offered) and all(run["conserved"] for run in c["runs"])
        assert all(run["accepted"] <= run["offered"] * 1.05 + 0.01 for run in c["runs"])
    assert png.stat().st_size > 1000
    written = (ROOT / "benchmarks" / "results" / "quick" / "bench_noc.json").read_text().splitlines()
    assert [json.loads(line) for line in written] == targets
