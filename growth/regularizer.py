"""Mosaic's training penalty for long routes: mean(M * W^2) over every synapse.

Dalgaty et al. (Nat Commun 2024) penalise each weight by how far its spike must travel:
M = exp(8 h) - 1, clipped, with h the synapse's hop distance.  We take h = routers
between the two neurons' cores (``hop_matrix``) divided by the chip's largest hop count,
so h lies in [0, 1] and M in [0, exp(8) - 1]; the normalisation and the clip value are
our assumptions (the paper states the exponential form).  Same-core synapses cost 0, so
training under the penalty pushes weight onto short routes.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from growth.errors import GrowthError
from mosaic.spec import HardwareSpec
from mosaic.topology import hop_matrix


def hop_penalty(spec: HardwareSpec, core_of: np.ndarray, n_inputs: int, sizes: list[int], *,
                rate: float = 8.0, clip: float = 1000.0) -> list[torch.Tensor]:
    """One M per Linear layer, shaped like its weight (n_out, n_in): M = min(exp(rate*h) - 1,
    clip), h = hops / max hops.  ``core_of`` covers every layer's neurons in order (hidden
    layers then the output layer); inputs sit at ``spec.io_core``."""
    core_of = np.asarray(core_of, np.int64)
    if core_of.shape != (sum(sizes),):
        raise GrowthError(f"core_of has {core_of.shape} entries; layers {sizes} have {sum(sizes)} neurons")
    H = hop_matrix(spec).astype(np.float64)
    h = H / max(H.max(), 1.0)
    starts = np.cumsum([0] + list(sizes))
    pre = np.full(n_inputs, spec.io_core)
    mats = []
    for li in range(len(sizes)):
        post = core_of[starts[li]:starts[li + 1]]
        m = np.minimum(np.expm1(rate * h[np.ix_(post, pre)]), clip)
        mats.append(torch.as_tensor(m, dtype=torch.float32))
        pre = post
    return mats


class MosaicRegularizer:
    """``penalty(model)`` = strength x mean over all Linear weights of M * W^2.

    Build it for the current placement; rebuild after growth or re-mapping (the
    weight shapes change)."""

    def __init__(self, model: nn.Sequential, spec: HardwareSpec, core_of: np.ndarray,
                 strength: float = 1e-3, **kw) -> None:
        if not np.isfinite(strength) or strength < 0:
            raise GrowthError(f"regulariser strength must be >= 0, got {strength}")
        lins = [m for m in model if isinstance(m, nn.Linear)]
        sizes = [m.out_features for m in lins]
        self.mats = hop_penalty(spec, core_of, lins[0].in_features, sizes, **kw)
        self.strength = float(strength)
        self.n = sum(m.numel() for m in self.mats)

    def __call__(self, model: nn.Sequential) -> torch.Tensor:
        lins = [m for m in model if isinstance(m, nn.Linear)]
        if [tuple(m.weight.shape) for m in lins] != [tuple(m.shape) for m in self.mats]:
            raise GrowthError("the model's layer shapes changed since the regulariser was built; "
                              "build a new MosaicRegularizer for the grown model and its placement")
        total = sum((m * lin.weight.pow(2)).sum() for m, lin in zip(self.mats, lins))
        return self.strength * total / self.n
