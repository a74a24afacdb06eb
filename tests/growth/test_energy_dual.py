"""Training under an energy budget: the dual step, the slopes of the cost model, the
penalty's gradient, and a controller run whose training stays inside its budget."""
import numpy as np
import pytest
import torch

from growth.controller import ControllerConfig, PlateauRule, layered_network
from growth.energy_dual import EnergyDual, layer_slopes
from growth.errors import GrowthError
from growth.score import RunConfig, grow_with_controller
from models.datasets import load_dataset
from mosaic import HardwareSpec
from mosaic.cost import CostBudget, estimate_cost

SPEC = HardwareSpec.preset("mosaic-4x4")


def test_dual_ascent_rises_over_target_and_returns_to_zero():
    d = EnergyDual(100.0, lr=0.5)
    assert d.penalty([torch.ones(2, 3, 4)]) is None          # lam 0: training unchanged
    assert d.update(1, 120.0, np.array([10.0])) == pytest.approx(0.1)
    assert d.update(2, 140.0, np.array([10.0])) == pytest.approx(0.3)
    assert d.update(3, 90.0, np.array([10.0])) == pytest.approx(0.25)
    assert d.update(4, 10.0, np.array([10.0])) == 0.0
    assert [h["lam"] for h in d.history] == pytest.approx([0.1, 0.3, 0.25, 0.0])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(GrowthError, match="energy target"):
            EnergyDual(bad)


def test_penalty_is_lam_times_spike_energy_over_target_and_has_a_gradient():
    d = EnergyDual(200.0, lr=1.0)
    d.update(0, 300.0, np.array([40.0, 8.0]))                # lam = 0.5
    a = torch.full((5, 2, 3), 0.2, requires_grad=True)
    b = torch.full((5, 2, 4), 0.5, requires_grad=True)
    p = d.penalty([a, b])
    assert float(p.detach()) == pytest.approx(0.5 * (40 * 0.2 + 8 * 0.5) / 200.0)
    p.backward()
    assert torch.all(a.grad > 0) and torch.all(b.grad > 0)
    assert float(a.grad[0, 0, 0]) == pytest.approx(0.5 * 40 / 200 / a.numel())
    with pytest.raises(GrowthError, match="slopes"):
        d.penalty([a])


def test_layer_slopes_are_the_cost_models_exact_marginal_energy():
    rng = np.random.default_rng(0)
    sizes = [7, 5, 4]
    net = layered_network(12, sizes)
    core = rng.integers(0, SPEC.n_cores, sum(sizes))
    rates, in_rates = rng.uniform(0, 0.3, sum(sizes)), rng.uniform(0, 1, 12)
    s = layer_slopes(net, SPEC, core, rates, in_rates, sizes, 10, True)
    assert s.shape == (2,) and np.all(s > 0)
    # linear in the rates: a layer's mean rate up by 0.1 costs 0.1 x its slope
    r = rates.copy()
    r[7:12] += 0.1
    e = lambda x: estimate_cost(net, SPEC, core, x, in_rates, T=10, analog_input=True).energy_pj["total"]
    assert e(r) - e(rates) == pytest.approx(0.1 * s[1], rel=1e-9)


def test_bound_training_keeps_the_run_inside_a_budget_that_training_alone_breaks():
    data = load_dataset("digits", seed=0, n_train=400, n_test=60)
    cfg = RunConfig(steps=60, batch_size=64, lr=2e-2, T=5, n_sim=8, mapping="greedy", seed=0)
    never = ControllerConfig(k_options=(2,), check_every=5, plateau=PlateauRule(window=1, eps=-1.0), T=5,
                             margin=0.9)    # eps < 0: never on a plateau, so never grows
    # a budget nothing reaches: lam stays 0 (training unchanged) and the history has the
    # chip's energy at every opportunity
    free = grow_with_controller(SPEC, CostBudget(energy_pj=1e12), data, (20, 20), controller=never, config=cfg)
    start, end = free.dual[0]["measured_energy_pj"], free.final["energy_pj"]
    assert not free.events and all(h["lam"] == 0 for h in free.dual)
    assert end > 1.05 * start                                 # training alone raises the energy
    budget = CostBudget(energy_pj=0.5 * (start + end))
    drift = grow_with_controller(SPEC, budget, data, (20, 20), controller=never, config=cfg, dual_lr=0)
    bound = grow_with_controller(SPEC, budget, data, (20, 20), controller=never, config=cfg, dual_lr=2.0)
    assert drift.violations and drift.dual == []
    assert bound.violations == [] and max(h["lam"] for h in bound.dual) > 0
