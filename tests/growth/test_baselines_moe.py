import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from growth.baselines import (
    BaselineError,
    HardMoE,
    KMeansGater,
    TrainConfig,
    run_sequence,
)
from models.datasets import Dataset


def _blob(centre, n=60, d=2, seed=0, spread=0.05):
    return np.asarray(centre, float) + np.random.default_rng(seed).normal(0, spread, (n, d))


def test_threshold_follows_the_data():
    z = np.r_[_blob([0, 0], seed=1), _blob([1, 1], seed=2)]
    g = KMeansGater(quantile=0.8, clusters_per_task=2, seed=0)
    g.update(z)
    km = KMeans(n_clusters=2, n_init=4, random_state=0).fit(z)
    d = np.linalg.norm(z - km.cluster_centers_[km.labels_], axis=1)
    assert g.threshold == pytest.approx(np.quantile(d, 0.8))
    g3 = KMeansGater(quantile=0.8, clusters_per_task=2, seed=0)
    g3.update(3 * z)
    assert g3.threshold == pytest.approx(3 * g.threshold)      # scale the data, scale the threshold
    assert KMeansGater(quantile=0.5, clusters_per_task=2).update(z) == [0]
    with pytest.raises(BaselineError, match="follows the data"):
        _ = KMeansGater().threshold


def test_new_expert_exactly_when_a_centre_is_beyond_every_centroid():
    g = KMeansGater(quantile=0.9, clusters_per_task=1)
    assert g.update(_blob([0, 0], seed=0)) == [0]
    thr = g.threshold
    assert g.update(_blob([0.02, 0], seed=1)) == []                   # same distribution: merged
    assert g.n_experts == 1 and g.counts[0] == 120
    far = g.centroids[0] + np.array([0, 10 * thr])
    assert g.update(_blob(far, seed=2)) == [1]                        # far from every centroid
    assert g.route(np.array([[0.0, 0.0], far])).tolist() == [0, 1]
    before = g.threshold
    g.update(_blob([5, 5], seed=3, spread=1.0))                       # a wide task raises the threshold
    assert g.threshold > before


def test_split_and_remove():
    g = KMeansGater(quantile=0.5, clusters_per_task=2)
    g.update(np.r_[_blob([0, 0], seed=1), _blob([0, 3], seed=2)])
    assert g.n_experts == 1 and len(g.centroids) == 2
    new = g.split(0)
    assert new == 1 and g.n_experts == 2 and sorted(g.expert_of.tolist()) == [0, 1]
    assert g.route(np.array([[0.0, 0.0], [0.0, 3.0]])).tolist() in ([0, 1], [1, 0])
    with pytest.raises(BaselineError, match=">= 2"):
        g.split(0)
    g.remove(0)
    assert g.n_experts == 1 and g.route(np.array([[0.0, 0.0]])).tolist() == [0]
    with pytest.raises(BaselineError, match="last expert"):
        g.remove(0)
    with pytest.raises(BaselineError, match="outside"):
        g.split(4)


def test_gater_rejects_bad_input():
    with pytest.raises(BaselineError, match="quantile"):
        KMeansGater(quantile=0.0)
    g = KMeansGater()
    with pytest.raises(BaselineError, match="no centroid"):
        g.route(np.zeros((1, 2)))
    with pytest.raises(BaselineError, match="finite"):
        g.update(np.array([[np.nan, 0.0]]))
    g.update(_blob([0, 0]))
    with pytest.raises(BaselineError, match="features"):
        g.update(np.zeros((3, 4)))


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


@pytest.mark.parametrize("features", ["trained", "random"])
def test_moe_adds_one_expert_per_distinct_region_and_routes_inputs(features):
    tasks = _two_regions()
    moe = HardMoE([6, 8, 4], features=features, feature_sizes=(8,), quantile=0.9, clusters_per_task=2,
                  train=TrainConfig(epochs=20, lr=0.03))
    res = run_sequence(moe, tasks, task_given=False)
    assert moe.gater.n_experts == 2 and len(moe.experts) == 2
    assert moe.route(tasks[0].x_test).tolist() == [0] * 40
    assert moe.route(tasks[1].x_test).tolist() == [1] * 40
    assert res.R[1, 0] == res.R[0, 0] > 0.9   # task 0's expert untouched by task 1
    assert moe.n_neurons() == 2 * 12 + 8
    # split: the copy answers like its original; remove: inputs go to the remaining expert
    x = torch.from_numpy(tasks[0].x_test)
    before = moe.logits(x, None)
    moe.split_expert(0)
    assert len(moe.experts) == 3
    torch.testing.assert_close(moe.logits(x, None), before)
    moe.remove_expert(1)
    assert len(moe.experts) == 2 and moe.gater.n_experts == 2


def test_moe_rejects_bad_input():
    with pytest.raises(BaselineError, match="features"):
        HardMoE([6, 8, 4], features="pixels")
    moe = HardMoE([6, 8, 4])
    with pytest.raises(BaselineError, match="no feature extractor"):
        moe.route(np.zeros((1, 6)))
    bad = Dataset("w", np.zeros((4, 5), np.float32), np.zeros(4, np.int64), np.zeros((2, 5), np.float32),
                  np.zeros(2, np.int64), 2)
    with pytest.raises(BaselineError, match="take 6"):
        moe.fit_task(0, bad)
    empty = Dataset("e", np.zeros((0, 6), np.float32), np.zeros(0, np.int64), np.zeros((2, 6), np.float32),
                    np.zeros(2, np.int64), 2)
    with pytest.raises(BaselineError, match="task 0: x_train is empty"):
        run_sequence(moe, [empty])
    with pytest.raises(BaselineError, match="different sizes"):
        run_sequence(moe, [_two_regions()[0], bad])
