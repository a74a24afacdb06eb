"""Energy from event counts: the one formula the simulator and the cost model share."""
from __future__ import annotations

from collections.abc import Mapping

from .spec import HardwareSpec


def energy_pj(spec: HardwareSpec, counts: Mapping, steps) -> dict:
    """Energy in pJ by kind, and their ``"total"``, of ``steps`` time steps on ``spec``.

    ``counts`` holds event counts (measured, or expected ones as floats):
    ``synaptic_ops`` x ``e_synaptic_pj`` (one per synapse a delivered copy reaches),
    ``neuron_updates`` x ``e_neuron_pj``, plus ``neuron_updates`` x ``e_access_pj``
    ("access": reading each neuron's state), ``spikes`` (neuron spikes) x
    ``e_spike_out_pj``, ``router_traversals`` x ``e_router_pj``, ``messages`` (one per
    spike per destination core) x ``e_message_pj``, ``message_hops_x``/``_y``
    (tile-to-tile hops of those messages) x ``e_hop_x_pj``/``e_hop_y_pj`` ("hops");
    static is ``e_static_pj`` x every core x ``steps``.
    """
    e = {"synaptic": spec.e_synaptic_pj * counts["synaptic_ops"],
         "neuron": spec.e_neuron_pj * counts["neuron_updates"],
         "access": spec.e_access_pj * counts["neuron_updates"],
         "spike_out": spec.e_spike_out_pj * counts["spikes"],
         "routing": spec.e_router_pj * counts["router_traversals"],
         "message": spec.e_message_pj * counts["messages"],
         "hops": spec.e_hop_x_pj * counts["message_hops_x"] + spec.e_hop_y_pj * counts["message_hops_y"],
         "static": spec.e_static_pj * spec.n_cores * steps}
    e["total"] = sum(e.values())
    return e
