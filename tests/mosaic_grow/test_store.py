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
