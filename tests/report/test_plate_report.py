"""The plate report's HTML: self-contained, plate maps coloured by planted ratings, truth, failures."""

import pandas as pd
import pytest
from report_html import Elements, external_references
from report_planted import planted_cells

from ames_batch.report import render_plate_report
from ames_batch.vocabulary import RATING_COLOURS


def rgb(colour) -> str:
    return f"rgb({colour[0]}, {colour[1]}, {colour[2]})"


GREEN4 = rgb(RATING_COLOURS["sarcomerisation"]["4"])
RED1 = rgb(RATING_COLOURS["sarcomerisation"]["1"])
GREY = "rgb(189, 189, 189)"


def plate_cells() -> pd.DataFrame:
    """B/3: the most organised well (every cell sarcomerisation 4 with certainty); D/7 the least;
    A/1 in between; E/5 imaged without cells; F/2 one good field and one failed field."""
    metrics = {"organised_fraction": 0.8, "zdisc_angle_deg": 10.0, "area_um2": 900.0, "sarcomere_length_um": 1.9}
    rows = [("B/3", "0", k, "ok", "4", "1", "adult", metrics) for k in (1, 2, 3)]
    rows += [("D/7", "0", k, "ok", "1", "4", "ipsc", {**metrics, "organised_fraction": 0.05}) for k in (1, 2)]
    rows += [("A/1", "0", 1, "ok", "3", "2", "neonatal", metrics), ("A/1", "1", 1, "ok", "2", "2", "ipsc", metrics)]
    rows += [("E/5", "0", None, "no cells", None, None, None, {})]
    rows += [("F/2", "0", 4, "ok", "2", "3", "adult", metrics),
             ("F/2", "1", None, "error: field holds NaN pixels", None, None, None, {})]
    return planted_cells(rows)


@pytest.fixture
def report():
    return render_plate_report(plate_cells(), model={"name": "ames-2d-default", "version": "1.1"},
                               settings={"pixel_size_um": 0.16, "explain": ["gradcam"]}, title="Plate P1")


def test_page_loads_nothing_from_outside(report):
    assert report.startswith("<!DOCTYPE html>")
    assert external_references(report) == []
    assert "<script" not in report  # the report needs no script at all
    policy = Elements(report).find("meta", http_equiv="Content-Security-Policy")
    assert policy and "default-src 'none'" in policy[0]["content"]


def _wells(report, view):
    page = Elements(report)
    start = next(i for i, (t, a) in enumerate(page.elements) if t == "svg" and a.get("data-view") == view)
    end = next((i for i, (t, a) in enumerate(page.elements) if i > start and t == "svg"
                and a.get("class") == "platemap"), len(page.elements))
    return {a["data-well"]: a for t, a in page.elements[start:end] if t == "g" and "data-well" in a}, \
        [a for t, a in page.elements[start:end] if t == "circle" and a.get("class") == "absent"]


def test_sarcomerisation_map_marks_the_planted_wells(report):
    wells, absent = _wells(report, "sarcomerisation")
    assert set(wells) == {"A/1", "B/3", "D/7", "E/5", "F/2"}
    assert len(absent) == 96 - 5  # a standard 8 x 12 plate
    assert wells["B/3"]["data-fill"] == GREEN4 and float(wells["B/3"]["data-value"]) == pytest.approx(4)
    assert wells["D/7"]["data-fill"] == RED1 and float(wells["D/7"]["data-value"]) == pytest.approx(1)
    assert float(wells["A/1"]["data-value"]) == pytest.approx(2.5)
    assert wells["E/5"]["data-fill"] == GREY and wells["E/5"]["data-cells"] == "0"
    most = max((w for w in wells.values() if "data-value" in w), key=lambda w: float(w["data-value"]))
    assert most["data-well"] == "B/3"


