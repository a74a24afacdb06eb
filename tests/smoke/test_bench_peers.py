"""benchmarks/bench_peers.py: --quick runs (with or without SANA-FE) and ends with target lines."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_peers.py"
NAMES = ["sanafe_spikes_match", "sanafe_energy_ratio", "sanafe_latency_ratio", "sanafe_speed_ratio"]


def test_quick_run_ends_with_targets(tmp_path):
    out = tmp_path / "peers.json"
    r = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out)], capture_output=True,
                       text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    targets = [json.loads(line) for line in r.stdout.strip().splitlines()[-4:]]
    assert [t["target"] for t in targets] == NAMES
    doc = json.loads(out.read_text())
    assert [row["n"] for row in doc["rows"]] == [1024, 2048]
    for row in doc["rows"]:
        assert row["spikes"] > 0 and row["ideal_equals_cycle"]
        assert row["energy_ours_pj"]["total"] > 0 and row["latency_ours_ns"] > 0
    if doc["sanafe_reason"]:
        assert all(t["met"] is False and "SANA-FE not run" in t["note"] for t in targets)
    else:
        match, energy = targets[0], targets[1]
        assert match["met"] == all(match["per_size"])
        assert energy["met"] == all(0.9 <= v <= 1.1 for v in energy["value"])
        assert all(len(row["layer_match"]) == 4 for row in doc["rows"])
