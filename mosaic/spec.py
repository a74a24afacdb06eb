"""Hardware description of a multi-core neuromorphic chip, loaded from TOML.

The hardware is data: grid, routers, timing and per-event energies live in a
TOML file (see ``mosaic/presets/``), not in code.  Every preset number names
its source or says it is an assumption.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

from .errors import ChipError

TOPOLOGIES = ("mosaic", "mesh")
INPUT_ENTRIES = ("io_core", "edge_row", "every_tile")

# TOML table -> field names; the file layout mirrors how designers think of a chip.
_SECTIONS: dict[str, tuple[str, ...]] = {
    "grid": ("rows", "cols", "neurons_per_core", "topology", "io_core", "input_entry", "cores_per_tile"),
    "router": ("bandwidth", "buffer_depth", "virtual_channels", "cycles_per_hop", "clock_mhz", "step_cycles"),
    "timing": ("dt_us", "t_synapse_ns", "t_neuron_ns", "t_spike_ns", "t_message_out_ns",
               "t_message_in_ns", "t_sync_ns"),
    "energy": ("e_synaptic_pj", "e_neuron_pj", "e_spike_out_pj", "e_router_pj", "e_static_pj",
               "e_access_pj", "e_message_pj", "e_hop_x_pj", "e_hop_y_pj"),
    "core": ("weight_bits",),
}


LATENCY_FIELDS = ("t_synapse_ns", "t_neuron_ns", "t_spike_ns", "t_message_out_ns", "t_message_in_ns",
                  "t_sync_ns")
# Stated maxima: they keep every int64 product in the simulator (steps x step_cycles,
# cycles_per_hop x hops) and every allocation (cores x cores hop matrix, slots) safe.
MAXIMA: dict[str, float] = {
    "rows": 4096, "cols": 4096, "neurons_per_core": 1 << 20, "bandwidth": 1024, "buffer_depth": 1 << 16,
    "virtual_channels": 64, "cores_per_tile": 4096, "cycles_per_hop": 1 << 16, "step_cycles": 10**9, "weight_bits": 64,
    "clock_mhz": 1e6, "dt_us": 1e9, **{f: 1e9 for f in _SECTIONS["energy"]},
    **{f: 1e9 for f in _SECTIONS["timing"] if f != "dt_us"},
}
MAX_CORES = 4096            # rows x cols
MAX_SLOTS = 1 << 24         # cores x neurons_per_core
_INT_FIELDS = ("rows", "cols", "neurons_per_core", "bandwidth", "buffer_depth", "virtual_channels",
               "cycles_per_hop", "step_cycles", "weight_bits", "cores_per_tile")
_REASONS = {"step_cycles": " (cycle counts of up to 10^6 steps must fit int64)",
            "cycles_per_hop": " (a packet's latency in cycles must fit int64)",
            **{f: " (pJ per event; sums over a run must stay finite)" for f in _SECTIONS["energy"]},
            **{f: " (ns per event)" for f in _SECTIONS["timing"] if f != "dt_us"}}


def _why(field_name: str) -> str:
    return _REASONS.get(field_name, "")


class SpecError(ChipError):
    """A hardware spec is malformed, inconsistent or unknown."""


@dataclass(frozen=True)
class HardwareSpec:
    """A Mosaic-style chip: a grid of neuron tiles (cores) joined by routers.

    Units: bandwidth in packets per cycle per router output port, buffer_depth
    in packets per port FIFO, virtual_channels = FIFOs per port (each of buffer_depth
    packets, sharing the port's bandwidth), clock in MHz, step_cycles = router cycles available
    per time step (the step's cycle budget), dt_us = one time step in
    microseconds, energies in pJ per event (e_static_pj per core per step).

    ``input_entry``: where the input spikes enter the network (``input_cores``):
    "io_core" (all of them at ``io_core``), "edge_row" (the tiles of ``io_core``'s row,
    input ``j`` at column ``j mod cols``) or "every_tile" (input ``j`` at tile
    ``j mod n_cores``), so the I/O bottleneck can be told apart from the network's.
    Loihi-style terms (SANA-FE's model; all 0 by default): ``e_access_pj`` per neuron
    per step (reading its state), ``e_message_pj`` per message (one per spike per
    destination core), ``e_hop_x_pj``/``e_hop_y_pj`` per tile-to-tile hop of a message
    along a row/column; tiles are ``cores_per_tile`` consecutive cores of a row (0 hops
    inside a tile).  Processing latencies in ns per event (``t_*_ns``, see
    ``mosaic.events``): synaptic op, neuron update, spike, message sent, message
    received, and ``t_sync_ns`` per step; a step's latency is the network drain plus
    the slowest core's processing (its receive and soma stages overlap) plus the
    synchronisation.
    """

    name: str
    rows: int
    cols: int
    neurons_per_core: int
    topology: str = "mosaic"
    io_core: int = 0
    input_entry: str = "io_core"
    bandwidth: int = 1
    buffer_depth: int = 8
    virtual_channels: int = 1
    cycles_per_hop: int = 1
    clock_mhz: float = 100.0
    step_cycles: int = 1000
    dt_us: float = 1000.0
    e_synaptic_pj: float = 23.6
    e_neuron_pj: float = 21.6
    e_spike_out_pj: float = 69.3
    e_router_pj: float = 3.6
    e_static_pj: float = 0.0
    e_access_pj: float = 0.0
    e_message_pj: float = 0.0
    e_hop_x_pj: float = 0.0
    e_hop_y_pj: float = 0.0
    cores_per_tile: int = 1
    t_synapse_ns: float = 0.0
    t_neuron_ns: float = 0.0
    t_spike_ns: float = 0.0
    t_message_out_ns: float = 0.0
    t_message_in_ns: float = 0.0
    t_sync_ns: float = 0.0
    weight_bits: int = 8
    description: str = ""

    def __post_init__(self) -> None:
        for f in _INT_FIELDS:
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAXIMA[f]:
                raise SpecError(f"{self.name}: {f} must be a positive integer, got {v!r}; the limit is "
                                f"1..{MAXIMA[f]:,}" + _why(f))
        for f in ("clock_mhz", "dt_us", *_SECTIONS["energy"]):
            v = getattr(self, f)
            low = "non-negative" if f.startswith("e_") else "positive"
            if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                    or not (v >= 0 if f.startswith("e_") else v > 0) or v > MAXIMA[f]):
                raise SpecError(f"{self.name}: {f} must be a {low} number, got {v!r}; the limit is "
                                f"{MAXIMA[f]:g}" + _why(f))
        for f in LATENCY_FIELDS:
            v = getattr(self, f)
            if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0
                    or v > MAXIMA[f]):
                raise SpecError(f"{self.name}: {f} must be a non-negative number of ns, got {v!r}; the limit "
                                f"is {MAXIMA[f]:g}")
        if self.cols % self.cores_per_tile:
            raise SpecError(f"{self.name}: cores_per_tile {self.cores_per_tile} must divide cols "
                            f"{self.cols} (a tile is that many consecutive cores of a row)")
        if self.rows * self.cols > MAX_CORES:
            raise SpecError(f"{self.name}: {self.rows} x {self.cols} = {self.rows * self.cols:,} cores; "
                            f"at most {MAX_CORES:,} are supported (the hop matrix is cores x cores)")
        if self.n_slots > MAX_SLOTS:
            raise SpecError(f"{self.name}: {self.n_cores:,} cores x {self.neurons_per_core:,} neurons = "
                            f"{self.n_slots:,} neuron slots; at most {MAX_SLOTS:,} are supported")
        if isinstance(self.io_core, bool) or not isinstance(self.io_core, int):
            raise SpecError(f"{self.name}: io_core must be an integer core id, got {self.io_core!r}")
        for f in ("name", "description", "topology"):
            if not isinstance(getattr(self, f), str):
                raise SpecError(f"{self.name}: {f} must be a string, got {getattr(self, f)!r}")
        if self.topology not in TOPOLOGIES:
            raise SpecError(f"{self.name}: topology must be one of {TOPOLOGIES}, got {self.topology!r}")
        if self.topology == "mosaic" and (self.rows < 2 and self.cols < 2) and self.n_cores > 1:
            raise SpecError(f"{self.name}: a mosaic grid needs rows >= 2 or cols >= 2")
        if not 0 <= self.io_core < self.n_cores:
            raise SpecError(f"{self.name}: io_core {self.io_core} is outside 0..{self.n_cores - 1}")
        if self.input_entry not in INPUT_ENTRIES:
            raise SpecError(f"{self.name}: input_entry must be one of {INPUT_ENTRIES}, got {self.input_entry!r}")

    # -- derived figures -------------------------------------------------
    @property
    def n_cores(self) -> int:
        return self.rows * self.cols

    @property
    def n_slots(self) -> int:
        """Neuron slots on the whole chip."""
        return self.n_cores * self.neurons_per_core

    @property
    def ns_per_cycle(self) -> float:
        return 1000.0 / self.clock_mhz

    def core_rc(self, core: int) -> tuple[int, int]:
        """(row, col) of a core; cores are numbered row-major."""
        return divmod(int(core), self.cols)

    def input_cores(self, n_inputs: int) -> np.ndarray:
        """(n_inputs,) int64: the tile where each input's spikes enter (see ``input_entry``)."""
        j = np.arange(n_inputs, dtype=np.int64)
        if self.input_entry == "every_tile":
            return j % self.n_cores
        if self.input_entry == "edge_row":
            return (self.io_core // self.cols) * self.cols + j % self.cols
        return np.full(n_inputs, self.io_core, np.int64)

    def replace(self, **changes: Any) -> "HardwareSpec":
        """A copy with some fields changed (validated), e.g. ``spec.replace(bandwidth=2)``."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SpecError(f"unknown HardwareSpec field(s) {sorted(unknown)}")
        rows, cols = changes.get("rows", self.rows), changes.get("cols", self.cols)
        if ("rows" in changes or "cols" in changes) and all(type(v) is int for v in (rows, cols)):
            changes.setdefault("io_core", 0 if self.io_core >= rows * cols else self.io_core)
        return dataclasses.replace(self, **changes)

    # -- loading ---------------------------------------------------------
    @classmethod
    def presets(cls) -> list[str]:
        """Names of the presets shipped in ``mosaic/presets``."""
        root = resources.files("mosaic") / "presets"
        return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))

    @classmethod
    def preset(cls, name: str) -> "HardwareSpec":
        names = cls.presets()
        if name not in names:
            raise SpecError(f"unknown preset {name!r}; choose one of {', '.join(names)} "
                            f"or load your own file with HardwareSpec.from_toml(path)")
        path = resources.files("mosaic") / "presets" / f"{name}.toml"
        return cls._from_text(path.read_text(), str(path), default_name=name)

    @classmethod
    def from_toml(cls, path: str | Path) -> "HardwareSpec":
        p = Path(path)
        if not p.is_file():
            raise SpecError(f"hardware spec file {str(p)!r} does not exist")
        try:
            text = p.read_text()
        except UnicodeDecodeError as e:
            raise SpecError(f"{p}: not a TOML text file ({e})") from None
        return cls._from_text(text, str(p), default_name=p.stem)

    @classmethod
    def _from_text(cls, text: str, where: str, default_name: str) -> "HardwareSpec":
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"{where}: malformed TOML: {e}") from None
        kwargs: dict[str, Any] = {"name": doc.pop("name", default_name),
                                  "description": doc.pop("description", "")}
        seen: set[str] = set()
        for section, fields in _SECTIONS.items():
            if section in doc:
                seen.add(section)
            table = doc.pop(section, {})
            if not isinstance(table, dict):
                raise SpecError(f"{where}: [{section}] must be a table")
            for key, value in table.items():
                if key not in fields:
                    raise SpecError(f"{where}: unknown key {section}.{key}; "
                                    f"known keys in [{section}]: {', '.join(fields)}")
                kwargs[key] = value
        if doc:
            raise SpecError(f"{where}: unknown top-level key(s) {sorted(doc)}; "
                            f"known tables: {', '.join(_SECTIONS)}")
        for req in ("rows", "cols", "neurons_per_core"):
            if req not in kwargs:
                raise SpecError(f"{where}: missing key grid.{req}")
        for req in ("grid", "router"):
            if req not in seen:
                raise SpecError(f"{where}: missing table [{req}]; a spec file states its grid and "
                                f"router (see mosaic/presets/)")
        try:
            return cls(**kwargs)
        except SpecError as e:
            raise SpecError(f"{where}: {e}") from None

    def to_toml(self) -> str:
        """The spec as TOML text that ``from_toml`` reads back to an equal spec."""
        def fmt(v: Any) -> str:
            if isinstance(v, str):
                return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            return repr(v)
        lines = [f"name = {fmt(self.name)}", f"description = {fmt(self.description)}"]
        for section, fields in _SECTIONS.items():
            lines += ["", f"[{section}]"] + [f"{k} = {fmt(getattr(self, k))}" for k in fields]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
