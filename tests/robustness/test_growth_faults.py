"""Fault injection in real growth runs: a layer with no gradient (a dead input, silenced
weights) never ends the experiment; each run records why a growth step was skipped or grown
randomly and goes on to its end."""
import numpy as np
import pytest
import torch

from growth.controller import ControllerConfig
from growth.grow import DeadLayerError, grow_layer, use_grow_relu
from growth.paths import PATHS, PathConfig, PathReport, run_paths
from growth.schedules import GrowthEvent, Schedule
from growth.score import RunConfig, grow_with_controller, score_schedule
from models.datasets import Dataset, load_dataset
from models.snn import make_mlp
from mosaic import HardwareSpec
from mosaic.cost import CostBudget

SPEC = HardwareSpec.preset("mosaic-4x4")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0, n_train=300, n_test=60)


def _blank(ds: Dataset) -> Dataset:
    """The same task with every input feature 0: the first hidden layer's growth matrix
    (its input x the gradient above) is exactly zero, whatever the weights."""
    return Dataset(ds.name + "-blank", np.zeros_like(ds.x_train), ds.y_train, np.zeros_like(ds.x_test),
                   ds.y_test, ds.n_classes)


def test_the_injected_fault_kills_gradmax():
    model = make_mlp([8, 4, 3], kind="relu", seed=0)
    use_grow_relu(model)
    x, y = torch.zeros(16, 8), torch.nn.functional.one_hot(torch.arange(16) % 3, 3).float()
    with pytest.raises(DeadLayerError, match="growth matrix of layer 0 is zero"):
        grow_layer(model, 0, 2, method="gradmax", data=(x, y), loss_fn=torch.nn.functional.mse_loss)


def test_growth_paths_grow_a_dead_layer_randomly_and_reach_the_target(digits):
    cfg = PathConfig(root=(3, 3), target=(6, 6), k=3, epochs=1, batches_per_epoch=6, trials=2)
    rep = run_paths(cfg, progress=False, data=_blank(digits))
    assert all(len(rep.acc[a]) == 2 for a in rep.acc)            # every arm of every trial ran
    dead = rep.dead_layers
    assert dead and all(d["layer"] == 0 and "growth matrix of layer 0 is zero" in d["reason"] for d in dead)
    assert {d["arm"] for d in dead} == set(PATHS)                 # each path grew layer 0 once
    assert sorted((d["trial"], d["arm"]) for d in dead) == sorted((t, a) for t in range(2) for a in PATHS)
    assert "dead layers: 8 GradMax growth steps" in rep.table()
    back = PathReport.from_dict(rep.to_dict())
    assert back.dead_layers == dead


@pytest.mark.parametrize("policy", ["skip", "random"])
def test_scored_schedule_records_the_dead_layer_and_runs_to_its_end(digits, policy):
    cfg = RunConfig(steps=12, batch_size=64, T=5, n_sim=2, mapping="greedy", seed=1, dead_layer=policy)
    sched = Schedule((6, 5), [GrowthEvent(4, 0, 3), GrowthEvent(8, 1, 2)])
    score = score_schedule(sched, SPEC, None, _blank(digits), config=cfg)
    assert [r["step"] for r in score.rows] == [4, 8, 12]
    (entry,) = [e for e in score.log if e["layer"] == 0]
    assert "growth matrix of layer 0 is zero" in entry["dead_layer"]
    assert score.final["sizes"][0] == (6 if policy == "skip" else 9)


def test_controller_run_on_a_dead_input_goes_on_and_says_why(digits):
    cfg = RunConfig(steps=40, batch_size=64, T=5, n_sim=0, mapping="greedy", seed=0)
    ccfg = ControllerConfig(k_options=(2,), check_every=5, T=5, seed=0)
    score = grow_with_controller(SPEC, CostBudget(), _blank(digits), (6, 5), controller=ccfg, config=cfg,
                                 grow_until=0.9)
    assert score.rows[-1]["step"] == 40                            # the run reached its end
    said = " ".join(str(e) for e in score.log)
    assert "layer 0: no benefit estimate for k = 2 (GradMax matrix zero" in said, score.log[:5]
