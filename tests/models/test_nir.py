"""NIR import/export: exact round trips through HDF5 for every supported node, graphs
(fan-in, skip, recurrent, nested), snnTorch conventions, the reset question, errors."""
import warnings

import nir
import numpy as np
import pytest
import torch

from mosaic import HardwareSpec
from models.export import quantize, to_network
from models.nir_io import NIRError, NIRResetWarning, from_nir, to_nir, to_snntorch, write
from models.readout import measure_on_chip
from models.snn import make_mlp


def _same(a, b):
    for f in ("beta", "alpha", "threshold", "bias", "refractory", "layer"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert a.reset == b.reset
    assert (a.w_in != b.w_in).nnz == 0 and (a.w != b.w).nnz == 0


@pytest.mark.parametrize("kind,beta,reset", [("leaky", 0.9, "subtract"), ("synaptic", 0.85, "zero"),
                                             ("leaky", 1.0, "subtract")])
def test_round_trip_hdf5_exact(tmp_path, kind, beta, reset):
    m = make_mlp([7, 6, 5, 3], kind=kind, beta=beta, alpha=0.7, threshold=0.8, reset=reset, seed=3)
    net = to_network(m)
    g = to_nir(net)
    types = [type(g.nodes[k]).__name__ for k in ("fc0", "lif0", "fc1", "lif1")]
    neuron = {"leaky": "IF" if beta == 1 else "LIF", "synaptic": "CubaLIF"}[kind]
    assert types[1] == types[3] == neuron
    assert types[0] == ("Affine" if kind == "leaky" else "Linear") and types[2] == "Linear"
    path = tmp_path / "net.nir"
    write(path, net)
    _same(net, from_nir(path))
    _same(net, from_nir(nir.read(str(path))))


def test_spike_for_spike_after_nir(tmp_path):
    from models.datasets import load_dataset
    ds = load_dataset("digits", n_train=200, n_test=30)
    model = quantize(make_mlp([64, 20, 10], beta=0.875, seed=1), 8).double()
    net = to_network(model)
    write(tmp_path / "m.nir", net)
    back = from_nir(tmp_path / "m.nir")
    spec = HardwareSpec.preset("mosaic-4x4")
    a = measure_on_chip(net, spec, None, ds.x_test, 8, "rate", record=True)
    b = measure_on_chip(back, spec, None, ds.x_test, 8, "rate", record=True)
    assert np.array_equal(a.predictions, b.predictions)
    assert all(np.array_equal(x, y) for sa, sb in zip(a.layer_spikes, b.layer_spikes) for x, y in zip(sa, sb))
    assert sum(s.sum() for sa in a.layer_spikes for s in sa) > 0


def _snntorch_style_graph(w1, w2, beta=0.9, alpha=None, dt=1e-4):
    """A graph with snntorch.export_to_nir's conventions (float32, dt = 1e-4, r = tau/dt)."""
    f = np.float32

    def neuron(n):
        b = np.full(n, beta, f)
        tau = f(dt) / (1 - b)
        if alpha is None:
            return nir.LIF(tau=tau, r=tau / f(dt), v_leak=np.zeros(n, f), v_threshold=np.ones(n, f),
                           v_reset=np.zeros(n, f))
        ts = f(dt) / (1 - np.full(n, alpha, f))
        return nir.CubaLIF(tau_syn=ts, tau_mem=tau, r=tau / f(dt), v_leak=np.zeros(n, f),
                           v_threshold=np.ones(n, f), v_reset=np.zeros(n, f), w_in=ts / f(dt))
    nodes = {"input": nir.Input(input_type={"input": np.array([w1.shape[1]])}),
             "0": nir.Linear(weight=w1), "1": neuron(w1.shape[0]), "2": nir.Linear(weight=w2),
             "3": neuron(w2.shape[0]), "output": nir.Output(output_type={"output": np.array([w2.shape[0]])})}
    edges = [("input", "0"), ("0", "1"), ("1", "2"), ("3", "output"), ("2", "3")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


@pytest.mark.parametrize("alpha", [None, 0.8])
def test_snntorch_conventions(alpha):
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(3, 5)).astype(np.float32)
    net = from_nir(_snntorch_style_graph(w1, w2, alpha=alpha), reset="subtract")
    assert net.layer.tolist() == [0] * 5 + [1] * 3 and net.reset == "subtract"
    assert np.allclose(net.beta, 0.9, atol=1e-6)
    assert np.allclose(net.alpha, 0.0 if alpha is None else alpha, atol=1e-6)
    assert np.array_equal(net.w_in.toarray()[:, :5], w1.T.astype(np.float64))  # gain snapped to 1
    assert np.array_equal(net.w.toarray()[:5, 5:], w2.T.astype(np.float64))
    with pytest.warns(NIRResetWarning, match="reset='subtract'"):
        assert from_nir(_snntorch_style_graph(w1, w2, alpha=alpha)).reset == "zero"  # NIR's own semantics


def _lif(n, beta=0.75, dt=1e-4):
    tau = np.full(n, dt / (1 - beta))
    return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))


