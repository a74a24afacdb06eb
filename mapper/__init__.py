"""Placement of spiking neurons onto the cores of a Mosaic-style chip: a multilevel
pipeline (METIS partition, CP-SAT on the coarse assignment, neuron-level annealing
and CP-SAT windows), a SNEAP-style partition baseline, annealing, greedy and random
placements, lower bounds, incremental remapping."""
from .api import METHODS, check_placement, compare_methods, core_capacities, map_network
from .errors import MappingError
from .objective import router_load, synapse_cost, traffic_cost
from .plot import plot_placement

__all__ = ["map_network", "traffic_cost", "synapse_cost", "router_load", "MappingError", "check_placement",
           "compare_methods", "core_capacities", "plot_placement", "METHODS"]
