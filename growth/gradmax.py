"""GradMax (Evci et al., "GradMax: Growing Neural Networks using Gradient Information",
ICLR 2022; reference code google-research/growneuron).

New neurons in hidden layer l get zero fan-in, so the network's function is unchanged, and a
fan-out chosen to maximise the gradient norm of that fan-in at the next step.  With the
auxiliary zero layer A from layer l-1 straight to layer l+1 (pre-activations), the gradient of
the loss w.r.t. A is

    M = sum over samples (and time steps) of g_{l+1} h_{l-1}^T      shape (n_next, n_prev)

and the optimal unit-norm fan-outs are the top-k left singular vectors of M (equivalently the
top eigenvectors of M M^T, which growneuron computes with ``arpack.svds``).  The singular
values estimate the benefit: the gradient norm the new fan-in will receive.
"""
from __future__ import annotations

import numpy as np
import torch

from growth.checks import positive_int
from growth.errors import GrowthError

Array = np.ndarray | torch.Tensor


def _as_tensor(a: Array, name: str) -> torch.Tensor:
    t = torch.as_tensor(a).detach().to(torch.float64)
    if t.ndim != 2:
        raise GrowthError(f"{name} must be a 2-D (samples, units) array, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise GrowthError(f"{name} contains NaN or infinite values; check the forward/backward pass")
    return t


def growth_matrix(h_prev: Array, g_next: Array) -> torch.Tensor:
    """M = g_next^T h_prev (n_next, n_prev), float64: the gradient of the loss w.r.t. a zero
    auxiliary layer from layer l-1 to layer l+1, given h_prev (N, n_prev) inputs of layer l and
    g_next (N, n_next) loss gradients w.r.t. layer l+1's pre-activation.  For spiking models,
    stack time steps into N (the auxiliary layer is applied at every step, so M sums over
    them)."""
    h, g = _as_tensor(h_prev, "h_prev"), _as_tensor(g_next, "g_next")
    if h.shape[0] != g.shape[0]:
        raise GrowthError(f"h_prev has {h.shape[0]} samples but g_next has {g.shape[0]}; "
                          "they must come from the same batch (and time steps)")
    return g.T @ h


def top_singular(m: Array, k: int, rtol: float = 1e-7) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k left singular vectors (columns, unit norm) and singular values of ``m`` (n_next,
    n_prev).  ``k`` is capped by the numerical rank (singular values above ``rtol`` times the
    largest), so fewer than k columns may come back; none if M is zero.  Signs are fixed so
    the largest-magnitude entry of each vector is positive (the sign is arbitrary for SVD)."""
    k = positive_int(k, "k", " number of neurons")
    mt = torch.as_tensor(m).detach().to(torch.float64)
    u, s, _ = torch.linalg.svd(mt, full_matrices=False)
    if s.numel() == 0 or s[0] <= 0:
        return mt.new_zeros((mt.shape[0], 0)), mt.new_zeros(0)
    rank = int((s > rtol * s[0]).sum())
    k = min(int(k), rank)
    u, s = u[:, :k], s[:k]
    idx = u.abs().argmax(dim=0)
    sign = torch.sign(u[idx, torch.arange(k)])
    sign[sign == 0] = 1.0
    return u * sign, s


def gradmax_fan_out(h_prev: Array, g_next: Array, k: int, *, scale: float = 1.0,
                    rtol: float = 1e-7) -> tuple[torch.Tensor, torch.Tensor]:
    """GradMax fan-out of k new neurons of layer l.

    h_prev: (N, n_prev) inputs of layer l (activations of layer l-1, or the data);
    g_next: (N, n_next) gradients of the loss w.r.t. layer l+1's pre-activation.
    Returns ``(w_new, sv)``: w_new (n_next, k') float32, column j the fan-out of new neuron j
    with L2 norm ``scale`` (the growneuron code normalises each vector and scales it by the mean
    fan-out norm of the existing neurons; :func:`growth.grow.grow_layer` does that), and sv
    (k',) the top singular values of M, k' = min(k, rank M).
    """
    u, s = top_singular(growth_matrix(h_prev, g_next), k, rtol)
    return (u * float(scale)).to(torch.float32), s.to(torch.float32)
