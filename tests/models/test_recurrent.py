"""Recurrent SNNs (RLeaky/RSynaptic): construction, masks kept under BPTT in models.training.fit,
spike-for-spike equality with the chip under ideal routing (network built by models.export.to_network)."""
import numpy as np
import pytest
import torch

from models.errors import ModelError
from models.export import ExportError, to_network
from models.recurrent import evaluate_rsnn, make_rsnn, recurrent_masks, run_rsnn, train_rsnn
from models.sequences import load_sequences
from mosaic import HardwareSpec
from mosaic.simulate import simulate


def _dyadic(model, seed):
    """Weights on the 2^-5 grid (exact sums in float64), the model in float64."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2:
                m = dict(model.named_buffers()).get(name.replace("weight", "mask"))
                p.copy_(torch.randint(-16, 24, p.shape, generator=g).double() / 32 * (1 if m is None else m))
    return model.double()


@pytest.mark.parametrize("kind,reset", [("leaky", "subtract"), ("synaptic", "subtract"), ("synaptic", "zero")])
def test_spike_exact_on_chip_ideal_routing(kind, reset):
    H, n_in, n_out, T = 40, 6, 5, 30
    mask = (np.random.default_rng(1).random((H, H)) < 0.3).astype(float)
    model = _dyadic(make_rsnn(n_in, H, n_out, kind, mask=mask, beta=0.75, alpha=0.5, reset=reset, seed=2), 3)
    x = (np.random.default_rng(4).random((T, n_in)) < 0.4).astype(np.float64)
    with torch.no_grad():
        spk, _, hid = run_rsnn(model, torch.as_tensor(x)[:, None, :])
    net = to_network(model)
    assert net.w[:H, :H].nnz == int((model[1].recurrent.weight != 0).sum())
    rep = simulate(net, HardwareSpec.preset("mosaic-8x8"), None, np.concatenate([x, np.zeros((1, n_in))]) > 0,
                   routing="ideal")
    assert hid.sum() > 10 and spk.sum() > 3        # the comparison is not vacuous
    assert np.array_equal(rep.spikes[:T, :H], hid[:, 0].numpy() > 0)
    assert np.array_equal(rep.spikes[1:T + 1, H:], spk[:, 0].numpy() > 0)   # read-out one step late


def test_bptt_trains_and_keeps_mask():
    d = load_sequences("smnist", seed=0, n_train=300, n_test=100)
    H = 64
    mask = (np.random.default_rng(0).random((H, H)) < 0.2).astype(float)
    model = make_rsnn(28, H, 10, "leaky", mask=mask, seed=0)
    assert set(recurrent_masks(model).values()).pop() is model[1].recurrent.mask
    before = evaluate_rsnn(model, d, split="train")["accuracy"]
    r = train_rsnn(model, d, epochs=6, lr=1e-2, batch_size=32, seed=0)
    assert r["steps"] == 60 and np.isfinite(r["loss"])
    w = model[1].recurrent.weight.detach().numpy()
    assert np.all(w[mask == 0] == 0) and np.any(w[mask == 1] != 0)
    after = evaluate_rsnn(model, d, split="train")
    assert after["accuracy"] > before + 0.15 and after["hidden_spikes_per_sample"] > 0


def test_rate_encoding_input_spikes_counted():
    d = load_sequences("smnist", seed=0, n_train=100, n_test=20)
    model = make_rsnn(28, 16, 10, seed=0)
    ev = evaluate_rsnn(model, d, encoder="rate", sub=2)
    assert abs(ev["input_spikes_per_sample"] - 2 * d.x_test.sum((1, 2)).mean()) < 0.1 * ev["input_spikes_per_sample"]
    with pytest.raises(ModelError, match="gives 56 inputs"):
        train_rsnn(model, d, encoder="delta")


def test_bad_input():
    with pytest.raises(ModelError, match=r"mask must be a \(8, 8\)"):
        make_rsnn(3, 8, 2, mask=np.ones((8, 7)))
    with pytest.raises(ModelError, match="unknown kind"):
        make_rsnn(3, 8, 2, kind="alif")
    with pytest.raises(ModelError, match="hidden"):
        make_rsnn(3, 0, 2)
    with pytest.raises(ExportError, match="zero"):
        to_network(make_rsnn(3, 8, 2, reset="zero"))
    with pytest.raises(ModelError, match="nn.Sequential"):
        run_rsnn(torch.nn.Sequential(torch.nn.Linear(2, 2)), torch.zeros(3, 1, 2))
