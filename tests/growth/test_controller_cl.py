"""The hardware-aware controller in continual learning (growth.controller_cl) on tiny split digits."""
import numpy as np
import pytest

from growth.cl import CLConfig
from growth.controller import ControllerConfig, incremental_placer, layered_network
from growth.controller_cl import run_controller_cl
from growth.errors import GrowthError
from models import load_dataset, split_tasks
from mosaic import HardwareSpec
from mosaic.cost import CostBudget, estimate_cost

CFG = CLConfig(hidden=(8, 6), epochs=2, lr=1e-2)
T = 8


@pytest.fixture(scope="module")
def tasks():
    return split_tasks(load_dataset("digits", n_train=300, n_test=100), 5)[:3]


@pytest.fixture(scope="module")
def spec():
    return HardwareSpec.preset("mosaic-8x8")


def _bound(spec, n_in, sizes, core_of):
    net = layered_network(n_in, sizes)
    return estimate_cost(net, spec, core_of, np.ones(net.n_neurons), np.ones(n_in), T=T, analog_input=True)


def _initial_energy(spec, tasks):
    net = layered_network(64, [*CFG.hidden, 6])
    core_of = incremental_placer()(net, spec, None, np.ones(net.n_neurons))
    return _bound(spec, 64, [*CFG.hidden, 6], core_of).energy_pj["total"]


@pytest.mark.parametrize("train_between", [0, 1])
def test_controller_grows_within_the_budget(tasks, spec, train_between):
    budget = CostBudget(energy_pj=1.3 * _initial_energy(spec, tasks), cores=40)
    r = run_controller_cl(tasks, spec, budget, config=CFG, controller=ControllerConfig(k_options=(1, 4), T=T),
                          train_between=train_between, progress=False)
    m = np.array(r.matrix)
    assert m.shape == (3, 3) and np.all((m >= 0) & (m <= 1)) and len(r.baseline) == 3
    assert r.neurons > sum(CFG.hidden)                       # it did grow
    assert sum(e["k"] for e in r.log if e["action"] == "grow") == r.neurons - sum(CFG.hidden)
    final = _bound(spec, 64, [*r.hidden, 6], r.core_of)    # independent re-costing of the final network
    assert budget.violations(final) == []
    assert final.energy_pj["total"] == pytest.approx(r.cost.energy_pj["total"])
    assert "model" not in r.to_dict() and "core_of" not in r.to_dict()
    for j in range(3):                                       # frozen old weights: no forgetting
        assert np.all(m[j:, j] == m[j, j])


def test_too_tight_a_budget_refuses_all_growth_and_says_why(tasks, spec):
    budget = CostBudget(energy_pj=1.001 * _initial_energy(spec, tasks))
    r = run_controller_cl(tasks, spec, budget, config=CFG, controller=ControllerConfig(k_options=(1, 4), T=T),
                          progress=False)
    assert r.hidden == list(CFG.hidden)
    assert [e["task"] for e in r.log] == [1, 2] and all(e["action"] == "refuse" for e in r.log)
    assert all("budget: energy" in e["reason"] for e in r.log)


def test_a_budget_the_initial_network_breaks_is_an_error(tasks, spec):
    with pytest.raises(GrowthError, match="already breaks the budget"):
        run_controller_cl(tasks, spec, CostBudget(energy_pj=1.0), config=CFG, progress=False)
