"""The one energy formula, as the simulator and the cost model use it."""
import numpy as np
import pytest

from mosaic import HardwareSpec
from mosaic.cost import estimate_cost
from mosaic.energy import energy_pj
from mosaic.generators import random_feedforward
from mosaic.simulate import simulate


def test_energy_by_kind_in_pj():
    spec = HardwareSpec.preset("mosaic-4x4")
    spec = spec.replace(e_access_pj=2.0, e_message_pj=5.0, e_hop_x_pj=0.5, e_hop_y_pj=0.25)
    e = energy_pj(spec, {"synaptic_ops": 100, "neuron_updates": 50, "spikes": 7, "router_traversals": 3,
                         "messages": 9, "message_hops_x": 4, "message_hops_y": 8}, 10)
    assert e["access"] == pytest.approx(50 * 2.0)
    assert e["message"] == pytest.approx(9 * 5.0)
    assert e["hops"] == pytest.approx(4 * 0.5 + 8 * 0.25)
    assert e["synaptic"] == pytest.approx(100 * spec.e_synaptic_pj)
    assert e["neuron"] == pytest.approx(50 * spec.e_neuron_pj)
    assert e["spike_out"] == pytest.approx(7 * spec.e_spike_out_pj)
    assert e["routing"] == pytest.approx(3 * spec.e_router_pj)
    assert e["static"] == pytest.approx(10 * spec.n_cores * spec.e_static_pj)
    assert e["total"] == pytest.approx(sum(v for k, v in e.items() if k != "total"))
    assert e["total"] > 0


def test_simulator_and_cost_model_charge_the_same_events():
    """With every source spiking every step, the expected and the measured events agree, so
    the shared formula gives the same energy (ideal routing: nothing late or dropped)."""
    spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8, cores_per_tile=2, e_access_pj=2.0,
                                                     e_message_pj=5.0, e_hop_x_pj=0.5, e_hop_y_pj=0.25)
    net = random_feedforward([6, 16, 8], p=0.6, seed=2)
    net.bias[:] = 100.0                           # every neuron spikes every step
    T = 12
    rep = simulate(net, spec, None, np.ones((T, net.n_inputs), bool), routing="ideal")
    assert rep.counts["spikes"] == net.n_neurons * T
    cost = estimate_cost(net, spec, None, np.ones(net.n_neurons), np.ones(net.n_inputs), T=T)
    for k in rep.energy_pj:
        assert cost.energy_pj[k] == pytest.approx(rep.energy_pj[k], rel=1e-12), k
    assert rep.energy_pj == energy_pj(spec, rep.counts, T)
    assert rep.energy_pj["message"] > 0 and rep.energy_pj["hops"] > 0
