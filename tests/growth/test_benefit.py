"""Benefit estimates: Spearman's rho per candidate type on hand-made records; the counterfactual
look-ahead on a real recurrent SNN (identical copies give exactly 0, the model and its optimizer
are left alone); the realised-gain twin on a real spiking MLP run (a twin that is not grown
matches the run exactly; benefit validation does not change the run); averaging over pairs and
batch streams (the mean of the pairs measured one by one; pair / stream 0 is the single one);
bad input."""
import math

import pytest
import torch

from growth.benefit import (RealisedGain, fork_generator, fork_optimizer, lookahead_benefits, lookahead_losses,
                            rank_correlation, repeated_lookahead, stream_seed)
from growth.controller import ControllerConfig, PlateauRule
from growth.errors import GrowthError
from growth.grow_recurrent import count_loss, grow_recurrent
from growth.score import RunConfig, _Run, grow_with_controller
from models.datasets import load_dataset
from models.recurrent import copy_rsnn, make_rsnn, run_rsnn
from models.training import fit, sampled_batches
from mosaic.cost import CostBudget
from mosaic.spec import HardwareSpec


def test_rank_correlation_per_type():
    recs = ([{"type": "0:8", "predicted": p, "realised": r} for p, r in [(1, 10), (2, 20), (3, 25), (4, 40)]]
            + [{"type": "0:16", "predicted": p, "realised": r} for p, r in [(1, 3), (2, 2), (3, 1)]]
            + [{"type": "1:8", "predicted": 1.0, "realised": 2.0}])
    rho = rank_correlation(recs)
    assert rho["0:8"] == {"rho": pytest.approx(1.0), "n": 4}
    assert rho["0:16"]["rho"] == pytest.approx(-1.0)
    assert math.isnan(rho["1:8"]["rho"]) and rho["1:8"]["n"] == 1
    assert rho["all"]["n"] == 8
    # a record without this estimator's (or this realised) figure is left out
    recs.append({"type": "0:8", "gradmax": None, "predicted": float("nan"), "realised": 0.0})
    recs.append({"type": "0:8", "predicted": 5.0, "realised": None, "other": 1.0})
    assert rank_correlation(recs)["0:8"]["n"] == 4
    # another realised column: the 0:8 records ranked against "other" where present
    recs += [{"type": "0:8", "predicted": p, "other": o} for p, o in [(6.0, 0.5), (7.0, 0.2)]]
    assert rank_correlation(recs, realised="other")["0:8"] == {"rho": pytest.approx(-1.0), "n": 3}


def _setup(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(10, 48, 4, generator=g) * 2
    y = torch.randint(0, 3, (48,), generator=g)
    model = make_rsnn(4, 8, 3, threshold=0.5, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, opt, x, y


def _recurrent_lookahead(model, opt, x, y):
    """copy / grow / train / val_loss over (model, optimizer) pairs; candidate 0 grows nothing.
    GradMax's new neurons have zero fan-in and stay silent for a while (a spike-count loss
    does not move); here they get a strong input fan-in at once, so growth shows."""
    def val(c):
        with torch.no_grad():
            return float(count_loss(*run_rsnn(c[0], x[:, :16])[:2], y[:16]))

    def copy(state):
        m = copy_rsnn(state[0])
        return m, fork_optimizer(state[1], m.parameters())

    def grow(c, k):
        if k:
            grow_recurrent(c[0], k, optimizer=c[1], data=(x[:, 16:], y[16:]))
            with torch.no_grad():
                c[0][0].weight[-k:] = 1.0

    def train(c, steps):
        fit(c[1], sampled_batches(32, 8, steps, torch.Generator().manual_seed(1)),
            lambda idx, s: count_loss(*run_rsnn(c[0], x[:, 16 + idx])[:2], y[16 + idx]))

    return dict(copy=copy, grow=grow, train=train, val_loss=val)


def test_twin_lookahead_is_counterfactual_and_leaves_the_model_alone():
    model, opt, x, y = _setup()
    fit(opt, sampled_batches(32, 8, 3, torch.Generator().manual_seed(5)),      # optimizer state to copy
        lambda idx, s: count_loss(*run_rsnn(model, x[:, 16 + idx])[:2], y[16 + idx]))
    before = [p.detach().clone() for p in model.parameters()]
    moments = [(s["step"].clone(), s["exp_avg"].clone()) for s in opt.state.values()]
    fns = _recurrent_lookahead(model, opt, x, y)
    look = lookahead_losses((model, opt), [0, 4, 2, 4], steps=3, **fns)
    assert sorted(look.grown) == [0, 2, 4]
    twin = look.benefits()
    assert twin[0] == 0.0                           # a copy that is not grown is its own twin: same batches
    assert twin[4] != 0.0
    now = look.benefits("now")
    assert now[4] == pytest.approx(twin[4] + look.now - look.twin, abs=1e-9)
    assert look.now != look.twin                    # "now" counts training progress, the twin removes it
    assert lookahead_benefits((model, opt), [4], steps=3, **fns) == {4: twin[4]}
    assert lookahead_benefits((model, opt), [4], steps=3, baseline="now", **fns) == {4: now[4]}
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))   # the model is untouched
    assert all(torch.equal(s["step"], m[0]) and torch.equal(s["exp_avg"], m[1])   # ... and its optimizer
               for s, m in zip(opt.state.values(), moments))


