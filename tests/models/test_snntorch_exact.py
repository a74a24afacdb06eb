"""Spike-exact on the chip (ideal routing) against the simulators people use: to_network
for the snnTorch models they write (Leaky/Synaptic/RLeaky/RSynaptic with or without
output=True, Flatten, Conv2d, AvgPool2d), and files written by snnTorch's and Norse's own
NIR exporters (feed-forward, recurrent, convolutional) read by from_nir."""
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from mosaic import HardwareSpec
from mosaic.simulate import simulate
from models.export import ExportError, to_network
from models.nir_io import NIRResetWarning, from_nir
from models.unroll import conv_matrix, pool_matrix

SPIKING = (snn.Leaky, snn.Synaptic, snn.RLeaky, snn.RSynaptic)


def dyadic_(model, seed, scale=24, step=64):
    """Weights on the 2^-6 grid (exact sums in float64), the model in float64."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randint(-scale, scale + 8, p.shape, generator=g).double() / step)
    return model.double()


@torch.no_grad()
def snntorch_rasters(model, x):
    """Spikes of every spiking layer, (T, n_l) each: the model stepped one sample at a time from rest."""
    for m in model:
        for state in ("mem", "syn", "spk"):  # a shape mismatch makes snnTorch start from zeros
            if isinstance(m, SPIKING) and hasattr(m, state):
                setattr(m, state, torch.zeros(0, dtype=torch.float64))
    out = []
    for t in range(x.shape[0]):
        h = torch.as_tensor(x[t][None], dtype=torch.float64)
        row = []
        for m in model:
            h = m(h)
            if isinstance(m, SPIKING):
                if isinstance(m, (snn.RLeaky, snn.RSynaptic)):
                    m.spk = m.spk.double()  # snnTorch's spikes are float32; its recurrent layer is float64
                h = (h[0] if isinstance(h, tuple) else h).double()
                row.append(h.reshape(-1).numpy().copy())
        out.append(row)
    return [np.array([r[i] for r in out]) > 0 for i in range(len(out[0]))]


def chip_rasters(net, x, spec="mosaic-8x8"):
    """Spikes of every layer label on the chip, shifted back by the layer lag (l steps)."""
    L = int(net.layer.max()) + 1
    xs = np.concatenate([x.reshape(len(x), -1), np.zeros((L - 1, net.n_inputs))])
    rep = simulate(net, HardwareSpec.preset(spec), None, xs if x.dtype != bool else xs > 0, routing="ideal")
    return [rep.spikes[l:l + len(x), net.layer == l] for l in range(L)]


def assert_spike_exact(model, x, net=None, **kw):
    net = to_network(model, **kw) if net is None else net
    ref, chip = snntorch_rasters(model, x), chip_rasters(net, x)
    assert len(ref) == len(chip)
    for l, (a, b) in enumerate(zip(ref, chip)):
        assert a.shape == b.shape, l
        assert np.array_equal(a, b), f"layer {l}: {int((a != b).sum())} of {a.size} spikes differ"
    assert sum(a.sum() for a in ref) > 0 and all(a.sum() < a.size for a in ref)
    return net


@pytest.mark.parametrize("output", [False, True])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_leaky_synaptic_without_or_with_output(output, reset):
    m = nn.Sequential(nn.Linear(6, 8), snn.Leaky(beta=0.875, init_hidden=True, reset_mechanism=reset),
                      nn.Linear(8, 5, bias=False),
                      snn.Synaptic(alpha=0.75, beta=0.5, init_hidden=True, reset_mechanism=reset, output=output))
    dyadic_(m, 0)
    x = np.random.default_rng(0).random((25, 6)) < 0.5
    net = assert_spike_exact(m, x.astype(np.float64))
    assert net.layer.tolist() == [0] * 8 + [1] * 5 and net.reset == reset
    assert np.array_equal(net.w_in.toarray()[:, :8], m[0].weight.detach().numpy().T)


@pytest.mark.parametrize("all_to_all", [True, False])
def test_rleaky_rsynaptic_recurrent_weights(all_to_all):
    n = 7
    kw = dict(linear_features=n) if all_to_all else dict(V=torch.linspace(-0.5, 0.5, n), all_to_all=False)
    m = nn.Sequential(nn.Linear(5, n), snn.RLeaky(beta=0.875, init_hidden=True, **kw),
                      nn.Linear(n, 4, bias=False),
                      snn.RSynaptic(alpha=0.5, beta=0.75, init_hidden=True, output=True, reset_mechanism="subtract",
                                    **(dict(linear_features=4) if all_to_all else
                                       dict(V=torch.linspace(-0.25, 0.5, 4), all_to_all=False))))
    dyadic_(m, 1)
    if all_to_all:  # the recurrent Linear's bias would pass RSynaptic's synaptic filter
        with torch.no_grad():
            m[3].recurrent.bias.zero_()
    x = (np.random.default_rng(1).random((30, 5)) < 0.6).astype(np.float64)
    net = assert_spike_exact(m, x)
    w = net.w.toarray()
    rec = m[1].recurrent.weight.detach().numpy().T if all_to_all else np.diag(m[1].recurrent.V.detach().numpy())
    assert np.array_equal(w[:n, :n], rec)
    if all_to_all:
        assert np.array_equal(net.bias[:n], (m[0].bias + m[1].recurrent.bias).detach().numpy())


def test_conv_flatten_pool_net():
    per_channel = torch.tensor([0.75, 0.5, 0.875]).reshape(3, 1, 1)
    m = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), snn.Leaky(beta=per_channel, init_hidden=True), nn.Dropout(0.5),
                      nn.AvgPool2d(2), nn.Conv2d(3, 4, 2, stride=2, bias=False), snn.Leaky(beta=0.5, init_hidden=True),
                      nn.Flatten(), nn.Linear(4 * 2 * 2, 5, bias=False), snn.Leaky(beta=0.875, init_hidden=True))
    dyadic_(m, 2, scale=40).eval()
    x = (np.random.default_rng(2).random((20, 2, 8, 8)) < 0.5).astype(np.float64)
    net = assert_spike_exact(m, x, input_shape=(2, 8, 8))
    assert net.layer_sizes() == [3 * 8 * 8, 4 * 2 * 2, 5] and net.n_inputs == 2 * 8 * 8
    assert np.array_equal(net.beta[:3 * 64], np.repeat([0.75, 0.5, 0.875], 64))


def test_conv_unrolling_matches_torch():
    rng = np.random.default_rng(3)
    cases = [((3, 9, 7), (4, 3, 3, 2), (2, 1), (1, 0), (1, 2), 1), ((4, 8, 8), (6, 2, 3, 3), 1, "same", 2, 2),
             ((2, 5, 6), (2, 2, 1, 1), 1, "valid", 1, 1)]
    for shape, wshape, stride, pad, dil, groups in cases:
        w, x = rng.normal(size=wshape), rng.normal(size=shape)
        m, out = conv_matrix(w, shape, stride, pad, dil, groups)
        y = torch.nn.functional.conv2d(torch.tensor(x)[None], torch.tensor(w), stride=stride, padding=pad,
                                       dilation=dil, groups=groups)[0].numpy()
        assert out == y.shape and np.allclose(x.ravel() @ m, y.ravel(), atol=1e-12)
    w, x = rng.normal(size=(5, 3, 4)), rng.normal(size=(3, 11))
    m, out = conv_matrix(w, x.shape, 2, 1)
    y = torch.nn.functional.conv1d(torch.tensor(x)[None], torch.tensor(w), stride=2, padding=1)[0].numpy()
    assert out == y.shape and np.allclose(x.ravel() @ m, y.ravel(), atol=1e-12)
    x = rng.normal(size=(3, 7, 8))
    m, out = pool_matrix(x.shape, 2, None, 0, average=True)
    y = torch.nn.functional.avg_pool2d(torch.tensor(x)[None], 2)[0].numpy()
    assert out == y.shape and np.allclose(x.ravel() @ m, y.ravel())
    m, _ = pool_matrix(x.shape, 3, 2, 1, average=False)
    y = 9 * torch.nn.functional.avg_pool2d(torch.tensor(x)[None], 3, 2, 1)[0].numpy()
    assert np.allclose(x.ravel() @ m, y.ravel())


def test_refusals_name_the_layer():
    with pytest.raises(ExportError, match=r"model\[1\].*reset 'zero'"):
        to_network(nn.Sequential(nn.Linear(3, 4), snn.RLeaky(beta=0.9, linear_features=4, init_hidden=True,
                                                             reset_mechanism="zero")))
    with pytest.raises(ExportError, match=r"model\[1\] \(ReLU\)"):
        to_network(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), snn.Leaky(beta=0.9, init_hidden=True)))
    with pytest.raises(ExportError, match="input_shape"):
        to_network(nn.Sequential(nn.Conv2d(1, 2, 3), snn.Leaky(beta=0.9, init_hidden=True)))
    with pytest.raises(ExportError, match="end with a spiking layer"):
        to_network(nn.Sequential(nn.Linear(3, 4), snn.Leaky(beta=0.9, init_hidden=True), nn.Linear(4, 2)))
    with pytest.raises(ExportError, match="inputs"):  # 3x3 kernel output is 2x2x2 = 8, the Linear wants 9
        to_network(nn.Sequential(nn.Conv2d(1, 2, 3), snn.Leaky(beta=0.9, init_hidden=True), nn.Flatten(),
                                 nn.Linear(9, 2), snn.Leaky(beta=0.9, init_hidden=True)), input_shape=(1, 4, 4))


def _per_neuron(n, v):
    return torch.full((n,), float(v))  # snnTorch's exporter needs per-neuron parameters to type its graph


def _export(model, shape, tmp_path):
    """snnTorch's export_to_nir, written to HDF5 and read back (a real file of theirs)."""
    from snntorch.export_nir import export_to_nir
    g = export_to_nir(model.float(), torch.zeros(1, *shape), ignore_dims=[0])
    import nir
    nir.write(str(tmp_path / "snntorch.nir"), g)
    return tmp_path / "snntorch.nir"


