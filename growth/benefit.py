"""Benefit estimates for growth candidates, and their check against the realised gain.

Two estimates of what a growth candidate (a k, or a (layer, k)) buys:

- **GradMax** (``"gradmax"``): the sum of the top-k squared singular values of the growth
  matrix, i.e. the squared gradient norm the new fan-ins receive (a first-order loss decrease
  per unit learning rate).  Cheap (one backward pass) but in gradient units, which differ
  between layers and change scale over training.
- **Look-ahead** (``"lookahead"``, :func:`lookahead_benefits`): grow a copy of the model (with
  a copy of its optimizer state, padded as real growth pads it) and train it ``steps``
  minibatch steps on batches fixed for every candidate.  With ``baseline="twin"`` (the
  default, a counterfactual) the benefit is L_val(no-growth twin) - L_val(grown copy) in
  nats, the twin being one more copy trained the same ``steps`` on the same batches: what
  the growth adds over what training alone would do.  ``baseline="now"`` (the earlier
  definition) is L_val(now) - L_val(grown copy), which also counts the progress of those
  ``steps`` without growth.  Loss units compare across layers and over training, at the
  price of ``steps`` training steps per candidate (and the twin's).

Validation (:class:`RealisedGain`): at an accepted growth the caller forks a no-growth twin
(model, optimizer state, batch generator) and trains it alongside the grown run, on the same
batches, over a horizon of training steps; the realised gain is L_val(twin) - L_val(grown)
(nats; the validation-accuracy difference beside it).  The old realised figure, L_val at
the growth - L_val after the horizon, is kept beside it (``realised_now``).
:func:`rank_correlation` gives Spearman's rho between a prediction and a realised figure per
candidate type.
"""
from __future__ import annotations

import copy as _copy
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from scipy.stats import spearmanr

from growth.checks import positive_int
from growth.errors import GrowthError

ESTIMATORS = ("lookahead", "gradmax")
BASELINES = ("twin", "now")


def fork_optimizer(opt: torch.optim.Optimizer, params) -> torch.optim.Optimizer:
    """An optimizer of ``opt``'s class and settings over ``params`` (the same parameters of a
    deep-copied model, in the same order) with a deep copy of its state: training the copy
    leaves ``opt``'s moments and step counts alone (``load_state_dict`` alone would share
    the state tensors)."""
    out = type(opt)(list(params), **opt.defaults)
    out.load_state_dict(_copy.deepcopy(opt.state_dict()))
    return out


def fork_generator(gen: torch.Generator) -> torch.Generator:
    """A generator in ``gen``'s current state: it draws the same numbers from here on, and
    drawing from it leaves ``gen`` alone."""
    out = torch.Generator()
    out.set_state(gen.get_state())
    return out


def check_steps(steps) -> int:
    """``steps`` as an int if it is a positive integer, else a ``GrowthError`` naming it."""
    return positive_int(steps, "look-ahead steps")


def check_repeats(repeats, what: str) -> int:
    """``repeats`` as an int if it is a positive integer, else a ``GrowthError`` naming it
    (``what``: the option's name)."""
    return positive_int(repeats, what, " (1: one pair / batch stream)")


def check_options(estimator: str, look_steps, look_batch=None, look_repeats=1, validate_repeats=1) -> None:
    """``GrowthError`` naming the first bad controller benefit option: ``estimator`` (one of
    ``ESTIMATORS``), ``look_steps`` and the repeats (positive integers), ``look_batch``
    (a positive number of samples or None)."""
    if estimator not in ESTIMATORS:
        raise GrowthError(f"unknown benefit estimator {estimator!r}; use one of {ESTIMATORS}")
    check_steps(look_steps)
    if look_batch is not None and not (isinstance(look_batch, int) and look_batch >= 1):
        raise GrowthError(f"look_batch must be a positive number of samples or None, got {look_batch!r}")
    check_repeats(look_repeats, "look_repeats")
    check_repeats(validate_repeats, "validate_repeats")


def stream_seed(seed: int, at: int, stream: int = 0, pairs: bool = False) -> int:
    """The seed (< 2**31) of batch stream ``stream`` at training step ``at`` of a run seeded
    ``seed``: look-ahead streams (``pairs`` False; stream 0 is the look-ahead's one stream of
    ``repeats=1``) and realised-gain pairs (``pairs`` True) draw from separate families, so
    that no pair replays a look-ahead's batches."""
    if stream == 0 and not pairs:
        return int(torch.randint(2**31, (1,), generator=torch.Generator().manual_seed(seed * 100_003 + at)))
    return int(np.random.SeedSequence([int(seed), int(at), int(stream), int(pairs)]).generate_state(1)[0] >> 1)


def check_baseline(baseline: str) -> str:
    """``baseline`` itself if it is one of ``BASELINES``, else a ``GrowthError`` naming it."""
    if baseline not in BASELINES:
        raise GrowthError(f"unknown look-ahead baseline {baseline!r}; use one of {BASELINES}")
    return baseline


