"""models.training.fit: the one training loop, checked against a hand-written Adam loop."""
import math

import pytest
import torch
from torch import nn

from models.errors import ModelError
from models.training import fit, listed_batches, make_optimizer, sampled_batches, shuffled_batches


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(50, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(50, generator=g)
    torch.manual_seed(seed)
    return x, y, nn.Linear(4, 1)


def test_fit_is_the_plain_adam_loop():
    x, y, ref = _problem()
    _, _, model = _problem()
    opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):                      # the loop every learner used to write by hand
        perm = torch.randperm(50, generator=g)
        for i in range(0, 50, 16):
            idx = perm[i:i + 16]
            opt.zero_grad()
            nn.functional.mse_loss(ref(x[idx]).squeeze(1), y[idx]).backward()
            opt.step()
        sched.step()
    res = fit(model.parameters(), shuffled_batches(50, 16, torch.Generator().manual_seed(1)),
              lambda idx, step: nn.functional.mse_loss(model(x[idx]).squeeze(1), y[idx]), epochs=3, lr=0.05,
              cosine=True)
    for a, b in zip(ref.parameters(), model.parameters()):
        assert torch.equal(a, b)
    assert (res.epochs, res.steps) == (3, 12) and math.isfinite(res.loss) and res.cpu_s >= 0


def test_masks_hooks_and_steps():
    x, y, model = _problem()
    before = model.weight.detach().clone()
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    seen, after = [], []
    res = fit(model.parameters(), sampled_batches(50, 8, 5, torch.Generator().manual_seed(0)),
              lambda idx, step: nn.functional.mse_loss(model(x[idx]).squeeze(1), y[idx]), epochs=2, lr=0.1,
              grad_masks={model.weight: mask}, before_step=lambda idx, step: seen.append((len(idx), step)),
              after_step=lambda step: after.append(torch.is_grad_enabled()))
    w = model.weight.detach()
    assert torch.equal(w[0, [1, 3]], before[0, [1, 3]]) and not torch.equal(w[0, [0, 2]], before[0, [0, 2]])
    assert [s.index for _, s in seen] == list(range(10)) and [s.batch for _, s in seen][:6] == [0, 1, 2, 3, 4, 0]
    assert all(n == 8 for n, _ in seen) and after == [False] * 10 and res.steps == 10


def test_mean_loss_is_weighted_by_batch_size():
    w = torch.zeros(1, requires_grad=True)
    idx = [torch.tensor([0, 1, 2]), torch.tensor([3])]
    res = fit([w], listed_batches(idx), lambda i, step: (w + i.float()).sum() / len(i) + 0 * w.sum(), lr=1e-9)
    assert res.loss == pytest.approx((3 * 1.0 + 1 * 3.0) / 4, abs=1e-6)


def test_time_budget_stops_after_the_epoch_that_exceeds_it():
    x, y, model = _problem()
    res = fit(model.parameters(), shuffled_batches(50, 10, torch.Generator()),
              lambda idx, step: nn.functional.mse_loss(model(x[idx]).squeeze(1), y[idx]), epochs=50, time_budget=0.0)
    assert res.epochs == 1 and res.steps == 5


def test_shuffled_batches_cover_every_sample_once():
    b = shuffled_batches(23, 5, torch.Generator().manual_seed(2))
    parts = list(b(0))
    assert [len(p) for p in parts] == [5, 5, 5, 5, 3]
    assert sorted(torch.cat(parts).tolist()) == list(range(23))


def test_bad_settings_are_model_errors():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ModelError, match="unknown optimizer"):
        make_optimizer([w], optimizer="lbfgs")
    with pytest.raises(ModelError, match="no trainable"):
        make_optimizer([])
    with pytest.raises(ModelError, match="lr > 0"):
        make_optimizer([w], lr=0)
    with pytest.raises(ModelError, match="epochs"):
        fit([w], listed_batches([]), lambda i, s: w.sum(), epochs=-1)
