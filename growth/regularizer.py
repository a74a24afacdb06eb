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
from models.recurrent import check_rsnn
from models.snn import linear_layers
from mosaic.spec import HardwareSpec
from mosaic.topology import MOSAIC_BETA, hop_matrix, hop_penalty


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


def rsnn_ends(spec: HardwareSpec, core_of: np.ndarray, model: nn.Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
    """(post cores, pre cores) of the input, recurrent and read-out weights of a
    ``models.recurrent`` network; ``core_of`` covers the hidden then the output neurons,
    inputs sit at ``spec.io_core``."""
    lin_in, _, lin_out, _ = check_rsnn(model)
    H, n_out = lin_in.out_features, lin_out.out_features
    core_of = np.asarray(core_of, np.int64)
    if core_of.shape != (H + n_out,):
        raise GrowthError(f"core_of has {core_of.shape} entries; the network has {H} + {n_out} neurons")
    hid, out, inp = core_of[:H], core_of[H:], np.full(lin_in.in_features, spec.io_core)
    return [(hid, inp), (hid, hid), (out, hid)]


def rsnn_weights(model: nn.Sequential) -> list[torch.Tensor]:
    """The input, recurrent and read-out weights of a ``models.recurrent`` network."""
    lin_in, rec, lin_out, _ = check_rsnn(model)
    return [lin_in.weight, rec.recurrent.weight, lin_out.weight]


def hop_shares(spec: HardwareSpec, weights: list[torch.Tensor], ends: list[tuple[np.ndarray, np.ndarray]], *,
               prune: float = 0.0) -> dict:
    """The connectivity statistic: per hop distance h (routers between the two cores, 0 =
    same core), ``synapses``: the share of synapses with |w| > ``prune``; ``weight``: the
    share of the total |w|.  ``ends``: (post cores, pre cores) of every weight matrix."""
    hops = hop_matrix(spec)
    n_h = int(hops.max()) + 1
    count, mass = np.zeros(n_h), np.zeros(n_h)
    for w, (post, pre) in zip(weights, ends):
        a = np.abs(w.detach().cpu().numpy())
        h = hops[np.ix_(post, pre)]
        count += np.bincount(h[a > prune], minlength=n_h)
        mass += np.bincount(h.ravel(), weights=a.ravel(), minlength=n_h)
    return {"synapses": (count / max(count.sum(), 1)).tolist(),
            "weight": (mass / max(mass.sum(), 1e-300)).tolist(), "n_synapses": int(count.sum())}


def _mean_penalty(mats: list[torch.Tensor], weights: list[torch.Tensor], strength: float) -> torch.Tensor:
    if [tuple(w.shape) for w in weights] != [tuple(m.shape) for m in mats]:
        raise GrowthError("the model's layer shapes changed since the regulariser was built; "
                          "build a new regulariser for the grown model and its placement")
    n = sum(m.numel() for m in mats)
    return strength * sum((m * w.pow(2)).sum() for m, w in zip(mats, weights)) / n


class RecurrentMosaicRegularizer:
    """``penalty(model)`` = strength x mean of M * W^2 over the input, recurrent and read-out
    synapses of a ``models.recurrent`` network placed by ``core_of``."""

    def __init__(self, model: nn.Sequential, spec: HardwareSpec, core_of: np.ndarray,
                 strength: float = 1e-3, *, beta: float = MOSAIC_BETA) -> None:
        if not np.isfinite(strength) or strength < 0:
            raise GrowthError(f"regulariser strength must be >= 0, got {strength}")
        M = hop_penalty(spec, beta)
        self.mats = [torch.as_tensor(M[np.ix_(post, pre)], dtype=torch.float32)
                     for post, pre in rsnn_ends(spec, core_of, model)]
        self.strength = float(strength)

    def __call__(self, model: nn.Sequential) -> torch.Tensor:
        return _mean_penalty(self.mats, rsnn_weights(model), self.strength)


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

    def __call__(self, model: nn.Sequential) -> torch.Tensor:
        return _mean_penalty(self.mats, [lin.weight for lin in linear_layers(model)], self.strength)
