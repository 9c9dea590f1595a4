"""Per-cell tables inside the plate: written by us, read by ngio (Fractal's table library)."""

import json
import shutil

import ngio
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from ngio.tables import FeatureTable
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

from ames_batch.io import (
    FieldKey,
    list_tables,
    read_cell_table,
    read_plate_table,
    validate_plate,
    write_cell_table,
    write_field,
    write_labels,
    write_plate_table,
)

SCALE = {"z": 0.125, "y": 0.04, "x": 0.04}
KEYS = [FieldKey("A/1", "0"), FieldKey("A/1", "1"), FieldKey("B/3", "0")]


def cell_rows(key: FieldKey, labels) -> list[dict]:
    """Rows as a run writes them: ints, floats (None when not finite), class names, bools, None."""
    rows = []
    for i, label in enumerate(labels):
        rows.append({
            "label": label,
            "centroid_y_um": 0.04 * (3 * label + 0.5),
            "sarcomerisation": ["1", "2", "3", "4"][i % 4],
            "p_sarcomerisation_1": 1 / (label + 2),
            "directionality": None if i == 1 else "4",
            "source": ["adult", "neonatal", "ipsc"][i % 3],
            "sarcomere_length_um": None if i == 0 else 1.8 + 0.01 * label,
            "n_zdiscs": 10 * label,
            "organised": i % 2 == 0,
            "model": "metrics-baseline",
            "status": "ok",
        })
    return rows


def planted_mask(labels, shape=(32, 40)) -> np.ndarray:
    mask = np.zeros(shape, np.uint32)
    for i, label in enumerate(labels):
        mask[2 + 6 * i: 6 + 6 * i, 3:20] = label
    return mask


@pytest.fixture
def plate(tmp_path):
    plate = tmp_path / "p.ome.zarr"
    rng = np.random.default_rng(3)
    for key in KEYS:
        img = xr.DataArray(rng.integers(0, 4096, (1, 2, 32, 40), dtype=np.uint16), dims=("c", "z", "y", "x"),
                           coords={"c": ["actinin"]}, attrs={"scale_um": dict(SCALE)})
        write_field(plate, key, img)
    return plate


LABELS = {KEYS[0]: [1, 2, 5], KEYS[1]: [3], KEYS[2]: [1, 4]}


def write_all(plate) -> dict:
    rows = {}
    for key, labels in LABELS.items():
        write_labels(plate, key, "cells", planted_mask(labels))
        rows[key] = cell_rows(key, labels)
        write_cell_table(plate, key, pd.DataFrame(rows[key]))
    run = [{"well": key.well, "field": key.field, **r} for key, rs in rows.items() for r in rs]
    write_plate_table(plate, pd.DataFrame(run))
    return rows


def same(a, b) -> bool:
    """Equal values, None and NaN both meaning missing; bools stay bools, numbers exact."""
    if b is None or (isinstance(b, float) and np.isnan(b)):
        return a is None or a is pd.NA or (isinstance(a, float) and np.isnan(a))
    if isinstance(b, bool):
        return isinstance(a, (bool, np.bool_)) and bool(a) == b
    if isinstance(b, str):
        return isinstance(a, str) and a == b
    return not isinstance(a, (bool, np.bool_, str)) and float(a) == float(b)


def assert_rows(frame: pd.DataFrame, rows: list[dict], index_of) -> None:
    assert len(frame) == len(rows)
    for row in rows:
        got = frame.loc[index_of(row)]
        for column, value in row.items():
            if column == frame.index.name:
                continue
            assert same(got[column], value), (index_of(row), column, got[column], value)


def test_ngio_reads_every_field_table_and_the_plate_table(plate):
    rows = write_all(plate)
    ngio_plate = ngio.open_ome_zarr_plate(str(plate), mode="r")
    for key, field_rows in rows.items():
        image = ngio_plate.get_image(key.row, key.column, key.field)
        assert image.list_tables() == ["cells"]
        table = image.get_table("cells")
        assert isinstance(table, FeatureTable)
        assert table.reference_label == "cells"
        assert table.meta.index_key == "label"
        frame = table.dataframe
        assert frame.index.name == "label" and sorted(frame.index) == sorted(LABELS[key])
        assert set(frame.columns) == set(field_rows[0]) - {"label"}
        assert_rows(frame, field_rows, lambda r: r["label"])

    assert ngio_plate.list_tables() == ["cells"]
    plate_table = ngio_plate.get_table("cells").dataframe
    every = [{"well": k.well, "field": k.field, "row": k.row, "column": k.column, "path_in_well": k.field, **r}
             for k, rs in rows.items() for r in rs]
    assert_rows(plate_table, every, lambda r: f"{r['row']}_{r['column']}_{r['path_in_well']}_{r['label']}")


