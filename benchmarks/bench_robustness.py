"""Hostile input: generated corruptions of every file the `mosaic` command reads, and bad flags.

Each case is a command line run in a fresh folder holding valid base files (a spec TOML, a
network .npz and the same network as NIR, a placement JSON, a growth schedule, a sweep config, a sweep database) with one
of them corrupted, or with one hostile flag.  Every case is bad input, so a clean outcome is:
exit status 2, exactly one stderr line starting ``mosaic: error:``, no traceback, done within
60 s, and no file created, removed or changed in the folder.  Cases run in a worker process
(so a segfault or a hang is caught: the worker is killed and restarted) calling the CLI's
``main`` in process, as the console script does.

    python benchmarks/bench_robustness.py [--quick] [--cases N] [--seed S]

Target (issue 17): bad_inputs_clean = 100% over >= 100 generated corruptions (0 tracebacks,
0 hangs with a 60 s cap, 0 partial or changed files).

Output: one JSON line per target, {"target": name, "value": ..., "goal": "...", "met": bool, ...}
(``targets.target`` / ``targets.emit``), also written to ``benchmarks/results/<name>.json``.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

HANG_S = 60.0
SPEC_INT_FIELDS = {"grid": ("rows", "cols", "neurons_per_core"),
                   "router": ("bandwidth", "buffer_depth", "cycles_per_hop", "step_cycles")}
SPEC_FLOAT_FIELDS = {"router": ("clock_mhz",), "timing": ("dt_us",),
                     "energy": ("e_synaptic_pj", "e_neuron_pj", "e_spike_out_pj", "e_router_pj")}
BAD_INTS = ("0", "-1", "-7", "1.5", "true", '"4"', "[4]", "10000000000000", "4611686018427387904")
BAD_FLOATS = ("-1.0", "nan", "inf", "-inf", "true", '"fast"', "1e308", "[1.0]")
SWEEP_TOML = """[sweep]\nseeds = [0]\nsteps = 5\n[hardware]\npreset = "mosaic-4x4"\n
[workload]\nsizes = [[4, 8, 4]]\nrate = 0.2\n[mapping]\nmethod = "greedy"\n"""
SCHEDULE_TOML = "initial = [8]\n\n[[event]]\nstep = 5\nlayer = 0\nk = 4\n"


# -- the base files ------------------------------------------------------------------
def base_files() -> dict[str, bytes]:
    """Valid inputs: chip.toml, net.npz (4 inputs, 12 neurons), net.nir (the same network,
    written by nir's own writer), place.json, sched.toml, sweep.toml, done.sqlite (a sweep
    database with one run)."""
    from mosaic.generators import random_feedforward
    from mosaic.placement import Placement
    from mosaic.spec import HardwareSpec
    from models.nir_io import write as write_nir
    from mosaic_grow.store import ResultStore
    spec = HardwareSpec.preset("mosaic-4x4")
    net = random_feedforward([4, 8, 4], seed=0)
    with tempfile.TemporaryDirectory() as d:
        net.save(Path(d) / "net.npz")
        with ResultStore(Path(d) / "done.sqlite") as s:
            s.put({"seed": 0}, "ok", {"energy_total_pj": 1.0})
        files = {n: (Path(d) / n).read_bytes() for n in ("net.npz", "done.sqlite")}
        write_nir(Path(d) / "net.nir", net)
        files["net.nir"] = (Path(d) / "net.nir").read_bytes()
    files["chip.toml"] = spec.to_toml().encode()
    files["place.json"] = Placement.fill(net, spec).to_json().encode()
    files["sched.toml"] = SCHEDULE_TOML.encode()
    files["sweep.toml"] = SWEEP_TOML.encode()
    return files


def _npz(files: dict[str, bytes], change: Callable[[dict], None]) -> bytes:
    with np.load(io.BytesIO(files["net.npz"])) as z:
        arrays = {k: z[k].copy() for k in z.files}
    change(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _set_toml(text: str, section: str, key: str, raw: str) -> str:
    out, cur = [], None
    for line in text.splitlines():
        if line.startswith("["):
            cur = line.strip("[] ")
        if cur == section and line.split("=")[0].strip() == key:
            line = f"{key} = {raw}"
        out.append(line)
    return "\n".join(out) + "\n"


SIM = ["simulate", "--steps", "5", "--no-progress"]


# -- corruption families: each returns (argv, {file: new bytes}) from a seeded rng -----
def c_spec_value(r: random.Random, f: dict) -> tuple:
    if r.random() < 0.5:
        sec = r.choice(list(SPEC_INT_FIELDS))
        key, raw = r.choice(SPEC_INT_FIELDS[sec]), r.choice(BAD_INTS)
    else:
        sec = r.choice(list(SPEC_FLOAT_FIELDS))
        key, raw = r.choice(SPEC_FLOAT_FIELDS[sec]), r.choice(BAD_FLOATS)
    return ["hw", "show", "--spec", "chip.toml"], {"chip.toml": _set_toml(f["chip.toml"].decode(), sec, key, raw).encode()}


def c_spec_structure(r: random.Random, f: dict) -> tuple:
    text = f["chip.toml"].decode()
    kind = r.choice(["no_router", "no_grid_key", "unknown_key", "truncated", "garbage", "scalar_table"])
    if kind == "no_router":
        lines = text.splitlines()
        a = lines.index("[router]")
        b = next(i for i in range(a + 1, len(lines)) if lines[i].startswith("["))
        text = "\n".join(lines[:a] + lines[b:])
    elif kind == "no_grid_key":
        key = r.choice(["rows", "cols", "neurons_per_core"])
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(key))
    elif kind == "unknown_key":
        text = text.replace("[router]", f"[router]\nbandwith_{r.randint(0, 99)} = 2")
    elif kind == "truncated":
        cut = text.index("[router]") + r.randint(1, 20)       # inside the router table: a key is lost
        text = text[:cut] + " = = "
    elif kind == "garbage":
        return SIM + ["--spec", "chip.toml"], {"chip.toml": bytes(r.randrange(256) for _ in range(200))}
    else:
        text = text.replace("[grid]", "grid = 3\n[grid_]")
    return SIM + ["--spec", "chip.toml", "--sizes", "4,8"], {"chip.toml": text.encode()}


def c_npz_indices(r: random.Random, f: dict) -> tuple:
    which = r.choice(["w", "w_in"])
    def change(a: dict) -> None:
        idx = a[f"{which}_indices"]
        if idx.size == 0:
            a[f"{which}_indptr"][-1] += 1
            return
        idx[r.randrange(idx.size)] = r.choice([-1, -r.randint(2, 10**6), 12 + r.randint(0, 10**6), 2**31 - 1])
    return SIM + ["--net", "net.npz"], {"net.npz": _npz(f, change)}


def c_npz_structure(r: random.Random, f: dict) -> tuple:
    kind = r.choice(["indptr_len", "indptr_order", "n_big", "n_negative", "w_in_shape", "drop_key",
                     "float_indices", "format", "beta_nan", "beta_range", "threshold", "refractory", "reset"])
    def change(a: dict) -> None:
        if kind == "indptr_len":
            a["w_indptr"] = a["w_indptr"][:-r.randint(1, 3)]
        elif kind == "indptr_order":
            a["w_indptr"] = a["w_indptr"][::-1].copy()
        elif kind == "n_big":
            a["n"] = np.array(r.choice([2**40, 10**12, 2**62]))
        elif kind == "n_negative":
            a["n"] = np.array(-r.randint(1, 100))
        elif kind == "w_in_shape":
            a["w_in_shape"] = np.array([4, 12 + r.randint(1, 9)])
        elif kind == "drop_key":
            del a[r.choice(["w_data", "beta", "n", "w_in_indptr", "threshold"])]
        elif kind == "float_indices":
            a["w_indices"] = a["w_indices"].astype(float) + 0.5
        elif kind == "format":
            a["format"] = np.array("mosaic-network-9")
        elif kind == "beta_nan":
            a["beta"] = np.full(12, np.nan)
        elif kind == "beta_range":
            a["beta"] = np.full(12, 1.0 + r.random())
        elif kind == "threshold":
            a["threshold"] = np.full(12, -r.random())
        elif kind == "refractory":
            a["refractory"] = np.full(12, -r.randint(1, 5))
        else:
            a["reset"] = np.array("explode")
    return SIM + ["--net", "net.npz"], {"net.npz": _npz(f, change)}


def c_npz_bytes(r: random.Random, f: dict) -> tuple:
    data = f["net.npz"]
    if r.random() < 0.5:
        data = data[: r.randrange(1, len(data) - 22)]        # truncated: the zip directory is lost
    else:
        data = bytes(r.randrange(256) for _ in range(r.randint(0, 400)))
    return SIM + ["--net", "net.npz"], {"net.npz": data}


NIR_NODES = "node/nodes/"
NIR_KINDS = ("truncated", "garbage", "weight_nan", "weight_text", "weight_bool", "weight_shape", "weight_rank",
             "missing_node", "missing_edges", "dropped_edge", "self_loop", "unknown_edge", "edges_int", "tau",
             "param_length", "threshold", "r_text", "v_leak_nan", "v_reset", "input_shape", "node_type",
             "missing_type", "dt", "reset", "layer", "linear_cycle", "dangling")


def _h5_set(f, key: str, value) -> None:
    del f[key]
    f[key] = value


def _h5_edge(f, a: str, b: str) -> None:
    edges = f["node/edges"][()].tolist() + [[a.encode(), b.encode()]]
    _h5_set(f, "node/edges", np.array(edges, dtype="S"))


def _h5_linear(f, name: str, shape: tuple) -> None:
    g = f.create_group(NIR_NODES + name)
    g["type"] = b"Linear"
    g["weight"] = np.ones(shape)


def _nir_change(r: random.Random, f, kind: str) -> None:
    """One corruption of the NIR graph in the open HDF5 file ``f`` (input 4 -> fc0 -> lif0 (8)
    -> fc1 -> lif1 (4) -> output)."""
    n = NIR_NODES
    lif, size = r.choice([("lif0", 8), ("lif1", 4)])
    if kind == "weight_nan":
        w = f[n + "fc0/weight"][()]
        w.flat[r.randrange(w.size)] = r.choice([np.nan, np.inf, -np.inf])
        _h5_set(f, n + "fc0/weight", w)
    elif kind == "weight_text":
        _h5_set(f, n + "fc1/weight", np.array([[b"w"] * 8] * 4))
    elif kind == "weight_bool":
        _h5_set(f, n + "fc0/weight", np.ones((8, 4), bool))
    elif kind == "weight_shape":
        _h5_set(f, n + "fc0/weight", np.ones(r.choice([(8, 4 + r.randint(1, 9)), (8 + r.randint(1, 9), 4), (7, 4)])))
    elif kind == "weight_rank":
        _h5_set(f, n + "fc0/weight", r.choice([np.ones((8, 4, 2)), np.float64(1.0), np.ones(8)]))
    elif kind == "missing_node":
        del f[n + r.choice(["lif0", "fc1", "lif1", "output", "input"])]
    elif kind == "missing_edges":
        del f["node/edges"]
    elif kind == "dropped_edge":
        e = f["node/edges"][()]
        _h5_set(f, "node/edges", np.delete(e, r.randrange(len(e)), axis=0))
    elif kind == "self_loop":
        _h5_edge(f, "fc0", "fc0")
    elif kind == "unknown_edge":
        _h5_edge(f, "fc0", f"ghost{r.randint(0, 99)}")
    elif kind == "edges_int":
        _h5_set(f, "node/edges", np.ones((5, 2), np.int64))
    elif kind == "tau":
        _h5_set(f, n + lif + "/tau", np.full(size, r.choice([0.0, -1e-3, np.nan, 1e-9])))
    elif kind == "param_length":
        _h5_set(f, n + lif + "/" + r.choice(["tau", "v_threshold", "r"]), np.ones(size + r.randint(1, 5)))
    elif kind == "threshold":
        _h5_set(f, n + lif + "/v_threshold", np.full(size, r.choice([np.nan, -1.0, 0.0, np.inf])))
    elif kind == "r_text":
        _h5_set(f, n + lif + "/r", np.array([b"r"] * size))
    elif kind == "v_leak_nan":
        _h5_set(f, n + lif + "/v_leak", np.full(size, np.nan))
    elif kind == "v_reset":
        _h5_set(f, n + lif + "/v_reset", np.full(size, r.choice([0.5, -1.0, np.nan])))
    elif kind == "input_shape":
        _h5_set(f, n + "input/shape", np.array(r.choice([[10**12], [100000, 100000], [-4], [0], [4.5]])))
    elif kind == "node_type":
        _h5_set(f, n + lif + "/type", r.choice([b"Quantum", b"Delay", 3]))
    elif kind == "missing_type":
        del f[n + r.choice(["fc0", "lif1", "input"]) + "/type"]
    elif kind == "dt":
        _h5_set(f, "node/metadata/dt", r.choice([b"fast", -1.0, np.nan, np.inf, 0.0, np.ones(3)]))
    elif kind == "reset":
        _h5_set(f, "node/metadata/reset", r.choice([b"explode", b"", b"Zero"]))
    elif kind == "layer":
        _h5_set(f, n + lif + "/metadata/layer", np.full(size, r.choice([-1, -7])))
    elif kind == "linear_cycle":
        _h5_linear(f, "loop", (4, 8))                       # fc0 -> loop -> fc0: no neuron in the loop
        _h5_edge(f, "fc0", "loop")
        _h5_edge(f, "loop", "fc0")
    else:                                                   # dangling: weights that reach no neuron
        _h5_linear(f, "lone", (3, 8))
        _h5_edge(f, "lif0", "lone")


def nir_corruption(r: random.Random, data: bytes, kind: str | None = None) -> tuple[str, bytes]:
    """(kind, corrupted bytes) of the NIR file ``data``: a byte-level or a graph corruption."""
    import h5py
    kind = kind or r.choice(NIR_KINDS)
    if kind == "truncated":
        return kind, data[: r.randrange(0, len(data) - 1)]
    if kind == "garbage":
        return kind, (b"\x89HDF\r\n\x1a\n" if r.random() < 0.5 else b"") + bytes(r.randrange(256) for _ in range(300))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.nir"
        p.write_bytes(data)
        with h5py.File(p, "r+") as f:
            _nir_change(r, f, kind)
        return kind, p.read_bytes()


def c_nir(r: random.Random, f: dict) -> tuple:
    argv = r.choice([SIM + ["--net", "net.nir"], ["map", "--net", "net.nir", "--method", "greedy", "--out", "p.json"]])
    return argv, {"net.nir": nir_corruption(r, f["net.nir"])[1]}


def c_placement(r: random.Random, f: dict) -> tuple:
    doc = json.loads(f["place.json"])
    kind = r.choice(["float", "bool", "huge", "negative", "too_many", "string", "not_list", "truncated",
                     "outside_chip", "objective_text"])
    i = r.randrange(len(doc["core_of"]))
    if kind == "float":
        doc["core_of"][i] = r.choice([0.9, 1.5, 2.0000001])
    elif kind == "bool":
        doc["core_of"][i] = True
    elif kind == "huge":
        doc["core_of"][i] = 2 ** r.randint(64, 80)
    elif kind == "negative":
        doc["core_of"][i] = -r.randint(1, 10)
    elif kind == "too_many":
        doc["core_of"] += [0] * r.randint(1, 5)
    elif kind == "string":
        doc["core_of"][i] = "3"
    elif kind == "not_list":
        doc["core_of"] = r.randint(0, 15)
    elif kind == "outside_chip":
        doc["core_of"][i] = 16 + r.randint(0, 1000)
    elif kind == "objective_text":
        doc["objective"] = "low"
    text = json.dumps(doc)
    if kind == "truncated":
        text = text[: r.randrange(1, len(text) - 1)]
    return SIM + ["--net", "net.npz", "--placement", "place.json", "--spec", "chip.toml"], {"place.json": text.encode()}


def c_schedule(r: random.Random, f: dict) -> tuple:
    text = r.choice([
        f"initial = {r.randint(1, 64)}\n",
        f"initial = [{r.choice([0, -3])}]\n",
        'initial = ["eight"]\n',
        "initial = [8]\nevent = 3\n",
        f"initial = [8]\n[[event]]\nstep = 5\nlayer = 0\nk = {r.choice(['2.5', '-4', 'true'])}\n",
        f"initial = [8]\n[[event]]\nstep = 5\nlayer = {r.randint(1, 9)}\nk = 4\n",
        f"initial = [8]\nbudget_{r.randint(0, 9)} = 4\n",
        f"initial = [{10 ** r.randint(9, 15)}]\n",
        "initial = [8\n",
    ])
    return ["score", "sched.toml", "--steps", "5", "--no-progress"], {"sched.toml": text.encode()}


def c_sweep_config(r: random.Random, f: dict) -> tuple:
    text = f["sweep.toml"].decode()
    kind = r.choice(["unknown_table", "unknown_key", "method", "grid", "seeds", "sizes", "empty", "truncated"])
    if kind == "unknown_table":
        text += f"\n[hardwar{r.randint(0, 9)}]\nx = 1\n"
    elif kind == "unknown_key":
        text = text.replace("[mapping]", f"[mapping]\ntime_limt = {r.randint(1, 9)}")
    elif kind == "method":
        text = text.replace('"greedy"', '"psychic"')
    elif kind == "grid":
        text = text.replace('preset = "mosaic-4x4"', f'preset = "mosaic-4x4"\ngrid = "{r.choice(["0x4", "4", "axb", "-2x2"])}"')
    elif kind == "seeds":
        text = text.replace("seeds = [0]", r.choice(['seeds = ["a"]', "seeds = []", "seeds = [1.5]"]))
    elif kind == "sizes":
        text = text.replace("sizes = [[4, 8, 4]]", "sizes = []")
    elif kind == "empty":
        text = ""
    else:
        text = text[: text.index("[workload]") + r.randint(2, 8)]
    return ["sweep", "sweep.toml", "--db", "new.sqlite", "--workers", "0", "--no-progress"], {"sweep.toml": text.encode()}


def c_flags(r: random.Random, f: dict) -> tuple:
    return _flag_case(r), {}


def _flag_case(r: random.Random) -> list[str]:
    return r.choice([
        ["map", "--sizes", "4,8", "--method", "anneal", "--time-limit", r.choice(["inf", "nan", "-1", "0", "1e300"])],
        SIM + ["--sizes", "4,8"] + ["--steps", r.choice(["0", "-5", "1000000000"])],
        SIM + ["--sizes", "4,8", "--rate", r.choice(["nan", "2", "-0.1", "inf"])],
        SIM + ["--sizes", "4,8", "--seed", str(-r.randint(1, 10**6))],
        SIM + ["--sizes", r.choice(["64,100000000", "0,4", "4,a", "4", "4,5000"])],
        SIM + ["--sizes", "4,8", "--set", r.choice(["step_cycles=9223372036854775807", "step_cycles=4611686018427387904",
                                                    "bandwidth=true", "rows=100000", "neurons_per_core=1000000000",
                                                    "cycles_per_hop=100000000000000000000", "bandwidth=1000000000000",
                                                    "e_router_pj=1e308", "clock_mhz=false", "cores=3", "bandwidth"])],
        SIM + ["--net", "net.npz", "--out", "net.npz"],
        SIM + ["--sizes", "4,8", "--out", "nofolder/report.json"],
        SIM + ["--sizes", "4,8", "--out", "r.json", "--plot", "nofolder/x.png"],
        ["map", "--net", "net.npz", "--method", "greedy", "--out", "net.npz"],
        ["sweep", "sweep.toml", "--db", "done.sqlite", "--csv", "done.sqlite", "--resume", "--workers", "0"],
        ["sweep", "sweep.toml", "--db", "done.sqlite", "--workers", "0"],
        ["sweep", "sweep.toml", "--db", "new.sqlite", "--limit", str(-r.randint(1, 9))],
        ["grow", "--steps", "5", r.choice(["--port-use", "--max-neurons", "--cores"]), r.choice(["-1", "2", "0", "nan"])],
        ["demo", "--quick", "--out", "demo_out", "--time-limit", r.choice(["0", "-1", "inf", "nan"])],
    ])


def c_database(r: random.Random, f: dict) -> tuple:
    kind = r.choice(["foreign", "empty", "text", "truncated"])
    if kind == "foreign":
        with tempfile.TemporaryDirectory() as d:
            con = sqlite3.connect(Path(d) / "x.db")
            con.execute(f"CREATE TABLE {r.choice(['runs', 'people', 'meta'])} (name TEXT, n INTEGER)")
            con.execute("INSERT INTO " + con.execute("SELECT name FROM sqlite_master").fetchone()[0]
                        + " VALUES ('a', 1)")
            con.commit()
            con.close()
            data = (Path(d) / "x.db").read_bytes()
    elif kind == "empty":
        data = b""
    elif kind == "text":
        data = b"hash,status\n" + bytes(r.randrange(32, 127) for _ in range(100))
    else:
        data = f["done.sqlite"][: r.randrange(100, len(f["done.sqlite"]) // 2)]
    cmd = r.choice([["plot", "db.sqlite", "--out", "plots"],
                    ["sweep", "sweep.toml", "--db", "db.sqlite", "--resume", "--workers", "0"]])
    if kind == "empty" and cmd[0] == "sweep":
        cmd = ["plot", "db.sqlite", "--out", "plots"]           # an empty file is a new database to sweep
    return cmd, {"db.sqlite": data}


FAMILIES = (c_spec_value, c_spec_structure, c_npz_indices, c_npz_structure, c_npz_bytes, c_nir, c_placement,
            c_schedule, c_sweep_config, c_flags, c_database)


def generate(n: int, seed: int) -> list[dict]:
    """``n`` cases, the families in turn, each drawn from its own seeded rng."""
    files = base_files()
    cases = []
    for i in range(n):
        fam = FAMILIES[i % len(FAMILIES)]
        argv, changed = fam(random.Random(seed * 100003 + i), files)
        cases.append({"id": i, "family": fam.__name__[2:], "argv": argv, "files": {**files, **changed}})
    return cases


# -- running --------------------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``folder`` (folders as "dir")."""
    out = {}
    for p in sorted(folder.rglob("*")):
        out[str(p.relative_to(folder))] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_in_process(argv: list[str]) -> dict:
    """`mosaic ARGV` in this process: exit status, stderr, and whether a traceback escaped."""
    from mosaic_grow.cli import main
    err, out = io.StringIO(), io.StringIO()
    tb = None
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 2
        except BaseException as e:  # a bug: the console script would print its traceback
            rc, tb = 1, f"{type(e).__name__}: {e}"
    return {"rc": rc, "stderr": err.getvalue(), "traceback": tb}