@pytest.mark.parametrize("arch", ["feedforward", "recurrent", "conv"])
def test_files_written_by_snntorch_exporter(arch, tmp_path):
    """Biases on the first layer only: a later layer's bias drives it on the chip from step 0,
    before its input arrives (models.readout)."""
    n = 6
    if arch == "feedforward":
        m = nn.Sequential(nn.Linear(5, n), snn.Leaky(beta=_per_neuron(n, 0.875), threshold=_per_neuron(n, 1),
                                                     init_hidden=True),
                          nn.Linear(n, 3, bias=False), snn.Leaky(beta=_per_neuron(3, 0.5), threshold=_per_neuron(3, 1),
                                                     init_hidden=True, output=True))
        shape = (5,)
    elif arch == "recurrent":  # the graph holds 1.lif -> 1.w_rec -> 1.lif
        m = nn.Sequential(nn.Linear(5, n), snn.RLeaky(beta=_per_neuron(n, 0.875), threshold=_per_neuron(n, 1),
                                                      linear_features=n, init_hidden=True),
                          nn.Linear(n, 3, bias=False), snn.Leaky(beta=_per_neuron(3, 0.75), threshold=_per_neuron(3, 1),
                                                                 init_hidden=True, output=True))
        shape = (5,)
    else:
        m = nn.Sequential(nn.Conv2d(2, 3, 3), snn.Leaky(beta=torch.full((3, 6, 6), 0.75), threshold=torch.ones(3, 6, 6),
                                                         init_hidden=True),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(27, 4, bias=False),
                          snn.Leaky(beta=_per_neuron(4, 0.5), threshold=_per_neuron(4, 1), init_hidden=True,
                                    output=True))
        shape = (2, 8, 8)
    dyadic_(m, 3, scale=40)
    path = _export(m, shape, tmp_path)
    with pytest.warns(NIRResetWarning):
        from_nir(path)  # snnTorch does not record its reset
    net = from_nir(path, reset="subtract")
    if arch == "recurrent":
        assert net.w[:n, :n].nnz > 0 and net.layer_sizes() == [n, 3]
    x = (np.random.default_rng(4).random((24, *shape)) < 0.5).astype(np.float64)
    assert_spike_exact(m.double(), x, net=net)
    zero = from_nir(path, reset="zero")
    assert not all(np.array_equal(a, b) for a, b in zip(chip_rasters(zero, x), chip_rasters(net, x)))


