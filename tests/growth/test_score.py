"""Scoring growth on the chip: an empty schedule scores the root network, violations are
reported, the CLI entry point writes its files, the controller run respects its budget."""
import json

import pytest

from growth.controller import ControllerConfig, PlateauRule
from growth.errors import GrowthError
from growth.schedules import GrowthEvent, Schedule
from growth.score import (RunConfig, grow_with_controller, score_network, score_schedule,
                          score_schedule_file, train_root)
from models.datasets import load_dataset
from mosaic import HardwareSpec
from mosaic.cost import CostBudget

SPEC = HardwareSpec.preset("mosaic-4x4")
CFG = RunConfig(steps=12, batch_size=64, T=5, n_sim=2, mapping="greedy", seed=1)


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", seed=0, n_train=300, n_test=60)


def test_empty_schedule_scores_the_root_network(data):
    score = score_schedule(Schedule((6, 5)), SPEC, None, data, config=CFG)
    assert len(score.rows) == 1 and score.events == []
    root = train_root((6, 5), data, CFG)
    row = score_network(root, SPEC, None, data, config=CFG, step=CFG.steps)
    assert row == score.rows[0]
    assert row["sizes"] == [6, 5, 10] and row["energy_pj"] > 0 and 0 <= row["accuracy"] <= 1


def test_rows_per_growth_step_and_violations_reported(data):
    sched = Schedule((6, 5), [GrowthEvent(4, 0, 3), GrowthEvent(8, 1, 2)])
    tiny = CostBudget(energy_pj=1.0, cores=1)
    score = score_schedule(sched, SPEC, tiny, data, config=CFG)
    assert [r["step"] for r in score.rows] == [4, 8, 12]
    assert [r["sizes"][:2] for r in score.rows] == [[6, 5], [9, 5], [9, 7]]
    assert [e[0] for e in score.events] == [4, 8]
    # every row breaks the energy budget and says so; nothing is hidden
    assert all(any("energy" in v for v in r["violations"]) for r in score.rows)
    assert len(score.violations) >= 3
    ok = score_schedule(sched, SPEC, CostBudget(energy_pj=1e12), data, config=CFG)
    assert ok.violations == []
    assert "violations" in score.table() and "energy" in score.table()
    at0 = score_schedule(Schedule((6, 5), [GrowthEvent(0, 0, 2)]), SPEC, None, data, config=CFG)
    assert [r["sizes"][:2] for r in at0.rows] == [[8, 5]] and at0.events == [(0, 0, 2)]
    with pytest.raises(GrowthError, match="past the run"):
        score_schedule(Schedule((6, 5), [GrowthEvent(50, 0, 2)]), SPEC, None, data, config=CFG)


def test_score_schedule_file_writes_table_plot_and_json(tmp_path):
    path = tmp_path / "s.toml"
    Schedule((6, 5), [GrowthEvent(5, 1, 2)]).save(path)
    cfg = RunConfig(steps=8, batch_size=32, T=4, n_sim=1, mapping="greedy")
    score = score_schedule_file(path, "mosaic-4x4", config=cfg, plot=tmp_path / "p.png", out=tmp_path / "r.json")
    assert (tmp_path / "p.png").stat().st_size > 0
    assert score.plot().axes[0].get_ylabel() == "test accuracy (%)"
    doc = json.loads((tmp_path / "r.json").read_text())
    assert len(doc["rows"]) == 2 and doc["spec"] == "mosaic-4x4"
    assert score.final["sizes"][:2] == [6, 7]


def test_controller_run_never_grows_past_a_tight_budget(data):
    cfg = RunConfig(steps=30, batch_size=64, T=5, n_sim=0, mapping="greedy", seed=0)
    ccfg = ControllerConfig(k_options=(2,), check_every=3, plateau=PlateauRule(window=1, eps=10.0), T=5)
    free = grow_with_controller(SPEC, CostBudget(), data, (6, 5), controller=ccfg, config=cfg)
    assert free.events and all(e[2] > 0 for e in free.events)      # eps = 10: always "plateaued"
    base_e = free.rows[0]["model_energy_pj"]
    tight = grow_with_controller(SPEC, CostBudget(energy_pj=base_e * 1.001), data, (6, 5),
                                 controller=ccfg, config=cfg)
    refusals = [e for e in tight.log if e["action"] == "refuse"]
    assert refusals and all("budget: energy" in e["reason"] for e in refusals)
    for e in tight.log:                      # whatever was taken was predicted within budget
        if e["action"] == "grow":
            taken = [c for c in e["candidates"] if c["layer"] == e["layer"] and c["k"] == e["k"]]
            assert taken[0]["energy_pj"] <= base_e * 1.001




def _dead_first_layer(seed=1):
    """A 6-5 spiking MLP whose first hidden layer can never spike and never learns (fault
    injection): layer 1's growth matrix (its input spikes x the gradient above) is zero."""
    from models.snn import make_mlp
    import torch
    model = make_mlp([64, 6, 5, 10], seed=seed)
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(-100.0)
    model[0].weight.requires_grad_(False)
    model[0].bias.requires_grad_(False)
    return model


@pytest.mark.parametrize("policy,sizes", [("skip", [6, 5]), ("random", [6, 8])])
def test_dead_layer_is_logged_and_the_run_goes_on(data, policy, sizes):
    from dataclasses import replace
    sched = Schedule((6, 5), [GrowthEvent(4, 1, 3), GrowthEvent(8, 0, 2)])
    score = score_schedule(sched, SPEC, None, data, config=replace(CFG, dead_layer=policy),
                           model=_dead_first_layer())
    assert [r["step"] for r in score.rows] == [4, 8, 12]          # the run reached its end
    assert score.final["sizes"][:2] == [sizes[0] + 2, sizes[1]]    # layer 0 still grew later
    assert score.events[0] == (4, 1, sizes[1] - 5)
    (entry,) = score.log
    assert entry["layer"] == 1 and "growth matrix of layer 1 is zero" in entry["dead_layer"]
    assert entry["dead_layer"].endswith("skipped" if policy == "skip" else "grown with random fan-out")


def test_bad_dead_layer_policy_and_model_sizes(data):
    with pytest.raises(GrowthError, match="dead_layer"):
        RunConfig(dead_layer="crash")
    with pytest.raises(GrowthError, match=r"hidden sizes \[6, 5\] differ"):
        score_schedule(Schedule((4, 4)), SPEC, None, data, config=CFG, model=_dead_first_layer())
