"""The kernels' specialised neuron and input paths equal the reference bit for bit: runs of
neurons sharing their parameters (``NeuronParams.runs``) against the per-neuron loop and
``mosaic.reference.neuron_step``; input rows onto blocks of consecutive neurons against
the plain scatter; whole runs of uniform populations and analog input against
``simulate_reference``."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic import HardwareSpec, neurons
from mosaic.generators import cuba, random_feedforward
from mosaic.reference import neuron_step, simulate_reference
from mosaic.simstate import N_COUNTERS, Inputs, NeuronParams, NeuronState, param_runs
from mosaic.simulate import simulate

_SYN = 4        # COUNTERS index of synaptic_ops


def _population(seed, run_lengths, zero_reset, dtype, leaky_runs):
    """Runs of ``run_lengths`` neurons, each run with its own parameters (Leaky where
    ``leaky_runs`` says so), a start state with some neurons refractory or just reset."""
    rng = np.random.default_rng(seed)
    cols = []
    for k, m in enumerate(run_lengths):
        alpha = 0.0 if leaky_runs[k % len(leaky_runs)] else rng.uniform(0.3, 0.95)
        cols.append([np.full(m, v) for v in (rng.uniform(0.5, 1.0), alpha, rng.uniform(0.5, 1.5),
                                             rng.normal(0, 0.05))] + [np.full(m, rng.integers(0, 4))])
    beta, alpha, thr, bias = (np.concatenate([c[i] for c in cols]).astype(dtype) for i in range(4))
    refr = np.concatenate([c[4] for c in cols]).astype(np.int64)
    prm = NeuronParams(beta, alpha, thr, bias, refr, zero_reset, param_runs(beta, alpha, thr, bias, refr))
    n = beta.size
    mem = rng.normal(0.5, 0.6, n).astype(dtype)
    st_ = NeuronState(mem, rng.normal(0, 0.3, n).astype(dtype), mem > thr,
                      (rng.integers(0, 4, n) % (refr + 1)).astype(np.int64))   # 0 <= ref_left <= refr
    return prm, st_, rng


def _copy(s: NeuronState) -> NeuronState:
    return NeuronState(*(a.copy() for a in s))


def _same_state(a: NeuronState, b: NeuronState):
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and np.array_equal(x, y)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), run_lengths=st.lists(st.integers(1, 70), min_size=1, max_size=6),
       zero_reset=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       leaky_runs=st.lists(st.booleans(), min_size=1, max_size=3))
def test_runs_path_equals_per_neuron_path_and_reference(seed, run_lengths, zero_reset, dtype, leaky_runs):
    prm, st0, rng = _population(seed, run_lengths, zero_reset, dtype, leaky_runs)
    n = st0.mem.size
    runs = neurons.by_runs(prm, n)                  # runs, unless there are many short ones
    paths = {"chosen": lambda *a: neurons.step_neurons(runs, *a),
             "runs": neurons.update_runs, "each": neurons.update_each}
    states = {k: _copy(st0) for k in paths}
    ref = _copy(st0)
    spikes = 0
    for t in range(12):
        I = rng.normal(0.3, 0.6, n).astype(dtype)
        ref = neuron_step(prm, ref, I)
        for k, f in paths.items():
            out = np.zeros(n, np.bool_)
            f(I, prm, states[k], out)
            assert np.array_equal(out, ref.prev), k
            _same_state(states[k], ref)
        spikes += int(ref.prev.sum())
    assert spikes > 0 or n < 8


def test_runs_path_is_taken_for_long_runs_only():
    """The runs' loops need at least ``_MIN_RUN`` neurons per run on average; below that the
    per-neuron loop runs, and both give the reference's result (checked above)."""
    prm, _, _ = _population(3, [40, 40], True, np.float64, [False])
    assert prm.runs.tolist() == [0, 40, 80] and neurons.by_runs(prm, 80)
    prm1, _, _ = _population(3, [1] * 20, True, np.float64, [False, True])
    assert prm1.runs.size == 21 and not neurons.by_runs(prm1, 20)


def test_param_runs_split_where_any_bit_changes():
    beta = np.array([0.9, 0.9, 0.9, 0.8, 0.8, 0.0, -0.0, -0.0])
    refr = np.array([2, 2, 3, 3, 3, 0, 0, 0])
    assert param_runs(beta, refr).tolist() == [0, 2, 3, 5, 6, 8]    # -0.0 is not 0.0
    assert param_runs(np.ones(5, np.float32)).tolist() == [0, 5]
    assert param_runs(np.zeros(0)).tolist() == [0]
    nan = np.full(3, np.nan)
    assert param_runs(nan).tolist() == [0, 3]                        # same bits, one run


def _scatter(I, idx, w, x=None):
    """The plain order: ``I[idx[r]] += w[r]`` (times ``x``) for r in order, in Python."""
    for r in range(idx.size):
        I[idx[r]] += w[r] if x is None else x * w[r]


