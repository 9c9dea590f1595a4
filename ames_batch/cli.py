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
from .vocabulary import TASKS

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
@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--wells", "n_wells", type=click.IntRange(1, 96), default=4, help="Number of wells (A/1, A/2, ...).")
@click.option("--fields", "n_fields", type=click.IntRange(1, 100), default=2, help="Fields per well.")
@click.option("--cells-per-field", type=click.IntRange(1, 20), default=1, help="Cells per field (may touch).")
@click.option("--seed", type=int, default=0, help="Seed of everything random.")
@click.option("--rater-noise", type=click.FloatRange(0, 1), default=0.0,
              help="Noise of the ground-truth rater (0 = exact rules; see docs/synthetic-cells.md).")
@click.option("--truth-csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ground-truth CSV; default OUT without .zarr + '-truth.csv'.")
# the synthetic looks (synth.LOOKS, not imported here: the CLI starts without NumPy's submodules)
@click.option("--look", type=click.Choice(["a", "b", "c", "d"]), default="a",
              help="Rendering of the same truth (docs/synthetic-cells.md): a and b (the default model was "
                   "trained on both), c (a's cells behind b's camera), d (held out: no shipped model saw it).")
def demo(out: Path, n_wells: int, n_fields: int, cells_per_field: int, seed: int, rater_noise: float,
         truth_csv: Path | None, look: str) -> None:
    """Write a synthetic OME-Zarr HCS plate OUT with ground-truth ratings (CSV and `truth` labels)."""
    from .pipeline import write_demo_plate

    try:
        report = write_demo_plate(out, n_wells=n_wells, n_fields=n_fields, cells_per_field=cells_per_field,
                                  seed=seed, rater_noise=rater_noise, truth_csv=truth_csv, look=look)
    except (AmesError, FileExistsError, ValueError) as error:
        _fail(str(error))
    click.echo(f"{report.plate}\t{len(report.fields)} fields\t{report.n_cells} cells\t{report.truth_csv}")
# ---- convert --------------------------------------------------------------------------
@main.command("convert")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "plate", required=True, type=click.Path(path_type=Path),
              help="HCS plate (.zarr directory) to create or extend.")
