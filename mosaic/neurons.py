"""Numba kernels of the neurons: one step of every neuron, the synapses and analog input
that make a step's current, and the sources that spiked.

Pure functions over ``mosaic.simstate``'s ``NeuronParams``, ``NeuronState`` and ``Inputs``
(arrays updated in place); ``mosaic.reference.neuron_step`` is their oracle.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .simstate import C_SYN

_MIN_RUN = 16       # mean neurons per run of identical parameters below which runs do not pay


@njit(cache=True, inline="always")
def step_neurons(runs, I, prm, st, out):
    """One step of every neuron (snnTorch Leaky/Synaptic, see ``mosaic.simulate``):
    ``NeuronParams`` ``prm``, ``NeuronState`` ``st`` updated in place, spikes into ``out``.

    Runs of neurons with identical parameters (``prm.runs``) are one loop each with the
    parameters in registers (``update_runs``, when ``runs``); populations of many short runs
    take one loop that loads every parameter per neuron (``update_each``).  Both do
    ``_neuron``'s operations, so the results are the same.  A kernel picks the loop once
    per call, ``runs = by_runs(prm, n)``, not once per step."""
    if runs:
        update_runs(I, prm, st, out)
    else:
        update_each(I, prm, st, out)


@njit(cache=True)
def by_runs(prm, n):
    """Whether ``step_neurons`` should take the runs' loops: at least ``_MIN_RUN`` neurons per run."""
    return (prm.runs.size - 1) * _MIN_RUN <= n


@njit(cache=True)
def update_runs(I, prm, st, out):
    """``step_neurons``, one loop per run of identical parameters (``_update_run``)."""
    runs, zr = prm.runs, prm.zero_reset
    mem, syn, prev, ref_left = st.mem, st.syn, st.prev, st.ref_left
    for k in range(runs.size - 1):
        a = runs[k]
        _update_run(a, runs[k + 1], I, mem, syn, prev, ref_left, out, prm.beta[a], prm.alpha[a], prm.thr[a],
                    prm.bias[a], prm.refr[a], zr)


# a function of its own, not a loop inside the loop over runs: compiled so, the loop runs
# about 20% faster (CUBA's 4,000 neurons, one run: 0.82 against 1.03 ns per neuron and step)
@njit(cache=True)
def _update_run(a, b, I, mem, syn, prev, ref_left, out, beta, alpha, th, bias, R, zr):
    """Neurons ``a..b-1`` (one run), with their parameters in registers."""
    for i in range(np.uint64(a), np.uint64(b)):   # unsigned: no index wrap-around
        _neuron(i, I, mem, syn, prev, ref_left, out, beta, alpha, th, bias, R, zr)


@njit(cache=True, inline="always")
def update_each(I, prm, st, out):
    """``step_neurons`` loading every parameter per neuron (inlined: small populations
    take it, where a call per step shows)."""
    mem, syn, prev, ref_left = st.mem, st.syn, st.prev, st.ref_left
    beta, alpha, thr, bias, refr, zr = prm.beta, prm.alpha, prm.thr, prm.bias, prm.refr, prm.zero_reset
    for i in range(mem.size):
        _neuron(i, I, mem, syn, prev, ref_left, out, beta[i], alpha[i], thr[i], bias[i], refr[i], zr)


@njit(cache=True, inline="always")
def _neuron(i, I, mem, syn, prev, ref_left, out, beta, alpha, th, bias, R, zero_reset):
    """Neuron ``i``'s step with its parameters.  Branch-free: both the refractory and the
    normal update are computed and one is selected, each with the same operations as the
    step it stands for."""
    z = th - th
    leaky = alpha == 0
    rl = ref_left[i]
    r = rl > 0                               # refractory: reset once, hold, input lost
    p = prev[i]
    m0 = mem[i]
    s_ref = alpha * syn[i]
    s = s_ref + I[i]
    mm = z if (p and zero_reset and leaky) else m0   # Leaky "zero": reset before the update
    m = beta * mm + s + bias
    m_sub = m - th
    m_p = (m if leaky else z) if zero_reset else m_sub   # Synaptic "zero": the update is zeroed
    m = m_p if p else m
    held = (z if zero_reset else m0 - th) if p else m0
    m = held if r else m
    spk = (m > th) and not r
    syn[i] = s_ref if r else s
    mem[i] = m
    out[i] = spk
    prev[i] = spk
    ref_left[i] = R if spk else (rl - 1 if r else rl)


