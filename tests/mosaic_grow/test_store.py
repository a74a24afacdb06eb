"""SQLite result store: hashing, one row per config, resume bookkeeping, CSV export."""
from __future__ import annotations

import csv
import sqlite3

import pytest

from mosaic_grow.store import ResultStore, StoreError, canonical_json, config_hash


def test_hash_is_order_independent_and_value_sensitive():
    a = {"seed": 0, "grid": "4x4", "sizes": [8, 16]}
    b = {"sizes": [8, 16], "grid": "4x4", "seed": 0}
    assert config_hash(a) == config_hash(b)
    assert canonical_json(a) == canonical_json(b)
    assert config_hash(a) != config_hash({**a, "seed": 1})
    assert config_hash(a) != config_hash({**a, "sizes": [16, 8]})
    assert len(config_hash(a)) == 64


def test_put_replaces_and_reads_back(tmp_path):
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as s:
        cfg = {"grid": "2x2", "seed": 0}
        key = s.put(cfg, "failed", error="ValueError: boom", wall_s=0.1)
        assert s.hashes("failed") == {key} and s.hashes("ok") == set()
        s.put(cfg, "ok", {"energy": {"total": 5.0}, "spikes": 3}, wall_s=0.2)
        assert len(s) == 1                                  # same config -> same row
        (row,) = s.rows()
        assert row["status"] == "ok" and row["error"] is None
        assert row["energy.total"] == 5.0 and row["grid"] == "2x2" and row["hash"] == key
        s.put({"grid": "4x4", "seed": 0}, "ok", {"spikes": 7})
    with ResultStore(db) as s:                              # persisted
        assert len(s) == 2 and len(s.hashes("ok")) == 2
        n = s.to_csv(tmp_path / "r.csv")
    with open(tmp_path / "r.csv") as f:
        rows = list(csv.DictReader(f))
    assert n == 2 and {r["grid"] for r in rows} == {"2x2", "4x4"}
    assert "energy.total" in rows[0]


def test_rejects_bad_status_and_non_database(tmp_path):
    with ResultStore(":memory:") as s:
        with pytest.raises(StoreError, match="status"):
            s.put({"a": 1}, "done")
        assert len(s) == 0
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a SQLite"):
        ResultStore(junk)
    with pytest.raises(StoreError, match="does not exist"):
        ResultStore(tmp_path / "no" / "dir.sqlite")


def test_primary_key_forbids_duplicates(tmp_path):
    with ResultStore(tmp_path / "d.sqlite") as s:
        s.put({"x": 1}, "ok", {})
        with pytest.raises(sqlite3.IntegrityError):
            s.con.execute("INSERT INTO runs (hash, config, status, finished) VALUES (?, '{}', 'ok', 0)",
                          (config_hash({"x": 1}),))


def test_points_export_and_import_carry_finished_runs_to_another_store(tmp_path):
    pts = tmp_path / "points.jsonl.gz"
    with ResultStore(tmp_path / "a.sqlite") as a:
        a.put({"seed": 0}, "ok", {"acc": 0.5}, wall_s=2.0)
        a.put({"seed": 1}, "failed", error="boom")
        assert a.export_points(pts) == 1                     # ok runs only
    with ResultStore(tmp_path / "b.sqlite") as b:
        b.put({"seed": 2}, "ok", {"acc": 0.7}, wall_s=1.0)
        assert b.export_points(pts) == 2                     # merged over the file's runs
        assert b.import_points(pts) == 1                     # seed 2 is already here
        assert b.import_points(pts) == 0
        (r0,) = [r for r in b.records("ok") if r["config"] == {"seed": 0}]
        assert r0["result"] == {"acc": 0.5} and r0["wall_s"] == 2.0
    with ResultStore(":memory:") as c:                       # only: the hashes a sweep wants
        assert c.import_points(pts, only={config_hash({"seed": 2})}) == 1
        assert [r["config"] for r in c.records()] == [{"seed": 2}]


def test_points_file_that_is_corrupt_or_tampered_is_refused(tmp_path):
    import gzip
    import json
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"not gzip at all")
    with ResultStore(":memory:") as s:
        with pytest.raises(StoreError, match="not a gzipped points file"):
            s.import_points(bad)
        line = {"hash": config_hash({"seed": 0}), "config": {"seed": 1}, "result": {}, "wall_s": 1.0}
        bad.write_bytes(gzip.compress((json.dumps(line) + "\n").encode()))
        with pytest.raises(StoreError, match="line 1 is not a stored run"):
            s.import_points(bad)
        assert len(s) == 0
