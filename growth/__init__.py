"""Growing networks: GradMax and baselines, growth schedules and paths, DEN, GradMax for
continual learning, and continual-learning metrics."""
from growth.errors import GrowthError, ScheduleError
from growth.gradmax import gradmax_fan_out, growth_matrix, top_singular
from growth.grow import (
                         GrowReLU,
                         capture_growth_matrix,
                         grow_layer,
                         hidden_sizes,
                         insert_units,
                         use_grow_relu,
)
from growth.metrics import (
                         average_accuracy,
                         backward_transfer,
                         forgetting,
                         forward_transfer,
                         summarize,
)
from growth.schedules import (
                         GrowthEvent,
                         Schedule,
                         all_at_once,
                         evenly_spaced,
                         layer_by_layer,
                         random_path,
                         round_robin,
)

__all__ = ["GrowthError", "ScheduleError", "gradmax_fan_out", "growth_matrix", "top_singular",
           "GrowReLU", "use_grow_relu", "capture_growth_matrix", "grow_layer", "insert_units",
           "hidden_sizes", "average_accuracy", "backward_transfer", "forward_transfer", "forgetting",
           "summarize", "GrowthEvent", "Schedule", "all_at_once", "evenly_spaced", "layer_by_layer",
           "round_robin", "random_path"]
