"""Parameter sweeps on Dask with a SQLite result store.

A sweep config (TOML) lists values per axis; the sweep is their Cartesian product:

```toml
[sweep]
seeds = [0, 1, 2]                 # one run per seed
steps = 50                        # time steps per run
routing = "cycle"                 # or "ideal"
late = "defer"                    # or "drop"

[hardware]                        # every key: one value or a list of values (an axis)
preset = "mosaic-8x8"
grid = ["2x2", "4x4", "8x8"]      # optional rows x cols override
neurons_per_core = [32]
bandwidth = [1, 2]
buffer_depth = 8

[workload]
generator = "random_feedforward"  # or "small_world"
sizes = [[64, 128, 128, 10]]      # random_feedforward: inputs then layers (a list of lists)
n = 1024                          # small_world: neurons
rate = [0.1, 0.3]                 # input spike probability per step

[mapping]
method = ["greedy", "cpsat"]      # "greedy" (default; alias "fill"), "random", "anneal", "cpsat"
time_limit = 10                   # CP-SAT seconds

[growth]                          # optional: growth runs instead of generated workloads
schedule = ["a.toml", "b.toml"]   # growth.schedules files, relative to this config
growth_method = ["gradmax", "random"]
dataset = "digits"                # or "mnist1d"
train_steps = 300                 # Adam steps per run
n_sim = 20                        # test samples simulated on the chip
```

```toml
[front]                           # optional: a grid of accuracy-energy front points instead
workloads = ["digits_mlp", "mnist1d_mlp"]      # growth.fronts.RUNNERS
strategies = ["fixed", "random", "controller"]  # each at its settings (growth.fronts.settings)
quick = false                     # the runners' quick sizes (tests)
```

A front run is one point of ``growth.fronts.run_point`` (workload, strategy, setting, seed);
the table allows only ``[sweep] seeds`` beside it.

A growth run trains a spiking MLP along its schedule (``growth.score.score_schedule``: incremental
mapping after every growth step) and stores the final accuracy,
energy and latency per inference; the schedule's content (not its path) is part of the config,
so editing a schedule file makes new runs.

Each run is a flat config dict; its sha256 over canonical JSON (``store.config_hash``)
is the primary key in the result store.  Runs execute on a Dask ``LocalCluster``
(one single-threaded worker process per core) or an existing scheduler; the client
writes each result as it completes, one transaction per row.  A run that raises is
recorded as ``failed`` with its error text and the sweep goes on.  ``resume`` skips
the runs already stored with status ``ok``; failed runs are retried (their row is
replaced), since failures are often transient (a time limit, a lost worker).
"""
from __future__ import annotations

import itertools
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import tomllib
from tqdm.auto import tqdm

from mapper import METHODS, map_network
from mosaic import generators
from mosaic.placement import Placement
from mosaic.simulate import simulate
from mosaic.spec import HardwareSpec

from .errors import AppError, is_interrupt
from .store import ResultStore, StoreError, config_hash

SECTIONS: dict[str, tuple[str, ...]] = {
    "sweep": ("seeds", "steps", "routing", "late"),
    "hardware": ("preset", "grid", "neurons_per_core", "bandwidth", "buffer_depth", "cycles_per_hop",
                 "step_cycles"),
    "workload": ("generator", "sizes", "n", "k", "p", "rate"),
    "mapping": ("method", "time_limit"),
    "growth": ("schedule", "growth_method", "dataset", "train_steps", "n_sim"),
    "front": ("workloads", "strategies", "quick"),
}
WORKLOAD_KEYS = ("generator", "sizes", "n", "k", "p", "rate", "steps", "routing", "late")  # unused by growth runs
DEFAULTS: dict[str, Any] = {"seeds": [0], "steps": 50, "routing": "cycle", "late": "defer",
                            "preset": "mosaic-8x8", "generator": "random_feedforward", "rate": 0.2,
                            "method": "greedy", "time_limit": 10.0}
GENERATOR_KEYS = {"random_feedforward": ("sizes", "p"), "small_world": ("n", "k")}
LIST_VALUED = {"sizes"}           # a value of these keys is itself a list