def test_failed_field_gets_a_ring_and_its_reason_is_listed(report):
    assert report.count('stroke-dasharray="4 2"') == 3  # F/2 on each of the three maps
    assert "field holds NaN pixels" in report
    assert "E/5 field 0" in report  # the empty field


def test_source_map_takes_the_majority(report):
    wells, _ = _wells(report, "source")
    assert wells["B/3"]["data-value"] == "adult"
    assert wells["D/7"]["data-value"] == "ipsc"
    assert wells["A/1"]["data-value"] in ("neonatal", "ipsc")  # one each: a tie drawn as two halves


def test_most_organised_wells_are_named_first(report):
    text = "".join(Elements(report).text)
    line = text[text.index("Most organised wells"):]
    assert line.index("B/3") < line.index("A/1") < line.index("F/2")


def test_model_and_settings_are_shown(report):
    assert "ames-2d-default" in report and "gradcam" in report and "0.16" in report


def test_a_well_past_h12_makes_a_384_well_map():
    cells = planted_cells([("J/20", "0", 1, "ok", "2", "2", "adult", {})])
    wells, absent = _wells(render_plate_report(cells), "sarcomerisation")
    assert list(wells) == ["J/20"] and len(absent) == 384 - 1


def test_confusion_matrix_counts_planted_truth():
    cells = plate_cells()
    truth = cells[cells["status"] == "ok"][["plate", "well", "field", "label"]].reset_index(drop=True)
    truth["sarcomerisation"] = 4  # B/3 (3 cells) right, the other 5 cells wrong
    truth["source"] = "adult"
    truth.loc[len(truth)] = ["P1", "H/12", "0", 9, 1, "ipsc"]  # a truth cell the run did not rate
    page = Elements(render_plate_report(cells, truth=truth))
    text = "".join(page.text)
    assert "8 of 8 rated cells matched a ground-truth cell (of 9)" in text
    assert "accuracy 37.5 % of 8" in text  # sarcomerisation 3 / 8
    assert "accuracy 50.0 % of 8" in text  # source: the 4 adult cells
    assert len(Elements(render_plate_report(cells)).find("div", class_="confusion")) == 0
    assert {a["data-task"] for a in page.find("div", class_="confusion")} == {"sarcomerisation", "source"}


def test_gallery_items_are_shown_per_class(tiny_png):
    item = {"plate": "P1", "well": "B/3", "field": "0", "label": 1, "task": "sarcomerisation", "class": "4",
            "probability": 0.97, "png": tiny_png}
    page = Elements(render_plate_report(plate_cells(), gallery=[item]))
    figures = page.find("figure", data_task="sarcomerisation", data_class="4")
    assert len(figures) == 1
    images = [a for t, a in page.elements if t == "img"]
    assert len(images) == 1 and images[0]["src"].startswith("data:image/png;base64,")
    assert "p 0.97" in "".join(page.text)


@pytest.mark.parametrize(("item", "match"), [
    ({"task": "sarcomerisation", "class": "4", "png": b"GIF89a"}, "PNG"),
    ({"task": "sarcomerisation", "class": "5"}, "vocabulary"),
    ({"task": "sarcomerisation"}, "class"),
])
def test_bad_gallery_items_are_refused(tiny_png, item, match):
    full = {"well": "B/3", "field": "0", "label": 1, "png": tiny_png, **item}
    with pytest.raises(ValueError, match=match):
        render_plate_report(plate_cells(), gallery=[full])


def test_names_are_escaped():
    cells = planted_cells([("A/1", "0", 1, "ok", "2", "2", "adult", {})]).assign(plate="<script>x</script>")
    page = render_plate_report(cells, title="<b>t</b>")
    assert "<script>x" not in page and "<b>t</b>" not in page
    assert "&lt;script&gt;x" in page


def test_a_plate_without_cells_still_renders():
    cells = planted_cells([("A/1", "0", None, "error: unreadable", None, None, None, {})])
    page = render_plate_report(cells)
    assert "No rated cells" in page and "unreadable" in page
