"""NIR files (written by nir's own writer) with random corruptions: truncated HDF5, wrong
dtypes, missing nodes and edges, NaN weights, shape mismatches, cycles without a neuron,
bad metadata.  ``from_nir`` refuses each with one NIRError line naming the problem, and the
CLI turns it into one error line with no file written."""
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.errors import ModelError
from models.nir_io import NIRError, from_nir


@pytest.fixture(scope="module")
def nir_bytes(base_files):
    return base_files["net.nir"]


class Base:
    """The valid NIR file's bytes, kept out of hypothesis's report of failing examples."""
    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"<net.nir, {len(self.data)} bytes>"


@pytest.fixture(scope="module")
def base(nir_bytes):
    return Base(nir_bytes)


def test_the_base_file_is_valid_and_round_trips(tmp_path, nir_bytes, base_files):
    from mosaic.network import SpikingNetwork
    (tmp_path / "net.nir").write_bytes(nir_bytes)
    (tmp_path / "net.npz").write_bytes(base_files["net.npz"])
    a, b = from_nir(tmp_path / "net.nir"), SpikingNetwork.load(tmp_path / "net.npz")
    assert a.n_neurons == b.n_neurons == 12 and (a.w != b.w).nnz == 0 and a.reset == b.reset


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind_i=st.integers(0, 10**6), seed=st.integers(0, 2**32 - 1))
def test_each_corruption_is_one_nir_error_line(tmp_path, bench, base, kind_i, seed):
    kind = bench.NIR_KINDS[kind_i % len(bench.NIR_KINDS)]
    _, data = bench.nir_corruption(random.Random(seed), base.data, kind)
    (tmp_path / "bad.nir").write_bytes(data)
    with pytest.raises(NIRError) as e:
        from_nir(tmp_path / "bad.nir")
    msg = str(e.value)
    assert isinstance(e.value, ModelError) and msg and "\n" not in msg, (kind, msg)


@pytest.mark.parametrize("kind, words", [
    ("weight_bool", "weight must hold numbers, got bool"),
    ("r_text", "r must hold numbers"),
    ("dt", "dt must be"),
    ("reset", "metadata reset must be 'subtract' or 'zero'"),
    ("layer", "metadata layer must hold whole numbers >= 0"),
    ("linear_cycle", "has no neuron node"),
    ("truncated", "not a readable NIR file"),
    ("missing_node", "not a readable NIR file"),
    ("dangling", "is not in the file: a node is fed by nothing or feeds nothing"),
])
def test_messages_name_the_problem(tmp_path, bench, nir_bytes, kind, words):
    for seed in range(3):
        _, data = bench.nir_corruption(random.Random(seed), nir_bytes, kind)
        (tmp_path / "bad.nir").write_bytes(data)
        with pytest.raises(NIRError, match=words):
            from_nir(tmp_path / "bad.nir")


def test_nan_weight_names_its_place(tmp_path, bench, nir_bytes):
    import h5py
    (tmp_path / "bad.nir").write_bytes(nir_bytes)
    with h5py.File(tmp_path / "bad.nir", "r+") as f:
        w = f["node/nodes/fc1/weight"][()]
        w[2, 5] = np.nan
        bench._h5_set(f, "node/nodes/fc1/weight", w)
    with pytest.raises(NIRError, match=r"node .fc1.: weight holds nan at \(2, 5\)"):
        from_nir(tmp_path / "bad.nir")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_cli_refuses_a_corrupt_nir_cleanly(tmp_path_factory, base_files, bench, run_clean, seed):
    folder = tmp_path_factory.mktemp("nir")
    argv, changed = bench.c_nir(random.Random(seed), base_files)
    for name, data in {**base_files, **changed}.items():
        (folder / name).write_bytes(data)
    import os
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        assert "mosaic: error:" in run_clean(folder, argv)
    finally:
        os.chdir(cwd)
