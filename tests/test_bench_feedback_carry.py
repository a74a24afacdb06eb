"""bench_feedback's partial runs: lines of what a run did not measure are carried over from
the previous full run, marked; the merged benefit and violation figures say which parts are
carried."""
import importlib.util
import sys
from pathlib import Path

import pytest

_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bf():
    sys.path.insert(0, str(_DIR))            # bench_feedback imports its sibling ``targets``
    try:
        spec = importlib.util.spec_from_file_location("bench_feedback", _DIR / "bench_feedback.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(_DIR))


def _point(workload, violations, benefits=()):
    return {"workload": workload, "strategy": "controller", "violations": violations,
            "benefit": [{"type": t, "predicted": p, "realised": r} for t, p, r in benefits]}


def test_carry_over_replaces_only_the_named_lines_and_marks_them(bf):
    lines = [{"target": "a", "value": None, "goal": "x", "met": False, "note": "not measured in this run"},
             {"target": "b", "value": 2, "goal": "y", "met": True}]
    prev = {"a": {"target": "a", "value": 1.5, "goal": "x", "met": True, "note": "old note"},
            "b": {"target": "b", "value": 9, "goal": "y", "met": False}}
    out = bf.carry_over(lines, prev, {"a"})
    assert out[0]["value"] == 1.5 and out[0]["carried_over"] is True and out[0]["met"] is True
    assert out[0]["note"].startswith("carried over") and out[0]["note"].endswith("old note")
    assert out[1] == lines[1]                                # measured now: this run's line
    assert bf.carry_over(lines, {}, {"a"}) == lines          # nothing to carry: left as it is
    again = bf.carry_over(lines, {"a": out[0]}, {"a"})       # a second partial run
    assert again[0] == out[0]


def test_benefit_target_merges_the_types_this_run_did_not_measure(bf):
    rising = [("layer:0", p, p) for p in range(6)]          # rho 1 over 6 growths
    prev = {"per_type": {"0:512": {"rho": -0.5, "n": 12}, "layer:0": {"rho": 0.1, "n": 30},
                         "all": {"rho": 0.3, "n": 42}}}
    line = bf.benefit_target([_point("digits_mlp", 0, rising)], prev)
    assert line["per_type"]["layer:0"]["rho"] == pytest.approx(1.0)      # this run's wins
    assert line["per_type"]["0:512"] == {"rho": -0.5, "n": 12, "carried_over": True}
    assert line["value"] == -0.5 and line["met"] is False and "0:512" in line["note"]
    alone = bf.benefit_target([_point("digits_mlp", 0, rising)])
    assert alone["value"] == pytest.approx(1.0) and alone["met"] is True


def test_violations_target_counts_per_workload_and_carries_only_what_it_can(bf):
    pts = [_point("digits_mlp", 0), _point("mnist1d_mlp", 1)]
    line = bf.violations_target(pts, [], None)
    assert line["value"] == 1 and line["met"] is False and line["per_workload"] == {"digits_mlp": 0, "mnist1d_mlp": 1}
    clean = bf.violations_target(pts[:1], ["smnist_recurrent"], {"value": 0})
    assert clean["value"] == 0 and clean["met"] is True and clean["per_workload"]["smnist_recurrent"] == 0
    unknown = bf.violations_target(pts[:1], ["smnist_recurrent"], {"value": 3})   # no split recorded
    assert unknown["value"] is None and unknown["met"] is False
    split = bf.violations_target(pts[:1], ["smnist_recurrent"], {"value": 3, "per_workload": {"smnist_recurrent": 2}})
    assert split["value"] == 2 and split["per_workload"] == {"digits_mlp": 0, "smnist_recurrent": 2}
