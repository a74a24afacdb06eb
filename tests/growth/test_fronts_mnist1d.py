"""The MNIST-1D front workload: standardised training (folded into the first layer, so the
chip sees the raw [0, 1] input), its steps per inference T, and the settings it learns with."""
from dataclasses import replace

import pytest
import torch

from growth import fronts as gf
from growth.errors import GrowthError
from growth.score import RunConfig, train_root
from models.datasets import load_dataset
from models.errors import ModelError
from models.snn import encode, evaluate, make_mlp, run, standardization, standardized_input


@pytest.fixture(scope="module")
def small():
    return load_dataset("mnist1d", seed=0, n_train=1000, n_test=200)


def test_standardized_input_is_the_same_function_and_folds_back(small):
    torch.manual_seed(0)
    model = make_mlp([40, 16, 10], seed=3)
    x = torch.as_tensor(small.x_train[:64])
    fold = standardization(model, x, "direct")
    w0, b0 = model[0].weight.detach().clone(), model[0].bias.detach().clone()
    with torch.no_grad():
        raw = model[0](x)
        with standardized_input(model, fold):
            inside = model[0]((x - fold[0]) / fold[1])
            assert not torch.allclose(model[0].weight, w0)          # really re-expressed inside
    assert torch.allclose(inside, raw, atol=1e-5)
    assert torch.allclose(model[0].weight, w0, atol=1e-6) and torch.allclose(model[0].bias, b0, atol=1e-5)
    with pytest.raises(RuntimeError, match="inside"), standardized_input(model, fold):
        raise RuntimeError("inside")
    assert torch.allclose(model[0].weight, w0, atol=1e-6) and torch.allclose(model[0].bias, b0, atol=1e-5)


def test_standardize_lifts_mnist1d_off_chance(small):
    """Raw min-max-scaled MNIST-1D (offset ~0.48, std ~0.11) stalls Adam near chance; the same
    run on standardised input learns, and the model it returns takes the raw input."""
    cfg = RunConfig(steps=200, batch_size=128, lr=3e-3, T=10)
    acc = {std: evaluate(train_root((10, 10), small, replace(cfg, standardize=std)), small, T=10,
                         split="train")["accuracy"] for std in (False, True)}
    assert acc[True] >= 0.2 and acc[True] > acc[False] + 0.08, acc
    model = train_root((10, 10), small, replace(cfg, standardize=True, steps=5))
    spk, _ = run(model, encode(small.x_test[:8], 10))          # raw [0, 1] input, as on the chip
    assert spk.shape == (10, 8, 10)


def test_standardize_refuses_what_it_cannot_fold(small):
    with pytest.raises(GrowthError, match="standardize=True with reg=0.5"):
        RunConfig(standardize=True, reg=0.5)
    with pytest.raises(ModelError, match="direct input"):
        train_root((4, 4), small, RunConfig(steps=1, encoder="rate", standardize=True))


def test_reference_point_uses_the_workloads_T(monkeypatch):
    w = gf.MLP_WORKLOADS["mnist1d_mlp"]
    e_w, chance = gf.mlp_reference("mnist1d_mlp")
    monkeypatch.setitem(gf.MLP_WORKLOADS, "mnist1d_mlp", replace(w, T=10))
    e_10, _ = gf.mlp_reference("mnist1d_mlp")
    assert chance == pytest.approx(0.1)
    # the rate bound grows with the T + L - 1 chip steps of an inference
    assert e_w / e_10 == pytest.approx((w.T + 2) / 12, rel=0.15)


@pytest.mark.slow
def test_fixed_schedules_learn_and_budgets_span_their_energies():
    """Seed 0, full settings (about a minute): the largest fixed GradMax schedule well above
    chance, the smallest above it, and the controller's budgets between their energies."""
    w = gf.MLP_WORKLOADS["mnist1d_mlp"]
    lo, hi = (gf.run_mlp_point("mnist1d_mlp", "fixed", s, 0) for s in (min(w.sizes), max(w.sizes)))
    assert hi["accuracy"] >= 0.5 and lo["accuracy"] >= 0.25, (lo["accuracy"], hi["accuracy"])
    assert hi["sizes"][:2] == list(w.target(max(w.sizes)))
    assert lo["energy_pj"] < min(w.budgets) and max(w.budgets) < hi["energy_pj"]
