"""The benchmark runs in --quick mode and ends with parseable JSON target lines."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_models.py"


@pytest.mark.slow
def test_bench_quick_json_lines():
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=600,
                         check=True).stdout.strip().splitlines()
    lines = [json.loads(l) for l in out if l.startswith('{"target"')]
    names = {d["target"] for d in lines}
    assert {"digits_direct_chip_acc", "digits_rate_chip_acc", "mnist1d_chip_acc",
            "chip_equals_snntorch_ideal"} <= names
    assert out[-1].startswith('{"target"')
    for d in lines:
        assert set(d) >= {"target", "value", "goal", "met"} and isinstance(d["met"], bool)
    agree = next(d for d in lines if d["target"] == "chip_equals_snntorch_ideal")
    assert agree["met"], "chip and snnTorch predictions differ under ideal routing"