PLACE_METHODS = METHODS          # mapper.map_network's methods
PLACE_ALIASES = {"fill": "greedy"}   # the chip-order fill's old name, still accepted


class SweepError(AppError):
    """A sweep config or request is invalid."""


# -- config --------------------------------------------------------------------
def load_config(path: str | Path) -> dict[str, Any]:
    """Read and check a sweep TOML file; returns {axis key: list of values}."""
    p = Path(path)
    if not p.is_file():
        raise SweepError(f"sweep config {str(p)!r} does not exist")
    try:
        doc = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{p}: malformed TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise SweepError(f"{p}: not a text file ({e})") from None
    if not doc:
        raise SweepError(f"{p}: the sweep config is empty; give at least one table, e.g. [hardware] "
                         f"(see examples/sweep_example.toml)")
    return parse_config(doc, where=str(p), base_dir=p.parent)


def _load_schedule(value: Any, base_dir: Path, where: str) -> dict[str, Any]:
    """A schedule file (path relative to the config) as {"name": stem, initial, event, ...}."""
    # lazy: growth loads torch (seconds); only growth sweeps need it, not the CLI or plain runs
    from growth.errors import ScheduleError
    from growth.schedules import Schedule
    if not isinstance(value, str):
        raise SweepError(f"{where}: growth.schedule values are schedule file paths, got {value!r}")
    path = Path(value) if Path(value).is_absolute() else base_dir / value
    if not path.is_file():
        raise SweepError(f"{where}: growth schedule file {str(path)!r} does not exist")
    try:
        return {"name": path.stem, **Schedule.load(path).to_dict()}
    except ScheduleError as e:
        raise SweepError(f"{where}: {e}") from None


def _front_axes(doc: dict[str, Any], where: str) -> dict[str, list[Any]]:
    """A [front] grid: axis "front" of {workload, strategy, setting, quick} points, and seeds."""
    # lazy: growth loads torch (seconds); only front sweeps need it, not the CLI or plain runs
    from growth.errors import GrowthError
    from growth.fronts import STRATEGIES, settings
    extra = sorted(set(doc) - {"front", "sweep"}) + [f"sweep.{k}" for k in doc.get("sweep", {}) if k != "seeds"]
    if extra:
        raise SweepError(f"{where}: a [front] sweep takes only [front] and sweep.seeds, not {', '.join(extra)}")
    front = doc["front"]
    unknown = sorted(set(front) - set(SECTIONS["front"]))
    if unknown:
        raise SweepError(f"{where}: unknown key front.{unknown[0]}; known keys: {', '.join(SECTIONS['front'])}")
    if "workloads" not in front:
        raise SweepError(f"{where}: [front] needs workloads = [...] (e.g. [\"digits_mlp\"])")
    quick = front.get("quick", False)
    if not isinstance(quick, bool):
        raise SweepError(f"{where}: front.quick must be true or false, got {quick!r}")
    points = []
    for w in _as_axis("workloads", front["workloads"], where, "front"):
        for s in _as_axis("strategies", front.get("strategies", list(STRATEGIES)), where, "front"):
            try:
                points += [{"workload": w, "strategy": s, "setting": float(x), "quick": quick}
                           for x in settings(w, s, quick=quick)]
            except GrowthError as e:
                raise SweepError(f"{where}: {e}") from None
    seeds = _as_axis("seeds", doc.get("sweep", {}).get("seeds", DEFAULTS["seeds"]), where, "sweep")
    if any(isinstance(x, bool) or not isinstance(x, int) for x in seeds):
        raise SweepError(f"{where}: sweep.seeds must be integers, got {seeds}")
    return {"front": points, "seeds": seeds}


