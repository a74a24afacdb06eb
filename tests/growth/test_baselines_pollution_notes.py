"""The research notes' pollution (eqs. 2-4), literal and magnitude forms, on hand-made
networks whose answer is known, on every baseline, and on bad input."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from growth.baselines import (
    EWC,
    MNTDP,
    BaselineError,
    HardMoE,
    LoRACL,
    ProtectedNet,
    SupSup,
    TrainConfig,
    birth_nets,
    births_from_sizes,
    diagonal_is_one,
    notes_pollution,
    off_diagonal_mean,
    pollution_figures,
    protected_by_birth,
    run_sequence,
)
from models.datasets import Dataset, load_dataset, split_tasks


def _task(x, name="t"):
    x = np.asarray(x, np.float32)
    y = np.zeros(len(x), np.int64)
    return Dataset(name, x, y, x, y, 2)


def _provider(nets):
    """nets[i]: the ProtectedNet run on task i's inputs (every row)."""
    return lambda L, x, i, tasks: [(torch.ones(len(x), dtype=torch.bool), nets[i])]


def test_identical_protected_sets_give_one_everywhere():
    w = [torch.tensor([[1.0, -2.0], [0.5, 1.0]]), torch.tensor([[1.0, -1.0]])]
    b = [torch.zeros(2), torch.zeros(1)]
    net = ProtectedNet(w, b, [{0: wl, 1: wl} for wl in w])
    tasks = [_task([[1.0, 0.2], [0.3, 0.9]]), _task([[0.5, 0.1]])]
    P = notes_pollution(None, tasks, provider=_provider([net, net]))
    np.testing.assert_array_equal(P.signed, np.ones((2, 2)))
    np.testing.assert_array_equal(P.magnitude, np.ones((2, 2)))
    assert diagonal_is_one(P.signed) and diagonal_is_one(P.magnitude)


def test_disjoint_protected_sets_with_zero_cross_input_give_zero():
    # two blocks: task 0 owns inputs 0-1 -> hidden 0-1 -> output 0; task 1 owns 2-3 -> 2-3 -> 1
    rng = np.random.default_rng(0)
    w1 = torch.from_numpy(rng.uniform(0.5, 1.0, (4, 4))).float()
    w2 = torch.from_numpy(rng.uniform(0.5, 1.0, (2, 4))).float()
    m1 = torch.zeros(4, 4, dtype=torch.bool)
    m1[:2, :2] = m1[2:, 2:] = True
    m2 = torch.zeros(2, 4, dtype=torch.bool)
    m2[0, :2] = m2[1, 2:] = True
    w = [w1 * m1, w2 * m2]
    prot = [{0: w[0] * m1 * (torch.arange(4) < 2)[:, None], 1: w[0] * m1 * (torch.arange(4) >= 2)[:, None]},
            {0: w[1] * torch.tensor([[1.0], [0.0]]), 1: w[1] * torch.tensor([[0.0], [1.0]])}]
    net = ProtectedNet(w, [torch.zeros(4), torch.zeros(2)], prot)
    x0 = np.c_[rng.uniform(0.1, 1, (5, 2)), np.zeros((5, 2))]   # task 0's data: zero on task 1's inputs
    x1 = np.c_[np.zeros((5, 2)), rng.uniform(0.1, 1, (5, 2))]
    P = notes_pollution(None, [_task(x0), _task(x1)], provider=_provider([net, net]))
    np.testing.assert_array_equal(P.signed, np.eye(2))
    np.testing.assert_array_equal(P.magnitude, np.eye(2))
    # the other block's neurons see 0/0 on every sample: undefined, 3 of the 6 neurons
    np.testing.assert_allclose(P.undefined_signed, [0.5, 0.5])


def test_signed_and_magnitude_forms_by_hand():
    # one layer W = [[2, -1]]: task 0 protects w0, task 1 protects w1; x = (1, 1): 2 / 2, -1 / 2
    w = torch.tensor([[2.0, -1.0]])
    prot = [{0: torch.tensor([[2.0, 0.0]]), 1: torch.tensor([[0.0, -1.0]])}]
    net = ProtectedNet([w], [torch.zeros(1)], prot)
    P = notes_pollution(None, [_task([[1.0, 1.0]]), _task([[1.0, 1.0]])], provider=_provider([net, net]))
    np.testing.assert_allclose(P.signed, [[1.0, -0.5], [-2.0, 1.0]])
    np.testing.assert_allclose(P.magnitude, [[1.0, 0.5], [2.0, 1.0]])


