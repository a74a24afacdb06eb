"""Recurrent front points: bad input named before any work, one quick controller point with the
front-point fields, its accepted networks simulated against the budget, and training bound to
the budget by the energy dual."""
import math

import pytest

from growth.errors import GrowthError
from growth.recurrent_front import benefit_rank_correlation, run_recurrent_point, workload

KEYS = {"workload", "strategy", "setting", "seed", "preset", "accuracy", "energy_pj", "n_neurons", "n_classes",
        "violations", "benefit", "wall_s"}


@pytest.mark.parametrize("args, match", [
    (("smnist_recurrent", "controller", 0.0), "budget .* positive number, got 0.0"),
    (("smnist_recurrent", "controller", float("nan")), "got nan"),
    (("smnist_recurrent", "fixed", 30), "final size 30 must lie in"),
    (("mosaic_workload", "random", 5000), "final size 5000 must lie in .*mosaic-4x4"),
    (("smnist_recurrent", "grow", 100), "unknown strategy 'grow'"),
    (("digits_mlp", "fixed", 100), "unknown recurrent workload 'digits_mlp'"),
])
def test_bad_input_is_named(args, match):
    with pytest.raises(GrowthError, match=match):
        run_recurrent_point(*args, 0, quick=True)
    with pytest.raises(GrowthError, match="unknown benefit estimator 'oracle'"):
        run_recurrent_point("smnist_recurrent", "controller", 1e6, 0, quick=True, estimator="oracle")
    for bad in (-1.0, float("nan"), True, "1"):
        with pytest.raises(GrowthError, match=f"dual_lr must be a finite number >= 0 .*got {bad!r}"):
            run_recurrent_point("smnist_recurrent", "controller", 1e6, 0, quick=True, dual_lr=bad)


def test_quick_controller_point():
    wl = workload("smnist_recurrent", quick=True)
    p = run_recurrent_point("smnist_recurrent", "controller", 2e6, 0, quick=True)
    assert KEYS <= set(p) and p["strategy"] == "controller" and p["preset"] == "mosaic-4x4"
    assert 0 <= p["accuracy"] <= 1 and p["energy_pj"] > 0 and p["n_classes"] == 10
    assert p["n_neurons"] >= wl.h0 + 10 and isinstance(p["violations"], int)
    assert 0 <= p["violations"] <= p["simulated"]
    for r in p["benefit"]:
        assert r["type"] in {f"0:{k}" for k in wl.k_options}
        assert math.isfinite(r["predicted"]) and math.isfinite(r["realised"]) and r["gradmax"] > 0
    actions = [d["action"] for d in p["decisions"]]
    assert actions and set(actions) <= {"wait", "grow", "refuse", "skip"}
    assert actions.count("grow") == len(p["benefit"])          # every growth is followed by its record
    assert p["simulated"] == len(p["benefit"]) + bool(p["benefit"])   # ... and its simulation, + the final
    rho = benefit_rank_correlation([p])
    assert all(v["n"] == len(p["benefit"]) for t, v in rho.items() if t == "all")


def test_the_dual_binds_training_to_a_budget_the_network_is_over():
    """A budget below the initial network's energy: nothing can grow, the multiplier rises at
    every check, and the penalty lowers the final network's energy against the same run with
    training unbound (dual_lr 0; same seed, same batches)."""
    wl = workload("smnist_recurrent", quick=True)
    kw = dict(quick=True, validate_benefit=False)
    drift = run_recurrent_point("smnist_recurrent", "controller", 1e5, 0, dual_lr=0, **kw)
    bound = run_recurrent_point("smnist_recurrent", "controller", 1e5, 0, dual_lr=2.0, **kw)
    assert drift["dual"] == [] and drift["n_neurons"] == bound["n_neurons"] == wl.h0 + 10
    assert [h["step"] for h in bound["dual"]] == list(range(wl.check_every, wl.steps + 1, wl.check_every))
    lam = [h["lam"] for h in bound["dual"]]
    assert lam[0] > 0 and all(b > a for a, b in zip(lam, lam[1:]))      # measured above target throughout
    assert all(h["measured_energy_pj"] > 0.8e5 for h in bound["dual"])
    assert bound["energy_pj"] < 0.9 * drift["energy_pj"]
