"""`ames-batch sample`: which cells are picked, the sheet it writes, and the sheet in a real browser."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ames_batch.cli import main
from ames_batch.io import read_ratings
from ames_batch.pipeline import pick_cells, run_plate, sample_cells, sampling_weights, train_plate, write_demo_plate
from ames_batch.report import SHEET_COLUMNS

SCALE = {"z": 1.0, "y": 0.32, "x": 0.32}  # coarse voxels: small fields, quick pictures

# the report room's real-browser fixtures (Debian chromium under playwright; they skip without it)
_spec = importlib.util.spec_from_file_location("report_browser", Path(__file__).parents[1] / "report" / "conftest.py")
_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_report)
browser, open_html = _report.browser, _report.open_html


def _table(rng, wells, per_well, p_unsure=0.0):
    """A run's cells: confident about sarcomerisation class 4, except a share that is uniform."""
    rows = []
    for w in wells:
        for i in range(per_well):
            unsure = rng.random() < p_unsure
            p = np.full(4, 0.25) if unsure else np.array([0.01, 0.01, 0.03, 0.95])
            rows.append({"well": w, "field": "0", "label": i + 1, "unsure": unsure,
                         **{f"p_sarcomerisation_{k + 1}": v for k, v in enumerate(p)}})
    return pd.DataFrame(rows)


def test_every_well_gives_its_share(rng):
    table = _table(rng, [f"A/{i}" for i in range(1, 7)], per_well=20)
    picked = pick_cells(table, 20, seed=1)
    counts = picked["well"].value_counts()
    assert len(picked) == 20 and set(counts) <= {3, 4} and counts.size == 6
    assert not picked.duplicated(["well", "field", "label"]).any()


def test_a_small_well_gives_all_it_has_and_the_others_fill_in(rng):
    table = pd.concat([_table(rng, ["A/1"], 2), _table(rng, ["A/2", "A/3"], 30)], ignore_index=True)
    picked = pick_cells(table, 20, seed=0)
    assert picked["well"].value_counts().to_dict() == {"A/2": 9, "A/3": 9, "A/1": 2}


def test_cells_the_model_is_unsure_of_are_preferred(rng):
    table = _table(rng, ["A/1"], per_well=400, p_unsure=0.2)
    shares = [pick_cells(table, 40, seed=s)["unsure"].mean() for s in range(20)]
    # an unsure cell weighs 3x (UNCERTAINTY_WEIGHT 2) and belongs to a rarer predicted class: with a
    # fifth of the cells unsure, a uniform draw would pick 20 % of them
    assert np.mean(shares) > 0.4


def test_a_rare_predicted_class_weighs_more(rng):
    table = _table(rng, ["A/1"], per_well=100)
    table.loc[:9, [f"p_sarcomerisation_{k}" for k in (1, 2, 3, 4)]] = [0.95, 0.03, 0.01, 0.01]  # 10 % say "1"
    weights = sampling_weights(table, uncertainty_weight=0.0)
    np.testing.assert_allclose(weights[:10] / weights[10:].mean(), 90 / 10)  # 1 / share of the class


def test_the_draw_is_seeded(rng):
    table = _table(rng, ["A/1", "A/2"], per_well=50, p_unsure=0.3)
    a, b, c = (pick_cells(table, 10, seed=s)[["well", "label"]] for s in (7, 7, 8))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_a_table_without_probabilities_is_refused(rng):
    with pytest.raises(ValueError, match="ames-batch run"):
        sampling_weights(_table(rng, ["A/1"], 3).drop(columns=[f"p_sarcomerisation_{k}" for k in (1, 2, 3, 4)]))


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """A 6-well demo plate rated by a metrics model (no TensorFlow: quick)."""
    root = tmp_path_factory.mktemp("sample")
    demo = write_demo_plate(root / "plate.zarr", n_wells=6, n_fields=1, cells_per_field=2, seed=9, scale_um=SCALE)
    train_plate(demo.plate, demo.truth_csv, root / "metrics", arch="metrics", labels="truth")
    run_plate(demo.plate, model=root / "metrics", explain=(), out_csv=root / "run.csv")
    return demo.plate, root