def _inp(shape):
    return nir.Input(input_type={"input": np.array(shape)})


def _graph(nodes, edges):
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"reset": "subtract"})


def _chip(net, x, steps=None):
    from mosaic.simulate import simulate
    xs = np.concatenate([x, np.zeros((steps or 0, x.shape[1]), x.dtype)])
    return simulate(net, HardwareSpec.preset("mosaic-8x8"), None, xs, routing="ideal", dtype=np.float32).spikes


def _snntorch_run(module, x):
    """Spikes of a NIR-imported snnTorch module, one float32 sample per step."""
    st, out = None, []
    with torch.no_grad():
        for t in range(len(x)):
            o, st = module(torch.tensor(x[t][None], dtype=torch.float32), st)
            out.append(o.reshape(-1).numpy() > 0)
    return np.array(out)


def test_every_linear_node_round_trips_through_hdf5(tmp_path):
    """Conv1d, Conv2d, SumPool2d, AvgPool2d, Scale, Flatten, Affine: the file and the graph give the
    same network, and its input weights are the composition torch computes."""
    rng = np.random.default_rng(4)
    w2 = rng.integers(-8, 8, (3, 2, 3, 3)) / 8.0
    w1 = rng.integers(-8, 8, (4, 2, 3)) / 8.0
    fc = rng.integers(-8, 8, (5, 3 * 3 * 3)) / 8.0
    cases = {
        "conv2d": ((2, 8, 8), {"c": nir.Conv2d(input_shape=None, weight=w2, stride=1, padding=1, dilation=1, groups=1,
                                                bias=np.array([0.5, 0, -0.25])),
                               "p": nir.SumPool2d(kernel_size=np.array([3, 3]), stride=np.array([3, 3]),
                                                  padding=np.array([0, 0])),
                               "s": nir.Scale(scale=np.full((3, 2, 2), 0.5)),
                               "f": nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=0, end_dim=-1),
                               "l": _lif(12)}, ["c", "p", "s", "f", "l"]),
        "conv1d": ((2, 9), {"c": nir.Conv1d(input_shape=None, weight=w1, stride=2, padding=1, dilation=1, groups=1,
                                            bias=np.zeros(4)), "l": _lif((4, 5))}, ["c", "l"]),
        "avgpool": ((3, 6, 6), {"a": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                                   padding=np.array([0, 0])),
                                "f": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1),
                                "d": nir.Affine(weight=fc, bias=np.arange(5) / 4.0), "l": _lif(5)},
                    ["a", "f", "d", "l"]),
    }
    for name, (shape, nodes, chain) in cases.items():
        keys = ["input"] + chain + ["output"]
        n_out = nodes[chain[-1]].v_threshold.size
        out_shape = np.array(nodes[chain[-1]].v_threshold.shape)
        g = _graph({"input": _inp(shape), **nodes, "output": nir.Output(output_type={"output": out_shape})},
                   list(zip(keys, keys[1:])))
        net = from_nir(g)
        write_path = tmp_path / f"{name}.nir"
        nir.write(str(write_path), g)
        _same(net, from_nir(write_path))
        x = rng.normal(size=shape)
        t = torch.tensor(x)[None]
        if name == "conv2d":
            y = torch.nn.functional.conv2d(t, torch.tensor(w2), padding=1)
            y = y + torch.tensor([0.5, 0, -0.25])[:, None, None]
            y = 9 * torch.nn.functional.avg_pool2d(y, 3) * 0.5
        elif name == "conv1d":
            y = torch.nn.functional.conv1d(t, torch.tensor(w1), stride=2, padding=1)
        else:
            y = torch.nn.functional.avg_pool2d(t, 2).reshape(1, -1) @ torch.tensor(fc).T + torch.arange(5) / 4.0
        assert np.allclose(x.ravel() @ net.w_in.toarray() + net.bias, y.numpy().ravel()), name
        assert net.layer_sizes() == [n_out] and net.reset == "subtract"


