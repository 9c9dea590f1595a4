"""Command-line logging: quiet by default for cron, everything with -v."""

import logging

from ames_batch._logging import LOGGER_NAME, configure_logging, progress


def test_tensorflow_python_warnings_are_silenced_unless_verbose():
    tf_log = logging.getLogger("tensorflow")
    try:
        configure_logging(0)  # e.g. "tf.function retracing" warnings of ensemble predictions
        assert not tf_log.isEnabledFor(logging.WARNING) and tf_log.isEnabledFor(logging.ERROR)
        configure_logging(1)
        assert tf_log.isEnabledFor(logging.DEBUG)
        assert logging.getLogger(LOGGER_NAME).level == logging.DEBUG
    finally:
        tf_log.setLevel(logging.NOTSET)
        configure_logging(0)


def _progress_lines(n_items, total, level):
    """(level name, message) of what `progress` logs over `n_items` items without a terminal."""
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append((record.levelname, record.getMessage()))

    logger, keep = logging.getLogger(LOGGER_NAME), Keep()
    saved = logger.level
    logger.addHandler(keep)
    logger.setLevel(level)
    try:
        assert list(progress(range(n_items), total=total, desc="fields")) == list(range(n_items))
    finally:
        logger.removeHandler(keep)
        logger.setLevel(saved)
    return records


def test_progress_logs_each_tenth_without_a_terminal_and_every_item_when_verbose():
    # pytest captures stderr: not a terminal, as under cron
    info = _progress_lines(1000, 1000, logging.INFO)
    assert [m for _, m in info] == [f"fields {k}/1000" for k in range(100, 1001, 100)]
    assert [m for _, m in _progress_lines(7, 7, logging.INFO)] == [f"fields {k}/7" for k in range(1, 8)]
    odd = [m for _, m in _progress_lines(23, 23, logging.INFO)]
    assert len(odd) == 10 and odd[0] == "fields 3/23" and odd[-1] == "fields 23/23"
    assert [m for _, m in _progress_lines(25, None, logging.INFO)] == ["fields 10/?", "fields 20/?"]
    verbose = _progress_lines(1000, 1000, logging.DEBUG)
    assert len(verbose) == 1000 and sum(level == "INFO" for level, _ in verbose) == 10
