"""Plots of hardware cost: energy and latency vs core count, saturation, Pareto fronts,
growth paths, and router load drawn on the chip's layout.

Every function returns the matplotlib ``Figure`` (built without pyplot, so no global
state and no display needed) and writes a PNG when given ``path``.  ``plot_sweep``
draws whatever a sweep's result rows support.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from growth.metrics import pareto_mask
from mosaic.figures import PlotError, new_figure, save
from mosaic.spec import HardwareSpec
from mosaic.topology import ROUTER_MESH, topology


def _grouped(rows: Sequence[dict[str, Any]], x: str, y: str, group: str | None):
    """{group value: (xs, mean ys, std ys)} over rows with finite x and y, sorted by x."""
    buckets: dict[Any, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        xv, yv = r.get(x), r.get(y)
        if xv is None or yv is None or not np.isfinite(float(xv)) or not np.isfinite(float(yv)):
            continue
        buckets[r.get(group) if group else ""][float(xv)].append(float(yv))
    out = {}
    for g in sorted(buckets, key=str):
        xs = np.array(sorted(buckets[g]))
        ys = [np.array(buckets[g][v]) for v in xs]
        out[g] = (xs, np.array([a.mean() for a in ys]), np.array([a.std() for a in ys]))
    return out


def _require(rows: Sequence[dict[str, Any]], *cols: str) -> None:
    if not rows:
        raise PlotError("no result rows to plot")
    missing = [c for c in cols if not any(c in r for r in rows)]
    if missing:
        raise PlotError(f"result rows have no column(s) {missing}; columns present: {sorted(rows[0])[:20]}")


def energy_latency_vs_cores(rows: Sequence[dict[str, Any]], path: str | Path | None = None, *,
                            group: str | None = None, energy: str = "energy_total_pj",
                            latency: str = "latency_mean_cycles", energy_label: str = "energy per run (uJ)") -> Figure:
    """Two panels: total energy (uJ) and mean step latency (cycles) vs number of cores,
    one line per ``group`` value, mean over seeds with +-1 std error bars."""
    _require(rows, "n_cores", energy, latency)
    fig, (ax_e, ax_l) = new_figure(2)
    for ax, col, scale, label in ((ax_e, energy, 1e-6, energy_label),
                                  (ax_l, latency, 1.0, "step latency, mean (cycles)")):
        for g, (xs, ys, sd) in _grouped(rows, "n_cores", col, group).items():
            ax.errorbar(xs, ys * scale, yerr=sd * scale, marker="o", capsize=3,
                        label=f"{group}={g}" if group else None)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("cores")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        if group:
            ax.legend(fontsize="small")
    ax_e.set_title("energy vs core count")
    ax_l.set_title("latency vs core count")
    return save(fig, path)


def saturation(rows: Sequence[dict[str, Any]], path: str | Path | None = None, *, group: str | None = None,
               offered: str = "offered_per_step", accepted: str = "accepted_per_step") -> Figure:
    """Accepted (delivered within the step's budget) vs offered packets per step, one line per
    ``group`` value, with the ideal y = x for reference: where a line bends off it, routing saturates."""
    _require(rows, offered, accepted)
    fig, (ax,) = new_figure(1, 5.5, 4.5)
    top = 0.0
    for g, (xs, ys, sd) in _grouped(rows, offered, accepted, group).items():
        ax.errorbar(xs, ys, yerr=sd, marker="o", capsize=3, label=f"{group}={g}" if group else "accepted")
        top = max(top, float(xs.max()))
    ax.plot([0, top], [0, top], "k--", lw=1, label="ideal (accepted = offered)")
    ax.set_xlabel("offered load (packets injected per step)")
    ax.set_ylabel("accepted load (packets on time per step)")
    ax.set_title("routing saturation")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return save(fig, path)


def pareto_front(energy: Sequence[float], accuracy: Sequence[float], path: str | Path | None = None, *,
                 labels: Sequence[str] | None = None, energy_label: str = "energy per inference (uJ)") -> Figure:
    """Accuracy vs energy: every point, with the Pareto front as a step line."""
    e = np.asarray(energy, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    mask = pareto_mask(e, a)
    if e.size == 0:
        raise PlotError("no points for a Pareto front")
    fig, (ax,) = new_figure(1, 5.5, 4.5)
    ax.scatter(e[~mask], a[~mask], c="0.6", label="dominated")
    order = np.argsort(e[mask])
    ax.step(e[mask][order], a[mask][order], where="post", color="C3", marker="o", label="Pareto front")
    if labels is not None:
        for x, y, t in zip(e, a, labels):
            ax.annotate(str(t), (x, y), fontsize="x-small", xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(energy_label)
    ax.set_ylabel("accuracy")
    ax.set_title("accuracy vs energy")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return save(fig, path)


def growth_paths(paths: dict[str, tuple[Sequence[float], Sequence[float]]], path: str | Path | None = None, *,
                 xlabel: str = "hidden neurons", ylabel: str = "test accuracy") -> Figure:
    """One line per growth path: {name: (x values, accuracies)}."""
    if not paths:
        raise PlotError("no growth paths to plot")
    fig, (ax,) = new_figure(1, 5.5, 4.5)
    for name, (xs, ys) in paths.items():
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        if xs.shape != ys.shape:
            raise PlotError(f"growth path {name!r}: {xs.size} x values for {ys.size} accuracies")
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title("growth paths")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return save(fig, path)


def router_heatmap(spec: HardwareSpec, router_load: Sequence[float], path: str | Path | None = None, *,
                   title: str | None = None, label: str = "packets through router") -> Figure:
    """Router load drawn on the chip layout: on Mosaic the (2R+1)x(2C+1) grid with tiles
    (grey squares) at (odd, odd) and routers coloured by load at their positions; on a mesh
    each core's router at its (row, col) with the tile as a grey inset."""
    topo = topology(spec)
    load = np.asarray(router_load, dtype=float)
    if load.shape != (topo.n_routers,):
        raise PlotError(f"router_load must have one value per router ({topo.n_routers} on {spec.name}), "
                        f"got shape {load.shape}")
    pos, kind = topo.node_pos, topo.node_kind
    H, W = int(pos[:, 0].max()) + 1, int(pos[:, 1].max()) + 1
    grid = np.full((H, W), np.nan)
    routers = np.arange(topo.n_cores, topo.n_nodes)
    grid[pos[routers, 0], pos[routers, 1]] = load
    fig, (ax,) = new_figure(1, 6.0, 5.2)
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="inferno", origin="upper",
                   extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="nearest")
    mesh = bool((kind == ROUTER_MESH).any())
    for c in range(topo.n_cores):
        y, x = pos[c]
        size, off = (0.35, 0.05) if mesh else (0.9, -0.45)
        ax.add_patch(Rectangle((x + off, y + off), size, size,
                               facecolor="0.75", edgecolor="0.4", lw=0.5))
    fig.colorbar(im, ax=ax, label=label, shrink=0.85)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"router load on {spec.name} ({spec.rows}x{spec.cols} {spec.topology})")
    return save(fig, path)


