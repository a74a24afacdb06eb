import numpy as np
import pytest
import torch

from growth.baselines import (BaselineError, EWC, LoRACL, SupSup, TrainConfig, off_diagonal_mean,
                              pollution_matrix, run_sequence)
from growth.baselines.common import increments, pollution_terms_mlp
from models.datasets import load_dataset, split_tasks


def test_hand_made_two_layer_network():
    w1 = torch.tensor([[1.0, 2.0], [-1.0, 1.0]])
    own1 = {0: torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), 1: torch.tensor([[0.0, 2.0], [0.0, 1.0]])}
    w2 = torch.tensor([[1.0, -3.0]])
    own2 = {0: torch.tensor([[1.0, 0.0]]), 1: torch.tensor([[0.0, -3.0]])}
    x = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    b1, b2 = torch.tensor([0.0, 0.5]), torch.zeros(1)
    num, den = pollution_terms_mlp([w1, w2], [b1, b2], [own1, own2], x)
    # layer 1: W x = (3, 0), (2, -2)  -> sum |.| = 7; task 0: (1,-1),(2,-2) -> 6; task 1: (2,1),(0,0) -> 3
    # h = relu(Wx + b) = (3, 0.5), (2, 0); layer 2: W h = 1.5, 2 -> 3.5; task 0: 3, 2 -> 5; task 1: -1.5, 0 -> 1.5
    assert den == pytest.approx(10.5)
    assert num[0] == pytest.approx(11.0) and num[1] == pytest.approx(4.5)


def test_increments_sum_to_last_weights_and_pad_growth():
    snaps = [[torch.ones(2, 2)], [torch.full((3, 2), 2.0)]]
    parts = increments(snaps)[0]
    torch.testing.assert_close(parts[0] + parts[1], snaps[-1][0])
    assert parts[0][2].tolist() == [0.0, 0.0] and parts[1][2].tolist() == [2.0, 2.0]
    with pytest.raises(BaselineError, match="shrank"):
        increments([[torch.ones(3, 2)], [torch.ones(2, 2)]])


def test_pollution_of_every_method():
    tasks = split_tasks(load_dataset("digits", seed=0, n_train=300, n_test=100), n_tasks=5)[:3]
    cfg = TrainConfig(epochs=2, seed=0)
    for learner in (EWC([64, 12, 10], lam=1.0, train=cfg), LoRACL([64, 12, 10], rank=2, train=cfg),
                    SupSup([64, 12, 2], train=cfg)):
        run_sequence(learner, tasks)
        P = pollution_matrix(learner, tasks)
        assert P.shape == (3, 3) and np.all(P >= 0)
        assert np.all(P.sum(1) >= 1 - 1e-6)   # triangle inequality
        assert 0 < off_diagonal_mean(P) < 1
    # SupSup: an edge shared by all masks is split evenly, so P^{i->j} == P^{j->... } only by chance;
    # fine-tuning owns nothing of task 1 before task 1 is learned:
    ft = EWC([64, 12, 10], lam=0.0, train=cfg)
    run_sequence(ft, tasks[:1])
    P = pollution_matrix(ft, tasks[:1])
    assert P[0, 0] == pytest.approx(1.0)
    with pytest.raises(BaselineError, match="square"):
        off_diagonal_mean(np.ones((1, 1)))
