"""Run a feed-forward LIF network on SANA-FE's Loihi model (run inside the SANA-FE venv).

Usage: ``python sanafe_ff.py NET.npz OUT.json``.  ``NET.npz`` (written by ``bench_peers.py``)
holds the layer sizes ``sizes`` (inputs first), per projection ``src_k``/``dst_k``/``w_k``
(COO, local indices), ``beta``/``threshold`` per neuron (non-input layers, in order),
``x`` (T, n_inputs) input spikes, ``core`` (SANA-FE core index per neuron, inputs first) and
``timing`` (SANA-FE timing model).  Writes JSON: spike steps per neuron (``spikes``, list of
[neuron, step] pairs over the non-input neurons, SANA-FE's 0-based step), energy by category
in pJ, per-step simulated time in ns, wall time of ``sim`` and of building in s.
Only numpy and sanafe are imported: this file runs outside the project.
"""
import json
import sys
import time

import numpy as np
import sanafe


def build(d, arch):
    sizes = [int(s) for s in d["sizes"]]
    cores = arch.cores()
    core = d["core"]
    x = d["x"]
    net = sanafe.Network()
    groups = [net.create_neuron_group("in", sizes[0], model_attributes={})]
    for i in range(sizes[0]):     # one input soma unit per input neuron of a core (1024 per core)
        groups[0][i].set_attributes(soma_hw_name=f"loihi_inputs[{i % 1024}]",
                                    model_attributes={"spikes": [int(v) for v in x[:, i]]})
    off = 0
    for k, n in enumerate(sizes[1:]):
        g = net.create_neuron_group(f"l{k}", n, model_attributes={"reset": 0.0, "force_update": True},
                                    soma_hw_name="loihi_lif")
        for j in range(n):
            g[j].set_attributes(log_spikes=True, model_attributes={
                "threshold": float(d["threshold"][off + j]), "leak_decay": float(d["beta"][off + j])})
        off += n
        groups.append(g)
    for k in range(len(sizes) - 1):
        pairs = list(zip(d[f"src_{k}"].tolist(), d[f"dst_{k}"].tolist()))
        groups[k].connect_neurons_sparse(groups[k + 1], {"weight": d[f"w_{k}"].tolist()}, pairs)
    idx = 0
    for g, n in zip(groups, sizes):
        for j in range(n):
            g[j].map_to_core(cores[int(core[idx])])
            idx += 1
    return net, sizes


def main(argv):
    d = dict(np.load(argv[0]))
    arch = sanafe.load_loihi()
    t0 = time.perf_counter()
    net, sizes = build(d, arch)
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    build_s = time.perf_counter() - t0
    T = int(d["x"].shape[0])
    t0 = time.perf_counter()
    r = chip.sim(T, spike_trace=True, perf_trace=True, timing_model=str(d["timing"]))
    wall = time.perf_counter() - t0
    base = {f"l{k}": sum(sizes[1:k + 1]) for k in range(len(sizes) - 1)}
    spikes = [[base[a.group_name] + int(a.neuron_offset), t] for t, step in enumerate(r["spike_trace"])
              for a in step if a.group_name in base]
    out = {"spikes": spikes, "energy_pj": {k: v * 1e12 for k, v in r["energy"].items()},
           "step_ns": [v * 1e9 for v in r["perf_trace"]["sim_time"]],
           "perf": {k: list(v) for k, v in r["perf_trace"].items()},
           "packets_sent": int(r["packets_sent"]), "wall_s": wall, "build_s": build_s}
    with open(argv[1], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1:])
