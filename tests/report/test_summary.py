"""well_summary and gallery_cells on hand-built cells tables with planted values."""

import numpy as np
import pandas as pd
import pytest

from report_planted import planted_cells

from ames_batch.report import gallery_cells, well_summary


@pytest.fixture
def cells():
    """Wells A/2 (3 cells in field 0, an empty field 1), A/10 (1 cell, a failed field), B/1 (1 cell)."""
    return planted_cells([
        ("A/2", "0", 1, "ok", "4", "1", "adult", {"organised_fraction": 0.1, "area_um2": 100.0}),
        ("A/2", "0", 2, "ok", "3", "2", "adult", {"organised_fraction": 0.5, "area_um2": 200.0}),
        ("A/2", "0", 3, "ok", "1", "2", "ipsc", {"organised_fraction": 0.9, "area_um2": np.nan}),
        ("A/2", "1", None, "no cells", None, None, None, {}),
        ("A/10", "0", 1, "ok", "2", "4", "neonatal", {"organised_fraction": 0.3, "area_um2": 50.0}),
        ("A/10", "3", None, "error: NaN pixels", None, None, None, {}),
        ("B/1", "0", 5, "ok", "2", "3", "ipsc", {"organised_fraction": 0.7, "area_um2": 70.0}),
    ])


def test_counts_and_plate_order(cells):
    summary = well_summary(cells.iloc[::-1])  # order in, plate order out
    assert summary["well"].tolist() == ["A/2", "A/10", "B/1"]  # not string order (A/10 < A/2)
    a2, a10, b1 = summary.to_dict("records")
    assert (a2["cells"], a2["fields"], a2["empty_fields"], a2["failed_fields"]) == (3, 2, 1, 0)
    assert (a10["cells"], a10["fields"], a10["empty_fields"], a10["failed_fields"]) == (1, 2, 0, 1)
    assert (b1["cells"], b1["fields"]) == (1, 1)
    assert [a2[f"n_sarcomerisation_{c}"] for c in "1234"] == [1, 0, 1, 1]
    assert [a2[f"n_directionality_{c}"] for c in "1234"] == [1, 2, 0, 0]
    assert (a2["n_source_adult"], a2["n_source_neonatal"], a2["n_source_ipsc"]) == (2, 0, 1)


def test_mean_expected_rating_from_probabilities(cells):
    summary = well_summary(cells)
    a2 = summary.iloc[0]
    assert a2["mean_expected_sarcomerisation"] == pytest.approx((4 + 3 + 1) / 3)
    assert a2["mean_expected_directionality"] == pytest.approx((1 + 2 + 2) / 3)
    # soft probabilities: 0.5 x 3 + 0.5 x 4 = 3.5, not the hard rating 4
    soft = cells.copy()
    soft.loc[0, ["p_sarcomerisation_3", "p_sarcomerisation_4"]] = 0.5
    assert well_summary(soft).iloc[0]["mean_expected_sarcomerisation"] == pytest.approx((3.5 + 3 + 1) / 3)


def test_without_probabilities_the_ratings_count(cells):
    hard = cells.drop(columns=[c for c in cells.columns if c.startswith("p_")])
    summary = well_summary(hard)
    assert summary.iloc[0]["mean_expected_sarcomerisation"] == pytest.approx(8 / 3)


def test_source_shares_and_majority(cells):
    a2, a10, b1 = well_summary(cells).to_dict("records")
    assert (a2["share_adult"], a2["share_neonatal"], a2["share_ipsc"]) == pytest.approx((2 / 3, 0, 1 / 3))
    assert (a2["majority_source"], a10["majority_source"], b1["majority_source"]) == ("adult", "neonatal", "ipsc")
    tie = cells[cells["well"] == "A/2"].copy()
    tie.loc[0, "source"] = "ipsc"  # ipsc, adult, ipsc
    assert well_summary(tie).iloc[0]["majority_source"] == "ipsc"
    tie.loc[2, "source"] = "neonatal"  # ipsc, adult, neonatal: a tie, first in SOURCES order
    assert well_summary(tie).iloc[0]["majority_source"] == "adult"


