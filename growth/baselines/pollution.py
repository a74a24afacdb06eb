"""Pollution P^{i->j}: how much the weights owned by (protected for) task j contribute to
neurons' input on task i's data.

The research notes' definition (their eqs. 3-4) is not available to us; this is OUR
RECONSTRUCTION from the issue's description:

    P^{i->j} = E_{x in D_i}[ sum_l sum_n |sum_k W^{(j)}_{l,nk} h_{l,k}(x)| ]
               / E_{x in D_i}[ sum_l sum_n |sum_k W_{l,nk} h_{l,k}(x)| ]

over the layers l and neurons n of the network the method uses on task i, with h_l(x) the
layer's input (ReLU activations; biases excluded from the sums) and sum_j W^{(j)} = W the
split of the weights by owner task.  Ownership per method: sequentially trained weights
(fine-tuning, EWC, a MoE expert, growth methods) are split by increments, task j owning
``W_j - W_{j-1}`` (task 0 also owns the initialisation); LoRA-CL: task 0 owns the core,
task j >= 1 its merged adapter ``scale * B_j A_j``; SupSup: an edge of ``W * M_i`` is owned
in equal shares by every task whose mask keeps it.  Off-diagonal entries measure
interference; by the triangle inequality the row sum is >= 1.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .common import BaselineError, ContinualLearner, TaskLike, as_tensors


def pollution_matrix(learner: ContinualLearner, tasks: Sequence[TaskLike], *, split: str = "test") -> np.ndarray:
    """(T, T) matrix P[i, j] = P^{i->j} of a learner that has learned ``tasks``, on the
    ``split`` ("train" or "test") inputs of each task i."""
    if split not in ("train", "test"):
        raise BaselineError(f"pollution_matrix: split must be 'train' or 'test', got {split!r}")
    n = len(tasks)
    P = np.zeros((n, n))
    for i, task in enumerate(tasks):
        num, den = learner.pollution_terms(as_tensors(getattr(task, f"x_{split}")), i)
        if den <= 0:
            raise BaselineError(f"pollution_matrix: task {i} drives no input into any neuron (denominator 0)")
        for j, v in num.items():
            if not 0 <= j < n:
                raise BaselineError(f"pollution_matrix: owner task {j} outside 0..{n - 1}")
            P[i, j] = v / den
    return P


def off_diagonal_mean(P: np.ndarray) -> float:
    """Mean of P^{i->j} over i != j: average interference of one task's weights on another's data."""
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] < 2:
        raise BaselineError(f"off_diagonal_mean: need a square matrix of at least 2 tasks, got shape {P.shape}")
    return float(P[~np.eye(len(P), dtype=bool)].mean())
