"""snnTorch MLP construction, encoders and time stepping."""
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from models.snn import ModelError, check_model, encode, make_mlp, run


@pytest.mark.parametrize("kind", ["leaky", "synaptic"])
def test_make_mlp_structure_and_run(kind):
    m = make_mlp([8, 16, 4], kind=kind, seed=1)
    check_model(m)
    assert isinstance(m[0], nn.Linear) and isinstance(m[1], (snn.Leaky, snn.Synaptic))
    assert m[3].output and not m[1].output
    x = encode(torch.rand(3, 8), 6, "direct")
    spk, mem, layers = run(m, x, record=True)
    assert spk.shape == mem.shape == (6, 3, 4)
    assert [l.shape[2] for l in layers] == [16, 4]
    spk2, mem2 = run(m, x)  # state is reset: the same input gives the same output
    assert torch.equal(spk, spk2) and torch.equal(mem, mem2)
    m2 = make_mlp([8, 16, 4], kind=kind, seed=1)
    assert torch.equal(m2[0].weight, m[0].weight)


def test_grown_layer_needs_no_bookkeeping():
    m = make_mlp([8, 16, 4], seed=0)
    run(m, encode(torch.rand(2, 8), 3))
    m[0] = nn.Linear(8, 20)
    m[2] = nn.Linear(20, 4)
    spk, _, layers = run(m, encode(torch.rand(5, 8), 3), record=True)
    assert layers[0].shape == (3, 5, 20) and spk.shape == (3, 5, 4)


def test_encoders():
    x = torch.tensor([[0.0, 0.5, 1.0]])
    d = encode(x, 4, "direct")
    assert d.shape == (4, 1, 3) and torch.equal(d[2], x)
    r1, r2 = encode(x.repeat(500, 1), 20, "rate", seed=5), encode(x.repeat(500, 1), 20, "rate", seed=5)
    assert torch.equal(r1, r2)
    assert r1[..., 0].sum() == 0 and r1[..., 2].mean() == 1
    assert abs(r1[..., 1].mean().item() - 0.5) < 0.02
    lat = encode(x, 10, "latency")
    assert lat[:, 0, 0].sum() == 0 and lat[:, 0, 2].sum() == 1 and lat[:, 0, 1].sum() == 1
    assert torch.argmax(lat[:, 0, 2]) < torch.argmax(lat[:, 0, 1])
    with pytest.raises(ModelError, match="unknown encoder"):
        encode(x, 4, "delta")
    with pytest.raises(ModelError, match=r"\[0, 1\]"):
        encode(x * 2, 4)


def test_bad_models_rejected():
    with pytest.raises(ModelError):
        make_mlp([8], kind="leaky")
    with pytest.raises(ModelError, match="unknown kind"):
        make_mlp([8, 2], kind="izhikevich")
    bad = nn.Sequential(nn.Linear(4, 3), snn.Leaky(0.9, init_hidden=True, output=True), nn.Linear(5, 2),
                        snn.Leaky(0.9, init_hidden=True, output=True))
    with pytest.raises(ModelError):
        check_model(bad)


def test_bias_options():
    assert [l.bias is not None for l in make_mlp([4, 5, 6, 2]) if isinstance(l, nn.Linear)] == [True, False, False]
    assert all(l.bias is None for l in make_mlp([4, 5, 2], kind="synaptic") if isinstance(l, nn.Linear))
    assert all(l.bias is not None for l in make_mlp([4, 5, 2], bias=True) if isinstance(l, nn.Linear))


def test_predict_tie_rule():
    from models.snn import predict
    s = np.zeros((4, 3, 3), bool)
    s[[0, 2], 0, 1] = True   # sample 0: neuron 1 has 2 spikes, neuron 2 has 1
    s[2, 0, 2] = True
    s[[1, 3], 1, 0] = True   # sample 1: tie 2-2, neuron 2 fires first
    s[[0, 3], 1, 2] = True   # sample 2: silent -> class 0
    assert predict(s).tolist() == [1, 2, 0]
    assert predict(torch.as_tensor(s, dtype=torch.float32)).tolist() == [1, 2, 0]


def test_train_learns_and_is_seeded():
    from models.datasets import load_dataset
    from models.snn import evaluate, train
    ds = load_dataset("digits", n_train=300, n_test=100)
    accs = []
    for _ in range(2):
        m = make_mlp([64, 32, 10], seed=0)
        info = train(m, ds, T=5, encoder="rate", epochs=10, lr=1e-2, progress=False)
        ev = evaluate(m, ds, 5, "rate")
        accs.append(ev["accuracy"])
        assert info["epochs"] == 10 and np.isfinite(info["loss"])
        assert ev["spikes_per_sample"] > 0 and ev["input_spikes_per_sample"] > 0
    assert accs[0] == accs[1] and accs[0] > 0.5
    relu = make_mlp([64, 32, 10], kind="relu")
    train(relu, ds, epochs=20, lr=1e-2, progress=False)
    assert evaluate(relu, ds)["accuracy"] > 0.8
    with pytest.raises(ModelError, match="features"):
        train(make_mlp([10, 4]), ds, epochs=1, progress=False)


def test_standardize_folds_back_into_first_layer():
    import copy

    from models.datasets import load_dataset
    from models.snn import train
    ds = load_dataset("mnist1d", n_train=160, n_test=40)
    m = make_mlp([40, 16, 10], seed=0)
    before = copy.deepcopy(m)
    train(m, ds, T=3, epochs=1, lr=1e-12, standardize=True, progress=False)  # no learning: fold o unfold = id
    assert torch.allclose(m[0].weight, before[0].weight, atol=1e-6)
    assert torch.allclose(m[0].bias, before[0].bias, atol=1e-5)
    with pytest.raises(ModelError, match="direct"):
        train(m, ds, T=3, encoder="rate", epochs=1, standardize=True, progress=False)
