"""Benefit estimates for growth candidates, and their check against the realised gain.

Two estimates of what growing by k neurons buys:

- **GradMax** (``"gradmax"``): the sum of the top-k squared singular values of the growth
  matrix, i.e. the squared gradient norm the new fan-ins receive (a first-order loss decrease
  per unit learning rate).  Cheap (one backward pass) but in gradient units, which differ
  between layers and change scale over training.
- **Look-ahead** (``"lookahead"``): grow a copy of the model (with a copy of the optimizer
  state, padded as real growth pads it), train it ``steps`` minibatch steps on batches fixed
  for every candidate, and take the validation-loss drop (nats): L_val(now) - L_val(copy
  after the steps).  It is in loss units, so it compares across layers and over training,
  at the price of ``steps`` training steps per candidate.

Validation: per accepted candidate, the realised gain is the validation-loss drop over the
training interval that follows the growth; :func:`rank_correlation` gives Spearman's rho
between predicted and realised per candidate type ("layer:k").
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import spearmanr
from torch import nn

from growth.errors import GrowthError

ESTIMATORS = ("lookahead", "gradmax")


def lookahead_benefits(model: nn.Sequential, k_options: Sequence[int], *, copy: Callable[[nn.Sequential], tuple],
                       grow: Callable[[nn.Sequential, object, int], int],
                       train: Callable[[nn.Sequential, object, int], None],
                       val_loss: Callable[[nn.Sequential], float], steps: int) -> dict[int, float]:
    """{k: L_val(model) - L_val(copy grown by k and trained ``steps`` steps)} (nats).

    ``copy(model) -> (model', optimizer')`` a deep copy with its optimizer state;
    ``grow(model', optimizer', k)`` grows it in place (returns the number added);
    ``train(model', optimizer', steps)`` trains it on the same fixed batches for every k;
    ``val_loss(model)`` the validation loss.  The model itself is not changed."""
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise GrowthError(f"look-ahead steps must be a positive integer, got {steps!r}")
    now = float(val_loss(model))
    out = {}
    for k in sorted(set(int(k) for k in k_options)):
        m, opt = copy(model)
        grow(m, opt, k)
        train(m, opt, int(steps))
        out[k] = now - float(val_loss(m))
    return out


def rank_correlation(records: Sequence[dict], key: str = "predicted") -> dict:
    """Spearman's rho of ``record[key]`` against ``record["realised"]``, per candidate type
    (``record["type"]``) and over all records ("all"): {type: {"rho", "n"}}; rho is NaN
    with fewer than 3 records or a constant column."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        for t in (r["type"], "all"):
            if r.get(key) is not None and math.isfinite(r[key]) and math.isfinite(r["realised"]):
                groups.setdefault(t, []).append((float(r[key]), float(r["realised"])))
    out = {}
    for t, pairs in sorted(groups.items()):
        a = np.asarray(pairs)
        ok = len(a) >= 3 and np.ptp(a[:, 0]) > 0 and np.ptp(a[:, 1]) > 0
        out[t] = {"rho": float(spearmanr(a[:, 0], a[:, 1]).statistic) if ok else float("nan"), "n": len(a)}
    return out
