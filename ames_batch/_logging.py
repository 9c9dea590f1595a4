"""Logging set-up for the CLI: plain lines for cron, progress bars on a terminal."""

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["configure_logging", "progress"]

T = TypeVar("T")
LOGGER_NAME = "ames_batch"


def configure_logging(verbosity: int = 0) -> None:
    """Attach one stderr handler to the ``ames_batch`` logger.

    Parameters
    ----------
    verbosity : int
        -1 quiet (warnings only), 0 info, 1 or more debug.
    """
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    logger.addHandler(handler)
    logger.propagate = False
    # TensorFlow's C++ start-up noise (e.g. "failed call to cuInit" on machines without a GPU)
    # unless debugging; oneDNN stays on (it doubles CPU speed).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbosity > 0 else "3")


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Iterate with a progress bar on a terminal and plain log lines otherwise."""
    if sys.stderr.isatty():
        yield from tqdm(items, total=total, desc=desc, leave=False)
        return
    log = logging.getLogger(LOGGER_NAME)
    for i, item in enumerate(items, start=1):
        yield item
        log.info("%s %d/%s", desc, i, total if total is not None else "?")
