"""The recurrent front's benefit records (quick sMNIST controller point, real BPTT training):
the realised gain against a no-growth twin, both estimates beside it, and a run that trains
the same with and without benefit validation; realised gains and look-aheads averaged over pairs and
batch streams."""
import math

import pytest

from growth.recurrent_front import benefit_rank_correlation, run_recurrent_point, workload


@pytest.fixture(scope="module")
def validated():
    return run_recurrent_point("smnist_recurrent", "controller", 2e6, 0, quick=True)


def test_records_hold_both_estimates_and_the_twin_gain(validated):
    wl = workload("smnist_recurrent", quick=True)
    recs = validated["benefit"]
    assert recs, "the quick point grows at least once"
    for r in recs:
        assert r["predicted"] == r["lookahead"] > 0 and r["gradmax"] > 0
        assert math.isfinite(r["lookahead_now"]) and math.isfinite(r["realised"]) and math.isfinite(r["realised_now"])
        assert 0 < r["horizon_steps"] <= wl.check_every * (wl.plateau_window + 1)
        assert -1 <= r["realised_accuracy"] <= 1
    rho = benefit_rank_correlation([validated], key="gradmax", realised="realised_now")
    assert rho["all"]["n"] == len(recs)


def test_validation_does_not_change_the_run(validated):
    plain = run_recurrent_point("smnist_recurrent", "controller", 2e6, 0, quick=True, validate_benefit=False)
    for key in ("accuracy", "energy_pj", "n_neurons", "chip_accuracy", "decisions", "violations", "simulated"):
        assert plain[key] == validated[key], key
    assert [r["realised"] for r in plain["benefit"]] == [None] * len(validated["benefit"])
    assert [r["realised_now"] for r in plain["benefit"]] == [r["realised_now"] for r in validated["benefit"]]


def test_repeats_average_pairs_and_streams_in_the_recurrent_loop():
    p = run_recurrent_point("smnist_recurrent", "controller", 2e6, 0, quick=True, estimator="gradmax",
                            look_repeats=2, validate_repeats=2)     # GradMax decides; the look-ahead is recorded
    assert p["benefit"], "the quick point grows at least once"
    for r in p["benefit"]:
        assert len(r["realised_pairs"]) == 2 and r["realised"] == pytest.approx(sum(r["realised_pairs"]) / 2)
        assert r["realised_se"] == pytest.approx(abs(r["realised_pairs"][0] - r["realised_pairs"][1]) / 2)
        assert len(set(r["lookahead_streams"])) == 2
        assert r["predicted"] == r["gradmax"] and r["lookahead"] == pytest.approx(sum(r["lookahead_streams"]) / 2)