def test_forks_are_independent():
    model, opt, x, y = _setup()
    gen = torch.Generator().manual_seed(3)
    fit(opt, sampled_batches(32, 8, 2, gen), lambda idx, s: count_loss(*run_rsnn(model, x[:, idx])[:2], y[idx]))
    state = {id(p): {k: v.clone() for k, v in s.items()} for p, s in opt.state.items()}
    m = copy_rsnn(model)
    o = fork_optimizer(opt, m.parameters())
    g = fork_generator(gen)
    fit(o, sampled_batches(32, 8, 2, g), lambda idx, s: count_loss(*run_rsnn(m, x[:, idx])[:2], y[idx]))
    assert all(torch.equal(v, state[id(p)][k]) for p, s in opt.state.items() for k, v in s.items())
    ref = torch.Generator().manual_seed(3)          # gen drew its 2 batches only, not the fork's
    [torch.randint(32, (8,), generator=ref) for _ in range(2)]
    g2 = fork_generator(gen)
    a, b, c = (torch.randint(100, (5,), generator=q) for q in (gen, ref, g2))
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(m[0].weight, model[0].weight)


def test_bad_input_names_the_value():
    model, opt, x, y = _setup()
    fns = _recurrent_lookahead(model, opt, x, y)
    with pytest.raises(GrowthError, match="look-ahead steps must be a positive integer, got 0"):
        lookahead_benefits((model, opt), [2], steps=0, **fns)
    with pytest.raises(GrowthError, match="unknown look-ahead baseline 'future'"):
        lookahead_benefits((model, opt), [2], steps=1, baseline="future", **fns)
    with pytest.raises(GrowthError, match="without its twin"):
        lookahead_losses((model, opt), [2], steps=1, twin=False, **fns).benefits("twin")
    with pytest.raises(GrowthError, match="horizon must be a positive number of training steps, got 0"):
        RealisedGain(0)


# ------------------------------------------------------------------ the realised gain, spiking MLP
@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def _cfg():
    return RunConfig(steps=24, batch_size=64, lr=1e-2, n_sim=0, seed=0)


def test_a_twin_that_is_not_grown_matches_the_run(digits):
    run = _Run(digits, HardwareSpec.preset("mosaic-4x4"), None, (8, 8), _cfg())
    run.train(4, 0)
    gains = RealisedGain(8)
    twin = run.fork()
    gains.start({"type": "layer:0"}, run.val(), lambda n, s0: twin.train(n, s0), twin.val)
    for s0 in (4, 8):
        run.train(4, s0)
        gains.advance(4, s0)
    gains.close(run.val())
    (rec,) = gains.records
    assert rec["realised"] == 0.0 and rec["realised_accuracy"] == 0.0 and rec["horizon_steps"] == 8
    assert rec["realised_now"] != 0.0            # training progress is not a gain of growth
    assert all(torch.equal(a, b) for a, b in zip(run.model.parameters(), twin.model.parameters()))


def test_close_calls_a_lazy_measurement_only_for_an_open_gain():
    calls = []

    def val():
        calls.append(1)
        return 0.5, 0.75

    gains = RealisedGain(4)
    gains.close(val)                             # nothing open: not measured
    assert calls == [] and gains.records == []
    gains.start({"type": "layer:1"}, (0.9, 0.5))
    gains.advance(2, 0)
    gains.close(val)
    (rec,) = gains.records
    assert calls == [1] and rec["horizon_steps"] == 2
    assert rec["realised_now"] == pytest.approx(0.4) and rec["realised_now_accuracy"] == pytest.approx(0.25)


