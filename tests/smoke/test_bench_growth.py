"""The benchmark's --quick run ends with parseable JSON target lines; the example runs."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_growth_quick_json_lines():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_growth.py"), "--quick"],
                         capture_output=True, text=True, check=True, cwd=ROOT, timeout=600).stdout
    lines = [json.loads(s) for s in out.strip().splitlines() if s.startswith("{")]
    assert [d["target"] for d in lines] == ["growth_path_steps", "growth_path_trials",
                                            "gradmax_step_vs_epoch"]
    for d in lines:
        assert set(d) - {"runs"} == {"target", "value", "goal", "met"} and isinstance(d["met"], bool)
    assert lines[0]["runs"] == ["digits/gradmax"] and lines[0]["value"] == 90
    assert "verdict:" in out and "den" in out and "gradmax-cl-freeze" in out


def test_example_rejects_missing_folder(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("growth_paths_example", ROOT / "examples" / "growth_paths.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--quick", "--out", str(tmp_path / "nope")]) == 2
    assert "not an existing folder" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists()
