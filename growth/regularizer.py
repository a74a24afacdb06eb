"""Mosaic's training penalty for long routes: mean(M * W^2) over every synapse.

Dalgaty et al. (Nat Commun 2024) penalise each weight by how far its spike must travel:
M = ``mosaic.topology.hop_penalty`` (EIS-Hub/Mosaic's ``generate_mosaic_mask``: exp(beta h)
- 1 on the raw router count h, clipped at e^15), and the penalty is the mean of M * W^2 over
all synapses (their ``sparser``).  Same-core synapses cost 0, so training under the penalty
pushes weight onto short routes.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from growth.errors import GrowthError
from models.snn import linear_layers
from mosaic.spec import HardwareSpec
from mosaic.topology import MOSAIC_BETA, hop_penalty


def layer_penalties(spec: HardwareSpec, core_of: np.ndarray, n_inputs: int, sizes: list[int], *,
                    beta: float = MOSAIC_BETA) -> list[torch.Tensor]:
    """One M per Linear layer, shaped like its weight (n_out, n_in), from the cores of its
    two ends.  ``core_of`` covers every layer's neurons in order (hidden layers then the
    output layer); inputs sit at ``spec.io_core``."""
    core_of = np.asarray(core_of, np.int64)
    if core_of.shape != (sum(sizes),):
        raise GrowthError(f"core_of has {core_of.shape} entries; layers {sizes} have {sum(sizes)} neurons")
    M = hop_penalty(spec, beta)
    starts = np.cumsum([0] + list(sizes))
    pre = np.full(n_inputs, spec.io_core)
    mats = []
    for li in range(len(sizes)):
        post = core_of[starts[li]:starts[li + 1]]
        mats.append(torch.as_tensor(M[np.ix_(post, pre)], dtype=torch.float32))
        pre = post
    return mats


class MosaicRegularizer:
    """``penalty(model)`` = strength x mean over all Linear weights of M * W^2.

    Build it for the current placement; rebuild after growth or re-mapping (the
    weight shapes change)."""

    def __init__(self, model: nn.Sequential, spec: HardwareSpec, core_of: np.ndarray,
                 strength: float = 1e-3, *, beta: float = MOSAIC_BETA) -> None:
        if not np.isfinite(strength) or strength < 0:
            raise GrowthError(f"regulariser strength must be >= 0, got {strength}")
        lins = linear_layers(model)
        sizes = [m.out_features for m in lins]
        self.mats = layer_penalties(spec, core_of, lins[0].in_features, sizes, beta=beta)
        self.strength = float(strength)
        self.n = sum(m.numel() for m in self.mats)

    def __call__(self, model: nn.Sequential) -> torch.Tensor:
        lins = linear_layers(model)
        if [tuple(m.weight.shape) for m in lins] != [tuple(m.shape) for m in self.mats]:
            raise GrowthError("the model's layer shapes changed since the regulariser was built; "
                              "build a new MosaicRegularizer for the grown model and its placement")
        total = sum((m * lin.weight.pow(2)).sum() for m, lin in zip(self.mats, lins))
        return self.strength * total / self.n
