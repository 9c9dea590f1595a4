"""End to end on a real rated demo plate (the default model): the report and a rating sheet the
product writes from the store, both in chromium."""

import pandas as pd
import pytest
from report_demo import rated_demo, write_pages

from ames_batch.io import read_ratings

pytestmark = pytest.mark.slow  # a demo plate rated by the default CNN with Grad-CAM: ~30 s


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rated")
    plate, ratings_csv, truth_csv = rated_demo(folder, wells=2, fields=1, cells_per_field=2, seed=5)
    index, sheet = write_pages(folder, plate, ratings_csv, truth_csv)
    return pd.read_csv(ratings_csv), index, sheet


def test_report_of_a_real_plate(pages, open_html):
    cells, index, _ = pages
    opened = open_html(index.read_text(encoding="utf-8"), "index.html")
    assert opened.console_errors == [] and opened.failed_requests == [] and opened.broken_images() == []
    page = opened.page
    assert page.eval_on_selector_all("#gallery img", "i => i.length") >= 3  # every task has examples
    wells = page.eval_on_selector_all('svg.platemap[data-view="sarcomerisation"] g.well',
                                      "gs => gs.map(g => [g.dataset.well, Number(g.dataset.value)])")
    assert sorted(w for w, _ in wells) == sorted(cells["well"].unique())
    best = max(wells, key=lambda w: w[1])[0]
    assert page.inner_text("#most-organised").split(":", 1)[1].strip().startswith(best)


def test_sheet_of_a_real_plate_saves_every_cell(pages, open_html, tmp_path):
    cells, _, sheet = pages
    opened = open_html(sheet.read_text(encoding="utf-8"), "sheet.html")
    page = opened.page
    assert opened.console_errors == [] and opened.broken_images() == []
    rated = cells[cells["status"] == "ok"]
    assert page.eval_on_selector_all("article.card", "c => c.length") == len(rated)
    order = pd.read_csv(sheet.with_name("ratings.csv"))["label"].tolist()  # the sheet's order
    page.click('#cell-0 label[data-task="source"][data-class="adult"]')
    with page.expect_download() as download:
        page.click("#save")
    path = tmp_path / "ratings.csv"
    download.value.save_as(path)
    back = read_ratings(path)
    assert back["label"].tolist() == order and sorted(order) == sorted(rated["label"])
    assert back["source"].tolist() == ["adult"] + [None] * (len(rated) - 1)
    assert pd.isna(back["sarcomerisation"]).all()
