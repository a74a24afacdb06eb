import numpy as np
import pytest
import torch

from growth.baselines import EWC, BaselineError, SupSup, TrainConfig, run_sequence
from growth.baselines.chip import chip_figures, spiking_twin
from models.datasets import load_dataset, split_tasks
from models.snn import encode, run
from mosaic import HardwareSpec


@pytest.fixture(scope="module")
def tasks():
    return split_tasks(load_dataset("digits", seed=0, n_train=300, n_test=60), n_tasks=5)[:2]


def test_spiking_twin_follows_the_relu_network(tasks):
    ewc = EWC([64, 16, 10], lam=0.0, train=TrainConfig(epochs=5, seed=0))
    run_sequence(ewc, tasks)
    x = torch.as_tensor(np.concatenate([t.x_test for t in tasks]))
    twin = spiking_twin(ewc.model, torch.as_tensor(tasks[0].x_train))
    spk, _ = run(twin, encode(x, 40))
    counts = spk.sum(0)
    agree = (counts.argmax(1) == ewc.model(x).argmax(1)).float().mean()
    assert agree > 0.8
    with pytest.raises(BaselineError, match="x_calib"):
        spiking_twin(ewc.model, torch.zeros(3, 5))


def test_chip_figures_measure_energy_on_mosaic(tasks):
    spec = HardwareSpec.preset("mosaic-8x8")
    cfg = TrainConfig(epochs=5, seed=0)
    dense, sparse = EWC([64, 16, 10], lam=0.0, train=cfg), SupSup([64, 16, 2], keep=0.25, train=cfg)
    figs = []
    for learner in (dense, sparse):
        run_sequence(learner, tasks)
        figs.append(chip_figures(learner, tasks, spec, T=8, per_task=3))
    for f in figs:
        assert f.samples == 6 and f.energy_pj > 0 and 0 <= f.accuracy <= 1
    assert figs[0].neurons == 26 and figs[1].neurons == 18
    assert figs[1].energy_pj < figs[0].energy_pj     # a quarter of the synapses
