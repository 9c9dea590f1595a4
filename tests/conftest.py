"""Shared fixtures: a seeded rng and the path of the real public images."""

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(20211)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real images not found at {SHARED_DATA} (the shared/ folder beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def playwright_manager():
    """One playwright per test process (a second sync_playwright() in a process that holds one
    refuses to start: "Sync API inside the asyncio loop"); browser fixtures launch from it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests: the 'playwright' package is missing (pip install -e '.[test]')")
    manager = sync_playwright().start()
    yield manager
    manager.stop()
