"""Training under an energy budget: a Lagrange multiplier on the chip's spike energy.

The controller's budget binds what it grows, but training after a growth raises the spike
rates of every neuron, so a network accepted inside its budget can drift out of it without
growing again.  ``EnergyDual`` binds training too, by dual ascent on the budget constraint
E <= target (target = margin x budget, pJ per inference):

- at every controller opportunity the chip's measured energy E of the current network (a
  validation batch) updates the multiplier, ``lam <- max(0, lam + lr x (E / target - 1))``;
- training adds ``lam x E_spk / target`` to the loss, with ``E_spk = sum_l s_l x r_l``: r_l
  the mean spikes per neuron per step of hidden layer l in the batch (differentiable through
  the surrogate gradient) and s_l = dE/dr_l (pJ), the cost model's marginal energy of layer
  l's rate at the current placement (``layer_slopes``; the model is linear in the rates, so
  the finite difference is exact).  The output layer is not penalised: its spike counts are
  the read-out.

While E stays below the target, lam stays 0 and training is unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Sequence

import numpy as np
import torch

from growth.errors import GrowthError
from mosaic.cost import estimate_cost
from mosaic.network import SpikingNetwork
from mosaic.spec import HardwareSpec


def layer_slopes(net: SpikingNetwork, spec: HardwareSpec, core_of, rates, input_rates, sizes: Sequence[int],
                 T: int, analog_input: bool) -> np.ndarray:
    """dE/dr_l (pJ per inference per unit mean rate) of every hidden layer l of a layered
    network with layer ``sizes`` (hidden then output), from ``mosaic.cost.estimate_cost``."""
    rates = np.asarray(rates, np.float64)
    starts = np.cumsum([0, *sizes])

    def energy(r):
        return estimate_cost(net, spec, core_of, r, input_rates, T=T, analog_input=analog_input).energy_pj["total"]

    e0 = energy(rates)
    out = np.zeros(len(sizes) - 1)
    for li in range(len(sizes) - 1):
        r = rates.copy()
        r[starts[li]:starts[li + 1]] += 1.0
        out[li] = energy(r) - e0
    return out


@dataclass
class EnergyDual:
    """The multiplier ``lam`` (dimensionless) of the energy budget ``target_pj`` (module doc);
    ``lr`` its dual step per opportunity; ``slopes`` s_l (pJ) of the current network."""

    target_pj: float
    lr: float = 1.0
    lam: float = 0.0
    slopes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    history: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target_pj) and self.target_pj > 0):
            raise GrowthError(f"energy target must be a positive pJ per inference, got {self.target_pj!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise GrowthError(f"dual step lr must be positive, got {self.lr!r}")

    def update(self, step: int, measured_pj: float, slopes: np.ndarray) -> float:
        """One dual-ascent step from the chip's measured energy; returns the new ``lam``."""
        self.lam = max(0.0, self.lam + self.lr * (float(measured_pj) / self.target_pj - 1.0))
        self.slopes = np.asarray(slopes, np.float64)
        self.history.append({"step": int(step), "measured_energy_pj": float(measured_pj), "lam": self.lam})
        return self.lam

    def penalty(self, layers: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """``lam x E_spk / target`` of a batch's hidden spikes ``layers`` (each (T, B, n_l)),
        or None while ``lam`` is 0."""
        if self.lam == 0.0:
            return None
        if len(layers) != self.slopes.size:
            raise GrowthError(f"{len(layers)} hidden layers but {self.slopes.size} energy slopes; "
                              "update the slopes after every growth")
        e = sum(float(s) * l.mean() for s, l in zip(self.slopes, layers))
        return self.lam * e / self.target_pj
