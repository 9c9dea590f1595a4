"""The rating sheet's HTML and its empty CSV, without a browser (the browser tests click it)."""

import json

import pandas as pd
import pytest
from report_html import Elements, external_references

from ames_batch.io import read_ratings
from ames_batch.report import SHEET_COLUMNS, rating_sheet_csv, render_rating_sheet


@pytest.fixture
def sheet_cells(tiny_png):
    return pd.DataFrame({
        "plate": ["P1", "P1", "P,2"], "well": ["A/1", "B/12", "C/3"], "field": [0, 2, 1], "label": [1, 7, 3],
        "status": ["ok", "ok", "ok"], "sarcomerisation": [4, 2, 1], "directionality": [1, 3, None],
        "source": ["adult", "ipsc", "neonatal"], "thumbnail_png": [tiny_png] * 3, "inset_png": [tiny_png] * 3,
    })


def test_empty_sheet_is_a_ratings_csv_with_nothing_rated(sheet_cells, tmp_path):
    sheet = rating_sheet_csv(sheet_cells)
    assert tuple(sheet.columns) == SHEET_COLUMNS == ("plate", "well", "field", "label", "sarcomerisation",
                                                     "directionality", "source")
    path = tmp_path / "ratings.csv"
    sheet.to_csv(path, index=False)
    back = read_ratings(path)
    assert back[["plate", "well", "field", "label"]].values.tolist() == [
        ["P1", "A/1", "0", 1], ["P1", "B/12", "2", 7], ["P,2", "C/3", "1", 3]]
    assert back["sarcomerisation"].isna().all() and back["directionality"].isna().all()
    assert back["source"].isna().all()


def test_rows_that_are_not_cells_are_left_out(sheet_cells):
    failed = pd.DataFrame({"plate": ["P1"], "well": ["D/4"], "field": [0], "label": [None],
                           "status": ["error: unreadable"]})
    sheet = rating_sheet_csv(pd.concat([sheet_cells, failed]))
    assert sheet["well"].tolist() == ["A/1", "B/12", "C/3"]


def test_a_cell_twice_is_refused(sheet_cells):
    with pytest.raises(ValueError, match="twice"):
        rating_sheet_csv(pd.concat([sheet_cells, sheet_cells.iloc[:1]]))


def test_sheet_is_self_contained_with_one_card_per_cell(sheet_cells):
    page = render_rating_sheet(sheet_cells, title="Sheet")
    assert external_references(page) == []
    parsed = Elements(page)
    cards = parsed.find("article", class_="card")
    assert [c["data-key"] for c in cards] == ["P1|A/1|0|1", "P1|B/12|2|7", "P,2|C/3|1|3"]
    assert len([a for t, a in parsed.elements if t == "img"]) == 6
    # per card and task: "not rated" plus each class, "not rated" chosen
    radios = [a for t, a in parsed.elements if t == "input" and a.get("type") == "radio"]
    assert len(radios) == 3 * (5 + 5 + 4)
    assert sum("checked" in a for a in radios) == 3 * 3 and all(a["value"] == "" for a in radios if "checked" in a)
    data = json.loads(page.split('id="sheet-data">', 1)[1].split("</script>", 1)[0])
    assert data["columns"] == list(SHEET_COLUMNS) and data["filename"] == "ratings.csv"


def test_model_ratings_are_hidden_unless_asked(sheet_cells):
    hidden = render_rating_sheet(sheet_cells)
    shown = render_rating_sheet(sheet_cells, show_model=True)
    assert "model:" not in "".join(Elements(hidden).text)
    assert "model: sarcomerisation 4 · directionality 1 · source adult" in "".join(Elements(shown).text)


def test_sheet_id_depends_on_its_cells(sheet_cells):
    def sheet_id(cells):
        page = render_rating_sheet(cells)
        return json.loads(page.split('id="sheet-data">', 1)[1].split("</script>", 1)[0])["id"]

    assert sheet_id(sheet_cells) == sheet_id(sheet_cells.copy())
    assert sheet_id(sheet_cells) != sheet_id(sheet_cells.iloc[:2])


@pytest.mark.parametrize(("change", "match"), [
    (lambda c: c.drop(columns="inset_png"), "inset_png"),
    (lambda c: c.assign(thumbnail_png=[b"not a png"] * 3), "PNG"),
])
def test_bad_sheet_input_is_refused(sheet_cells, change, match):
    with pytest.raises(ValueError, match=match):
        render_rating_sheet(change(sheet_cells))
