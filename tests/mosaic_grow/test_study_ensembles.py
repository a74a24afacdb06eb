"""Ensembles under an energy budget: the sizing rule, the ensemble vote, the subspace line,
energy summed over the networks run on the real chip, and the quick study end to end."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from growth.baselines import EWC, TrainConfig, run_sequence
from growth.baselines.chip import chip_figures
from mosaic import HardwareSpec
from mosaic_grow.studies.ensembles import (CHIP, Ensemble, EnsembleConfig, StudyError, SubspaceLine,
                                           energy_per_inference, figure, member_width, run_study, table, targets,
                                           task_sequence)


def test_member_width_matches_k_times_energy_to_the_budget():
    widths, energies = [8, 16, 32, 64], [80.0, 160.0, 320.0, 640.0]        # E = 10 w
    assert member_width(2, 640.0, widths, energies, 64) == 32
    assert member_width(4, 640.0, widths, energies, 64) == 16
    assert member_width(16, 640.0, widths, energies, 64) == 4                  # below the grid: extrapolated
    quad = [w * w for w in widths]                                             # E = w^2: k E(w) = 64^2 at 64/sqrt(k)
    assert member_width(4, 64.0 ** 2, widths, quad, 64) == 32


def test_ensemble_votes_by_mean_softmax():
    torch.manual_seed(0)
    sizes = [6, 5, 4]
    members = [EWC(sizes, lam=0.0, train=TrainConfig(seed=s)) for s in (0, 1, 2)]
    ens = Ensemble(members)
    x = torch.rand(7, 6)
    want = torch.stack([torch.softmax(m.model(x), 1) for m in members]).mean(0)
    assert torch.allclose(ens.logits(x, 0).exp(), want, atol=1e-6)
    assert ens.n_neurons() == 3 * 9 and ens.n_parameters() == sum(m.n_parameters() for m in members)


def test_subspace_line_points_interpolate_the_endpoints():
    line = SubspaceLine([6, 5, 4], samples=3, train=TrainConfig(seed=0))
    p0, p1, mid = (dict(line.point(a).named_parameters()) for a in (0.0, 1.0, 0.5))
    for k in p0:
        assert torch.allclose(p0[k], line.ends[0][k]) and torch.allclose(p1[k], line.ends[1][k])
        assert torch.allclose(mid[k], (line.ends[0][k] + line.ends[1][k]) / 2)
    assert not torch.allclose(p0["0.weight"], p1["0.weight"])                 # two different endpoints
    assert line.alphas == pytest.approx([1 / 6, 1 / 2, 5 / 6])
    x = torch.rand(4, 6)
    want = torch.stack([torch.softmax(line.point(a)(x), 1) for a in line.alphas]).mean(0)
    assert torch.allclose(line.logits(x, 0).exp(), want, atol=1e-6)


def test_subspace_line_training_moves_both_endpoints_and_learns():
    tasks = task_sequence("split-digits", 0)[:2]                               # ~290 training samples each
    line = SubspaceLine([64, 16, 16, 10], samples=2, train=TrainConfig(epochs=5, lr=1e-2, seed=0))
    before = [{k: v.detach().clone() for k, v in e.items()} for e in line.ends]
    R = run_sequence(line, tasks).R
    assert all(not torch.equal(before[i]["0.weight"], line.ends[i]["0.weight"]) for i in (0, 1))
    assert R[0, 0] > 0.8                                                       # 2 classes, well above chance


def test_ensemble_energy_is_the_sum_of_its_networks_on_the_chip():
    tasks = task_sequence("split-digits", 0, n_train=200)
    cfg = EnsembleConfig.quick()
    members = [EWC([64, 8, 8, 10], lam=0.0, train=TrainConfig(epochs=1, seed=s)) for s in (0, 1)]
    ens = Ensemble(members)
    run_sequence(ens, tasks)
    spec = HardwareSpec.preset(CHIP)
    alone = [chip_figures(m, tasks, spec, T=cfg.T, per_task=cfg.per_task, routing="cycle").energy_pj for m in members]
    assert energy_per_inference(ens, tasks, spec, cfg) == pytest.approx(sum(alone), rel=1e-9)
    assert min(alone) > 0


def test_bad_requests_are_refused():
    with pytest.raises(StudyError, match="unknown task sequence"):
        EnsembleConfig(sequences=("split-cifar",))
    with pytest.raises(StudyError, match=">= 2 seeds"):
        EnsembleConfig(seeds=1)
    with pytest.raises(StudyError, match="measured widths"):
        EnsembleConfig(width=48)


def test_quick_study_end_to_end_writes_its_figure(tmp_path):
    records = run_study(EnsembleConfig.quick(), progress=False)
    kinds = {(r["kind"], r["k"]) for r in records}
    assert kinds == {("sizing", 1), ("single", 1), ("ensemble", 2), ("subspace", 2)}
    sizing = sorted((r for r in records if r["kind"] == "sizing"), key=lambda r: r["width"])
    assert np.all(np.diff([r["energy_pj"] for r in sizing]) > 0)               # wider costs more on the chip
    (t,) = targets(records)
    assert t["target"] == "ensemble_vs_single_equal_energy" and set(t) >= {"value", "goal", "met", "p_value"}
    assert 0.0 <= t["p_value"] <= 1.0
    for c in t["comparisons"]:
        assert c["width"] < EnsembleConfig.quick().width and c["seeds"] == 2
        assert t["met"] == all(0.75 <= lo and hi <= 1.25 for lo, hi in [c["energy_ratio_range"]
                                                                         for c in t["comparisons"]])
    assert "ensemble" in table(records) and "subspace" in table(records)
    png = tmp_path / "ens.png"
    figure(records, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
