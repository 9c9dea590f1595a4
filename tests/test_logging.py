"""Command-line logging: quiet by default for cron, everything with -v."""

import logging

from ames_batch._logging import LOGGER_NAME, configure_logging


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
