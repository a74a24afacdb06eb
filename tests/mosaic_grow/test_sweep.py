"""Sweeps: grid expansion, config hashing, a real Dask LocalCluster, interruption and resume."""
from __future__ import annotations

import pytest

from mosaic_grow.store import ResultStore, config_hash
from mosaic_grow.sweep import SweepError, expand, open_store, parse_config, run_config, run_sweep

TIMING = ("wall_s", "map_wall_s", "sim_wall_s")

SMALL = {"sweep": {"seeds": [0, 1, 2], "steps": 10},
         "hardware": {"preset": "mosaic-4x4", "grid": ["2x2", "2x4"]},
         "workload": {"sizes": [[8, 24, 8]], "rate": 0.3}}


@pytest.fixture(scope="module")
def client():
    """One real 2-process LocalCluster shared by this module's tests."""
    from mosaic_grow.sweep import close_client, make_client
    c = make_client(workers=2)
    yield c
    close_client(c)


def comparable(store: ResultStore) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in store.rows()]


def test_expand_is_the_product_without_duplicates():
    axes = parse_config({"sweep": {"seeds": [0, 1]},
                         "hardware": {"grid": ["2x2", "4x4"], "bandwidth": [1, 2]},
                         "workload": {"generator": ["random_feedforward", "small_world"],
                                      "sizes": [[8, 16], [8, 32]], "n": 64}})
    runs = expand(axes)
    # (2 sizes for random_feedforward + 1 for small_world) x 2 grids x 2 bandwidths x 2 seeds
    assert len(runs) == 3 * 2 * 2 * 2
    assert len({config_hash(r) for r in runs}) == len(runs)
    sw = [r for r in runs if r["generator"] == "small_world"]
    assert sw and all("sizes" not in r and r["n"] == 64 for r in sw)
    assert all("n" not in r for r in runs if r["generator"] == "random_feedforward")
    assert expand(axes) == runs                            # stable order


def test_fill_is_greedy_one_run_under_either_name():
    axes = parse_config({"mapping": {"method": ["fill", "greedy", "cpsat"]}})
    assert axes["method"] == ["greedy", "cpsat"]
    assert parse_config({})["method"] == ["greedy"]


def test_scalar_sizes_is_one_value():
    runs = expand(parse_config({"workload": {"sizes": [8, 16, 4]}}))
    assert len(runs) == 1 and runs[0]["sizes"] == [8, 16, 4]


@pytest.mark.parametrize("doc, words", [
    ({"hardwre": {}}, ["hardwre", "known tables"]),
    ({"hardware": {"bandwith": 2}}, ["hardware.bandwith", "bandwidth"]),
    ({"hardware": {"grid": ["4by4"]}}, ["4by4", "rows x cols"]),
    ({"workload": {"generator": "lattice"}}, ["lattice"]),
    ({"sweep": {"seeds": []}}, ["sweep.seeds", "empty"]),
    ({"mapping": {"method": ["greedy", "psychic"]}}, ["mapping.method", "'psychic'", "cpsat"]),
])
def test_bad_config_names_the_key(doc, words):
    with pytest.raises(SweepError) as e:
        parse_config(doc, where="x.toml")
    for w in words:
        assert w in str(e.value)


def test_existing_db_needs_resume(tmp_path):
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as s:
        s.put({"a": 1}, "ok", {})
    with pytest.raises(SweepError, match="--resume"):
        open_store(db, resume=False)
    open_store(db, resume=True).close()


def test_run_config_figures_are_consistent():
    cfg = expand(parse_config(SMALL))[0]
    r = run_config(cfg)
    assert r["n_cores"] == 4 and r["n_neurons"] == 32
    assert r["packets_injected"] == r["packets_delivered"] + r["packets_dropped"] + r["packets_in_flight"]
    assert r["energy_total_pj"] > 0
    assert r == {**run_config(cfg), **{k: r[k] for k in TIMING if k in r}}   # deterministic


def test_interrupted_sweep_resumes_to_the_uninterrupted_table(tmp_path, client):
    configs = expand(parse_config(SMALL))
    assert len(configs) == 6
    with open_store(tmp_path / "full.sqlite", resume=False) as full:
        stats = run_sweep(configs, full, client=client, progress=False)
        assert stats.executed == 6 and stats.failed == 0
        expected = comparable(full)
    with open_store(tmp_path / "part.sqlite", resume=False) as part:
        first = run_sweep(configs, part, client=client, limit=2, progress=False)
        assert (first.executed, first.pending) == (2, 4) and len(part) == 2
    with open_store(tmp_path / "part.sqlite", resume=True) as part:
        second = run_sweep(configs, part, client=client, progress=False)
        assert (second.skipped, second.executed, second.pending) == (2, 4, 0)
        assert len(part) == 6 and len(part.hashes()) == 6  # no duplicates, no lost rows
        assert comparable(part) == expected
        again = run_sweep(configs, part, client=client, progress=False)
        assert again.executed == 0 and again.skipped == 6