class Lookahead(NamedTuple):
    """Validation losses (nats) of one look-ahead: ``now`` (the model as it is), ``twin``
    (a no-growth copy trained the steps; None when not run) and ``grown`` {candidate: the
    copy grown by it, trained the same steps on the same batches}."""

    now: float
    twin: float | None
    grown: dict
    streams: tuple = ()

    def benefits(self, baseline: str = "twin") -> dict:
        """{candidate: benefit} (nats) against ``baseline`` ("twin" or "now", module doc)."""
        ref = self.now if check_baseline(baseline) == "now" else self.twin
        if ref is None:
            raise GrowthError("this look-ahead ran without its twin; run it with twin=True for baseline 'twin'")
        return {c: ref - v for c, v in self.grown.items()}

    def stream_benefits(self, candidate: Hashable, baseline: str = "twin") -> list[float]:
        """``candidate``'s benefit (nats) in each batch stream of a repeated look-ahead
        (:func:`repeated_lookahead`; one stream: the benefit itself)."""
        return [s.benefits(baseline)[candidate] for s in self.streams or (self,)]


def lookahead_losses(state, candidates: Sequence[Hashable], *, copy: Callable[[object], object],
                     grow: Callable[[object, Hashable], object], train: Callable[[object, int], None],
                     val_loss: Callable[[object], float], steps: int, twin: bool = True) -> Lookahead:
    """The losses of a look-ahead (:class:`Lookahead`).  ``copy(state)`` a deep copy of the
    model with a copy of its optimizer state (``fork_optimizer``); ``grow(copy, candidate)``
    grows it in place; ``train(copy, steps)`` trains it on batches that are the same at every
    call (a generator seeded afresh each time); ``val_loss(copy)`` its validation loss.
    ``state`` itself is never trained or grown."""
    steps = check_steps(steps)
    now = float(val_loss(copy(state)))
    ref = None
    if twin:
        c = copy(state)
        train(c, steps)
        ref = float(val_loss(c))
    grown = {}
    for cand in dict.fromkeys(candidates):
        c = copy(state)
        grow(c, cand)
        train(c, steps)
        grown[cand] = float(val_loss(c))
    return Lookahead(now, ref, grown)


def lookahead_benefits(state, candidates: Sequence[Hashable], *, copy, grow, train, val_loss, steps: int,
                       baseline: str = "twin") -> dict:
    """{candidate: benefit} (nats) of a look-ahead (:func:`lookahead_losses`) against
    ``baseline``: "twin" (default, L_val(no-growth twin) - L_val(grown copy), both trained
    ``steps`` on the same batches) or "now" (L_val(now) - L_val(grown copy))."""
    check_baseline(baseline)
    return lookahead_losses(state, candidates, copy=copy, grow=grow, train=train, val_loss=val_loss,
                            steps=steps, twin=baseline == "twin").benefits(baseline)


def repeated_lookahead(look: Callable[[int], Lookahead], repeats: int) -> Lookahead:
    """The look-ahead averaged over ``repeats`` batch streams: ``look(stream)`` is one
    look-ahead (:func:`lookahead_losses`) on the batches of ``stream`` (0: the one stream of
    ``repeats=1``, returned as it is).  Losses are the means over streams (so are benefits:
    they are differences of losses); ``streams`` keeps the streams' own look-aheads."""
    looks = [look(r) for r in range(check_repeats(repeats, "look_repeats"))]
    if len(looks) == 1:
        return looks[0]
    twin = None if looks[0].twin is None else float(np.mean([lk.twin for lk in looks]))
    grown = {c: float(np.mean([lk.grown[c] for lk in looks])) for c in looks[0].grown}
    return Lookahead(float(np.mean([lk.now for lk in looks])), twin, grown, tuple(looks))


def lookahead_fields(look: Lookahead | None, candidate: Hashable | None) -> dict:
    """A growth record's look-ahead figures for ``candidate`` (nats): "lookahead" (twin
    baseline) and "lookahead_now" ("now" baseline), both None without a look-ahead or a
    candidate; with a repeated look-ahead also each stream's "lookahead_streams"."""
    if look is None or candidate is None:
        return {"lookahead": None, "lookahead_now": None}
    out = {"lookahead": look.benefits("twin")[candidate], "lookahead_now": look.benefits("now")[candidate]}
    if look.streams:
        out["lookahead_streams"] = look.stream_benefits(candidate)
    return out


# One extra realised-gain pair: train(n, step0) trains its grown copy and its twin n steps on
# the pair's own batches; val() gives ((loss, accuracy) of the grown copy, (loss, accuracy) of the twin).
Pair = tuple[Callable[[int, int], None], Callable[[], tuple[tuple[float, float], tuple[float, float]]]]


@dataclass
class _Pending:
    record: dict
    before: tuple[float, float]
    train: Callable[[int, int], None] | None
    val: Callable[[], tuple[float, float]] | None
    pairs: list = field(default_factory=list)
    done: int = 0


