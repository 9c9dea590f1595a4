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
@main.command("convert")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "plate", required=True, type=click.Path(path_type=Path),
              help="HCS plate (.zarr directory) to create or extend.")
@click.option("--layout", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns file, well, field[, acquisition].")
@click.option("--pattern", help=r"Regex on file names with groups row+column (or well) [+ field], "
              r"e.g. '(?P<row>[A-H])(?P<column>\d+)_f(?P<field>\d+)'.")
@click.option("--channel", help="Sarcomere stain channel: name, or index from 0. Default: channel 0.")
@click.option("--pixel-size", "pixel_size_um", type=click.FloatRange(min=0, min_open=True),
              help="µm per pixel, for files that carry no calibration (PNG, plain TIFF, AVI).")
@click.option("--z-step", "z_step_um", type=click.FloatRange(min=0, min_open=True),
              help="µm between planes, for stacks that carry no z step.")
def convert(inputs, plate, layout, pattern, channel, pixel_size_um, z_step_um) -> None:
    """Convert vendor SIM files (CZI, DV, ND2, OME-TIFF, TIFF, PNG, AVI) into an HCS plate.

    Re-running adds only new files. Prints "file<TAB>scene<TAB>timepoint<TAB>well/field" per
    converted image on stdout; failures go to stderr, one line each (exit 1).
    """
    from .pipeline import convert_files

    if layout is not None and pattern is not None:
        _fail("give either --layout or --pattern, not both")
    stain = int(channel) if channel is not None and channel.isdigit() else channel
    try:
        report = convert_files(list(inputs), plate, layout=layout, pattern=pattern, channel=stain,
                               pixel_size_um=pixel_size_um, z_step_um=z_step_um)
    except (AmesError, ValueError, TypeError, OSError) as err:
        _fail(str(err))
    for row in report.mapping.itertuples(index=False):
        click.echo(f"{row.file}\t{row.scene}\t{row.timepoint}\t{row.well}/{row.field}")
    for path, reason in report.failed:
        click.echo(f"ames-batch: failed: {reason}", err=True)
    log.info("convert: %d field(s) written, %d already present, %d file(s) failed",
             len(report.converted), len(report.skipped), len(report.failed))
    sys.exit(EXIT_PARTIAL if report.failed else EXIT_OK)


# ---- train / evaluate -----------------------------------------------------------------
# ---- run ------------------------------------------------------------------------------
