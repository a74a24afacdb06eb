"""ANN-to-SNN conversion by data-based weight/threshold normalisation.

The ReLU twin's activations are rescaled layer by layer so that a non-leaky
integrate-and-fire neuron (beta = 1, threshold 1, reset by subtraction) fires at a rate
close to its ReLU activation divided by a per-layer scale ``lambda_l``: weights become
``W_l * lambda_{l-1} / lambda_l`` and biases ``b_l / lambda_l`` with ``lambda_l`` the
``percentile``-th percentile of layer l's positive activations on training data
(Diehl et al., IJCNN 2015, used the maximum; Rueckauer et al., Front. Neurosci. 2017,
the 99.9th percentile, which is robust to outliers).  Inputs are direct currents in
[0, 1], so ``lambda_0 = 1``.  The class is read from the output layer's spike counts.
"""
from __future__ import annotations

import numpy as np
import snntorch as snn
import torch
from torch import nn

from .errors import ModelError
from .snn import check_model, is_spiking, linear_layers


@torch.no_grad()
def layer_scales(ann: nn.Sequential, x, percentile: float = 99.9) -> list[float]:
    """``lambda_l`` for every Linear of ``ann``: the ``percentile`` of its positive
    outputs on ``x`` (N, n_in); 1 for a layer that is never positive."""
    if not 0 < percentile <= 100:
        raise ModelError(f"percentile must lie in (0, 100], got {percentile}")
    h = torch.as_tensor(np.asarray(x), dtype=linear_layers(ann)[0].weight.dtype)
    scales = []
    for m in ann:
        h = m(h)
        if isinstance(m, nn.Linear):
            pos = h[h > 0]  # what a spiking neuron can express: the positive part
            scales.append(float(np.percentile(pos.double().numpy(), percentile)) if pos.numel() else 1.0)
    return scales


@torch.no_grad()
def convert(ann: nn.Sequential, x, *, percentile: float = 99.9, beta: float = 1.0,
            threshold: float = 1.0) -> nn.Sequential:
    """The spiking counterpart of the ReLU MLP ``ann``, normalised on data ``x`` (N, n_in).

    Every ReLU becomes an ``snn.Leaky`` (``beta``, default 1: integrate-and-fire; reset by
    subtraction, which keeps the residual charge), and the bare last Linear gets one too
    (``output=True``).  Run it with direct input; accuracy approaches the ANN's as T grows.
    """
    check_model(ann)
    if is_spiking(ann):
        raise ModelError("convert needs the ReLU twin (nn.Linear/nn.ReLU), not a spiking model")
    lam = layer_scales(ann, x, percentile)
    lins = linear_layers(ann)
    mods: list[nn.Module] = []
    prev = 1.0
    for i, (lin, s) in enumerate(zip(lins, lam)):
        new = nn.Linear(lin.in_features, lin.out_features, bias=lin.bias is not None).to(lin.weight.dtype)
        new.weight.copy_(lin.weight * (prev / s) * threshold)
        if lin.bias is not None:
            new.bias.copy_(lin.bias / s * threshold)
        mods += [new, snn.Leaky(beta=beta, threshold=threshold, init_hidden=True, reset_mechanism="subtract",
                                output=i == len(lins) - 1)]
        prev = s
    return nn.Sequential(*mods)