class RealisedGain:
    """The realised gains of accepted growths, each measured ``horizon`` training steps after
    it (or at the next growth or the run's end, if sooner; ``horizon_steps`` says which),
    averaged over ``repeats`` pairs (grown run, no-growth twin).

    ``start(record, before, twin_train, twin_val, pairs)`` at a growth: ``before`` =
    (validation loss, accuracy) just before it; ``twin_train(n, step0)`` trains the no-growth
    twin ``n`` steps on the batches the grown run sees next and ``twin_val()`` gives its
    (loss, accuracy): pair 0, the run itself and its twin.  ``pairs(r)`` forks extra pair
    r = 1 .. repeats - 1 (a :data:`Pair`: a copy of the grown run and one of the twin, both
    at the growth, trained on the pair's own batches, ``stream_seed(..., pairs=True)``).
    All None when validation is off (then only ``realised_now`` is filled).  ``advance(n,
    step0)`` after every ``n`` steps the run trains; ``close(after)`` with the grown run's
    (loss, accuracy) when ``due`` (or earlier) appends the record to ``records`` with
    ``realised`` = L_val(twin) - L_val(grown) (nats) and ``realised_accuracy`` = acc(grown) -
    acc(twin), means over the pairs, ``realised_now`` = L_val(before) - L_val(grown) and
    ``realised_now_accuracy``; with ``repeats`` > 1 also each pair's gain
    (``realised_pairs``, pair 0 first) and the mean's standard error (``realised_se``, nats).
    """

    def __init__(self, horizon: int, repeats: int = 1) -> None:
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
            raise GrowthError(f"realised-gain horizon must be a positive number of training steps, got {horizon!r}")
        self.horizon = int(horizon)
        self.repeats = check_repeats(repeats, "validate_repeats")
        self.records: list[dict] = []
        self.pending: _Pending | None = None

    def start(self, record: dict, before: tuple[float, float], twin_train=None, twin_val=None,
              pairs: Callable[[int], Pair] | None = None) -> None:
        if self.pending is not None:
            raise GrowthError("a realised gain is still open; close it before the next growth")
        if twin_val is not None and self.repeats > 1 and pairs is None:
            raise GrowthError(f"validate_repeats={self.repeats} needs the extra pairs' fork (pairs=...)")
        extra = [pairs(r) for r in range(1, self.repeats)] if twin_val is not None and self.repeats > 1 else []
        self.pending = _Pending(dict(record), (float(before[0]), float(before[1])), twin_train, twin_val, extra)

    def advance(self, n: int, step0: int) -> None:
        p = self.pending
        if p is None or p.done >= self.horizon:
            return
        if p.done + n > self.horizon:
            raise GrowthError(f"{n} steps overrun the realised-gain horizon ({self.horizon - p.done} left): the "
                              "twin would fall behind the run; make the horizon a multiple of the steps per call")
        if p.train is not None:
            p.train(n, step0)
        for train, _ in p.pairs:
            train(n, step0)
        p.done += n

    @property
    def due(self) -> bool:
        return self.pending is not None and self.pending.done >= self.horizon

    def close(self, after: tuple[float, float] | Callable[[], tuple[float, float]]) -> None:
        """Append the pending record (nothing pending: nothing happens).  ``after``: the grown
        run's (loss, accuracy), or a callable giving them, called only if a gain is open."""
        p, self.pending = self.pending, None
        if p is None:
            return
        loss, acc = (float(v) for v in (after() if callable(after) else after))
        rec = {**p.record, "realised_now": p.before[0] - loss, "realised_now_accuracy": acc - p.before[1],
               "horizon_steps": p.done, "realised": None, "realised_accuracy": None}
        if p.val is not None:
            t_loss, t_acc = p.val()
            gains = [(float(t_loss) - loss, acc - float(t_acc))]
            for _, val in p.pairs:
                (g_loss, g_acc), (tw_loss, tw_acc) = val()
                gains.append((float(tw_loss) - float(g_loss), float(g_acc) - float(tw_acc)))
            g = np.asarray(gains)
            rec.update(realised=float(g[:, 0].mean()), realised_accuracy=float(g[:, 1].mean()))
            if len(g) > 1:
                rec.update(realised_pairs=[float(v) for v in g[:, 0]],
                           realised_se=float(g[:, 0].std(ddof=1) / math.sqrt(len(g))))
        self.records.append(rec)


def rank_correlation(records: Sequence[dict], key: str = "predicted", realised: str = "realised") -> dict:
    """Spearman's rho of ``record[key]`` against ``record[realised]``, per candidate type
    (``record["type"]``) and over all records ("all"): {type: {"rho", "n"}}; records missing
    either figure (absent, None or NaN) are left out; rho is NaN with fewer than 3 records or
    a constant column."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        a, b = r.get(key), r.get(realised)
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            continue
        for t in (r["type"], "all"):
            groups.setdefault(t, []).append((float(a), float(b)))
    out = {}
    for t, pairs in sorted(groups.items()):
        a = np.asarray(pairs)
        out[t] = {"rho": spearman(a[:, 0], a[:, 1]), "n": len(a)}
    return out


def spearman(a, b) -> float:
    """Spearman's rho of ``a`` against ``b`` (equal lengths); NaN with fewer than 3 values or
    a constant one."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = len(a) >= 3 and np.ptp(a) > 0 and np.ptp(b) > 0
    return float(spearmanr(a, b).statistic) if ok else float("nan")
