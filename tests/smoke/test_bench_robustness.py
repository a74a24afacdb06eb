"""benchmarks/bench_robustness.py --quick ends with its target line, every case clean."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_robustness.py"


@pytest.mark.slow
def test_bench_robustness_quick_prints_its_target_line():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert [d["target"] for d in lines] == ["bad_inputs_clean"]
    assert lines[0]["cases"] == 30 and lines[0]["value"] == 100.0 and lines[0]["met"] is True, lines[0]
