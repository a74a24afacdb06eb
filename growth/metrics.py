"""Continual-learning metrics from an accuracy matrix.

``R[i, j]`` is the test accuracy on task j after training on tasks 0..i (T x T), as in GEM
(Lopez-Paz & Ranzato, "Gradient Episodic Memory for Continual Learning", NeurIPS 2017,
Sec. 2 and Eqs. (1)-(3)); ``b[j]`` is the accuracy of the untrained (randomly initialised)
model on task j, needed for forward transfer.  Forgetting follows Chaudhry et al.,
"Riemannian Walk for Incremental Learning", ECCV 2018 (Eq. 7), which Avalanche's
``forgetting_metrics`` reports; Avalanche's ``ExperienceForgetting`` uses the accuracy right
after learning the task instead of the best one (``reference="first"``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from growth.errors import GrowthError


def _matrix(r) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] < 1:
        raise GrowthError(f"the accuracy matrix must be square T x T (T >= 1), got shape {r.shape}")
    if not np.all(np.isfinite(r)):
        raise GrowthError("the accuracy matrix contains NaN or infinite values")
    return r


def average_accuracy(r) -> float:
    """ACC = (1/T) sum_j R[T-1, j]: mean final accuracy over all tasks (GEM Eq. 1)."""
    r = _matrix(r)
    return float(r[-1].mean())


def backward_transfer(r) -> float:
    """BWT = 1/(T-1) sum_{j<T-1} (R[T-1, j] - R[j, j]) (GEM Eq. 2); negative = forgetting.
    0 for a single task."""
    r = _matrix(r)
    t = r.shape[0]
    if t == 1:
        return 0.0
    return float(np.mean([r[-1, j] - r[j, j] for j in range(t - 1)]))


def forward_transfer(r, b) -> float:
    """FWT = 1/(T-1) sum_{j>=1} (R[j-1, j] - b[j]) (GEM Eq. 3), with ``b[j]`` the accuracy on
    task j of the model at random initialisation.  0 for a single task."""
    r = _matrix(r)
    b = np.asarray(b, dtype=np.float64)
    t = r.shape[0]
    if b.shape != (t,):
        raise GrowthError(f"b must hold one baseline accuracy per task, shape ({t},), got {b.shape}")
    if t == 1:
        return 0.0
    return float(np.mean([r[j - 1, j] - b[j] for j in range(1, t)]))


def forgetting(r, reference: str = "max") -> float:
    """Average forgetting over tasks 0..T-2: f_j = max_{l<T-1} R[l, j] - R[T-1, j] (Chaudhry et
    al. 2018), or R[j, j] - R[T-1, j] with ``reference="first"`` (Avalanche's
    ExperienceForgetting).  0 for a single task."""
    r = _matrix(r)
    if reference not in ("max", "first"):
        raise GrowthError(f"reference must be 'max' or 'first', got {reference!r}")
    t = r.shape[0]
    if t == 1:
        return 0.0
    if reference == "max":
        f = [r[: t - 1, j].max() - r[-1, j] for j in range(t - 1)]
    else:
        f = [r[j, j] - r[-1, j] for j in range(t - 1)]
    return float(np.mean(f))


def task_curves(r) -> list[list[float]]:
    """Per-task accuracy curves: curve j = R[j:, j] (accuracy on task j after learning task
    j, j+1, ..., T-1)."""
    r = _matrix(r)
    return [r[j:, j].tolist() for j in range(r.shape[0])]


@dataclass
class CLReport:
    """All metrics of one continual-learning run (accuracies as fractions in [0, 1])."""

    acc: float
    bwt: float
    fwt: float | None
    forgetting: float
    matrix: list[list[float]]

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(r, b=None) -> CLReport:
    """ACC, BWT, FWT (if ``b`` given), forgetting and the matrix itself."""
    r = _matrix(r)
    return CLReport(average_accuracy(r), backward_transfer(r),
                    None if b is None else forward_transfer(r, b), forgetting(r), r.tolist())


def pareto_mask(energy, accuracy) -> np.ndarray:
    """Bool mask of the energy/accuracy Pareto front: True where no other point has lower or
    equal energy and higher or equal accuracy with one of them strictly better (equal points
    are all on the front).  ``energy`` and ``accuracy``: 1-D, equal length, any units."""
    e = np.asarray(energy, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    if e.shape != a.shape or e.ndim != 1:
        raise GrowthError(f"energy and accuracy must be 1-D of equal length, got shapes {e.shape} and {a.shape}")
    dominated = ((e[None, :] <= e[:, None]) & (a[None, :] >= a[:, None])
                 & ((e[None, :] < e[:, None]) | (a[None, :] > a[:, None]))).any(axis=1)
    return ~dominated


def hypervolume(energy, accuracy, ref_energy: float, ref_accuracy: float) -> float:
    """Area of the energy/accuracy region the points dominate, bounded by the reference point
    (``ref_energy``, ``ref_accuracy``): the set of (e, a) with some point i having
    e_i <= e <= ref_energy and ref_accuracy <= a <= a_i.  Units: energy unit x accuracy unit
    (e.g. nJ x fraction).  Points beyond the reference (more energy or less accuracy) add
    nothing; an empty set gives 0.  Larger is better."""
    e = np.asarray(energy, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    if e.shape != a.shape or e.ndim != 1:
        raise GrowthError(f"energy and accuracy must be 1-D of equal length, got shapes {e.shape} and {a.shape}")
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(a)) and np.isfinite(ref_energy)
            and np.isfinite(ref_accuracy)):
        raise GrowthError("hypervolume needs finite energies, accuracies and reference point")
    keep = (e <= ref_energy) & (a >= ref_accuracy)
    e, a = e[keep], a[keep]
    order = np.argsort(e, kind="stable")
    area, best = 0.0, ref_accuracy
    edges = np.append(e[order], ref_energy)
    for i, k in enumerate(order):       # sweep energy upwards, keeping the best accuracy so far
        best = max(best, a[k])
        area += (edges[i + 1] - edges[i]) * (best - ref_accuracy)
    return float(area)


def paired_p_value(x, y) -> float:
    """Two-sided p-value of the paired t-test of ``x`` against ``y`` (one pair per seed, >= 2
    pairs); 1.0 when every difference is 0.  ``scipy.stats.ttest_rel``."""
    from scipy.stats import ttest_rel  # lazy: scipy.stats is slow to import
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise GrowthError(f"paired_p_value needs two 1-D arrays of equal length >= 2, got {x.shape} and {y.shape}")
    d = x - y
    if np.all(d == 0):
        return 1.0
    if np.all(d == d[0]):
        return 0.0
    return float(ttest_rel(x, y).pvalue)
