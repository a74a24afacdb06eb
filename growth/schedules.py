"""Growth schedules as data: a list of (training step, hidden layer, k neurons) events.

A :class:`Schedule` knows the hidden sizes it starts from (``initial``) and, optionally, the
sizes it may not exceed (``target``); it round-trips through JSON and TOML::

    initial = [10, 10]
    target = [100, 100]
    [[event]]
    step = 45
    layer = 0
    k = 9

Generators build the orders used by GradMax (growneuron grows all at once or round robin) and
by the growth-path experiment: :func:`all_at_once`, :func:`round_robin`,
:func:`layer_by_layer`, :func:`random_path`.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tomllib

from growth.errors import ScheduleError
from mosaic.network import MAX_NEURONS


@dataclass(frozen=True)
class GrowthEvent:
    """Grow hidden ``layer`` by ``k`` neurons before training step ``step`` (0-based)."""

    step: int
    layer: int
    k: int


def _int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ScheduleError(f"{what} must be an integer, got {v!r}")
    return int(v)


@dataclass
class Schedule:
    """Growth events (kept sorted by step, stably), the hidden sizes ``initial`` they start
    from and the optional ``target`` sizes they may not exceed.  Validated on construction."""

    initial: tuple[int, ...]
    events: list[GrowthEvent] = field(default_factory=list)
    target: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        self.initial = tuple(_int(s, "initial size") for s in self.initial)
        if not self.initial or min(self.initial) < 1:
            raise ScheduleError(f"initial hidden sizes must be >= 1 and non-empty, got {list(self.initial)}")
        if self.target is not None:
            self.target = tuple(_int(s, "target size") for s in self.target)
            if len(self.target) != len(self.initial):
                raise ScheduleError(f"target {list(self.target)} has {len(self.target)} layers but initial "
                                    f"{list(self.initial)} has {len(self.initial)}")
            for i, (a, b) in enumerate(zip(self.initial, self.target)):
                if b < a:
                    raise ScheduleError(f"target size {b} of layer {i} is below its initial size {a}")
        events = []
        for n, e in enumerate(self.events):
            if not isinstance(e, GrowthEvent):
                e = GrowthEvent(*e) if isinstance(e, (tuple, list)) else e
            if not isinstance(e, GrowthEvent):
                raise ScheduleError(f"event {n} must be (step, layer, k), got {e!r}")
            step, layer, k = (_int(e.step, f"event {n} step"), _int(e.layer, f"event {n} layer"),
                              _int(e.k, f"event {n} k"))
            if step < 0:
                raise ScheduleError(f"event {n}: step {step} is negative; steps count from 0")
            if not 0 <= layer < len(self.initial):
                raise ScheduleError(f"event {n}: unknown layer {layer}; this schedule has hidden layers "
                                    f"0..{len(self.initial) - 1}")
            if k <= 0:
                raise ScheduleError(f"event {n}: k = {k} must be a positive number of neurons")
            events.append(GrowthEvent(step, layer, k))
        self.events = sorted(events, key=lambda e: e.step)
        if self.target is not None:
            sizes = list(self.initial)
            for e in self.events:
                sizes[e.layer] += e.k
                if sizes[e.layer] > self.target[e.layer]:
                    raise ScheduleError(f"event (step {e.step}, layer {e.layer}, k {e.k}) grows layer "
                                        f"{e.layer} to {sizes[e.layer]}, past its target size "
                                        f"{self.target[e.layer]}")

    def final_sizes(self) -> list[int]:
        """Hidden sizes after every event."""
        sizes = list(self.initial)
        for e in self.events:
            sizes[e.layer] += e.k
        return sizes

    def at(self, step: int) -> list[GrowthEvent]:
        """Events to apply before training step ``step``."""
        return [e for e in self.events if e.step == step]

    def order(self) -> list[int]:
        """The layers grown, in event order (the 'path')."""
        return [e.layer for e in self.events]

    def check_model(self, sizes: Sequence[int]) -> None:
        """Raise :class:`ScheduleError` unless ``sizes`` (a model's hidden sizes) match
        ``initial``."""
        if list(sizes) != list(self.initial):
            raise ScheduleError(f"the model's hidden sizes {list(sizes)} differ from the schedule's "
                                f"initial sizes {list(self.initial)}")

    # --- file formats -------------------------------------------------------------------
    def to_dict(self) -> dict:
        d: dict = {"initial": list(self.initial)}
        if self.target is not None:
            d["target"] = list(self.target)
        d["event"] = [{"step": e.step, "layer": e.layer, "k": e.k} for e in self.events]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Schedule:
        if not isinstance(d, dict) or "initial" not in d:
            raise ScheduleError("a schedule needs 'initial' (hidden sizes) and a list 'event' of "
                                "{step, layer, k} tables")
        unknown = set(d) - {"initial", "target", "event"}
        if unknown:
            raise ScheduleError(f"unknown schedule keys {sorted(unknown)}; valid: initial, target, event")
        for key in ("initial", "target", "event"):          # typed before use: no TypeError from a scalar
            if key in d and not isinstance(d[key], list):
                raise ScheduleError(f"schedule {key} must be a list, got {d[key]!r}")
        ks = [e.get("k") for e in d.get("event", []) if isinstance(e, dict)]
        sizes = [v for v in (*d["initial"], *d.get("target", []), *ks) if isinstance(v, int)]
        if sizes and max(sizes) > MAX_NEURONS:
            raise ScheduleError(f"hidden size {max(sizes)} is above the limit of {MAX_NEURONS:,} neurons")
        events = []
        for n, e in enumerate(d.get("event", [])):
            if not isinstance(e, dict) or set(e) != {"step", "layer", "k"}:
                raise ScheduleError(f"event {n} must have exactly the keys step, layer, k; got {e!r}")
            events.append(GrowthEvent(e["step"], e["layer"], e["k"]))
        return cls(tuple(d["initial"]), events, tuple(d["target"]) if "target" in d else None)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise ScheduleError(f"schedule JSON is malformed: {e}") from None

    def to_toml(self) -> str:
        lines = [f"initial = {list(self.initial)}"]
        if self.target is not None:
            lines.append(f"target = {list(self.target)}")
        for e in self.events:
            lines += ["", "[[event]]", f"step = {e.step}", f"layer = {e.layer}", f"k = {e.k}"]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> Schedule:
        try:
            return cls.from_dict(tomllib.loads(text))
        except tomllib.TOMLDecodeError as e:
            raise ScheduleError(f"schedule TOML is malformed: {e}") from None

    def save(self, path: str | Path) -> None:
        """Write as .toml or .json (by suffix)."""
        path = Path(path)
        if path.suffix not in (".toml", ".json"):
            raise ScheduleError(f"{path}: schedule files end in .toml or .json")
        path.write_text(self.to_toml() if path.suffix == ".toml" else self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> Schedule:
        """Read a .toml or .json schedule file."""
        path = Path(path)
        if path.suffix not in (".toml", ".json"):
            raise ScheduleError(f"{path}: schedule files end in .toml or .json")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise ScheduleError(f"{path}: cannot read schedule ({e})") from None
        try:
            return cls.from_toml(text) if path.suffix == ".toml" else cls.from_json(text)
        except ScheduleError as e:
            raise ScheduleError(f"{path}: {e}") from None


# --- generators -----------------------------------------------------------------------------
def evenly_spaced(n_events: int, total_steps: int) -> list[int]:
    """``n_events`` training steps spread evenly inside [0, total_steps): step_i =
    floor((i + 1) * total_steps / (n_events + 1)), so no growth at the very start or end."""
    if n_events < 0 or total_steps < 1:
        raise ScheduleError(f"need n_events >= 0 and total_steps >= 1, got {n_events}, {total_steps}")
    return [(i + 1) * total_steps // (n_events + 1) for i in range(n_events)]


def _chunks(initial: Sequence[int], target: Sequence[int], k: int) -> list[list[int]]:
    if int(k) != k or k < 1:
        raise ScheduleError(f"k must be a positive number of neurons per event, got {k!r}")
    if len(initial) != len(target):
        raise ScheduleError(f"initial {list(initial)} and target {list(target)} differ in layer count")
    out = []
    for i, (a, b) in enumerate(zip(initial, target)):
        if b < a:
            raise ScheduleError(f"target size {b} of layer {i} is below its initial size {a}")
        n = b - a
        out.append([k] * (n // k) + ([n % k] if n % k else []))
    return out


def _build(initial, target, chunks, order: list[int], steps: Sequence[int] | int) -> Schedule:
    if isinstance(steps, (int, np.integer)):
        steps = evenly_spaced(len(order), int(steps))
    steps = list(steps)
    if len(steps) != len(order):
        raise ScheduleError(f"{len(order)} growth events need {len(order)} steps, got {len(steps)}")
    pos = [0] * len(chunks)
    events = []
    for s, layer in zip(steps, order):
        events.append(GrowthEvent(s, layer, chunks[layer][pos[layer]]))
        pos[layer] += 1
    return Schedule(tuple(initial), events, tuple(target))


def all_at_once(initial: Sequence[int], target: Sequence[int], step: int = 0) -> Schedule:
    """Every layer jumps to its target size at training step ``step``."""
    ev = [GrowthEvent(step, i, b - a) for i, (a, b) in enumerate(zip(initial, target)) if b > a]
    return Schedule(tuple(initial), ev, tuple(target))


def layer_by_layer(initial: Sequence[int], target: Sequence[int], k: int, steps: Sequence[int] | int,
                   order: Sequence[int] | None = None) -> Schedule:
    """Grow one layer to its target in events of k neurons, then the next, in ``order``
    (default 0, 1, ...; (1, 0) is 'second-layer-first').  ``steps``: one training step per
    event, or the total number of training steps to spread the events evenly over."""
    chunks = _chunks(initial, target, k)
    order = list(range(len(chunks))) if order is None else list(order)
    if sorted(order) != list(range(len(chunks))):
        raise ScheduleError(f"order {order} must be a permutation of the layers 0..{len(chunks) - 1}")
    path = [layer for layer in order for _ in chunks[layer]]
    return _build(initial, target, chunks, path, steps)


def round_robin(initial: Sequence[int], target: Sequence[int], k: int, steps: Sequence[int] | int) -> Schedule:
    """Alternate between layers (0, 1, 0, 1, ...), skipping layers that reached their target."""
    chunks = _chunks(initial, target, k)
    left = [len(c) for c in chunks]
    path = []
    while any(left):
        for layer in range(len(chunks)):
            if left[layer]:
                path.append(layer)
                left[layer] -= 1
    return _build(initial, target, chunks, path, steps)


def random_path(initial: Sequence[int], target: Sequence[int], k: int, steps: Sequence[int] | int,
                seed: int = 0) -> Schedule:
    """A uniformly random order of the same growth events (a random path), from ``seed``."""
    chunks = _chunks(initial, target, k)
    path = [layer for layer, c in enumerate(chunks) for _ in c]
    path = [path[i] for i in np.random.default_rng(seed).permutation(len(path))]
    return _build(initial, target, chunks, path, steps)
