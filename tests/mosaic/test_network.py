import numpy as np
import pytest
import scipy.sparse as sp

from mosaic import HardwareSpec, Placement, PlacementError, SpikingNetwork
from mosaic.placement import as_core_of


def tiny(**kw):
    args = dict(w_in=np.eye(2, 3), w=np.zeros((3, 3)), beta=0.9, threshold=1.0)
    args.update(kw)
    return SpikingNetwork(**args)


def test_scalars_broadcast_and_types():
    net = tiny(alpha=0.5, bias=0.1, refractory=2)
    assert net.n_neurons == 3 and net.n_inputs == 2
    for f in ("beta", "alpha", "threshold", "bias"):
        assert getattr(net, f).shape == (3,)
    assert net.refractory.dtype == np.int64 and sp.isspmatrix_csr(net.w)


@pytest.mark.parametrize("kw, msg", [
    (dict(w=np.full((3, 3), np.nan)), r"w: non-finite weight nan at \(0, 0\)"),
    (dict(w_in=np.ones((2, 4))), r"w_in: expected shape \(n_inputs, 3\)"),
    (dict(w=np.zeros((3, 2))), "w: must be square"),
    (dict(beta=1.5), r"beta: must lie in \[0, 1\]"),
    (dict(alpha=[0, 0, -0.1]), r"alpha: must lie in \[0, 1\], got -0.1 at neuron 2"),
    (dict(threshold=0.0), "threshold: must be > 0"),
    (dict(beta=[0.9, 0.9]), r"beta: expected a scalar or shape \(3,\)"),
    (dict(reset="hard"), "reset: must be one of"),
    (dict(refractory=1.5), "refractory"),
    (dict(bias=np.inf), "bias: non-finite"),
])
def test_bad_networks_name_the_field(kw, msg):
    with pytest.raises(ValueError, match=msg):
        tiny(**kw)


def test_save_load_round_trip(tmp_path):
    from mosaic.generators import random_feedforward
    net = random_feedforward([5, 7, 3], alpha=0.3, reset="zero", seed=1)
    net.save(tmp_path / "n.npz")
    back = SpikingNetwork.load(tmp_path / "n.npz")
    assert (back.w != net.w).nnz == 0 and (back.w_in != net.w_in).nnz == 0
    for f in ("beta", "alpha", "threshold", "bias", "refractory", "layer"):
        assert np.array_equal(getattr(back, f), getattr(net, f))
    assert back.reset == "zero"


def test_corrupt_network_file_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a readable mosaic network file"):
        SpikingNetwork.load(p)


def test_fill_placement_and_capacity_errors():
    spec = HardwareSpec.preset("mosaic-4x4")
    net = tiny(w_in=np.ones((1, 40)), w=np.zeros((40, 40)))
    core_of = as_core_of(None, net, spec)
    assert np.bincount(core_of).tolist() == [32, 8]
    crowded = np.zeros(40, int)
    with pytest.raises(PlacementError, match="core 0 holds 40 neurons, capacity is 32"):
        as_core_of(crowded, net, spec)
    with pytest.raises(PlacementError, match="outside 0..15"):
        as_core_of(np.full(40, 16), net, spec)


def test_too_small_chip_names_the_numbers():
    spec = HardwareSpec.preset("mosaic-4x4")
    net = tiny(w_in=np.ones((1, 600)), w=sp.csr_matrix((600, 600)))
    with pytest.raises(PlacementError, match="600 neurons do not fit mosaic-4x4: 16 cores x 32 = 512 slots"):
        Placement.fill(net, spec)


def test_placement_json_round_trip(tmp_path):
    p = Placement(np.array([0, 1, 1]), objective=3.0, bound=2.0, gap=1 / 3, status="feasible", method="greedy")
    p.to_json(tmp_path / "p.json")
    q = Placement.from_json(tmp_path / "p.json")
    assert np.array_equal(q.core_of, p.core_of) and q.objective == 3.0 and q.method == "greedy"
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PlacementError, match="bad.json"):
        Placement.from_json(tmp_path / "bad.json")
