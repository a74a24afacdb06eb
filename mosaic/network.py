"""The spiking-network IR: per-neuron parameters and sparse weights, no torch.

Neuron semantics (snnTorch ``Leaky``/``Synaptic``, in full in ``mosaic.simulate``): per step t,
``syn = alpha*syn + I[t]``, ``mem = beta*mem + syn + bias - spk[t-1]*threshold``
(reset "subtract"), ``spk[t] = mem > threshold``.  Every synapse delays one step.
"""
from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .errors import ChipError
from .files import atomic_write

RESETS = ("subtract", "zero")


class NetworkError(ChipError):
    """A spiking network is malformed (shapes, non-finite values, ranges); the message names the field."""


def _per_neuron(name: str, value, n: int, dtype=np.float64) -> np.ndarray:
    a = np.asarray(value, dtype=dtype)
    if a.ndim == 0:
        a = np.full(n, a, dtype=dtype)
    if a.shape != (n,):
        raise NetworkError(f"SpikingNetwork.{name}: expected a scalar or shape ({n},), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = int(np.flatnonzero(~np.isfinite(a))[0])
        raise NetworkError(f"SpikingNetwork.{name}: non-finite value {a[bad]} at neuron {bad}")
    return a


def _csr(name: str, w, shape: tuple[int, int] | None) -> sp.csr_matrix:
    if sp.issparse(w) and w.format == "csr":
        _check_csr_structure(name, w)
    m = sp.csr_matrix(w, dtype=np.float64)
    if shape is not None and m.shape != shape:
        raise NetworkError(f"SpikingNetwork.{name}: expected shape {shape}, got {m.shape}")
    m.sum_duplicates()
    m.sort_indices()
    if not np.all(np.isfinite(m.data)):
        k = int(np.flatnonzero(~np.isfinite(m.data))[0])
        row = int(np.searchsorted(m.indptr, k, side="right") - 1)
        raise NetworkError(f"SpikingNetwork.{name}: non-finite weight {m.data[k]} at "
                         f"({row}, {int(m.indices[k])}); remove or replace NaN/inf weights")
    return m


def _check_csr_structure(name: str, m: sp.csr_matrix) -> None:
    """Index arrays of a CSR matrix consistent with its shape (scipy does not check them fully,
    and the numba kernels would read out of bounds)."""
    rows, cols = m.shape
    ptr, idx = np.asarray(m.indptr), np.asarray(m.indices)
    where = f"SpikingNetwork.{name}"
    if ptr.ndim != 1 or ptr.size != rows + 1:
        raise NetworkError(f"{where}: indptr has {ptr.size} entries, a ({rows}, {cols}) matrix needs {rows + 1}")
    if idx.ndim != 1 or np.asarray(m.data).shape != idx.shape:
        raise NetworkError(f"{where}: data and indices differ in length ({np.asarray(m.data).shape} vs {idx.shape})")
    if ptr[0] != 0 or ptr[-1] != idx.size or np.any(np.diff(ptr) < 0):
        raise NetworkError(f"{where}: indptr must rise from 0 to nnz = {idx.size}")
    if idx.size and (idx.min() < 0 or idx.max() >= cols):
        bad = int(np.flatnonzero((idx < 0) | (idx >= cols))[0])
        row = int(np.searchsorted(ptr, bad, side="right") - 1)
        raise NetworkError(f"{where}: column index {int(idx[bad])} in row {row} is outside 0..{cols - 1}")


@dataclass(eq=False)
class SpikingNetwork:
    """A network of LIF (``alpha`` = 0) or CUBA-LIF (``alpha`` > 0) neurons.

    ``w_in``: (n_inputs, n_neurons) input weights; ``w``: (n_neurons, n_neurons),
    ``w[i, j]`` is the synapse from neuron i to neuron j.  Scalars broadcast to
    every neuron.  ``refractory`` is in steps; ``layer`` an optional int label.
    """

    w_in: sp.csr_matrix
    w: sp.csr_matrix
    beta: np.ndarray
    threshold: np.ndarray
    alpha: np.ndarray = field(default=0.0)  # type: ignore[assignment]
    bias: np.ndarray = field(default=0.0)  # type: ignore[assignment]
    refractory: np.ndarray = field(default=0)  # type: ignore[assignment]
    reset: str = "subtract"
    layer: np.ndarray | None = None

    def __post_init__(self) -> None:
        w = sp.csr_matrix(self.w) if not sp.issparse(self.w) else self.w
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise NetworkError(f"SpikingNetwork.w: must be square (n_neurons, n_neurons), got shape {w.shape}")
        n = w.shape[0]
        self.w = _csr("w", w, (n, n))
        w_in = sp.csr_matrix(self.w_in) if not sp.issparse(self.w_in) else self.w_in
        if w_in.ndim != 2 or w_in.shape[1] != n:
            raise NetworkError(f"SpikingNetwork.w_in: expected shape (n_inputs, {n}), got {w_in.shape}")
        self.w_in = _csr("w_in", w_in, None)
        self.beta = _per_neuron("beta", self.beta, n)
        self.alpha = _per_neuron("alpha", self.alpha, n)
        self.threshold = _per_neuron("threshold", self.threshold, n)
        self.bias = _per_neuron("bias", self.bias, n)
        for name in ("beta", "alpha"):
            a = getattr(self, name)
            if np.any((a < 0) | (a > 1)):
                bad = int(np.flatnonzero((a < 0) | (a > 1))[0])
                raise NetworkError(f"SpikingNetwork.{name}: must lie in [0, 1], got {a[bad]} at neuron {bad}")
        if np.any(self.threshold <= 0):
            bad = int(np.flatnonzero(self.threshold <= 0)[0])
            raise NetworkError(f"SpikingNetwork.threshold: must be > 0, got {self.threshold[bad]} at neuron {bad}")
        ref = np.asarray(self.refractory)
        if np.any(ref != np.round(ref)) or np.any(ref < 0):
            raise NetworkError("SpikingNetwork.refractory: must be non-negative whole steps")
        self.refractory = _per_neuron("refractory", ref, n, dtype=np.int64)
        if self.reset not in RESETS:
            raise NetworkError(f"SpikingNetwork.reset: must be one of {RESETS}, got {self.reset!r}")
        if self.layer is not None:
            self.layer = _per_neuron("layer", self.layer, n, dtype=np.int64)

    @property
    def n_neurons(self) -> int:
        return self.w.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.w_in.shape[0]

    @property
    def n_synapses(self) -> int:
        return int(self.w.nnz + self.w_in.nnz)

    def layer_sizes(self) -> list[int]:
        """Neurons per layer label, in label order (one entry if unlabelled)."""
        if self.layer is None:
            return [self.n_neurons]
        return np.bincount(self.layer).tolist()

    def copy(self) -> "SpikingNetwork":
        return SpikingNetwork(self.w_in.copy(), self.w.copy(), self.beta.copy(), self.threshold.copy(),
                              alpha=self.alpha.copy(), bias=self.bias.copy(),
                              refractory=self.refractory.copy(), reset=self.reset,
                              layer=None if self.layer is None else self.layer.copy())

    def save(self, path) -> None:
        """Write the network to an ``.npz`` file (our own format; see ``load``), atomically;
        as numpy does, ``.npz`` is appended to a name without it."""
        p = Path(path) if str(path).endswith(".npz") else Path(f"{path}.npz")
        atomic_write(p, lambda fh: self._savez(fh))

    def _savez(self, fh) -> None:
        np.savez_compressed(
            fh, format="mosaic-network-1", reset=self.reset,
            w_in_data=self.w_in.data, w_in_indices=self.w_in.indices, w_in_indptr=self.w_in.indptr,
            w_in_shape=np.array(self.w_in.shape), w_data=self.w.data, w_indices=self.w.indices,
            w_indptr=self.w.indptr, n=self.n_neurons, beta=self.beta, alpha=self.alpha,
            threshold=self.threshold, bias=self.bias, refractory=self.refractory,
            layer=np.array([]) if self.layer is None else self.layer)

    @classmethod
    def load(cls, path) -> "SpikingNetwork":
        """Read a file written by ``save``; every array is checked before use."""
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls._from_arrays({k: z[k] for k in z.files})
        except NetworkError as e:
            raise NetworkError(f"{path}: {e}") from None
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise NetworkError(f"{path}: not a readable mosaic network file ({type(e).__name__}: {e})") from None

    @classmethod
    def _from_arrays(cls, z: dict) -> "SpikingNetwork":
        missing = sorted(set(_FILE_KEYS) - set(z))
        if missing:
            raise NetworkError(f"not a mosaic network file: missing array(s) {', '.join(missing)}")
        if z["format"].shape != () or str(z["format"]) != "mosaic-network-1":
            raise NetworkError(f"unknown format {z['format']!r}; expected 'mosaic-network-1'")
        n = _count("n", z["n"], ())
        w_in_shape = _count("w_in_shape", z["w_in_shape"], (2,))
        if w_in_shape[1] != n:
            raise NetworkError(f"w_in_shape {w_in_shape} does not end in n = {n}")
        for k in ("w_in_indices", "w_in_indptr", "w_indices", "w_indptr"):
            if z[k].dtype.kind not in "iu":
                raise NetworkError(f"{k} must hold integers, got dtype {z[k].dtype}")
        w_in = sp.csr_matrix((z["w_in_data"], z["w_in_indices"], z["w_in_indptr"]),
                             shape=tuple(w_in_shape), copy=True)
        w = sp.csr_matrix((z["w_data"], z["w_indices"], z["w_indptr"]), shape=(n, n), copy=True)
        layer = z["layer"] if z["layer"].size else None
        return cls(w_in, w, z["beta"], z["threshold"], alpha=z["alpha"], bias=z["bias"],
                   refractory=z["refractory"], reset=str(z["reset"]), layer=layer)


_FILE_KEYS = ("format", "reset", "w_in_data", "w_in_indices", "w_in_indptr", "w_in_shape", "w_data",
              "w_indices", "w_indptr", "n", "beta", "alpha", "threshold", "bias", "refractory", "layer")
MAX_NEURONS = 1 << 24       # neurons (and inputs) of one network: the largest chip's neuron slots


def _count(name: str, a: np.ndarray, shape: tuple) -> tuple | int:
    """Non-negative integer(s) below ``MAX_NEURONS`` from a stored array of ``shape``."""
    if a.shape != shape or a.dtype.kind not in "iu":
        raise NetworkError(f"{name} must be integer(s) of shape {shape}, got {a.dtype} shape {a.shape}")
    if np.any(a < 0) or np.any(a > MAX_NEURONS):
        raise NetworkError(f"{name} = {a.tolist()} is outside 0..{MAX_NEURONS:,}")
    return int(a) if shape == () else tuple(int(v) for v in a)
