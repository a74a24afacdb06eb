"""The hop regulariser and the connectivity statistic on recurrent networks."""
import numpy as np
import pytest
import torch

from growth.errors import GrowthError
from growth.regularizer import RecurrentMosaicRegularizer, hop_shares, rsnn_ends, rsnn_weights
from models.recurrent import make_rsnn, train_rsnn
from models.sequences import load_sequences
from mosaic import HardwareSpec
from mosaic.topology import hop_matrix, hop_penalty

SPEC = HardwareSpec.preset("mosaic-4x4")


def test_penalty_is_the_mean_of_m_w2_over_every_synapse():
    model = make_rsnn(2, 3, 2, seed=0)
    core = np.array([SPEC.io_core, 5, 15, 15, 5])
    reg = RecurrentMosaicRegularizer(model, SPEC, core, strength=2.0)
    M = hop_penalty(SPEC)
    want, n = 0.0, 0
    for w, (post, pre) in zip(rsnn_weights(model), rsnn_ends(SPEC, core, model)):
        w = w.detach().double().numpy()
        for i in range(w.shape[0]):           # the loop, synapse by synapse
            for j in range(w.shape[1]):
                want += M[post[i], pre[j]] * w[i, j] ** 2
                n += 1
    assert float(reg(model).detach()) == pytest.approx(2.0 * want / n, rel=1e-5)
    with pytest.raises(GrowthError, match=r"core_of has \(4,\) entries"):
        RecurrentMosaicRegularizer(model, SPEC, core[:4])


def test_hop_shares_hand_counted():
    model = make_rsnn(1, 2, 1, seed=0)
    H = hop_matrix(SPEC)
    far = int(np.argmax(H[SPEC.io_core]))
    core = np.array([SPEC.io_core, far, far])
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0], [0.0]]))           # input -> n0 (0 hops), n1 pruned
        model[1].recurrent.weight.copy_(torch.tensor([[0.0, 2.0], [3.0, 1.0]]))
        model[2].weight.copy_(torch.tensor([[0.0, 4.0]]))             # n1 -> out, same core
    s = hop_shares(SPEC, rsnn_weights(model), rsnn_ends(SPEC, core, model), prune=0.5)
    h = int(H[SPEC.io_core, far])
    # synapses kept: in->n0 (0 hops), n1->n0 (h), n0->n1 (h), n1->n1 (0), n1->out (0)
    assert s["n_synapses"] == 5
    assert s["synapses"][0] == pytest.approx(3 / 5) and s["synapses"][h] == pytest.approx(2 / 5)
    assert s["weight"][h] == pytest.approx(5 / 11) and sum(s["weight"]) == pytest.approx(1.0)


def test_training_under_the_penalty_moves_weight_onto_short_routes():
    d = load_sequences("smnist", seed=0, n_train=200, n_test=20)
    core = np.arange(64 + 10) // 8 % SPEC.n_cores
    out = []
    for lam in (0.0, 1e-2):
        model = make_rsnn(28, 64, 10, seed=0)
        reg = RecurrentMosaicRegularizer(model, SPEC, core, lam) if lam else None
        train_rsnn(model, d, epochs=2, batch_size=32, lr=1e-2, penalty=reg, seed=0)
        out.append(hop_shares(SPEC, rsnn_weights(model), rsnn_ends(SPEC, core, model))["weight"][0])
    assert out[1] > out[0] + 0.05
