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
import gzip
import hashlib
import json
import math
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from mosaic.files import atomic_write, same_file

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
CREATE TABLE IF NOT EXISTS claims (hash TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL,
                                   pid INTEGER NOT NULL, claimed REAL NOT NULL);
"""
RUN_COLUMNS = ("hash", "config", "status", "result", "error", "wall_s", "finished")
TABLES = {"runs", "meta", "claims"}       # claims: runs being executed now, by which process


class StoreError(AppError):
    """The result store cannot be opened or is not a sweep database."""


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal configs give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)


def config_hash(config: dict[str, Any]) -> str:
    """sha256 hex digest of the config's canonical JSON: the run's primary key."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


class ResultStore:
    """A sweep's results in a SQLite file (``":memory:"`` for a throw-away store).

    ``readonly``: open for reading only (``mosaic plot``): nothing is written or created.  A
    database of another program or schema is refused, never altered."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = str(path)
        self.readonly = readonly
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        if self.path != ":memory:":
            p = Path(self.path)
            if p.exists() and not p.is_file():
                raise StoreError(f"result store {self.path!r} is not a file")
            if not p.parent.exists():
                raise StoreError(f"result store {self.path!r}: folder {str(p.parent)!r} does not exist")
            if readonly and not p.is_file():
                raise StoreError(f"result store {self.path!r} does not exist; run `mosaic sweep` first")
        try:
            if readonly:
                # immutable (no lock or -shm file is created) unless a writer is active (its -wal exists)
                live = Path(self.path + "-wal").exists()
                uri = Path(self.path).resolve().as_uri() + ("?mode=ro" if live else "?mode=ro&immutable=1")
                self.con = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
            else:
                self.con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._check_schema()
            if not readonly:
                if self.path != ":memory:":
                    self.con.execute("PRAGMA journal_mode=WAL")
                    self.con.execute("PRAGMA synchronous=NORMAL")
                self.con.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            raise StoreError(f"result store {self.path!r} is not a SQLite sweep database ({e})") from None
        except StoreError:
            self._close_quietly()
            raise

    def _check_schema(self) -> None:
        """Refuse a database of another program (tables or columns not ours); an empty one is
        new (refused when read-only: there is nothing to read)."""
        tables = {r[0] for r in self.con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            if self.readonly:
                raise StoreError(f"{self.path} holds no sweep results (an empty database or file); "
                                 f"run `mosaic sweep CONFIG --db {self.path}` first")
            return
        cols = tuple(r[1] for r in self.con.execute("PRAGMA table_info(runs)"))
        if not tables <= TABLES or "runs" not in tables or cols != RUN_COLUMNS:
            raise StoreError(f"{self.path} is a SQLite database of another program or schema (tables: "
                             f"{', '.join(sorted(tables))}); it is left untouched; give a new --db file")

    def _close_quietly(self) -> None:
        con = getattr(self, "con", None)
        if con is not None:
            con.close()

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

    def claim_sweep(self, resume: bool) -> None:
        """Mark this database as a sweep's, atomically: a second sweep started without ``resume``
        (even at the same moment, on a fresh file) is refused."""
        with self.con:
            self.con.execute("BEGIN IMMEDIATE")
            n = int(self.con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
            started = self.get_meta("sweep_started")
            if (n or started) and not resume:
                what = f"already holds {n} runs" if n else f"was claimed by another sweep ({started})"
                raise StoreError(f"{self.path} {what}; pass --resume to continue that sweep "
                                 f"or --db NEW.sqlite to start a new one")
            if not started:
                self.con.execute("INSERT INTO meta (key, value) VALUES ('sweep_started', ?)",
                                 (f"{self.owner} at {time.strftime('%Y-%m-%d %H:%M:%S')}",))

    def claim_runs(self, keys: list[str]) -> list[str]:
        """Claim the runs ``keys`` for this process, in one transaction; returns those claimed.
        Runs claimed by another live process (a concurrent ``--resume``) are left to it; a claim
        whose process has died on this host is taken over."""
        host = socket.gethostname()
        mine = []
        with self.con:
            self.con.execute("BEGIN IMMEDIATE")
            held = {h: (o, hh, pid) for h, o, hh, pid in
                    self.con.execute("SELECT hash, owner, host, pid FROM claims")}
            for key in keys:
                other = held.get(key)
                if other is not None and other[0] != self.owner and _alive(other[1], other[2], host):
                    continue
                self.con.execute("INSERT OR REPLACE INTO claims (hash, owner, host, pid, claimed) "
                                 "VALUES (?, ?, ?, ?, ?)", (key, self.owner, host, os.getpid(), time.time()))
                mine.append(key)
        return mine

    def release_claims(self) -> None:
        """Drop this process's run claims (finished or abandoned runs)."""
        with self.con:
            self.con.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))

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
        if self.path != ":memory:" and same_file(path, self.path):
            raise StoreError(f"the CSV file {str(path)!r} is the result store itself; give another name")
        rows = self.rows(status)
        columns = _columns(rows)

        def write(f) -> None:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            for r in rows:
                w.writerow({k: _cell(r.get(k)) for k in columns})
        atomic_write(path, write, binary=False)
        return len(rows)

    # -- moving finished runs between stores --------------------------------------
    def export_points(self, path: str | Path) -> int:
        """Write every ``ok`` run (hash, config, result, wall_s) as gzipped JSON lines, merged
        over the runs already in ``path`` (by hash; this store's win), so a sweep's finished
        runs can be carried to another machine or checked in; returns the number written."""
        old = {r["hash"]: r for r in read_points(path)} if Path(path).exists() else {}
        for r in self.records("ok"):
            old[r["hash"]] = {k: r[k] for k in ("hash", "config", "result", "wall_s")}
        data = gzip.compress("".join(canonical_json(old[h]) + "\n" for h in sorted(old)).encode(), mtime=0)
        atomic_write(path, lambda fh: fh.write(data))
        return len(old)

    def import_points(self, path: str | Path, only: set[str] | None = None) -> int:
        """Store the runs of an ``export_points`` file (those whose hash is in ``only``, if
        given) that this store does not hold as ``ok``: a sweep then skips them.  Each run's
        hash is checked against its config; returns the number stored."""
        done = self.hashes("ok")
        n = 0
        for r in read_points(path):
            if (only is not None and r["hash"] not in only) or r["hash"] in done:
                continue
            self.put(r["config"], "ok", r["result"], None, r["wall_s"], key=r["hash"])
            n += 1
        return n


def read_points(path: str | Path) -> list[dict[str, Any]]:
    """The runs of an ``export_points`` file; ``StoreError`` naming the file and the first bad
    line if it is not one (or a run's hash does not match its config)."""
    try:
        with gzip.open(path, "rt") as f:
            lines = f.read().splitlines()
    except (OSError, EOFError) as e:
        raise StoreError(f"{str(path)!r} is not a gzipped points file ({e}); export one with "
                         "ResultStore.export_points") from None
    out = []
    for i, line in enumerate(lines, 1):
        try:
            r = json.loads(line)
            ok = set(r) == {"hash", "config", "result", "wall_s"} and config_hash(r["config"]) == r["hash"]
        except (json.JSONDecodeError, TypeError):
            ok = False
        if not ok:
            raise StoreError(f"{str(path)!r} line {i} is not a stored run (hash, config, result, wall_s, "
                             "the hash that of the config)")
        out.append(r)
    return out


def _alive(host: str, pid: int, this_host: str) -> bool:
    """Whether a claim's process may still run (a process on another host is assumed alive)."""
    if host != this_host:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
