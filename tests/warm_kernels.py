"""Compile (or load from numba's cache) the kernels the suite uses, once, before the test
workers start: two processes, each a share of the kernels, so that no two processes
compile the same kernel at once (from a cold cache each worker and each benchmark
subprocess did).  ``python tests/warm_kernels.py f64|rest`` runs one share; the
suite's conftest starts both.  A kernel left out here is compiled where it is first used."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np

SHARES = ("f64", "rest")


def _small():
    from mosaic import HardwareSpec
    from mosaic.generators import random_feedforward
    net = random_feedforward([6, 20, 8], p=1.0, weight_scale=0.9, seed=4)
    spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8, buffer_depth=2)
    x = np.random.default_rng(4).random((30, 6)) < 0.6
    return net, spec, x


def warm(share: str) -> None:
    """The kernels of one share: "f64" (single runs, float64, and the parallel batch kernel,
    which calls them), "rest" (single runs in float32, synthetic traffic, the cost model, the
    mapper, then the serial batch kernel)."""
    sim = importlib.import_module("mosaic.simulate")
    net, spec, x = _small()
    if share == "f64":
        for routing in ("ideal", "cycle"):
            sim.simulate(net, spec, None, x, routing=routing)
        sim.simulate_batch(net, spec, None, np.stack([x] * 2), routing="cycle", parallel=True)
        return
    if share != "rest":
        raise SystemExit(f"share: expected one of {SHARES}, got {share!r}")
    from mapper import map_network
    from mosaic.cost import delta_cost, estimate_cost
    from mosaic.noc import Traffic, simulate_traffic
    for routing in ("ideal", "cycle"):
        sim.simulate(net, spec, None, x, routing=routing, dtype=np.float32)
    simulate_traffic(spec, Traffic(rate=0.3, warmup=20, measure=50, drain=50))
    pl = map_network(net, spec, "greedy")
    base = estimate_cost(net, spec, pl, 0.2, 0.3)
    delta_cost(base, net, pl, 0.2, 0.3)
    for method in ("anneal", "partition", "cpsat"):
        map_network(net, spec, method, time_limit=1.0)
    map_network(net, spec, "cpsat", objective="synapse", time_limit=1.0)
    # last, after some 90 s of other work: by then "f64" has usually cached the single runs
    # this calls (else they are compiled here too: correct, only twice)
    sim.simulate_batch(net, spec, None, np.stack([x] * 2), routing="cycle", parallel=False)


if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])     # the repository, not tests/ (its mosaic/)
    warm(sys.argv[1])
