"""GradMax fan-out against an independently computed growth matrix; function preservation;
Adam state carried over; ReLU and snnTorch spiking MLPs."""
import numpy as np
import pytest
import torch
from torch import nn

from growth import GrowReLU, GrowthError, gradmax_fan_out, grow_layer, hidden_sizes, use_grow_relu
from growth.grow import capture_growth_matrix
from models import encode, make_mlp, run

T = 6


def _data(n=40, d=12, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g), torch.randint(0, c, (n,), generator=g)


def _ann(seed=0):
    m = make_mlp([12, 7, 5, 3], kind="relu", seed=seed)
    assert use_grow_relu(m) == 2
    return m


def _snn(seed=0):
    # a low threshold makes the hidden layers spike on these small random inputs
    return make_mlp([12, 7, 5, 3], kind="leaky", threshold=0.3, seed=seed)


def _loss(out, y):
    return nn.functional.cross_entropy(out, y)


def _aux_matrix(model, layer, x, y, forward):
    """dL/dA for a zero auxiliary layer A added from Linear layer's input to Linear layer+1's
    output, computed with autograd on an explicit A (no hooks): the independent oracle."""
    lins = [m for m in model if isinstance(m, nn.Linear)]
    a_mod, b_mod = lins[layer], lins[layer + 1]
    A = torch.zeros(b_mod.out_features, a_mod.in_features, dtype=torch.float64, requires_grad=True)
    stash = []
    ha = a_mod.register_forward_hook(lambda m, i, o: stash.append(i[0]))
    hb = b_mod.register_forward_hook(lambda m, i, o: o + (stash.pop().double() @ A.T).float())
    try:
        loss = _loss(forward(model, x), y)
        (g,) = torch.autograd.grad(loss, A)
    finally:
        ha.remove()
        hb.remove()
    return g


def _fwd_ann(m, x):
    return m(x)


def _fwd_snn(m, x):
    return run(m, x)[0].sum(0)


def _syn(seed=0):
    return make_mlp([12, 7, 5, 3], kind="synaptic", threshold=0.3, seed=seed)


CASES = [("relu", _ann, lambda x: x, _fwd_ann), ("leaky", _snn, lambda x: encode(x, T), _fwd_snn),
         ("synaptic", _syn, lambda x: encode(x, T), _fwd_snn)]


def _first_nonzero_sign(v):
    return torch.sign(v[v.abs().argmax()])


