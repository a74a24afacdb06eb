"""benchmarks/bench_sim.py: --quick runs and ends with parseable target lines."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_sim.py"


def _load():
    if str(BENCH.parent) not in sys.path:          # the benchmark imports benchmarks/targets.py
        sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_sim", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_quick_run_ends_with_targets(tmp_path):
    out, png = tmp_path / "sim.json", tmp_path / "saturation.png"
    r = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out), "--plot", str(png)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    targets = [json.loads(line) for line in lines[-8:]]
    assert [t["target"] for t in targets] == ["brian2_ratio_cycle", "brian2_ratio_ideal",
                                              "brian2_standalone_ratio_ideal", "brian2_standalone_ratio_cycle",
                                              "scaling_exponent", "peak_mem_4k_gib",
                                              "batched_vs_loop_speedup", "batched_equals_loop"]
    for t in targets:
        assert set(t) >= {"target", "value", "goal", "met"} and isinstance(t["met"], bool)
        if t["value"] is None:
            assert t["met"] is False and t.get("reason")
    expo, mem = targets[4], targets[5]
    assert targets[7]["value"] is True and targets[7]["met"] is True, "batched runs equal the loop"
    speed = targets[6]
    assert speed["value"] == min(speed["ideal"], speed["cycle"]) > 0 and speed["met"] == (speed["value"] >= 10)
    assert expo["value"] is not None and expo["met"] == (0.9 <= expo["value"] <= 1.1)
    assert 0 < mem["value"] < 24, "peak RSS of the child is a plausible size in GiB"
    assert png.stat().st_size > 1000
    doc = json.loads(out.read_text())
    assert doc["batched"]["samples"] == 40 and doc["batched"]["cycle"]["packets"] > 0
    assert len(doc["saturation_rows"]) == 3
    written = (ROOT / "benchmarks" / "results" / "quick" / "bench_sim.json").read_text().splitlines()
    assert [json.loads(line) for line in written] == targets
    rows = doc["saturation"]["mosaic-8x8/fanout1"]["rows"]
    assert len(rows) == 3
    for row in rows:
        assert row["injected"] == row["delivered"] + row["in_flight"], "deferred packets are kept"
        assert row["accepted"] <= row["offered"] + 1e-12
        assert row["accepted_2nd_half"] >= 0, "a run cut short never delivers more than the whole run"
    assert [row["offered"] for row in rows] == sorted(row["offered"] for row in rows)
    cuba = doc["cuba"]["ours"]
    assert cuba["cycle"]["spikes"] == cuba["ideal"]["spikes"] > 0, \
        "CUBA fits the cycle budget: cycle and ideal routing give the same spikes"
    assert cuba["cycle"]["synaptic_events"] == cuba["ideal"]["synaptic_events"]


def test_fit_exponent_recovers_power_law():
    b = _load()
    x = np.array([1e3, 1e4, 1e5, 1e6])
    assert b.fit_exponent(x, 3e-7 * x ** 1.0) == pytest.approx(1.0)
    assert b.fit_exponent(x, 2.0 * x ** 1.5) == pytest.approx(1.5)


def test_missing_brian_env_is_a_clear_error(tmp_path):
    b = _load()
    with pytest.raises(b.BenchError, match="no Brian2 environment"):
        b.ensure_brian_venv(tmp_path / "nothing", create=False)


def test_spread_placement_uses_every_core_evenly():
    b = _load()
    spec = b.cuba_spec(5000, 0.1)
    assert spec.n_slots >= 5000 and spec.dt_us == pytest.approx(100.0)
    core_of = b.spread(5000, spec)
    load = np.bincount(core_of, minlength=spec.n_cores)
    assert load.max() - load.min() <= 1 and load.max() <= spec.neurons_per_core


def _ring_trees(sources):
    """Four routers in a ring, link i = i -> i+1 (mod 4); each source's tree goes two hops on."""
    parent = np.full((4, 4), -1)
    plink = np.full((4, 4), -1)
    for s in sources:
        a, b = (s + 1) % 4, (s + 2) % 4
        parent[s, a], plink[s, a] = s, s
        parent[s, b], plink[s, b] = a, a
    return parent, plink


def test_dependency_cycle_found_on_a_ring_and_absent_for_xy():
    b = _load()
    assert b.tree_dependency_cycle(*_ring_trees([0, 1, 2, 3])) == 4, "0->1->2->3->0 waits in a circle"
    assert b.tree_dependency_cycle(*_ring_trees([0, 1])) is None
    from mosaic import HardwareSpec
    assert b.dependency_cycle(HardwareSpec.preset("mesh-8x8")) is None, "XY routing is deadlock-free"


def test_failed_venv_creation_is_a_clear_error(tmp_path):
    b = _load()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(b.BenchError, match="creating the Brian2 environment failed"):
        b.ensure_brian_venv(blocker / "venv", create=True)
