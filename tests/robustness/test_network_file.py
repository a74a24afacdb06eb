"""Loaded .npz networks: CSR structure and index ranges are checked, so a corrupt file is a
NetworkError naming the problem, never a segfault or a silently used wrong index."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic.generators import random_feedforward
from mosaic.network import NetworkError, SpikingNetwork
from mosaic.simulate import simulate

NET = random_feedforward([4, 8, 4], seed=0)


def _arrays(tmp_path):
    NET.save(tmp_path / "net.npz")
    with np.load(tmp_path / "net.npz") as z:
        return {k: z[k].copy() for k in z.files}


def _save(tmp_path, arrays, name="bad.npz"):
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["w", "w_in"]), pos=st.integers(0, 10**6),
       value=st.one_of(st.integers(-2**31, -1), st.integers(12, 2**31 - 1)))   # the stored int32
def test_out_of_range_index_is_refused_with_its_place(tmp_path, which, pos, value):
    a = _arrays(tmp_path)
    idx = a[f"{which}_indices"]
    idx[pos % idx.size] = value
    with pytest.raises(NetworkError, match=rf"SpikingNetwork\.{which}: column index {value} in row \d+ is outside"):
        SpikingNetwork.load(_save(tmp_path, a))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(1, 10**6))
def test_truncated_file_is_a_network_error(tmp_path, cut):
    NET.save(tmp_path / "net.npz")
    data = (tmp_path / "net.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: cut % (len(data) - 22)])
    with pytest.raises(NetworkError, match="not a readable mosaic network file"):
        SpikingNetwork.load(tmp_path / "t.npz")


@pytest.mark.parametrize("change, words", [
    (lambda a: a.update(w_indptr=a["w_indptr"][:-1]), "index pointer|indptr"),
    (lambda a: a.update(w_indptr=a["w_indptr"][::-1].copy()), "index pointer|indptr"),
    (lambda a: a.update(n=np.array(2**40)), "outside 0..16,777,216"),
    (lambda a: a.update(w_in_shape=np.array([4, 99])), "w_in_shape"),
    (lambda a: a.update(w_indices=a["w_indices"] + 0.5), "integers"),
    (lambda a: a.pop("beta"), "missing array"),
    (lambda a: a.update(format=np.array("other")), "unknown format"),
])
def test_structure_errors_are_named(tmp_path, change, words):
    a = _arrays(tmp_path)
    change(a)
    with pytest.raises(NetworkError, match=words):
        SpikingNetwork.load(_save(tmp_path, a))


def test_in_memory_csr_with_a_bad_index_is_refused_before_any_kernel():
    w = sp.csr_matrix((np.ones(1), np.array([50]), np.array([0, 1, 1])), shape=(2, 2))
    with pytest.raises(NetworkError, match="column index 50 in row 0 is outside 0..1"):
        SpikingNetwork(sp.csr_matrix((1, 2)), w, beta=0.9, threshold=1.0)


def test_round_trip_still_exact_and_simulates(tmp_path):
    NET.save(tmp_path / "n")                         # .npz appended, as numpy does
    back = SpikingNetwork.load(tmp_path / "n.npz")
    assert (back.w != NET.w).nnz == 0 and (back.w_in != NET.w_in).nnz == 0
    x = np.random.default_rng(0).random((5, 4)) < 0.5
    assert np.array_equal(simulate(back, _spec(), None, x).spikes, simulate(NET, _spec(), None, x).spikes)


def test_save_is_atomic_an_old_file_survives_a_failed_write(tmp_path, monkeypatch):
    NET.save(tmp_path / "keep.npz")
    old = (tmp_path / "keep.npz").read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError, match="No space"):
        random_feedforward([4, 2], seed=1).save(tmp_path / "keep.npz")
    assert (tmp_path / "keep.npz").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npz"]


def _spec():
    from mosaic.spec import HardwareSpec
    return HardwareSpec.preset("mosaic-4x4")

