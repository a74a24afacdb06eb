"""The `mosaic` command line, run as a subprocess like a user would."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mosaic import HardwareSpec


def run(*args: str, ok: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "mosaic.cli", *args], capture_output=True, text=True,
                          timeout=timeout)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def assert_clean_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status != 0, one line on stderr starting `mosaic: error:` and naming the problem."""
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mosaic: error:"), lines[0]
    for w in words:
        assert w in lines[0], lines[0]


def test_help_everywhere():
    top = run("--help").stdout
    for cmd in ("hw", "simulate"):
        assert cmd in top
        assert "usage: mosaic " + cmd in run(cmd, "--help").stdout
    assert "usage: mosaic hw show" in run("hw", "show", "--help").stdout


def test_hw_list_names_every_preset():
    out = run("hw", "list").stdout
    for name in HardwareSpec.presets():
        assert name in out
    doc = json.loads(run("hw", "list", "--json").stdout)
    assert [d["name"] for d in doc] == HardwareSpec.presets()
    assert all(d["neuron_slots"] == d["cores"] * d["neurons_per_core"] for d in doc)


def test_hw_show_derived_hop_figures():
    doc = json.loads(run("hw", "show", "mosaic-8x8", "--json").stdout)
    assert doc["rows"] == 8 and doc["derived"]["cores"] == 64
    assert doc["derived"]["hops_max"] == 27
    assert doc["derived"]["hops_mean"] == pytest.approx(10.0)
    doc = json.loads(run("hw", "show", "mosaic-4x4", "--json").stdout)
    assert doc["derived"]["hops_max"] == 11
    assert doc["derived"]["hops_mean"] == pytest.approx(4.733, abs=1e-3)
    text = run("hw", "show", "mosaic-4x4").stdout
    assert "hops max" in text and "neuron slots" in text and "512" in text


def test_hw_show_spec_file(tmp_path):
    f = tmp_path / "chip.toml"
    f.write_text(HardwareSpec.preset("mosaic-4x4").replace(name="mine", bandwidth=3).to_toml())
    doc = json.loads(run("hw", "show", "--spec", str(f), "--json").stdout)
    assert doc["name"] == "mine" and doc["bandwidth"] == 3


def test_hw_bad_input(tmp_path):
    assert_clean_error(run("hw", "show", "no-such-chip", ok=False), "no-such-chip", "mosaic-8x8")
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid]\nrows = 4\ncols = = 4\n")
    assert_clean_error(run("hw", "show", "--spec", str(bad), ok=False), "bad.toml")
    assert_clean_error(run("hw", "show", "--spec", str(tmp_path / "missing.toml"), ok=False), "missing.toml")
