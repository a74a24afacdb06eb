"""GradMax-CL with the hardware-aware controller deciding where and how much to grow.

Same task-incremental harness as :mod:`growth.cl` (one head per task, frozen old weights,
``growth.cl.run_tasks``), but before task t >= 1, instead of k neurons in every hidden layer,
:class:`growth.controller.GrowthController` picks growth steps (hidden layer l, k neurons),
up to ``rounds`` per task:

- **benefit**: the sum of the top-k squared singular values of GradMax's matrix M_l on a
  batch of the new task, restricted to the units the new neurons may feed
  (``growth.cl.growth_targets``: new units of the next layer or head t), so a lower layer only
  pays off once the layer above has grown for this task;
- **cost**: the grown network (every hidden unit and every head, ``layered_network``) is
  placed incrementally (old neurons pinned) and costed by ``mosaic.cost.delta_cost`` with
  the rate bound: every neuron and input active on every step (1 spike per step is the most
  an integrate-and-fire twin neuron can emit).  The costed figure is therefore an upper
  bound of the expected cost of any trained weights on that placement, and a budget that
  holds for it holds for the trained network;
- **hard budget**: ``budget`` is never broken.  Its energy is spent in even shares: before
  task t (of n) the controller may raise the energy bound to E + (B - E) / (n - t), where E is
  the current network's bound; a candidate above that share or above any limit of ``budget``
  is refused and the log says which limit (as is a layer whose deflated M is zero: GradMax
  has no new direction there);
- the admissible candidate of largest benefit / added relative cost is grown
  (``GrowthController.select``); no admissible candidate ends the task's growth.  With
  ``train_between`` > 0 the task trains that many epochs after each step, so the next
  step's M reflects what the grown neurons learned; otherwise all steps see the untrained
  network and M is deflated by the fan-outs already grown (see ``_benefits``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from growth.cl import (
    CLConfig,
    CLResult,
    TaskHeads,
    growth_targets,
    run_tasks,
    train_task,
)
from growth.controller import (
    ControllerConfig,
    GrowthController,
    bound_cost,
    incremental_placer,
    layered_network,
)
from growth.errors import GrowthError
from growth.grow import capture_growth_matrix, grow_layer
from mosaic.cost import CostBudget, CostReport
from mosaic.spec import HardwareSpec


@dataclass
class ControllerCLResult(CLResult):
    """A :class:`growth.cl.CLResult` plus the final placement ``core_of`` (neurons in
    ``layered_network`` order: hidden layers, then every head), its rate-bound cost
    ``cost`` and the controller's decision ``log`` (one dict per growth opportunity)."""

    core_of: np.ndarray | None = field(default=None, repr=False, compare=False)
    cost: CostReport | None = field(default=None, repr=False, compare=False)
    log: list[dict] = field(default_factory=list, repr=False)

    _NOT_JSON = ("model", "heads", "core_of", "cost")


def _benefits(model: nn.Sequential, heads: TaskHeads, t: int, batch, old: list[int], freeze: bool,
              fresh: list[int]) -> list[np.ndarray]:
    """GradMax singular values of M_l for every hidden layer l, rows restricted to
    ``growth_targets`` when frozen, with the fan-out directions of layer l's untrained new
    neurons (index >= ``fresh[l]``) projected out: their fan-in is still zero, so the gradient
    does not see them, and a second neuron along the same fan-out would be a duplicate that
    never separates from the first."""
    lins = [m for m in model if isinstance(m, nn.Linear)]
    out = []
    for l in range(len(old)):
        m = capture_growth_matrix(model, l, batch, nn.functional.cross_entropy,
                                  forward=lambda mm, xb: mm(xb)[:, heads.rows(t)])
        if freeze:
            m = m * growth_targets(model, heads, old, t, l).to(m.dtype)[:, None]
        scale = float(torch.linalg.matrix_norm(m, ord=2))   # before deflation: the noise floor's yardstick
        grown = lins[l + 1].weight.detach()[:, fresh[l]:].to(m.dtype)
        if grown.shape[1]:
            q = torch.linalg.qr(grown).Q
            m = m - q @ (q.T @ m)
        s = torch.linalg.svdvals(m).numpy()
        out.append(s[s > 1e-6 * scale] if scale > 0 else np.zeros(0))
    return out


