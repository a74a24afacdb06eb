"""The width study end to end in its quick mode (real training, real CP-SAT-free greedy
placement, real chip simulation), and the properties its figures rest on."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mosaic_grow.errors import AppError
from mosaic_grow.studies.width import (WidthConfig, load_checkpoint, run_width, width_figure, width_table,
                                       width_targets)


@pytest.fixture(scope="module")
def records():
    """The quick study (11-15 s): the tests that take it are marked slow."""
    cfg = WidthConfig.quick()
    return cfg, run_width(cfg, progress=False)


@pytest.mark.slow
def test_quick_run_covers_every_point_and_writes_its_figure(records, tmp_path):
    cfg, recs = records
    keys = {(r["sequence"], r["method"], r["width"]) for r in recs}
    assert keys == {(s, m, w) for s in cfg.sequences for m in cfg.methods for w in cfg.widths}
    for r in recs:
        assert 0 <= r["acc"] <= 1 and np.isfinite(r["forgetting"]) and r["energy_pj"] > 0
    path = tmp_path / "width.png"
    width_figure(recs, path, base=cfg.presets[0])
    assert path.stat().st_size > 5000
    table = width_table(recs)
    assert all(m in table for m in cfg.methods) and "mosaic-8x8" in table


@pytest.mark.slow
def test_a_network_too_large_for_the_base_chip_moves_up_with_the_mappers_error(records):
    cfg, recs = records
    for r in recs:
        needed = sum(r["hidden"]) + 2        # the largest chip network: every hidden unit and one 2-class head
        fits_base = needed <= 512            # mosaic-4x4: 16 tiles x 32 neurons
        assert r["preset"] == ("mosaic-4x4" if fits_base else "mosaic-8x8"), r
        if not fits_base:
            msg = r["not_fit"]["mosaic-4x4"]
            assert msg.startswith("capacity:") and "512 slots" in msg and "mosaic-4x4" in msg


@pytest.mark.slow
def test_rate_bound_energy_rises_with_width(records):
    cfg, recs = records
    for seq in cfg.sequences:
        for m in cfg.methods:
            e = [r["bound_energy_pj"] for r in sorted(recs, key=lambda r: r["width"])
                 if r["sequence"] == seq and r["method"] == m]
            assert all(b > a for a, b in zip(e, e[1:])), (seq, m, e)


def test_gradmax_cl_with_frozen_weights_keeps_old_tasks():
    recs = run_width(WidthConfig(widths=(16,), sequences=("split-digits",),
                                                   methods=("GradMax-CL",), seeds=1, epochs=1, T=4, per_task=1,
                                                   presets=("mosaic-4x4",),
                                                   n_train=(("digits", 200), ("mnist5k", 200), ("mnist1d", 200)),
                                                   n_test=(("digits", 100), ("mnist5k", 100), ("mnist1d", 100))),
                     progress=False)
    assert recs[0]["forgetting"] == 0.0 and recs[0]["hidden"] == [16 + 4 * 2, 16 + 4 * 2]


def test_bad_config_is_refused():
    with pytest.raises(AppError, match="unknown sequence or method"):
        WidthConfig(methods=("SGD",))
    with pytest.raises(AppError, match="fits none of the presets"):
        run_width(WidthConfig(widths=(512,), sequences=("split-digits",), methods=("fine-tune",), seeds=1, epochs=1,
                              presets=("mosaic-4x4",), n_train=(("digits", 100), ("mnist5k", 1), ("mnist1d", 1)),
                              n_test=(("digits", 50), ("mnist5k", 1), ("mnist1d", 1))), progress=False)


@pytest.mark.slow
def test_target_line_counts_complete_widths(records):
    cfg, recs = records
    lines = width_targets(recs, cfg, quick=True)
    assert [d["target"] for d in lines] == ["width_points", "width_widest_forgets_less",
                                            "width_energy_widest_over_narrowest"]
    assert lines[2]["value"] > 1 and 0 <= lines[1]["value"] <= 1
    d = lines[0]
    assert d["value"] == 2 and d["met"] is False and set(d["per_sequence"]) == set(WidthConfig().sequences)
    assert d["preset_per_width"] == {"16": ["mosaic-4x4"], "256": ["mosaic-8x8"]}
    assert d["not_fit_example"]["width"] == 256 and "capacity" in d["not_fit_example"]["mosaic-4x4"]
    incomplete = [r for r in recs if not (r["sequence"] == "split-digits" and r["width"] == 16)]
    assert width_targets(incomplete, cfg, quick=True)[0]["per_sequence"]["split-digits"] == 1


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    cfg = WidthConfig(widths=(16,), sequences=("split-digits",), methods=("fine-tune",), seeds=2, epochs=1, T=4,
                      per_task=1, presets=("mosaic-4x4",), n_train=(("digits", 100), ("mnist5k", 1), ("mnist1d", 1)),
                      n_test=(("digits", 50), ("mnist5k", 1), ("mnist1d", 1)))
    ckpt = tmp_path / "width.jsonl"
    first = run_width(replace(cfg, seeds=1), checkpoint=ckpt, progress=False)     # "killed" after seed 0
    assert [r["seed"] for r in load_checkpoint(ckpt)] == [0]
    both = run_width(cfg, checkpoint=ckpt, progress=False)                        # runs seed 1 only
    assert both[0] == first[0] and [r["seed"] for r in both] == [0, 1]
    assert [r["seed"] for r in load_checkpoint(ckpt)] == [0, 1]
    other = run_width(replace(cfg, seeds=1, epochs=2), checkpoint=ckpt, progress=False)   # another protocol
    assert other[0]["wall_s"] != first[0]["wall_s"]                                       # was measured anew
