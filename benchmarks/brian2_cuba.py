"""The classic Brian2 CUBA network on Brian2's cython runtime or C++ standalone; one JSON line.

This script runs *inside the Brian2 virtual environment* that ``bench_sim.py`` creates
(Brian2 2.9.0 needs numpy < 2), so it imports nothing from this project.  The network is
Brian2's ``examples/CUBA.py`` (Brette et al., J Comput Neurosci 23:349, 2007, benchmark 2):
4000 neurons, 3200 excitatory, connection probability 0.02, dt = 0.1 ms.

Timing, ``--device cython`` (the runtime default): ``build_s`` is network construction
(incl. ``connect``), ``compile_s`` a ``run(0 ms)`` that generates and compiles every code
object, ``run_s`` the timed run alone (the fastest of ``--repeats`` runs restored to the
same stored state).  ``--device cpp_standalone`` (``set_device("cpp_standalone")``, Brian2's
fastest target): the whole program is generated, compiled and run once per repeat in a
fresh project directory; ``run_s`` is the time of the simulation loop as Brian2 reports it
(``device._last_run_time``, measured inside the compiled program, excluding code
generation, compilation and start-up), ``compile_s`` the rest of the wall time.
``counts_per_ms`` is the population spike count in 1 ms bins.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000, help="neurons (80%% excitatory)")
    ap.add_argument("--p", type=float, default=0.02, help="connection probability")
    ap.add_argument("--duration-ms", type=float, default=1000.0, help="simulated time in ms")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="timed runs from the same stored state; "
                    "run_s is the fastest")
    ap.add_argument("--device", choices=("cython", "cpp_standalone"), default="cython")
    args = ap.parse_args()
    if args.n < 2 or not 0 < args.p <= 1 or args.duration_ms <= 0 or args.repeats < 1:
        raise SystemExit(f"bad arguments: n={args.n} (>= 2), p={args.p} (0 < p <= 1), "
                         f"duration_ms={args.duration_ms} (> 0), repeats={args.repeats} (>= 1)")

    import brian2 as b2

    b2.prefs.logging.console_log_level = "ERROR"
    if args.device == "cython":
        b2.prefs.codegen.target = "cython"
        times, build_s, compile_s, (ce_i, ci_i, idx, t_ms) = _run_cython(b2, args)
    else:
        times, build_s, compile_s, (ce_i, ci_i, idx, t_ms) = _run_standalone(b2, args)
    fanout = np.bincount(ce_i, minlength=args.n) + np.bincount(ci_i, minlength=args.n)
    spikes = int(idx.size)
    events = int(fanout[idx].sum())
    run_s = min(times)
    print(json.dumps({
        "simulator": f"brian2 {b2.__version__} ({args.device})", "n": args.n, "p": args.p,
        "duration_ms": args.duration_ms, "synapses": int(fanout.sum()),
        "build_s": round(build_s, 4), "compile_s": round(compile_s, 4), "run_s": round(run_s, 4),
        "run_s_all": [round(t, 4) for t in times],
        "spikes": spikes, "mean_rate_hz": spikes / (args.n * args.duration_ms / 1000.0),
        "synaptic_events": events, "events_per_s": events / run_s,
        "counts_per_ms": np.bincount((t_ms // 1).astype(int),
                                     minlength=int(args.duration_ms)).tolist(),
    }))


def _build(b2, args):
    """The CUBA network (Brian2's examples/CUBA.py) and its spike monitor."""
    from brian2 import mV, ms

    b2.seed(args.seed)
    b2.defaultclock.dt = 0.1 * ms
    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
    Vt, Vr, El = -50 * mV, -60 * mV, -49 * mV
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    n_exc = int(round(0.8 * args.n))
    P = b2.NeuronGroup(args.n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms,
                       method="exact", namespace=dict(taum=taum, taue=taue, taui=taui,
                                                      Vt=Vt, Vr=Vr, El=El))
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV
    we = (60 * 0.27 / 10) * mV  # excitatory synaptic weight (voltage)
    wi = (-20 * 4.5 / 10) * mV  # inhibitory synaptic weight
    Ce = b2.Synapses(P, P, on_pre="ge += we", namespace=dict(we=we))
    Ci = b2.Synapses(P, P, on_pre="gi += wi", namespace=dict(wi=wi))
    Ce.connect(f"i<{n_exc}", p=args.p)
    Ci.connect(f"i>={n_exc}", p=args.p)
    s_mon = b2.SpikeMonitor(P)
    return b2.Network(P, Ce, Ci, s_mon), (Ce, Ci, s_mon)


def _arrays(b2, objs):
    """Presynaptic indices of both synapse groups, spike indices and times (ms)."""
    Ce, Ci, s_mon = objs
    return (np.asarray(Ce.i[:]).copy(), np.asarray(Ci.i[:]).copy(), np.asarray(s_mon.i[:]).copy(),
            np.asarray(s_mon.t / b2.ms).copy())


def _run_cython(b2, args):
    t0 = time.perf_counter()
    net, objs = _build(b2, args)
    t1 = time.perf_counter()
    net.run(0 * b2.ms)  # generates and compiles every code object
    t2 = time.perf_counter()
    net.store()
    times = []
    for _ in range(args.repeats):
        net.restore()  # same initial state, same random numbers: the same run again
        t = time.perf_counter()
        net.run(args.duration_ms * b2.ms)
        times.append(time.perf_counter() - t)
    return times, t1 - t0, t2 - t1, _arrays(b2, objs)


def _run_standalone(b2, args):
    """Each repeat generates, compiles and runs the program in a fresh temporary project."""
    times, build, rest = [], [], []
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="brian2_cuba_") as tmp:
            if r == 0:
                b2.set_device("cpp_standalone", directory=tmp, build_on_run=True)
            else:
                b2.device.reinit()
                b2.device.activate(directory=tmp, build_on_run=True)
            t0 = time.perf_counter()
            net, objs = _build(b2, args)
            t1 = time.perf_counter()
            net.run(args.duration_ms * b2.ms)  # generate, compile, run
            wall = time.perf_counter() - t1
            times.append(float(b2.device._last_run_time))
            build.append(t1 - t0)
            rest.append(wall - times[-1])
            result = _arrays(b2, objs)
    return times, min(build), min(rest), result


if __name__ == "__main__":
    main()
