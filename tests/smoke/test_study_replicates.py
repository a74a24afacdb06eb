"""benchmarks/study_replicates.py --quick writes its summary (slow: deselected by default)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_study_replicates_quick_writes_noise_signal_and_rho():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "study_replicates.py"), "--quick"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads((ROOT / "benchmarks" / "results" / "quick" / "study_replicates.json").read_text())
    assert set(data["workloads"]) == {"digits_mlp", "mnist1d_mlp"}
    for w in data["workloads"].values():
        raw, summary = w["raw"], w["summary"]
        assert len(raw["predicted"]) == len(raw["realised"]) == len(raw["items"]) == 4    # 2 opportunities x 2 layers
        assert all(len(r) == 2 for r in raw["realised"] + raw["predicted"] + raw["realised_long"])
        assert summary["all"]["n"] == 4 and set(summary["all"]["rho"]) == {"1", "2"}
        assert summary["all"]["realised"]["noise_sd"] > 0
