"""Continual-learning baselines next to growth: EWC, LoRA-CL, SupSup, a hard mixture of
experts with a k-means gater, and the pollution measure (our reconstruction)."""
from .common import (
                     BaselineError,
                     ContinualLearner,
                     SequenceResult,
                     TrainConfig,
                     accuracy,
                     mlp,
                     run_sequence,
)
from .ewc import EWC, diagonal_fisher
from .lora import LoRACL, LoRALinear
from .moe import HardMoE, KMeansGater
from .pollution import off_diagonal_mean, pollution_matrix
from .supsup import SupSup

__all__ = ["BaselineError", "ContinualLearner", "SequenceResult", "TrainConfig", "accuracy", "mlp",
           "run_sequence", "EWC", "diagonal_fisher", "LoRACL", "LoRALinear", "HardMoE", "KMeansGater",
           "SupSup", "pollution_matrix", "off_diagonal_mean"]