@click.option("--layout", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns file, well, field[, acquisition].")
@click.option("--pattern", help=r"Regex on file names with groups row+column (or well) [+ field], "
              r"e.g. '(?P<row>[A-H])(?P<column>\d+)_f(?P<field>\d+)'.")
@click.option("--channel", help="Sarcomere stain channel: name (e.g. actinin, or 525 for DV wavelengths), "
              "or index from 0. Default: channel 0.")
@click.option("--pixel-size", "pixel_size_um", type=click.FloatRange(min=0, min_open=True),
              help="µm per pixel, for files that carry no calibration (PNG, plain TIFF, AVI).")
@click.option("--z-step", "z_step_um", type=click.FloatRange(min=0, min_open=True),
              help="µm between planes, for stacks that carry no z step.")
def convert(inputs, plate, layout, pattern, channel, pixel_size_um, z_step_um) -> None:
    """Convert vendor SIM files (CZI, DV, ND2, OME-TIFF, TIFF, PNG, AVI) into an HCS plate.

    INPUTS are files or folders (a folder: the image files below it, sorted). Re-running adds
    only new files. Prints "file<TAB>scene<TAB>timepoint<TAB>well/field" per
    converted image on stdout; failures go to stderr, one line each (exit 1).
    """
    from .pipeline import convert_files

    if layout is not None and pattern is not None:
        _fail("give either --layout or --pattern, not both")
    try:  # --channel stays a str: a name wins, digits that name no channel are an index
        report = convert_files(list(inputs), plate, layout=layout, pattern=pattern, channel=channel,
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
@main.command()
@click.argument("plate", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--ratings", "ratings_csv", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ratings CSV: plate, well, field, label, sarcomerisation, directionality, source [, group].")
@click.option("-o", "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Model bundle folder to write (checkpoints in OUT/checkpoints).")
@click.option("--arch", type=click.Choice(["2d", "2d-ensemble", "3d", "metrics", "hybrid"]), default=None,
              help="2D CNN, 2D one-vs-all ensemble, 3D CNN, a classifier on sarcomere metrics, or a hybrid "
                   "(heads on a 2D CNN's features and the metrics); default 2d (with --init: the initial model's).")
@click.option("--init", "init", default=None,
              help="Fine-tune a model instead of training from scratch: 'default' (the bundled 2D model) or a "
                   "bundle folder (2d, 3d or hybrid). The initial model, the fine-tuned one, a metrics model "
                   "(and for a hybrid its heads refitted) are compared by grouped cross-validation; the "
                   "winner is kept (see OUT/summary.md).")
@click.option("--folds", type=click.IntRange(2), default=5,
              help="With --init: folds of the cross-validation (by the CSV's group, else by well).")
@click.option("--tasks", default=None, help=f"Comma-separated subset of {', '.join(TASKS)}; default: all rated.")
@click.option("--labels", default="cells", help="Label image with the cell masks (the demo plate's truth: 'truth').")
@click.option("--channel", default=None, help="Stain channel name or index; default the one recorded at convert.")
@click.option("--epochs", type=click.IntRange(1), default=60, help="Maximum epochs.")
@click.option("--batch-size", type=click.IntRange(1), default=16)
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=1e-3, help="Adam learning rate.")
@click.option("--patience", type=click.IntRange(1), default=10, help="Epochs without a better validation loss before stopping.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.15)
@click.option("--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.15)
@click.option("--seed", type=int, default=0, help="Seed of split, weights, shuffling and augmentation.")
@click.option("--steps-per-epoch", type=click.IntRange(1), default=None, help="Cap on batches per epoch.")
@click.option("--max-minutes", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop training after this many minutes (best weights kept).")
@click.option("--input-px", type=click.IntRange(8), default=None,
              help="CNN input window in pixels (square); default 256 (2D) or 192 (3D).")
@click.option("--um-per-px", type=click.FloatRange(0, min_open=True), default=None,
              help="CNN input pixel size in µm; default 0.4.")
@click.option("--max-rotation-deg", type=click.FloatRange(0, 180), default=5.0,
              help="Largest random turn of a training cell (directionality classes are 22.5° wide).")
@click.option("--source-loss-weight", type=click.FloatRange(0, min_open=True), default=None,
              help="Weight of the source loss in a singular CNN (the others weigh 1).")
@click.option("--name", default=None, help="Model name in its card; default PLATE-ARCH.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoints (same plate, ratings and seed).")
def train(plate: Path, ratings_csv: Path, out: Path, arch: str | None, init: str | None, folds: int,
          tasks: str | None, labels: str, channel: str | None,
          epochs: int, batch_size: int, learning_rate: float, patience: int, val_fraction: float,
          test_fraction: float, seed: int, steps_per_epoch: int | None, max_minutes: float | None,
          input_px: int | None, um_per_px: float | None, max_rotation_deg: float,
          source_loss_weight: float | None, name: str | None, resume: bool) -> None:
    """Train a rating model on the rated cells of PLATE; split by cell (and group) before augmentation.

    Prints the bundle path and the held-out test accuracy per task (with --init, also the kept
    candidate and its cross-validated accuracy per task).
    """
    from .pipeline import train_plate

    task_list = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
    if init is not None and init != "default" and not Path(init).is_dir():
        _fail(f"--init {init}: neither 'default' nor a model folder")
    try:
        report = train_plate(plate, ratings_csv, out, arch=arch, init=init, folds=folds, tasks=task_list, labels=labels, channel=channel,
                             epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                             val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                             steps_per_epoch=steps_per_epoch, max_minutes=max_minutes, input_px=input_px,
                             um_per_px=um_per_px, max_rotation_deg=max_rotation_deg,
                             source_loss_weight=source_loss_weight, name=name, resume=resume)
    except (AmesError, ValueError, KeyError, FileExistsError) as error:
        _fail(str(error).strip("'\""))
    scores = "\t".join(f"{t}={m['accuracy']:.3f}" for t, m in report.test_metrics.items())
    if report.selection is not None:
        kept = report.selection["winner"]
        cv = report.selection["candidates"][kept]["tasks"]
        scores += f"\tkept={kept}\t" + "\t".join(f"cv_{t}={s['accuracy']:.3f}" for t, s in cv.items())
    click.echo(f"{report.model}\t{report.n_cells} cells\t{scores}")


@main.command()
@click.argument("plate", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--n", "n_cells", type=click.IntRange(1), required=True, help="Cells on the sheet.")
@click.option("-o", "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Sheet folder to create: index.html (open it in a browser) and the empty ratings.csv.")
@click.option("--labels", default="cells", help="Label image of the rated cells.")
@click.option("--seed", type=int, default=0, help="Seed of the draw (same seed, same sheet).")
@click.option("--channel", default=None, help="Stain channel name or index; default the one recorded at convert.")
def sample(plate: Path, n_cells: int, out: Path, labels: str, seed: int, channel: str | None) -> None:
    """Pick N rated cells of PLATE for an expert to rate and write their rating sheet.

    Cells are spread over wells and over the model's classes, with more weight where the model
    is unsure. Rate them in OUT/index.html, save ratings.csv, then `ames-batch train PLATE
    --ratings ratings.csv --init default -o MODEL`. Prints the sheet path and counts.
    """
    from .pipeline import sample_cells

    try:
        report = sample_cells(plate, n_cells, out, labels=labels, seed=seed, channel=channel)
    except (AmesError, ValueError, KeyError, FileExistsError) as error:
        _fail(str(error).strip("'\""))
    click.echo(f"{report.sheet}\t{report.n_cells} cells\t{report.wells} wells\t{report.n_rated} rated on the plate")


@main.command()
@click.argument("model", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("plate", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--ratings", "ratings_csv", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ratings CSV with the true classes.")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder; default PLATE without .zarr + '-evaluation'.")
@click.option("--labels", default="cells", help="Label image with the cell masks (the demo plate's truth: 'truth').")
@click.option("--channel", default=None, help="Stain channel name or index; default the one recorded at convert.")
def evaluate(model: Path, plate: Path, ratings_csv: Path, out: Path | None, labels: str, channel: str | None) -> None:
    """Score MODEL on the rated cells of PLATE: metrics.json, summary.md, confusion, calibration and curve PNGs.

    Cells the model was trained or validated on are not scored. Prints the report folder and
    accuracy / weighted F1 per task.
    """
    from .pipeline import evaluate_plate

    try:
        report = evaluate_plate(model, plate, ratings_csv, out=out, labels=labels, channel=channel)
    except (AmesError, ValueError, KeyError) as error:
        _fail(str(error).strip("'\""))
    scores = "\t".join(f"{t}={m['accuracy']:.3f}/{m['weighted_f1']:.3f}" for t, m in report.metrics.items())
    click.echo(f"{report.out}\t{report.n_cells} cells\t{scores}")


# ---- run ------------------------------------------------------------------------------
def _wells(value: str | None) -> list[str] | None:
    return [w.strip() for w in value.split(",") if w.strip()] if value else None


@main.command()
@click.argument("plate", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Model from `ames-batch train` (any --arch, metrics included); default: the bundled "
                   "default model.")
@click.option("--mode", type=click.Choice(["2d", "3d"]), default=None,
              help="2D (MIP) or 3D (stack) model; default 2d, or the model's own.")
@click.option("--explain", default=None,
              help="Heatmaps to write: comma-separated from gradcam, ig, organised (the metrics' "
                   "organised map); or 'none'. Default gradcam (organised for a metrics model).")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ratings CSV; default PLATE without .zarr + '-ratings.csv'.")
@click.option("--wells", default=None, help="Only these wells, e.g. 'A/1,B/3'.")
@click.option("--channel", default=None, help="Stain channel name or index; default the one recorded at convert.")
@click.option("--force", is_flag=True, help="Redo fields already rated with the same model and settings.")
@click.option("--scheduler", default=None, help="dask.distributed scheduler address (e.g. tcp://host:8786).")
@click.option("--workers", type=click.IntRange(1), default=None, help="Start a local cluster with N workers.")
@click.option("--no-report", "no_report", is_flag=True,
              help="Do not write PLATE-report.html and PLATE-wells.csv (see `ames-batch report`).")
def run(plate: Path, model: Path | None, mode: str | None, explain: str | None, out_csv: Path | None,
        wells: str | None, channel: str | None, force: bool, scheduler: str | None, workers: int | None,
        no_report: bool) -> None:
    """Rate every cell of PLATE: labels/cells, heatmaps, a CSV of ratings, a plate report.

    Exit status 0 when every field was rated, 1 when some failed (listed on stderr), 2 on a
    usage or setup error (not a plate, missing model, plate locked).
    """
    from .pipeline import run_plate

    if scheduler and workers:
        _fail("--scheduler and --workers exclude each other")
    if explain is None:
        methods = None  # the model's default
    elif explain.strip().lower() == "none":
        methods = ()
    else:
        methods = tuple(m.strip() for m in explain.split(",") if m.strip())
    try:
        report = run_plate(plate, model=model, mode=mode, explain=methods, out_csv=out_csv, wells=_wells(wells),
                           channel=channel, force=force, scheduler=scheduler, workers=workers,
                           report=not no_report)
    except (AmesError, ValueError) as error:
        _fail(str(error))
    for result in report.failed:
        click.echo(f"ames-batch: {plate}/{result.key.path}: {result.status}", err=True)
    ood = "" if report.n_ood is None else f"\t{report.n_ood} ood"
    click.echo(f"{report.csv}\t{report.n_cells} cells\t{len(report.results)} fields\t{len(report.failed)} failed"
               f"{ood}\t{report.n_saturated} saturated\t{report.n_empty} without cells")
    sys.exit(EXIT_PARTIAL if report.failed else EXIT_OK)


@main.command()
@click.argument("plate", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--csv", "ratings_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The run's ratings CSV; default PLATE without .zarr + '-ratings.csv'.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file; default PLATE without .zarr + '-report.html'.")
@click.option("--ratings", "truth_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="True ratings (an expert's, or a demo plate's -truth.csv): adds confusion matrices.")
def report(plate: Path, ratings_csv: Path | None, out: Path | None, truth_csv: Path | None) -> None:
    """Write the HTML report of a rated PLATE (one offline file) and its per-well summary CSV."""
    from .pipeline import ratings_csv_path, write_plate_report

    try:
        files = write_plate_report(plate, ratings_csv or ratings_csv_path(plate), out=out, truth_csv=truth_csv)
    except (AmesError, ValueError, FileNotFoundError, KeyError) as error:
        _fail(str(error).strip("'\""))
    click.echo(f"{files.html}\t{files.wells_csv}")


if __name__ == "__main__":
    main()
