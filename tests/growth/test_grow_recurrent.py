"""GradMax for a recurrent layer: the function is unchanged at the moment of growth (RLeaky and
RSynaptic, both resets), the optimizer state is padded, the growth matrix equals one-neuron
autograd gradients, and the new fan-outs get the gradient norms GradMax promises."""
import pytest
import torch

from growth.errors import GrowthError
from growth.grow_recurrent import (count_loss, grow_recurrent, insert_recurrent_units,
                                   recurrent_growth_matrix)
from models.recurrent import make_rsnn, recurrent_masks, run_rsnn
from models.training import fit, listed_batches

H, N_IN, N_OUT, T, B = 10, 5, 3, 9, 16


def _model(kind="leaky", reset="subtract", mask=None, seed=1):
    m = make_rsnn(N_IN, H, N_OUT, kind, threshold=0.5, reset=reset, mask=mask, seed=seed).double()
    return m


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, N_IN, generator=g, dtype=torch.float64) * 1.5, torch.randint(0, N_OUT, (B,), generator=g)


def _trained(m, x, y):
    """The model after two Adam steps (so the optimizer has state to pad)."""
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    fit(opt, listed_batches([torch.arange(B)] * 2), lambda idx, s: count_loss(*run_rsnn(m, x)[:2], y))
    return opt


def _fan_in_grad(m, x, y, n_old):
    """Autograd gradient of the loss w.r.t. the fan-in rows (inputs, old hidden) of neurons n_old:."""
    loss = count_loss(*run_rsnn(m, x)[:2], y)
    g_in, g_rec = torch.autograd.grad(loss, [m[0].weight, m[1].recurrent.weight])
    return torch.cat([g_in[n_old:], g_rec[n_old:, :n_old]], dim=1)


