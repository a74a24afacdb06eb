"""NeuroBench metrics: a hand-counted tiny network (chip run and snnTorch model), and a
cross-check against the neurobench package's own metric classes."""
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from mosaic import HardwareSpec, SpikingNetwork
from mosaic.neurobench import NeuroBenchError
from mosaic.simulate import simulate
from models.export import quantize, to_network
from models.neurobench import chip_metrics, model_metrics
from models.readout import chip_inputs
from models.snn import make_mlp, reset_state

W0 = [[1.0, 0.0], [0.5, 1.5], [0.0, 0.0]]  # (out, in): neuron 2 of layer 0 has no input at all
W1 = [[1.0, 0.0, 0.0]]
SPIKES = np.array([[1, 0], [1, 1], [0, 0]], bool)
CURRENTS = np.array([[0.5, 0.0], [1.0, 0.25], [0.0, 0.0]])


def _tiny_model():
    lin0, lin1 = nn.Linear(2, 3, bias=False), nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        lin0.weight.copy_(torch.tensor(W0))
        lin1.weight.copy_(torch.tensor(W1))
    return nn.Sequential(lin0, snn.Leaky(beta=0.5, init_hidden=True), lin1,
                         snn.Leaky(beta=0.5, init_hidden=True, output=True))


def test_hand_counted_tiny_network():
    """By hand (beta 0.5, threshold 1, subtract).  Spike input: step 0 input 0 reaches neurons 0
    and 1 (2 ACs), step 1 inputs 0 and 1 (2 + 1 ACs); neurons 0 (1.5) and 1 (2.25) spike at
    step 1, neuron 0's one synapse fires in step 2 (1 AC): 6 ACs.  Analog input: 2 + 3
    nonzero-input connections are 5 MACs, neuron 0 spikes at step 1 (0.25 + 1 = 1.25): 1 AC."""
    net = to_network(_tiny_model())
    assert net.n_synapses == 4
    spec = HardwareSpec.preset("mosaic-4x4")
    rep = simulate(net, spec, None, SPIKES, routing="ideal")
    assert rep.spikes.sum() == 2 and rep.counts["synaptic_ops"] == 6
    m = chip_metrics(net, rep)
    assert m["effective_acs"] == 6 and m["effective_macs"] == 0
    assert m["activation_sparsity"] == pytest.approx(10 / 12)
    assert m["membrane_updates"] == 12  # 4 neurons x 3 steps, every one updated every step
    assert m["connection_sparsity"] == pytest.approx(1 - 4 / 9)  # 3 of 2x3 input, 1 of 3x1 weights
    assert m["footprint_bytes"] == 4 * 4 + 4 * 5 * 4
    assert rep.summary()["neurobench"] == m, "a single run's summary reports the same figures"
    a = chip_metrics(net, simulate(net, spec, None, CURRENTS, routing="ideal"))
    assert a["effective_macs"] == 5 and a["effective_acs"] == 1
    both = chip_metrics(net, [rep, simulate(net, spec, None, CURRENTS, routing="ideal")])
    assert both["effective_acs"] == 3.5 and both["effective_macs"] == 2.5
    # snnTorch: the same 6 ACs and 2 spikes; membranes that change: 4 at step 0, then neurons 0
    # and 1 and the output at steps 1 and 2 (neuron 2 stays at 0): 4 + 3 + 3
    mm = model_metrics(_tiny_model(), torch.tensor(SPIKES[:, None, :], dtype=torch.float32))
    assert mm["effective_acs"] == 6 and mm["effective_macs"] == 0
    assert mm["activation_sparsity"] == pytest.approx(10 / 12) and mm["membrane_updates"] == 10
    assert mm["connection_sparsity"] == pytest.approx(5 / 9)
    mm = model_metrics(_tiny_model(), torch.tensor(CURRENTS[:, None, :], dtype=torch.float32))
    assert mm["effective_macs"] == 5 and mm["effective_acs"] == 1


