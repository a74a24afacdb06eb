import numpy as np
import pytest

from growth.baselines import BaselineError, HardMoE, KMeansGater, TrainConfig, run_sequence
from models.datasets import Dataset


def test_new_expert_exactly_when_every_centroid_is_beyond_threshold():
    g = KMeansGater(threshold=1.0)
    assert g.update(np.zeros((4, 2))) == [0]
    assert g.update(np.array([[1.0, 0.0]])) == []          # distance 1.0: not beyond
    assert g.n_experts == 1 and g.counts[0] == 5
    np.testing.assert_allclose(g.centroids[0], [0.2, 0.0])  # count-weighted merge
    assert g.update(np.array([[1.2, 0.0], [1.2, 0.0]])) == []  # 1.0 from centroid (0.2, 0)
    assert g.update(np.array([[0.0, 1.05]])) == [1]         # > 1.0 from every centroid
    assert g.n_experts == 2
    assert g.route(np.array([[0.0, 1.0], [0.3, 0.0]])).tolist() == [1, 0]


def test_gater_rejects_bad_input():
    with pytest.raises(BaselineError, match="threshold"):
        KMeansGater(threshold=0.0)
    g = KMeansGater(threshold=1.0)
    with pytest.raises(BaselineError, match="no centroid"):
        g.route(np.zeros((1, 2)))
    with pytest.raises(BaselineError, match="finite"):
        g.update(np.array([[np.nan, 0.0]]))


def _two_regions():
    rng = np.random.default_rng(0)
    tasks = []
    for t, centre in enumerate((0.2, 0.8)):
        def make(n):
            y = rng.integers(0, 2, n)
            x = np.full((n, 6), centre, np.float32) + rng.normal(0, 0.05, (n, 6)).astype(np.float32)
            x[:, :3] += 0.15 * np.where(y == 1, 1, -1)[:, None]
            return np.clip(x, 0, 1).astype(np.float32), (y + 2 * t).astype(np.int64)
        (xtr, ytr), (xte, yte) = make(120), make(40)
        tasks.append(Dataset(f"r{t}", xtr, ytr, xte, yte, 4))
    return tasks


def test_moe_adds_one_expert_per_distinct_region_and_routes_inputs():
    tasks = _two_regions()
    moe = HardMoE([6, 8, 4], threshold=0.5, clusters_per_task=2, train=TrainConfig(epochs=20, lr=0.03))
    res = run_sequence(moe, tasks, task_given=False)
    assert moe.gater.n_experts == 2 and len(moe.experts) == 2
    assert moe.gater.route(tasks[0].x_test).tolist() == [0] * 40
    assert moe.gater.route(tasks[1].x_test).tolist() == [1] * 40
    assert res.R[1, 0] == res.R[0, 0] > 0.9   # task 0's expert untouched by task 1
    assert moe.n_neurons() == 2 * 12
