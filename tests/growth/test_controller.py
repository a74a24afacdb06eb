"""Hardware-aware growth controller: budgets are never broken, the cheaper of two equal
benefits wins, the plateau rule, and the Mosaic regulariser."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from growth.controller import (ControllerConfig, GrowthController, PlateauRule, grown_index,
                               layered_network)
from growth.errors import GrowthError
from growth.grow_recurrent import grow_recurrent
from growth.regularizer import MosaicRegularizer, layer_penalties
from mosaic import HardwareSpec
from models.export import to_network
from models.recurrent import make_rsnn, run_rsnn
from mosaic.cost import CostBudget, estimate_cost
from mosaic.simulate import simulate_batch
from mosaic.spec import SpecError
from mosaic.topology import hop_matrix, hop_penalty

SPEC = HardwareSpec.preset("mosaic-4x4")


def fill_placer(net, spec, previous, rates):
    """Old neurons stay; new ones fill the free slots in chip order (deterministic)."""
    core = np.asarray(previous).copy()
    load = np.bincount(core[core >= 0], minlength=spec.n_cores)
    for i in np.flatnonzero(core < 0):
        c = int(np.flatnonzero(load < spec.neurons_per_core)[0])
        core[i] = c
        load[c] += 1
    return core


def _state(sizes, seed):
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    core = np.repeat(np.arange(SPEC.n_cores), SPEC.neurons_per_core)[rng.permutation(SPEC.n_slots)[:n]]
    return core, rng.uniform(0.0, 0.4, n), rng.uniform(0.0, 1.0, 12)


def test_layered_network_and_grown_index():
    net = layered_network(5, [3, 4, 2])
    assert net.n_neurons == 9 and net.w_in.nnz == 15 and net.w.nnz == 3 * 4 + 4 * 2
    assert net.layer.tolist() == [0] * 3 + [1] * 4 + [2] * 2
    old = grown_index([3, 4, 2], 0, 2)
    assert old.tolist() == [0, 1, 2, -1, -1, 3, 4, 5, 6, 7, 8]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), tight=st.floats(0.0, 1.2), which=st.sampled_from(["energy", "latency", "port", "cores"]))
def test_never_takes_a_candidate_over_budget(seed, tight, which):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(3, 12)), int(rng.integers(3, 12)), 4]
    core, rates, in_rates = _state(sizes, seed)
    base = estimate_cost(layered_network(12, sizes), SPEC, core, rates, in_rates, T=10)
    # budgets between "nothing fits" and "a little room": the base cost scaled by 1 + tight/2
    f = 1.0 + tight / 2
    budget = {"energy": CostBudget(energy_pj=base.energy_pj["total"] * f),
              "latency": CostBudget(latency_ns=max(base.latency_ns, 1.0) * f),
              "port": CostBudget(port_use=max(base.port_use, 1e-6) * f),
              "cores": CostBudget(cores=max(1, int(base.cores_used * f)))}[which]
    ctl = GrowthController(SPEC, budget, ControllerConfig(k_options=(2, 6), T=10), placer=fill_placer)
    benefits = [rng.random(8) + 0.1, rng.random(4) + 0.1]
    _, cands = ctl.candidates(12, sizes, core, rates, in_rates, benefits, analog_input=False)
    pick = ctl.select(cands)
    for c in cands:
        if c.cost is not None:
            assert (budget.violations(c.cost) == []) == (not c.refused)
            if c.refused:
                assert any(which.split("_")[0][:4] in r for r in c.refused)
    if pick is not None:
        assert budget.violations(pick.cost) == []


def test_prefers_the_cheaper_of_two_equal_benefits():
    # Layer 0 feeds from 12 analog inputs (expensive), layer 1 from 6 neurons (cheap):
    # with equal GradMax benefit the controller grows layer 1.
    sizes = [6, 6, 4]
    core, rates, in_rates = _state(sizes, 3)
    ctl = GrowthController(SPEC, CostBudget(), ControllerConfig(k_options=(3,), T=10), placer=fill_placer)
    sv = np.array([2.0, 1.0, 0.5])
    _, cands = ctl.candidates(12, sizes, core, rates, np.ones(12), [sv, sv], analog_input=True)
    assert cands[0].benefit == cands[1].benefit
    assert cands[0].added > cands[1].added
    assert ctl.select(cands).layer == 1
    # and with layer 1 made the expensive one (silent inputs and layer 0, busy layer 1,
    # whose new neurons inherit its rate), layer 0 wins
    rates2 = np.concatenate([np.zeros(6), np.full(6, 0.9), np.zeros(4)])
    _, cands = ctl.candidates(12, sizes, core, rates2, np.zeros(12), [sv, sv], analog_input=True)
    assert cands[0].added < cands[1].added and ctl.select(cands).layer == 0


def test_decide_waits_grows_and_logs_refusals():
    sizes = [6, 6, 4]
    core, rates, in_rates = _state(sizes, 4)
    sv = [np.array([1.0, 0.5]), np.array([1.0, 0.5])]
    rule = PlateauRule(window=2, eps=0.05, ema=0.0)
    ctl = GrowthController(SPEC, CostBudget(), ControllerConfig(k_options=(2,), plateau=rule, T=10),
                           placer=fill_placer)
    for loss in (1.0, 0.5):
        ctl.observe(loss)
        assert ctl.decide(0, 12, sizes, core, rates, in_rates, sv) is None
    assert ctl.log[-1]["action"] == "wait"
    ctl.observe(0.3)                       # improving fast: no plateau
    assert ctl.decide(0, 12, sizes, core, rates, in_rates, sv) is None
    assert ctl.log[-1]["reason"] == "not on a plateau"
    for loss in (0.3, 0.3):
        ctl.observe(loss)
    pick = ctl.decide(0, 12, sizes, core, rates, in_rates, sv)
    assert pick is not None and ctl.log[-1]["action"] == "grow" and ctl.losses == []
    # nothing fits a budget below the current cost: refused, and the log says why
    tight = GrowthController(SPEC, CostBudget(energy_pj=1.0), ControllerConfig(k_options=(2,), plateau=rule, T=10),
                             placer=fill_placer)
    for loss in (0.3, 0.3, 0.3):
        tight.observe(loss)
    assert tight.decide(0, 12, sizes, core, rates, in_rates, sv) is None
    assert tight.log[-1]["action"] == "refuse" and "energy" in tight.log[-1]["reason"]
    # benefits passed as a callable are only evaluated on a plateau
    calls = []
    lazy = GrowthController(SPEC, CostBudget(), ControllerConfig(k_options=(2,), plateau=rule, T=10),
                            placer=fill_placer)
    lazy.observe(1.0)
    lazy.decide(0, 12, sizes, core, rates, in_rates, lambda: calls.append(1) or sv)
    assert calls == []


def test_neuron_budget_and_rank_cap():
    sizes = [6, 6, 4]
    core, rates, in_rates = _state(sizes, 5)
    ctl = GrowthController(SPEC, CostBudget(), ControllerConfig(k_options=(3, 8), max_sizes=(8, 20), T=10),
                           placer=fill_placer)
    _, cands = ctl.candidates(12, sizes, core, rates, in_rates, [np.ones(5), np.ones(2)])
    by = {(c.layer, c.k): c for c in cands}
    assert sorted(by) == [(0, 3), (0, 5), (1, 2)] and len(cands) == 3  # k = 8 capped by rank, deduplicated
    assert any("neuron budget" in r for r in by[(0, 3)].refused)       # 6 + 3 > 8
    assert by[(1, 2)].refused == [] and by[(1, 2)].benefit == 2.0       # k capped by rank 2


def test_plateau_rule():
    rule = PlateauRule(window=2, eps=0.1, ema=0.0)
    assert rule.improvement([1.0, 0.9]) is None
    assert rule.improvement([1.0, 0.9, 0.8]) == pytest.approx(0.2)
    assert not rule.plateaued([1.0, 0.9, 0.8]) and rule.plateaued([1.0, 0.97, 0.95])
    with pytest.raises(GrowthError):
        PlateauRule(window=0)


def test_mosaic_regularizer_penalises_long_routes():
    spec = SPEC
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))
    core = np.array([spec.io_core, 15, spec.io_core, 15])
    mats = layer_penalties(spec, core, 3, [2, 2])
    H = hop_matrix(spec)
    assert H[spec.io_core, 15] >= 2 and mats[0][0].sum() == 0    # neuron 0 sits on the input core
    assert mats[0][1, 0] == pytest.approx(np.exp(15))             # >= 2 routers: Mosaic's clip e^15
    assert mats[1][0, 0] == 0 and mats[1][0, 1] == pytest.approx(mats[0][1, 0])   # 0 -> 2 local, 1 -> 2 long
    near = np.flatnonzero(H[spec.io_core] == 1)[0]
    assert layer_penalties(spec, np.array([near, 0, 0, 0]), 3, [2, 2])[0][0, 0] == pytest.approx(np.expm1(8.0))
    reg = MosaicRegularizer(model, spec, core, strength=1.0)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    want = sum(float(m.sum()) for m in mats) / sum(m.numel() for m in mats)
    assert float(reg(model).detach()) == pytest.approx(want, rel=1e-6)
    model[0].weight.data[1].zero_()                     # remove the long-route weights of neuron 1
    assert float(reg(model).detach()) < want


def _generate_mosaic_mask(n_core: int, beta: float) -> np.ndarray:
    """EIS-Hub/Mosaic's generate_mosaic_mask (mosaic/utils.py) for one neuron per core,
    transcribed loop for loop: the oracle for mosaic.topology.hop_penalty."""
    num_cols = int(np.sqrt(n_core))
    num_hops = np.zeros((n_core, n_core))
    for i in range(n_core):
        for j in range(i + 1, n_core):
            ic, ir, jc, jr = i % num_cols, i // num_cols, j % num_cols, j // num_cols
            x_hop = y_hop = 0
            if ic == jc and abs(ir - jr) == 1:
                x_hop, y_hop = 0, 1
            if ic == jc and abs(ir - jr) > 1:
                x_hop, y_hop = 1, 2 * abs(ir - jr)
            if ic != jc and abs(ic - jc) == 1:
                x_hop, y_hop = 1, 2 * abs(ir - jr)
            if ic != jc and abs(ic - jc) > 1:
                x_hop, y_hop = 2 * abs(ic - jc) - 1, 2 * abs(ir - jr)
            if ir == jr and abs(ic - jc) == 1:
                x_hop, y_hop = 1, 0
            if ir == jr and abs(ic - jc) > 1:
                x_hop, y_hop = 1, 2 * abs(ic - jc)
            if ir != jr and abs(ir - jr) == 1:
                x_hop, y_hop = 2 * abs(ic - jc), 1
            num_hops[i, j] = num_hops[j, i] = x_hop + y_hop
    return np.clip(np.exp(beta * num_hops) - 1, 0, np.exp(15))


@pytest.mark.parametrize("preset,beta", [("mosaic-4x4", 8.0), ("mosaic-4x4", 0.4), ("mosaic-8x8", 1.0)])
def test_hop_penalty_is_generate_mosaic_mask(preset, beta):
    spec = HardwareSpec.preset(preset)
    assert np.allclose(hop_penalty(spec, beta), _generate_mosaic_mask(spec.n_cores, beta), rtol=1e-12, atol=0)
    with pytest.raises(SpecError, match="beta"):
        hop_penalty(spec, 0.0)


# ----------------------------------------------------------------- recurrent layers, tiles, pricing
def test_recurrent_structure_and_bad_layer():
    net = layered_network(5, [3, 2], recurrent=(0,))
    assert net.w.nnz == 3 * 2 + 3 * 3 and net.w[:3, :3].toarray().all() and net.w[3:].nnz == 0
    with pytest.raises(GrowthError, match="recurrent layer 1 does not exist"):
        layered_network(5, [3, 2], recurrent=(1,))


@pytest.mark.parametrize("tiles", [0, 3])
def test_recurrent_candidates_price_like_a_fresh_estimate(tiles):
    """Every candidate's delta cost (with the recurrent source hint) equals estimate_cost of the
    grown recurrent network at its placement; tile candidates put the new neurons on their
    tile first and keep the old ones where they were."""
    sizes = [9, 4]
    core, rates, in_rates = _state(sizes, 7)
    cfg = ControllerConfig(k_options=(2, 5), T=10, recurrent=(0,), tile_options=tiles)
    ctl = GrowthController(SPEC, CostBudget(), cfg, placer=fill_placer)
    _, cands = ctl.candidates(12, sizes, core, rates, in_rates, [np.ones(6)], analog_input=True)
    assert len(cands) == 2 * (1 + tiles)
    for k in (2, 5):
        placed = [c.tile for c in cands if c.k == k and c.tile is not None]
        assert len(set(placed)) == tiles and all(np.sum(core == t) < SPEC.neurons_per_core for t in placed)
    for c in cands:
        grown = [sizes[0] + c.k, sizes[1]]
        old = grown_index(sizes, 0, c.k)
        r = np.where(old >= 0, rates[np.maximum(old, 0)], rates[:9].mean())
        ref = estimate_cost(layered_network(12, grown, recurrent=(0,)), SPEC, c.core_of, r, in_rates, T=10,
                            analog_input=True)
        assert c.cost.energy_pj["total"] == pytest.approx(ref.energy_pj["total"], rel=1e-9)
        assert c.cost.peak_link_load == pytest.approx(ref.peak_link_load, rel=1e-9)
        assert np.array_equal(c.core_of[old >= 0], core[old[old >= 0]])
        if c.tile is not None:
            free = SPEC.neurons_per_core - np.sum(core == c.tile)
            assert np.all(c.core_of[old < 0][:free] == c.tile)


def test_bound_pricing_is_the_all_active_cost():
    sizes = [6, 4]
    core, rates, in_rates = _state(sizes, 8)
    base = {}
    for pricing in ("rates", "bound"):
        ctl = GrowthController(SPEC, CostBudget(), ControllerConfig(k_options=(2,), T=10, pricing=pricing,
                                                                    recurrent=(0,)), placer=fill_placer)
        base[pricing], _ = ctl.candidates(12, sizes, core, rates, in_rates, [np.ones(3)], analog_input=True)
    ref = estimate_cost(layered_network(12, sizes, recurrent=(0,)), SPEC, core, 1.0, 1.0, T=10, analog_input=True)
    assert base["bound"].energy_pj["total"] == pytest.approx(ref.energy_pj["total"])
    assert base["bound"].energy_pj["total"] > base["rates"].energy_pj["total"]
    with pytest.raises(GrowthError, match="unknown pricing 'mean'"):
        ControllerConfig(pricing="mean")


def test_dict_benefits_and_no_benefit_refused():
    sizes = [6, 4]
    core, rates, in_rates = _state(sizes, 9)
    ctl = GrowthController(SPEC, CostBudget(), ControllerConfig(k_options=(2, 4, 8), T=10, recurrent=(0,)),
                           placer=fill_placer)
    _, cands = ctl.candidates(12, sizes, core, rates, in_rates, [{2: 0.3, 4: -0.1}], analog_input=True)
    by = {c.k: c for c in cands}
    assert by[2].benefit == 0.3 and not by[2].refused
    assert any("no predicted benefit" in r for r in by[4].refused)
    assert any("no benefit estimate" in r for r in by[8].refused)
    assert ctl.select(cands) is by[2]


def _sim_energy(model, core_of, xs):
    b = simulate_batch(to_network(model), SPEC, core_of, xs, routing="cycle")
    return b.totals()["energy_pj"]["total"] / len(xs)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), tight=st.floats(0.9, 1.6), gain=st.floats(0.2, 3.0))
def test_bound_priced_controller_never_accepts_what_the_simulation_finds_over_budget(seed, tight, gain):
    """Tight energy budgets around the current network's bound cost.  Whatever the grown
    network's weights become (here: random, scaled by ``gain`` so it fires a lot), a candidate
    accepted under pricing="bound" simulates (cycle routing, held-out batch) within budget."""
    T, n_in, H = 8, 6, int(np.random.default_rng(seed).integers(6, 20))
    g = torch.Generator().manual_seed(seed)
    model = make_rsnn(n_in, H, 3, threshold=0.5, seed=seed)
    core = np.arange(H + 3) // SPEC.neurons_per_core
    x = torch.rand(T, 12, n_in, generator=g)
    cfg = ControllerConfig(k_options=(2, 6), T=T, pricing="bound", recurrent=(0,), tile_options=2,
                           plateau=PlateauRule(window=1, eps=1e9))
    bound = estimate_cost(layered_network(n_in, [H, 3], recurrent=(0,)), SPEC, core, 1.0, 1.0, T=T,
                          analog_input=True).energy_pj["total"]
    budget = CostBudget(energy_pj=bound * tight)
    ctl = GrowthController(SPEC, budget, cfg, placer=fill_placer)
    ctl.observe(1.0)
    ctl.observe(1.0)
    with torch.no_grad():
        _, _, hid = run_rsnn(model, x)
    rates = np.full(H + 3, float(hid.mean()))
    pick = ctl.decide(0, n_in, [H, 3], core, rates, np.ones(n_in), [np.ones(6)])
    if tight < 1:
        assert pick is None                    # even the current network is over the bound budget
    if pick is None:
        return
    grow_recurrent(model, pick.k, method="random", generator=g)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * gain)
    xs = np.random.default_rng(seed).uniform(0, 1, (4, T, n_in))
    assert _sim_energy(model, pick.core_of, xs) <= budget.energy_pj


def test_measured_energy_calibrates_every_prediction():
    # The chip measures the current network at twice the model's energy: every candidate's
    # predicted energy doubles, the relative added cost (the choice) does not change, and a
    # budget that the model alone would meet refuses what the calibrated price breaks.
    sizes = [6, 6, 4]
    core, rates, in_rates = _state(sizes, 5)
    sv = [np.array([1.0, 0.5, 0.2]), np.array([0.9, 0.4, 0.1])]
    cfg = ControllerConfig(k_options=(2,), T=10)
    free = GrowthController(SPEC, CostBudget(), cfg, placer=fill_placer)
    base, plain = free.candidates(12, sizes, core, rates, in_rates, sv, analog_input=False)
    e0 = base.energy_pj["total"]
    _, cal = free.candidates(12, sizes, core, rates, in_rates, sv, analog_input=False, measured=2 * e0)
    for a, b in zip(plain, cal):
        assert b.cost.energy_pj["total"] == pytest.approx(2 * a.cost.energy_pj["total"])
        assert b.added == pytest.approx(a.added)
    top = max(c.cost.energy_pj["total"] for c in plain)
    tight = GrowthController(SPEC, CostBudget(energy_pj=1.01 * top), cfg, placer=fill_placer)
    _, ok = tight.candidates(12, sizes, core, rates, in_rates, sv, analog_input=False)
    _, refused = tight.candidates(12, sizes, core, rates, in_rates, sv, analog_input=False, measured=2 * e0)
    assert all(not c.refused for c in ok) and all(any("budget" in r for r in c.refused) for c in refused)
    with pytest.raises(GrowthError, match="measured energy"):
        free.candidates(12, sizes, core, rates, in_rates, sv, analog_input=False, measured=float("nan"))