ROWS = [np.arange(5, 21), np.arange(0, 1), np.array([0, 2, 1, 3]), np.array([4, 4, 5]),
        np.array([9, 3, 11, 2]), np.arange(30, 60, 2), np.arange(8, 40)]


@pytest.mark.parametrize("idx", ROWS, ids=lambda a: "-".join(map(str, a[:4])))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_add_synapses_equals_the_scatter(idx, dtype):
    rng = np.random.default_rng(idx.size)
    base = rng.normal(0, 1, 64).astype(dtype)
    w = rng.normal(0, 1, idx.size).astype(dtype)
    a, b = base.copy(), base.copy()
    neurons.add_synapses(a, idx.astype(np.int32), w)
    _scatter(b, idx, w)
    assert np.array_equal(a, b)
    assert bool(neurons._consecutive(idx)) == (idx.tolist() == list(range(idx[0], idx[0] + idx.size)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_in=st.integers(1, 9), dense=st.booleans(),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_analog_input_equals_the_scatter(seed, n_in, dense, dtype):
    """Rows onto blocks of consecutive neurons (``dense``) or scattered ones, zeros skipped."""
    rng = np.random.default_rng(seed)
    n, T = 40, 4
    rows = []
    for _ in range(n_in):
        if dense:
            lo = int(rng.integers(0, n - 1))
            rows.append(np.arange(lo, int(rng.integers(lo + 1, n + 1))))
        else:
            rows.append(np.sort(rng.choice(n, size=int(rng.integers(0, 6)), replace=False)))
    ptr = np.concatenate(([0], np.cumsum([r.size for r in rows]))).astype(np.int64)
    idx = np.concatenate(rows).astype(np.int64)
    w = rng.normal(0, 1, idx.size).astype(dtype)
    x = np.where(rng.random((T, n_in)) < 0.3, 0, rng.normal(0, 1, (T, n_in))).astype(dtype)
    inp = Inputs(np.zeros((T, 0), np.bool_), x, ptr, idx, w)
    for t in range(T):
        I, J = np.zeros(n, dtype), np.zeros(n, dtype)
        counters = np.zeros(N_COUNTERS, np.int64)
        neurons.analog_input(t, I, inp, counters)
        ops = 0
        for j in range(n_in):
            if x[t, j] != 0:
                _scatter(J, idx[ptr[j]:ptr[j + 1]], w[ptr[j]:ptr[j + 1]], x[t, j])
                ops += ptr[j + 1] - ptr[j]
        assert np.array_equal(I, J)
        assert counters[_SYN] == ops


def test_uniform_population_run_equals_reference():
    """CUBA (one run: every neuron shares its parameters, refractory 49 steps, reset "zero")
    on a small chip, ideal and cycle routing."""
    net, mem0 = cuba(n=120, p=0.1, seed=2)
    spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8, dt_us=100.0)
    assert param_runs(net.beta, net.alpha, net.threshold, net.bias, net.refractory).size == 2
    x = np.zeros((300, net.n_inputs), np.bool_)
    for routing in ("ideal", "cycle"):
        a = simulate(net, spec, None, x, routing=routing, initial_mem=mem0)
        b = simulate_reference(net, spec, None, x, routing=routing, initial_mem=mem0)
        assert a.counts["spikes"] > 20
        assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.final_mem, b.final_mem)
        assert a.counts == b.counts and np.array_equal(a.step_latency_cycles, b.step_latency_cycles)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_analog_layered_run_equals_reference(dtype):
    """Dense analog input onto the first layer (rows onto consecutive neurons); raw weights,
    so that a change in the order of the additions would show in the sums."""
    net = random_feedforward([6, 20, 8], p=1.0, weight_scale=0.9, seed=4, alpha=0.5, quantum=None)
    spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8)
    x = np.random.default_rng(4).normal(0.4, 0.6, (30, net.n_inputs))
    assert all(neurons._consecutive(net.w_in.indices[net.w_in.indptr[j]:net.w_in.indptr[j + 1]])
               for j in range(net.n_inputs))
    for routing in ("ideal", "cycle"):
        a = simulate(net, spec, None, x, routing=routing, dtype=dtype)
        b = simulate_reference(net, spec, None, x, routing=routing, dtype=dtype)
        assert a.counts["spikes"] > 0
        assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.final_mem, b.final_mem)
        assert a.counts == b.counts


@pytest.mark.parametrize("T, n, p", [(1, 1, 1.0), (25, 138, 0.1), (70_000, 3, 1.0), (70_000, 5, 0.5), (300, 17, 0.0)])
def test_spike_counts_equal_a_plain_sum_also_past_the_16_bit_flush(T, n, p):
    """``neurons.spike_counts`` counts in 16-bit accumulators flushed every 65,535 steps: a
    column that spikes at every one of 70,000 steps must not wrap."""
    x = np.random.default_rng(T + n).random((T, n)) < p
    got = neurons.spike_counts(x)
    assert got.dtype == np.int64 and got.tolist() == x.sum(axis=0).tolist()