def test_graphs_written_by_norse_exporter():
    """Norse 1.1's exporter writes a LIFBox as LIF(tau = dt / tau_mem_inv, r = 1) with its default
    dt = 1e-3 s, so its files read with dt = (1e-3)^2; Norse resets to v_reset at once, which
    for LIF neurons is the chip's reset "zero"."""
    norse = pytest.importorskip("norse.torch")
    import nir
    from norse.torch.utils.export_nir import to_nir as norse_to_nir
    p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(500.0), v_th=torch.tensor(1.0))
    lin1, lin2 = nn.Linear(5, 6), nn.Linear(6, 3, bias=False)
    dyadic_(nn.Sequential(lin1, lin2), 5, scale=48, step=32)
    lin1, lin2 = lin1.float(), lin2.float()
    model = norse.SequentialState(lin1, norse.LIFBoxCell(p), lin2, norse.LIFBoxCell(p))
    g = norse_to_nir(model, torch.zeros(1, 5))
    g.nodes["input"] = nir.Input(input_type={"input": np.array([5])})  # Norse leaves it untyped
    net = from_nir(g, dt=1e-6, reset="zero")  # its scalar parameters do not write to HDF5 (nir 1.0.8)
    # float32 tau = 2e-6 is not exact: beta and the input gain come out within 1e-7 of Norse's 0.5
    assert np.allclose(net.beta, 0.5, rtol=0, atol=1e-7)
    assert np.allclose(net.w_in.toarray()[:, :6], 0.5 * lin1.weight.detach().numpy().T, rtol=1e-6, atol=0)
    x = (np.random.default_rng(5).random((12, 5)) < 0.6).astype(np.float32)
    cells = [model[1], model[3]]
    states, ref = [None, None], [[], []]
    with torch.no_grad():
        for t in range(len(x)):
            h = torch.as_tensor(x[t][None])
            for i, (lin, cell) in enumerate(zip((lin1, lin2), cells)):
                h, states[i] = cell(lin(h), states[i])
                ref[i].append(h[0].numpy() > 0)
    chip = chip_rasters(net, x.astype(np.float64))
    assert sum(np.sum(r) for r in ref) > 0
    for a, b in zip(ref, chip):
        assert np.array_equal(np.array(a), b)


def test_rsynaptic_recurrent_bias_is_refused():
    m = nn.Sequential(nn.Linear(3, 4, bias=False),
                      snn.RSynaptic(alpha=0.5, beta=0.5, linear_features=4, init_hidden=True, output=True))
    with pytest.raises(ExportError, match=r"node '1'.*bias.*synaptic"):
        to_network(m)
    with torch.no_grad():
        m[1].recurrent.bias.zero_()
    assert to_network(m).w.nnz == 16