def run_controller_cl(tasks, spec: HardwareSpec, budget: CostBudget, *, config: CLConfig | None = None,
                      controller: ControllerConfig | None = None, rounds: int = 6, train_between: int = 0, seed: int = 0,
                      progress: bool = True) -> ControllerCLResult:
    """Learn ``tasks`` in order (``config``: network, training; ``seed`` overrides
    ``config.seed`` and ``controller.seed``), growing before each new task as the controller
    decides within ``budget`` on ``spec`` (module doc).  ``controller``: k options, neuron
    caps, added-cost weights, margin, mapping, ``T`` (steps per inference of the cost).
    ``train_between``: epochs of training on the new task after each growth step, so the next
    step's GradMax matrix sees what the grown neurons learned (0: all steps on the untrained
    network; these epochs come on top of ``config.epochs``)."""
    cfg = replace(config or CLConfig(), seed=seed)
    ccfg = replace(controller or ControllerConfig(k_options=(4, 8, 16)), seed=seed)
    if rounds < 1 or train_between < 0:
        raise GrowthError(f"need rounds (growth steps per task) >= 1 and train_between >= 0 epochs, "
                          f"got {rounds}, {train_between}")
    n_in = tasks[0].x_train.shape[1]
    heads = TaskHeads.from_tasks(tasks)
    n_tasks = len(tasks)
    placer = incremental_placer(ccfg.mapping, ccfg.time_limit, ccfg.seed)
    sizes0 = [*cfg.hidden, heads.n_out]
    net0 = layered_network(n_in, sizes0)
    state = {"core_of": placer(net0, spec, None, np.ones(net0.n_neurons))}
    cost0 = bound_cost(n_in, sizes0, spec, state["core_of"], ccfg.T)
    log: list[dict] = []
    if budget.violations(cost0):
        raise GrowthError(f"the initial network {list(cfg.hidden)} already breaks the budget: "
                          f"{'; '.join(budget.violations(cost0))}; loosen the budget or start smaller")

    def grow(model, heads_, t, data, old, gen):
        x, yl = data
        fresh = list(old)
        for r in range(rounds):
            sizes = [lin.out_features for lin in model if isinstance(lin, nn.Linear)]
            now = bound_cost(n_in, sizes, spec, state["core_of"], ccfg.T)
            limit = budget
            if budget.energy_pj is not None:
                e = now.energy_pj["total"]
                limit = replace(budget, energy_pj=e + (budget.energy_pj - e) / (n_tasks - t))
            ctl = GrowthController(spec, limit, ccfg, placer=placer)
            idx = torch.randperm(len(x), generator=gen)[:cfg.grow_batch]
            batch = (x[idx], yl[idx])
            sv = _benefits(model, heads_, t, batch, old, cfg.freeze, fresh)
            ones = np.ones(sum(sizes))
            base, cands = ctl.candidates(n_in, sizes, state["core_of"], ones, np.ones(n_in), sv)
            entry = {"task": t, "round": r, "sizes": sizes, "energy_bound_pj": base.energy_pj["total"],
                     "allowance_pj": limit.energy_pj, "candidates": [c.record() for c in cands]}
            log.append(entry)
            best = ctl.select(cands)
            if best is None:
                entry.update(action="refuse", reason="no candidate fits the budgets: " + "; ".join(
                    f"(layer {c.layer}, k {c.k}) {', '.join(c.refused)}" for c in cands))
                return
            targets = growth_targets(model, heads_, old, t, best.layer) if cfg.freeze else None
            grow_layer(model, best.layer, best.k, data=batch, loss_fn=nn.functional.cross_entropy,
                       forward=lambda m, xb: m(xb)[:, heads_.rows(t)], targets=targets, fill=True, generator=gen)
            state["core_of"] = best.core_of
            if train_between:
                train_task(model, heads_, t, x, yl, replace(cfg, epochs=train_between), gen,
                           old if cfg.freeze else None)
                fresh = sizes[:-1]
                fresh[best.layer] += best.k
            entry.update(action="grow", layer=best.layer, k=best.k,
                         reason=f"best value {best.value:.4g} (benefit {best.benefit:.4g} / added cost "
                                f"{best.added:.4g})")

    res = run_tasks(tasks, cfg, "controller-cl", grow, progress=progress)
    sizes = [*res.hidden, heads.n_out]
    if len(state["core_of"]) != sum(sizes):
        raise GrowthError(f"internal: placement of {len(state['core_of'])} neurons for sizes {sizes}")
    return ControllerCLResult(res.method, res.matrix, res.baseline, res.hidden, model=res.model,
                             sizes=res.sizes, heads=res.heads, isolated=res.isolated,
                             core_of=state["core_of"], cost=bound_cost(n_in, sizes, spec, state["core_of"], ccfg.T),
                             log=log)


__all__ = ["ControllerCLResult", "run_controller_cl"]
