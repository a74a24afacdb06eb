"""simulate(routing="ideal") reproduces snnTorch Leaky/Synaptic spike for spike.

A 2-layer feed-forward net of torch Linear layers (weights multiples of 2^-6, run in
float64 so every sum is exact).  Input spikes integrate in their own step, every other
synapse one step later, so our layer l lags snnTorch's by l - 1 steps (docs/design.md).
"""
import numpy as np
import pytest
import scipy.sparse as sp
import snntorch as snn
import torch

from mosaic import HardwareSpec, SpikingNetwork, simulate

N_IN, N1, N2, T = 12, 20, 10, 40


def _linear(rng, n_in, n_out, scale):
    fc = torch.nn.Linear(n_in, n_out, bias=False).double()
    w = np.round(rng.normal(0.0, scale, (n_out, n_in)) * 64) / 64
    with torch.no_grad():
        fc.weight.copy_(torch.from_numpy(w))
    return fc, w


def _snntorch(kind, reset, fc1, fc2, x, beta, alpha):
    def neuron():
        if kind == "leaky":
            return snn.Leaky(beta=beta, threshold=1.0, reset_mechanism=reset)
        return snn.Synaptic(alpha=alpha, beta=beta, threshold=1.0, reset_mechanism=reset)
    lif1, lif2 = neuron(), neuron()
    s1, s2 = [], []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out1 = lif1(fc1(torch.from_numpy(x[t])))
            out2 = lif2(fc2(out1[0].double()))
            s1.append(out1[0].numpy() > 0)
            s2.append(out2[0].numpy() > 0)
    return np.array(s1), np.array(s2)


@pytest.mark.parametrize("kind", ["leaky", "synaptic"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("spiking", [True, False])
def test_matches_snntorch_with_layer_shift(kind, reset, spiking):
    rng = np.random.default_rng(["leaky", "synaptic"].index(kind) * 4 + 2 * (reset == "zero") + spiking)
    beta, alpha = 0.875, (0.0 if kind == "leaky" else 0.75)
    fc1, w1 = _linear(rng, N_IN, N1, 0.6)
    fc2, w2 = _linear(rng, N1, N2, 0.6)
    if spiking:
        x = (rng.random((T, N_IN)) < 0.3).astype(np.float64)
    else:
        x = np.round(rng.random((T, N_IN)) * 64) / 64
    s1, s2 = _snntorch(kind, reset, fc1, fc2, x, beta, alpha)
    w = sp.lil_matrix((N1 + N2, N1 + N2))
    w[:N1, N1:] = w2.T
    w_in = np.hstack([w1.T, np.zeros((N_IN, N2))])
    net = SpikingNetwork(w_in, w.tocsr(), beta=beta, alpha=alpha, threshold=1.0, reset=reset,
                         layer=np.repeat([0, 1], [N1, N2]))
    xs = np.vstack([x, np.zeros((1, N_IN))])          # one extra step for layer 2's lag
    ours = simulate(net, HardwareSpec.preset("mosaic-4x4"), None,
                    xs.astype(bool) if spiking else xs, routing="ideal")
    assert np.array_equal(ours.spikes[:T, :N1], s1)
    assert np.array_equal(ours.spikes[1:T + 1, N1:], s2)
    assert 0.02 < s1.mean() < 0.9 and s2.any()         # the comparison is not vacuous
