"""Growing networks: GradMax and baselines, growth schedules and paths, DEN, GradMax for
continual learning, and continual-learning metrics."""
from growth.errors import GrowthError, ScheduleError
from growth.gradmax import gradmax_fan_out, growth_matrix, top_singular
from growth.grow import (GrowReLU, capture_growth_matrix, grow_layer, hidden_sizes, insert_units,
                         use_grow_relu)

__all__ = ["GrowthError", "ScheduleError", "gradmax_fan_out", "growth_matrix", "top_singular",
           "GrowReLU", "use_grow_relu", "capture_growth_matrix", "grow_layer", "insert_units",
           "hidden_sizes"]