def test_chip_metrics_refuses_what_it_cannot_count():
    net = to_network(_tiny_model())
    rep = simulate(net, HardwareSpec.preset("mosaic-4x4"), None, SPIKES, routing="ideal")
    with pytest.raises(NeuroBenchError, match="does not belong"):
        chip_metrics(SpikingNetwork(net.w_in[:, :3], net.w[:3, :3], 0.5, 1.0), rep)
    with pytest.raises(NeuroBenchError, match="layer labels"):
        chip_metrics(SpikingNetwork(net.w_in, net.w, 0.5, 1.0), rep, aligned=True)
    with pytest.raises(NeuroBenchError, match="at least one"):
        chip_metrics(net, [])


def _mlp():
    return quantize(make_mlp([16, 20, 6], beta=0.875, bias=False, seed=4), 4)  # 4 bits: many zero weights


@pytest.mark.parametrize("encoder", ["rate", "direct"])
def test_chip_and_model_agree_and_match_neurobench(encoder):
    """The chip run (aligned to snnTorch time) and the model give the same ACs, MACs and activation
    sparsity; the model's figures equal the neurobench package's metric classes."""
    rng = np.random.default_rng(0)
    x = rng.random((5, 16))
    T = 8
    model = _mlp()
    net = to_network(model)
    xs = chip_inputs(x, T, encoder, 2, seed=1)  # (B, T + 1, 16)
    spec = HardwareSpec.preset("mosaic-4x4")
    chip = chip_metrics(net, [simulate(net, spec, None, s, routing="ideal") for s in xs], aligned=True)
    seq = torch.as_tensor(xs[:, :T].transpose(1, 0, 2), dtype=torch.float32)  # (T, B, 16)
    mm = model_metrics(model, seq)
    assert mm["effective_acs"] > 0 and 0 < mm["activation_sparsity"] < 1
    assert (mm["effective_macs"] > 0) == (encoder == "direct")
    for k in ("effective_acs", "effective_macs", "activation_sparsity", "connection_sparsity"):
        assert chip[k] == pytest.approx(mm[k]), k
    assert chip["membrane_updates"] >= mm["membrane_updates"]
    nb = pytest.importorskip("neurobench")
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations
    from neurobench.models import SNNTorchModel
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(seq.transpose(0, 1), torch.zeros(5)),
                                       batch_size=5)
    reset_state(model)  # NeuroBench calls snntorch.utils.reset, which leaves our last run's membranes here
    bench = Benchmark(SNNTorchModel(model), data, [], [], [[Footprint, ConnectionSparsity],
                                                             [SynapticOperations, ActivationSparsity, MembraneUpdates]])
    res = bench.run(quiet=True)
    assert nb is not None and res["SynapticOperations"]["Effective_ACs"] == pytest.approx(mm["effective_acs"])
    assert res["SynapticOperations"]["Effective_MACs"] == pytest.approx(mm["effective_macs"])
    assert res["ActivationSparsity"] == pytest.approx(mm["activation_sparsity"])
    assert res["MembraneUpdates"] == pytest.approx(mm["membrane_updates"])
    assert res["ConnectionSparsity"] == pytest.approx(mm["connection_sparsity"], abs=1e-4)
    assert res["Footprint"] == mm["footprint_bytes"]


def test_static_figures_follow_the_network_not_a_stale_cache():
    # simulate caches a network's static figures beside its routing tables: the same weights
    # with other layer labels (or other weights) must not get the cached figures
    import scipy.sparse as sp
    from mosaic.neurobench import static_metrics
    rng = np.random.default_rng(3)
    w = sp.csr_matrix(np.triu(rng.random((12, 12)) < 0.3, 1).astype(float))
    w_in = sp.csr_matrix((rng.random((4, 12)) < 0.5).astype(float))
    spec = HardwareSpec.preset("mosaic-4x4")
    x = rng.random((6, 4)) < 0.5
    nets = [SpikingNetwork(w_in, w, 0.9, 1.0, layer=np.repeat([0, 1], 6)),
            SpikingNetwork(w_in, w, 0.9, 1.0, layer=np.repeat([0, 1, 2], 4)),
            SpikingNetwork(w_in, w * 2.0, 0.9, 1.0, layer=np.repeat([0, 1, 2], 4))]
    for net in nets + nets:
        nb = simulate(net, spec, None, x).neurobench
        assert {k: nb[k] for k in ("connection_sparsity", "footprint_bytes")} == static_metrics(net)
    assert static_metrics(nets[0]) != static_metrics(nets[1])
