"""Mosaic-style multi-core neuromorphic chip: hardware spec, topology, network IR,
placement, cycle-approximate routing simulator and cost model."""
from .errors import ChipError, MosaicGrowError
from .network import NetworkError, SpikingNetwork
from .placement import Placement, PlacementError
from .simulate import BatchReport, RunReport, SimulationError, simulate, simulate_batch
from .spec import HardwareSpec, SpecError
from .topology import hop_matrix, topology

__all__ = ["MosaicGrowError", "ChipError", "NetworkError", "SimulationError", "HardwareSpec", "SpecError", "SpikingNetwork", "Placement", "PlacementError",
           "hop_matrix", "topology", "simulate", "simulate_batch", "RunReport", "BatchReport"]
