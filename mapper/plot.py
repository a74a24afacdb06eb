"""A picture of a placement: the chip grid, tiles coloured by layer, routers by load."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mosaic import HardwareSpec, SpikingNetwork
from mosaic.topology import topology

from .objective import router_load


def plot_placement(net: SpikingNetwork, spec: HardwareSpec, placement, rates=None, ax=None,
                   path: str | Path | None = None, title: str | None = None):
    """Draw the chip: each tile coloured by the layer most of its neurons belong to
    (its neuron count written on it), each router a dot coloured by the packets
    per step through it (``router_load``).  Returns the matplotlib Figure; writes
    it to ``path`` when given."""
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    core_of = np.asarray(getattr(placement, "core_of", placement), dtype=np.int64)
    t = topology(spec)
    load = router_load(net, spec, core_of, rates)
    layer = net.layer if net.layer is not None else np.zeros(net.n_neurons, np.int64)
    n_layers = int(layer.max(initial=0)) + 1
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.55 * spec.cols, 0.8 + 0.55 * spec.rows))
    else:
        fig = ax.figure
    lcmap = plt.get_cmap("tab10" if n_layers <= 10 else "tab20")
    for c in range(spec.n_cores):
        y, x = t.node_pos[c]
        here = layer[core_of == c]
        if here.size:
            face = lcmap(int(np.bincount(here).argmax()) % lcmap.N)
        else:
            face = (0.93, 0.93, 0.93, 1.0)
        ax.add_patch(plt.Rectangle((x - 0.8, y - 0.8), 1.6, 1.6, facecolor=face, edgecolor="k", lw=0.5))
        if here.size:
            ax.text(x, y, str(here.size), ha="center", va="center", fontsize=7)
    routers = np.arange(spec.n_cores, t.n_nodes)
    rl = load[routers]
    norm = colors.Normalize(vmin=0.0, vmax=max(float(rl.max(initial=0.0)), 1e-9))
    ax.scatter(t.node_pos[routers, 1], t.node_pos[routers, 0], c=rl, cmap="viridis", norm=norm, s=14,
                    zorder=3, edgecolors="none")
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, label="router load (packets/step)",
                 shrink=0.8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=lcmap(i % lcmap.N)) for i in range(n_layers)]
    ax.legend(handles, [f"layer {i}" for i in range(n_layers)], loc="upper center", bbox_to_anchor=(0.5, 0.0),
              ncol=min(n_layers, 5), fontsize=7, frameon=False)
    io_y, io_x = t.node_pos[spec.io_core]
    ax.annotate("I/O", (io_x - 0.8, io_y - 0.8), fontsize=6, color="crimson")
    ax.set_xlim(-0.2, 2 * spec.cols + 0.2)
    ax.set_ylim(2 * spec.rows + 0.2, -0.2)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{spec.name}: {getattr(placement, 'method', 'placement')}", fontsize=9)
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig
