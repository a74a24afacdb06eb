import numpy as np
import pytest
import torch
from torch import nn

from growth.baselines import EWC, BaselineError, TrainConfig, diagonal_fisher, mlp, run_sequence
from growth.baselines.common import as_tensors, task_classes, train_classifier
from models.datasets import load_dataset, split_tasks

CFG = TrainConfig(epochs=3, lr=1e-2, batch_size=32, seed=3)


@pytest.fixture(scope="module")
def tasks():
    return split_tasks(load_dataset("digits", seed=0, n_train=300, n_test=100), n_tasks=5)[:3]


def test_lambda_zero_is_fine_tuning(tasks):
    ewc = EWC([64, 16, 10], lam=0.0, train=CFG)
    ref = mlp([64, 16, 10], seed=CFG.seed)
    for t, task in enumerate(tasks):
        ewc.fit_task(t, task)
        x, y = as_tensors(task.x_train, task.y_train)
        train_classifier(ref, ref.parameters(), x, y, classes=task_classes(task), epochs=CFG.epochs, lr=CFG.lr,
                         batch_size=CFG.batch_size, seed=CFG.seed + 1000 * t)
    for a, b in zip(ewc.model.parameters(), ref.parameters()):
        assert torch.equal(a, b)
    strong = EWC([64, 16, 10], lam=1e4, train=CFG)
    for t, task in enumerate(tasks):
        strong.fit_task(t, task)
    assert not torch.equal(strong.model[0].weight, ref[0].weight)


def test_fisher_of_linear_softmax_matches_hand_computation():
    lin = nn.Linear(2, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, -1.0], [0.25, 0.0], [-0.5, 1.0]]))
        lin.bias.copy_(torch.tensor([0.1, -0.2, 0.0]))
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
    y = torch.tensor([0, 2])
    W, b, X = lin.weight.detach().numpy(), lin.bias.detach().numpy(), x.numpy()
    emp_w, emp_b, true_w, true_b = np.zeros((3, 2)), np.zeros(3), np.zeros((3, 2)), np.zeros(3)
    for xn, yn in zip(X, y.numpy()):
        z = W @ xn + b
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        for c in range(3):  # d log p_c / d z = onehot(c) - p ; d z / d W = x
            gz = np.eye(3)[c] - p
            if c == yn:
                emp_w += np.outer(gz, xn) ** 2 / 2
                emp_b += gz ** 2 / 2
            true_w += p[c] * np.outer(gz, xn) ** 2 / 2
            true_b += p[c] * gz ** 2 / 2
    emp = diagonal_fisher(lin, x, y, kind="empirical")
    tru = diagonal_fisher(lin, x, kind="true")
    np.testing.assert_allclose(emp["weight"].numpy(), emp_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(emp["bias"].numpy(), emp_b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(tru["weight"].numpy(), true_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(tru["bias"].numpy(), true_b, rtol=1e-5, atol=1e-7)


def test_online_ewc_keeps_one_decayed_fisher(tasks):
    ewc = EWC([64, 8, 10], lam=10.0, online=True, gamma=0.5, train=CFG)
    ewc.fit_task(0, tasks[0])
    f0 = {k: v.clone() for k, v in ewc.anchors[0][0].items()}
    ewc.fit_task(1, tasks[1])
    x, y = as_tensors(tasks[1].x_train, tasks[1].y_train)
    f1 = diagonal_fisher(ewc.model, x, y, classes=task_classes(tasks[1]))
    assert len(ewc.anchors) == 1
    torch.testing.assert_close(ewc.anchors[0][0]["0.weight"], 0.5 * f0["0.weight"] + f1["0.weight"])


def test_ewc_runs_a_sequence_and_rejects_bad_input(tasks):
    res = run_sequence(EWC([64, 16, 10], lam=10.0, train=CFG), tasks)
    assert res.R.shape == (3, 3) and np.all((res.R >= 0) & (res.R <= 1))
    assert res.R[0, 0] > 0.8
    with pytest.raises(BaselineError, match="lam"):
        EWC([64, 8, 10], lam=-1.0)
    with pytest.raises(BaselineError, match="fisher"):
        EWC([64, 8, 10], fisher="exact")
    with pytest.raises(BaselineError, match="labels"):
        diagonal_fisher(nn.Linear(2, 2), torch.zeros(3, 2))
