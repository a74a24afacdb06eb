"""Memory layout of a run: the fan-out built block by block equals the one-shot sparse product,
and a float64 run shares the cached routing table's weights instead of copying them."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic import HardwareSpec, events
from mosaic.generators import random_feedforward
from mosaic.simulate import prepare, _kernel_args, routing_tables
from mosaic.topology import tile_hops


def _oracle(net, spec, core_of, spiking):
    """The fan-out as one sparse product over all sources (the obvious formula)."""
    m = sp.vstack([net.w, net.w_in], format="csr") if spiking else net.w.tocsr()
    pattern = sp.csr_matrix((np.ones(m.nnz), m.indices, m.indptr), shape=m.shape)
    n = net.n_neurons
    onehot = sp.csr_matrix((np.ones(n), (np.arange(n), core_of)), shape=(n, spec.n_cores))
    syn = (pattern @ onehot).tocsr()
    src_core = np.concatenate([core_of, np.full(m.shape[0] - n, spec.io_core)]).astype(np.int64)
    coo = syn.tocoo()
    hx, hy = tile_hops(spec, src_core[coo.row], coo.col)
    S = m.shape[0]
    return src_core, syn, (np.bincount(coo.row, minlength=S).astype(float), np.bincount(coo.row, hx, minlength=S),
                           np.bincount(coo.row, hy, minlength=S))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), block=st.integers(1, 40), spiking=st.booleans(),
       tile=st.sampled_from([1, 2]))
def test_fanout_in_blocks_equals_one_product(seed, block, spiking, tile):
    spec = HardwareSpec.preset("mesh-8x8").replace(neurons_per_core=8, cores_per_tile=tile)
    net = random_feedforward([7, 23, 19, 5], p=0.4, recurrent_p=0.2, seed=seed)
    core_of = np.random.default_rng(seed).integers(0, spec.n_cores, net.n_neurons)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(events, "_BLOCK_ROWS", block)      # many blocks, a ragged last one
        f = events.fanout(net, spec, core_of, spiking)
    src_core, syn, (n_dest, hx, hy) = _oracle(net, spec, core_of, spiking)
    np.testing.assert_array_equal(f.src_core, src_core)
    assert f.syn.shape == syn.shape and (f.syn != syn).nnz == 0
    assert (f.dest != (syn > 0).astype(float)).nnz == 0
    for got, want in ((f.n_dest, n_dest), (f.hops_x, hx), (f.hops_y, hy)):
        np.testing.assert_array_equal(got, want)


def test_float64_run_shares_the_cached_weights():
    spec = HardwareSpec.preset("mosaic-4x4")
    net = random_feedforward([5, 30, 4], seed=1)
    x = np.zeros((3, net.n_inputs), bool)
    for dtype, shared in ((np.float64, True), (np.float32, False)):
        prep = prepare(net, spec, None, x, "cycle", "defer", None, dtype)
        rt = _kernel_args(net, spec, prep, "defer")[0]
        cached = routing_tables(net, spec, prep.core_of, prep.spiking_input)
        assert rt.syn_w.dtype == dtype and np.shares_memory(rt.syn_w, cached.syn_w) == shared
