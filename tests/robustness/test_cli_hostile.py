"""The `mosaic` command on hostile input: each generated case (the benchmark's families) and
each case of issue 17 is one error line, exit 2, no traceback, no file created or changed."""
import json
import os
import random
import re
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic_grow.cli import main


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(family=st.integers(0, 10**6), seed=st.integers(0, 2**32 - 1))
def test_generated_corruption_is_refused_cleanly(tmp_path_factory, base_files, bench, run_clean, family, seed):
    folder = tmp_path_factory.mktemp("case")
    argv, changed = bench.FAMILIES[family % len(bench.FAMILIES)](random.Random(seed), base_files)
    for name, data in {**base_files, **changed}.items():
        (folder / name).write_bytes(data)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        run_clean(folder, argv)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("argv, words", [
    (["map", "--sizes", "4,8", "--method", "anneal", "--time-limit", "inf"], "--time-limit"),
    (["simulate", "--sizes", "4,8", "--set", "step_cycles=9223372036854775807"], "step_cycles"),
    (["simulate", "--sizes", "4,8", "--set", "step_cycles=4611686018427387904"], "1..1,000,000,000"),
    (["simulate", "--sizes", "64,100000000"], "16,777,216"),
    (["simulate", "--sizes", "4,5000", "--preset", "mosaic-4x4"], "do not fit mosaic-4x4"),
    (["simulate", "--sizes", "4,8", "--steps", "1000000000"], "--steps"),
    (["simulate", "--sizes", "4,8", "--set", "rows=100000"], "rows"),
    (["simulate", "--sizes", "4,8", "--set", "bandwidth=1000000000000"], "bandwidth"),
    (["simulate", "--sizes", "4,8", "--set", "cycles_per_hop=100000000000000000000"], "cycles_per_hop"),
    (["simulate", "--sizes", "4,8", "--set", "neurons_per_core=1000000000"], "neurons_per_core"),
    (["simulate", "--sizes", "4,8", "--set", "clock_mhz=true"], "clock_mhz"),
    (["simulate", "--sizes", "4,8", "--set", "e_router_pj=1e308"], "e_router_pj"),
    (["grow", "--port-use", "2"], "--port-use"),
    (["grow", "--max-neurons", "-1"], "--max-neurons"),
    (["grow", "--steps", "5", "--max-neurons", "2"], "below the 16 hidden neurons"),
    (["demo", "--quick", "--time-limit", "0", "--out", "demo_out"], "--time-limit"),
    (["sweep", "sweep.toml", "--db", "new.sqlite", "--limit", "-1"], "--limit"),
    (["sweep", "sweep.toml", "--db", "done.sqlite", "--workers", "0"], "--resume"),
])
def test_issue_cases(folder, run_clean, argv, words):
    assert words in run_clean(folder, argv)


def test_placement_float_core_id_names_the_value_not_a_truncated_core(folder, run_clean):
    doc = json.loads((folder / "place.json").read_text())
    doc["core_of"][3] = 0.9
    (folder / "place.json").write_text(json.dumps(doc))
    line = run_clean(folder, ["simulate", "--net", "net.npz", "--placement", "place.json"])
    assert "core_of[3] = 0.9" in line


def test_scalar_schedule_initial(folder, run_clean):
    (folder / "sched.toml").write_text("initial = 8\n")
    assert "initial must be a list" in run_clean(folder, ["score", "sched.toml"])


def test_foreign_database_is_refused_and_left_untouched(folder, run_clean):
    con = sqlite3.connect(folder / "db.sqlite")
    con.execute("CREATE TABLE people (name TEXT)")
    con.commit()
    con.close()
    for argv in (["plot", "db.sqlite", "--out", "plots"],
                 ["sweep", "sweep.toml", "--db", "db.sqlite", "--resume", "--workers", "0"]):
        assert "db.sqlite is a SQLite database of another program" in run_clean(folder, argv)


def test_plot_on_an_empty_file_writes_no_schema(folder, run_clean):
    (folder / "db.sqlite").write_bytes(b"")
    assert "holds no sweep results" in run_clean(folder, ["plot", "db.sqlite", "--out", "plots"])
    assert (folder / "db.sqlite").read_bytes() == b""


def test_csv_equal_to_db_is_refused_before_anything_runs(folder, run_clean):
    line = run_clean(folder, ["sweep", "sweep.toml", "--db", "done.sqlite", "--csv", "./done.sqlite",
                              "--resume", "--workers", "0"])
    assert "--csv" in line and "input" in line


def test_bad_scheduler_leaves_no_empty_database(folder, bench):
    before = bench.snapshot(folder)
    res = bench.run_in_process(["sweep", "sweep.toml", "--db", "new.sqlite", "--scheduler", "tcp://127.0.0.1:1",
                                "--connect-timeout", "1"])
    assert res["traceback"] is None and res["rc"] != 0
    assert bench.snapshot(folder) == before


def test_plot_failure_leaves_no_out_file(folder, run_clean, capsys):
    assert "nofolder" in run_clean(folder, ["simulate", "--sizes", "4,8", "--out", "r.json", "--plot", "nofolder/x.png"])
    assert not (folder / "r.json").exists()


def test_out_over_an_existing_report_survives_a_failing_run(folder, run_clean):
    (folder / "r.json").write_text('{"old": true}')
    run_clean(folder, ["simulate", "--sizes", "4,8", "--out", "r.json", "--rate", "7"])
    assert (folder / "r.json").read_text() == '{"old": true}'


