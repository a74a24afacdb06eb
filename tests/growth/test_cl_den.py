"""GradMax-CL, fine-tuning and DEN on small split-digits tasks."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from growth.cl import CLConfig, TaskHeads, run_finetune, run_gradmax_cl
from growth.den import DEN, DENConfig, run_den
from growth.errors import GrowthError
from models import load_dataset, split_tasks


@pytest.fixture(scope="module")
def tasks():
    return split_tasks(load_dataset("digits", n_train=600, n_test=200), 5)[:3]  # binary tasks


def test_heads_map_labels(tasks):
    h = TaskHeads.from_tasks(tasks)
    assert h.n_out == 6 and h.rows(1) == slice(2, 4)
    assert h.local(1, torch.tensor([2, 3, 3])).tolist() == [0, 1, 1]
    with pytest.raises(GrowthError, match="outside task 1"):
        h.local(1, torch.tensor([0]))


def test_gradmax_cl_with_freeze_never_forgets(tasks):
    cfg = CLConfig(hidden=(8, 6), epochs=5, lr=1e-2, k=4, freeze=True)
    r = run_gradmax_cl(tasks, cfg, progress=False)
    m = np.array(r.matrix)
    assert r.hidden == [16, 14] and r.neurons == 30
    for j in range(3):  # frozen old weights and timestamp-free isolation: exact
        assert np.all(m[j:, j] == m[j, j])
    assert r.report.bwt == 0.0 and r.report.forgetting == 0.0
    assert m[2, 2] > 0.8  # the grown neurons learned the last task


def test_gradmax_cl_without_freeze_and_finetune_run(tasks):
    r = run_gradmax_cl(tasks, CLConfig(hidden=(8, 6), epochs=2, k=3, freeze=False), progress=False)
    f = run_finetune(tasks, CLConfig(hidden=(8, 6), epochs=2), progress=False)
    assert r.hidden == [14, 12] and f.hidden == [8, 6]
    for res in (r, f):
        assert np.array(res.matrix).shape == (3, 3) and len(res.baseline) == 3
        assert -1 <= res.report.bwt <= 1 and 0 <= res.report.acc <= 1


def _den_task1(tasks, **kw):
    heads = TaskHeads.from_tasks(tasks)
    den = DEN(tasks[0].x_train.shape[1], heads, DENConfig(hidden=(12, 8), iters=20, head_iters=10, seed=3, **kw))
    for t in range(2):
        x, y = torch.from_numpy(tasks[t].x_train), torch.from_numpy(tasks[t].y_train)
        den.learn_task(t, x, heads.local(t, y))
    return den


def test_den_expands_only_above_loss_threshold(tasks):
    probe = _den_task1(tasks, loss_threshold=1e9)
    loss = probe.log[1].loss_selective
    assert loss > 0 and not probe.log[1].expanded and probe.log[1].added == []
    below = _den_task1(tasks, loss_threshold=0.5 * loss)
    above = _den_task1(tasks, loss_threshold=2.0 * loss)
    assert below.log[1].loss_selective == pytest.approx(loss)  # same seed, same run so far
    assert below.log[1].expanded and len(below.log[1].added) == 2
    assert not above.log[1].expanded
    grown = [s - 12 - n for s, n in zip(below.sizes[:1], below.log[1].split[:1])]
    assert grown[0] == below.log[1].added[0]


def test_den_split_keeps_the_original_beside_its_copy(tasks):
    heads = TaskHeads.from_tasks(tasks)
    den = DEN(tasks[0].x_train.shape[1], heads, DENConfig(hidden=(10, 7), iters=15, head_iters=10, split_threshold=0.05))
    x0, y0 = torch.from_numpy(tasks[0].x_train), torch.from_numpy(tasks[0].y_train)
    den.learn_task(0, x0, heads.local(0, y0))
    x = torch.from_numpy(tasks[1].x_test)
    old_task0 = den.logits(x, 0)
    before = [p.clone() for p in den.params()]
    # drift units 1, 4 of layer 0 and unit 2 of layer 1 (as retraining on task 1 would)
    g = torch.Generator().manual_seed(0)
    den.W[0][[1, 4]] += 0.5 * torch.randn(2, den.W[0].shape[1], generator=g)
    den.W[1][2] += 0.5 * torch.randn(den.W[1].shape[1], generator=g)
    den.W[0][6] += 1e-3  # drift below sigma: not split
    drifted = [den.W[0][[1, 4]].clone(), den.W[1][2].clone()]
    assert den.split(1, before) == [2, 1]
    assert den.sizes == [12, 8] and den.n_neurons == 20
    # the originals stay, visible to every task, with their weights of before task 1 ...
    assert torch.equal(den.W[0][[1, 4]], before[0][[1, 4]]) and torch.equal(den.W[1][2, :10], before[1][2])
    assert all(v.sum() == n for v, n in zip([den.visible(0, 0), den.visible(1, 0)], [10, 7]))
    assert all(v.sum() == n for v, n in zip([den.visible(0, 1), den.visible(1, 1)], [12, 8]))
    # ... beside their copies, born at task 1 with the drifted weights
    assert list(den.born[0][-2:]) == [1, 1] and den.born[1][-1] == 1
    assert torch.equal(den.W[0][-2:], drifted[0])
    copy_row = den.W[1][-1]
    assert torch.equal(copy_row[[1, 4]], torch.zeros(2))  # reads the copies, not the originals
    torch.testing.assert_close(copy_row[-2:], drifted[1][[1, 4]])
    # the old task is back to its function (only the small drift of unit 6 remains)
    torch.testing.assert_close(den.logits(x, 0), old_task0, rtol=0, atol=2e-2)
    assert den.Wo[heads.rows(1)][:, 2].abs().sum() == 0  # head 1 reads the copy of unit 2 only


def test_den_is_selective_and_calibrates_tau(tasks):
    cfg = DENConfig(hidden=(16, 12), iters=60, head_iters=40, lr=1e-2)
    r, den = run_den(tasks, cfg, progress=False)
    assert den.tau is not None and den.tau > 0 and den.log[0].tau is None
    for lg in den.log[1:]:
        assert lg.tau == den.tau and lg.expanded == (lg.loss_selective > den.tau)
        assert lg.visible[0] >= 16 and 0 <= lg.selected_share <= 1
        assert all(0 <= s <= v for s, v in zip(lg.selected, lg.visible))
    assert min(lg.selected_share for lg in den.log[1:]) < 0.8     # the head's L1 leaves units out of S
    # without L1, S is every unit with a live path to head t (dead ReLUs get no gradient)
    _, dense = run_den(tasks, replace(cfg, l1_head=0.0, l1=0.0), progress=False)
    assert sum(lg.selected[-1] for lg in den.log[1:]) < sum(lg.selected[-1] for lg in dense.log[1:])


def test_tau_lies_between_the_represented_loss_and_chance(tasks):
    heads = TaskHeads.from_tasks(tasks)
    x, y = torch.from_numpy(tasks[0].x_train), heads.local(0, torch.from_numpy(tasks[0].y_train))
    taus = []
    for f in (0.0, 0.5, 1.0):
        den = DEN(64, heads, DENConfig(hidden=(12, 8), iters=30, head_iters=10, lr=1e-2, tau_fraction=f))
        den.learn_task(0, x, y)
        taus.append(den.tau)
    # the same seed reaches the same l_rep; tau moves linearly from it to log(2) (binary task 0)
    assert 0 <= taus[0] < np.log(2)
    assert taus[2] == pytest.approx(np.log(2))
    assert taus[1] == pytest.approx((taus[0] + taus[2]) / 2)
    with pytest.raises(GrowthError, match="tau_fraction"):
        DENConfig(tau_fraction=1.5)
    fixed = DEN(64, TaskHeads.from_tasks(tasks), DENConfig(hidden=(4, 4), loss_threshold=0.25, iters=2))
    assert fixed.tau == 0.25


def test_reference_step_counts():
    c = DENConfig.reference(hidden=(8,))
    assert (c.iters, c.head_iters, c.hidden) == (4300, 430, (8,))


def test_bad_task_sequences(tasks):
    bad_shape = replace(tasks[1], x_train=tasks[1].x_train[:, :32], x_test=tasks[1].x_test[:, :32])
    with pytest.raises(GrowthError, match="task 1 .* 32 input features but task 0 has 64"):
        run_den([tasks[0], bad_shape], DENConfig(hidden=(4,), iters=2), progress=False)
    empty = replace(tasks[1], x_train=tasks[1].x_train[:0], y_train=tasks[1].y_train[:0])
    with pytest.raises(GrowthError, match="task 1 .* is empty"):
        run_den([tasks[0], empty], DENConfig(hidden=(4,), iters=2), progress=False)
    with pytest.raises(GrowthError, match="at least one task"):
        run_den([], progress=False)
    den = DEN(64, TaskHeads.from_tasks(tasks), DENConfig(hidden=(4,), iters=2))
    with pytest.raises(GrowthError, match=r"need x of shape \(N, 64\)"):
        den.learn_task(0, torch.zeros(3, 10), torch.zeros(3, dtype=torch.long))


def test_run_den_matrix_and_timestamps(tasks):
    r, den = run_den(tasks, DENConfig(hidden=(10, 8), iters=15, head_iters=10), progress=False)
    assert np.array(r.matrix).shape == (3, 3) and r.hidden == den.sizes
    assert all(b.min() >= 0 for b in den.born) and len(den.log) == 3
    with pytest.raises(GrowthError, match="expected task 3"):
        den.learn_task(5, torch.zeros(2, 64), torch.zeros(2, dtype=torch.long))


def test_bad_configs():
    with pytest.raises(GrowthError, match="loss_threshold"):
        DENConfig(loss_threshold=-1)
    with pytest.raises(GrowthError, match="head_iters"):
        DENConfig(head_iters=0)
    with pytest.raises(GrowthError, match="hidden"):
        CLConfig(hidden=())


def test_gradmax_cl_keeps_its_model_and_task_networks(tasks):
    r = run_gradmax_cl(tasks, CLConfig(hidden=(8, 6), epochs=2, lr=1e-2, k=3), progress=False)
    assert r.isolated and r.sizes == [[8, 6], [11, 9], [14, 12]]
    assert "model" not in r.to_dict() and r.to_dict()["neurons"] == 26
    x = torch.from_numpy(tasks[0].x_test[:20])
    for t in range(3):  # frozen growth: task t's head needs only the units born up to task t
        sub = r.task_mlp(t)
        assert [l.out_features for l in sub if isinstance(l, torch.nn.Linear)] == [*r.sizes[t], 2]
        assert torch.allclose(sub(x), r.model(x)[:, r.heads.rows(t)], atol=1e-5)