def test_metric_median_and_quartiles(cells):
    a2 = well_summary(cells).iloc[0]
    # 0.1, 0.5, 0.9: median 0.5, linear quartiles 0.3 and 0.7
    assert (a2["organised_fraction_p25"], a2["organised_fraction_median"], a2["organised_fraction_p75"]) \
        == pytest.approx((0.3, 0.5, 0.7))
    # NaN skipped: 100 and 200
    assert (a2["area_um2_p25"], a2["area_um2_median"], a2["area_um2_p75"]) == pytest.approx((125, 150, 175))
    assert "sarcomere_length_um_median" not in a2  # only metrics the table has


def test_well_without_cells_has_zero_counts_and_nan_means():
    cells = planted_cells([("C/3", "0", None, "error: unreadable chunk", None, None, None, {}),
                           ("C/4", "0", None, "no cells", None, None, None, {})])
    summary = well_summary(cells)
    assert summary["cells"].tolist() == [0, 0]
    assert summary["failed_fields"].tolist() == [1, 0]
    assert summary["mean_expected_sarcomerisation"].isna().all()
    assert summary["majority_source"].tolist() == ["", ""]


def test_read_back_csv_gives_the_same_summary(cells, tmp_path):
    path = tmp_path / "ratings.csv"
    cells.to_csv(path, index=False)
    back = pd.read_csv(path)  # field and ratings come back as numbers, blanks as NaN
    assert back["field"].dtype.kind in "if"
    pd.testing.assert_frame_equal(well_summary(back), well_summary(cells))


def test_flagged_cells_counted_when_present(cells):
    flagged = cells.assign(ood=[True, False, True, None, "False", None, "True"],
                           saturated=[False, "True", True, None, True, None, False])
    summary = well_summary(flagged)
    assert summary["ood_cells"].tolist() == [2, 0, 1]
    assert summary["saturated_cells"].tolist() == [2, 1, 0]
    assert "ood_cells" not in well_summary(cells).columns and "saturated_cells" not in well_summary(cells).columns


@pytest.mark.parametrize(("change", "match"), [
    (lambda c: c.drop(columns="status"), "status"),
    (lambda c: c.assign(well="A1"), "well"),
    (lambda c: c.assign(sarcomerisation="5"), "sarcomerisation"),
])
def test_bad_tables_are_refused(cells, change, match):
    with pytest.raises(ValueError, match=match):
        well_summary(change(cells))


def test_not_a_table_is_refused():
    with pytest.raises(TypeError, match="DataFrame"):
        well_summary([{"plate": "P1"}])


def test_gallery_takes_the_most_confident_cells_per_class(cells):
    soft = cells.copy()
    # cells rated 2 for sarcomerisation: A/10 label 1 (p 0.6) and B/1 label 5 (p 0.9)
    soft.loc[4, ["p_sarcomerisation_2", "p_sarcomerisation_1"]] = (0.6, 0.4)
    soft.loc[6, ["p_sarcomerisation_2", "p_sarcomerisation_3"]] = (0.9, 0.1)
    picks = gallery_cells(soft, per_class=1)
    two = picks[(picks["task"] == "sarcomerisation") & (picks["class"] == "2")]
    assert two[["well", "label"]].values.tolist() == [["B/1", 5]]
    both = gallery_cells(soft, per_class=5)
    two = both[(both["task"] == "sarcomerisation") & (both["class"] == "2")]
    assert two["label"].tolist() == [5, 1] and two["probability"].tolist() == pytest.approx([0.9, 0.6])
    # with room for all: every rated cell once per task, each under the class it was rated
    assert len(both) == 5 * 3
    for row in both.to_dict("records"):
        rated = soft.loc[(soft["well"] == row["well"]) & (soft["label"] == row["label"]), row["task"]]
        assert rated.item() == row["class"]
    with pytest.raises(ValueError, match="per_class"):
        gallery_cells(cells, per_class=0)