def test_failing_run_is_recorded_and_retried_on_resume(tmp_path, client):
    doc = {"sweep": {"seeds": [0], "steps": 5}, "hardware": {"preset": "mosaic-4x4", "grid": ["1x2", "2x2"]},
           "workload": {"sizes": [[8, 80]]}}                    # 80 neurons: 64 slots on 1x2, 128 on 2x2
    configs = expand(parse_config(doc))
    with open_store(tmp_path / "f.sqlite", resume=False) as s:
        stats = run_sweep(configs, s, client=client, progress=False)
        assert (stats.executed, stats.failed) == (2, 1)
        (bad,) = [r for r in s.rows() if r["status"] == "failed"]
        assert bad["grid"] == "1x2" and "80 neurons" in bad["error"]
        again = run_sweep(configs, s, client=client, progress=False)
        assert (again.skipped, again.executed, again.failed) == (1, 1, 1)   # failed runs are retried
        assert len(s) == 2


def test_in_process_mode_matches_dask(tmp_path, client):
    configs = expand(parse_config(SMALL))[:2]
    with open_store(tmp_path / "a.sqlite", False) as a, open_store(tmp_path / "b.sqlite", False) as b:
        run_sweep(configs, a, workers=0, progress=False)
        run_sweep(configs, b, client=client, progress=False)
        assert comparable(a) == comparable(b)


def test_growth_schedule_axis(tmp_path):
    """Schedules are an axis; their content is hashed; results carry accuracy for the Pareto plot."""
    from mosaic_grow.plots import plot_sweep
    (tmp_path / "a.toml").write_text("initial = [8]\n[[event]]\nstep = 10\nlayer = 0\nk = 8\n")
    (tmp_path / "b.toml").write_text("initial = [12]\n")
    cfg = tmp_path / "g.toml"
    cfg.write_text('[sweep]\nseeds = [0]\n[hardware]\npreset = "mosaic-4x4"\n'
                   '[growth]\nschedule = ["a.toml", "b.toml"]\ntrain_steps = 20\nn_sim = 2\n')
    from mosaic_grow.sweep import load_config
    configs = expand(load_config(cfg))
    assert [c["schedule"]["name"] for c in configs] == ["a", "b"]
    assert all("sizes" not in c and "rate" not in c for c in configs)
    with open_store(tmp_path / "g.sqlite", resume=False) as s:
        stats = run_sweep(configs, s, workers=0, progress=False)
        assert (stats.executed, stats.failed) == (2, 0), stats.errors
        rows = {r["schedule_name"]: r for r in s.rows()}
    assert rows["a"]["sizes"][0] == 16 and rows["b"]["sizes"][0] == 12     # a grew 8 -> 16
    assert rows["a"]["growth_events"] == 1 and len(rows["a"]["path_accuracy"]) == 2
    assert all(0 <= r["accuracy"] <= 1 and r["energy_total_pj"] > 0 for r in rows.values())
    names = sorted(p.name for p in plot_sweep(list(rows.values()), tmp_path / "plots"))
    assert names == ["growth_paths.png", "pareto_accuracy_energy.png"]
    (tmp_path / "a.toml").write_text("initial = [8]\n[[event]]\nstep = 10\nlayer = 0\nk = 4\n")
    assert config_hash(expand(load_config(cfg))[0]) != config_hash(configs[0])   # edited schedule: new run
    cfg.write_text('[growth]\nschedule = ["missing.toml"]\n')
    with pytest.raises(SweepError, match="missing.toml"):
        load_config(cfg)


def test_cli_sweep_on_an_existing_scheduler(tmp_path, client, capsys):
    """`mosaic sweep --scheduler ADDRESS` uses a running Dask cluster (here the module's LocalCluster)."""
    import json
    from mosaic_grow.cli import main
    cfg = tmp_path / "s.toml"
    cfg.write_text('[sweep]\nseeds = [0, 1]\nsteps = 5\n[hardware]\npreset = "mosaic-4x4"\ngrid = "2x2"\n'
                   '[workload]\nsizes = [[8, 16]]\n')
    capsys.readouterr()
    rc = main(["sweep", str(cfg), "--db", str(tmp_path / "r.sqlite"), "--scheduler", client.scheduler.address,
               "--json", "--no-progress"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and (doc["executed"], doc["failed"]) == (2, 0)
    assert client.status == "running"                   # the CLI closed only its own client