def test_json_output_is_strict(folder, run_clean, capsys):
    assert main(["map", "--sizes", "4,8", "--method", "random", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-strict constant {c}"))
    assert set(doc) >= {"random"}
    assert main(["simulate", "--sizes", "4,8", "--steps", "5", "--out", "r.json"]) == 0
    json.loads((folder / "r.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-strict constant {c}"))
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []   # no temporary left


def test_strict_json_names_each_null():
    from mosaic.files import dumps_strict
    doc = json.loads(dumps_strict({"a": float("nan"), "b": [1.0, float("inf")], "c": 2}))
    assert doc == {"a": None, "b": [1.0, None], "c": 2,
                   "null_reasons": {"a": "not a number (undefined)", "b[1]": "inf (out of range)"}}


# -- the rest of issue 17's cases, each once on the command line ------------------------
@pytest.mark.parametrize("cmd", [["simulate", "--steps", "5"], ["map", "--method", "greedy"]])
@pytest.mark.parametrize("which, value", [("w", 12), ("w", 2**31 - 1), ("w", -1), ("w_in", 40), ("w_in", -3)])
def test_npz_index_outside_the_matrix(folder, bench, base_files, run_clean, cmd, which, value):
    def change(a):
        a[f"{which}_indices"][0] = value
    (folder / "net.npz").write_bytes(bench._npz(base_files, change))
    line = run_clean(folder, cmd + ["--net", "net.npz"])
    assert f"SpikingNetwork.{which}: column index {value} in row" in line


def test_truncated_npz(folder, base_files, run_clean):
    (folder / "net.npz").write_bytes(base_files["net.npz"][:300])
    assert "not a readable mosaic network file" in run_clean(folder, ["simulate", "--net", "net.npz"])


def test_huge_placement_core_id(folder, run_clean):
    doc = json.loads((folder / "place.json").read_text())
    doc["core_of"][0] = 2**70
    (folder / "place.json").write_text(json.dumps(doc))
    line = run_clean(folder, ["simulate", "--net", "net.npz", "--placement", "place.json", "--spec", "chip.toml"])
    assert f"core_of[0] = {2**70} is not a core id" in line


def test_missing_router_table(folder, run_clean):
    text = (folder / "chip.toml").read_text()
    (folder / "chip.toml").write_text(text[:text.index("[router]")] + text[text.index("[timing]"):])
    assert "missing table [router]" in run_clean(folder, ["simulate", "--spec", "chip.toml", "--sizes", "4,8"])


def test_empty_sweep_file_runs_nothing(folder, run_clean):
    (folder / "sweep.toml").write_text("")
    assert "sweep.toml" in run_clean(folder, ["sweep", "sweep.toml", "--db", "new.sqlite", "--workers", "0"])


def test_sweep_without_resume_does_not_adopt_a_foreign_database(folder, run_clean):
    con = sqlite3.connect(folder / "db.sqlite")
    con.execute("CREATE TABLE runs (name TEXT)")
    con.commit()
    con.close()
    line = run_clean(folder, ["sweep", "sweep.toml", "--db", "db.sqlite", "--workers", "0"])
    assert "another program or schema" in line


def test_map_plot_failure_leaves_no_out_file(folder, run_clean):
    line = run_clean(folder, ["map", "--sizes", "4,8", "--method", "greedy", "--out", "p.json", "--plot", "no/x.png"])
    assert "no" in line and not (folder / "p.json").exists()


def test_failing_sweep_leaves_no_csv_and_no_temporary(folder, bench):
    before = bench.snapshot(folder)
    res = bench.run_in_process(["sweep", "sweep.toml", "--db", "new.sqlite", "--csv", "x.csv",
                                "--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "1"])
    assert res["traceback"] is None and res["rc"] != 0
    assert bench.snapshot(folder) == before                       # no x.csv, no .x.csv.*.part, no database


def test_score_checks_out_before_training(folder, run_clean):
    line = run_clean(folder, ["score", "sched.toml", "--steps", "5", "--out", "no/s.json", "--plot", "s.png"])
    assert "--out" in line and not (folder / "s.png").exists()


def test_zero_neuron_network_reports_no_energy_per_spike(folder, capsys):
    import scipy.sparse as sp

    from mosaic.network import SpikingNetwork
    SpikingNetwork(sp.csr_matrix((4, 0)), sp.csr_matrix((0, 0)), beta=0.9, threshold=1.0).save(folder / "zero.npz")
    assert main(["simulate", "--net", "zero.npz", "--steps", "5"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"per spike +-\n", out) and re.search(r"spikes per neuron per step +-\n", out), out


@pytest.mark.slow
def test_a_full_disk_leaves_the_old_report(folder):
    """A real write failure: the command runs with a file-size limit (RLIMIT_FSIZE), so writing
    the report fails with EFBIG as on a full disk; the old report stays, nothing else is left."""
    import resource
    import signal
    import subprocess
    import sys
    (folder / "r.json").write_text('{"old": true}')
    before = {p.name for p in folder.iterdir()}

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)            # fail the write instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))
    r = subprocess.run([sys.executable, "-m", "mosaic_grow.cli", "simulate", "--sizes", "4,8", "--steps", "50",
                        "--out", "r.json"], cwd=folder, capture_output=True, text=True, preexec_fn=limit,
                       timeout=300, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "NUMBA_CACHE_DIR": "/tmp"})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "File too large" in lines[0], r.stderr[-2000:]
    assert (folder / "r.json").read_text() == '{"old": true}'
    assert {p.name for p in folder.iterdir()} == before


@pytest.mark.parametrize("value", ["0", "-3", "nan"])
def test_bad_connect_timeout_is_refused_before_anything_is_written(folder, run_clean, value):
    line = run_clean(folder, ["sweep", "sweep.toml", "--db", "new.sqlite", "--scheduler", "tcp://127.0.0.1:1",
                              "--connect-timeout", value])
    assert "--connect-timeout" in line and value in line
