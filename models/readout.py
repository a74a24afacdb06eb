"""Classification read-out on the simulated chip.

An L-layer feed-forward network on the chip lags snnTorch's layer l (0-based) by l steps
(every synapse delays one step, DESIGN.md).  ``chip_run`` therefore runs ``T + L - 1``
steps with zero-padded input and reads the output layer's last ``T`` steps; the class is
``models.snn.predict`` of those spikes (most spikes, then earliest first spike, then the
lowest index), the same rule the snnTorch evaluation uses.  A bias on a layer l >= 1
drives it from chip step 0, l steps before its first input: such a network warns, since
it no longer matches snnTorch step for step (``make_mlp`` puts biases on layer 0 only).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from mosaic import HardwareSpec, SpikingNetwork
from mosaic.simulate import simulate_batch

from .errors import ModelError
from .export import layer_slices
from .snn import encode_batches, predict


@dataclass
class ChipResult:
    """Per-sample predictions and the run figures: ``packets`` summed over samples,
    ``energy_pj`` per inference (mean, pJ), ``spikes_per_sample`` (chip neurons, all
    ``T + L - 1`` steps), ``layer_spikes`` (optional, per sample a list of (T, n_l) bool
    rasters aligned to snnTorch time)."""

    predictions: np.ndarray
    packets: dict
    energy_pj: dict
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


def chip_run(net: SpikingNetwork, spec: HardwareSpec, placement, x, T: int, encoder: str = "direct", *,
             routing: str = "ideal", late: str = "defer", seed: int = 0, record: bool = False,
             progress: bool = False) -> ChipResult:
    """Classify every row of ``x`` (B, n_in in [0, 1]) on the chip: one ``simulate_batch`` call,
    one run per sample (state starts from rest), spread over the cores.  ``seed`` draws the rate code as
    ``models.snn.evaluate`` does (``encode_batches``)."""
    sl = layer_slices(net)
    L = len(sl)
    if L > 1 and np.any(net.bias[sl[1].start:] != 0):
        warnings.warn("chip_run: layers >= 1 have a bias, which drives them before their input arrives "
                      "(one step per layer); chip and snnTorch spikes will differ", stacklevel=2)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != net.n_inputs or len(x) == 0:
        raise ModelError(f"chip_run: x must be (samples >= 1, {net.n_inputs}), got shape {x.shape}")
    xs = chip_inputs(x, T, encoder, L, seed)
    out = sl[-1]
    batch = simulate_batch(net, spec, placement, xs, routing=routing, late=late, progress=progress)
    preds = predict(np.transpose(batch.spikes[:, L - 1:, out], (1, 0, 2)))
    tot = batch.totals()
    rasters = [[s[i:i + T, sl_i] for i, sl_i in enumerate(sl)] for s in batch.spikes] if record else []
    n = len(x)
    return ChipResult(preds, tot["packets"], {k: v / n for k, v in tot["energy_pj"].items()},
                      tot["counts"]["spikes"] / n, T + L - 1, rasters)


def classify(net: SpikingNetwork, spec: HardwareSpec, placement, x, T: int, encoder: str = "direct", *,
             routing: str = "ideal", late: str = "defer", seed: int = 0, progress: bool = False) -> np.ndarray:
    """Predicted class of every row of ``x`` from the output layer's spike counts on the chip."""
    return chip_run(net, spec, placement, x, T, encoder, routing=routing, late=late, seed=seed,
                    progress=progress).predictions
