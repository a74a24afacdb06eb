"""Studies run on the chip: width against forgetting and energy, and activation sparsity."""
