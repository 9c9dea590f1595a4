"""The ``ames-batch`` command line: thin click commands over ``ames_batch.pipeline``.

Exit status: 0 all fine, 1 some fields or files failed (listed), 2 usage or setup error.
Each command parses its options, calls one pipeline function and maps known errors to
exit codes; no logic a test would want lives here.
"""

import logging
import sys
from pathlib import Path

import click

from . import __version__
from ._logging import configure_logging
from .errors import AmesError

log = logging.getLogger("ames_batch")

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> None:
    """Print one line to stderr and exit with the usage/setup status."""
    click.echo(f"ames-batch: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="ames-batch")
@click.option("-v", "--verbose", count=True, help="More log lines (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def main(verbose: int, quiet: bool) -> None:
    """Rate sarcomere structure of cardiomyocytes in OME-Zarr HCS plates."""
    configure_logging(-1 if quiet else verbose)


# ---- demo -----------------------------------------------------------------------------
# ---- convert --------------------------------------------------------------------------
# ---- train / evaluate -----------------------------------------------------------------
# ---- run ------------------------------------------------------------------------------
