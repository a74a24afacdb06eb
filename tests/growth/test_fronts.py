"""Front points (real training, mapping and cycle-routed simulation, quick sizes), hypervolume
summaries on hand-computed fronts, re-pricing, the reference point and bad input."""
from __future__ import annotations

import pytest

from growth import fronts as gf
from growth.errors import GrowthError
from mosaic.spec import HardwareSpec

KEYS = {"workload", "strategy", "setting", "seed", "preset", "accuracy", "energy_pj", "n_neurons", "n_classes",
        "violations", "benefit", "wall_s"}


@pytest.fixture(scope="module")
def points():
    return {s: gf.run_point("digits_mlp", s, gf.settings("digits_mlp", s, quick=True)[-1], 0, quick=True)
            for s in gf.STRATEGIES}


def test_points_have_the_interface_fields(points):
    for s, p in points.items():
        assert KEYS <= set(p)
        assert (p["workload"], p["strategy"], p["seed"], p["preset"]) == ("digits_mlp", s, 0, "mosaic-4x4")
        assert 0 <= p["accuracy"] <= 1 and p["energy_pj"] > 0 and p["n_classes"] == 10
        assert p["n_neurons"] == sum(p["sizes"]) and p["sizes"][-1] == 10
        assert abs(sum(v for k, v in p["energy_by_kind"].items() if k != "total") - p["energy_pj"]) < 1e-6 * p["energy_pj"]


def test_fixed_and_random_reach_their_final_size(points):
    for s in ("fixed", "random"):
        p = points[s]
        assert sum(p["sizes"][:-1]) <= p["setting"] and p["violations"] == 0 and p["benefit"] == []
    assert sum(points["random"]["sizes"][:-1]) == points["random"]["setting"]   # random growth never skips


def test_controller_stays_inside_its_caps(points):
    p = points["controller"]
    w = gf.MLP_WORKLOADS["digits_mlp"]
    assert sum(p["sizes"][:-1]) <= w.max_hidden
    assert isinstance(p["violations"], int) and p["violations"] >= 0
    for b in p["benefit"]:
        assert b["type"].startswith("layer:") and b["predicted"] >= 0 and -1 <= b["realised"] <= 1


def test_front_summary_on_hand_computed_fronts():
    def pt(s, seed, e, a):
        return {"strategy": s, "seed": seed, "energy_pj": e, "accuracy": a}
    pts = [pt("fixed", 0, 2.0, 0.6), pt("fixed", 0, 4.0, 0.8), pt("random", 0, 3.0, 0.5),
           pt("controller", 0, 1.0, 0.6),
           pt("fixed", 1, 2.0, 0.6), pt("random", 1, 1.0, 0.4), pt("controller", 1, 2.0, 0.7)]
    s = gf.front_summary(pts, (5.0, 0.2))
    # seed 0: fixed (5-2)*0.4 + (5-4)*0.2 = 1.4; random (5-3)*0.3 = 0.6; controller (5-1)*0.4 = 1.6
    # seed 1: fixed 3*0.4 = 1.2; random 4*0.2 = 0.8; controller 3*0.5 = 1.5
    assert s["hypervolume"]["fixed"] == pytest.approx([1.4, 1.2])
    assert s["hypervolume"]["random"] == pytest.approx([0.6, 0.8])
    assert s["hypervolume"]["controller"] == pytest.approx([1.6, 1.5])
    assert s["ratio"] == pytest.approx((1.6 / 1.4 + 1.5 / 1.2) / 2)
    assert 0 < s["p_value"] < 1


def test_repriced_scales_only_the_routing_energy():
    spec = HardwareSpec.preset("mosaic-4x4")
    p = {"energy_pj": 100.0, "energy_by_kind": {"routing": 10.0}}
    r0 = spec.e_router_pj / spec.e_synaptic_pj
    assert gf.repriced(p, r0, spec) == pytest.approx(100.0)
    assert gf.repriced(p, 2 * r0, spec) == pytest.approx(110.0)
    assert gf.repriced(p, 0.0, spec) == pytest.approx(90.0)


def test_reference_point_bounds_every_point(points):
    e, a = gf.mlp_reference("digits_mlp")
    assert a == pytest.approx(0.1)
    assert all(p["energy_pj"] < e for p in points.values())


def test_plot_fronts_writes_a_png(points, tmp_path):
    gf.plot_fronts(list(points.values()), gf.mlp_reference("digits_mlp"), tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(GrowthError, match="no points"):
        gf.plot_fronts([], (1.0, 0.1), tmp_path / "g.png")


@pytest.mark.parametrize("args, words", [
    (("cifar_mlp", "fixed", 40, 0), "cifar_mlp"),
    (("digits_mlp", "greedy", 40, 0), "greedy"),
    (("digits_mlp", "controller", 0.0, 0), "budget"),
    (("digits_mlp", "fixed", 45, 0), "45"),
])
def test_bad_input_names_the_value(args, words):
    with pytest.raises(GrowthError, match=words):
        gf.run_point(*args, quick=True)


def test_settings_per_strategy():
    assert gf.settings("digits_mlp", "fixed") == tuple(float(s) for s in gf.MLP_WORKLOADS["digits_mlp"].sizes)
    assert len(gf.settings("digits_mlp", "controller", quick=True)) == 2
    assert gf.settings("smnist_recurrent", "fixed") == (74.0, 106.0, 138.0)   # registered recurrent workload
    with pytest.raises(GrowthError, match="unknown front workload 'nope'"):
        gf.settings("nope", "fixed")