def test_same_seed_same_sheet_byte_for_byte(rated, tmp_path):
    plate, _ = rated
    first = sample_cells(plate, 5, tmp_path / "a", seed=3)
    second = sample_cells(plate, 5, tmp_path / "b", seed=3)
    assert (tmp_path / "a" / "ratings.csv").read_bytes() == (tmp_path / "b" / "ratings.csv").read_bytes()
    assert (tmp_path / "a" / "index.html").read_bytes() == (tmp_path / "b" / "index.html").read_bytes()
    assert first.n_cells == 5 and first.wells == 5 and first.n_rated == second.n_rated >= 6
    sheet = read_ratings(first.csv)  # an empty sheet is a ratings CSV with nothing rated
    assert list(sheet.columns[:7]) == list(SHEET_COLUMNS) and len(sheet) == 5
    assert sheet["sarcomerisation"].isna().all() and (sheet["plate"] == "plate").all()
    other = sample_cells(plate, 5, tmp_path / "c", seed=4)
    assert not other.picked[["well", "label"]].equals(first.picked[["well", "label"]])


def test_a_sheet_being_rated_is_never_overwritten(rated, tmp_path):
    plate, _ = rated
    sample_cells(plate, 2, tmp_path / "s")
    with pytest.raises(FileExistsError, match="already holds"):
        sample_cells(plate, 2, tmp_path / "s")


def test_more_cells_asked_than_rated_gives_them_all(rated, tmp_path):
    plate, _ = rated
    report = sample_cells(plate, 500, tmp_path / "s")
    assert report.n_cells == report.n_rated == len(read_ratings(report.csv))


def test_a_plate_never_run_is_refused(rated, tmp_path):
    plate, _ = rated
    with pytest.raises(ValueError, match="ames-batch run"):
        sample_cells(plate, 2, tmp_path / "s", labels="truth")  # truth labels carry no probabilities


def test_cli_sample(rated, tmp_path):
    plate, _ = rated
    res = CliRunner().invoke(main, ["-q", "sample", str(plate), "--n", "4", "-o", str(tmp_path / "s"),
                                    "--seed", "2"])
    assert res.exit_code == 0, res.output
    assert res.output.split("\t")[:3] == [str(tmp_path / "s" / "index.html"), "4 cells", "4 wells"]
    res = CliRunner().invoke(main, ["-q", "sample", str(plate), "--n", "4", "-o", str(tmp_path / "s")])
    assert res.exit_code == 2 and "already holds" in res.output


def test_the_sheet_rates_in_a_browser_and_trains(rated, open_html, tmp_path):
    plate, root = rated
    report = sample_cells(plate, 6, tmp_path / "sheet", seed=1)
    opened = open_html((tmp_path / "sheet" / "index.html").read_text(encoding="utf-8"), "index.html")
    page = opened.page
    assert opened.console_errors == [] and opened.failed_requests == []
    assert page.eval_on_selector_all("img", "imgs => imgs.length") == 12  # crop and inset per cell
    assert opened.broken_images() == []
    sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
    assert all(w >= 20 and h >= 20 for w, h in sizes)
    chosen = []
    for i in range(report.n_cells):  # rate every cell on every task, cycling through the classes
        sarc, direc, src = str(i % 4 + 1), str((i + 1) % 4 + 1), ("adult", "neonatal", "ipsc")[i % 3]
        for task, cls in (("sarcomerisation", sarc), ("directionality", direc), ("source", src)):
            page.click(f'#cell-{i} label[data-task="{task}"][data-class="{cls}"]')
        chosen.append((int(sarc), int(direc), src))
    with page.expect_download() as download:
        page.click("#save")
    saved = tmp_path / "ratings.csv"
    download.value.save_as(saved)
    assert opened.console_errors == []
    back = read_ratings(saved)
    assert list(zip(back["sarcomerisation"], back["directionality"], back["source"])) == chosen
    assert back[["well", "field", "label"]].astype(str).values.tolist() == \
        report.picked[["well", "field", "label"]].astype(str).values.tolist()
    trained = train_plate(plate, saved, tmp_path / "model", arch="metrics", test_fraction=0.2, val_fraction=0.2)
    assert trained.n_cells == report.n_cells and trained.skipped == []
