"""The "rate" loss of models.recurrent.train_rsnn: its value on hand-computed spike counts, and
that it trains a small recurrent SNN whose read-out keeps spiking."""
import numpy as np
import pytest
import torch

from models.errors import ModelError
from models.recurrent import RATE_TARGETS, _loss, evaluate_rsnn, make_rsnn, train_rsnn
from models.sequences import load_sequences


def test_rate_loss_golden_value():
    T = 5
    spk = torch.zeros(T, 2, 3)
    spk[:, 0, 0] = 1                          # sample 0: output 0 spikes every step (count 5)
    spk[:2, 1, 2] = 1                         # sample 1: output 2 spikes twice
    y = torch.tensor([0, 1])
    hi, lo = RATE_TARGETS[0] * T, RATE_TARGETS[1] * T      # 4 and 1 spikes
    goal = np.array([[hi, lo, lo], [lo, hi, lo]])
    counts = np.array([[5, 0, 0], [0, 0, 2]])
    expect = np.mean((counts - goal) ** 2) / T
    assert float(_loss("rate", spk, spk, y)) == pytest.approx(expect)


def test_rate_loss_trains_with_a_spiking_readout():
    d = load_sequences("smnist", seed=0, n_train=300, n_test=100)
    model = make_rsnn(28, 64, 10, seed=0, surrogate_slope=5.0)
    before = evaluate_rsnn(model, d, split="train")["accuracy"]
    train_rsnn(model, d, epochs=4, lr=1e-2, batch_size=32, loss="rate", seed=0)
    after = evaluate_rsnn(model, d, split="train")
    assert after["accuracy"] > before + 0.15
    assert after["output_spikes_per_sample"] > 0.1 * 28 * 10 * RATE_TARGETS[1]


def test_unknown_loss_is_named():
    d = load_sequences("smnist", seed=0, n_train=50, n_test=10)
    with pytest.raises(ModelError, match="'hinge'"):
        train_rsnn(make_rsnn(28, 8, 10), d, loss="hinge")