def energy_breakdown(energies: dict[str, dict[str, float]], path: str | Path | None = None, *,
                     unit: float = 1e-3, unit_label: str = "nJ",
                     title: str = "energy per inference by category") -> Figure:
    """Two panels, one bar per configuration {name: energy_pj dict}: all categories stacked
    (synaptic, neuron, spike-out, routing, static; the height is the total), and the routing
    energy alone (usually a small share that the first panel cannot show)."""
    if not energies:
        raise PlotError("no energy figures to plot")
    cats = ("synaptic", "neuron", "spike_out", "routing", "static")
    fig, (ax, ax_r) = new_figure(2, max(3.5, 1.2 + 1.1 * len(energies)), 4.2)
    names = list(energies)
    bottom = np.zeros(len(names))
    for i, c in enumerate(cats):
        vals = np.array([float(energies[n].get(c, 0.0)) * unit for n in names])
        ax.bar(names, vals, bottom=bottom, label=c, color=f"C{i}")
        bottom += vals
    ax_r.bar(names, [float(energies[n].get("routing", 0.0)) * unit for n in names], color="C3")
    ax.set_ylabel(f"energy ({unit_label})")
    ax_r.set_ylabel(f"routing energy ({unit_label})")
    ax.set_title("all categories")
    ax_r.set_title("routing only")
    fig.suptitle(title)
    ax.legend(fontsize="small", loc="lower right")
    for a in (ax, ax_r):
        a.grid(True, axis="y", alpha=0.3)
    return save(fig, path)


# -- from sweep results ---------------------------------------------------------
def _varying(rows: Sequence[dict[str, Any]], keys: Iterable[str]) -> list[str]:
    return [k for k in keys if len({str(r.get(k)) for r in rows}) > 1]


def plot_sweep(rows: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Draw the plots a sweep's flat result rows support into ``out_dir``; returns the PNG paths.

    energy/latency vs cores when the core count varies; saturation when the offered load
    varies; accuracy vs energy Pareto front when rows carry ``accuracy`` (growth runs), and
    their accuracy along the growth path when they carry ``path_accuracy``.
    """
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    if not ok:
        raise PlotError("the sweep has no successful runs to plot")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    others = ("method", "preset", "bandwidth", "buffer_depth", "neurons_per_core", "generator", "rate",
              "routing", "late")
    if len({r.get("n_cores") for r in ok}) > 1:
        vary = _varying(ok, others)
        p = out / "energy_latency_vs_cores.png"
        energy_latency_vs_cores(ok, p, group=vary[0] if vary else None)
        written.append(p)
    if "offered_per_step" in ok[0] and len({r.get("rate") for r in ok}) > 1:
        vary = _varying(ok, ("n_cores", "bandwidth", "buffer_depth", "method", "preset"))
        p = out / "saturation.png"
        saturation(ok, p, group=vary[0] if vary else None)
        written.append(p)
    acc = [r for r in ok if r.get("accuracy") is not None]
    if acc:
        p = out / "pareto_accuracy_energy.png"
        labels = [f"{r.get('schedule_name', '')} {r.get('growth_method', '')}".strip() or None for r in acc]
        pareto_front([r["energy_total_pj"] * 1e-3 for r in acc], [r["accuracy"] for r in acc], p,
                     labels=labels if any(labels) else None, energy_label="energy per inference (nJ)")
        written.append(p)
    paths: dict[str, list[list[float]]] = defaultdict(list)
    for r in acc:
        if isinstance(r.get("path_accuracy"), list) and len(r["path_accuracy"]) > 1:
            paths[f"{r.get('schedule_name', '')} {r.get('growth_method', '')}".strip()].append(r["path_accuracy"])
    if paths:
        p = out / "growth_paths.png"
        curves = {}
        for name, runs in paths.items():
            n = min(len(a) for a in runs)
            curves[name] = (np.arange(n), np.mean([a[:n] for a in runs], axis=0))
        growth_paths(curves, p, xlabel="growth events so far", ylabel="test accuracy (mean over seeds)")
        written.append(p)
    if not written:
        raise PlotError("nothing to plot: the sweep varies neither the core count (hardware.grid), "
                        "the input rate (workload.rate), nor reports accuracy")
    return written