def _controlled(digits, validate, estimator="gradmax", look_steps=2, **repeats):
    cc = ControllerConfig(k_options=(4,), max_sizes=(20, 20), check_every=2, plateau=PlateauRule(window=1, eps=0.5),
                          T=10)
    return grow_with_controller(HardwareSpec.preset("mosaic-4x4"), CostBudget(energy_pj=4e5), digits, (8, 8),
                                controller=cc, config=_cfg(), estimator=estimator, validate_benefit=validate,
                                look_steps=look_steps, **repeats)


def test_benefit_validation_does_not_change_the_run(digits):
    off, on = _controlled(digits, False), _controlled(digits, True)
    assert off.events == on.events and len(on.events) >= 2
    a, b = off.model.state_dict(), on.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["accuracy"] for r in off.rows] == [r["accuracy"] for r in on.rows]
    assert [r["energy_pj"] for r in off.rows] == [r["energy_pj"] for r in on.rows]
    assert len(on.benefit) == len(on.events)
    for a, b in zip(off.benefit, on.benefit):
        assert a["realised"] is None and a["lookahead"] is None and b["lookahead"] is not None
        assert b["realised"] is not None and math.isfinite(b["realised"])
        assert a["realised_now"] == b["realised_now"] and a["gradmax"] == b["gradmax"] > 0
        assert b["type"] == f"layer:{b['layer']}" and b["horizon_steps"] == 4


def test_controller_grows_by_lookahead(digits):
    s = _controlled(digits, False, "lookahead")
    assert s.benefit and all(b["predicted"] == b["lookahead"] > 0 for b in s.benefit)
    with pytest.raises(GrowthError, match="unknown benefit estimator 'oracle'"):
        _controlled(digits, False, "oracle")
    with pytest.raises(GrowthError, match="look-ahead steps must be a positive integer, got 0"):
        grow_with_controller(HardwareSpec.preset("mosaic-4x4"), CostBudget(energy_pj=4e5), digits, (8, 8),
                             config=_cfg(), estimator="lookahead", look_steps=0)
    with pytest.raises(GrowthError, match="look_batch must be a positive number of samples or None, got 0"):
        grow_with_controller(HardwareSpec.preset("mosaic-4x4"), CostBudget(energy_pj=4e5), digits, (8, 8),
                             config=_cfg(), look_batch=0)


# ------------------------------------------------------------------ repeats: pairs and batch streams
def _trained_pair(grown, twin, seed, steps):
    """One pair measured alone, by hand: copies of ``grown`` and ``twin`` trained ``steps`` on
    the batches of ``seed`` (None: the generators they carry), gain L_val(twin) - L_val(grown)."""
    g, t = grown.fork(), twin.fork()
    if seed is not None:
        g.gen, t.gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    for s0 in range(0, steps, 4):
        g.train(4, s0)
        t.train(4, s0)
    (gl, ga), (tl, ta) = g.val(), t.val()
    return tl - gl, ga - ta


def test_realised_gain_over_pairs_is_the_mean_of_the_pairs_measured_alone(digits):
    run = _Run(digits, HardwareSpec.preset("mosaic-4x4"), None, (8, 8), _cfg())
    run.train(6, 0)
    before = run.val()
    twin = run.fork()
    run.grow(0, 4, "random")
    twin.gen = fork_generator(run.gen)
    snap_g, snap_t = run.fork(), twin.fork()                 # the pair at the growth, kept aside
    seeds = [stream_seed(0, 0, r, pairs=True) for r in range(3)]
    gains = RealisedGain(8, repeats=3)
    gains.start({"type": "layer:0"}, before, lambda n, s0: twin.train(n, s0), twin.val,
                lambda r: run.pair(twin, seeds[r], None))
    for s0 in (6, 10):
        run.train(4, s0)
        gains.advance(4, s0)
    gains.close(run.val())
    (rec,) = gains.records
    alone = [_trained_pair(snap_g, snap_t, None, 8)] + [_trained_pair(snap_g, snap_t, seeds[r], 8) for r in (1, 2)]
    assert rec["realised_pairs"] == pytest.approx([a for a, _ in alone], abs=1e-7)
    assert len(set(rec["realised_pairs"])) == 3                       # own batch streams: the pairs differ
    assert rec["realised"] == pytest.approx(sum(a for a, _ in alone) / 3, abs=1e-7)
    assert rec["realised_accuracy"] == pytest.approx(sum(b for _, b in alone) / 3, abs=1e-7)
    sd = torch.tensor(rec["realised_pairs"], dtype=torch.float64).std().item()
    assert rec["realised_se"] == pytest.approx(sd / math.sqrt(3))
    assert rec["horizon_steps"] == 8


