"""Golden files: seeded runs whose ``RunReport.to_json()`` is checked in, so that any change
of the simulator's behaviour shows as a diff of ``tests/mosaic/golden/*.json``.

Ints, bools and strings must match exactly, floats to a relative 1e-12 (``wall_s`` is left
out).  After an intended change of behaviour, refresh the files and review the diff::

    MOSAIC_UPDATE_GOLDEN=1 python -m pytest tests/mosaic/test_golden.py
"""
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from mosaic import HardwareSpec
from mosaic.generators import random_feedforward
from mosaic.reference import simulate_reference
from mosaic.simulate import simulate

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MOSAIC_UPDATE_GOLDEN") == "1"


def _spiking_cycle():
    spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8, step_cycles=12, buffer_depth=2)
    net = random_feedforward([12, 24, 16, 8], p=0.5, weight_scale=0.8, seed=1)
    x = np.random.default_rng(1).random((25, net.n_inputs)) < 0.4
    core_of = np.random.default_rng(2).permutation(np.repeat(np.arange(spec.n_cores), 8))[:net.n_neurons]
    return net, spec, core_of, x, {"routing": "cycle", "late": "defer"}


def _analog_ideal():
    spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8)
    net = random_feedforward([6, 20, 10], p=0.6, weight_scale=0.7, seed=3)
    x = np.round(np.random.default_rng(3).normal(0.5, 0.5, (20, net.n_inputs)) * 64) / 64
    return net, spec, None, x, {"routing": "ideal", "late": "defer"}


def _recurrent_drop_mesh():
    spec = HardwareSpec.preset("mesh-8x8").replace(neurons_per_core=4, step_cycles=20, buffer_depth=2)
    net = random_feedforward([10, 24, 16], p=0.5, weight_scale=0.9, recurrent_p=0.3, seed=5)
    x = np.random.default_rng(5).random((30, net.n_inputs)) < 0.5
    core_of = np.random.default_rng(6).permutation(np.repeat(np.arange(spec.n_cores), 4))[:net.n_neurons]
    return net, spec, core_of, x, {"routing": "cycle", "late": "drop"}


def _synaptic_zero():
    spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8, step_cycles=20)
    net = random_feedforward([10, 24, 16, 8], p=0.5, weight_scale=0.8, recurrent_p=0.2, seed=7,
                             alpha=0.5, reset="zero")
    net.refractory[:] = 1
    x = np.random.default_rng(7).random((25, net.n_inputs)) < 0.5
    return net, spec, None, x, {"routing": "cycle", "late": "defer"}


CASES = {"spiking_cycle": _spiking_cycle, "analog_ideal": _analog_ideal,
         "recurrent_drop_mesh": _recurrent_drop_mesh, "synaptic_zero": _synaptic_zero}


def _doc(report) -> dict:
    doc = json.loads(report.to_json())
    del doc["wall_s"]
    doc["final_mem"] = report.final_mem.tolist()
    return doc


def _diff(want, got, path="") -> list[str]:
    """Every place where ``got`` differs from ``want`` (floats to a relative 1e-12)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}/{k}: missing" for k in want.keys() - got.keys()]
        out += [f"{path}/{k}: unexpected" for k in got.keys() - want.keys()]
        for k in want.keys() & got.keys():
            out += _diff(want[k], got[k], f"{path}/{k}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{path}: length {len(got)} != {len(want)}"]
        return [d for i, (a, b) in enumerate(zip(want, got)) for d in _diff(a, b, f"{path}[{i}]")]
    if isinstance(want, float) and isinstance(got, float):
        return [] if math.isclose(want, got, rel_tol=1e-12, abs_tol=1e-12) else [f"{path}: {got!r} != {want!r}"]
    if type(want) is not type(got) or want != got:
        return [f"{path}: {got!r} != {want!r}"]
    return []


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name):
    net, spec, core_of, x, kw = CASES[name]()
    report = simulate(net, spec, core_of, x, **kw)
    doc = _doc(report)
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    want = json.loads(path.read_text())
    problems = _diff(want, doc)
    assert not problems, (f"{name}: the run differs from {path.name} ({len(problems)} places; refresh "
                          f"with MOSAIC_UPDATE_GOLDEN=1 if the change is intended): " + "; ".join(problems[:10]))
    assert _diff(want, _doc(simulate_reference(net, spec, core_of, x, **kw))) == []
    assert doc["spikes"] > 0


def test_diff_sees_a_change():
    """The comparison is not vacuous: one changed count or float is reported."""
    want = {"a": 1, "b": [1.0, 2.0], "c": {"d": True}}
    assert _diff(want, want) == []
    assert _diff(want, {"a": 2, "b": [1.0, 2.0], "c": {"d": True}}) == ["/a: 2 != 1"]
    assert _diff(want, {"a": 1, "b": [1.0, 2.0 + 1e-9], "c": {"d": True}}) != []
    assert _diff(want, {"a": 1, "b": [1.0, 2.0], "c": {"d": 1}}) != []