def test_plate_table_matches_ngios_own_concatenation(plate):
    write_all(plate)
    ngio_plate = ngio.open_ome_zarr_plate(str(plate), mode="r")
    concatenated = ngio_plate.concatenate_image_tables("cells", index_key="cell", max_workers=1).dataframe
    ours = read_plate_table(plate)
    assert sorted(ours.index) == sorted(concatenated.index)
    for column in ("row", "column", "path_in_well", "label"):
        assert [str(v) for v in ours.loc[concatenated.index, column]] == [str(v) for v in concatenated[column]]


def test_read_cell_table_gives_back_the_frame_written(plate):
    write_all(plate)
    for key, labels in LABELS.items():
        expected = pd.DataFrame(cell_rows(key, labels)).set_index("label")
        # a number missing in every row of a field is still a number (field 1's one cell has no length)
        expected["sarcomere_length_um"] = expected["sarcomere_length_um"].astype(np.float64)
        pd.testing.assert_frame_equal(read_cell_table(plate, key), expected)


def test_a_column_missing_in_every_row_keeps_the_type_it_has_elsewhere(plate):
    """A one-cell field whose metric is undefined: its table's column is float like every other field's
    (it was a categorical of no categories, so ngio's plate-wide concatenation mixed types)."""
    write_all(plate)
    ngio_plate = ngio.open_ome_zarr_plate(str(plate), mode="r")
    dtypes = {key: ngio_plate.get_image(key.row, key.column, key.field).get_table("cells")
              .dataframe["sarcomere_length_um"].dtype for key in KEYS}
    assert all(np.issubdtype(d, np.floating) for d in dtypes.values()), dtypes
    assert np.isnan(read_cell_table(plate, KEYS[1])["sarcomere_length_um"]).all()
    run = pd.DataFrame([{"well": k.well, "field": k.field, **r} for k, ls in LABELS.items() for r in cell_rows(k, ls)])
    out = read_plate_table(plate)
    assert list(out.columns) == [*run.columns, "row", "column", "path_in_well"]
    pd.testing.assert_frame_equal(out[list(run.columns)].reset_index(drop=True), run)


def test_feature_table_metadata_is_fractals(plate):
    write_all(plate)
    field = plate / "A/1/0/tables"
    assert json.loads((field / "zarr.json").read_text())["attributes"] == {"tables": ["cells"]}
    attrs = json.loads((field / "cells/zarr.json").read_text())["attributes"]
    assert attrs["type"] == "feature_table" and attrs["table_version"] == "1"
    assert attrs["region"] == {"path": "../labels/cells"}
    assert attrs["index_key"] == attrs["instance_key"] == "label" and attrs["index_type"] == "int"
    assert attrs["backend"] == "anndata_v1" and attrs["encoding-type"] == "anndata"
    assert "sarcomere_length_um" in attrs["measurement_columns"] and "source" in attrs["categorical_columns"]
    assert not (field / "cells" / "raw").exists()
    validate_plate(plate)  # tables beside labels and at the plate root keep the plate valid


def test_rewrite_shrinks_the_table(plate):
    key = KEYS[0]
    write_labels(plate, key, "cells", planted_mask([1, 2, 5]))
    write_cell_table(plate, key, pd.DataFrame(cell_rows(key, [1, 2, 5])))
    write_cell_table(plate, key, pd.DataFrame(cell_rows(key, [2])))
    assert list(read_cell_table(plate, key).index) == [2]
    frame = ngio.open_ome_zarr_container(str(plate / key.path), mode="r").get_table("cells").dataframe
    assert list(frame.index) == [2]
    assert sorted(p.name for p in (plate / key.path / "tables").iterdir()) == ["cells", "zarr.json"]


def test_killed_write_leaves_a_hidden_group_that_nobody_reads(plate):
    key = KEYS[0]
    write_labels(plate, key, "cells", planted_mask([1, 2, 5]))
    write_cell_table(plate, key, pd.DataFrame(cell_rows(key, [1, 2, 5])))
    tables = plate / key.path / "tables"
    # what a writer killed inside anndata's write leaves: a half AnnData group beside the table
    dead = tables / ".cells.tmp-0123456789abcdef"
    shutil.copytree(tables / "cells", dead)
    shutil.rmtree(dead / "obs")
    assert list(read_cell_table(plate, key).index) == [1, 2, 5]
    assert list_tables(plate, key) == ["cells"]
    assert ngio.open_ome_zarr_container(str(plate / key.path), mode="r").list_tables() == ["cells"]
    validate_plate(plate)
    write_cell_table(plate, key, pd.DataFrame(cell_rows(key, [5])))
    assert list(read_cell_table(plate, key).index) == [5]
    assert dead.is_dir()  # left for the user, never listed or read


