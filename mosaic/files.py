"""Atomic file writes: a file appears whole or not at all, and an old file survives a failed write."""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import ChipError


class OutputError(ChipError):
    """An output file cannot be written where asked (no such folder, a folder in the way)."""


def check_writable(path: str | Path) -> Path:
    """``path`` as a Path whose folder exists and which is not itself a folder."""
    p = Path(path)
    if not p.parent.is_dir():
        raise OutputError(f"cannot write {str(p)!r}: folder {str(p.parent)!r} does not exist")
    if p.is_dir():
        raise OutputError(f"cannot write {str(p)!r}: it is a folder; give a file name")
    return p


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file (existing or not)."""
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return pa.samefile(pb)
    return pa.resolve() == pb.resolve()


def atomic_write(path: str | Path, write: Callable[[IO], None], binary: bool = True) -> Path:
    """Call ``write(fh)`` on a temporary file in ``path``'s folder, then rename it to ``path``
    (``os.replace``: atomic on one file system).  On any failure the temporary file is removed
    and an existing ``path`` is left as it was."""
    p = check_writable(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": ""})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    data = text.encode()
    return atomic_write(path, lambda fh: fh.write(data))


def strict_jsonable(obj: Any, where: str = "", nulls: dict[str, str] | None = None) -> Any:
    """``obj`` as plain JSON types (numpy scalars and arrays too) with every NaN or infinite
    float replaced by ``None``; ``nulls`` (if given) collects {path: reason} for each."""
    if isinstance(obj, dict):
        return {str(k): strict_jsonable(v, f"{where}.{k}" if where else str(k), nulls) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [strict_jsonable(v, f"{where}[{i}]", nulls) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        if nulls is not None:
            nulls[where] = "not a number (undefined)" if obj != obj else f"{obj} (out of range)"
        return None
    return obj


def dumps_strict(doc: Any, **kw: Any) -> str:
    """Strict JSON text (no NaN/Infinity: RFC 8259): non-finite numbers become ``null`` and a
    top-level dict gains ``"null_reasons": {path: reason}`` naming each of them."""
    nulls: dict[str, str] = {}
    out = strict_jsonable(doc, "", nulls)
    if nulls and isinstance(out, dict):
        out["null_reasons"] = nulls
    return json.dumps(out, allow_nan=False, **kw)
