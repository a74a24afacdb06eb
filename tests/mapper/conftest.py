"""Small instances shared by the mapper tests."""
import numpy as np
import pytest

from mosaic import HardwareSpec
from mosaic.generators import random_feedforward


@pytest.fixture(scope="session")
def chip2x2():
    """A 2x2 Mosaic chip with 3 neurons per core (12 slots)."""
    return HardwareSpec.preset("mosaic-4x4").replace(rows=2, cols=2, neurons_per_core=3)


@pytest.fixture(scope="session")
def chip4x4():
    return HardwareSpec.preset("mosaic-4x4")


@pytest.fixture(scope="session")
def mlp_small():
    return random_feedforward([8, 16, 16, 4], p=0.5, seed=3)


def random_core_of(rng: np.random.Generator, n: int, n_cores: int, cap: int) -> np.ndarray:
    slots = np.repeat(np.arange(n_cores), cap)
    return rng.permutation(slots)[:n]