def test_new_labels_drop_the_tables_of_the_old_ones(plate):
    write_all(plate)
    key = KEYS[0]
    write_labels(plate, key, "nuclei", planted_mask([7]))
    write_cell_table(plate, key, pd.DataFrame(cell_rows(key, [7])), name="nuclei", region="nuclei")
    write_labels(plate, key, "cells", planted_mask([9]))
    assert list_tables(plate, key) == ["nuclei"]  # the cells table described labels that are gone
    assert list_tables(plate) == []  # the plate table was built from it
    assert list_tables(plate, KEYS[1]) == ["cells"]
    assert sorted(p.name for p in (plate / key.path / "tables").iterdir()) == ["nuclei", "zarr.json"]
    ngio_plate = ngio.open_ome_zarr_plate(str(plate), mode="r")
    assert ngio_plate.get_image(key.row, key.column, key.field).list_tables() == ["nuclei"]
    validate_plate(plate)


def test_a_new_field_table_drops_the_plate_table(plate):
    write_all(plate)
    write_cell_table(plate, KEYS[1], pd.DataFrame(cell_rows(KEYS[1], [3])))
    assert list_tables(plate) == []
    with pytest.raises(KeyError, match="no table 'cells'"):
        read_plate_table(plate)


def test_a_replaced_field_drops_the_plate_table(plate):
    """write_field over a rated field left the plate table with the old field's cells."""
    from ames_batch.io import read_field

    write_all(plate)
    write_field(plate, KEYS[0], read_field(plate, KEYS[0]).compute())
    assert list_tables(plate) == []


def test_plate_with_tables_still_opens_as_a_mosaic(plate):
    write_all(plate)
    node = list(Reader(parse_url(str(plate)))())[0]
    assert np.asarray(node.data[0]).shape == (1, 2, 64, 80)  # rows A, B x columns 1, 3 of 32 x 40 fields


@pytest.mark.parametrize(
    ("table", "kwargs", "exc", "match"),
    [
        ([{"label": 1}], {}, TypeError, "DataFrame"),
        (pd.DataFrame({"x": [1.0]}), {}, ValueError, "'label'"),
        (pd.DataFrame({"label": [0], "x": [1.0]}), {}, ValueError, ">= 1"),
        (pd.DataFrame({"label": [1, 1], "x": [1.0, 2.0]}), {}, ValueError, "repeats"),
        (pd.DataFrame({"label": [1], "x": [[1, 2]]}), {}, TypeError, "'x'"),
        (pd.DataFrame({"label": [1], "x": [1.0]}), {"region": "nuclei"}, ValueError, "no label image 'nuclei'"),
        (pd.DataFrame({"label": [1], "x": [1.0]}), {"name": "../evil"}, ValueError, "name"),
    ],
)
def test_write_cell_table_rejects_bad_input(plate, table, kwargs, exc, match):
    write_labels(plate, KEYS[0], "cells", planted_mask([1]))
    with pytest.raises(exc, match=match):
        write_cell_table(plate, KEYS[0], table, **kwargs)
    assert list_tables(plate, KEYS[0]) == []


def test_plate_table_needs_well_field_label(plate):
    write_plate_table(plate, pd.DataFrame([]))  # a plate without cells
    assert len(read_plate_table(plate)) == 0 and ngio.open_ome_zarr_plate(str(plate)).list_tables() == ["cells"]
    with pytest.raises(ValueError, match="missing \\['field'\\]"):
        write_plate_table(plate, pd.DataFrame({"well": ["A/1"], "label": [1]}))
    with pytest.raises(ValueError, match="A/1"):
        write_plate_table(plate, pd.DataFrame({"well": ["A1"], "field": ["0"], "label": [1]}))
    with pytest.raises(KeyError, match="no field A/9/0"):
        write_cell_table(plate, FieldKey("A/9", "0"), pd.DataFrame({"label": [1]}))


def test_a_field_without_cells_has_an_empty_table_that_ngio_concatenates(plate):
    write_all(plate)
    empty = KEYS[1]
    write_labels(plate, empty, "cells", np.zeros((32, 40), np.uint32))
    write_cell_table(plate, empty, pd.DataFrame([]))
    assert read_cell_table(plate, empty).shape == (0, 0)
    ngio_plate = ngio.open_ome_zarr_plate(str(plate), mode="r")
    concatenated = ngio_plate.concatenate_image_tables("cells", index_key="cell", max_workers=1).dataframe
    assert sorted(concatenated.index) == sorted(f"{k.row}_{k.column}_{k.field}_{label}"
                                               for k, labels in LABELS.items() if k != empty for label in labels)
