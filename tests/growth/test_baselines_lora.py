import pytest
import torch
from torch import nn

from growth.baselines import BaselineError, LoRACL, LoRALinear, TrainConfig, run_sequence
from growth.baselines.common import linears
from models.datasets import load_dataset, split_tasks

CFG = TrainConfig(epochs=3, lr=1e-2, batch_size=32, seed=1)


@pytest.fixture(scope="module")
def tasks():
    return split_tasks(load_dataset("digits", seed=0, n_train=300, n_test=100), n_tasks=5)[:3]


def test_zero_adapter_leaves_the_layer_unchanged():
    torch.manual_seed(0)
    base = nn.Linear(6, 4)
    lora = LoRALinear(base, rank=2, alpha=3.0)
    x = torch.randn(5, 6)
    assert torch.count_nonzero(lora.B) == 0
    assert torch.equal(lora(x), base(x))
    assert torch.equal(lora.merged(), base.weight)


def test_merged_weight_is_core_plus_scaled_low_rank_product():
    torch.manual_seed(0)
    base = nn.Linear(6, 4)
    lora = LoRALinear(base, rank=2, alpha=3.0)
    with torch.no_grad():
        lora.B.copy_(torch.randn(4, 2))
    expected = base.weight + lora.B @ lora.A * (3.0 / 2)
    torch.testing.assert_close(lora.merged(), expected)
    x = torch.randn(5, 6)
    torch.testing.assert_close(lora(x), x @ expected.T + base.bias)


def test_lora_cl_merges_each_task_into_the_core(tasks):
    cl = LoRACL([64, 16, 10], rank=2, alpha=4.0, train=CFG)
    cl.fit_task(0, tasks[0])
    before = [m.weight.detach().clone() for m in linears(cl.model)]
    biases = [m.bias.detach().clone() for m in linears(cl.model)]
    cl.fit_task(1, tasks[1])
    after = [m.weight for m in linears(cl.model)]
    assert len(cl.deltas) == 1
    for b, a, d in zip(before, after, cl.deltas[0]):
        torch.testing.assert_close(a, b + d)
        assert torch.linalg.matrix_rank(d) <= 2
        assert torch.count_nonzero(d) > 0
    for b, m in zip(biases, linears(cl.model)):
        assert torch.equal(b, m.bias)


def test_lora_cl_sequence_and_bad_input(tasks):
    res = run_sequence(LoRACL([64, 16, 10], rank=4, alpha=4.0, train=CFG), tasks)
    assert res.R[0, 0] > 0.8 and res.R.shape == (3, 3)
    with pytest.raises(BaselineError, match="rank"):
        LoRALinear(nn.Linear(3, 2), rank=5, alpha=1.0)
    with pytest.raises(BaselineError, match="alpha"):
        LoRACL([4, 3, 2], alpha=0.0)