def parse_config(doc: dict[str, Any], where: str = "sweep config", base_dir: str | Path = ".") -> dict[str, Any]:
    """{section: {key: value or list}} -> {key: list of values} with defaults filled in."""
    if "front" in doc and isinstance(doc["front"], dict):
        return _front_axes(doc, where)
    axes: dict[str, list[Any]] = {}
    for section, table in doc.items():
        if section not in SECTIONS:
            raise SweepError(f"{where}: unknown table [{section}]; known tables: {', '.join(SECTIONS)}")
        if not isinstance(table, dict):
            raise SweepError(f"{where}: [{section}] must be a table")
        for key, value in table.items():
            if key not in SECTIONS[section]:
                raise SweepError(f"{where}: unknown key {section}.{key}; known keys in [{section}]: "
                                 f"{', '.join(SECTIONS[section])}")
            axes[key] = _as_axis(key, value, where, section)
    for key, value in DEFAULTS.items():
        axes.setdefault(key, value if isinstance(value, list) else [value])
    if "seeds" in axes and any(not isinstance(s, int) for s in axes["seeds"]):
        raise SweepError(f"{where}: sweep.seeds must be integers, got {axes['seeds']}")
    for gen in axes["generator"]:
        if gen not in GENERATOR_KEYS:
            raise SweepError(f"{where}: unknown workload.generator {gen!r}; choose {', '.join(GENERATOR_KEYS)}")
    if "random_feedforward" in axes["generator"] and "sizes" not in axes:
        axes["sizes"] = [[64, 128, 128, 10]]
    if "small_world" in axes["generator"] and "n" not in axes:
        axes["n"] = [1024]
    for grid in axes.get("grid", []):
        _parse_grid(grid, where)
    axes["method"] = list(dict.fromkeys(PLACE_ALIASES.get(m, m) for m in axes["method"]))  # fill = greedy
    for method in axes["method"]:
        if method not in PLACE_METHODS:
            raise SweepError(f"{where}: unknown mapping.method {method!r}; choose {', '.join(PLACE_METHODS)}")
    if "schedule" in axes:
        axes["schedule"] = [_load_schedule(v, Path(base_dir), where) for v in axes["schedule"]]
    elif any(k in axes for k in SECTIONS["growth"]):
        raise SweepError(f"{where}: [growth] needs schedule = [...] (schedule files)")
    return axes


def _as_axis(key: str, value: Any, where: str, section: str) -> list[Any]:
    if key in LIST_VALUED:
        if not isinstance(value, list) or not value:
            raise SweepError(f"{where}: {section}.{key} must be a list like [64, 128, 10] or a list of such lists")
        values = value if isinstance(value[0], list) else [value]
    else:
        values = value if isinstance(value, list) else [value]
    if not values:
        raise SweepError(f"{where}: {section}.{key} is an empty list; give at least one value")
    return values


def _parse_grid(grid: Any, where: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in str(grid).lower().split("x"))
        if rows < 1 or cols < 1:
            raise ValueError
    except ValueError:
        raise SweepError(f"{where}: hardware.grid values look like \"4x4\" (rows x cols), got {grid!r}") from None
    return rows, cols


