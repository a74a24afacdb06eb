import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_map.py"


def test_bench_quick_prints_json_targets():
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--time-limit", "1"], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    lines = [json.loads(s) for s in out.splitlines() if s.startswith("{")]
    names = {d["target"] for d in lines}
    assert {"gap_le_300_neurons", "bound_valid", "incremental_optimal_s", "incremental_vs_full", "incremental_vs_full_same_reserve"} <= names
    for d in lines:
        assert set(d) == {"target", "value", "goal", "met"} and isinstance(d["met"], bool)
    assert next(d for d in lines if d["target"] == "bound_valid")["met"]
