"""The growth-path experiment in a reduced setting, and its statistics."""
import json

import numpy as np
import pytest
from scipy import stats

from growth.errors import GrowthError
import torch

from growth.paths import (ARMS, PATHS, PathConfig, PathReport, paired_tests, path_schedules, plot_reports, protocol_batches,
                          run_paths, verdict)


def test_protocol_draws_exactly_900_batches_of_128():
    cfg = PathConfig()
    small = protocol_batches(1437, cfg, seed=0)  # digits' training set: with replacement
    assert len(small) == 900 and all(b.shape == (128,) for b in small)
    assert all(0 <= int(b.min()) and int(b.max()) < 1437 for b in small)
    assert len(torch.cat(small).unique()) == 1437  # 115,200 draws from 1,437 samples reach all
    large = protocol_batches(300 * 128, cfg, seed=0)  # big enough: one permutation per epoch
    assert len(large) == 900
    for ep in range(3):
        assert len(torch.cat(large[300 * ep:300 * (ep + 1)]).unique()) == 300 * 128
    assert torch.equal(protocol_batches(1437, cfg, seed=0)[5], small[5])  # paired: same seed, same batches


@pytest.mark.slow
def test_full_protocol_runs_900_steps_per_arm():
    cfg = PathConfig(root=(2, 2), target=(4, 4), k=1, trials=1, n_train=200, n_test=100, method="random")
    rep = run_paths(cfg, progress=False)
    assert rep.steps == 900 and rep.eval_steps[-1] == 900
    assert len(rep.eval_steps) == 5 and rep.eval_steps[0] > 0  # 4 growth steps spread over 900


def test_small_experiment_runs_paired_and_reaches_target(tmp_path):
    cfg = PathConfig(root=(3, 3), target=(9, 9), k=3, epochs=2, batches_per_epoch=4, trials=2, n_train=400,
                     n_test=100)
    rep = run_paths(cfg, progress=False)
    assert set(rep.acc) == set(ARMS) and all(len(v) == 2 for v in rep.acc.values())
    assert all(0 <= a <= 1 for v in rep.acc.values() for a in v)
    # 400 samples -> 4 batches/epoch, 8 steps, 4 growth events evenly spaced
    assert rep.eval_steps == [1, 3, 4, 6, 8]
    assert all(len(c) == 5 for v in rep.curves.values() for c in v)
    # paired: every arm starts from the same root network, so the curves agree until the
    # first growth step
    assert len({rep.curves[a][0][0] for a in ("root",) + PATHS}) == 1
    assert rep.schedules["first-layer-first"] == [0, 0, 1, 1]
    assert rep.schedules["alternating"] == [0, 1, 0, 1]
    assert len(rep.pairs) == 15
    assert rep.verdict.split(":")[0] in ("HOLDS", "NOT SHOWN", "DOES NOT HOLD")
    table = rep.table()
    for arm in ARMS:
        assert arm in table
    rep.plot(tmp_path / "paths.png")
    assert (tmp_path / "paths.png").stat().st_size > 1000
    assert rep.to_dict()["config"]["k"] == 3
    back = PathReport.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back.acc == rep.acc and back.pairs == rep.pairs and back.config == rep.config
    plot_reports([rep, back], tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 1000
    with pytest.raises(GrowthError, match="no reports"):
        plot_reports([])


def test_paired_tests_match_scipy():
    rng = np.random.default_rng(0)
    acc = {a: list(rng.uniform(0.6, 0.9, 10)) for a in ARMS}
    acc["alternating"] = [v + 0.03 + 0.01 * i for i, v in enumerate(acc["first-layer-first"])]
    pairs = {(p.a, p.b): p for p in paired_tests(acc)}
    p = pairs[("first-layer-first", "alternating")]
    assert p.mean_diff == pytest.approx(-0.075)
    assert p.p_wilcoxon == pytest.approx(2 / 2**10)  # all 10 differences negative: exact p
    assert p.p_ttest == pytest.approx(stats.ttest_rel(acc["first-layer-first"], acc["alternating"]).pvalue)


def test_verdicts():
    base = np.linspace(0.70, 0.80, 10)
    acc = {a: list(base) for a in ARMS}
    acc["first-layer-first"] = list(base + 0.05 + 0.001 * np.arange(10))
    assert verdict(acc, paired_tests(acc)).startswith("HOLDS")
    acc["random"] = list(base + 0.06 + 0.001 * np.arange(10))
    v = verdict(acc, paired_tests(acc))
    assert v.startswith("DOES NOT HOLD: random")
    # first-layer-first ahead by 0.1 points on average, but the sign flips trial to trial
    acc["random"] = list(np.array(acc["first-layer-first"]) - 0.001 + 0.01 * (-1.0) ** np.arange(10))
    assert verdict(acc, paired_tests(acc)).startswith("NOT SHOWN")


def test_schedules_of_a_trial_and_bad_config():
    s = path_schedules(PathConfig(), 900, trial_seed=1)
    assert all(x.final_sizes() == [100, 100] for x in s.values())
    with pytest.raises(GrowthError, match="root"):
        PathConfig(root=(10, 10), target=(5, 100))
    with pytest.raises(GrowthError, match="cannot hold"):
        run_paths(PathConfig(epochs=1, batches_per_epoch=5, trials=1), progress=False)


def _write_idx(path, arr):
    code = {np.uint8: 0x08}[arr.dtype.type]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(header + arr.tobytes())


def test_runs_on_mnist_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for part, n in (("train", 300), ("t10k", 60)):
        y = np.arange(n, dtype=np.uint8) % 10
        x = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        x[np.arange(n), y, :] = 255  # a class-coded bright row makes the task learnable
        _write_idx(tmp_path / f"{part}-images-idx3-ubyte", x)
        _write_idx(tmp_path / f"{part}-labels-idx1-ubyte", y)
    cfg = PathConfig(dataset="mnist", data_path=str(tmp_path), root=(2, 2), target=(4, 4), k=1,
                     epochs=3, batches_per_epoch=10, batch_size=32, trials=2)
    rep = run_paths(cfg, progress=False)
    assert len(rep.acc["target"]) == 2 and rep.eval_steps[-1] == 30
    assert max(rep.acc["target"]) > 0.2  # above chance (0.1)
