"""Placement: which core every neuron lives on, with the mapper's figures."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ChipError
from .files import atomic_write_text, dumps_strict
from .network import SpikingNetwork
from .spec import HardwareSpec


class PlacementError(ChipError):
    """A placement does not fit the network or the chip."""


@dataclass(eq=False)
class Placement:
    """``core_of[i]`` is neuron i's core.  ``objective`` is the mapper's cost
    (traffic x routers, see ``mapper.traffic_cost``), ``bound`` a valid lower bound
    on it (``bound_kind`` says which), ``gap = (objective - bound) / objective``."""

    core_of: np.ndarray
    objective: float = float("nan")
    bound: float = float("nan")
    gap: float = float("nan")
    status: str = "unknown"
    wall_s: float = 0.0
    method: str = "given"
    bound_kind: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.core_of = np.asarray(self.core_of, dtype=np.int64)
        if self.core_of.ndim != 1:
            raise PlacementError(f"core_of must be 1-D (one core per neuron), got shape {self.core_of.shape}")

    @classmethod
    def fill(cls, net: SpikingNetwork, spec: HardwareSpec) -> "Placement":
        """Neurons in order, cores filled in chip order (the PACMAN-style default)."""
        if net.n_neurons > spec.n_slots:
            raise PlacementError(f"{net.n_neurons} neurons do not fit {spec.name}: "
                                 f"{spec.n_cores} cores x {spec.neurons_per_core} = {spec.n_slots} slots; "
                                 f"use a bigger preset or raise neurons_per_core")
        return cls(np.arange(net.n_neurons) // spec.neurons_per_core, method="fill", status="feasible")

    def violations(self, net: SpikingNetwork, spec: HardwareSpec, capacity: int | None = None) -> list[str]:
        """Every violated constraint, as readable lines (empty if the placement is valid)."""
        out = []
        if self.core_of.shape != (net.n_neurons,):
            return [f"core_of has {self.core_of.shape[0]} entries for {net.n_neurons} neurons"]
        bad = np.flatnonzero((self.core_of < 0) | (self.core_of >= spec.n_cores))
        if bad.size:
            out.append(f"neuron {bad[0]} is on core {self.core_of[bad[0]]}, outside 0..{spec.n_cores - 1}"
                       + (f" ({bad.size} such neurons)" if bad.size > 1 else ""))
            return out
        cap = spec.neurons_per_core if capacity is None else capacity
        load = np.bincount(self.core_of, minlength=spec.n_cores)
        for c in np.flatnonzero(load > cap):
            out.append(f"core {c} holds {load[c]} neurons, capacity is {cap}")
        return out

    def check(self, net: SpikingNetwork, spec: HardwareSpec, capacity: int | None = None) -> list[str]:
        """Alias of ``violations`` (the name the mapper uses)."""
        return self.violations(net, spec, capacity)

    def validate(self, net: SpikingNetwork, spec: HardwareSpec) -> None:
        """Raise ``PlacementError`` naming the first violations, if any."""
        v = self.violations(net, spec)
        if v:
            more = f" (and {len(v) - 3} more)" if len(v) > 3 else ""
            raise PlacementError(f"placement does not fit {spec.name}: " + "; ".join(v[:3]) + more)

    def summary(self) -> dict:
        return {"method": self.method, "objective": float(self.objective), "bound": float(self.bound),
                "gap": float(self.gap), "status": self.status, "wall_s": float(self.wall_s),
                "bound_kind": self.bound_kind, "n_neurons": int(self.core_of.size),
                "cores_used": int(np.unique(self.core_of).size)}

    def to_json(self, path: str | Path | None = None) -> str:
        doc = {**self.summary(), "core_of": self.core_of.tolist(), "extra": self.extra}
        text = dumps_strict(doc, indent=1)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_json(cls, path: str | Path) -> "Placement":
        """Read a file written by ``to_json``: core ids must be whole numbers (no floats, no
        booleans) and every figure a number or ``null`` (not computed)."""
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise PlacementError(f"{path}: not a readable placement file ({type(e).__name__}: {e})") from None
        if not isinstance(doc, dict) or "core_of" not in doc:
            raise PlacementError(f"{path}: not a placement file: expected an object with a core_of list")
        core_of = doc["core_of"]
        if not isinstance(core_of, list):
            raise PlacementError(f"{path}: core_of must be a list of core ids, got {type(core_of).__name__}")
        for i, c in enumerate(core_of):
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < MAX_CORE_ID:
                raise PlacementError(f"{path}: core_of[{i}] = {c!r} is not a core id "
                                     f"(a whole number in 0..{MAX_CORE_ID - 1})")
        figures = {}
        for k in ("objective", "bound", "gap", "wall_s"):
            v = doc.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise PlacementError(f"{path}: {k} must be a number or null, got {v!r}")
            figures[k] = float("nan") if v is None else float(v)
        texts = {k: doc.get(k, d) for k, d in (("status", "unknown"), ("method", "given"), ("bound_kind", ""))}
        if not all(isinstance(v, str) for v in texts.values()) or not isinstance(doc.get("extra", {}), dict):
            raise PlacementError(f"{path}: status, method and bound_kind must be strings and extra an object")
        return cls(np.asarray(core_of, dtype=np.int64), **figures, **texts, extra=doc.get("extra", {}))


MAX_CORE_ID = 1 << 31       # far above any chip (HardwareSpec has at most 4096 cores), far below int64


def as_core_of(placement, net: SpikingNetwork, spec: HardwareSpec) -> np.ndarray:
    """A validated core_of array from a ``Placement``, an array, or ``None`` (fill in order)."""
    if placement is None:
        p = Placement.fill(net, spec)
    elif isinstance(placement, Placement):
        p = placement
    else:
        p = Placement(np.asarray(placement))
    p.validate(net, spec)
    return p.core_of
