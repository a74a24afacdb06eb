"""The one way a benchmark reports its targets.

Each target is one JSON line, ``{"target": ..., "value": ..., "goal": ..., "met": ...}``
(extra keys allowed), printed last and written to ``benchmarks/results/<name>.json`` (full
runs; the files the documentation's results page is generated from) or to
``benchmarks/results/quick/<name>.json`` (``--quick`` runs, not checked in).  Lines are strict
JSON: a non-finite number becomes ``null`` and the line says so in ``"note"``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if hasattr(value, "item") and callable(value.item):     # numpy scalars
        return _strict(value.item())
    return value


def target(name: str, value, goal: str, met: bool, **extra) -> dict:
    """One target line; ``met`` must be computed from what the benchmark just measured."""
    line = {"target": name, "value": value, "goal": goal, "met": bool(met), **extra}
    clean = _strict(line)
    if clean["value"] is None and value is not None:
        clean["note"] = (extra.get("note", "") + " value was not finite").strip()
    return clean


def emit(bench: str, targets: list[dict], *, quick: bool) -> Path:
    """Print every target as one JSON line and write the same lines atomically to the
    results file of ``bench`` (e.g. ``"bench_map"``); returns that file's path."""
    lines = [json.dumps(_strict(t), allow_nan=False) for t in targets]
    for line in lines:
        print(line, flush=True)
    folder = RESULTS / "quick" if quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bench}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{bench}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def load(bench: str, results: Path = RESULTS) -> list[dict]:
    """The target lines a full run of ``bench`` last wrote (empty if it never ran)."""
    path = results / f"{bench}.json"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