def test_fan_in_skip_and_recurrent_graph():
    """input -> a -> b -> c with a skip a -> c, b recurrent, and two parallel maps a -> c that sum."""
    rng = np.random.default_rng(5)
    wa, wb, wc, skip, rec = (rng.integers(-8, 8, s) / 8.0 for s in [(4, 3), (5, 4), (2, 5), (2, 4), (5, 5)])
    nodes = {"input": _inp([3]), "fa": nir.Linear(weight=wa), "a": _lif(4), "fb": nir.Linear(weight=wb), "b": _lif(5),
             "rec": nir.Linear(weight=rec), "fc": nir.Linear(weight=wc), "c": _lif(2), "skip1": nir.Linear(weight=skip),
             "skip2": nir.Scale(scale=np.full(4, 0.5)), "skip3": nir.Linear(weight=skip),
             "output": nir.Output(output_type={"output": np.array([2])})}
    edges = [("input", "fa"), ("fa", "a"), ("a", "fb"), ("fb", "b"), ("b", "rec"), ("rec", "b"), ("b", "fc"),
             ("fc", "c"), ("a", "skip1"), ("skip1", "c"), ("a", "skip2"), ("skip2", "skip3"), ("skip3", "c"),
             ("c", "output")]
    with pytest.warns(UserWarning, match="'a' -> 'c' skips"):
        net = from_nir(_graph(nodes, edges))
    assert net.layer.tolist() == [0] * 4 + [1] * 5 + [2] * 2
    w = net.w.toarray()
    assert np.array_equal(w[:4, 4:9], wb.T) and np.array_equal(w[4:9, 4:9], rec.T)
    assert np.array_equal(w[4:9, 9:], wc.T) and np.allclose(w[:4, 9:], skip.T + 0.5 * skip.T)
    assert not w[:4, :4].any() and not w[9:].any()


def test_nested_subgraph_is_inlined():
    rng = np.random.default_rng(6)
    w1, rec = rng.normal(size=(4, 3)), rng.normal(size=(4, 4))
    inner = nir.NIRGraph(nodes={"i": _inp([4]), "lif": _lif(4), "w": nir.Linear(weight=rec),
                                "o": nir.Output(output_type={"output": np.array([4])})},
                         edges=[("i", "lif"), ("lif", "w"), ("w", "lif"), ("lif", "o")])
    g = _graph({"input": _inp([3]), "fc": nir.Linear(weight=w1), "r": inner,
                "output": nir.Output(output_type={"output": np.array([4])})},
               [("input", "fc"), ("fc", "r"), ("r", "output")])
    net = from_nir(g)
    assert np.allclose(net.w_in.toarray(), w1.T) and np.allclose(net.w.toarray(), rec.T)