def judge(res: dict, before: dict, after: dict) -> list[str]:
    """What is wrong with one case's outcome (empty: clean)."""
    problems = []
    lines = [ln for ln in res.get("stderr", "").splitlines() if ln.strip()]
    if res.get("hang"):
        return ["hang"]
    if res.get("crash"):
        return [f"crash ({res['crash']})"]
    if res.get("traceback") or "Traceback" in res.get("stderr", ""):
        problems.append(f"traceback: {res.get('traceback')}")
    if res["rc"] != 2:
        problems.append(f"exit status {res['rc']}")
    if len(lines) != 1 or not lines[0].startswith("mosaic: error:"):
        problems.append(f"stderr not one error line: {lines[:3]}")
    if before != after:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        problems.append(f"files changed: {changed}")
    return problems


class Worker:
    """A process running cases in turn; killed and restarted after a hang or a crash."""

    def __init__(self) -> None:
        self.proc = None

    def run(self, folder: Path, argv: list[str], timeout: float) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, bufsize=1)
        self.proc.stdin.write(json.dumps({"dir": str(folder), "argv": argv}) + "\n")
        self.proc.stdin.flush()
        line = _readline(self.proc, timeout)
        if line is None:
            hung = self.proc.poll() is None
            rc = self.proc.returncode
            self.close()
            return {"hang": True} if hung else {"crash": f"worker exit status {rc}"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None


def _readline(proc, timeout: float) -> str | None:
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        return None
    line = proc.stdout.readline()
    return line if line.startswith("{") else None


def worker_loop() -> None:
    """--worker: read cases from stdin, answer one JSON line each on the real stdout."""
    real_out = sys.stdout
    for line in sys.stdin:
        case = json.loads(line)
        os.chdir(case["dir"])
        res = run_in_process(case["argv"])
        real_out.write(json.dumps(res) + "\n")
        real_out.flush()


def run_cases(cases: list[dict], timeout: float = HANG_S, log: Callable[[str], None] = print) -> list[dict]:
    """Run every case in a fresh folder; returns one record per case with its problems."""
    worker = Worker()
    records = []
    try:
        for case in cases:
            with tempfile.TemporaryDirectory() as d:
                folder = Path(d)
                for name, data in case["files"].items():
                    (folder / name).write_bytes(data)
                before = snapshot(folder)
                t0 = time.perf_counter()
                res = worker.run(folder, case["argv"], timeout)
                wall = time.perf_counter() - t0
                problems = judge(res, before, snapshot(folder))
            records.append({"id": case["id"], "family": case["family"], "argv": case["argv"], "wall_s": wall,
                            "problems": problems, "stderr": res.get("stderr", "").strip()[:200]})
            if problems:
                log(f"  case {case['id']} ({case['family']}) {' '.join(case['argv'])}: {'; '.join(problems)}")
    finally:
        worker.close()
    return records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="30 cases instead of 300")
    ap.add_argument("--cases", type=int, default=None, help="number of generated cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_loop()
        return
    from targets import emit, target
    n = args.cases or (30 if args.quick else 300)
    cases = generate(n, args.seed)
    t0 = time.perf_counter()
    records = run_cases(cases)
    wall = time.perf_counter() - t0
    bad = [r for r in records if r["problems"]]
    kinds = Counter(p.split(":")[0].split(" (")[0] for r in bad for p in r["problems"])
    per_family = Counter(r["family"] for r in records)
    print(f"{len(records)} hostile cases in {wall:.0f} s ({', '.join(f'{k} {v}' for k, v in per_family.items())}); "
          f"{len(records) - len(bad)} clean; problems: {dict(kinds) or 'none'}")
    print("example messages:")
    for r in records[: len(FAMILIES)]:
        print(f"  {r['family']:>15}: {r['stderr'][:150]}")
    clean = (len(records) - len(bad)) / len(records)
    emit("bench_robustness", [target(
        "bad_inputs_clean", round(100 * clean, 2), "100% of >= 100 generated corruptions: one-line errors, "
        "0 tracebacks, 0 hangs (60 s cap), 0 partial or changed files", clean == 1.0 and (args.quick or len(records) >= 100),
        cases=len(records), tracebacks=kinds.get("traceback", 0), hangs=kinds.get("hang", 0),
        crashes=kinds.get("crash", 0), changed_files=kinds.get("files changed", 0), unit="%",
        wall_s=round(wall, 1))], quick=args.quick)


if __name__ == "__main__":
    main()
