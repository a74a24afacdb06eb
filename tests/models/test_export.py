"""snnTorch model <-> chip IR: structure, parameters, round trip, quantisation."""
import numpy as np
import pytest
import torch
from torch import nn

from mosaic import SpikingNetwork
from models.export import ExportError, from_network, quantize, to_network
from models.snn import encode, make_mlp, run


@pytest.mark.parametrize("kind", ["leaky", "synaptic"])
def test_to_network_layout(kind):
    m = make_mlp([6, 5, 4, 3], kind=kind, beta=0.8, alpha=0.6, threshold=0.7, reset="zero")
    net = to_network(m)
    assert (net.n_inputs, net.n_neurons) == (6, 12)
    assert net.layer.tolist() == [0] * 5 + [1] * 4 + [2] * 3
    assert np.allclose(net.w_in.toarray()[:, :5], m[0].weight.detach().numpy().T)
    assert net.w_in.toarray()[:, 5:].sum() == 0
    w = net.w.toarray()
    assert np.allclose(w[:5, 5:9], m[2].weight.detach().numpy().T)
    assert np.allclose(w[5:9, 9:], m[4].weight.detach().numpy().T)
    assert np.count_nonzero(w) == np.count_nonzero(w[:5, 5:9]) + np.count_nonzero(w[5:9, 9:])
    assert np.allclose(net.beta, 0.8) and np.allclose(net.threshold, 0.7) and net.reset == "zero"
    assert np.allclose(net.alpha, 0.6 if kind == "synaptic" else 0.0)
    if kind == "leaky":
        assert np.allclose(net.bias[:5], m[0].bias.detach().numpy()) and not net.bias[5:].any()


@pytest.mark.parametrize("kind", ["leaky", "synaptic"])
def test_round_trip_same_outputs(kind):
    m = make_mlp([6, 7, 3], kind=kind, seed=2).double()
    back = from_network(to_network(m))
    x = encode(torch.rand(4, 6, generator=torch.Generator().manual_seed(0)), 6).double()
    with torch.no_grad():
        a, b = run(m, x), run(back, x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert isinstance(back[1], type(m[1]))


def test_from_network_rejects_non_mlp():
    net = to_network(make_mlp([3, 2, 2]))
    w = net.w.toarray()
    w[3, 0] = 0.5  # output neuron feeding back into layer 0
    bad = SpikingNetwork(net.w_in, w, net.beta, net.threshold, layer=net.layer)
    with pytest.raises(ExportError, match="connects into layer 0"):
        from_network(bad)
    with pytest.raises(ExportError, match="do not add up"):
        from_network(SpikingNetwork(net.w_in, net.w, net.beta, net.threshold), sizes=[2, 3])
    relabel = from_network(SpikingNetwork(net.w_in, net.w, net.beta, net.threshold), sizes=[2, 2])
    assert [l.out_features for l in relabel if isinstance(l, nn.Linear)] == [2, 2]
    syn = make_mlp([3, 2], kind="synaptic", bias=True)
    with pytest.raises(ExportError, match="bias"):
        to_network(syn)
    with pytest.raises(ExportError, match="spiking model"):
        to_network(make_mlp([3, 2], kind="relu"))


def test_quantize_grid_and_error():
    m = make_mlp([20, 30, 5], seed=0)
    q = quantize(m, 6)
    for lin, lq in zip([m[0], m[2]], [q[0], q[2]]):
        w, wq = lin.weight.detach(), lq.weight.detach()
        step = float((wq[wq != 0].abs()).min())
        k = wq / step
        assert torch.equal(k, torch.round(k)) and k.abs().max() <= 31
        assert (w - wq).abs().max() <= step / 2 + 1e-7
    assert m[0].weight.data_ptr() != q[0].weight.data_ptr()
    with pytest.raises(ExportError):
        quantize(m, 1)


def test_quantize_keeps_large_bias():
    m = make_mlp([4, 3, 2], seed=0)
    with torch.no_grad():
        m[0].bias.fill_(5.3)  # far beyond the largest weight
    q = quantize(m, 8)
    assert torch.allclose(q[0].bias, torch.full((3,), 5.3), atol=0.01)
