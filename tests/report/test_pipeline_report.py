"""`run` writes the plate report and the per-well CSV; `write_plate_report` with the truth; in chromium."""

import pandas as pd
import pytest

from ames_batch.nn import PreprocessSettings, build_model, make_card, save_bundle
from ames_batch.pipeline import run_plate, wells_csv_path, write_demo_plate, write_plate_report
from ames_batch.vocabulary import TASK_CLASSES

CLASSES = {t: list(c) for t, c in TASK_CLASSES.items()}


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """A 3-well demo plate at coarse voxels, rated by a small real (untrained) CNN with Grad-CAM."""
    root = tmp_path_factory.mktemp("rated")
    demo = write_demo_plate(root / "plate.zarr", n_wells=3, n_fields=1, cells_per_field=2, seed=4,
                            scale_um={"z": 1.0, "y": 0.32, "x": 0.32})
    settings = PreprocessSettings(input_shape=(88, 88), target_um_per_px=0.8)
    card = make_card(name="report-2d", version="0", tasks=CLASSES, settings=settings,
                     training={"data_fingerprint": "none", "split": {}})
    bundle = save_bundle(build_model("2d", input_shape=(88, 88), tasks=CLASSES), card, root / "cnn")
    report = run_plate(demo.plate, model=bundle, explain=("gradcam",))
    return demo, report


def test_run_writes_the_report_and_the_wells_csv(rated, open_html):
    demo, report = rated
    assert report.report.html.is_file() and report.report.wells_csv == wells_csv_path(report.csv)
    wells = pd.read_csv(report.report.wells_csv)
    cells = pd.read_csv(report.csv)
    assert sorted(wells["well"]) == sorted(cells["well"].unique())
    assert wells["cells"].sum() == (cells["status"] == "ok").sum()
    opened = open_html(report.report.html.read_text(encoding="utf-8"), "report.html")
    assert opened.console_errors == [] and opened.failed_requests == [] and opened.broken_images() == []
    assert opened.page.eval_on_selector_all("#gallery img", "i => i.length") >= 3


def test_a_heatmap_laid_on_a_cells_box_is_that_box_of_the_whole_field(rated):
    # before the tests below rerun the plate without heatmaps
    # the gallery resamples a model-grid heatmap onto one cell's box, not the whole field: same pixels
    import numpy as np

    from ames_batch.image import cell_bbox
    from ames_batch.io import list_fields, read_labels
    from ames_batch.pipeline import read_field_data
    from ames_batch.pipeline._report import _on_grid, _task_maps

    demo, _ = rated
    key = list_fields(demo.plate)[0]
    data = read_field_data(demo.plate, key, channel=None)
    plane, attrs = _task_maps(demo.plate, key)["sarcomerisation"]
    assert plane.shape != data.mip.shape  # a coarser grid, laid over the field by scale and translation
    whole = _on_grid(plane, attrs, data, (slice(0, data.mip.shape[0]), slice(0, data.mip.shape[1])))
    labels = np.asarray(read_labels(demo.plate, key, "cells")[0].max(dim="z"))
    for label in np.unique(labels[labels > 0]):
        box = cell_bbox(labels == label, pixel_size_um=data.pixel_size_um, margin_um=2.0)
        np.testing.assert_allclose(_on_grid(plane, attrs, data, box), whole[box], atol=1e-6)
    assert whole.std() > 0


def test_a_cells_window_is_that_box_of_the_fields_picture(rated):
    """The gallery reads each cell's box of the stain alone (its chunks): the same pixels, placed
    at the same µm, as the box of the whole field's picture; its heatmap laid over it the same."""
    import numpy as np

    from ames_batch.image import cell_bbox
    from ames_batch.io import list_fields, read_labels
    from ames_batch.pipeline import read_field_data, read_field_window
    from ames_batch.pipeline._report import _on_grid, _task_maps

    demo, _ = rated
    for key in list_fields(demo.plate):
        whole = read_field_data(demo.plate, key, level="working")
        plane, attrs = _task_maps(demo.plate, key)["sarcomerisation"]
        labels = np.asarray(read_labels(demo.plate, key, "cells")[0].max(dim="z"))
        for label in np.unique(labels[labels > 0]):
            box = cell_bbox(labels == label, pixel_size_um=whole.pixel_size_um, margin_um=2.0)
            window = read_field_window(demo.plate, key, box)
            np.testing.assert_array_equal(window.mip, whole.mip[box])
            assert window.pixel_size_um == whole.pixel_size_um
            for a, b in zip("yx", box):
                assert window.translation_um[a] == pytest.approx(whole.translation_um[a] + b.start * whole.scale_um[a])
            inside = tuple(slice(0, n) for n in window.mip.shape)
            np.testing.assert_allclose(_on_grid(plane, attrs, window, inside), _on_grid(plane, attrs, whole, box),
                                       atol=1e-6)


def test_report_with_the_truth_matches_cells_by_overlap(rated, open_html, tmp_path):
    """The demo's truth labels are not the run's labels: cells are paired by overlap, so the
    confusion matrices count every matched cell once."""
    demo, report = rated
    files = write_plate_report(demo.plate, report.csv, out=tmp_path / "r.html", truth_csv=demo.truth_csv)
    opened = open_html(files.html.read_text(encoding="utf-8"), "truth.html")
    assert opened.console_errors == [] and opened.broken_images() == []
    page = opened.page
    assert page.eval_on_selector_all("#truth table", "ts => ts.length") == 3  # one matrix per task
    matched = int(page.inner_text("#truth p.muted").split(" of ")[0])
    rated_cells = int((pd.read_csv(report.csv)["status"] == "ok").sum())
    assert matched >= min(rated_cells, demo.n_cells) - 1  # segmentation may miss a touching pair, no more


def test_report_command_and_run_without_report(rated, tmp_path):
    from click.testing import CliRunner

    from ames_batch.cli import main
    from ames_batch.pipeline import report_path

    demo, report = rated
    out = tmp_path / "cli.html"
    res = CliRunner().invoke(main, ["-q", "report", str(demo.plate), "--ratings", str(demo.truth_csv), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file() and str(out) in res.output
    report_path(demo.plate).unlink()
    again = run_plate(demo.plate, model=report.results and demo.plate.parent / "cnn", explain=(), report=False)
    assert again.report is None and not report_path(demo.plate).exists()


def test_a_rerun_with_nothing_to_do_keeps_the_report_and_a_missing_one_is_written(rated):
    """A nightly no-op rerun must stay cheap (issue #14: <= 2 s for 96 fields): the report beside the
    plate still holds when no field was rated anew; only a missing one is written again."""
    from ames_batch.pipeline import report_path

    demo, _ = rated
    model = demo.plate.parent / "cnn"
    run_plate(demo.plate, model=model, explain=(), report=False)  # rated with these settings, no report
    report_path(demo.plate).unlink(missing_ok=True)
    first = run_plate(demo.plate, model=model, explain=())
    assert first.report is not None and first.report.html.is_file()
    stamp = first.report.html.stat().st_mtime_ns, first.report.wells_csv.stat().st_mtime_ns
    again = run_plate(demo.plate, model=model, explain=())
    assert again.report == first.report
    assert (again.report.html.stat().st_mtime_ns, again.report.wells_csv.stat().st_mtime_ns) == stamp

