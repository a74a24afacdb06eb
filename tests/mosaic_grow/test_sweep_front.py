"""The [front] sweep kind: the grid of front points, its config checks, and a sweep killed
mid-way (SIGKILL of `mosaic sweep` and its Dask workers) resumed on a real LocalCluster with
nothing repeated or lost."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from growth.fronts import settings
from mosaic_grow.sweep import (
    SweepError,
    close_client,
    expand,
    make_client,
    open_store,
    parse_config,
    run_sweep,
)

DOC = {"front": {"workloads": ["digits_mlp"], "strategies": ["fixed", "random"], "quick": True},
       "sweep": {"seeds": [0]}}
TOML = ('[front]\nworkloads = ["digits_mlp"]\nstrategies = ["fixed", "random"]\nquick = true\n'
        '[sweep]\nseeds = [0]\n')


def test_front_grid_is_workload_strategy_setting_seed():
    configs = expand(parse_config(DOC))
    n = sum(len(settings("digits_mlp", s, quick=True)) for s in ("fixed", "random")) * len(DOC["sweep"]["seeds"])
    assert len(configs) == n
    assert all(set(c) == {"front", "seed"} for c in configs)
    assert {(c["front"]["strategy"], c["front"]["setting"]) for c in configs} == {
        (s, x) for s in ("fixed", "random") for x in settings("digits_mlp", s, quick=True)}


@pytest.mark.parametrize("doc, words", [
    ({"front": {"workloads": ["cifar_mlp"]}}, "cifar_mlp"),
    ({"front": {"workloads": ["digits_mlp"], "strategies": ["greedy"]}}, "greedy"),
    ({"front": {"workloads": ["digits_mlp"], "budget": 3}}, "front.budget"),
    ({"front": {"strategies": ["fixed"]}}, "workloads"),
    ({"front": {"workloads": ["digits_mlp"]}, "hardware": {"preset": "mosaic-4x4"}}, "hardware"),
    ({"front": {"workloads": ["digits_mlp"]}, "sweep": {"seeds": [0], "steps": 5}}, "sweep.steps"),
    ({"front": {"workloads": ["digits_mlp"], "quick": "yes"}}, "front.quick"),
])
def test_bad_front_config_names_the_key(doc, words):
    with pytest.raises(SweepError, match=words):
        parse_config(doc)


def _ok_rows(db) -> dict[str, str]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return dict(con.execute("SELECT hash, result FROM runs WHERE status = 'ok'").fetchall())
    except sqlite3.OperationalError:          # not created yet
        return {}


@pytest.mark.slow
def test_killed_front_sweep_resumes_without_repeats_or_losses(tmp_path):
    cfg, db = tmp_path / "front.toml", tmp_path / "front.sqlite"
    cfg.write_text(TOML)
    configs = expand(parse_config(DOC))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    code = ("import sys; from mosaic_grow.cli import main; "
            f"sys.exit(main(['sweep', {str(cfg)!r}, '--db', {str(db)!r}, '--workers', '2']))")
    proc = subprocess.Popen([sys.executable, "-c", code],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 600
        while not _ok_rows(db) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)             # the CLI and its Dask workers, mid-sweep
        proc.wait()
    before = _ok_rows(db)
    assert 1 <= len(before) < len(configs), proc.stderr.read()[-2000:]
    client = make_client(workers=2)                     # a real LocalCluster
    try:
        with open_store(db, resume=True) as store:
            stats = run_sweep(configs, store, client=client, progress=False)
            assert (stats.skipped, stats.failed) == (len(before), 0), stats.errors
            assert stats.executed == len(configs) - len(before)
            assert len(store) == len(configs) and len(store.hashes("ok")) == len(configs)
    finally:
        close_client(client)
    after = _ok_rows(db)
    assert {h: after[h] for h in before} == before       # stored points untouched: nothing repeated
    points = [json.loads(r) for r in after.values()]
    assert sorted((p["strategy"], p["setting"], p["seed"]) for p in points) == sorted(
        (c["front"]["strategy"], c["front"]["setting"], c["seed"]) for c in configs)
