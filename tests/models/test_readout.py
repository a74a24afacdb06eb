"""Spike-for-spike: a trained snnTorch model and its export run by the chip simulator.

Weights are quantised to a power-of-two grid and beta = 0.875, run in float64, so every
sum on both sides is exact and the comparison can demand bit-identical spikes.
"""
import numpy as np
import pytest
import torch

from mosaic import HardwareSpec
from mosaic.simulate import simulate
from models.datasets import load_dataset
from models.errors import ModelError
from models.export import quantize, to_network
from models.readout import chip_inputs, classify, measure_on_chip
from models.snn import encode_batches, evaluate, make_mlp, run, train

T = 8


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=300, n_test=40)


def _trained(ds, kind, encoder, sizes=(64, 24, 10)):
    m = make_mlp(list(sizes), kind=kind, beta=0.875, alpha=0.75, seed=0)
    train(m, ds, T=T, encoder=encoder, epochs=3, lr=1e-2, progress=False)
    return quantize(m, 8).double()


def _snn_layers(model, x, encoder):
    xs = torch.cat([b for _, b in encode_batches(x, T, encoder)], dim=1)
    with torch.no_grad():
        _, _, layers = run(model, xs.double(), record=True)
    return [l.numpy() > 0 for l in layers]


@pytest.mark.parametrize("kind,encoder,sizes", [("leaky", "direct", (64, 24, 10)),
                                                ("leaky", "rate", (64, 20, 16, 10)),
                                                ("synaptic", "rate", (64, 24, 10)),
                                                ("synaptic", "latency", (64, 24, 10))])
def test_spike_for_spike(digits, kind, encoder, sizes):
    model = _trained(digits, kind, encoder, sizes)
    net = to_network(model)
    spec = HardwareSpec.preset("mosaic-4x4")
    res = measure_on_chip(net, spec, None, digits.x_test, T, encoder, routing="ideal", record=True)
    ref = _snn_layers(model, digits.x_test, encoder)
    assert res.steps == T + len(sizes) - 2
    total = 0
    for b in range(len(digits.x_test)):
        for l, spikes in enumerate(ref):
            assert np.array_equal(res.layer_spikes[b][l], spikes[:, b]), f"sample {b}, layer {l}"
            total += spikes[:, b].sum()
    assert total > 0  # the comparison is not vacuous
    ev = evaluate(model, digits, T, encoder)
    assert np.array_equal(res.predictions, ev["predictions"])
    assert res.accuracy(digits.y_test) == ev["accuracy"]
    assert res.packets["dropped"] == 0 and res.packets["late"] == 0
    assert res.energy_pj["total"] > 0


def test_cycle_routing_low_bandwidth_drops(digits):
    model = _trained(digits, "leaky", "rate")
    net = to_network(model)
    ideal = HardwareSpec.preset("mosaic-4x4")
    tight = ideal.replace(step_cycles=30, bandwidth=1, buffer_depth=1)
    rng = np.random.default_rng(0)
    core_of = rng.integers(0, ideal.n_cores, net.n_neurons)  # scattered: long routes
    res = measure_on_chip(net, tight, core_of, digits.x_test, T, "rate", routing="cycle", late="drop")
    p = res.packets
    assert p["dropped"] > 0 and p["late"] > 0 and p["delivered"] > 0
    assert p["injected"] == p["delivered"] + p["dropped"] + p["in_flight"]
    full = measure_on_chip(net, ideal, core_of, digits.x_test, T, "rate", routing="ideal")
    assert full.packets["dropped"] == 0
    assert res.spikes_per_sample < full.spikes_per_sample  # lost input reaches fewer neurons
    print(f"accuracy ideal {full.accuracy(digits.y_test):.3f}, cycle+drop {res.accuracy(digits.y_test):.3f}, "
          f"dropped {p['dropped']} of {p['injected']} packets")
    assert np.array_equal(classify(net, ideal, core_of, digits.x_test, T, "rate"), full.predictions)


def test_hidden_bias_warns(digits):
    net = to_network(make_mlp([64, 8, 10], bias=True))
    with pytest.warns(UserWarning, match="bias"):
        measure_on_chip(net, HardwareSpec.preset("mosaic-4x4"), None, digits.x_test[:2], 4)


def test_measure_on_chip_sums_the_padded_runs(digits):
    """Every figure is the mean (or sum / max) of one simulate run per sample over T + L - 1
    steps of zero-padded input; a model and its exported network measure the same."""
    model = make_mlp([64, 12, 10], seed=3)
    net = to_network(model)
    spec = HardwareSpec.preset("mosaic-4x4")
    x = digits.x_test[:3]
    core_of = np.arange(net.n_neurons) % spec.n_cores
    res = measure_on_chip(model, spec, core_of, x, T, "rate", routing="cycle", seed=5)
    xs = chip_inputs(x, T, "rate", 2, seed=5)
    assert xs.shape == (3, T + 1, 64) and not xs[:, T:].any()
    reps = [simulate(net, spec, core_of, xs[b], routing="cycle") for b in range(3)]
    assert res.steps == T + 1
    assert res.energy_pj["total"] == pytest.approx(np.mean([r.energy_pj["total"] for r in reps]))
    assert res.latency_ns == pytest.approx(np.mean([r.step_latency_ns.sum() for r in reps]))
    assert res.latency_max_cycles == max(int(r.step_latency_cycles.max()) for r in reps)
    assert np.array_equal(res.router_load, sum(r.router_load for r in reps))
    assert res.peak_link_load == max(int(r.link_load.max()) for r in reps) > 0
    assert res.packets["injected"] == sum(r.packets["injected"] for r in reps)
    same = measure_on_chip(net, spec, core_of, x, T, "rate", routing="cycle", seed=5)
    assert np.array_equal(same.predictions, res.predictions) and same.energy_pj == res.energy_pj
    with pytest.raises(ModelError, match="samples >= 1"):
        measure_on_chip(net, spec, None, x[:0], T)
