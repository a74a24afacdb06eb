"""The `mosaic` command line, run as a subprocess like a user would."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mapper import MappingError
from mosaic import HardwareSpec


def run(*args: str, ok: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "mosaic_grow.cli", *args], capture_output=True, text=True,
                          timeout=timeout)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys):
    """Call `mosaic ...` in this process (same code path as the console script, no start-up cost)."""
    from mosaic_grow.cli import main

    def call(*args: str, ok: bool = True) -> Result:
        capsys.readouterr()
        try:
            rc = main(list(args))
        except SystemExit as e:                 # argparse: --help, usage errors
            rc = e.code
        out, err = capsys.readouterr()
        res = Result(rc, out, err)
        if ok:
            assert rc == 0, err
        return res
    return call


def assert_clean_error(proc, *words: str) -> None:
    """Exit status != 0, one line on stderr starting `mosaic: error:` and naming the problem."""
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mosaic: error:"), lines[0]
    for w in words:
        assert w in lines[0], lines[0]


def test_help_everywhere(cli):
    top = run("--help").stdout                 # the real console entry, once
    for cmd in ("hw", "simulate", "map", "grow", "score", "sweep", "plot", "demo"):
        assert cmd in top
        assert "usage: mosaic " + cmd in cli(cmd, "--help").stdout
    assert "usage: mosaic hw show" in cli("hw", "show", "--help").stdout


def test_hw_list_names_every_preset(cli):
    out = cli("hw", "list").stdout
    for name in HardwareSpec.presets():
        assert name in out
    doc = json.loads(run("hw", "list", "--json").stdout)   # subprocess
    assert [d["name"] for d in doc] == HardwareSpec.presets()
    assert all(d["neuron_slots"] == d["cores"] * d["neurons_per_core"] for d in doc)


def test_hw_show_derived_hop_figures(cli):
    doc = json.loads(cli("hw", "show", "mosaic-8x8", "--json").stdout)
    assert doc["rows"] == 8 and doc["derived"]["cores"] == 64
    assert doc["derived"]["hops_max"] == 27
    assert doc["derived"]["hops_mean"] == pytest.approx(10.0)
    doc = json.loads(cli("hw", "show", "mosaic-4x4", "--json").stdout)
    assert doc["derived"]["hops_max"] == 11
    assert doc["derived"]["hops_mean"] == pytest.approx(4.733, abs=1e-3)
    text = cli("hw", "show", "mosaic-4x4").stdout
    assert "hops max" in text and "neuron slots" in text and "512" in text


def test_hw_show_spec_file(tmp_path, cli):
    f = tmp_path / "chip.toml"
    f.write_text(HardwareSpec.preset("mosaic-4x4").replace(name="mine", bandwidth=3).to_toml())
    doc = json.loads(cli("hw", "show", "--spec", str(f), "--json").stdout)
    assert doc["name"] == "mine" and doc["bandwidth"] == 3


def test_hw_bad_input(tmp_path, cli):
    assert_clean_error(run("hw", "show", "no-such-chip", ok=False), "no-such-chip", "mosaic-8x8")
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid]\nrows = 4\ncols = = 4\n")
    assert_clean_error(cli("hw", "show", "--spec", str(bad), ok=False), "bad.toml")
    assert_clean_error(cli("hw", "show", "--spec", str(tmp_path / "missing.toml"), ok=False), "missing.toml")


def test_simulate_default_demo_table_and_json(tmp_path, cli):
    out = run("simulate", "--steps", "20").stdout
    for word in ("mosaic-8x8", "injected", "delivered", "energy (pJ)", "latency per step", "total"):
        assert word in out
    doc = json.loads(cli("simulate", "--steps", "20", "--json", "--out", str(tmp_path / "r.json")).stdout)
    p = doc["packets"]
    assert p["injected"] == p["delivered"] + p["dropped"] + p["in_flight"]
    assert doc["T"] == 20 and doc["n_neurons"] == 128 + 128 + 10
    assert json.loads((tmp_path / "r.json").read_text())["T"] == 20


def test_simulate_options_change_the_run(tmp_path, cli):
    from mosaic.generators import random_feedforward
    net = tmp_path / "net.npz"
    random_feedforward([16, 32, 8], seed=3).save(net)
    base = json.loads(cli("simulate", "--net", str(net), "--preset", "mosaic-4x4", "--steps", "15",
                          "--rate", "0.5", "--json").stdout)
    assert base["n_neurons"] == 40 and base["spec"] == "mosaic-4x4"
    quiet = json.loads(cli("simulate", "--net", str(net), "--preset", "mosaic-4x4", "--steps", "15",
                           "--rate", "0", "--json").stdout)
    assert quiet["packets"]["injected"] < base["packets"]["injected"]
    ideal = json.loads(cli("simulate", "--net", str(net), "--preset", "mosaic-4x4", "--steps", "15",
                           "--rate", "0.5", "--routing", "ideal", "--set", "bandwidth=2", "--json").stdout)
    assert ideal["routing"] == "ideal" and ideal["spikes"] == base["spikes"]


def test_map_compare_and_outputs(tmp_path, cli):
    args = ("map", "--preset", "mosaic-4x4", "--sizes", "8,40,20", "--time-limit", "1")
    doc = json.loads(cli(*args, "--compare", "--json").stdout)
    assert set(doc) == {"greedy", "random", "anneal", "cpsat"}
    assert all(d["n_neurons"] == 60 for d in doc.values())
    assert doc["cpsat"]["objective"] <= doc["greedy"]["objective"]
    assert all(d["bound"] <= d["objective"] + 1e-9 for d in doc.values())
    out = cli(*args, "--method", "greedy", "--out", str(tmp_path / "p.json"), "--plot", str(tmp_path / "p.png"))
    assert "greedy" in out.stdout and "lower bound" in out.stdout
    assert (tmp_path / "p.png").stat().st_size > 1000
    sim = json.loads(cli("simulate", "--preset", "mosaic-4x4", "--sizes", "8,40,20", "--steps", "10",
                         "--placement", str(tmp_path / "p.json"), "--json").stdout)
    assert sim["placement"]["method"] == "greedy"


@pytest.mark.parametrize("args, words", [
    (("simulate", "--preset", "nope"), ["nope"]),
    (("simulate", "--net", "missing.npz"), ["missing.npz"]),
    (("simulate", "--rate", "1.5"), ["--rate"]),
    (("simulate", "--steps", "0"), ["--steps"]),
    (("simulate", "--sizes", "64,abc"), ["--sizes"]),
    (("simulate", "--set", "bandwidth=-1"), ["bandwidth"]),
    (("simulate", "--set", "colour=3"), ["colour"]),
    (("simulate", "--preset", "mosaic-4x4", "--sizes", "8,600"), ["600 neurons", "512"]),
    (("map", "--preset", "mosaic-4x4", "--sizes", "8,600"), ["600"]),
    (("map", "--time-limit", "-1"), ["--time-limit", "-1"]),
    (("sweep", "missing.toml"), ["missing.toml"]),
    (("simulate", "--steps", "abc"), ["--steps", "abc"]),
    (("simulate", "--routing", "warp"), ["--routing", "warp"]),
    (("hw",), ["hw", "required"]),
    (("plot", "missing.sqlite"), ["missing.sqlite"]),
])
def test_bad_input_is_one_clear_line(args, words, cli):
    assert_clean_error(cli(*args, ok=False), *words)


def test_simulate_reads_nir(tmp_path, cli):
    import nir
    from models.nir_io import to_nir
    from mosaic.generators import random_feedforward
    nir.write(tmp_path / "n.nir", to_nir(random_feedforward([8, 16, 4], seed=0)))
    doc = json.loads(cli("simulate", "--net", str(tmp_path / "n.nir"), "--preset", "mosaic-4x4", "--steps", "10",
                         "--json").stdout)
    assert doc["n_neurons"] == 20 and doc["T"] == 10
    (tmp_path / "bad.nir").write_text("garbage")
    assert_clean_error(cli("simulate", "--net", str(tmp_path / "bad.nir"), ok=False), "bad.nir")
    (tmp_path / "n.txt").write_text("x")
    assert_clean_error(cli("simulate", "--net", str(tmp_path / "n.txt"), ok=False), ".txt")


def test_corrupt_files_are_clean_errors(tmp_path, cli):
    bad_net = tmp_path / "net.npz"
    bad_net.write_bytes(b"garbage")
    assert_clean_error(cli("simulate", "--net", str(bad_net), ok=False), "net.npz")
    bad_place = tmp_path / "p.json"
    bad_place.write_text("{not json")
    assert_clean_error(cli("simulate", "--placement", str(bad_place), ok=False), "p.json")
    bad_cfg = tmp_path / "s.toml"
    bad_cfg.write_text("[hardware]\nbandwith = [1, 2]\n")
    assert_clean_error(cli("sweep", str(bad_cfg), ok=False), "hardware.bandwith")


SWEEP = """
[sweep]
seeds = [0, 1]
steps = 8
[hardware]
preset = "mosaic-4x4"
grid = ["1x2", "2x2"]
[workload]
sizes = [[8, 16, 8]]
rate = [0.2, 0.6]
"""


def test_sweep_resume_csv_and_plot(tmp_path, cli):
    cfg = tmp_path / "s.toml"
    cfg.write_text(SWEEP)
    db = tmp_path / "r.sqlite"
    doc = json.loads(cli("sweep", str(cfg), "--db", str(db), "--workers", "0", "--limit", "3", "--json").stdout)
    assert (doc["runs"], doc["executed"], doc["pending"]) == (8, 3, 5)
    again = cli("sweep", str(cfg), "--db", str(db), "--workers", "0", ok=False)
    assert_clean_error(again, "--resume")
    doc = json.loads(cli("sweep", str(cfg), "--db", str(db), "--workers", "0", "--resume", "--json",
                         "--csv", str(tmp_path / "r.csv")).stdout)
    assert (doc["skipped_done"], doc["executed"], doc["failed"]) == (3, 5, 0)
    assert len((tmp_path / "r.csv").read_text().strip().splitlines()) == 1 + 8
    out = cli("plot", str(db), "--out", str(tmp_path / "plots")).stdout
    assert "energy_latency_vs_cores.png" in out and "saturation.png" in out
    assert (tmp_path / "plots" / "saturation.png").stat().st_size > 1000


def test_sweep_killed_midway_resumes_without_loss(tmp_path, cli):
    """SIGKILL a sweep while it writes; the rows it stored survive, --resume completes the rest."""
    import signal
    import sqlite3
    import time
    cfg = tmp_path / "s.toml"
    cfg.write_text(SWEEP.replace("seeds = [0, 1]", "seeds = [0, 1, 2, 3, 4, 5]").replace("steps = 8", "steps = 40"))
    db = tmp_path / "k.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_grow.cli", "sweep", str(cfg), "--db", str(db),
                             "--workers", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    n = 0
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            if n >= 2:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = sqlite3.connect(db).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert 2 <= kept
    doc = json.loads(cli("sweep", str(cfg), "--db", str(db), "--workers", "0", "--resume", "--json").stdout)
    assert doc["skipped_done"] == kept and doc["executed"] == 24 - kept
    rows = sqlite3.connect(db).execute("SELECT hash, status FROM runs").fetchall()
    assert len(rows) == 24 and len({h for h, _ in rows}) == 24 and {s for _, s in rows} == {"ok"}


def test_demo_quick_writes_headline_plots(tmp_path, cli):
    out = tmp_path / "results"
    doc = json.loads(cli("demo", "--quick", "--out", str(out), "--json").stdout)
    for name in ("growth_accuracy.png", "pareto_accuracy_energy.png", "energy_cpsat_vs_greedy.png",
                 "energy_latency_vs_cores.png",
                 "router_load_cpsat.png", "placement_cpsat.png", "summary.json"):
        assert (out / name).stat().st_size > 500, name
    g = doc["growth"]["gradmax"]
    assert g["hidden"] == [16, 32] and all(0 <= a <= 1 for a in g["accuracy"])
    assert doc["mapping"]["cpsat"]["traffic_cost"] <= doc["mapping"]["greedy"]["traffic_cost"] + 1e-9
    assert json.loads((out / "summary.json").read_text())["preset"] == "mosaic-8x8"
    assert_clean_error(cli("demo", "--quick", "--preset", "nope", "--out", str(tmp_path / "x"), ok=False), "nope")


def test_score_and_grow_small_runs(tmp_path, cli):
    sched = tmp_path / "s.toml"
    sched.write_text("initial = [8]\n[[event]]\nstep = 10\nlayer = 0\nk = 8\n")
    doc = json.loads(cli("score", str(sched), "--steps", "20", "--n-sim", "2", "--json").stdout)
    assert [r["step"] for r in doc["rows"]] == [10, 20]
    assert doc["rows"][1]["sizes"][0] > doc["rows"][0]["sizes"][0]      # the schedule grew layer 0
    assert all(r["energy_pj"] > 0 for r in doc["rows"])
    doc = json.loads(cli("grow", "--initial", "8", "--k", "4", "--steps", "20", "--check-every", "10",
                         "--n-sim", "2", "--energy-nj", "1e6", "--json").stdout)
    assert doc["rows"] and doc["rows"][-1]["step"] == 20
    assert_clean_error(cli("score", str(tmp_path / "none.toml"), ok=False), "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("initial = [8]\n[[event]]\nstep = 10\nlayer = 3\nk = 8\n")
    assert cli("score", str(bad), "--steps", "20", ok=False).returncode == 2
    assert_clean_error(cli("grow", "--initial", "8,x", ok=False), "--initial")


# -- error policy: the toolkit's own errors and OSError are one line (exit 2), bugs a traceback (exit 1)
@pytest.mark.parametrize("exc", [MappingError("capacity: 70 neurons do not fit 64 slots"),
                                 FileNotFoundError("spec file 'x.toml' does not exist")])
def test_project_and_os_errors_are_one_line_exit_2(exc, monkeypatch, cli):
    import mosaic_grow.cli as cli_mod

    def fail(*a, **k):
        raise exc
    monkeypatch.setattr(cli_mod, "simulate", fail)
    res = cli("simulate", "--sizes", "8,8", "--steps", "2", ok=False)
    assert res.returncode == 2
    assert_clean_error(res, str(exc).split(":")[0])


@pytest.mark.parametrize("exc", [ZeroDivisionError, ValueError])
def test_other_exceptions_are_bugs_not_bad_input(exc, monkeypatch, cli):
    """A bare ValueError (numpy's, scipy's or ours) is a bug: it is not turned into one tidy line."""
    import mosaic_grow.cli as cli_mod

    def fail(*a, **k):
        raise exc("a bug")
    monkeypatch.setattr(cli_mod, "simulate", fail)
    with pytest.raises(exc, match="a bug"):
        cli("simulate", "--sizes", "8,8", "--steps", "2", ok=False)


def test_a_bug_shows_a_traceback_and_exit_1():
    code = ("import sys, mosaic_grow.cli as c\n"
            "def boom(*a, **k):\n    return 1 / 0\n"
            "c.simulate = boom\n"
            "sys.exit(c.main(['simulate', '--sizes', '8,8', '--steps', '2']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "ZeroDivisionError" in proc.stderr
    assert "mosaic: error:" not in proc.stderr


def test_fill_is_the_greedy_chip_order_fill(cli):
    """`--method fill` (the old name) and `greedy` give the same placement, the chip-order fill."""
    from mosaic.generators import random_feedforward
    from mosaic.placement import Placement
    from mosaic_grow.sweep import place
    net = random_feedforward([16, 40, 30, 10], seed=1)
    spec = HardwareSpec.preset("mosaic-4x4")
    fill, greedy = place(net, spec, "fill"), place(net, spec, "greedy")
    assert fill.method == greedy.method == "greedy"
    assert np.array_equal(fill.core_of, greedy.core_of)
    assert np.array_equal(fill.core_of, Placement.fill(net, spec).core_of), "simulate's default placement agrees"
    a = json.loads(cli("simulate", "--sizes", "16,40,30,10", "--method", "fill", "--steps", "3", "--json").stdout)
    b = json.loads(cli("simulate", "--sizes", "16,40,30,10", "--steps", "3", "--json").stdout)
    for doc in (a, b):
        doc.pop("wall_s"), doc["placement"].pop("wall_s")
    assert a == b and a["placement"]["method"] == "greedy"
