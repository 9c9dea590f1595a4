"""Logging set-up for the CLI: plain lines for cron, progress bars on a terminal."""

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["configure_logging", "import_tensorflow_quietly", "progress"]

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
    # ... and its Python warnings (tf.function retracing when ensemble members predict batches
    # of another size), which say nothing a facility can act on
    logging.getLogger("tensorflow").setLevel(logging.DEBUG if verbosity > 0 else logging.ERROR)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up lines kept off stderr.

    TensorFlow 2.19+ prints oneDNN/CUDA notes through absl before ``TF_CPP_MIN_LOG_LEVEL`` is
    read (tensorflow/tensorflow#100442); a cron job would mail them every night. File
    descriptor 2 is pointed at /dev/null for the import only; Python errors still surface.
    """
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Iterate with a progress bar on a terminal and plain log lines otherwise.

    Without a terminal (cron), a line at INFO for each tenth of `total` done (and the last
    item; every 10th item when the total is unknown), the others at DEBUG (``-v``): a plate of
    1000 fields mails 10 lines, not 1000.
    """
    if sys.stderr.isatty():
        yield from tqdm(items, total=total, desc=desc, leave=False)
        return
    log = logging.getLogger(LOGGER_NAME)
    tenths = 0
    for i, item in enumerate(items, start=1):
        yield item
        if total:
            due = i * 10 // total > tenths or i == total
            tenths = i * 10 // total
        else:
            due = i % 10 == 0
        log.log(logging.INFO if due else logging.DEBUG, "%s %d/%s", desc, i, total if total is not None else "?")
