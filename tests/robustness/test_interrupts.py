"""Ctrl-C on every long command, as a user gives it: SIGINT to the command's process group
(a terminal's foreground group) while the command is busy (its progress bar or a stored row
shows it), run under a pseudo-terminal so the progress bars draw as they do for a user.
Each must exit 130 within seconds with "mosaic: interrupted", no traceback, no process left
behind, finished work kept (stored sweep rows) and no partial output file."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from mosaic_grow.store import ResultStore

pytestmark = pytest.mark.slow
STOP_S = 10.0        # generous on a loaded machine; the measured figure is printed (-s) and reported
START_S = 300.0      # start-up (torch, numba compilation) on a loaded machine


class Running:
    """`mosaic ARGV` in a new session whose stdout and stderr are a pseudo-terminal."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))   # 120 columns for the bars
        self.proc = subprocess.Popen([sys.executable, "-m", "mosaic_grow.cli", *argv], cwd=cwd,
                                     stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.master, self.text = master, ""

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False at end of output."""
        if not select.select([self.master], [], [], timeout)[0]:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:                      # EIO: every writer closed the terminal
            return False
        self.text += data.decode(errors="replace")
        return bool(data)

    def wait_for(self, ready) -> None:
        """Until ``ready(self)`` holds; fails if the command ends first."""
        deadline = time.monotonic() + START_S
        while not ready(self):
            assert self.proc.poll() is None, f"ended (exit {self.proc.returncode}) before busy:\n{self.text[-2000:]}"
            assert time.monotonic() < deadline, f"not busy after {START_S} s:\n{self.text[-2000:]}"
            self._read(0.2)

    def interrupt(self) -> float:
        """Ctrl-C to the whole group; seconds until the command exited."""
        assert self.proc.poll() is None, "the command ended before the interrupt; make its work longer"
        t0 = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        said = None
        while self.proc.poll() is None:      # keep reading: a full terminal would block its writes
            if time.monotonic() - t0 > 120:
                self.kill()
                pytest.fail(f"still running 120 s after Ctrl-C:\n{self.text[-2000:]}")
            self._read(0.05)
            if said is None and "interrupted" in self.text:
                said = time.monotonic() - t0
        stop = time.monotonic() - t0
        while self._read(2.0):               # what it printed on the way out
            pass
        print(f"\n{self.proc.args[3]}: exited {stop:.2f} s after Ctrl-C (said so after {said or stop:.2f} s)")
        return stop

    def group_gone(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return True
        return False

    def kill(self) -> None:
        if not self.group_gone():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        self.kill()
        os.close(self.master)


@pytest.fixture
def running(tmp_path):
    started: list[Running] = []

    def start(argv: list[str]) -> Running:
        r = Running(argv, tmp_path)
        started.append(r)
        return r
    yield start
    for r in started:
        r.close()


def _clean_exit(r: Running, stop_s: float) -> None:
    assert r.proc.returncode == 130, (r.proc.returncode, r.text[-3000:])
    assert "mosaic: interrupted" in r.text and "Traceback" not in r.text, r.text[-3000:]
    assert stop_s < STOP_S, f"exited {stop_s:.1f} s after Ctrl-C"
    deadline = time.monotonic() + 10
    while not r.group_gone() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert r.group_gone(), "a process of the command outlived it"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _shown(pattern: str, for_s: float = 3.0):
    """Ready once ``pattern`` has been on the terminal for ``for_s`` seconds (work under way)."""
    first: list[float] = []

    def ready(r: Running) -> bool:
        if not first and re.search(pattern, r.text):
            first.append(time.monotonic())
        return bool(first) and time.monotonic() - first[0] > for_s
    return ready


def _progress(pattern: str):
    """Ready when a progress bar matching ``pattern`` has advanced past 0."""
    rx = re.compile(pattern + r"[^\r\n]*?\s[1-9][\d.]*/[\d.]+")
    return lambda r: rx.search(r.text) is not None


def test_simulate(tmp_path, running):
    r = running(["simulate", "--sizes", "64,512,512,10", "--steps", "200000", "--out", "r.json",
                 "--plot", "r.png"])
    r.wait_for(_progress("simulate"))
    _clean_exit(r, r.interrupt())
    assert _files(tmp_path) == []                    # no report, no picture, no temporary


@pytest.mark.parametrize("method", ["anneal", "cpsat"])
def test_map(tmp_path, running, method):
    r = running(["map", "--sizes", "64,512,512,10", "--preset", "mosaic-8x8", "--method", method,
                 "--time-limit", "600", "--out", "p.json"])
    r.wait_for(_progress("anneal") if method == "anneal" else (lambda r: r.proc.poll() is None and _cpu_s(r) > 15))
    _clean_exit(r, r.interrupt())
    assert _files(tmp_path) == []


def _cpu_s(r: Running) -> float:
    """CPU seconds the command has used (user + system), from /proc."""
    fields = Path(f"/proc/{r.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SWEEP = ('[sweep]\nseeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\nsteps = 4000\n[hardware]\npreset = "mosaic-8x8"\n'
         '[workload]\nsizes = [[64, 256, 256, 10]]\n[mapping]\nmethod = "anneal"\ntime_limit = 4\n')


@pytest.mark.parametrize("workers", ["0", "2"])
def test_sweep_keeps_its_finished_rows(tmp_path, running, workers):
    (tmp_path / "s.toml").write_text(SWEEP)
    r = running(["sweep", "s.toml", "--db", "s.sqlite", "--workers", workers, "--csv", "s.csv"])
    r.wait_for(lambda r: _rows(tmp_path / "s.sqlite") >= 1)
    _clean_exit(r, r.interrupt())
    with ResultStore(tmp_path / "s.sqlite", readonly=True) as s:
        done = len(s.hashes("ok"))
        assert done >= 1 and not s.hashes("failed") and done < 12
        assert s.con.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0     # no stale claim
    assert [f for f in _files(tmp_path) if not f.startswith("s.sqlite")] == ["s.toml"]   # no CSV, no temporary
    r2 = running(["sweep", "s.toml", "--db", "s.sqlite", "--workers", "0", "--resume", "--limit", "1",
                  "--no-progress"])
    assert r2.proc.wait(timeout=START_S) == 0     # the kept rows resume: one more run, none repeated
    with ResultStore(tmp_path / "s.sqlite", readonly=True) as s:
        assert len(s.hashes("ok")) == done + 1


def _rows(db: Path) -> int:
    try:
        with ResultStore(db, readonly=True) as s:
            return len(s.hashes("ok"))
    except Exception:               # not created yet, or being created
        return 0


def test_score(tmp_path, running):
    (tmp_path / "sched.toml").write_text("initial = [16, 16]\n\n[[event]]\nstep = 20000\nlayer = 0\nk = 4\n")
    r = running(["score", "sched.toml", "--steps", "100000", "--out", "s.json", "--plot", "s.png"])
    r.wait_for(_shown("score schedule"))     # its bar moves only at growth events
    _clean_exit(r, r.interrupt())
    assert _files(tmp_path) == ["sched.toml"]


def test_grow(tmp_path, running):
    r = running(["grow", "--steps", "100000", "--out", "g.json"])
    r.wait_for(_progress("controller"))
    _clean_exit(r, r.interrupt())
    assert _files(tmp_path) == []


def test_demo(tmp_path, running):
    r = running(["demo", "--quick", "--out", "demo_out"])
    r.wait_for(lambda r: "[2/5]" in r.text)
    _clean_exit(r, r.interrupt())
    assert _files(tmp_path) == []                    # no folder, no staging copy
