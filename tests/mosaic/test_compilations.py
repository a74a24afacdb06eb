"""The kernels compile once per argument type, not once more per literal argument (a bare 0
passed on, or a counter starting at one): counted from an empty numba cache."""
import json
import os
import subprocess
import sys

import pytest

_CHILD = r"""
import json, numpy as np
from mosaic import HardwareSpec
from mosaic.generators import random_feedforward
from mosaic import kernels, event_window
import importlib
sim = importlib.import_module("mosaic.simulate")
net = random_feedforward([6, 20, 8], p=1.0, weight_scale=0.9, seed=4)
spec = HardwareSpec.preset("mosaic-4x4").replace(neurons_per_core=8, buffer_depth=2)
x = np.random.default_rng(4).random((30, 6)) < 0.6
for routing in ("ideal", "cycle"):
    sim.simulate(net, spec, None, x, routing=routing)
    sim.simulate_batch(net, spec, None, np.stack([x] * 3), routing=routing, parallel=False)
print(json.dumps({f.__name__: [[str(a) for a in sig] for sig in f.signatures]
                  for f in (kernels.run_cycle, kernels.run_ideal, kernels._event_path,
                            event_window.event_window, event_window._sort_segment)}))
"""


@pytest.mark.slow
def test_no_kernel_is_compiled_for_a_literal_argument(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True,
                         check=True).stdout
    sigs = json.loads(out.strip().splitlines()[-1])
    for name in ("run_cycle", "run_ideal", "_event_path"):
        assert len(sigs[name]) == 1, (name, sigs[name])         # one dtype, one compilation
    for name in ("run_cycle", "run_ideal", "_event_path", "_sort_segment"):
        assert not any("Literal" in a for sig in sigs[name] for a in sig), (name, sigs[name])
    # event_window: one compilation per mode (its last argument, literal on purpose), and
    # none for a literal anywhere else
    modes = sorted(sig[-1] for sig in sigs["event_window"])
    assert modes == [f"Literal[int]({m})" for m in (0, 1, 2)], modes
    assert not any("Literal" in a for sig in sigs["event_window"] for a in sig[:-1])