@pytest.mark.parametrize("kind", ["leaky", "synaptic"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("method", ["gradmax", "random"])
def test_function_unchanged_at_growth(kind, reset, method):
    m = _model(kind, reset)
    x, y = _data()
    opt = _trained(m, x, y)
    with torch.no_grad():
        s0, v0, h0 = run_rsnn(m, x)
    assert h0.sum() > 0 and s0.sum() > 0                 # a live network, or the test says nothing
    grow_recurrent(m, 4, method=method, optimizer=opt, data=(x, y), generator=torch.Generator().manual_seed(0))
    assert m[0].out_features == H + 4 and m[1].recurrent.weight.shape == (H + 4, H + 4)
    with torch.no_grad():
        s1, v1, h1 = run_rsnn(m, x)
    assert torch.equal(s1, s0) and torch.equal(h1[..., :H], h0)
    assert h1[..., H:].sum() == 0                          # zero fan-in: the new neurons are silent
    assert torch.allclose(v1, v0, rtol=0, atol=1e-12)     # float64: only summation-order rounding
    # the new fan-out is not zero (it must be able to learn), the fan-in is
    assert m[2].weight[:, H:].abs().sum() > 0 and m[1].recurrent.weight[:H, H:].abs().sum() > 0
    assert m[0].weight[H:].abs().sum() == 0 and m[1].recurrent.weight[H:].abs().sum() == 0


def test_optimizer_state_is_padded():
    m = _model()
    x, y = _data()
    opt = _trained(m, x, y)
    w = m[1].recurrent.weight
    before = opt.state[w]["exp_avg"].clone()
    grow_recurrent(m, 3, optimizer=opt, data=(x, y))
    after = opt.state[w]["exp_avg"]
    assert after.shape == w.shape == (H + 3, H + 3)
    assert torch.equal(after[:H, :H], before)
    assert after[H:].abs().sum() == 0 and after[:, H:].abs().sum() == 0
    assert opt.state[m[2].weight]["exp_avg_sq"].shape == m[2].weight.shape
    fit(opt, listed_batches([torch.arange(B)]), lambda idx, s: count_loss(*run_rsnn(m, x)[:2], y))
    assert m[0].weight[H:].abs().sum() > 0                 # the new fan-in learns


def test_growth_matrix_rows_are_single_neuron_gradients():
    """Row i of M = the fan-in gradient of ONE zero-fan-in neuron with fan-out e_i."""
    m = _model("synaptic")
    x, y = _data(3)
    M = recurrent_growth_matrix(m, (x, y))
    assert M.shape == (H + N_OUT, N_IN + H)
    for i in (0, 4, H, H + N_OUT - 1):
        one = _model("synaptic")
        e = torch.zeros(H + N_OUT, 1, dtype=torch.float64)
        e[i] = 1.0
        insert_recurrent_units(one, e)
        g = _fan_in_grad(one, x, y, H)[0]
        assert torch.allclose(M[i], g, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["leaky", "synaptic"])
def test_fan_out_takes_the_top_singular_directions(kind):
    m = _model(kind)
    x, y = _data(5)
    M = recurrent_growth_matrix(m, (x, y))
    u, s, _ = torch.linalg.svd(M)
    norm = float(torch.cat([m[1].recurrent.weight, m[2].weight]).detach().norm(dim=0).mean())
    sv = grow_recurrent(m, 3, data=(x, y))
    assert torch.allclose(sv.double(), s[:3], rtol=1e-5)
    f = torch.cat([m[1].recurrent.weight[:H, H:], m[2].weight[:, H:]]).detach()
    assert torch.allclose((f / norm).abs(), u[:, :3].abs(), atol=1e-6)   # singular vectors up to sign
    g = _fan_in_grad(m, x, y, H)
    assert torch.allclose(g.norm(dim=1), s[:3] * norm, rtol=1e-5)    # GradMax's promise
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):                                                # no random fan-out does better
        r = _model(kind)
        grow_recurrent(r, 3, method="random", generator=gen)
        assert _fan_in_grad(r, x, y, H).pow(2).sum() < g.pow(2).sum()


def test_masked_growth_keeps_the_mask():
    mask = (torch.rand(H, H, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    m = _model(mask=mask)
    x, y = _data()
    grown = torch.ones(H + 2, H + 2)
    grown[:H, :H] = mask
    grown[:H, H] = 0                       # new neuron H may not reach the old neurons
    grow_recurrent(m, 2, data=(x, y), mask=grown)
    w = m[1].recurrent.weight
    assert torch.equal(m[1].recurrent.mask, grown)
    assert w[:H, H].abs().sum() == 0 and (w * (1 - grown)).abs().sum() == 0
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    fit(opt, listed_batches([torch.arange(B)] * 2), lambda idx, s: count_loss(*run_rsnn(m, x)[:2], y),
        grad_masks=recurrent_masks(m))
    assert (m[1].recurrent.weight * (1 - grown)).abs().sum() == 0


def test_bad_input_names_the_value():
    m = _model()
    x, y = _data()
    with pytest.raises(GrowthError, match="layer 1 does not exist"):
        grow_recurrent(m, 2, layer=1, data=(x, y))
    with pytest.raises(GrowthError, match=r"\(12, 12\).*got shape \(11, 11\)"):
        grow_recurrent(m, 2, data=(x, y), mask=torch.ones(H + 1, H + 1))
    bad = torch.ones(H + 2, H + 2)
    bad[0, 1] = 0
    with pytest.raises(GrowthError, match="top-left"):
        grow_recurrent(m, 2, data=(x, y), mask=bad)
    with pytest.raises(GrowthError, match="k must be a positive integer"):
        grow_recurrent(m, 0, data=(x, y))
    with pytest.raises(GrowthError, match="unknown recurrent growth method 'zero'"):
        grow_recurrent(m, 2, method="zero")
    assert m[0].out_features == H                          # nothing was grown by the failures


def test_fill_tops_gradmax_up_to_k():
    m = _model()
    x, y = _data()
    rank = int(torch.linalg.matrix_rank(recurrent_growth_matrix(m, (x[:, :1], y[:1]))))
    k = rank + 3
    sv = grow_recurrent(m, k, data=(x[:, :1], y[:1]), fill=True, generator=torch.Generator().manual_seed(0))
    assert m[0].out_features == H + k and sv.shape == (k,) and torch.all(sv[rank:] == 0)
    f = torch.cat([m[1].recurrent.weight[:H, H:], m[2].weight[:, H:]]).detach()
    gram = f.T @ f                         # the random top-up is orthogonal to GradMax's directions
    assert gram[:rank, rank:].abs().max() < 1e-6 * gram.diag().max()
