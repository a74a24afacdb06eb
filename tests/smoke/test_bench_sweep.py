"""benchmarks/bench_sweep.py --quick ends with its target lines; both sweeps stored the same table."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sweep.py"


@pytest.mark.slow
def test_bench_sweep_quick_prints_target_lines():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert [d["target"] for d in lines] == ["sweep_speedup_2_workers", "sweep_store_overhead_per_run"]
    assert all(isinstance(d["met"], bool) and d["value"] > 0 for d in lines)
    assert "identical tables: True" in proc.stdout
