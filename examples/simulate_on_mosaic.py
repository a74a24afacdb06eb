"""Simulate a spiking network on a Mosaic chip and on a plain mesh as the input load rises.

A 4-layer random feed-forward network (778 neurons, 64 inputs) is placed core by core on
mosaic-8x8 and on mesh-8x8 (same 64 cores of 32 neurons) and driven by Bernoulli input
spikes at rising rates.  The routing window per time step is cut to 100 router cycles
(1 us at 100 MHz; an assumption of this example, the presets allow 1000) so that the
network-on-chip saturates within the range: packets that miss their step's window are
late.  Prints a table per chip and writes, into --out:
  saturation.png        accepted (on-time) vs offered packets per step, both chips
  router_load_<chip>.png router load on the chip layout at the highest rate
  energy_by_chip.png    energy by category at the highest rate

    python examples/simulate_on_mosaic.py [--quick] [--out results/simulate_on_mosaic]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mosaic import HardwareSpec
from mosaic_grow.cli import table
from mosaic.generators import random_feedforward
from mosaic_grow.plots import energy_breakdown, router_heatmap, saturation
from mosaic.simulate import simulate
from mosaic_grow.sweep import report_metrics


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two rates, 10 steps")
    ap.add_argument("--out", default="results/simulate_on_mosaic", help="folder for the PNGs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rates = [0.05, 0.5] if args.quick else [0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0]
    steps = 10 if args.quick else 40
    net = random_feedforward([64, 256, 256, 256, 10], seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    rows, last = [], {}
    for name in ("mosaic-8x8", "mesh-8x8"):
        spec = HardwareSpec.preset(name).replace(step_cycles=100)
        for rate in rates:
            x = rng.random((steps, net.n_inputs)) < rate
            rep = simulate(net, spec, None, x, routing="cycle", late="defer")
            m = report_metrics(rep, steps)
            rows.append({"chip": name, "rate": rate, **m})
            last[name] = (spec, rep)
    print(f"{net.n_neurons} neurons, {net.n_synapses} synapses, {steps} steps, routing window 100 cycles")
    print(table([[r["chip"], r["rate"], r["offered_per_step"], r["accepted_per_step"], r["packets_late"],
                  r["latency_mean_cycles"], r["energy_total_pj"] / 1e3, r["energy_routing_pj"] / 1e3]
                 for r in rows],
                ["chip", "input rate", "offered/step", "on time/step", "late", "latency (cyc)", "energy (nJ)",
                 "routing (nJ)"]))
    saturation(rows, out / "saturation.png", group="chip")
    for name, (spec, rep) in last.items():
        router_heatmap(spec, rep.router_load, out / f"router_load_{name}.png",
                       title=f"router load at input rate {rates[-1]} on {name}")
    energy_breakdown({n: rep.energy_pj for n, (_, rep) in last.items()}, out / "energy_by_chip.png",
                     unit=1e-3, title=f"energy of {steps} steps at input rate {rates[-1]}")
    hi = [r for r in rows if r["rate"] == rates[-1]]
    for r in hi:
        share = r["accepted_per_step"] / r["offered_per_step"] if r["offered_per_step"] else 1.0
        print(f"found: at input rate {rates[-1]}, {r['chip']} delivers {100 * share:.0f}% of packets on time, "
              f"routing is {100 * r['energy_routing_pj'] / r['energy_total_pj']:.1f}% of the energy")
    print(f"plots written to {out}/")


if __name__ == "__main__":
    main()