@njit(cache=True, inline="always")
def _consecutive(idx):
    """Whether ``idx`` (non-empty) is ``lo, lo+1, ..., lo+len-1``: a row of synapses onto one
    block of neurons, each once (the compare loop has no early exit, so it is vectorized)."""
    if idx[-1] - idx[0] != idx.size - 1:
        return False
    ok = True
    for r in range(1, idx.size):
        ok &= idx[r] == idx[r - 1] + 1
    return ok


@njit(cache=True, inline="always")
def add_synapses(I, idx, w):
    """``I[idx[r]] += w[r]`` in increasing ``r``; as one vector loop on a block of consecutive
    targets (each target gets the same single addition, so the sums are unchanged)."""
    if _consecutive(idx):
        blk = I[idx[0]:idx[0] + idx.size]
        for r in range(idx.size):
            blk[r] += w[r]
    else:
        for r in range(idx.size):
            I[idx[r]] += w[r]


@njit(cache=True)
def analog_input(t, I, inp, counters):
    """``I += x_cur[t] @ w_in`` over the nonzero inputs in increasing order (a row onto a
    block of consecutive neurons as one vector loop, the same additions)."""
    x_cur, in_ptr, in_idx, in_w = inp.x_cur, inp.in_ptr, inp.in_idx, inp.in_w
    for j in range(x_cur.shape[1]):
        xv = x_cur[t, j]
        a, b = in_ptr[j], in_ptr[j + 1]
        if xv != 0 and b > a:
            idx, w = in_idx[a:b], in_w[a:b]
            if _consecutive(idx):
                blk = I[idx[0]:idx[0] + idx.size]
                for q in range(idx.size):
                    blk[q] += xv * w[q]
            else:
                for q in range(idx.size):
                    I[idx[q]] += xv * w[q]
            counters[C_SYN] += b - a


@njit(cache=True)
def _spiked(row, base, syn_ptr, out, k):
    """Append to ``out[k:]`` the sources ``base + i`` (in increasing ``i``) with ``row[i]`` set
    and any synapse; returns the new count.  Rows are sparse: 8 flags are tested at a time."""
    n = row.size
    nw = n // 8
    words = row[:nw * 8].view(np.uint64)
    for j in range(nw):
        if words[j] != 0:
            for i in range(8 * j, 8 * j + 8):
                if row[i] and syn_ptr[base + i + 1] > syn_ptr[base + i]:
                    out[k] = base + i
                    k += 1
    for i in range(nw * 8, n):
        if row[i] and syn_ptr[base + i + 1] > syn_ptr[base + i]:
            out[k] = base + i
            k += 1
    return k


@njit(cache=True)
def window_sources(t, n, spikes, x_spk, syn_ptr, out):
    """Sources injecting at window t, in order: neurons that spiked at t-1, then spiking inputs."""
    k = _spiked(spikes[t - 1], 0, syn_ptr, out, 0) if t > 0 else 0
    return _spiked(x_spk[t], n, syn_ptr, out, k)


@njit(cache=True)
def spike_counts(spikes):
    """Spikes per neuron of a C-contiguous (T, n) bool raster (int64).  One pass over the
    raster as bytes into 16-bit counters, flushed every 65,535 steps so they cannot wrap
    (byte-wide adds vectorise)."""
    T, n = spikes.shape
    out = np.zeros(n, np.int64)
    acc = np.zeros(n, np.uint16)
    u = spikes.view(np.uint8)
    t = 0
    while t < T:
        t1 = min(T, t + 65535)
        for s in range(t, t1):
            row = u[s]
            for i in range(n):
                acc[i] += row[i]
        for i in range(n):
            out[i] += acc[i]
            acc[i] = 0
        t = t1
    return out