def expand(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of the axes as run configs, without duplicates, in a stable order.

    Keys that do not apply to a run's generator (``sizes`` for small_world) are dropped.
    """
    keys = sorted(k for k in axes if k != "seeds")
    runs: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*(axes[k] for k in keys), axes["seeds"]):
        cfg = dict(zip(keys, values[:-1]))
        cfg["seed"] = values[-1]
        if "front" in cfg:                     # a front point: nothing else applies
            pass
        elif "schedule" in cfg:                # a growth run: the network comes from training
            for key in WORKLOAD_KEYS:
                cfg.pop(key, None)
        else:
            mine = GENERATOR_KEYS[cfg["generator"]]
            for key in {k for own in GENERATOR_KEYS.values() for k in own} - set(mine):
                cfg.pop(key, None)
        runs.setdefault(config_hash(cfg), cfg)
    return list(runs.values())


# -- one run ---------------------------------------------------------------------
def build_spec(cfg: dict[str, Any]):
    """The HardwareSpec of a run config: the preset with the config's overrides."""
    spec = HardwareSpec.preset(cfg.get("preset", DEFAULTS["preset"]))
    changes = {k: cfg[k] for k in SECTIONS["hardware"] if k in cfg and k not in ("preset", "grid")}
    if "grid" in cfg:
        changes["rows"], changes["cols"] = _parse_grid(cfg["grid"], "run config")
    return spec.replace(**changes) if changes else spec


def build_network(cfg: dict[str, Any]):
    """The run's workload network, seeded by the run's seed."""
    gen = cfg.get("generator", DEFAULTS["generator"])
    seed = int(cfg.get("seed", 0))
    if gen == "random_feedforward":
        kw = {"p": cfg["p"]} if "p" in cfg else {}
        return generators.random_feedforward(list(cfg["sizes"]), seed=seed, **kw)
    if gen == "small_world":
        kw = {"k": cfg["k"]} if "k" in cfg else {}
        return generators.small_world(int(cfg["n"]), seed=seed, **kw)
    raise SweepError(f"unknown generator {gen!r}; choose {', '.join(GENERATOR_KEYS)}")


def place(net, spec, method: str, seed: int = 0, time_limit: float = 10.0, *, rates=None,
          progress: bool = False) -> Placement:
    """The placement chooser of the CLI and of sweeps: ``mapper.map_network`` by ``method``
    (one of ``PLACE_METHODS``, or an alias in ``PLACE_ALIASES``); ``time_limit`` in s."""
    return map_network(net, spec, PLACE_ALIASES.get(method, method), rates=rates, seed=seed,
                       time_limit=time_limit, progress=progress)


def report_metrics(report: Any, steps: int) -> dict[str, Any]:
    """Flat scalar figures of a RunReport (packets, latency, load, energy) for the store,
    taken from ``RunReport.summary()`` under the store's column names."""
    s = report.summary()
    out: dict[str, Any] = {"spikes": s["spikes"], "spike_rate": s["mean_rate"]}
    for k, v in s["packets"].items():
        out[f"packets_{k}"] = v
    out["offered_per_step"] = out["packets_injected"] / steps
    out["accepted_per_step"] = (out["packets_injected"] - out["packets_late"]) / steps
    out["latency_mean_cycles"] = s["latency_mean_cycles"]
    out["latency_max_cycles"] = float(s["latency_max_cycles"])
    out["latency_mean_ns"] = s["latency_mean_ns"]
    out["router_load_max"] = float(s["peak_router_load"])
    out["router_load_mean"] = s["router_load_mean"]
    for k, v in s["energy_pj"].items():
        out[f"energy_{k}_pj"] = v
    return out


def run_growth(cfg: dict[str, Any]) -> dict[str, Any]:
    """A growth run: train along the config's schedule, map and measure on the chip."""
    # lazy: growth and models load torch (seconds); Dask workers of plain sweeps never need it
    import torch

    from growth.schedules import Schedule
    from growth.score import RunConfig, score_schedule
    from models.datasets import load_dataset
    torch.set_num_threads(1)
    spec = build_spec(cfg)
    seed = int(cfg.get("seed", 0))
    sched = Schedule.from_dict({k: v for k, v in cfg["schedule"].items() if k != "name"})
    method = cfg.get("method", DEFAULTS["method"])
    rc = RunConfig(steps=int(cfg.get("train_steps", 300)), n_sim=int(cfg.get("n_sim", 20)),
                   mapping=PLACE_ALIASES.get(method, method),
                   time_limit=float(cfg.get("time_limit", DEFAULTS["time_limit"])), seed=seed)
    data = load_dataset(cfg.get("dataset", "digits"), seed=seed)
    t0 = time.perf_counter()
    score = score_schedule(sched, spec, None, data, config=rc, method=cfg.get("growth_method", "gradmax"))
    final = score.final
    return {"n_cores": spec.n_cores, "rows": spec.rows, "cols": spec.cols, "neurons_per_core": spec.neurons_per_core,
            "bandwidth": spec.bandwidth, "buffer_depth": spec.buffer_depth, "schedule_name": cfg["schedule"]["name"],
            "sizes": final["sizes"], "n_neurons": int(sum(final["sizes"])), "accuracy": float(final["accuracy"]),
            "energy_total_pj": float(final["energy_pj"]), "latency_mean_ns": float(final["latency_ns"]),
            "port_use": float(final["port_use"]), "cores_used": int(final["cores"]),
            "growth_events": len(score.events), "path_accuracy": [float(r["accuracy"]) for r in score.rows],
            "path_energy_pj": [float(r["energy_pj"]) for r in score.rows], "train_wall_s": time.perf_counter() - t0}


def run_front(cfg: dict[str, Any]) -> dict[str, Any]:
    """A front point: ``growth.fronts.run_point`` of the config's workload, strategy, setting, seed."""
    # lazy: growth loads torch (seconds); Dask workers of plain sweeps never need it
    from growth.fronts import run_point
    f = cfg["front"]
    return run_point(f["workload"], f["strategy"], f["setting"], int(cfg["seed"]), quick=bool(f["quick"]))


def run_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Execute one sweep run in this process; returns its flat result dict (raises on failure)."""
    if "front" in cfg:
        return run_front(cfg)
    if cfg.get("study") == "tuning":
        from .studies.tuning import run_trial  # lazy: torch and optuna (seconds); plain sweeps never need them
        return run_trial(cfg)
    if "schedule" in cfg:
        return run_growth(cfg)
    spec = build_spec(cfg)
    net = build_network(cfg)
    seed = int(cfg.get("seed", 0))
    t0 = time.perf_counter()
    placement = place(net, spec, cfg.get("method", DEFAULTS["method"]), seed,
                      float(cfg.get("time_limit", DEFAULTS["time_limit"])))
    t_map = time.perf_counter() - t0
    steps = int(cfg.get("steps", DEFAULTS["steps"]))
    rate = float(cfg.get("rate", DEFAULTS["rate"]))
    if not 0.0 <= rate <= 1.0:
        raise SweepError(f"workload.rate is a spike probability per input per step, in [0, 1]; got {rate}")
    x = generators.bernoulli_spikes(net.n_inputs, steps, rate, seed + 1)
    t1 = time.perf_counter()
    report = simulate(net, spec, placement, x, routing=cfg.get("routing", "cycle"), late=cfg.get("late", "defer"))
    t_sim = time.perf_counter() - t1
    result = {"n_cores": spec.n_cores, "rows": spec.rows, "cols": spec.cols,
              "neurons_per_core": spec.neurons_per_core, "bandwidth": spec.bandwidth,
              "buffer_depth": spec.buffer_depth, "n_neurons": net.n_neurons, "n_synapses": net.n_synapses,
              "cores_used": int(np.unique(placement.core_of).size), "map_objective": float(placement.objective),
              "map_gap": float(placement.gap), "map_status": placement.status, "map_wall_s": t_map,
              "sim_wall_s": t_sim}
    result.update(report_metrics(report, steps))
    return result


def execute(cfg: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str | None, float]:
    """Run one config, catching its failure: (status, result, error text, wall seconds).

    This is the function shipped to Dask workers.
    """
    t0 = time.perf_counter()
    try:
        result = run_config(cfg)
        return "ok", result, None, time.perf_counter() - t0
    except Exception as e:  # a failing run is recorded, the sweep goes on
        if is_interrupt(e):
            raise KeyboardInterrupt from None
        tb = traceback.extract_tb(e.__traceback__)
        where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
        return "failed", None, f"{type(e).__name__}: {e}{where}", time.perf_counter() - t0


# -- the sweep ---------------------------------------------------------------------
@dataclass
class SweepStats:
    """What one ``run_sweep`` call did."""

    total: int                 # runs in the config
    skipped: int               # already stored with status ok (resume)
    executed: int = 0          # runs executed and stored by this call
    failed: int = 0            # of which failed
    pending: int = 0           # left for a later --resume (limit reached)
    wall_s: float = 0.0
    store_s: float = 0.0       # time spent writing results to the store
    run_s: float = 0.0         # sum of run wall times reported by the workers
    errors: list[str] = field(default_factory=list)


def open_store(db: str | Path, resume: bool) -> ResultStore:
    """The result store, claimed for this sweep; one already used by a sweep needs ``resume``."""
    store = ResultStore(db)
    try:
        store.claim_sweep(resume)
    except StoreError as e:
        store.close()
        raise SweepError(str(e)) from None
    return store


def make_client(workers: int | None = None, scheduler: str | None = None, connect_timeout: float = 20.0):
    """A Dask client: to ``scheduler`` if given (giving up after ``connect_timeout`` s), else
    a LocalCluster of ``workers`` single-threaded worker processes (default: one per core)."""
    from distributed import Client, LocalCluster    # seconds to import; only sweeps on Dask need it
    if scheduler:
        return Client(scheduler, timeout=f"{connect_timeout}s")
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    return Client(cluster)


def close_client(client, kill: bool = False) -> None:
    """Close a client and its local cluster; ``kill`` (Ctrl-C) first terminates the local
    worker processes, since a graceful close waits seconds for them."""
    cluster = getattr(client, "cluster", None)
    if kill:
        for nanny in getattr(cluster, "workers", {}).values():
            proc = getattr(getattr(nanny, "process", None), "process", None)
            if proc is not None:
                proc.terminate()
    client.close()
    if cluster is not None:
        cluster.close()


def run_sweep(configs: Iterable[dict[str, Any]], store: ResultStore, *, client=None, workers: int | None = None,
              scheduler: str | None = None, limit: int | None = None, progress: bool = True,
              run: Callable[[dict[str, Any]], tuple] = execute, connect_timeout: float = 20.0) -> SweepStats:
    """Execute the runs not yet stored as ``ok`` and store each result as it completes.

    ``client``: an existing Dask client (kept open); otherwise one is made from
    ``scheduler``/``workers`` (``make_client``, ``connect_timeout`` s) and closed at the end.  ``workers=0`` runs in this
    process without Dask.  ``limit`` caps how many runs this call executes (the
    rest stay pending for a later resume).
    """
    configs = list(configs)
    done = store.hashes("ok")
    todo = [(config_hash(c), c) for c in configs]
    pending = [(h, c) for h, c in todo if h not in done]
    stats = SweepStats(total=len(todo), skipped=len(todo) - len(pending))
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise SweepError(f"limit must be a whole number >= 0, got {limit!r}")
        stats.pending = max(0, len(pending) - limit)
        pending = pending[:limit]
    mine = set(store.claim_runs([h for h, _ in pending]))     # a concurrent --resume runs the rest
    stats.pending += len(pending) - len(mine)
    pending = [(h, c) for h, c in pending if h in mine]
    t0 = time.perf_counter()
    bar = tqdm(total=len(pending), desc="sweep", unit="run", disable=not progress or not pending)

    def record(key: str, cfg: dict[str, Any], out: tuple) -> None:
        status, result, error, wall = out
        ts = time.perf_counter()
        store.put(cfg, status, result, error, wall, key=key)
        stats.store_s += time.perf_counter() - ts
        stats.executed += 1
        stats.run_s += wall
        if status != "ok":
            stats.failed += 1
            stats.errors.append(f"{key[:12]}: {error}")
        bar.update(1)

    try:
        if workers == 0 and client is None and scheduler is None:
            for key, cfg in pending:
                record(key, cfg, run(cfg))
        elif pending:
            own = client is None
            client = client or make_client(workers, scheduler, connect_timeout)
            try:
                _run_on_dask(client, pending, run, record)
            except KeyboardInterrupt:
                if own:
                    close_client(client, kill=True)
                    own = False
                raise
            finally:
                if own:
                    close_client(client)
    finally:
        bar.close()
        store.release_claims()
        stats.wall_s = time.perf_counter() - t0
    return stats


def _run_on_dask(client, pending, run, record) -> None:
    from distributed import as_completed
    futures = {}
    for key, cfg in pending:
        fut = client.submit(run, cfg, pure=False)
        futures[fut] = (key, cfg)
    try:
        for fut in as_completed(futures):
            key, cfg = futures[fut]
            try:
                out = fut.result()
            except Exception as e:  # the worker died or the task was lost: record and go on
                out = ("failed", None, f"{type(e).__name__}: {e}", 0.0)
            record(key, cfg, out)
    finally:
        client.cancel(list(futures))