@pytest.mark.slow       # 12-15 s; the recurrent loop's repeats test runs by default
def test_repeats_keep_pair_and_stream_zero_and_average_them(digits):
    one = _controlled(digits, True, look_steps=8)        # long enough for new neurons to fire
    many = _controlled(digits, True, look_steps=8, look_repeats=3, validate_repeats=3)
    assert one.events == many.events and len(one.events) >= 2      # GradMax decides: the run is the same
    for a, b in zip(one.benefit, many.benefit, strict=True):
        assert "realised_pairs" not in a and "lookahead_streams" not in a      # repeats=1: the records as before
        assert b["realised_pairs"][0] == a["realised"] and len(b["realised_pairs"]) == 3
        assert b["realised"] == pytest.approx(sum(b["realised_pairs"]) / 3)
        assert b["lookahead_streams"][0] == a["lookahead"] and len(set(b["lookahead_streams"])) == 3
        assert b["lookahead"] == pytest.approx(sum(b["lookahead_streams"]) / 3)
        same = {k: v for k, v in b.items() if k not in ("realised", "realised_accuracy", "realised_pairs",
                                                         "realised_se", "lookahead", "lookahead_streams", "lookahead_now")}
        assert same == {k: v for k, v in a.items() if k not in ("realised", "realised_accuracy", "lookahead", "lookahead_now")}


def test_repeated_lookahead_is_the_mean_over_streams():
    model, opt, x, y = _setup()
    fns = _recurrent_lookahead(model, opt, x, y)

    def look(stream):
        def train(c, steps):
            fit(c[1], sampled_batches(32, 8, steps, torch.Generator().manual_seed(stream_seed(0, 3, stream))),
                lambda idx, s: count_loss(*run_rsnn(c[0], x[:, 16 + idx])[:2], y[16 + idx]))
        return lookahead_losses((model, opt), [0, 2], steps=3, **{**fns, "train": train})

    single = [look(r) for r in range(3)]
    mean = repeated_lookahead(look, 3)
    assert mean.stream_benefits(2) == [s.benefits()[2] for s in single]
    assert mean.benefits()[2] == pytest.approx(sum(s.benefits()[2] for s in single) / 3)
    assert mean.benefits()[0] == 0.0 and len({s.twin for s in single}) == 3
    assert repeated_lookahead(look, 1) == single[0] and single[0].stream_benefits(2) == [single[0].benefits()[2]]


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_bad_repeats_name_the_value(digits, bad):
    with pytest.raises(GrowthError, match=f"validate_repeats must be a positive integer.*got {bad!r}"):
        RealisedGain(4, repeats=bad)
    with pytest.raises(GrowthError, match=f"look_repeats must be a positive integer.*got {bad!r}"):
        repeated_lookahead(lambda r: None, bad)
    with pytest.raises(GrowthError, match=f"look_repeats must be a positive integer.*got {bad!r}"):
        grow_with_controller(HardwareSpec.preset("mosaic-4x4"), CostBudget(energy_pj=4e5), digits, (8, 8),
                             config=_cfg(), look_repeats=bad)
    with pytest.raises(GrowthError, match=f"validate_repeats must be a positive integer.*got {bad!r}"):
        grow_with_controller(HardwareSpec.preset("mosaic-4x4"), CostBudget(energy_pj=4e5), digits, (8, 8),
                             config=_cfg(), validate_benefit=True, validate_repeats=bad)
    gains = RealisedGain(4, repeats=2)
    with pytest.raises(GrowthError, match="validate_repeats=2 needs the extra pairs' fork"):
        gains.start({"type": "layer:0"}, (1.0, 0.5), lambda n, s0: None, lambda: (1.0, 0.5))
