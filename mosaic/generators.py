"""Workload generators for tests and benchmarks (all seeded, all offline)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .network import NetworkError, SpikingNetwork


def _rand_weights(rng: np.random.Generator, shape, p: float, scale: float, quantum: float | None):
    mask = rng.random(shape) < p
    w = rng.normal(0.0, scale, shape) * mask
    if quantum:
        w = np.round(w / quantum) * quantum
    return sp.csr_matrix(w)


def random_feedforward(sizes: list[int], *, p: float = 0.5, weight_scale: float = 0.5,
                       beta: float = 0.9, alpha: float = 0.0, threshold: float = 1.0,
                       reset: str = "subtract", recurrent_p: float = 0.0, seed: int = 0,
                       quantum: float | None = 2.0 ** -6) -> SpikingNetwork:
    """Layers ``sizes = [n_inputs, h1, ..., n_out]`` with connection probability ``p``.

    Weights are normal(0, weight_scale), rounded to multiples of ``quantum`` so that
    float sums are exact (None keeps them raw).  ``recurrent_p`` adds recurrent
    synapses inside each layer.  Neurons carry their layer index in ``layer``.
    """
    if len(sizes) < 2 or min(sizes) < 1:
        raise NetworkError(f"sizes must list n_inputs and at least one layer, all >= 1, got {sizes}")
    rng = np.random.default_rng(seed)
    hidden = sizes[1:]
    n = sum(hidden)
    starts = np.cumsum([0] + hidden)
    w_in = sp.lil_matrix((sizes[0], n))
    w_in[:, : hidden[0]] = _rand_weights(rng, (sizes[0], hidden[0]), p, weight_scale, quantum)
    w = sp.lil_matrix((n, n))
    for li in range(len(hidden)):
        a, b = starts[li], starts[li + 1]
        if li + 1 < len(hidden):
            w[a:b, b:starts[li + 2]] = _rand_weights(rng, (b - a, hidden[li + 1]), p, weight_scale, quantum)
        if recurrent_p > 0:
            w[a:b, a:b] = _rand_weights(rng, (b - a, b - a), recurrent_p, weight_scale, quantum)
    layer = np.repeat(np.arange(len(hidden)), hidden)
    return SpikingNetwork(w_in.tocsr(), w.tocsr(), beta, threshold, alpha=alpha, reset=reset, layer=layer)


def small_world(n: int = 2048, *, k: int = 16, length: float = 0.05, p_long: float = 0.05,
                n_inputs: int = 32, input_fanout: int = 16, weight: float = 0.25,
                beta: float = 0.9, threshold: float = 1.0, seed: int = 0) -> SpikingNetwork:
    """A distance-dependent small-world sheet: neurons on a square lattice in the unit
    square, each with ``k`` outgoing synapses to neighbours chosen with probability
    proportional to exp(-distance / ``length``), and a fraction ``p_long`` of them rewired
    to uniformly random targets (Watts-Strogatz style long-range shortcuts).
    ``layer`` is 0 for every neuron; ``extra`` positions are in ``net.layer``-free form,
    returned by ``sheet_positions(n)``."""
    if n < 2 or k < 1 or k >= n:
        raise NetworkError(f"small_world needs n >= 2 and 1 <= k < n, got n={n}, k={k}")
    rng = np.random.default_rng(seed)
    xy = sheet_positions(n)
    rows, cols = [], []
    for i in range(n):
        d = np.hypot(*(xy - xy[i]).T)
        prob = np.exp(-d / length)
        prob[i] = 0.0
        prob /= prob.sum()
        targets = rng.choice(n, size=k, replace=False, p=prob)
        long = rng.random(k) < p_long
        if long.any():
            others = np.setdiff1d(np.arange(n), np.append(targets[~long], i))
            targets[long] = rng.choice(others, size=int(long.sum()), replace=False)
        rows.append(np.full(k, i))
        cols.append(targets)
    r, c = np.concatenate(rows), np.concatenate(cols)
    sign = np.where(rng.random(r.size) < 0.8, 1.0, -1.0)
    w = sp.csr_matrix((weight * sign, (r, c)), shape=(n, n))
    ir = np.repeat(np.arange(n_inputs), input_fanout)
    ic = rng.integers(0, n, ir.size)
    w_in = sp.csr_matrix((np.full(ir.size, 2 * threshold), (ir, ic)), shape=(n_inputs, n))
    return SpikingNetwork(w_in, w, beta, threshold, layer=np.zeros(n, np.int64))


def sheet_positions(n: int) -> np.ndarray:
    """(n, 2) positions of ``n`` neurons on a near-square lattice in the unit square, row-major."""
    side = int(np.ceil(np.sqrt(n)))
    idx = np.arange(n)
    return np.stack([(idx % side + 0.5) / side, (idx // side + 0.5) / side], axis=1)


def cuba(n: int = 4000, p: float = 0.02, dt_ms: float = 0.1, seed: int = 0, *,
         exc_frac: float = 0.8, tau_syn_ms: float = 10.0) -> tuple[SpikingNetwork, np.ndarray]:
    """The classic CUBA E/I network (Brette et al., J Comput Neurosci 23:349, 2007,
    benchmark 2; Brian2's ``examples/CUBA.py``) in our IR, in mV with voltages shifted so
    that the reset Vr = -60 mV is 0.  Returns ``(net, initial_mem)``.

    Brian2's model: taum = 20 ms, taue = 5 ms, taui = 10 ms, Vt = -50 mV, Vr = -60 mV,
    El = -49 mV, refractory 5 ms, excitatory weight 1.62 mV, inhibitory -9 mV, every
    ordered pair (autapses included) connected with probability ``p``.  Ours: the
    ``Synaptic`` model, reset "zero", ``beta = exp(-dt/taum)``, threshold Vt - Vr = 10 mV,
    ``bias = (El - Vr) (1 - beta)`` mV per step (exact for the leak towards El),
    ``refractory = 5 ms / dt - 1`` steps: Brian2 skips the updates of the 49 steps after
    a spike at dt = 0.1 ms (the 50th integrates from Vr), as ``simulate`` holds the R
    updates after a spike.  Brian2's ge/gi keep integrating spikes that arrive during
    refractoriness; ``simulate`` discards them (a difference in the dynamics).  Our IR has one synaptic decay per neuron while CUBA
    has two: ``alpha = exp(-dt/tau_syn_ms)`` for every neuron, and each weight is scaled so
    that a spike injects the same total charge into the membrane as in Brian2
    (``w_brian * tau_brian / taum``, our kernel sums to ``w / (1 - alpha)``).  The default
    ``tau_syn_ms`` = taui = 10 ms keeps the inhibitory kernel exact: inhibition carries
    most of the input (per neuron 16 inhibitory inputs of 4.5 mV charge vs 64 excitatory
    of 0.405 mV).  ``initial_mem`` is uniform in [0, 10) mV (Brian2: Vr + rand (Vt - Vr)).
    For scaling runs pass ``p = k / n`` to keep the mean in-degree ``k`` fixed.
    Input: one input line without synapses (the network is self-driven by ``bias``).
    """
    if n < 2 or not 0 < p <= 1 or dt_ms <= 0 or not 0 < exc_frac < 1 or tau_syn_ms <= 0:
        raise NetworkError(f"cuba needs n >= 2, 0 < p <= 1, dt_ms > 0, 0 < exc_frac < 1 and "
                         f"tau_syn_ms > 0; got n={n}, p={p}, dt_ms={dt_ms}, exc_frac={exc_frac}, "
                         f"tau_syn_ms={tau_syn_ms}")
    taum, taue, taui = 20.0, 5.0, 10.0          # ms (Brian2 examples/CUBA.py)
    vt, vr, el = -50.0, -60.0, -49.0            # mV
    we, wi = 60 * 0.27 / 10, -20 * 4.5 / 10     # mV, jumps of ge and gi per spike
    rng = np.random.default_rng(seed)
    beta = float(np.exp(-dt_ms / taum))
    alpha = float(np.exp(-dt_ms / tau_syn_ms))
    n_exc = int(round(exc_frac * n))
    m = int(rng.binomial(n * n, p))             # Bernoulli(p) per ordered pair
    flat = np.sort(rng.choice(n * n, size=m, replace=False))
    pre, post = flat // n, flat % n
    w_exc = we * taue / taum * (1.0 - alpha)
    w_inh = wi * taui / taum * (1.0 - alpha)
    w = sp.csr_matrix((np.where(pre < n_exc, w_exc, w_inh), (pre, post)), shape=(n, n))
    w_in = sp.csr_matrix((1, n))
    net = SpikingNetwork(w_in, w, beta, vt - vr, alpha=alpha, bias=(el - vr) * (1.0 - beta),
                         refractory=max(0, int(round(5.0 / dt_ms)) - 1), reset="zero")
    initial_mem = rng.random(n) * (vt - vr)
    return net, initial_mem


def bernoulli_spikes(n_inputs: int, steps: int, rate: float, seed: int) -> np.ndarray:
    """(steps, n_inputs) bool input spikes: each input spikes with probability ``rate`` per
    step, independently, drawn from ``numpy.random.default_rng(seed)``."""
    if steps < 1 or n_inputs < 0:
        raise NetworkError(f"bernoulli_spikes needs steps >= 1 and n_inputs >= 0, got steps={steps}, "
                           f"n_inputs={n_inputs}")
    if not 0.0 <= rate <= 1.0:
        raise NetworkError(f"rate is a spike probability per input per step, in [0, 1]; got {rate}")
    return np.random.default_rng(seed).random((steps, n_inputs)) < rate
