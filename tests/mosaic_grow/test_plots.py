"""Plot functions: files written, axes labelled, one line/point per data series."""
from __future__ import annotations

import numpy as np
import pytest

from growth.errors import GrowthError
from mosaic import HardwareSpec, topology
from mosaic_grow.plots import (PlotError, energy_latency_vs_cores, growth_paths, pareto_front, pareto_mask,
                          plot_sweep, router_heatmap, saturation)


def sweep_rows():
    rows = []
    for method in ("greedy", "cpsat"):
        for n_cores in (4, 16, 64):
            for seed in (0, 1):
                rows.append({"status": "ok", "method": method, "n_cores": n_cores, "seed": seed,
                             "rate": 0.1 * (seed + 1), "energy_total_pj": 1e6 * n_cores + seed,
                             "latency_mean_cycles": 10.0 / n_cores + seed,
                             "offered_per_step": 100.0 * (seed + 1), "accepted_per_step": 90.0 * (seed + 1)})
    return rows


def test_energy_latency_vs_cores(tmp_path):
    p = tmp_path / "e.png"
    fig = energy_latency_vs_cores(sweep_rows(), p, group="method")
    assert p.stat().st_size > 1000
    ax_e, ax_l = fig.axes[:2]
    assert ax_e.get_xlabel() == "cores" and "energy" in ax_e.get_ylabel()
    assert "latency" in ax_l.get_ylabel()
    assert len(ax_e.containers) == 2                  # one errorbar series per method
    xs, ys = ax_e.containers[0][0].get_data()
    assert list(xs) == [4, 16, 64]
    assert ys[0] == pytest.approx((4e6 + 0.5) * 1e-6)  # mean over the two seeds, in uJ


def test_saturation_has_ideal_line(tmp_path):
    fig = saturation(sweep_rows(), tmp_path / "s.png")
    ax = fig.axes[0]
    assert "offered" in ax.get_xlabel() and "accepted" in ax.get_ylabel()
    labels = [ln.get_label() for ln in ax.lines]
    assert any("ideal" in lb for lb in labels)
    assert len(ax.containers) == 1                    # one series: no group given
    xs, ys = ax.containers[0][0].get_data()
    assert list(xs) == [100.0, 200.0] and list(ys) == [90.0, 180.0]
    assert (tmp_path / "s.png").is_file()


def test_pareto_mask_and_plot(tmp_path):
    e = [1.0, 2.0, 3.0, 2.5, 4.0]
    a = [0.5, 0.7, 0.9, 0.6, 0.9]
    assert pareto_mask(e, a).tolist() == [True, True, True, False, False]
    fig = pareto_front(e, a, tmp_path / "p.png", labels=list("abcde"))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "accuracy" and "energy" in ax.get_xlabel()
    front = [ln for ln in ax.lines if ln.get_label() == "Pareto front"][0]
    assert len(front.get_xdata()) == 3
    with pytest.raises(GrowthError):
        pareto_mask([1, 2], [1])


def test_growth_paths(tmp_path):
    fig = growth_paths({"gradmax": ([16, 32, 48], [0.8, 0.85, 0.9]), "random": ([16, 32], [0.8, 0.82])},
                       tmp_path / "g.png")
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(PlotError, match="x values"):
        growth_paths({"bad": ([1, 2], [0.5])})


@pytest.mark.parametrize("name", ["mosaic-4x4", "mesh-8x8"])
def test_router_heatmap_on_layout(tmp_path, name):
    spec = HardwareSpec.preset(name)
    topo = topology(spec)
    load = np.arange(topo.n_routers, dtype=float)
    fig = router_heatmap(spec, load, tmp_path / "h.png")
    ax = fig.axes[0]
    img = ax.images[0].get_array()
    H = int(topo.node_pos[:, 0].max()) + 1
    assert img.shape[0] == H
    assert img.count() == topo.n_routers             # one coloured cell per router, nothing else
    assert img.max() == topo.n_routers - 1
    assert len(ax.patches) == spec.n_cores           # one grey square per tile
    with pytest.raises(PlotError, match="one value per router"):
        router_heatmap(spec, load[:-1])


def test_plot_sweep_picks_plots(tmp_path):
    paths = plot_sweep(sweep_rows(), tmp_path / "out")
    assert sorted(p.name for p in paths) == ["energy_latency_vs_cores.png", "saturation.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    with pytest.raises(PlotError, match="nothing to plot"):
        plot_sweep([{"status": "ok", "n_cores": 4, "rate": 0.1}], tmp_path / "none")


def test_energy_breakdown_stacks_categories(tmp_path):
    from mosaic_grow.plots import energy_breakdown
    e = {"greedy": {"synaptic": 600e3, "neuron": 30e3, "spike_out": 10e3, "routing": 9e3, "static": 5e3},
         "cpsat": {"synaptic": 600e3, "neuron": 30e3, "spike_out": 10e3, "routing": 3e3, "static": 5e3}}
    fig = energy_breakdown(e, tmp_path / "e.png")
    ax, ax_r = fig.axes[:2]
    assert len(ax.patches) == 5 * 2                       # 5 categories x 2 configurations
    tops = [p.get_y() + p.get_height() for p in ax.patches[-2:]]   # the last category tops each stack
    assert tops == pytest.approx([654.0, 648.0])           # totals in nJ, greedy then cpsat
    assert [p.get_height() for p in ax_r.patches] == pytest.approx([9.0, 3.0])
    assert (tmp_path / "e.png").is_file()