def test_undefined_term_rule_counts_and_skips_cancelling_denominators():
    # task 0 protects both weights of W = [[1, -1]]; scale = |x0| + |x1|
    w = torch.tensor([[1.0, -1.0]])
    half = torch.tensor([[1.0, 0.0]])
    net = ProtectedNet([w], [torch.zeros(1)], [{0: w, 1: half}])
    x = [[1.0, 1.0],    # den 0: undefined
         [1.0, 0.6],    # den 0.4 = eps * 1.6: undefined (<=)
         [1.0, 0.5],    # den 0.5 > 0.375: ratio 1 / 0.5 = 2
         [1.0, 0.0]]    # den 1 > 0.25: ratio 1
    P = notes_pollution(None, [_task(x), _task(x)], eps=0.25, provider=_provider([net, net]))
    assert P.signed[0, 1] == pytest.approx(1.5) and P.signed[0, 0] == 1.0
    assert P.undefined_signed[0] == pytest.approx(0.5)
    # magnitude: den 2, 1.6, 1.5, 1 never below 0.25 x scale; ratios 1/2, 1/1.6, 1/1.5, 1
    assert P.undefined_magnitude[0] == 0.0
    assert P.magnitude[0, 1] == pytest.approx(np.mean([1 / 2, 1 / 1.6, 1 / 1.5, 1.0]))
    # eps = 0 keeps every term but the exact 0/0 one
    P0 = notes_pollution(None, [_task(x), _task(x)], eps=0.0, provider=_provider([net, net]))
    assert P0.undefined_signed[0] == pytest.approx(0.25)
    assert P0.signed[0, 1] == pytest.approx(np.mean([1 / 0.4, 2.0, 1.0]))


def test_protected_by_birth_owns_edges_by_their_later_endpoint():
    w = [torch.ones(3, 2), torch.ones(2, 3)]
    parts = protected_by_birth(w, [[0, 1, 1]], t=1)
    assert parts[0][0].tolist() == [[1, 1], [0, 0], [0, 0]] and parts[0][1].tolist() == [[0, 0], [1, 1], [1, 1]]
    assert set(parts[1]) == {1} and parts[1][1].sum() == 6      # the head is born with task 1
    with pytest.raises(BaselineError, match="hidden layer"):
        protected_by_birth(w, [], t=1)
    born = births_from_sizes([[3, 2], [3, 2], [5, 4]], [5, 3])
    assert born[0].tolist() == [0, 0, 0, 2, 2] and born[1].tolist() == [0, 0, 2]
    with pytest.raises(BaselineError, match="covering every unit"):
        births_from_sizes([[3], [2]], [2])


def test_grown_network_by_birth():
    # task 1 added hidden unit 2.  Isolated (task 0 runs the old units only): no off-diagonal
    # pollution, and task 1's old hidden neurons protect nothing for it (undefined).  Not
    # isolated: the new unit drives task 0's head on task 0's data (the notes' argument).
    from growth.baselines import mlp
    full = mlp([2, 3, 2], seed=0)
    with torch.no_grad():
        full[0].weight.abs_()
        full[0].bias.fill_(0.1)
    old = mlp([2, 2, 2])
    with torch.no_grad():
        old[0].weight.copy_(full[0].weight[:2]), old[0].bias.copy_(full[0].bias[:2])
        old[2].weight.copy_(full[2].weight[:, :2]), old[2].bias.copy_(full[2].bias)
    tasks = [_task([[1.0, 0.5], [0.2, 0.9]]), _task([[0.3, 0.3]])]
    isolated = {0: (old, [[0, 0]]), 1: (full, [[0, 0, 1]])}
    P = notes_pollution(None, tasks, provider=lambda L, x, i, ts: birth_nets(*isolated[i], i, len(x)))
    np.testing.assert_allclose(P.signed, np.eye(2))
    assert P.undefined_signed[0] == 0 and P.undefined_signed[1] == pytest.approx(2 / 5)
    P = notes_pollution(None, tasks, provider=lambda L, x, i, ts: birth_nets(full, [[0, 0, 1]], i, len(x)))
    with torch.no_grad():
        h = torch.relu(full[0](torch.from_numpy(tasks[0].x_test)))
    w = full[2].weight.detach()
    expect = ((h[:, 2:] @ w[:, 2:].abs().T) / (h[:, :2] @ w[:, :2].abs().T)).mean(0)   # per head neuron
    # eq. 4: mean over the 2 layers; the hidden layer's old neurons get nothing from task 1
    assert P.magnitude[0, 1] == pytest.approx(float(expect.mean()) / 2, rel=1e-5)
    assert P.magnitude[0, 1] > 0


