"""Shared test setup: headless plots, one torch thread (small models train fastest so,
and parallel helpers must not oversubscribe the 2 cores)."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # torch-free parts of the suite still run
    pass
