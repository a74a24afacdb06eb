"""The kernels compile once per argument type, not once more per literal argument (a bare 0
passed on, or a counter starting at one), and the inlined wrappers not at all: counted from
an empty numba cache."""
import json
import os
import subprocess
import sys

import pytest

_CHILD = r"""
import json, numpy as np
from mosaic import HardwareSpec
from mosaic.generators import random_feedforward
from mosaic import kernels, event_window, static_window
import importlib
sim = importlib.import_module("mosaic.simulate")
net = random_feedforward([6, 20, 8], p=1.0, weight_scale=0.9, seed=4)
spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8, buffer_depth=2)
x = np.random.default_rng(4).random((30, 6)) < 0.6
for routing in ("ideal", "cycle"):
    sim.simulate(net, spec, None, x, routing=routing)
    sim.simulate_batch(net, spec, None, np.stack([x] * 3), routing=routing, parallel=False)
print(json.dumps({f.__name__: [[str(a) for a in sig] for sig in f.signatures]
                  for f in (kernels.run_cycle, kernels.run_ideal, kernels._event_path, kernels._sample,
                            event_window.event_window, event_window._sort_segment,
                            static_window.static_window)}))
"""


@pytest.mark.slow
def test_kernels_compile_once_per_type_and_inlined_wrappers_not_at_all(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True,
                         check=True).stdout
    sigs = json.loads(out.strip().splitlines()[-1])
    for name in ("run_cycle", "run_ideal"):
        assert len(sigs[name]) == 1, (name, sigs[name])         # one dtype, one compilation
    # inlined into their callers (numba IR), so never compiled (nor optimised and
    # code-generated once more) as functions of their own
    assert sigs["_event_path"] == sigs["_sample"] == [], (sigs["_event_path"], sigs["_sample"])
    for name in ("run_cycle", "run_ideal", "_sort_segment", "static_window"):
        assert not any("Literal" in a for sig in sigs[name] for a in sig), (name, sigs[name])
    # event_window: one compilation per mode (its last argument, literal on purpose), and
    # none for a literal anywhere else
    modes = sorted(sig[-1] for sig in sigs["event_window"])
    assert modes == [f"Literal[int]({m})" for m in (0, 1)], modes
    assert not any("Literal" in a for sig in sigs["event_window"] for a in sig[:-1])
