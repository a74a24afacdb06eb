import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_map.py"


@pytest.mark.slow
def test_bench_quick_prints_json_targets():
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--time-limit", "1"], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    lines = [json.loads(s) for s in out.splitlines() if s.startswith("{")]
    by = {d["target"]: d for d in lines}
    assert {"gap_le_300_neurons", "bound_valid", "incremental_optimal_s", "incremental_vs_full",
            "incremental_migration_vs_full", "cpsat_vs_greedy_mlp_quick_4x4", "cpsat_vs_partition_mlp_quick_4x4",
            "map_4k_wall_s", "map_4k_peak_gib"} <= set(by)
    for d in lines:
        assert {"target", "value", "goal", "met"} <= set(d) and isinstance(d["met"], bool)
    assert by["bound_valid"]["met"]
    # every method side by side, with its simulated routing energy and latency
    figures = by["cpsat_vs_greedy_mlp_quick_4x4"]
    for key in ("traffic", "routing_pj", "latency_cycles"):
        assert set(figures[key]) == {"greedy", "random", "partition", "anneal", "cpsat"}
    assert figures["routing_pj"]["cpsat"] < figures["routing_pj"]["random"]
    assert 0 < by["map_4k_peak_gib"]["value"] < 4