@pytest.mark.parametrize("kind", ["lif", "synaptic", "if"])
def test_export_any_network_runs_spike_for_spike_in_snntorch(kind, tmp_path):
    """A recurrent network with no layers (every neuron may reach every other) and a layered
    one with recurrent layers: snnTorch runs our export as the chip does."""
    import scipy.sparse as sp
    from mosaic import SpikingNetwork
    rng = np.random.default_rng(7)
    n_in, n = 6, 14
    grid = lambda k: rng.integers(-40, 60, k) / 64  # noqa: E731
    w_in = sp.random(n_in, n, density=0.5, random_state=1, data_rvs=grid).tocsr()
    w = sp.random(n, n, density=0.3, random_state=2, data_rvs=grid).tocsr()
    beta, alpha = (1.0, 0.0) if kind == "if" else (0.875, 0.75 if kind == "synaptic" else 0.0)
    x = rng.random((40, n_in)) < 0.5
    for reset in ("zero", "subtract"):
        net = SpikingNetwork(w_in, w, beta, 1.0, alpha=alpha, reset=reset, layer=np.arange(n) // 5)
        g = to_nir(net)
        assert g.metadata["form"] == "populations" and "rec0" in g.nodes
        _same(net, from_nir(g))
        write(tmp_path / "any.nir", net)
        _same(net, from_nir(tmp_path / "any.nir"))
        chip = _chip(net, x)
        assert 0 < chip.sum() < chip.size
        assert np.array_equal(_snntorch_run(to_snntorch(g), x), chip), reset
        if kind == "lif" and reset == "zero":  # snnTorch's importer as it is: LIF, reset to zero
            from snntorch.import_nir import import_from_nir
            assert np.array_equal(_snntorch_run(import_from_nir(g), x), chip)


def test_layered_recurrent_export_is_a_chain_with_layer_lag(tmp_path):
    import scipy.sparse as sp
    from mosaic import SpikingNetwork
    rng = np.random.default_rng(8)
    grid = lambda k: rng.integers(-30, 60, k) / 64  # noqa: E731
    w_in = sp.hstack([sp.random(5, 6, density=0.7, random_state=1, data_rvs=grid), sp.csr_matrix((5, 4))])
    w = sp.random(10, 10, density=0.5, random_state=2, data_rvs=grid).tolil()
    w[:, :6] = sp.random(10, 6, density=0.3, random_state=3, data_rvs=grid).toarray() * (np.arange(10) < 6)[:, None]
    w[:6, 6:] = rng.integers(-20, 80, (6, 4)) / 64  # layer 0 -> layer 1
    w[6:, :] = 0  # layer 1 -> anything: none; layer 0 -> layer 0 (recurrent) and -> layer 1
    net = SpikingNetwork(w_in, w.tocsr(), 0.875, 1.0, layer=np.repeat([0, 1], [6, 4]))
    write(tmp_path / "r.nir", net)
    g = nir.read(str(tmp_path / "r.nir"))
    assert g.metadata["form"] == "chain" and {"fc0", "lif0", "rec0", "id0", "fc1", "lif1"} <= set(g.nodes)
    _same(net, from_nir(g))
    x = rng.random((30, 5)) < 0.6
    chip = _chip(net, x, steps=1)[1:, net.layer == 1]  # layer 1 integrates one step late
    assert chip.sum() > 0
    assert np.array_equal(_snntorch_run(to_snntorch(g), x), chip)


def test_reset_question():
    g = _snntorch_style_graph(np.ones((2, 3)), np.ones((1, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert from_nir(g, reset="subtract").reset == "subtract"
        g.metadata = {"reset": "subtract"}
        assert from_nir(g).reset == "subtract"
    with pytest.raises(NIRError, match="reset"):
        from_nir(g, reset="none")


def test_errors_name_the_problem(tmp_path):
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(5, 4)), rng.normal(size=(3, 5))
    g = _snntorch_style_graph(w1, w2)
    g.nodes["th"] = nir.Threshold(threshold=np.ones(5))
    g.edges += [("1", "th"), ("th", "2")]
    with pytest.raises(NIRError, match="'th' of type Threshold"):
        from_nir(g, reset="zero")
    g = _snntorch_style_graph(w1, w2)
    g.nodes["d"] = nir.Delay(delay=np.ones(5))
    g.edges = [e for e in g.edges if e != ("1", "2")] + [("1", "d"), ("d", "2")]
    with pytest.raises(NIRError, match="'d' of type Delay.*one step"):
        from_nir(g, reset="zero")
    g = _snntorch_style_graph(w1, w2)
    g.nodes["1"].v_reset[:] = 0.5
    with pytest.raises(NIRError, match="v_reset"):
        from_nir(g, reset="zero")
    g = _snntorch_style_graph(w1, w2)
    g.nodes["loop"] = nir.Linear(weight=np.eye(5))
    g.edges += [("0", "loop"), ("loop", "0")]
    with pytest.raises(NIRError, match="cycle .* has no neuron node"):
        from_nir(g, reset="zero")
    g = _snntorch_style_graph(w1, w2)
    g.edges.append(("2", "output"))
    with pytest.raises(NIRError, match="output 'output' must be fed by the spikes"):
        from_nir(g, reset="zero")
    g = _snntorch_style_graph(w1, w2)
    g.nodes["2"] = nir.Linear(weight=rng.normal(size=(3, 4)))
    with pytest.raises(NIRError, match="'2'.*4 inputs"):
        from_nir(g, reset="zero")
    with pytest.raises(NIRError, match="dt"):
        from_nir(_snntorch_style_graph(w1, w2), dt=1.0, reset="zero")  # beta = 1 - dt/tau < 0
    bad = tmp_path / "junk.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(NIRError, match="not a readable NIR file"):
        from_nir(bad)
    with pytest.raises(NIRError, match="no such"):
        from_nir(tmp_path / "missing.nir")
    from mosaic import SpikingNetwork
    net = to_network(make_mlp([3, 4, 2]))
    refr = SpikingNetwork(net.w_in, net.w, net.beta, net.threshold, refractory=2, layer=net.layer)
    with pytest.raises(NIRError, match="refractory"):
        write(tmp_path / "x.nir", refr)
    assert not (tmp_path / "x.nir").exists()


def test_cli_reset_flag(tmp_path, capsys):
    """`mosaic simulate --net file.nir` warns about a graph without reset information; --reset answers it."""
    import warnings

    from models.nir_io import NIRResetWarning
    from mosaic_grow.cli import main
    rng = np.random.default_rng(9)
    nir.write(str(tmp_path / "s.nir"), _snntorch_style_graph(rng.normal(size=(5, 4)), rng.normal(size=(3, 5))))
    cmd = ["simulate", "--net", str(tmp_path / "s.nir"), "--preset", "mosaic-4x4", "--steps", "5", "--json"]
    with pytest.warns(NIRResetWarning, match="--reset subtract"):
        assert main(cmd) == 0
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error", NIRResetWarning)
        assert main(cmd + ["--reset", "subtract"]) == 0
    assert '"T": 5' in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad:
        main(cmd + ["--reset", "none"])
    assert bad.value.code == 2 and "--reset" in capsys.readouterr().err


def test_mixed_kind_network_round_trips(tmp_path):
    """IF, LIF and CubaLIF neurons in one unlayered recurrent network: one population per run of a
    kind, synapses between them as weights, labels and parameters back exactly from HDF5."""
    import scipy.sparse as sp
    from mosaic import SpikingNetwork
    n = 9
    w = sp.random(n, n, density=0.5, random_state=4, format="csr")
    w_in = sp.random(3, n, density=0.6, random_state=5, format="csr")
    beta = np.array([1, 1, 1, 0.9, 0.8, 0.7, 0.9, 0.9, 0.9])
    alpha = np.array([0, 0, 0, 0, 0, 0, 0.5, 0.6, 0.7])
    net = SpikingNetwork(w_in, w, beta, np.linspace(0.5, 1.5, n), alpha=alpha, bias=np.linspace(-0.2, 0.2, n),
                         reset="zero", layer=[0, 0, 1, 1, 2, 2, 2, 3, 3])
    g = to_nir(net)
    assert [type(g.nodes[f"lif{i}"]).__name__ for i in range(3)] == ["IF", "LIF", "CubaLIF"]
    assert {"w0_1", "w1_2", "w2_0", "rec1"} <= set(g.nodes)
    write(tmp_path / "mixed.nir", net)
    _same(net, from_nir(tmp_path / "mixed.nir"))


def test_too_large_for_dense_nir_is_a_clear_error(tmp_path):
    import scipy.sparse as sp
    from mosaic import SpikingNetwork
    n = 12_000  # one population: 12000^2 = 1.44e8 dense recurrent weights > 2^27
    rng = np.random.default_rng(0)      # (sp.random over 1.44e8 cells takes seconds)

    def sparse(rows, cols, nnz):
        return sp.csr_matrix((rng.normal(size=nnz), (rng.integers(0, rows, nnz), rng.integers(0, cols, nnz))),
                             shape=(rows, cols))
    net = SpikingNetwork(sparse(2, n, 24), sparse(n, n, 144), 0.9, 1.0)
    with pytest.raises(NIRError, match="dense weights"):
        write(tmp_path / "big.nir", net)
    assert not (tmp_path / "big.nir").exists()


def test_parallel_branches_share_a_layer_label():
    """input -> a, input -> b, a + b -> c: a and b lag snnTorch by 0 steps, c by 1 (labels = depth - 1),
    so the layered read-out (models.readout.measure_on_chip) aligns every population."""
    from models.export import layer_slices
    rng = np.random.default_rng(10)
    nodes = {"input": _inp([3]), "fa": nir.Linear(weight=rng.normal(size=(4, 3))), "a": _lif(4),
             "fb": nir.Linear(weight=rng.normal(size=(2, 3))), "b": _lif(2),
             "ac": nir.Linear(weight=rng.normal(size=(3, 4))),
             "bc": nir.Linear(weight=rng.normal(size=(3, 2))), "c": _lif(3),
             "output": nir.Output(output_type={"output": np.array([3])})}
    edges = [("input", "fa"), ("fa", "a"), ("input", "fb"), ("fb", "b"), ("a", "ac"), ("ac", "c"), ("b", "bc"),
             ("bc", "c"), ("c", "output")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = from_nir(_graph(nodes, edges))
    assert net.layer.tolist() == [0] * 6 + [1] * 3
    assert [s.stop - s.start for s in layer_slices(net)] == [6, 3]
    assert np.allclose(net.w.toarray()[:4, 6:], nodes["ac"].weight.T)
    assert np.allclose(net.w.toarray()[4:6, 6:], nodes["bc"].weight.T)


def test_relays_make_skip_connections_step_exact():
    """input -> a -> b (recurrent) -> c with a skip a -> c: snnTorch gives c a's spikes of the same
    step; with relays=True the chip delays that skip by one relay stage and c's spikes agree."""
    rng = np.random.default_rng(11)
    w = {k: rng.integers(-3, 10, s) / 8.0 for k, s in
         {"fa": (4, 3), "fb": (5, 4), "rec": (5, 5), "fc": (3, 5), "sk": (3, 4)}.items()}
    w["rec"] = rng.integers(-4, 4, (5, 5)) / 8.0
    nodes = {"input": _inp([3]), "a": _lif(4), "b": _lif(5), "c": _lif(3), "id": nir.Flatten(
        input_type={"input": np.array([5])}, start_dim=0, end_dim=0),
        "output": nir.Output(output_type={"output": np.array([3])}),
        **{k: nir.Linear(weight=v) for k, v in w.items()}}
    edges = [("input", "fa"), ("fa", "a"), ("a", "fb"), ("fb", "b"), ("b", "rec"), ("rec", "id"), ("id", "b"),
             ("b", "fc"), ("fc", "c"), ("a", "sk"), ("sk", "c"), ("c", "output")]
    g = _graph(nodes, edges)
    x = rng.random((30, 3)) < 0.6
    ref = _snntorch_run(to_snntorch(g), x)
    with pytest.warns(UserWarning, match="relays=True"):
        plain = from_nir(g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = from_nir(g, relays=True)
    assert net.n_neurons == plain.n_neurons + 4 and net.layer.tolist() == [0] * 4 + [1] * 9 + [2] * 3
    relay = slice(9, 13)  # after b: a's relay stage, label 1
    assert np.array_equal(net.w[:4, relay].toarray(), np.eye(4)) and np.allclose(net.threshold[relay], 0.25)
    chip = _chip(net, x, steps=2)[2:, net.layer == 2]
    assert 0 < ref.sum() and np.array_equal(chip, ref)
    assert not np.array_equal(_chip(plain, x, steps=2)[2:, plain.layer == 2], ref)