def test_bad_input_is_rejected_clearly():
    w = [torch.ones(2, 2), torch.ones(1, 2)]
    b = [torch.zeros(2), torch.zeros(1)]
    tasks = [_task([[1.0, 0.0]]), _task([[0.0, 1.0]])]
    short = ProtectedNet(w, b, [{0: w[0], 1: w[0]}])
    with pytest.raises(BaselineError, match="cover every layer"):
        notes_pollution(None, tasks, provider=_provider([short, short]))
    gap = ProtectedNet(w, b, [{0: w[0], 1: w[0]}, {1: w[1]}])   # layer 1 says nothing for task 0
    with pytest.raises(BaselineError, match="do not cover layer 1 for task 0"):
        notes_pollution(None, tasks, provider=_provider([gap, gap]))
    bad_shape = ProtectedNet(w, b, [{0: w[0], 1: torch.ones(3, 2)}, {0: w[1], 1: w[1]}])
    with pytest.raises(BaselineError, match="shape"):
        notes_pollution(None, tasks, provider=_provider([bad_shape, bad_shape]))
    with pytest.raises(BaselineError, match="different sizes"):
        notes_pollution(None, [tasks[0], _task([[1.0, 0.0, 0.0]])], provider=_provider([short, short]))
    empty = SimpleNamespace(x_train=np.zeros((0, 2), np.float32), y_train=np.zeros(0, np.int64),
                            x_test=np.zeros((0, 2), np.float32), y_test=np.zeros(0, np.int64), n_classes=2)
    with pytest.raises(BaselineError, match="empty"):
        notes_pollution(None, [tasks[0], empty], provider=_provider([short, short]))
    with pytest.raises(BaselineError, match="eps"):
        notes_pollution(None, tasks, eps=float("nan"), provider=_provider([short, short]))
    with pytest.raises(BaselineError, match="no protected-set definition"):
        notes_pollution(object(), tasks)
    with pytest.raises(BaselineError, match="square"):
        off_diagonal_mean(np.ones((1, 1)))


def test_off_diagonal_mean_skips_undefined_entries():
    P = np.array([[1.0, 0.2, np.nan], [0.4, 1.0, 0.6], [np.nan, np.nan, 1.0]])
    assert off_diagonal_mean(P) == pytest.approx(0.4)
    assert np.isnan(off_diagonal_mean(np.array([[1.0, np.nan], [np.nan, 1.0]])))


@pytest.fixture(scope="module")
def digits3():
    return split_tasks(load_dataset("digits", seed=0, n_train=300, n_test=100), n_tasks=5)[:3]


def test_every_method_has_both_forms_with_a_unit_diagonal(digits3):
    cfg = TrainConfig(epochs=2, seed=0)
    learners = [EWC([64, 12, 10], lam=0.0, train=cfg), EWC([64, 12, 10], lam=10.0, online=True, gamma=0.9, train=cfg),
                LoRACL([64, 12, 10], rank=2, train=cfg), SupSup([64, 12, 2], train=cfg),
                HardMoE([64, 12, 10], feature_sizes=(8,), train=cfg), MNTDP([64, 12, 10], train=cfg)]
    for L in learners:
        run_sequence(L, digits3)
        P = notes_pollution(L, digits3)
        assert diagonal_is_one(P.signed) and diagonal_is_one(P.magnitude), L.name
        assert np.nanmin(P.magnitude) >= 0, L.name
        assert np.all((P.undefined_signed >= 0) & (P.undefined_signed <= 1)), L.name
        assert np.all(P.undefined_magnitude <= P.undefined_signed + 1e-12), L.name   # |den_s| <= den_m
    row = pollution_figures(learners[-1], digits3)
    assert row["diagonal_is_one"] == 1.0 and 0 <= row["pollution_abs"] <= 1   # MNTDP: shared modules only


def test_supsup_with_full_masks_protects_the_same_weights_for_every_task(digits3):
    L = SupSup([64, 12, 2], keep=1.0, train=TrainConfig(epochs=1, seed=0))
    run_sequence(L, digits3)
    P = notes_pollution(L, digits3)
    np.testing.assert_allclose(P.signed, np.ones((3, 3)))
    np.testing.assert_allclose(P.magnitude, np.ones((3, 3)))
