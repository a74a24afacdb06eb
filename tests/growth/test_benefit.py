"""Benefit estimates: Spearman's rho per candidate type on hand-made records, and the look-ahead
on a real recurrent SNN (the model is left alone, each k's figure is reproducible)."""
import math

import pytest
import torch

from growth.benefit import lookahead_benefits, rank_correlation
from growth.errors import GrowthError
from growth.grow_recurrent import count_loss, grow_recurrent
from models.recurrent import copy_rsnn, make_rsnn, run_rsnn
from models.training import fit, sampled_batches


def test_rank_correlation_per_type():
    recs = ([{"type": "0:8", "predicted": p, "realised": r} for p, r in [(1, 10), (2, 20), (3, 25), (4, 40)]]
            + [{"type": "0:16", "predicted": p, "realised": r} for p, r in [(1, 3), (2, 2), (3, 1)]]
            + [{"type": "1:8", "predicted": 1.0, "realised": 2.0}])
    rho = rank_correlation(recs)
    assert rho["0:8"] == {"rho": pytest.approx(1.0), "n": 4}
    assert rho["0:16"]["rho"] == pytest.approx(-1.0)
    assert math.isnan(rho["1:8"]["rho"]) and rho["1:8"]["n"] == 1
    assert rho["all"]["n"] == 8
    # a record without this estimator's figure is left out
    recs.append({"type": "0:8", "gradmax": None, "predicted": float("nan"), "realised": 0.0})
    assert rank_correlation(recs)["0:8"]["n"] == 4


def _setup(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(10, 48, 4, generator=g) * 2
    y = torch.randint(0, 3, (48,), generator=g)
    model = make_rsnn(4, 8, 3, threshold=0.5, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, opt, x, y


def test_lookahead_is_the_validation_drop_of_a_grown_copy():
    model, opt, x, y = _setup()
    xv, yv = x[:, :16], y[:16]
    before = [p.detach().clone() for p in model.parameters()]

    def val(m):
        with torch.no_grad():
            return float(count_loss(*run_rsnn(m, xv)[:2], yv))

    def copy(m):
        c = copy_rsnn(m)
        o = torch.optim.Adam(c.parameters(), lr=1e-2)
        o.load_state_dict(opt.state_dict())
        return c, o

    def grow(m, o, k):
        return grow_recurrent(m, k, optimizer=o, data=(x[:, 16:], y[16:])).numel()

    def train(m, o, steps):
        fit(o, sampled_batches(32, 8, steps, torch.Generator().manual_seed(1)),
            lambda idx, s: count_loss(*run_rsnn(m, x[:, 16 + idx])[:2], y[16 + idx]))

    est = lookahead_benefits(model, [4, 2, 4], copy=copy, grow=grow, train=train, val_loss=val, steps=3)
    assert sorted(est) == [2, 4]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))   # the model is untouched
    c, o = copy(model)
    grow(c, o, 4)
    train(c, o, 3)
    assert est[4] == pytest.approx(val(model) - val(c), abs=1e-6)
    assert est[4] != 0.0
    with pytest.raises(GrowthError, match="look-ahead steps"):
        lookahead_benefits(model, [2], copy=copy, grow=grow, train=train, val_loss=val, steps=0)
