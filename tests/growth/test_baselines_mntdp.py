from dataclasses import replace

import numpy as np
import pytest
import torch

from growth.baselines import MNTDP, BaselineError, TrainConfig, run_sequence
from growth.baselines.chip import chip_figures
from models.datasets import Dataset, load_dataset, split_tasks
from mosaic import HardwareSpec


@pytest.fixture(scope="module")
def digits():
    return split_tasks(load_dataset("digits", seed=0, n_train=400, n_test=100), n_tasks=5)


@pytest.fixture(scope="module")
def duplicated(digits):
    """Tasks B, A, A' (A' a copy of A) learned by MNTDP-D."""
    tasks = [digits[2], digits[0], replace(digits[0], name="copy of A")]
    L = MNTDP([64, 16, 16, 10], train=TrainConfig(epochs=15, lr=1e-2, seed=0))
    return L, tasks, run_sequence(L, tasks)


def test_picks_the_path_of_a_duplicated_earlier_task(duplicated):
    L, _, _ = duplicated
    c = L.choices[2]
    assert c.source == 1 and c.probe[1] > c.probe[0]          # the probe finds A for A'
    assert c.new_modules == 0 and L.paths[2] == L.paths[1]    # A's whole path, a new head only
    assert c.neurons_added == 2 and len(c.val_acc) == 3       # candidates i = 0, 1, 2
    assert L.choices[0].source is None and L.choices[0].new_modules == 2


def test_modules_are_frozen_and_growth_is_counted(duplicated):
    L, tasks, res = duplicated
    np.testing.assert_array_equal(res.R[2, :2], np.diag(res.R)[:2])   # no forgetting: reused modules frozen
    assert np.isnan(res.R[0, 1])                                      # no head before a task is learned
    assert L.n_neurons() == sum(c.neurons_added for c in L.choices)
    assert L.n_neurons() == sum(16 * len(layer) for layer in L.library) + 2 * 3
    assert L.n_parameters() == sum(p.numel() for layer in L.library for m in layer for p in m.parameters()) \
        + 3 * (16 * 2 + 2)
    x = torch.from_numpy(tasks[2].x_test)
    torch.testing.assert_close(L.task_mlp(2)(x), L.logits(x, 2)[:, L.classes[2]])


def test_new_modules_are_new_neurons_on_the_chip(duplicated):
    L, tasks, _ = duplicated
    f = chip_figures(L, tasks, HardwareSpec.preset("mosaic-8x8"), T=8, per_task=2)
    assert f.samples == 6 and f.energy_pj > 0 and 0 <= f.accuracy <= 1
    assert f.neurons == 16 + 16 + 2                                 # one task's path and head


def test_tolerance_prefers_fewer_new_modules(digits):
    tasks = digits[:2]
    strict = MNTDP([64, 16, 10], train=TrainConfig(epochs=5, seed=0))
    loose = MNTDP([64, 16, 10], tolerance=0.99, train=TrainConfig(epochs=5, seed=0))
    for L in (strict, loose):
        run_sequence(L, tasks)
    assert loose.choices[1].new_modules == 0
    assert strict.choices[1].val_acc[strict.choices[1].new_modules] == max(strict.choices[1].val_acc)


def test_bad_input_is_rejected_clearly(digits):
    with pytest.raises(BaselineError, match="hidden"):
        MNTDP([64, 10])
    with pytest.raises(BaselineError, match="val_fraction"):
        MNTDP([64, 8, 10], val_fraction=1.0)
    L = MNTDP([64, 8, 10], train=TrainConfig(epochs=1))
    with pytest.raises(BaselineError, match="in order"):
        L.fit_task(1, digits[0])
    wrong = Dataset("w", np.zeros((10, 5), np.float32), np.zeros(10, np.int64), np.zeros((2, 5), np.float32),
                    np.zeros(2, np.int64), 2)
    with pytest.raises(BaselineError, match="take 64"):
        L.fit_task(0, wrong)
    tiny = Dataset("tiny", np.zeros((1, 64), np.float32), np.zeros(1, np.int64), np.zeros((1, 64), np.float32),
                   np.zeros(1, np.int64), 2)
    with pytest.raises(BaselineError, match="at least one"):
        L.fit_task(0, tiny)
    with pytest.raises(BaselineError, match="different sizes"):
        run_sequence(L, [digits[0], wrong])
    empty = Dataset("e", np.zeros((0, 64), np.float32), np.zeros(0, np.int64), np.zeros((2, 64), np.float32),
                    np.zeros(2, np.int64), 2)
    with pytest.raises(BaselineError, match="task 1: x_train is empty"):
        run_sequence(L, [digits[0], empty])
    L.fit_task(0, digits[0])
    with pytest.raises(BaselineError, match="task id is needed"):
        L.logits(torch.zeros(1, 64), None)
    with pytest.raises(BaselineError, match="not learned"):
        L.chip_mlps(torch.zeros(1, 64), 3)
