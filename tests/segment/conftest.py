"""Fixtures for the segmentation tests: seeded rng, striated synthetic cells, real data folder."""

from pathlib import Path

import numpy as np
import pytest
from segment_drawing import draw_cells

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


@pytest.fixture
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared test data not found at {DATA}")
    return DATA


@pytest.fixture
def make_field():
    """The `draw_cells` function, as a fixture."""
    return draw_cells
