"""The cost of tuning: streams tagged by role, the search sees validation streams only, the
quick study end to end on a real LocalCluster, and a search killed mid-way resumes with no
trial lost or repeated."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mosaic_grow.store import ResultStore, config_hash
from mosaic_grow.studies.tuning import (DB, METHODS, TuningConfig, TuningError, data_role, figure, make_stream,
                                        objective, run_all, run_study, stream_ids, table, targets, trial_config)

ROOT = Path(__file__).resolve().parents[2]
TINY = {"lr": 1e-2, "epochs": 1}


def test_streams_are_tagged_and_differ_between_roles():
    val, test = make_stream("validation-0", True), make_stream("test-0", True)
    assert data_role(val.tasks) == "validation" and data_role(test.tasks) == "test"
    assert all(t.name.startswith("test-0|") for t in test.tasks)
    order = [tuple(np.unique(t.y_train)) for t in val.tasks]
    assert order != [tuple(np.unique(t.y_train)) for t in test.tasks]         # another class order
    assert set(stream_ids("validation", 3)).isdisjoint(stream_ids("test", 3))
    with pytest.raises(TuningError, match="role"):
        make_stream("train-0", True)


def test_the_objective_refuses_a_test_stream():
    val, test = make_stream("validation-0", True), make_stream("test-1", True)
    (acc,) = objective("fine-tune", TINY, [val])
    assert 0.0 <= acc <= 1.0
    with pytest.raises(TuningError, match="test-1 is tagged 'test'"):
        objective("fine-tune", TINY, [val, test])
    with pytest.raises(TuningError, match="mixes tasks"):                     # a stream spliced from both
        objective("fine-tune", TINY, [type(val)("validation-0", val.tasks[:3] + test.tasks[3:])])


def _rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT hash, config, status, result, finished FROM runs").fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_quick_study_end_to_end_writes_its_figure_and_never_searches_a_test_stream(tmp_path):
    cfg = TuningConfig.quick_run()
    records = run_study(cfg, tmp_path, workers=2)
    (t,) = targets(records, cfg)
    assert t["target"] == "tuning_curve_methods" and t["value"] == len(METHODS) == 8 and t["met"]
    curves = [r for r in records if r["kind"] == "curve"]
    assert {(r["method"], r["trials"]) for r in curves} == {(m, n) for m in METHODS for n in cfg.checkpoints}
    for r in curves:                                                          # the incumbent only improves
        trials = [x for x in records if x["kind"] == "trial" and x["method"] == r["method"]][:r["trials"]]
        assert r["val"] == max(x["value"] for x in trials if x["value"] is not None)
        assert r["gap"] == pytest.approx(r["val"] - r["test"])
    rows = [(json.loads(c), s, json.loads(res) if res else None) for _, c, s, res, _ in _rows(tmp_path / DB)]
    search = [(c, res) for c, s, res in rows if c["role"] == "validation"]
    assert len(search) == cfg.trials * len(METHODS)
    for c, res in search:                                                     # what the trial's data said
        assert all(i.startswith("validation-") for i in c["streams"])
        assert res["data_roles"] == ["validation"] * cfg.val_streams
    tested = [res for c, s, res in rows if c["role"] == "test"]
    assert tested and all(res["data_roles"] == ["test"] * cfg.test_streams for res in tested)
    assert "hw-controller" in table(records)
    png = tmp_path / "tuning.png"
    figure(records, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


@pytest.mark.slow
def test_a_killed_search_resumes_without_losing_or_repeating_a_trial(tmp_path):
    n = 10
    cmd = [sys.executable, str(ROOT / "examples" / "study_tuning.py"), "--quick", "--methods", "fine-tune",
           "--trials", str(n), "--batch", "1", "--workers", "1", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    db = tmp_path / DB
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the search ended before it was killed: {proc.stderr.read()[-2000:]}"
            if db.exists() and sum(r[2] == "ok" for r in _safe_rows(db)) >= 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail("no two trials finished within 300 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)                                   # the script and its Dask workers
        proc.wait()
    before = {h: fin for h, _, s, _, fin in _rows(db) if s == "ok"}
    assert 2 <= len(before) < n
    cfg = TuningConfig.quick_run(methods=("fine-tune",), trials=n, batch=1, checkpoints=(1, n))
    records = run_study(cfg, tmp_path, workers=1)
    after = _rows(db)
    search = [(h, json.loads(c), fin) for h, c, s, _, fin in after if json.loads(c)["role"] == "validation"]
    assert sorted(c["trial"] for _, c, _ in search) == list(range(n))        # none lost, none twice
    assert all(s == "ok" for _, _, s, _, _ in after)
    for h, fin in before.items():                                             # finished before the kill: kept
        assert dict((hh, ff) for hh, _, ff in search)[h] == fin
    assert [r["number"] for r in records if r["kind"] == "trial"] == list(range(n))


def _safe_rows(db: Path) -> list[tuple]:
    try:
        return _rows(db)
    except sqlite3.OperationalError:                                          # schema not created yet
        return []


def test_a_trial_another_live_process_is_running_is_waited_for_not_told_failed(tmp_path):
    cfg = TuningConfig.quick_run(methods=("fine-tune",))
    c = trial_config(cfg, "fine-tune", 0, TINY)
    mine, other = ResultStore(tmp_path / DB), ResultStore(tmp_path / DB)   # two owners of one file
    assert other.claim_runs([config_hash(c)]) == [config_hash(c)]

    def finish():                                 # the other process finishes it (own connection: own thread)
        time.sleep(1.5)
        with ResultStore(tmp_path / DB) as late:
            late.put(c, "ok", {"value": 0.25}, None, 0.0)

    th = threading.Thread(target=finish)
    th.start()
    t0 = time.monotonic()
    run_all([c], mine, None)                                                  # no run of its own: waits
    th.join()
    assert time.monotonic() - t0 >= 1.0
    (rec,) = mine.records()
    assert rec["result"] == {"value": 0.25}                                   # the other process's result
    mine.close()
    other.close()
