import numpy as np
import pytest
import torch

from growth.baselines import BaselineError, SupSup, TrainConfig, run_sequence
from growth.baselines.common import accuracy
from models.datasets import Dataset, load_dataset, split_tasks

CFG = TrainConfig(epochs=4, lr=0.05, batch_size=32, seed=0)


@pytest.fixture(scope="module")
def tasks():
    return split_tasks(load_dataset("digits", seed=0, n_train=300, n_test=100), n_tasks=5)[:3]


def test_masks_are_binary_with_the_chosen_sparsity(tasks):
    ss = SupSup([64, 20, 2], keep=0.3, train=CFG)
    w0 = [w.clone() for w in ss.weights]
    ss.fit_task(0, tasks[0])
    ss.fit_task(1, tasks[1])
    for masks in ss.masks:
        for m, w in zip(masks, ss.weights):
            assert m.dtype == torch.bool and m.shape == w.shape
            assert int(m.sum()) == round(0.3 * w.numel())
    assert not torch.equal(ss.masks[0][0], ss.masks[1][0])
    for a, b in zip(w0, ss.weights):
        assert torch.equal(a, b)
    assert all(set(w.abs().unique().tolist()) == {w.abs().max().item()} for w in ss.weights)


def test_task_given_accuracy_is_unaffected_by_later_tasks(tasks):
    ss = SupSup([64, 20, 2], keep=0.5, train=CFG)
    res = run_sequence(ss, tasks)
    assert np.isnan(res.R[0, 1]) and res.R[0, 0] > 0.8
    np.testing.assert_array_equal(res.R[:, 0], res.R[0, 0])
    np.testing.assert_array_equal(res.R[1:, 1], res.R[1, 1])


def _separated(n_tasks: int, rng: np.random.Generator) -> list[Dataset]:
    """Task t lives on its own block of 8 input features (other features zero)."""
    out = []
    for t in range(n_tasks):
        def make(n):
            y = rng.integers(0, 2, n)
            x = np.zeros((n, 8 * n_tasks), np.float32)
            block = rng.random((n, 8)).astype(np.float32) * 0.3
            block[:, :4] += 0.7 * (y == 0)[:, None]
            block[:, 4:] += 0.7 * (y == 1)[:, None]
            x[:, 8 * t:8 * t + 8] = block
            return x, (y + 2 * t).astype(np.int64)
        xtr, ytr = make(200)
        xte, yte = make(64)
        out.append(Dataset(f"sep{t}", xtr, ytr, xte, yte, 2 * n_tasks))
    return out


def test_one_shot_inference_picks_the_right_task_on_separated_tasks():
    tasks = _separated(3, np.random.default_rng(0))
    ss = SupSup([24, 32, 2], keep=0.5, infer_batch=32, train=CFG)
    run_sequence(ss, tasks)
    for t, task in enumerate(tasks):
        assert ss.infer_task(torch.as_tensor(task.x_test)) == t
        assert accuracy(ss, task, t, task_given=False) > 0.9
    with pytest.raises(BaselineError, match="not learned"):
        ss.logits(torch.as_tensor(tasks[0].x_test), 5)
    with pytest.raises(BaselineError, match="keep"):
        SupSup([4, 2], keep=0.0)
