"""`mosaic simulate` reports NeuroBench's figures of the run (RunReport.summary()), in the table
and in its JSON."""
import json

import numpy as np

from mosaic.generators import random_feedforward
from mosaic_grow.cli import main


def test_simulate_reports_neurobench(tmp_path, capsys):
    net = tmp_path / "net.npz"
    random_feedforward([16, 32, 8], p=0.5, seed=3).save(net)
    args = ["simulate", "--net", str(net), "--preset", "mosaic-4x4", "--steps", "15", "--rate", "0.5",
            "--routing", "ideal"]
    assert main(args) == 0
    assert "NeuroBench" in capsys.readouterr().out
    assert main(args + ["--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    nb = doc["neurobench"]
    assert nb["membrane_updates"] == 40 * 15
    assert nb["activation_sparsity"] == 1 - doc["spikes"] / (40 * 15)
    assert np.isclose(nb["effective_acs"], doc["counts"]["synaptic_ops"]) and nb["effective_macs"] == 0
    assert 0 < nb["connection_sparsity"] < 1 and nb["footprint_bytes"] > 0
