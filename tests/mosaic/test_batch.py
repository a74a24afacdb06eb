"""simulate_batch: B samples in one kernel call are B separate simulate runs, bit for bit."""
import json

import numpy as np
import pytest

from mosaic import HardwareSpec
from mosaic.generators import random_feedforward
from mosaic.simulate import SimulationError, simulate, simulate_batch

SPEC = HardwareSpec.preset("mosaic-4x4").replace(step_cycles=10, buffer_depth=2)


def _doc(rep) -> dict:
    d = json.loads(rep.to_json())
    d.pop("wall_s")
    return d


def _net():
    return random_feedforward([8, 24, 12], p=0.5, weight_scale=0.9, recurrent_p=0.2, seed=3)


@pytest.mark.parametrize("routing,late,analog", [("cycle", "defer", False), ("cycle", "drop", False),
                                                 ("ideal", "defer", False), ("cycle", "defer", True),
                                                 ("ideal", "defer", True)])
def test_batch_equals_separate_runs(routing, late, analog):
    net = _net()
    rng = np.random.default_rng(7)
    x = rng.random((9, 15, 8))
    x = x * (x > 0.4) if analog else x < 0.5
    batch = simulate_batch(net, SPEC, None, x, routing=routing, late=late, parallel=True)
    serial = simulate_batch(net, SPEC, None, x, routing=routing, late=late, parallel=False)
    assert len(batch) == 9
    late_seen = 0
    for b in range(9):
        one = simulate(net, SPEC, None, x[b], routing=routing, late=late)
        rep = batch.report(b)
        assert _doc(rep) == _doc(one) == _doc(serial.report(b))
        assert np.array_equal(rep.spikes, one.spikes) and np.array_equal(rep.final_mem, one.final_mem)
        late_seen += one.packets["late"]
    assert batch.spikes.any()
    if routing == "cycle" and not analog:
        assert late_seen > 0, "the chip is small enough that some windows run late"


def test_totals_are_sums_of_the_samples():
    net = _net()
    x = np.random.default_rng(1).random((5, 12, 8)) < 0.4
    batch = simulate_batch(net, SPEC, None, x, routing="cycle")
    reps = [batch.report(b) for b in range(5)]
    tot = batch.totals()
    assert tot["samples"] == 5 and tot["steps"] == 60
    for k in tot["packets"]:
        assert tot["packets"][k] == sum(r.packets[k] for r in reps)
    for k in tot["counts"]:
        assert tot["counts"][k] == sum(r.counts[k] for r in reps)
    for k in tot["energy_pj"]:
        assert tot["energy_pj"][k] == pytest.approx(sum(r.energy_pj[k] for r in reps))
    assert np.array_equal(tot["router_load"], sum(r.router_load for r in reps))
    assert np.array_equal(tot["link_load"], sum(r.link_load for r in reps))


def test_progress_chunks_give_the_same_batch():
    net = _net()
    x = np.random.default_rng(2).random((23, 6, 8)) < 0.5
    a = simulate_batch(net, SPEC, None, x, routing="cycle")
    b = simulate_batch(net, SPEC, None, x, routing="cycle", progress=True)
    for f in ("spikes", "counters", "router_load", "link_load", "step_latency_cycles", "final_mem"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f


def test_bad_batch_input_raises_clear_errors():
    net = _net()
    with pytest.raises(SimulationError, match=r"\(B, T, 8\)"):
        simulate_batch(net, SPEC, None, np.zeros((6, 8), bool))
    with pytest.raises(SimulationError, match=r"\(B, T, 8\)"):
        simulate_batch(net, SPEC, None, np.zeros((2, 6, 7), bool))
    with pytest.raises(SimulationError, match=r"\(B, T, 8\)"):
        simulate_batch(net, SPEC, None, np.zeros((0, 6, 8), bool))
    x = np.zeros((3, 4, 8))
    x[2, 1, 5] = np.nan
    with pytest.raises(SimulationError, match="sample 2, step 1, input 5"):
        simulate_batch(net, SPEC, None, x)
    with pytest.raises(SimulationError, match="routing"):
        simulate_batch(net, SPEC, None, np.zeros((2, 4, 8), bool), routing="fast")
    batch = simulate_batch(net, SPEC, None, np.zeros((2, 4, 8), bool))
    with pytest.raises(SimulationError, match="sample index 2"):
        batch.report(2)


def test_batch_equals_separate_runs_with_virtual_channels():
    """Batches size their network state for every virtual channel, as ``simulate`` does."""
    spec = HardwareSpec.preset("mesh-8x8").replace(virtual_channels=2, buffer_depth=2, step_cycles=40)
    net = random_feedforward([16, 96, 10], seed=3)
    x = np.random.default_rng(1).random((3, 12, 16)) < 0.6
    batch = simulate_batch(net, spec, None, x, routing="cycle")
    for b in range(3):
        one = simulate(net, spec, None, x[b], routing="cycle")
        assert np.array_equal(batch.report(b).spikes, one.spikes)
        assert batch.report(b).packets == one.packets
