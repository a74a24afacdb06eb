"""Messages and per-core processing time of a run: SANA-FE's Loihi-style event terms.

A source (a neuron, or a spike input at ``spec.io_core``) that spikes sends one
*message* to each distinct core its synapses reach (its own core included), each
travelling ``tile_hops`` tile-to-tile hops.  Counted for the packets the simulator
injects: neuron spikes of steps ``0 .. T-2`` and every input spike.

Processing time of core ``c`` at step ``t`` in ns: its two pipeline stages work
concurrently (as SANA-FE's per-core pipeline of hardware units), so it is the longer of
the receive stage, synaptic ops delivered to ``c`` in window ``t`` x ``t_synapse_ns`` +
messages received x ``t_message_in_ns``, and the soma stage, ``n_c x t_neuron_ns``
(every neuron is read and updated) + spikes of ``c``'s neurons x ``t_spike_ns`` +
messages they send x ``t_message_out_ns``.  Deliveries are
those of ideal routing (neuron spikes of ``t - 1``, input spikes of ``t``); analog
input currents carry no messages and are not timed.  A step's processing time is
the slowest core's, plus ``t_sync_ns``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .network import SpikingNetwork
from .spec import LATENCY_FIELDS, HardwareSpec
from .topology import tile_hops


class Fanout(NamedTuple):
    """Per source (neurons, then spike inputs): where its messages go."""

    src_core: np.ndarray     # (S,) int64 core the source sends from
    syn: sp.csr_matrix       # (S, n_cores) synapses of the source onto each core
    dest: sp.csr_matrix      # (S, n_cores) 1 where the source sends a message to the core
    n_dest: np.ndarray       # (S,) float64 destination cores = messages per spike
    hops_x: np.ndarray       # (S,) float64 tile hops along rows, summed over its messages
    hops_y: np.ndarray       # (S,) float64 tile hops along columns, summed over its messages


def message_fanout(spec: HardwareSpec, src_core: np.ndarray, pair_src: np.ndarray,
                   pair_core: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Messages per spike and their summed (x, y) tile hops for every source, from the
    (source, destination core) pairs (each distinct pair once)."""
    S = src_core.size
    hx, hy = tile_hops(spec, src_core[pair_src], pair_core)
    return (np.bincount(pair_src, minlength=S).astype(np.float64),
            np.bincount(pair_src, hx, minlength=S), np.bincount(pair_src, hy, minlength=S))


_CACHE: "OrderedDict[str, Fanout]" = OrderedDict()
_CACHE_MAX = 4
_BLOCK_ROWS = 4096   # sources per block of ``fanout``: bounds its sparse temporaries (MB, not GB)


def _core_blocks(m: sp.csr_matrix, onehot: sp.csr_matrix, src_core: np.ndarray, spec: HardwareSpec):
    """``fanout``'s figures for the rows of ``m`` (sources sending from ``src_core``), a block of
    ``_BLOCK_ROWS`` rows at a time: per block, its (rows, n_cores) synapse counts and
    ``message_fanout``'s three per-source arrays."""
    for r0 in range(0, m.shape[0], _BLOCK_ROWS):
        b = m[r0:r0 + _BLOCK_ROWS]
        pattern = sp.csr_matrix((np.ones(b.nnz), b.indices, b.indptr), shape=b.shape)
        syn = (pattern @ onehot).tocsr()
        coo = syn.tocoo()
        yield (syn, *message_fanout(spec, src_core[r0:r0 + b.shape[0]], coo.row.astype(np.int64),
                                    coo.col.astype(np.int64)))


def fanout(net: SpikingNetwork, spec: HardwareSpec, core_of: np.ndarray, spiking: bool,
           key: str | None = None) -> Fanout:
    """The sources' fan-out onto cores; cached under ``key`` (a network/placement/chip
    fingerprint) for the last few runs.  Built block by block of sources, so its peak memory
    is about that of the result."""
    if key is not None and key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    n = net.n_neurons
    onehot = sp.csr_matrix((np.ones(n), (np.arange(n), core_of)), shape=(n, spec.n_cores))
    mats = (net.w.tocsr(), net.w_in.tocsr()) if spiking else (net.w.tocsr(),)
    src_core = np.concatenate([core_of, np.full(net.n_inputs if spiking else 0, spec.io_core)]).astype(np.int64)
    parts, lo = [], 0
    for m in mats:
        parts += list(_core_blocks(m, onehot, src_core[lo:lo + m.shape[0]], spec))
        lo += m.shape[0]
    blocks, n_dest, hops_x, hops_y = zip(*parts)
    syn = sp.vstack(blocks, format="csr") if len(blocks) > 1 else blocks[0]
    dest = sp.csr_matrix((np.ones(syn.nnz), syn.indices, syn.indptr), shape=syn.shape)
    f = Fanout(src_core, syn, dest, np.concatenate(n_dest), np.concatenate(hops_x), np.concatenate(hops_y))
    if key is not None:
        _CACHE[key] = f
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return f


def injections(per_neuron: np.ndarray, last: np.ndarray, per_input: np.ndarray) -> np.ndarray:
    """(S,) packets each source injects in a run: neuron spikes of steps 0..T-2 (``per_neuron``
    spikes of the run minus the ``last`` step's), input spikes (``per_input``)."""
    return np.concatenate([per_neuron - last, per_input]).astype(np.float64)


def message_counts(sent: np.ndarray, n_dest: np.ndarray, hops_x: np.ndarray, hops_y: np.ndarray) -> dict:
    """Messages and their tile hops for ``sent`` packets per source (measured or expected),
    from ``message_fanout``'s per-source figures."""
    return {"messages": float(sent @ n_dest), "message_hops_x": float(sent @ hops_x),
            "message_hops_y": float(sent @ hops_y)}


def has_latencies(spec: HardwareSpec) -> bool:
    return any(getattr(spec, k) > 0 for k in LATENCY_FIELDS)


def processing_ns(spec: HardwareSpec, f: Fanout, core_of: np.ndarray, spikes: np.ndarray,
                  x_spk: np.ndarray) -> np.ndarray:
    """(T,) processing plus synchronisation time of every step in ns (module doc)."""
    T, n = spikes.shape
    s = sp.csr_matrix(spikes, dtype=np.float64)
    delivered = sp.hstack([sp.vstack([sp.csr_matrix((1, n)), s[:-1]]),
                           sp.csr_matrix(x_spk, dtype=np.float64)], format="csr")
    onehot = sp.csr_matrix((np.ones(n), (np.arange(n), core_of)), shape=(n, spec.n_cores))
    last = np.ones(T)
    last[-1] = 0.0                                   # the last step's spikes are not sent
    sent = sp.diags(last) @ s @ sp.diags(f.n_dest[:n])
    receive = ((delivered @ f.syn).toarray() * spec.t_synapse_ns
               + (delivered @ f.dest).toarray() * spec.t_message_in_ns)
    soma = (np.bincount(core_of, minlength=spec.n_cores) * spec.t_neuron_ns
            + (s @ onehot).toarray() * spec.t_spike_ns + (sent @ onehot).toarray() * spec.t_message_out_ns)
    return np.maximum(receive, soma).max(axis=1) + spec.t_sync_ns