@pytest.mark.parametrize("kind,make,enc,fwd", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("layer", [0, 1])
def test_fan_out_is_top_singular_vectors_of_independent_M(kind, make, enc, fwd, layer):
    model = make()
    x, y = _data()
    xs = enc(x)
    m_oracle = _aux_matrix(model, layer, xs, y, fwd)
    assert m_oracle.abs().max() > 0
    m_hooks = capture_growth_matrix(model, layer, (xs, y), _loss, forward=fwd)
    torch.testing.assert_close(m_hooks, m_oracle, rtol=1e-4, atol=1e-9)
    u, s, _ = np.linalg.svd(m_oracle.numpy())
    # cross-entropy gradients sum to zero over the 3 classes: rank(M) <= 2 at the output layer
    k = min(3, int((s > 1e-7 * s[0]).sum()))
    before = fwd(model, xs).detach().clone()
    n_before = hidden_sizes(model)[layer]
    next_lin = [m for m in model if isinstance(m, nn.Linear)][layer + 1]
    mean_norm = next_lin.weight.detach().norm(dim=0).mean()
    sv = grow_layer(model, layer, 3, data=(xs, y), loss_fn=_loss, forward=fwd)
    assert len(sv) == k  # k capped by the rank
    np.testing.assert_allclose(sv.numpy(), s[:k], rtol=1e-4)
    w_new = next_lin.weight.detach()[:, n_before:]
    for j in range(k):
        col = w_new[:, j] / w_new[:, j].norm()
        ref = torch.as_tensor(u[:, j], dtype=torch.float32)
        col, ref = col * _first_nonzero_sign(col), ref * _first_nonzero_sign(ref)
        torch.testing.assert_close(col, ref, rtol=1e-3, atol=1e-4)
        # growneuron scaling: every new fan-out has the mean norm of the existing fan-outs
        assert w_new[:, j].norm() == pytest.approx(float(mean_norm), rel=1e-5)
    # zero fan-in: the network computes the same function right after growth
    lin_a = [m for m in model if isinstance(m, nn.Linear)][layer]
    assert torch.all(lin_a.weight[n_before:] == 0)
    assert lin_a.bias is None or torch.all(lin_a.bias[n_before:] == 0)
    torch.testing.assert_close(fwd(model, xs).detach(), before, rtol=0, atol=1e-5)


def test_gradmax_fan_out_api_matches_numpy_svd():
    g = np.random.default_rng(1)
    h, gr = g.normal(size=(50, 6)), g.normal(size=(50, 4))
    w, sv = gradmax_fan_out(h, gr, 3, scale=2.0)
    u, s, _ = np.linalg.svd(gr.T @ h)
    assert w.shape == (4, 3)
    np.testing.assert_allclose(sv, s[:3], rtol=1e-5)
    for j in range(3):
        assert abs(abs(float(w[:, j] @ torch.as_tensor(u[:, j], dtype=torch.float32))) - 2.0) < 1e-4


def test_k_capped_by_rank():
    g = np.random.default_rng(2)
    h = g.normal(size=(2, 6))  # two samples: rank(M) <= 2
    w, sv = gradmax_fan_out(h, g.normal(size=(2, 5)), 4)
    assert w.shape == (5, 2) and len(sv) == 2


@pytest.mark.parametrize("bad", [dict(k=0), dict(k=1.5), dict(h=np.full((3, 2), np.nan)), dict(n=4)])
def test_gradmax_fan_out_bad_input(bad):
    h = bad.get("h", np.ones((3, 2)))
    g = np.ones((bad.get("n", 3), 2))
    with pytest.raises(GrowthError):
        gradmax_fan_out(h, g, bad.get("k", 1))


@pytest.mark.parametrize("method", ["gradmax", "random", "zero"])
@pytest.mark.parametrize("kind", ["relu", "leaky"])
def test_adam_state_carried_and_training_continues(method, kind):
    model = _ann() if kind == "relu" else _snn()
    enc, fwd = (lambda x: x, _fwd_ann) if kind == "relu" else (lambda x: encode(x, T), _fwd_snn)
    x, y = _data()
    xs = enc(x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        _loss(fwd(model, xs), y).backward()
        opt.step()
    old = {id(p): {k: v.clone() for k, v in opt.state[p].items()} for p in model.parameters()}
    shapes = {id(p): p.shape for p in model.parameters()}
    before = fwd(model, xs).detach().clone()
    grow_layer(model, 0, 2, method=method, optimizer=opt, data=(xs, y), loss_fn=_loss, forward=fwd,
               generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(fwd(model, xs).detach(), before, rtol=0, atol=1e-5)
    for p in model.parameters():
        st = opt.state[p]
        for key, v in old[id(p)].items():
            if v.ndim == 0:
                assert torch.equal(st[key], v)  # Adam's step count
                continue
            assert st[key].shape == p.shape
            region = tuple(slice(0, n) for n in shapes[id(p)])
            assert torch.equal(st[key][region], v)  # existing moments unchanged
            rest = st[key].clone()
            rest[region] = 0
            assert torch.all(rest == 0)  # new entries are zero
    assert hidden_sizes(model)[0] == 9
    for _ in range(3):  # the optimizer keeps working on the resized parameters
        opt.zero_grad()
        _loss(fwd(model, xs), y).backward()
        opt.step()
    lin0 = model[0]
    moved = lin0.weight[7:] if method != "zero" else model[2].weight[:, 7:]
    assert moved.abs().sum() > 0  # the new neurons learn (f'(0) = 1 / the surrogate)


def test_plain_relu_is_rejected_and_grow_relu_has_unit_slope_at_zero():
    m = make_mlp([4, 3, 2], kind="relu")
    with pytest.raises(GrowthError, match="use_grow_relu"):
        grow_layer(m, 0, 1, method="random")
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    GrowReLU()(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0]
    torch.testing.assert_close(GrowReLU()(x), nn.ReLU()(x))


def test_bad_requests():
    m = _ann()
    with pytest.raises(GrowthError, match="valid layers are 0..1"):
        grow_layer(m, 2, 1, method="random")
    with pytest.raises(GrowthError, match="unknown growth method"):
        grow_layer(m, 0, 1, method="firefly")
    with pytest.raises(GrowthError, match="needs data"):
        grow_layer(m, 0, 1)
    with pytest.raises(GrowthError, match="positive integer"):
        grow_layer(m, 0, 0, method="random")
    for bad in (True, 1.5, 2.0):                        # a bool or a float is not a number of neurons
        with pytest.raises(GrowthError, match=f"k must be a positive integer number of neurons, got {bad!r}"):
            grow_layer(m, 0, bad, method="random")
    assert hidden_sizes(m) == [7, 5]


def test_targets_mask_restricts_fan_out():
    m = _ann()
    x, y = _data()
    tgt = torch.tensor([True, False, True, False, False])
    grow_layer(m, 0, 2, data=(x, y), loss_fn=_loss, targets=tgt)
    assert torch.all(m[2].weight[~tgt, 7:] == 0) and m[2].weight[tgt, 7:].abs().sum() > 0


def test_loader_sums_growth_matrix_over_batches():
    m = _ann()
    x, y = _data(n=60)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=20)
    total = capture_growth_matrix(m, 0, loader, _loss)
    parts = sum(capture_growth_matrix(m, 0, (x[i:i + 20], y[i:i + 20]), _loss) for i in (0, 20, 40))
    torch.testing.assert_close(total, parts)
    assert all(p.grad is None for p in m.parameters())  # no side effects on .grad
    first = capture_growth_matrix(m, 0, loader, _loss, max_batches=1)
    torch.testing.assert_close(first, capture_growth_matrix(m, 0, (x[:20], y[:20]), _loss))


def test_growth_while_a_garbage_graph_still_uses_the_parameters():
    """A graph of the model kept alive only by a reference cycle (not yet collected) would keep
    the weights' gradient accumulators, sized for the old shapes, so the first backward after
    the growth failed ("invalid gradient ... expected shape compatible with"); it now trains."""
    import gc

    model = _ann()
    x, y = _data()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    class Cycle:
        pass

    gc.disable()
    try:
        c = Cycle()
        c.loss, c.me = _loss(_fwd_ann(model, x), y), c     # a graph, garbage once c is dropped
        del c
        grow_layer(model, 0, 2, method="gradmax", optimizer=opt, data=(x, y), loss_fn=_loss, forward=_fwd_ann,
                   generator=torch.Generator().manual_seed(0))
        opt.zero_grad()
        _loss(_fwd_ann(model, x), y).backward()
        opt.step()
    finally:
        gc.enable()
    assert model[0].weight.grad.shape == model[0].weight.shape == (9, x.shape[1])


def test_growth_under_a_live_graph_trains_once_the_graph_is_dropped():
    model = _ann()
    x, y = _data()
    keep = _loss(_fwd_ann(model, x), y)                    # a graph the caller still holds
    grow_layer(model, 0, 2, method="random", data=(x, y), loss_fn=_loss, forward=_fwd_ann,
               generator=torch.Generator().manual_seed(0))
    del keep
    _loss(_fwd_ann(model, x), y).backward()
    assert model[0].weight.grad.shape == model[0].weight.shape
