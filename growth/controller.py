"""The hardware-aware growth controller: the chip's cost decides where and when to grow.

At each growth opportunity (every ``check_every`` training steps) the controller

1. **when** - asks the plateau rule (:class:`PlateauRule`): the validation loss, smoothed by
   an exponential moving average, improved by less than ``eps`` (relative) over the last
   ``window`` opportunities.  Not plateaued: wait (logged).
2. **candidates** - every hidden layer l and every k in ``k_options`` that the neuron budget
   (``max_sizes`` / ``max_neurons``) allows.  Benefit = sum of the top-k squared singular
   values of GradMax's matrix M_l (the squared gradient norm the new fan-ins receive, i.e. the
   first-order loss decrease per unit learning rate; Evci et al. ICLR 2022); k is capped by
   rank M_l as GradMax does.  Or a given benefit per k (``growth.benefit``'s look-ahead, in
   nats against a no-growth twin).
   Recurrent layers (``recurrent``) count the new neurons' synapses onto their own layer.
3. **cost** - the grown network is placed incrementally (``mapper.map_network`` with
   ``previous`` = the current placement, old neurons pinned) and, with ``tile_options``,
   also on each of the nearest tiles with free slots (one candidate per tile), then costed
   by ``mosaic.cost.delta_cost`` from the measured spike rates (new neurons get their
   layer's mean rate; ``pricing="bound"``: every neuron and input active every step).  Added cost = w_energy x dE/E + w_latency x dL/L + w_port x d(port use), a
   dimensionless relative increase.  With ``measured`` (the chip's simulated energy of the
   current network on a validation batch), the chip calibrates the model: every predicted
   energy is scaled by measured / modelled energy of the current network before the budget
   check, so what the model misses (a layered run's extra steps, contention, the last
   step's packets) is priced too.
4. **budgets** - a candidate whose predicted cost breaks a hard limit (``CostBudget``, scaled
   by ``margin``) is refused and the log says which limit.  Never taken, whatever its benefit.
5. **where** - the admissible candidate with the largest value = benefit / added cost (ties:
   the cheaper one).  **Worth it** - grow only if value / value of the first growth >=
   ``min_value`` (default 0: any admissible candidate on a plateau is worth it).

Every decision, taken or not, is appended to ``controller.log`` as a plain dict.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from growth.errors import GrowthError
from growth.grow import capture_growth_matrix
from mapper import map_network
from models.snn import encode, run
from mosaic.cost import CostBudget, CostReport, delta_cost, estimate_cost
from mosaic.network import SpikingNetwork
from mosaic.spec import HardwareSpec
from mosaic.topology import hop_matrix


# ----------------------------------------------------------------- structure helpers
def layered_network(n_inputs: int, sizes: Sequence[int], *, beta: float = 0.9,
                    threshold: float = 1.0, recurrent: Sequence[int] = ()) -> SpikingNetwork:
    """The dense structure of an MLP (every synapse present, weight 1): what the chip routes
    for a trained model, whose weights are all nonzero.  Hidden layers listed in ``recurrent``
    also connect all-to-all to themselves (a dense recurrent matrix, self-synapses included).
    Neurons in layer order (hidden layers, then the output layer), labelled by layer."""
    sizes = [int(s) for s in sizes]
    if n_inputs < 1 or not sizes or min(sizes) < 1:
        raise GrowthError(f"layered_network needs n_inputs >= 1 and layer sizes >= 1, got {n_inputs}, {sizes}")
    bad = [li for li in recurrent if not 0 <= li < len(sizes) - 1]
    if bad:
        raise GrowthError(f"recurrent layer {bad[0]} does not exist; hidden layers are 0..{len(sizes) - 2}")
    n = sum(sizes)
    starts = np.cumsum([0] + sizes)
    w_in = sp.csr_matrix(np.pad(np.ones((n_inputs, sizes[0])), ((0, 0), (0, n - sizes[0]))))
    rows, cols = [], []
    blocks = [(li, li + 1) for li in range(len(sizes) - 1)] + [(li, li) for li in sorted(set(recurrent))]
    for src, dst in blocks:
        r, q = np.meshgrid(np.arange(starts[src], starts[src + 1]), np.arange(starts[dst], starts[dst + 1]),
                           indexing="ij")
        rows.append(r.ravel())
        cols.append(q.ravel())
    r = np.concatenate(rows) if rows else np.zeros(0, int)
    q = np.concatenate(cols) if cols else np.zeros(0, int)
    w = sp.csr_matrix((np.ones(r.size), (r, q)), shape=(n, n))
    return SpikingNetwork(w_in, w, beta, threshold, layer=np.repeat(np.arange(len(sizes)), sizes))


def bound_cost(n_inputs: int, sizes, spec: HardwareSpec, core_of, T: int, *,
               recurrent: Sequence[int] = ()) -> CostReport:
    """Rate-bound cost of a dense MLP with layer ``sizes`` (hidden then output; hidden layers
    in ``recurrent`` all-to-all to themselves) placed by ``core_of``: every neuron spikes and
    every (analog) input is nonzero on each of the ``T`` steps.  An upper bound of its
    expected cost per inference (pJ, ns) for any weights."""
    net = layered_network(n_inputs, sizes, recurrent=recurrent)
    return estimate_cost(net, spec, core_of, np.ones(net.n_neurons), np.ones(n_inputs), T=T, analog_input=True)


def grown_index(sizes: Sequence[int], layer: int, k: int) -> np.ndarray:
    """For layer sizes ``sizes`` grown by ``k`` neurons appended to ``layer``: each new
    neuron's index in the old network, -1 for the k new ones (the order ``grow_layer`` and
    ``to_network`` produce)."""
    sizes = list(sizes)
    end = int(np.sum(sizes[:layer + 1]))
    n = sum(sizes)
    return np.concatenate([np.arange(end), np.full(k, -1), np.arange(end, n)])


def grown_sizes(sizes: Sequence[int], layer: int, k: int) -> list[int]:
    out = list(sizes)
    out[layer] += k
    return out


@torch.no_grad()
def activity(model: nn.Sequential, x, T: int, encoder: str = "direct", seed: int = 0):
    """Spike rates of a spiking MLP on inputs ``x`` (B, n_in): ``(rates, input_rates,
    analog)``.  rates (n_neurons,) spikes per step per neuron in layer order; input_rates
    (n_in,) spikes per step per input channel, or for "direct" (analog) input the fraction
    of nonzero values; ``analog`` True for "direct"."""
    xs = encode(torch.as_tensor(np.asarray(x), dtype=torch.float32), T, encoder, seed=seed)
    _, _, layers = run(model, xs, record=True)
    rates = np.concatenate([l.float().mean(dim=(0, 1)).numpy() for l in layers]).astype(np.float64)
    input_rates = (xs != 0).float().mean(dim=(0, 1)).numpy().astype(np.float64)
    return rates, input_rates, encoder == "direct"


def layer_benefits(model: nn.Sequential, batch, loss_fn, n_hidden: int) -> list[np.ndarray]:
    """GradMax singular values of M_l for every hidden layer l (descending, rank-capped)."""
    out = []
    for li in range(n_hidden):
        m = capture_growth_matrix(model, li, batch, loss_fn)
        s = torch.linalg.svdvals(m).numpy()
        out.append(s[s > 1e-7 * s[0]] if s.size and s[0] > 0 else np.zeros(0))
    return out


def candidate_benefit(b: np.ndarray | dict, k: int) -> tuple[int, float]:
    """(neurons actually added, predicted benefit) of growing by ``k``: GradMax singular
    values (k capped by their number, benefit = sum of the top-k squared) or a dict {k: value}
    (0 neurons when k was not estimated)."""
    if isinstance(b, dict):
        return (k, float(b[k])) if k in b else (0, 0.0)
    sv = np.sort(np.asarray(b, np.float64))[::-1]
    kk = min(k, sv.size)            # GradMax adds at most rank(M) neurons
    return kk, float(np.sum(sv[:kk] ** 2))


# ----------------------------------------------------------------- rules and records
@dataclass(frozen=True)
class PlateauRule:
    """Plateau = the EMA-smoothed validation loss (factor ``ema``) improved by less than
    ``eps`` relative to its value ``window`` opportunities ago: (s[-1-window] - s[-1]) /
    s[-1-window] < eps.  Needs ``window + 1`` observations since the last growth."""

    window: int = 3
    eps: float = 0.02
    ema: float = 0.5

    def __post_init__(self) -> None:
        if self.window < 1 or not 0 <= self.ema < 1 or not math.isfinite(self.eps):
            raise GrowthError(f"PlateauRule needs window >= 1, 0 <= ema < 1, finite eps; got {self}")

    def smoothed(self, losses: Sequence[float]) -> list[float]:
        s: list[float] = []
        for v in losses:
            s.append(float(v) if not s else self.ema * s[-1] + (1 - self.ema) * float(v))
        return s

    def improvement(self, losses: Sequence[float]) -> float | None:
        """Relative improvement over the window, None while there are too few points."""
        s = self.smoothed(losses)
        if len(s) <= self.window:
            return None
        old = s[-1 - self.window]
        return (old - s[-1]) / max(abs(old), 1e-12)

    def plateaued(self, losses: Sequence[float]) -> bool:
        imp = self.improvement(losses)
        return imp is not None and imp < self.eps


@dataclass
class Candidate:
    """Growing hidden ``layer`` by ``k`` (new neurons on ``tile`` and the free slots nearest
    it, or where the placer puts them when ``tile`` is None): predicted benefit, cost after
    growth, added cost, value = benefit / added, and ``refused`` (why not admissible; empty if
    admissible)."""

    layer: int
    k: int
    benefit: float
    cost: CostReport | None = None
    core_of: np.ndarray | None = None
    added: float = float("nan")
    value: float = float("nan")
    refused: list[str] = field(default_factory=list)
    tile: int | None = None

    @property
    def kind(self) -> str:
        """The candidate type, "layer:k" (benefit estimates are compared within a type)."""
        return f"{self.layer}:{self.k}"

    def record(self) -> dict:
        d = {"layer": self.layer, "k": self.k, "tile": self.tile, "type": self.kind,
             "benefit": float(self.benefit), "added_cost": float(self.added), "value": float(self.value),
             "refused": list(self.refused)}
        if self.cost is not None:
            d.update(energy_pj=float(self.cost.energy_pj["total"]), latency_ns=float(self.cost.latency_ns),
                     port_use=float(self.cost.port_use), cores=int(self.cost.cores_used))
        return d


PRICINGS = ("rates", "bound")


@dataclass
class ControllerConfig:
    """``k_options``: neurons per growth step to consider; ``max_sizes`` per hidden layer and
    ``max_neurons`` (hidden total) cap growth (the final neuron budget); ``check_every``
    training steps between opportunities; ``w_*`` weights of the added-cost terms;
    ``margin`` < 1 keeps predictions that far inside each budget; ``mapping``/``time_limit``
    for the incremental placement (s); ``T`` steps per inference.  ``pricing``: "rates" (the
    expected cost from measured spike rates, new neurons at their layer's mean rate) or
    "bound" (every neuron and input active every step: a cost no run can exceed).
    ``recurrent``: hidden layers with an all-to-all recurrent matrix (their new neurons also
    synapse onto the layer itself).  ``tile_options``: besides the placer's choice, also
    price putting the k new neurons on each of this many tiles nearest (in hops, weighted by
    spike rates) to the neurons they connect to (0: the placer only)."""

    k_options: tuple[int, ...] = (8,)
    max_sizes: tuple[int, ...] | None = None
    max_neurons: int | None = None
    plateau: PlateauRule = field(default_factory=PlateauRule)
    check_every: int = 20
    min_value: float = 0.0
    w_energy: float = 1.0
    w_latency: float = 0.0
    w_port: float = 0.0
    margin: float = 1.0
    mapping: str = "greedy"
    time_limit: float = 1.0
    T: int = 10
    seed: int = 0
    pricing: str = "rates"
    recurrent: tuple[int, ...] = ()
    tile_options: int = 0

    def __post_init__(self) -> None:
        if not self.k_options or min(self.k_options) < 1:
            raise GrowthError(f"k_options must list positive neuron counts, got {self.k_options}")
        if self.check_every < 1 or not 0 < self.margin <= 1:
            raise GrowthError(f"need check_every >= 1 and 0 < margin <= 1, got {self.check_every}, {self.margin}")
        if min(self.w_energy, self.w_latency, self.w_port) < 0 or self.w_energy + self.w_latency + self.w_port <= 0:
            raise GrowthError("added-cost weights w_energy, w_latency, w_port must be >= 0, not all 0")
        if self.pricing not in PRICINGS:
            raise GrowthError(f"unknown pricing {self.pricing!r}; use one of {PRICINGS}")
        if self.tile_options < 0:
            raise GrowthError(f"tile_options must be >= 0, got {self.tile_options}")


Placer = Callable[[SpikingNetwork, HardwareSpec, np.ndarray, np.ndarray], np.ndarray]


def incremental_placer(method: str = "greedy", time_limit: float = 1.0, seed: int = 0) -> Placer:
    """Place a grown network keeping old neurons on their cores (``previous`` holds -1 for new
    neurons), via ``mapper.map_network``."""
    def place(net, spec, previous, rates):
        p = map_network(net, spec, method=method, rates=rates, previous=previous,
                        time_limit=time_limit, seed=seed)
        return np.asarray(p.core_of, np.int64)
    return place


def fill_near(spec: HardwareSpec, previous: np.ndarray, tile: int) -> np.ndarray:
    """Old neurons stay (``previous``); new ones (-1) go to ``tile``'s free slots, then to the
    free slots of the tiles nearest it in hops.  ``GrowthError`` when the chip is full."""
    core = np.asarray(previous, np.int64).copy()
    free = spec.neurons_per_core - np.bincount(core[core >= 0], minlength=spec.n_cores)
    new = np.flatnonzero(core < 0)
    if new.size > free.sum():
        raise GrowthError(f"{new.size} new neurons but only {int(free.sum())} free slots on {spec.name}")
    by_hops = np.argsort(hop_matrix(spec)[tile], kind="stable")
    order = np.repeat(by_hops, np.maximum(free[by_hops], 0))
    core[new] = order[:new.size]
    return core


def near_tiles(spec: HardwareSpec, core_of: np.ndarray, weights: np.ndarray, n: int) -> list[int]:
    """The ``n`` tiles with a free slot that minimise sum_j weights[j] x hops(tile, core_of[j]):
    where a new neuron connected to neurons j (weights: their spike rates) routes least."""
    free = spec.neurons_per_core - np.bincount(core_of, minlength=spec.n_cores)
    load = np.bincount(core_of, weights=weights, minlength=spec.n_cores)
    score = hop_matrix(spec) @ load
    ok = np.flatnonzero(free > 0)
    return [int(t) for t in ok[np.argsort(score[ok], kind="stable")[:n]]]


class MeasuredCost:
    """A measured row (a dict with ``energy_pj``, ``latency_ns``, ``port_use``, ``cores``: the
    chip's simulated figures per inference) seen through the attributes
    ``CostBudget.violations`` reads."""

    def __init__(self, row: dict) -> None:
        self.energy_pj = {"total": row["energy_pj"]}
        self.latency_ns, self.port_use, self.cores_used = row["latency_ns"], row["port_use"], row["cores"]


def calibration(base: CostReport, measured: float | None) -> float:
    """The chip's correction of the cost model: measured / modelled energy of the current
    network (1 without a measurement).  ``GrowthError`` for a measurement that is not a
    positive finite energy."""
    if measured is None:
        return 1.0
    if not (math.isfinite(measured) and measured > 0):
        raise GrowthError(f"measured energy must be a positive finite pJ per inference, got {measured!r}")
    return float(measured) / max(float(base.energy_pj["total"]), 1e-12)


def scaled_energy(report: CostReport, scale: float) -> CostReport:
    """``report`` with every energy figure x ``scale`` (``calibration``); itself for 1."""
    if scale == 1.0:
        return report
    return dataclasses.replace(report, energy_pj={k: v * scale for k, v in report.energy_pj.items()})


class GrowthController:
    """Decides where and when a spiking MLP (or a recurrent SNN, ``config.recurrent``) grows on
    ``spec`` within ``budget``."""

    def __init__(self, spec: HardwareSpec, budget: CostBudget, config: ControllerConfig | None = None,
                 placer: Placer | None = None) -> None:
        self.spec, self.budget = spec, budget
        self.config = config or ControllerConfig()
        c = self.config
        self.placer = placer or incremental_placer(c.mapping, c.time_limit, c.seed)
        m = c.margin
        self._limits = CostBudget(*(None if v is None else (v if f == "cores" else v * m)
                                    for f, v in budget.to_dict().items()))
        self.log: list[dict] = []
        self.losses: list[float] = []
        self._value_ref: float | None = None

    # -- candidates ------------------------------------------------------------------
    def candidates(self, n_inputs: int, sizes: Sequence[int], core_of: np.ndarray, rates: np.ndarray,
                   input_rates: np.ndarray, benefits: Sequence[np.ndarray | dict], *,
                   analog_input: bool = True, measured: float | None = None) -> tuple[CostReport, list[Candidate]]:
        """Cost the current network and every candidate (layer, k[, tile]); ``sizes`` lists
        every layer (hidden then output); ``benefits[l]``: the GradMax singular values of
        hidden layer l (benefit of k = sum of the top-k squared, k capped by their number),
        or a dict {k: benefit} (e.g. ``growth.benefit.lookahead_benefits``).  ``measured``:
        the chip's energy of the current network (pJ per inference), which calibrates every
        candidate's predicted energy (module doc, step 3)."""
        c = self.config
        sizes = [int(s) for s in sizes]
        n_hidden = len(sizes) - 1
        if len(benefits) != n_hidden:
            raise GrowthError(f"benefits has {len(benefits)} entries for {n_hidden} hidden layers")
        rates, input_rates = self.priced_rates(rates, input_rates)
        core_of = np.asarray(core_of, np.int64)
        net = layered_network(n_inputs, sizes, recurrent=c.recurrent)
        base = estimate_cost(net, self.spec, core_of, rates, input_rates, T=c.T, analog_input=analog_input)
        scale = calibration(base, measured)
        out: list[Candidate] = []
        for li in range(n_hidden):
            for k in sorted(set(c.k_options)):
                kk, benefit = candidate_benefit(benefits[li], k)
                if kk and any(o.layer == li and o.k == kk for o in out):
                    continue
                first = Candidate(li, kk if kk else k, benefit)
                out.append(first)
                self._screen(first, sizes, kk)
                if first.refused:
                    continue
                for cand in self._placed(first, n_inputs, sizes, core_of, rates, input_rates):
                    if cand is not first:
                        out.append(cand)
                    if not cand.refused:
                        self._price(cand, base, n_inputs, sizes, core_of, rates, input_rates, scale)
        return base, out

    def priced_rates(self, rates, input_rates) -> tuple[np.ndarray, np.ndarray]:
        """The rates the budget is priced at: measured ones ("rates") or all 1 ("bound")."""
        rates = np.asarray(rates, np.float64)
        input_rates = np.asarray(input_rates, np.float64)
        if self.config.pricing == "bound":
            return np.ones_like(rates), np.ones_like(input_rates)
        return rates, input_rates

    def _screen(self, cand: Candidate, sizes: list[int], kk: int) -> None:
        c, li = self.config, cand.layer
        if kk == 0:
            cand.refused.append(f"layer {li}: no benefit estimate for k = {cand.k} (GradMax matrix zero "
                                "or k not estimated)")
            return
        new_sizes = grown_sizes(sizes, li, kk)
        if c.max_sizes is not None and new_sizes[li] > c.max_sizes[li]:
            cand.refused.append(f"neuron budget: layer {li} would have {new_sizes[li]} > {c.max_sizes[li]} neurons")
        if c.max_neurons is not None and sum(new_sizes[:-1]) > c.max_neurons:
            cand.refused.append(f"neuron budget: {sum(new_sizes[:-1])} hidden neurons > {c.max_neurons}")
        if sum(new_sizes) > self.spec.n_slots:
            cand.refused.append(f"{sum(new_sizes)} neurons exceed the chip's {self.spec.n_slots} slots")

    def _grown_rates(self, sizes, li, kk, rates) -> tuple[np.ndarray, np.ndarray]:
        starts = np.cumsum([0] + list(sizes))
        old = grown_index(sizes, li, kk)
        layer_rate = rates[starts[li]:starts[li + 1]].mean()
        return old, np.where(old >= 0, rates[np.maximum(old, 0)], layer_rate)

    def _placed(self, first: Candidate, n_inputs, sizes, core_of, rates, input_rates) -> list[Candidate]:
        """``first`` placed by the placer, plus one candidate per nearby tile (``tile_options``)."""
        li, kk = first.layer, first.k
        old, new_rates = self._grown_rates(sizes, li, kk, rates)
        previous = np.where(old >= 0, core_of[np.maximum(old, 0)], -1)
        new_net = layered_network(n_inputs, grown_sizes(sizes, li, kk), recurrent=self.config.recurrent)
        try:
            first.core_of = np.asarray(self.placer(new_net, self.spec, previous, new_rates), np.int64)
        except ValueError as e:          # MappingError: no room for the new neurons
            first.refused.append(f"mapping failed: {e}")
        out = [first]
        if self.config.tile_options:
            starts = np.cumsum([0] + list(sizes))
            linked = np.zeros(len(core_of))      # pre: their rates; post: the new neurons' rate
            if li > 0:
                linked[starts[li - 1]:starts[li]] = rates[starts[li - 1]:starts[li]]
            linked[starts[li + 1]:starts[li + 2]] = new_rates[old < 0][0]
            if li in self.config.recurrent:
                linked[starts[li]:starts[li + 1]] = rates[starts[li]:starts[li + 1]] + new_rates[old < 0][0]
            for t in near_tiles(self.spec, core_of, linked, self.config.tile_options):
                cand = Candidate(li, kk, first.benefit, tile=t)
                try:
                    cand.core_of = fill_near(self.spec, previous, t)
                except GrowthError as e:
                    cand.refused.append(f"tile {t}: {e}")
                out.append(cand)
        return out

    def _price(self, cand: Candidate, base: CostReport, n_inputs, sizes, core_of, rates, input_rates,
               scale: float) -> None:
        li, kk = cand.layer, cand.k
        old, new_rates = self._grown_rates(sizes, li, kk, rates)
        new_net = layered_network(n_inputs, grown_sizes(sizes, li, kk), recurrent=self.config.recurrent)
        kept = old >= 0
        moved = np.any(cand.core_of[kept] != core_of[old[kept]])
        # Only layer li-1 (or the inputs), and layer li itself when recurrent, gain targets:
        # a hint makes the delta O(changes).
        hint = None
        if not moved:
            starts = np.cumsum([0] + grown_sizes(sizes, li, kk))
            hint = (np.arange(starts[li - 1], starts[li]) if li > 0 else new_net.n_neurons + np.arange(n_inputs))
            if li in self.config.recurrent:
                hint = np.concatenate([hint, np.arange(starts[li], starts[li + 1])])
        raw = delta_cost(base, new_net, cand.core_of, new_rates, input_rates, old_index=old, sources=hint)
        cand.cost = scaled_energy(raw, scale)
        cand.refused += [f"budget: {v}" for v in self._limits.violations(cand.cost)]
        if not cand.benefit > 0:
            cand.refused.append(f"no predicted benefit ({cand.benefit:.4g})")
        cand.added = self._added(base, raw)
        cand.value = cand.benefit / cand.added if cand.added > 0 else math.inf

    def _added(self, base: CostReport, new: CostReport) -> float:
        c = self.config
        de = (new.energy_pj["total"] - base.energy_pj["total"]) / max(base.energy_pj["total"], 1e-12)
        dl = (new.latency_ns - base.latency_ns) / max(base.latency_ns, 1e-12)
        dp = new.port_use - base.port_use
        return max(c.w_energy * de + c.w_latency * dl + c.w_port * dp, 1e-12)

    @staticmethod
    def select(cands: Sequence[Candidate]) -> Candidate | None:
        """The admissible candidate of largest value; ties go to the smaller added cost."""
        ok = [c for c in cands if not c.refused and c.cost is not None]
        if not ok:
            return None
        return max(ok, key=lambda c: (c.value, -c.added, -c.layer))

    # -- the decision ------------------------------------------------------------------
    def observe(self, val_loss: float) -> None:
        if not math.isfinite(val_loss):
            raise GrowthError(f"validation loss must be finite, got {val_loss}")
        self.losses.append(float(val_loss))

    def decide(self, step: int, n_inputs: int, sizes: Sequence[int], core_of: np.ndarray,
               rates: np.ndarray, input_rates: np.ndarray,
               benefits: Sequence[np.ndarray] | Callable[[], Sequence[np.ndarray]], *,
               analog_input: bool = True, measured: float | Callable[[], float] | None = None) -> Candidate | None:
        """After ``observe``: the candidate to grow now, or None.  ``benefits`` and
        ``measured`` (the chip's energy of the current network, pJ per inference; None: no
        calibration) may be callables, evaluated only on a plateau (GradMax needs a
        backward pass, a measurement a simulation)."""
        entry: dict = {"step": int(step), "sizes": [int(s) for s in sizes],
                       "val_loss": self.losses[-1] if self.losses else None}
        imp = self.config.plateau.improvement(self.losses)
        entry["improvement"] = imp
        if imp is None or imp >= self.config.plateau.eps:
            entry.update(action="wait", reason="not on a plateau" if imp is not None else
                         "too few validation points since the last growth")
            self.log.append(entry)
            return None
        sv = benefits() if callable(benefits) else benefits
        meas = measured() if callable(measured) else measured
        base, cands = self.candidates(n_inputs, sizes, core_of, rates, input_rates, sv,
                                      analog_input=analog_input, measured=meas)
        entry["cost_now"] = {"energy_pj": base.energy_pj["total"], "latency_ns": base.latency_ns,
                             "port_use": base.port_use, "cores": base.cores_used,
                             "measured_energy_pj": meas, "calibration": calibration(base, meas)}
        entry["candidates"] = [c.record() for c in cands]
        best = self.select(cands)
        if best is None:
            entry.update(action="refuse", reason="no candidate fits the budgets: " + "; ".join(
                f"(layer {c.layer}, k {c.k}) {', '.join(c.refused)}" for c in cands))
            self.log.append(entry)
            return None
        if self._value_ref is None:
            self._value_ref = best.value
        rel = best.value / self._value_ref if self._value_ref > 0 else math.inf
        if rel < self.config.min_value:
            entry.update(action="skip", reason=f"not worth it: value {rel:.3g} of the first growth's "
                                               f"< min_value {self.config.min_value}")
            self.log.append(entry)
            return None
        entry.update(action="grow", layer=best.layer, k=best.k,
                     reason=f"best value {best.value:.4g} (benefit {best.benefit:.4g} / added cost "
                            f"{best.added:.4g})")
        self.log.append(entry)
        self.losses = []                      # a new plateau must form after growth
        return best
