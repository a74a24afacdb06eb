"""SQLite result store for sweeps: one row per run, keyed by the hash of its config.

A row holds the run's config and result as canonical JSON, its status ("ok" or
"failed"), the error text of a failed run, and its wall time in seconds.  Each
row is written in its own transaction, so an interrupted sweep loses at most the
runs that were still executing, never a finished one.  The file uses SQLite's
write-ahead log with ``synchronous=NORMAL``: a killed process loses no committed
row; a power cut may roll back the last few commits (those runs are then simply
pending again), never corrupt the file.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from .errors import AppError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    hash     TEXT PRIMARY KEY,
    config   TEXT NOT NULL,
    status   TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    result   TEXT,
    error    TEXT,
    wall_s   REAL,
    finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreError(AppError):
    """The result store cannot be opened or is not a sweep database."""


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal configs give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)


def config_hash(config: dict[str, Any]) -> str:
    """sha256 hex digest of the config's canonical JSON: the run's primary key."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


class ResultStore:
    """A sweep's results in a SQLite file (``":memory:"`` for a throw-away store)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            p = Path(self.path)
            if p.exists() and not p.is_file():
                raise StoreError(f"result store {self.path!r} is not a file")
            if not p.parent.exists():
                raise StoreError(f"result store {self.path!r}: folder {str(p.parent)!r} does not exist")
        try:
            self.con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            if self.path != ":memory:":
                self.con.execute("PRAGMA journal_mode=WAL")
                self.con.execute("PRAGMA synchronous=NORMAL")
            self.con.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"result store {self.path!r} is not a SQLite sweep database ({e})") from None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- writing -------------------------------------------------------------
    def put(self, config: dict[str, Any], status: str, result: dict[str, Any] | None = None,
            error: str | None = None, wall_s: float | None = None, key: str | None = None) -> str:
        """Record one run (replacing an earlier row of the same config) in one transaction."""
        if status not in ("ok", "failed"):
            raise StoreError(f"status must be 'ok' or 'failed', got {status!r}")
        key = key or config_hash(config)
        with self.con:
            self.con.execute("BEGIN IMMEDIATE")
            self.con.execute(
                "INSERT OR REPLACE INTO runs (hash, config, status, result, error, wall_s, finished) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, canonical_json(config), status, None if result is None else canonical_json(result),
                 error, wall_s, time.time()))
        return key

    def set_meta(self, key: str, value: str) -> None:
        with self.con:
            self.con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    # -- reading -------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def hashes(self, status: str | None = None) -> set[str]:
        """Hashes of the stored runs (only those with ``status`` if given)."""
        if status is None:
            cur = self.con.execute("SELECT hash FROM runs")
        else:
            cur = self.con.execute("SELECT hash FROM runs WHERE status = ?", (status,))
        return {r[0] for r in cur}

    def records(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every run as {hash, status, error, wall_s, config: {...}, result: {...}}, by hash."""
        q = "SELECT hash, config, status, result, error, wall_s FROM runs"
        cur = self.con.execute(q + (" WHERE status = ?" if status else "") + " ORDER BY hash",
                               (status,) if status else ())
        return [{"hash": h, "config": json.loads(c), "status": s, "result": json.loads(r) if r else {},
                 "error": e, "wall_s": w} for h, c, s, r, e, w in cur]

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """Flat rows: hash, status, error, wall_s, then config fields, then result fields."""
        out = []
        for rec in self.records(status):
            row = {"hash": rec["hash"], "status": rec["status"], "error": rec["error"], "wall_s": rec["wall_s"]}
            row.update(_flatten(rec["config"]))
            row.update(_flatten(rec["result"]))
            out.append(row)
        return out

    def to_csv(self, path: str | Path, status: str | None = None) -> int:
        """Write the flat rows to a CSV file; returns the number of rows."""
        rows = self.rows(status)
        columns = _columns(rows)
        tmp = Path(str(path) + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            for r in rows:
                w.writerow({k: _cell(r.get(k)) for k in columns})
        tmp.replace(path)
        return len(rows)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


def _cell(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return json.dumps(v)
    if isinstance(v, float) and math.isnan(v):
        return ""
    return "" if v is None else v
