"""Measuring a model on the simulated chip: classification, energy, latency and traffic.

``measure_on_chip`` is the one way a trained model (or its exported network) is measured on
the chip; every figure "on the chip" (accuracy, energy and latency per inference, router and
link loads) comes from it.  Convention: an L-layer feed-forward network on the chip lags
snnTorch's layer l (0-based) by l steps (every synapse delays one step), so one inference
runs ``T + L - 1`` chip steps: the T encoded input steps, then L - 1 steps of zero input
during which the last layer receives the rest of its input.  Energy, latency and packets
per inference are those of all ``T + L - 1`` steps; the class is ``models.snn.predict`` of
the output layer's last ``T`` steps (most spikes, then earliest first spike, then the lowest
index), the rule the snnTorch evaluation uses.  A bias on a layer l >= 1 drives it from chip
step 0, l steps before its first input: such a network warns, since it no longer matches
snnTorch step for step (``make_mlp`` puts biases on layer 0 only).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from mosaic import HardwareSpec, SpikingNetwork
from mosaic.simulate import simulate_batch

from .errors import ModelError
from .export import layer_slices, to_network
from .snn import encode_batches, predict


@dataclass
class ChipResult:
    """What ``measure_on_chip`` measured over its samples.

    ``predictions`` per sample; ``packets`` summed over samples; ``energy_pj`` per inference
    by kind (mean over samples, pJ); ``latency_ns`` per inference (mean over samples of the
    summed step latencies, ns); ``latency_mean_cycles`` / ``latency_max_cycles`` over every
    step of every sample; ``router_load`` (n_routers,) packets summed over samples;
    ``peak_link_load`` the busiest link's packets in one inference (max over samples);
    ``spikes_per_sample`` (chip neurons, all ``steps``); ``steps`` = T + L - 1 per inference;
    ``layer_spikes`` (with ``record``: per sample a list of (T, n_l) bool rasters aligned to
    snnTorch time)."""

    predictions: np.ndarray
    packets: dict
    energy_pj: dict
    latency_ns: float
    latency_mean_cycles: float
    latency_max_cycles: int
    router_load: np.ndarray
    peak_link_load: int
    spikes_per_sample: float
    steps: int
    layer_spikes: list = field(default_factory=list)

    def accuracy(self, y) -> float:
        y = np.asarray(y)
        if y.shape != self.predictions.shape:
            raise ModelError(f"labels shape {y.shape} does not match {self.predictions.shape} predictions")
        return float(np.mean(self.predictions == y))


def chip_inputs(x, T: int, encoder: str, n_layers: int, seed: int = 0) -> np.ndarray:
    """Encoded inputs (B, T + n_layers - 1, n_in), zero-padded at the end: float currents
    for "direct", bool spikes otherwise (the same draws as ``models.snn.evaluate``)."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    xs = torch.cat([b for _, b in encode_batches(x, T, encoder, seed)], dim=1).double().numpy()
    xs = np.transpose(xs, (1, 0, 2))
    pad = np.zeros((xs.shape[0], n_layers - 1, xs.shape[2]), xs.dtype)
    xs = np.concatenate([xs, pad], axis=1)
    return xs if encoder == "direct" else xs > 0


class _Totals:
    """Running sums of the per-sample reports."""

    def __init__(self) -> None:
        self.packets: dict = {}
        self.energy: dict = {}
        self.latency_cycles: list[np.ndarray] = []
        self.latency_ns: list[float] = []
        self.router_load: np.ndarray | None = None
        self.peak_link = 0
        self.spikes = 0

    def add(self, rep) -> None:
        for k, v in rep.packets.items():
            self.packets[k] = self.packets.get(k, 0) + int(v)
        for k, v in rep.energy_pj.items():
            self.energy[k] = self.energy.get(k, 0.0) + float(v)
        self.latency_cycles.append(np.asarray(rep.step_latency_cycles))
        self.latency_ns.append(float(np.sum(rep.step_latency_ns)))
        load = rep.router_load.astype(np.int64)
        self.router_load = load if self.router_load is None else self.router_load + load
        self.peak_link = max(self.peak_link, int(rep.link_load.max()) if rep.link_load.size else 0)
        self.spikes += int(rep.spikes.sum())


def measure_on_chip(model: nn.Sequential | SpikingNetwork, spec: HardwareSpec, placement, x, T: int,
                    encoder: str = "direct", *, routing: str = "ideal", late: str = "defer", seed: int = 0,
                    record: bool = False, progress: bool = False) -> ChipResult:
    """Classify every row of ``x`` (B, n_in in [0, 1]) on the chip and measure the runs: one
    run of ``T + L - 1`` steps per sample from rest (module doc), all in one ``simulate_batch``
    call spread over the cores.  ``model``: a
    spiking MLP (exported by ``to_network``) or a layered ``SpikingNetwork``; ``placement``
    as ``simulate`` takes it (None: chip-order fill); ``seed`` draws the rate code as
    ``models.snn.evaluate`` does (``encode_batches``)."""
    net = to_network(model) if isinstance(model, nn.Module) else model
    sl = layer_slices(net)
    L = len(sl)
    if L > 1 and np.any(net.bias[sl[1].start:] != 0):
        warnings.warn("measure_on_chip: layers >= 1 have a bias, which drives them before their input "
                      "arrives (one step per layer); chip and snnTorch spikes will differ", stacklevel=2)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != net.n_inputs or len(x) == 0:
        raise ModelError(f"measure_on_chip: x must be (samples >= 1, {net.n_inputs}), got shape {x.shape}")
    xs = chip_inputs(x, T, encoder, L, seed)
    preds = np.zeros(len(x), np.int64)
    tot, rasters = _Totals(), []
    batch = simulate_batch(net, spec, placement, xs, routing=routing, late=late, progress=progress)
    for b in range(len(x)):
        rep = batch.report(b)
        preds[b] = predict(rep.spikes[L - 1:, sl[-1]][:, None, :])[0]
        tot.add(rep)
        if record:
            rasters.append([rep.spikes[i:i + T, sl_i] for i, sl_i in enumerate(sl)])
    n = len(x)
    lat = np.concatenate(tot.latency_cycles)
    return ChipResult(preds, tot.packets, {k: v / n for k, v in tot.energy.items()}, float(np.mean(tot.latency_ns)),
                      float(lat.mean()) if lat.size else 0.0, int(lat.max()) if lat.size else 0, tot.router_load,
                      tot.peak_link, tot.spikes / n, T + L - 1, rasters)


def classify(net: nn.Sequential | SpikingNetwork, spec: HardwareSpec, placement, x, T: int,
             encoder: str = "direct", *, routing: str = "ideal", late: str = "defer", seed: int = 0,
             progress: bool = False) -> np.ndarray:
    """Predicted class of every row of ``x`` on the chip (``measure_on_chip``'s predictions)."""
    return measure_on_chip(net, spec, placement, x, T, encoder, routing=routing, late=late, seed=seed,
                           progress=progress).predictions
