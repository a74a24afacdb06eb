"""The sparsity study end to end in its quick mode (real snnTorch training, real chip
simulation, the real growth controller), and the properties it rests on."""
from __future__ import annotations

import numpy as np
import pytest

from models.snn import make_mlp
from mosaic_grow.errors import AppError
from mosaic_grow.studies.sparsity import (SparsityConfig, run_sparsity, scaled_thresholds, sparsest_within,
                                          sparsity_figure, sparsity_table, sparsity_targets)


@pytest.fixture(scope="module")
def result():
    cfg = SparsityConfig.quick()
    return cfg, run_sparsity(cfg, progress=False)


def test_quick_run_measures_every_setting_and_writes_its_figure(result, tmp_path):
    cfg, res = result
    names = [r["setting"] for r in res["settings"]]
    assert names == ["dense", "rate penalty 0.3", "threshold x1.5"]
    for r in res["settings"]:
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["routing_share"] < 1 and r["energy_pj"] > 0
        assert r["synaptic_ops"] >= 0 and 0 <= r["rate"] <= 1
    path = tmp_path / "sparsity.png"
    sparsity_figure(res, path)
    assert path.stat().st_size > 5000
    assert "growth within" in sparsity_table(res)


def test_a_stronger_rate_penalty_and_a_higher_threshold_fire_less_and_cost_less(result):
    _, res = result
    by = {r["setting"]: r for r in res["settings"]}
    dense = by["dense"]
    for name in ("rate penalty 0.3", "threshold x1.5"):
        assert by[name]["rate"] < dense["rate"], name
        assert by[name]["synaptic_ops"] < dense["synaptic_ops"], name
        assert by[name]["energy_pj"] < dense["energy_pj"], name


def test_the_controller_logs_where_and_when_each_network_grew(result):
    cfg, res = result
    g = res["growth"]
    assert g["sparse_setting"] in [r["setting"] for r in res["settings"]]
    for key in ("dense", "sparse"):
        log = g[key]
        assert 1 <= len(log) <= cfg.growth_rounds
        for e in log:
            assert e["energy_pj"] <= g["budget_pj"] + 1e-6      # the hard budget is never broken
            if e["action"] == "grow":
                assert e["layer"] in (0, 1) and e["k"] in cfg.k_options
                assert e["predicted_energy_pj"] <= g["budget_pj"] + 1e-6


def test_target_line_is_the_energy_ratio_of_the_sparsest_near_dense_setting(result):
    cfg, res = result
    (line,) = sparsity_targets(res, cfg, quick=True)
    best = sparsest_within(res["settings"])
    dense = res["settings"][0]
    assert line["target"] == "sparsity_energy_reduction" and line["setting"] == best["setting"]
    assert line["value"] == pytest.approx(best["energy_pj"] / dense["energy_pj"], abs=1e-4)
    assert best["accuracy"] >= dense["accuracy"] - 0.01


def test_sparsest_within_picks_the_lowest_rate_inside_one_point():
    recs = [dict(setting="dense", knob="dense", accuracy=0.90, rate=0.2, energy_pj=10.0),
            dict(setting="a", knob="rate penalty", accuracy=0.895, rate=0.1, energy_pj=6.0),
            dict(setting="b", knob="rate penalty", accuracy=0.85, rate=0.01, energy_pj=1.0)]
    assert sparsest_within(recs)["setting"] == "a"
    assert sparsest_within(recs, points=10)["setting"] == "b"


def test_threshold_scaling_copies_and_scales():
    m = make_mlp([4, 3, 2], seed=0)
    s = scaled_thresholds(m, 2.5)
    assert float(s[1].threshold) == pytest.approx(2.5) and float(m[1].threshold) == pytest.approx(1.0)
    assert np.array_equal(s[0].weight.detach().numpy(), m[0].weight.detach().numpy())


def test_bad_config_is_refused():
    with pytest.raises(AppError, match="must start with 0"):
        SparsityConfig(lams=(0.1, 0.0))
    with pytest.raises(AppError, match="thresholds > 0"):
        SparsityConfig(thresholds=(0.0,))
