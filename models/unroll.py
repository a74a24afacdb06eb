"""Convolutions and pooling unrolled into sparse synapse matrices.

Tensors are flattened in C order, channels first (torch's ``(C, L)`` and ``(C, H, W)``
layouts without the batch dimension).  Every function returns ``(m, out_shape)`` with
``m`` a CSR matrix of shape (in_size, out_size) such that ``y.ravel() = x.ravel() @ m``
equals ``torch.nn.functional.conv2d`` (or ``conv1d``, ``avg_pool2d``, sum pooling) of
``x`` without bias; zero padding adds no synapse.  Padding ``"valid"`` is 0, ``"same"``
(stride 1) pads ``dilation*(k-1)`` split as torch does (the extra one at the end).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .errors import ModelError


class UnrollError(ModelError):
    """A convolution or pooling whose parameters or input shape do not fit together."""


def _pair(v, dims: int, name: str) -> tuple[int, ...]:
    a = np.asarray(v).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, dims)
    if a.size != dims or np.any(a != np.round(a)):
        raise UnrollError(f"{name} must be an integer or {dims} integers, got {v!r}")
    return tuple(int(x) for x in a)


def _pads(padding, kernel: tuple, dilation: tuple, stride: tuple) -> tuple[tuple[int, int], ...]:
    """(before, after) zero padding per spatial dimension."""
    if isinstance(padding, (str, bytes)):
        mode = padding.decode() if isinstance(padding, bytes) else padding
        if mode == "valid":
            return tuple((0, 0) for _ in kernel)
        if mode == "same":
            if any(s != 1 for s in stride):
                raise UnrollError(f"padding 'same' needs stride 1, got stride {stride}")
            tot = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in tot)
        raise UnrollError(f"padding must be integers, 'valid' or 'same', got {mode!r}")
    p = _pair(padding, len(kernel), "padding")
    if min(p) < 0:
        raise UnrollError(f"padding must be >= 0, got {p}")
    return tuple((x, x) for x in p)


def conv_matrix(weight, in_shape, stride=1, padding=0, dilation=1, groups: int = 1):
    """Unrolled ``conv1d``/``conv2d``: ``weight`` (C_out, C_in/groups, *kernel), ``in_shape``
    (C_in, *spatial) with 1 or 2 spatial dimensions.  Returns ``(m, (C_out, *out_spatial))``."""
    w = np.asarray(weight, dtype=np.float64)
    dims = w.ndim - 2
    if dims not in (1, 2) or len(in_shape) != dims + 1:
        raise UnrollError(f"weight of shape {w.shape} does not fit input shape {tuple(in_shape)} "
                          "(expected (C_out, C_in/groups, k) for (C, L) or (C_out, C_in/groups, kh, kw) for (C, H, W))")
    c_out, c_per_group = w.shape[:2]
    kernel = w.shape[2:]
    c_in, spatial = int(in_shape[0]), tuple(int(s) for s in in_shape[1:])
    groups = int(groups)
    if groups < 1 or c_in != c_per_group * groups or c_out % groups:
        raise UnrollError(f"groups={groups}: input channels {c_in} must be {c_per_group} x groups and "
                          f"output channels {c_out} a multiple of groups")
    stride, dilation = _pair(stride, dims, "stride"), _pair(dilation, dims, "dilation")
    if min(stride) < 1 or min(dilation) < 1:
        raise UnrollError(f"stride and dilation must be >= 1, got {stride} and {dilation}")
    pads = _pads(padding, kernel, dilation, stride)
    out = tuple((n + a + b - d * (k - 1) - 1) // s + 1
                for n, (a, b), k, d, s in zip(spatial, pads, kernel, dilation, stride))
    if min(out) < 1:
        raise UnrollError(f"kernel {kernel} (dilation {dilation}) is larger than the padded input {spatial}")
    # one entry per (output channel, input channel of its group, kernel offset, output position)
    co, ci, *ks = np.meshgrid(np.arange(c_out), np.arange(c_per_group), *[np.arange(k) for k in kernel],
                              indexing="ij")
    co, ci, ks = co.ravel(), ci.ravel(), [k.ravel() for k in ks]
    vals = w[(co, ci, *ks)]
    keep = vals != 0
    co, ci, ks, vals = co[keep], ci[keep], [k[keep] for k in ks], vals[keep]
    cin = (co // (c_out // groups)) * c_per_group + ci
    pos = np.meshgrid(*[np.arange(o) for o in out], indexing="ij")
    pos = [p.ravel() for p in pos]
    rows = cin[:, None].copy()
    cols = co[:, None].copy()
    valid = np.ones((co.size, pos[0].size), bool)
    for d in range(dims):
        idx = pos[d][None, :] * stride[d] - pads[d][0] + ks[d][:, None] * dilation[d]
        valid &= (idx >= 0) & (idx < spatial[d])
        rows = rows * spatial[d] + idx
        cols = cols * out[d] + pos[d][None, :]
    data = np.broadcast_to(vals[:, None], valid.shape)
    m = sp.csr_matrix((data[valid], (rows[valid], cols[valid])),
                      shape=(c_in * int(np.prod(spatial)), c_out * int(np.prod(out))))
    m.sum_duplicates()
    return m, (c_out, *out)


def pool_matrix(in_shape, kernel_size, stride=None, padding=0, *, average: bool):
    """Unrolled 2-D sum (``average=False``) or average pooling over (C, H, W); average
    divides by the full kernel area (torch's ``count_include_pad=True``)."""
    if len(in_shape) != 3:
        raise UnrollError(f"2-D pooling needs a (C, H, W) input, got shape {tuple(in_shape)}")
    k = _pair(kernel_size, 2, "kernel_size")
    s = k if stride is None else _pair(stride, 2, "stride")
    c = int(in_shape[0])
    w = np.zeros((c, 1, *k))
    w[:] = 1.0 / (k[0] * k[1]) if average else 1.0
    return conv_matrix(w, in_shape, s, padding, 1, groups=c)
