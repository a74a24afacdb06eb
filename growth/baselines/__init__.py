"""Continual-learning baselines next to growth: EWC, LoRA-CL, SupSup, a hard mixture of
experts with a k-means gater on learned features, MNTDP-D, and the pollution measure (the research
notes' equations 2-4 and a magnitude variant of ours)."""
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
from .mntdp import MNTDP, PathChoice
from .moe import HardMoE, KMeansGater
from .pollution import (NotesPollution, ProtectedNet, birth_nets, births_from_sizes, diagonal_is_one, notes_pollution,
                        off_diagonal_mean, pollution_figures, protected_by_birth)
from .supsup import SupSup

__all__ = ["BaselineError", "ContinualLearner", "SequenceResult", "TrainConfig", "accuracy", "mlp",
           "run_sequence", "EWC", "diagonal_fisher", "LoRACL", "LoRALinear", "HardMoE", "KMeansGater",
           "SupSup", "MNTDP", "PathChoice", "NotesPollution", "ProtectedNet", "notes_pollution",
           "diagonal_is_one", "pollution_figures", "protected_by_birth", "births_from_sizes",
           "birth_nets", "off_diagonal_mean"]
