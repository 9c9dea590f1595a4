"""Fixtures of the metrics tests: seeded rng, planted striated cells, the shared real data."""

from pathlib import Path

import numpy as np
import pytest

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)
