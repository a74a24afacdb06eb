"""NeuroBench's hardware-agnostic metrics of chip runs (the model side is ``models.neurobench``).

Definitions (NeuroBench 2.x, ``neurobench.metrics``), per sample: synaptic operations are
"effective ACs" for spike input and "effective MACs" for analog input; activation sparsity
is the fraction of zero outputs of the spiking neurons over all neurons and steps;
membrane updates; connection sparsity (zero weights over all weights of the weight layers);
footprint in bytes.

On the chip: ACs are the synaptic operations of neuron and input spikes, MACs those of
analog input currents (``mosaic.simulate`` counts one per nonzero value per outgoing
synapse); a time-stepped chip updates every neuron every step, so its membrane updates are
``n x T`` (an upper bound of NeuroBench's event-driven count); connection sparsity is over
the blocks between layers that have synapses; footprint is ``synapses x weight_bytes +
neurons x 5 parameters x value_bytes`` (beta, alpha, threshold, bias, refractory; an
assumption about storage, not a spec figure).
"""
from __future__ import annotations

import numpy as np

from .errors import ChipError
from .network import SpikingNetwork
from .neurons import spike_counts


class NeuroBenchError(ChipError):
    """NeuroBench figures cannot be counted from these runs."""


def _aligned_window(net: SpikingNetwork, T: int, aligned: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron, the first and one-past-last step of its window: all steps, or (``aligned``,
    a ``measure_on_chip`` of T + L - 1 steps) layer l's steps l .. l + T - L."""
    n = net.n_neurons
    if not aligned:
        return np.zeros(n, np.int64), np.full(n, T, np.int64)
    if net.layer is None:
        raise NeuroBenchError("chip_metrics(aligned=True) needs layer labels (layer l lags l steps)")
    L = int(net.layer.max()) + 1
    if T < L:
        raise NeuroBenchError(f"chip_metrics(aligned=True): {T} steps is fewer than the {L} layers' lag")
    lo = net.layer.astype(np.int64)
    return lo, lo + (T - L + 1)


def synaptic_ops(net: SpikingNetwork, sent: np.ndarray, counts: dict) -> tuple[float, float]:
    """(effective ACs, effective MACs) of one run from the spikes each neuron sent (every step
    but the last, whose spikes are never delivered) and its counters; valid when every copy
    was delivered (nothing dropped or in flight)."""
    neuron_ops = float(np.asarray(sent, np.int64) @ np.diff(net.w.indptr))
    input_ops = counts["synaptic_ops"] - neuron_ops
    analog = counts["input_packets"] == 0 and input_ops > 0
    return neuron_ops + (0.0 if analog else input_ops), (input_ops if analog else 0.0)


def static_metrics(net: SpikingNetwork, weight_bytes: int = 4, value_bytes: int = 4) -> dict:
    """``connection_sparsity`` and ``footprint_bytes`` of the network at rest."""
    return {"connection_sparsity": network_connection_sparsity(net),
            "footprint_bytes": int(net.n_synapses * weight_bytes + net.n_neurons * 5 * value_bytes)}


def run_metrics(net: SpikingNetwork, per_neuron: np.ndarray, last: np.ndarray, T: int, counts: dict,
                packets: dict, static: dict | None = None) -> dict:
    """The NeuroBench figures of one run of ``T`` steps, as ``RunReport.summary()`` reports
    them, from its spikes per neuron and the last step's spikes (the raster is not read
    again); ACs and MACs are ``None`` when packets were dropped or left in flight (they
    cannot be separated).  ``static``: the network's ``static_metrics``, if the caller has
    them."""
    n = net.n_neurons
    complete = not (packets["dropped"] or packets["in_flight"])
    acs, macs = synaptic_ops(net, per_neuron - last, counts) if complete else (None, None)
    return {"effective_acs": acs, "effective_macs": macs,
            "activation_sparsity": 1.0 - float(per_neuron.sum()) / (n * T) if n else 0.0,
            "membrane_updates": float(n * T), **(static if static is not None else static_metrics(net))}


def chip_metrics(net: SpikingNetwork, reports, *, aligned: bool = False, weight_bytes: int = 4,
                 value_bytes: int = 4) -> dict:
    """NeuroBench figures of chip runs (one ``RunReport`` or a list, one sample each; means per sample).

    ``aligned``: the runs are ``measure_on_chip``'s (T + L - 1 steps, layer l lagging l steps), and
    sparsity and membrane updates count each layer over its T snnTorch-aligned steps only.
    Synaptic operations need every copy delivered (ideal routing, or no packet dropped or in
    flight) to separate input MACs from spike ACs.
    """
    reports = list(reports) if isinstance(reports, (list, tuple)) else [reports]
    if not reports:
        raise NeuroBenchError("chip_metrics needs at least one RunReport")
    acs = macs = spikes = neuron_steps = 0.0
    for rep in reports:
        if rep.spikes.shape[1] != net.n_neurons:
            raise NeuroBenchError(f"a RunReport of {rep.spikes.shape[1]} neurons does not belong to this "
                                  f"network of {net.n_neurons}")
        if rep.packets["dropped"] or rep.packets["in_flight"]:
            raise NeuroBenchError("chip_metrics: packets were dropped or left in flight, so the counters do "
                                  "not separate input MACs from spike ACs; run with routing='ideal' or "
                                  "late='defer' and enough steps")
        a, m = synaptic_ops(net, spike_counts(np.ascontiguousarray(rep.spikes[:-1])), rep.counts)
        acs, macs = acs + a, macs + m
        T = rep.spikes.shape[0]
        lo, hi = _aligned_window(net, T, aligned)
        steps = np.arange(T)[:, None]
        spikes += float((rep.spikes & (steps >= lo) & (steps < hi)).sum())
        neuron_steps += float((hi - lo).sum())
    k = len(reports)
    return {"effective_acs": acs / k, "effective_macs": macs / k,
            "activation_sparsity": 1.0 - spikes / neuron_steps if neuron_steps else 0.0,
            "membrane_updates": neuron_steps / k, **static_metrics(net, weight_bytes, value_bytes)}


def network_connection_sparsity(net: SpikingNetwork) -> float:
    """1 - synapses / connections of the dense blocks (inputs -> layer, layer -> layer) that hold
    any synapse; one block of all neurons when unlabelled."""
    lab = np.zeros(net.n_neurons, np.int64) if net.layer is None else net.layer.astype(np.int64)
    sizes = np.bincount(lab)
    k = sizes.size
    w, w_in = net.w.tocsr(), net.w_in.tocsr()
    rows = np.repeat(lab, np.diff(w.indptr))
    used = np.bincount(rows * k + lab[w.indices], minlength=k * k).reshape(k, k) > 0
    fed = np.bincount(lab[w_in.indices], minlength=k) > 0
    dense = int(net.n_inputs * sizes[fed].sum() + (np.outer(sizes, sizes) * used).sum())
    return 1.0 - net.n_synapses / dense if dense else 0.0
