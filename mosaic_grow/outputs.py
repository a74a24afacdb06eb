"""The files one command writes, staged so that they appear only if the whole command succeeds.

Each output goes to a temporary name in its final folder (the same file system, so the final
``os.replace`` is atomic); ``commit`` renames them into place, ``discard`` removes them.  Used
as a context manager, an exception (bad input, Ctrl-C, a full disk) leaves no new or changed
file behind.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from mosaic.files import OutputError, check_writable, same_file

from .errors import AppError


class OutputPathError(AppError):
    """An output path is unusable: no such folder, a folder in the way, or one of the inputs."""


class Outputs:
    """Staged output files and folders of one command; ``inputs`` may not be overwritten."""

    def __init__(self, inputs: Iterable[str | Path | None] = ()) -> None:
        self.inputs = [Path(p) for p in inputs if p is not None and str(p) != ":memory:"]
        self._files: list[tuple[Path, Path]] = []       # (temporary, final)
        self._dirs: list[tuple[Path, Path]] = []

    def _not_an_input(self, p: Path, flag: str) -> None:
        for i in self.inputs:
            if same_file(p, i):
                raise OutputPathError(f"{flag} {str(p)!r} is also an input of this command; "
                                      f"give another output name")

    def file(self, path: str | Path, flag: str = "--out") -> Path:
        """A temporary path to write ``path``'s content to (same folder, same suffix)."""
        try:
            p = check_writable(path)
        except OutputError as e:
            raise OutputPathError(f"{flag}: {e}") from None
        self._not_an_input(p, flag)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=f".part{p.suffix}")
        os.close(fd)
        self._files.append((Path(tmp), p))
        return Path(tmp)

    def folder(self, path: str | Path, flag: str = "--out") -> Path:
        """A temporary folder whose files are moved into ``path`` (created if needed) on commit."""
        p = Path(path)
        if not p.parent.is_dir():
            raise OutputPathError(f"{flag}: folder {str(p.parent)!r} (to hold {str(p)!r}) does not exist")
        if p.exists() and not p.is_dir():
            raise OutputPathError(f"{flag} {str(p)!r} is a file, not a folder; give a folder name")
        self._not_an_input(p, flag)
        tmp = Path(tempfile.mkdtemp(dir=p.parent, prefix=f".{p.name}.part."))
        self._dirs.append((tmp, p))
        return tmp

    def commit(self) -> None:
        """Rename every staged output into place."""
        for tmp, final in self._files:
            os.replace(tmp, final)
        for tmp, final in self._dirs:
            final.mkdir(exist_ok=True)
            for f in sorted(tmp.iterdir()):
                os.replace(f, final / f.name)
            tmp.rmdir()
        self._files, self._dirs = [], []

    def discard(self) -> None:
        """Remove every staged output (nothing of this command's output remains)."""
        for tmp, _ in self._files:
            tmp.unlink(missing_ok=True)
        for tmp, _ in self._dirs:
            shutil.rmtree(tmp, ignore_errors=True)
        self._files, self._dirs = [], []

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
