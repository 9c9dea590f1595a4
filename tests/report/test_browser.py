"""The report and the rating sheet in a real headless chromium, opened from file:// (offline)."""

import pandas as pd
import pytest
from report_planted import planted_cells

from ames_batch.io import read_ratings
from ames_batch.report import SHEET_COLUMNS, render_plate_report, render_rating_sheet
from ames_batch.vocabulary import RATING_COLOURS

GREEN4 = "rgb({}, {}, {})".format(*RATING_COLOURS["sarcomerisation"]["4"][:3])


def _only_the_page_itself(opened):
    """Requests other than the page file and its data: URIs."""
    return [u for u in opened.requests if not (u.startswith("data:") or u == opened.path.as_uri())]


def test_report_loads_offline_and_shows_the_most_organised_well(open_html, tiny_png):
    cells = planted_cells(
        [("B/3", "0", k, "ok", "4", "1", "adult", {"organised_fraction": 0.9}) for k in (1, 2)]
        + [("C/5", "0", 1, "ok", "2", "3", "ipsc", {"organised_fraction": 0.4}),
           ("G/11", "0", 1, "ok", "1", "4", "neonatal", {"organised_fraction": 0.1}),
           ("G/11", "1", None, "error: NaN pixels", None, None, None, {})])
    gallery = [{"well": "B/3", "field": "0", "label": k, "task": "sarcomerisation", "class": "4", "png": tiny_png}
               for k in (1, 2)]
    truth = cells[cells["status"] == "ok"][["plate", "well", "field", "label", "sarcomerisation"]]
    opened = open_html(render_plate_report(cells, gallery=gallery, truth=truth, title="browser"), "index.html")
    page = opened.page
    assert opened.console_errors == [] and opened.failed_requests == []
    assert _only_the_page_itself(opened) == []
    assert page.eval_on_selector_all("img", "imgs => imgs.length") == 2
    assert opened.broken_images() == []
    fills = page.eval_on_selector_all(
        'svg.platemap[data-view="sarcomerisation"] g.well circle:first-of-type',
        "cs => cs.map(c => [c.parentElement.dataset.well, getComputedStyle(c).fill])")
    fills = dict(fills)
    assert fills["B/3"] == GREEN4  # the planted most organised well: the extreme colour of the scale
    assert len(set(fills.values())) == len(fills)  # C/5 and G/11 differ from it and each other
    assert page.is_visible("svg.platemap") and page.is_visible("#most-organised")
    assert page.inner_text("#most-organised").split(":", 1)[1].strip().startswith("B/3")


@pytest.fixture
def sheet(tiny_png):
    return pd.DataFrame({"plate": ["P1", "P1", "P1"], "well": ["A/1", "A/2", "B/1"], "field": ["0", "0", "3"],
                         "label": [1, 2, 5], "thumbnail_png": [tiny_png] * 3, "inset_png": [tiny_png] * 3})


def _choose(page, card: int, task: str, cls: str):
    page.click(f'#cell-{card} label[data-task="{task}"][data-class="{cls}"]')


def _save(page, tmp_path):
    with page.expect_download() as download:
        page.click("#save")
    target = tmp_path / "downloaded" / download.value.suggested_filename
    target.parent.mkdir(exist_ok=True)
    download.value.save_as(target)
    return target


def test_sheet_saves_what_was_clicked_as_a_ratings_csv(open_html, sheet, tmp_path):
    opened = open_html(render_rating_sheet(sheet), "sheet.html")
    page = opened.page
    assert opened.broken_images() == []
    assert page.inner_text("#progress-text") == "0 of 3 cells rated"
    _choose(page, 0, "sarcomerisation", "3")
    _choose(page, 0, "directionality", "1")
    _choose(page, 0, "source", "ipsc")
    _choose(page, 2, "source", "adult")
    _choose(page, 2, "directionality", "4")
    _choose(page, 2, "directionality", "")  # changed their mind: back to not rated
    page.click("#cell-1 h2")  # keyboard on the second card
    page.keyboard.press("4")
    page.keyboard.press("Shift+2")
    page.keyboard.press("n")
    assert page.inner_text("#progress-text") == "2 of 3 cells rated, 1 partly"
    path = _save(page, tmp_path)
    assert path.name == "ratings.csv"
    assert path.read_text().splitlines()[0] == ",".join(SHEET_COLUMNS)
    back = read_ratings(path)
    assert back[["well", "field", "label"]].values.tolist() == [["A/1", "0", 1], ["A/2", "0", 2], ["B/1", "3", 5]]
    assert back["sarcomerisation"].tolist()[:2] == [3, 4] and pd.isna(back["sarcomerisation"][2])
    assert back["directionality"].tolist()[:2] == [1, 2] and pd.isna(back["directionality"][2])
    assert back["source"].tolist() == ["ipsc", "neonatal", "adult"]
    assert opened.console_errors == [] and opened.failed_requests == []
    assert _only_the_page_itself(opened) == []


def test_sheet_keeps_choices_over_a_reload(open_html, sheet, tmp_path):
    opened = open_html(render_rating_sheet(sheet), "sheet.html")
    page = opened.page
    _choose(page, 1, "sarcomerisation", "2")
    page.click("#cell-1 h2")
    page.keyboard.press("a")
    page.reload(wait_until="load")
    assert page.is_checked('#cell-1 input[data-task="sarcomerisation"][value="2"]')
    assert page.is_checked('#cell-1 input[data-task="source"][value="adult"]')
    assert page.inner_text("#progress-text") == "0 of 3 cells rated, 1 partly"
    page.click("#cell-1 h2")
    page.keyboard.press("0")  # clears the card
    back = read_ratings(_save(page, tmp_path))
    assert back["sarcomerisation"].isna().all() and back["source"].isna().all()
    assert opened.console_errors == []
