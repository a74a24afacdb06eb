"""Loihi-style event terms (SANA-FE's model): messages per destination core, tile hops,
per-core processing latency, hand-counted on tiny networks."""
import numpy as np
import pytest
import scipy.sparse as sp

from mosaic import HardwareSpec
from mosaic.network import SpikingNetwork
from mosaic.reference import simulate_reference
from mosaic.simulate import simulate
from mosaic.spec import SpecError
from mosaic.topology import tile_hops


def _spec(**kw):
    return HardwareSpec(name="tiny", rows=2, cols=4, neurons_per_core=2, topology="mesh", cores_per_tile=2,
                        e_access_pj=1.0, e_message_pj=10.0, e_hop_x_pj=100.0, e_hop_y_pj=1000.0, **kw)


def _net():
    """Input 0 -> neurons 0, 1 (core 0, core 0); neuron 0 -> 2 (core 1, same tile), 4 (core 2,
    next tile), 6 (core 4, next row), 7 (core 4 too); neuron 1 -> 0 (own core)."""
    n = 8
    w = sp.csr_matrix((np.full(5, 3.0), ([0, 0, 0, 0, 1], [2, 4, 6, 7, 0])), shape=(n, n))
    w_in = sp.csr_matrix((np.full(2, 3.0), ([0, 0], [0, 1])), shape=(1, n))
    return SpikingNetwork(w=w, w_in=w_in, beta=np.zeros(n), threshold=np.ones(n))


CORE_OF = np.array([0, 0, 1, 1, 2, 2, 4, 4])


def test_tile_hops_are_zero_inside_a_tile():
    spec = _spec()
    dx, dy = tile_hops(spec, [0, 0, 0, 0, 1], [1, 2, 4, 7, 6])
    assert dx.tolist() == [0, 1, 0, 1, 1] and dy.tolist() == [0, 0, 1, 1, 1]


@pytest.mark.parametrize("sim", [simulate, simulate_reference])
def test_messages_and_hops_hand_counted(sim):
    spec = _spec()
    x = np.zeros((3, 1), bool)
    x[0] = True                                   # input spike at step 0; neurons 0, 1 spike at step 0
    rep = sim(_net(), spec, CORE_OF, x, routing="ideal")
    assert np.flatnonzero(rep.spikes[0]).tolist() == [0, 1]
    assert np.flatnonzero(rep.spikes[1]).tolist() == [0, 2, 4, 6, 7]
    assert np.flatnonzero(rep.spikes[2]).tolist() == [2, 4, 6, 7]
    # input: 1 message (core 0); neuron 0: cores 1, 2, 4 -> 3 messages, hops x 0+1+0, y 0+0+1;
    # neuron 1: core 0 -> 1 message; neuron 0 at step 1 (from neuron 1): 3 more; step 2 is not
    # sent, neurons 2-7 have no synapses
    assert rep.counts["messages"] == 1 + 3 + 1 + 3
    assert rep.counts["message_hops_x"] == 2 and rep.counts["message_hops_y"] == 2
    assert rep.energy_pj["message"] == pytest.approx(80.0)
    assert rep.energy_pj["hops"] == pytest.approx(2 * 100.0 + 2 * 1000.0)
    assert rep.energy_pj["access"] == pytest.approx(8 * 3 * 1.0)


def test_step_latency_includes_processing_and_sync():
    spec = _spec(t_synapse_ns=1.0, t_neuron_ns=10.0, t_spike_ns=100.0, t_message_out_ns=1000.0,
                 t_message_in_ns=10000.0, t_sync_ns=7.0)
    x = np.zeros((3, 1), bool)
    x[0] = True
    rep = simulate(_net(), spec, CORE_OF, x, routing="ideal")
    noc = rep.step_latency_cycles * spec.ns_per_cycle
    # per core: max(receive = synapses x 1 + messages in x 10000, soma = neurons x 10 +
    # spikes x 100 + messages out x 1000), slowest core, plus sync 7
    # step 0, core 0: input message (2 synapses); 2 neurons, 2 spikes, 3 + 1 messages out
    step0 = max(2 * 1 + 10000, 2 * 10 + 2 * 100 + 4 * 1000)
    # step 1: core 0 gets neuron 1's message (1 synapse), neuron 0 spikes and sends 3 messages;
    # core 4 gets 1 message (2 synapses) and neurons 6, 7 spike (no synapses out)
    step1 = max(max(1 + 10000, 20 + 100 + 3000), max(2 + 10000, 20 + 200))
    # step 2: neuron 0's step-1 spike reaches cores 1, 2, 4 (core 4: 2 synapses); the last
    # step's spikes are not sent
    step2 = 2 + 10000
    got = rep.step_latency_ns - noc
    assert got.tolist() == pytest.approx([step0 + 7.0, step1 + 7.0, step2 + 7.0])
    plain = simulate(_net(), _spec(), CORE_OF, x, routing="ideal")
    assert np.array_equal(plain.step_latency_ns, noc)


def test_spec_checks_tiles_and_latencies():
    with pytest.raises(SpecError, match="cores_per_tile 3 must divide cols 4"):
        _spec().replace(cores_per_tile=3)
    with pytest.raises(SpecError, match="t_sync_ns must be a non-negative number of ns"):
        _spec(t_sync_ns=-1.0)


def test_loihi_like_numbers_are_sanafe_loihi():
    s = HardwareSpec.preset("loihi-like")
    assert (s.n_cores, s.cores_per_tile, s.rows, s.cols // s.cores_per_tile) == (128, 4, 4, 8)
    assert (s.e_access_pj, s.e_message_pj, s.e_synaptic_pj, s.e_neuron_pj, s.e_spike_out_pj) == \
        (51.2, 111.0, 35.5, 21.6, 69.3)
    assert (s.e_hop_x_pj, s.e_hop_y_pj, s.e_router_pj) == (3.0, 4.2, 0.0)
