"""Sweep databases under faults: two sweeps started together, concurrent resumes, Ctrl-C in an
in-process sweep (finished rows kept, no spurious failed row), stale claims.  Ctrl-C given to
the command itself: test_interrupts.py."""
import os
import subprocess
import sys

import pytest

from mosaic_grow.errors import is_interrupt
from mosaic_grow.store import ResultStore, config_hash
from mosaic_grow.sweep import SweepError, execute, expand, open_store, parse_config, run_sweep

SMALL = {"sweep": {"seeds": [0, 1, 2], "steps": 5}, "hardware": {"preset": "mosaic-4x4"},
         "workload": {"sizes": [[4, 8, 4]]}, "mapping": {"method": "greedy"}}


def test_two_sweeps_opened_together_on_a_fresh_file_only_one_is_accepted(tmp_path):
    db = tmp_path / "fresh.sqlite"
    a, b = ResultStore(db), ResultStore(db)            # both see an empty database
    a.claim_sweep(resume=False)
    with pytest.raises(Exception, match="claimed by another sweep.*--resume"):
        b.claim_sweep(resume=False)
    b.claim_sweep(resume=True)                          # with --resume it joins
    a.close()
    b.close()
    with pytest.raises(SweepError, match="--resume"):
        open_store(db, resume=False)


def test_concurrent_resumes_split_the_runs_without_repeating_any(tmp_path):
    configs = expand(parse_config(SMALL))
    db = tmp_path / "r.sqlite"
    with open_store(db, False) as a, open_store(db, True) as b:
        keys = [config_hash(c) for c in configs]
        first = a.claim_runs(keys[:2])
        assert first == keys[:2]
        stats = run_sweep(configs, b, workers=0, progress=False)   # b runs only what a has not claimed
        assert stats.executed == 1 and stats.pending == 2
        assert b.hashes("ok") == {keys[2]}
        a.release_claims()
        stats = run_sweep(configs, b, workers=0, progress=False)
        assert stats.executed == 2 and stats.skipped == 1 and len(b.hashes("ok")) == 3


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as s:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        s.con.execute("INSERT INTO claims VALUES ('h1', 'other', ?, ?, 0)", (os.uname().nodename, dead.pid))
        assert s.claim_runs(["h1"]) == ["h1"]


def test_ctrl_c_in_an_in_process_sweep_keeps_finished_rows_and_records_no_failure(tmp_path):
    configs = expand(parse_config(SMALL))
    calls = []

    def run(cfg):
        calls.append(cfg)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return execute(cfg)
    with open_store(tmp_path / "i.sqlite", False) as s:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(configs, s, workers=0, progress=False, run=run)
        assert len(s.hashes("ok")) == 1 and not s.hashes("failed")
        assert s.con.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_interrupt_inside_a_compiled_call_is_recognised():
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemError("<numba dispatcher> returned a result with an exception set")
    except SystemError as e:
        assert is_interrupt(e)
    assert not is_interrupt(SystemError("other")) and not is_interrupt(ValueError())
