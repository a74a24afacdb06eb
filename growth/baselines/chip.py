"""Spiking versions of the baselines on the chip: ReLU MLP -> integrate-and-fire twin by
data-based layer-wise weight normalisation (Diehl et al., IJCNN 2015; Rueckauer et al.,
Front. Neurosci. 2017), exported with ``models.export.to_network``, placed with
``mapper.map_network`` and run per sample by ``models.readout.measure_on_chip`` (``mosaic.simulate``).

Twin: snnTorch ``Leaky`` with beta = 1 (no leak), threshold 1, reset by subtraction; inputs
are direct currents in [0, 1] (lambda_0 = 1).  lambda_l = the ``percentile`` of layer l's
positive activations on calibration inputs; weights W_l * lambda_{l-1} / lambda_l, biases
b_l / lambda_l.  The class is the output unit with most spikes among the allowed classes
(ties: lowest index).  Hidden-layer biases drive a layer from step 0, before its input
arrives (one step per synapse), so chip spikes differ slightly from snnTorch's; the chip's
accuracy is measured on the chip itself.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import snntorch as snn
import torch
from torch import Tensor, nn

from mapper import map_network
from models.export import to_network
from models.readout import measure_on_chip

from .common import (
    BaselineError,
    ContinualLearner,
    TaskLike,
    as_tensors,
    linears,
    task_classes,
)


def spiking_twin(model: nn.Sequential, x_calib: Tensor, *, percentile: float = 99.9) -> nn.Sequential:
    """The integrate-and-fire twin of a ReLU MLP (see the module docstring)."""
    if not 0 < percentile <= 100:
        raise BaselineError(f"spiking_twin: percentile must lie in (0, 100], got {percentile}")
    lins = linears(model)
    if x_calib.ndim != 2 or len(x_calib) == 0 or x_calib.shape[1] != lins[0].in_features:
        raise BaselineError(f"spiking_twin: x_calib must be (N >= 1, {lins[0].in_features}), "
                            f"got {tuple(x_calib.shape)}")
    layers: list[nn.Module] = []
    prev_scale = 1.0
    h = x_calib
    with torch.no_grad():
        for i, lin in enumerate(lins):
            z = h @ lin.weight.T + (lin.bias if lin.bias is not None else 0.0)
            pos = z[z > 0]
            scale = float(np.percentile(pos.numpy(), percentile)) if pos.numel() else 1.0
            new = nn.Linear(lin.in_features, lin.out_features, bias=True)
            new.weight.copy_(lin.weight * prev_scale / scale)
            new.bias.copy_((lin.bias if lin.bias is not None else torch.zeros(lin.out_features)) / scale)
            last = i == len(lins) - 1
            layers += [new, snn.Leaky(beta=1.0, threshold=1.0, init_hidden=True, reset_mechanism="subtract",
                                      output=last)]
            h = torch.relu(z)
            prev_scale = scale
    return nn.Sequential(*layers)


@dataclass
class ChipFigures:
    """Spiking version on the chip: mean energy per inference (pJ), accuracy of the chip's
    predictions, samples run, and the largest network placed (neurons)."""

    energy_pj: float
    accuracy: float
    samples: int
    neurons: int


def chip_figures(learner: ContinualLearner, tasks: Sequence[TaskLike], spec, *, T: int = 16, per_task: int = 8,
                 n_calib: int = 200, task_given: bool = True, routing: str = "cycle",
                 mapping: str = "greedy") -> ChipFigures:
    """Run the spiking twins of ``learner``'s chip MLPs on ``per_task`` test samples of every
    task; each twin is calibrated on up to ``n_calib`` training inputs per task it serves."""
    if T < 1 or per_task < 1 or n_calib < 1:
        raise BaselineError(f"chip_figures: need T, per_task, n_calib >= 1; got {T}, {per_task}, {n_calib}")
    calib: dict[int, list] = {}
    for t, task in enumerate(tasks):
        x = as_tensors(task.x_train[:n_calib])
        for mlp_, sel, _ in learner.chip_mlps(x, t if task_given else None):
            calib.setdefault(id(mlp_), [mlp_, []])[1].append(x[sel])
    nets = {}
    for key, (mlp_, xs) in calib.items():
        net = to_network(spiking_twin(mlp_, torch.cat(xs)))
        nets[key] = (net, map_network(net, spec, method=mapping))
    energy = correct = n = 0.0
    biggest = 0
    for t, task in enumerate(tasks):
        x, y = as_tensors(task.x_test[:per_task], task.y_test[:per_task])
        allowed = task_classes(task) if task_given else None
        for mlp_, sel, out_classes in learner.chip_mlps(x, t if task_given else None):
            if not bool(sel.any()):
                continue
            if id(mlp_) not in nets:   # an MLP first used at test time: calibrate on its test inputs
                net = to_network(spiking_twin(mlp_, x[sel]))
                nets[id(mlp_)] = (net, map_network(net, spec, method=mapping))
            net, placement = nets[id(mlp_)]
            biggest = max(biggest, net.n_neurons)
            with warnings.catch_warnings():  # hidden biases drive a layer before its input arrives:
                warnings.filterwarnings("ignore", message="measure_on_chip: layers >= 1 have a bias")  # the chip's own
                res = measure_on_chip(net, spec, placement, x[sel].numpy(), T, routing=routing, record=True)  # semantics
            counts = np.stack([r[-1].sum(0) for r in res.layer_spikes]).astype(float)
            ok = np.ones(len(out_classes), bool) if allowed is None else np.isin(out_classes.numpy(), allowed.numpy())
            ok &= out_classes.numpy() >= 0
            counts[:, ~ok] = -1.0
            pred = out_classes.numpy()[counts.argmax(1)]
            correct += float((pred == y[sel].numpy()).sum())
            energy += res.energy_pj["total"] * int(sel.sum())
            n += int(sel.sum())
    if n == 0:
        raise BaselineError("chip_figures: no sample was run")
    return ChipFigures(energy / n, correct / n, int(n), biggest)
