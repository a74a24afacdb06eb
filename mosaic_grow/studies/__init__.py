"""Studies the research notes ask for, run on the chip: width, activation sparsity, ensembles, the cost of tuning."""
