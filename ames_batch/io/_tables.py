"""Per-cell tables inside the plate: Fractal/ngio feature tables (v1) in the AnnData zarr backend.

A field's table sits at ``A/1/0/tables/<name>`` and annotates the label image named by its
``region.path`` (``../labels/cells``), one row per label value; the plate's table sits at
``<plate>/tables/<name>`` and holds every cell of the plate with ``row``, ``column`` and
``path_in_well``, as ngio's ``concatenate_image_tables`` builds it. Each ``tables`` group lists
its tables in a ``tables`` attribute. The table group is AnnData on zarr v3 (``backend:
anndata_v1``, ngio's default): float columns in ``X``, every other column in ``obs`` with its own
dtype (int, bool, nullable int/bool, strings as categoricals), the index as ``obs`` names. It is
written by ``_anndata.write_anndata`` (anndata's encoding, without its per-node cost) and read by
``anndata.read_zarr``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import _multiscale as ms
from ._anndata import write_anndata
from ._fields import _field_dir
from ._labels import _check_name
from ._plate import (FieldKey, _check_key, _metadata_lock, _move_into_place, _plate_attrs, _read_attrs,
                     _write_group_attrs)

__all__ = ["list_tables", "read_cell_table", "read_plate_table", "write_cell_table", "write_plate_table"]

TABLES = "tables"
BACKEND = "anndata_v1"  # ngio's default table backend
PLATE_INDEX = "cell"  # "<row>_<column>_<path_in_well>_<label>", ngio's concatenated index


def _column_kind(column: pd.Series) -> str:
    """'float' (goes to X), 'str' (categorical obs) or 'obs' (an obs column in its own dtype)."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return "obs"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    inferred = pd.api.types.infer_dtype(column, skipna=True)
    if inferred in ("string", "empty"):
        return "str"
    raise TypeError(
        f"`table` column {column.name!r} must hold numbers, bools or strings (None/NaN for missing); "
        f"got {inferred} values"
    )


def _normalise(table: pd.DataFrame) -> pd.DataFrame:
    """Object columns of bools or ints with None become nullable dtypes; floats with None stay float,
    and so does a column of None only (a number missing in every row, e.g. a one-cell field's
    undefined metric: its type must not depend on the field)."""
    out = table.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype == object:
            inferred = pd.api.types.infer_dtype(column, skipna=True)
            if inferred == "boolean":
                out[name] = column.astype("boolean")
            elif inferred == "integer":
                out[name] = column.astype("Int64")
            elif inferred in ("floating", "mixed-integer-float", "empty"):  # no value at all: a missing number
                out[name] = column.astype(np.float64)
    return out


def _anndata_columns(table: pd.DataFrame) -> tuple[dict, list[str], dict]:
    """`table` as AnnData parts: obs columns (strings as categoricals), the float column names
    (they go to X, float64) and each column's kind."""
    kinds = {name: _column_kind(table[name]) for name in table.columns}
    obs = {}
    for name, kind in kinds.items():
        if kind == "str":
            values = table[name].to_numpy(dtype=object)
            present = pd.notna(values)
            obs[name] = pd.Categorical(np.where(present, values, None), categories=sorted(set(values[present])))
        elif kind == "obs":
            obs[name] = table[name].array
    return obs, [n for n, k in kinds.items() if k == "float"], kinds


def _check_table(table, index_name: str) -> pd.DataFrame:
    """`table` with its index named `index_name`, column names checked, object columns normalised."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"`table` must be a pandas.DataFrame; got {type(table).__name__}")
    if index_name in table.columns:
        table = table.set_index(index_name)
    elif table.empty and table.index.name is None:  # no cells: pd.DataFrame([]) is a valid table
        table = table.set_axis(pd.Index([], dtype=np.int64, name=index_name))
    if table.index.name != index_name:
        raise ValueError(f"`table` needs a {index_name!r} column or index; got index {table.index.name!r}")
    if not table.index.is_unique:
        raise ValueError(f"`table` index {index_name!r} repeats values")
    if not all(isinstance(c, str) and c for c in table.columns) or not table.columns.is_unique:
        raise ValueError(f"`table` column names must be unique non-empty strings; got {list(table.columns)}")
    return _normalise(table)


def _store_table(plate: Path, tables_dir: Path, name: str, table: pd.DataFrame, meta: dict,
                 *, stale: Path | None = None) -> None:
    """Write `table` as AnnData into a hidden temporary group, then move it into place and list it.

    The table `name` in the tables group `stale` (one built from the old table) is removed in the
    same locked step.
    """
    obs, floats, kinds = _anndata_columns(table)
    final = tables_dir / name
    tmp = ms.temp_dir_for(final)
    try:
        tables_dir.mkdir(parents=True, exist_ok=True)
        write_anndata(tmp, obs_names=[str(v) for v in table.index], obs=obs,
                      x=table[floats].to_numpy(dtype=np.float64), var_names=floats, attributes={
                          **meta,
                          "backend": BACKEND,
                          "measurement_columns": floats,
                          "categorical_columns": [n for n, k in kinds.items() if k == "str"],
                          "metadata_columns": [n for n, k in kinds.items() if k == "obs"],
                          "ames": {"columns": list(table.columns)},
                      })
    except BaseException:
        ms.discard(tmp)
        raise
    with _metadata_lock(plate):
        _move_into_place(tmp, final)
        names = _listed(tables_dir)
        if name not in names:
            _write_group_attrs(tables_dir, {"tables": [*names, name]})
        if stale is not None:
            _remove_table(stale, name)


def _listed(tables_dir: Path) -> list[str]:
    """Table names in the ``tables`` attribute of a tables group ([] if there is none)."""
    if not (tables_dir / "zarr.json").is_file():
        return []
    return list(_read_attrs(tables_dir).get("tables", []))


def _remove_table(tables_dir: Path, name: str) -> None:
    """Unlist and delete one table (caller holds the metadata lock); renamed aside first."""
    names = _listed(tables_dir)
    if name in names:
        _write_group_attrs(tables_dir, {"tables": [n for n in names if n != name]})
    final = tables_dir / name
    if final.is_dir():
        trash = ms.temp_dir_for(final)
        final.rename(trash)
        ms.discard(trash)


def _drop_region_tables(plate: Path, field_dir: Path, region: str) -> None:
    """Remove the field's tables that annotate label image `region`, and the plate tables of those names.

    Called under the metadata lock by whoever replaces that label image: a table never outlives
    the labels it describes, and a plate table is built from field tables.
    """
    tables_dir = field_dir / TABLES
    for name in _listed(tables_dir):
        group = tables_dir / name
        if not (group / "zarr.json").is_file():
            continue
        if _read_attrs(group).get("region", {}).get("path") == f"../labels/{region}":
            _remove_table(tables_dir, name)
            _remove_table(plate / TABLES, name)


def _drop_plate_tables(plate: Path) -> None:
    """Remove every plate-level table (caller holds the metadata lock): a field was replaced."""
    for name in _listed(Path(plate) / TABLES):
        _remove_table(Path(plate) / TABLES, name)


def _read_table(group_dir: Path, index_name: str, index_type: type) -> pd.DataFrame:
    import anndata as ad

    attrs = _read_attrs(group_dir)
    adata = ad.read_zarr(str(group_dir))
    index = pd.Index(np.asarray(adata.obs_names, dtype=object).astype(index_type), name=index_name)
    columns: dict[str, object] = {}
    x = np.asarray(adata.X, dtype=np.float64).reshape(adata.n_obs, adata.n_vars)
    for i, name in enumerate(adata.var_names):
        columns[str(name)] = x[:, i]
    for name in adata.obs.columns:
        values = adata.obs[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object).where(values.notna(), None)
        columns[str(name)] = values.to_numpy() if values.dtype == object else values.array
    order = attrs.get("ames", {}).get("columns", list(columns))
    return pd.DataFrame({n: columns[n] for n in order}, index=index)


def list_tables(plate: Path, key: FieldKey | None = None) -> list[str]:
    """Names of the complete tables of a field (or of the plate, `key` None), as listed.

    Raises
    ------
    NotAPlateError, KeyError
        If the plate or field is missing.
    """
    plate = Path(plate)
    if key is None:
        _plate_attrs(plate)
    tables_dir = (plate if key is None else _field_dir(plate, key)) / TABLES
    return [n for n in _listed(tables_dir) if (tables_dir / n / "zarr.json").is_file()]


def write_cell_table(
    plate: Path, key: FieldKey, table: pd.DataFrame, *, name: str = "cells", region: str = "cells"
) -> None:
    """Write a field's per-cell table (a feature table v1 on label image `region`), atomically.

    Parameters
    ----------
    plate : Path
        Plate directory.
    key : FieldKey
        An existing field.
    table : pandas.DataFrame
        One row per cell: a ``label`` column or index (int >= 1, the label value in `region`),
        other columns float, int, bool or str; None/NaN for missing values (object columns of
        bools or ints with None become pandas ``boolean`` / ``Int64``; a column of None only is a
        float column of NaN). A field without cells
        takes an empty frame (``pd.DataFrame([])``): ngio's plate-wide concatenation needs the
        table in every field.
    name : str
        Table name: stored at ``<field>/tables/<name>``.
    region : str
        The label image the rows annotate; it must exist (``region.path`` =
        ``../labels/<region>``).

    Raises
    ------
    TypeError
        If `table` is not a DataFrame or a column holds other values (lists, dicts, mixed).
    ValueError
        If the labels are missing, repeated or < 1, column names are not unique strings, or the
        field has no label image `region`.
    NotAPlateError, KeyError
        If the plate or field is missing.

    Notes
    -----
    Written to ``tables/.<name>.tmp-<uuid>`` and renamed into place when complete; an old table
    of that name stays until then. Writing a field table removes the plate table of the same
    name (it was built from the old one); ``write_plate_table`` writes it anew. ngio reads it as
    ``open_ome_zarr_container(field).get_table(name)`` (a ``FeatureTableV1``).
    """
    _check_name(name)
    _check_name(region, "region")
    table = _check_table(table, "label")
    labels = pd.to_numeric(pd.Series(table.index), errors="coerce")
    if labels.isna().any() or (labels < 1).any() or (labels != labels.round()).any():
        raise ValueError(f"`table` labels must be integers >= 1 (0 is background); got {list(table.index)[:5]}")
    table.index = pd.Index(labels.astype(np.int64), name="label")
    plate = Path(plate)
    field_dir = _field_dir(plate, key)
    if not (field_dir / "labels" / region / "zarr.json").is_file():
        raise ValueError(f"{plate}: field {key.path} has no label image {region!r}; write the labels first")
    meta = {"type": "feature_table", "table_version": "1", "region": {"path": f"../labels/{region}"},
            "instance_key": "label", "index_key": "label", "index_type": "int"}
    _store_table(plate, field_dir / TABLES, name, table, meta, stale=plate / TABLES)


def read_cell_table(plate: Path, key: FieldKey, name: str = "cells") -> pd.DataFrame:
    """Read a field's per-cell table.

    Returns
    -------
    table : pandas.DataFrame
        Index ``label`` (int64); columns in the order written: floats as float64, ints, bools and
        nullable ints/bools in their dtype, strings as object with None for missing.

    Raises
    ------
    NotAPlateError, KeyError
        If the plate, field or table is missing.
    """
    _check_name(name)
    present = list_tables(plate, key)
    if name not in present:
        raise KeyError(f"{plate}: field {key.path} has no table {name!r}; it has {present}")
    return _read_table(_field_dir(plate, key) / TABLES / name, "label", np.int64)


def write_plate_table(plate: Path, table: pd.DataFrame, *, name: str = "cells") -> None:
    """Write the plate's table of all cells (``<plate>/tables/<name>``), atomically.

    Parameters
    ----------
    plate : Path
        Plate directory.
    table : pandas.DataFrame
        One row per cell with ``well`` (``"A/1"``), ``field`` (``"0"``) and ``label`` columns,
        e.g. the run's CSV rows; other columns as in `write_cell_table`.
    name : str
        Table name.

    Raises
    ------
    TypeError, ValueError
        As `write_cell_table`, or if ``well``/``field``/``label`` are missing or a
        (well, field, label) repeats.
    NotAPlateError
        If `plate` is not a plate.

    Notes
    -----
    Adds ``row``, ``column`` and ``path_in_well`` columns and the index ``cell`` =
    ``"<row>_<column>_<path_in_well>_<label>"``, the columns and index ngio's
    ``OmeZarrPlate.concatenate_image_tables(name, index_key="cell")`` makes; type
    ``feature_table`` without a region (it spans fields). ngio reads it as
    ``open_ome_zarr_plate(plate).get_table(name)``.
    """
    _check_name(name)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"`table` must be a pandas.DataFrame; got {type(table).__name__}")
    missing = [c for c in ("well", "field", "label") if c not in table.columns]
    if missing and table.empty:  # a plate without cells: pd.DataFrame([])
        table = table.assign(**{c: pd.Series(dtype=np.int64 if c == "label" else object) for c in missing})
    elif missing:
        raise ValueError(f"`table` needs columns 'well', 'field', 'label'; missing {missing}")
    plate = Path(plate)
    _plate_attrs(plate)
    keys = [_check_key(FieldKey(str(w), str(f))) for w, f in zip(table["well"], table["field"])]
    placed = table.assign(row=[k.row for k in keys], column=[k.column for k in keys],
                          path_in_well=[k.field for k in keys])
    placed.index = pd.Index([f"{k.row}_{k.column}_{k.field}_{label}" for k, label in zip(keys, table["label"])],
                            name=PLATE_INDEX)
    placed = _check_table(placed, PLATE_INDEX)
    meta = {"type": "feature_table", "table_version": "1", "instance_key": PLATE_INDEX,
            "index_key": PLATE_INDEX, "index_type": "str"}
    _store_table(plate, plate / TABLES, name, placed, meta)


def read_plate_table(plate: Path, name: str = "cells") -> pd.DataFrame:
    """Read the plate's table of all cells: index ``cell`` (str), columns as written plus row/column/path_in_well.

    Raises
    ------
    NotAPlateError, KeyError
        If the plate or table is missing.
    """
    _check_name(name)
    present = list_tables(plate)
    if name not in present:
        raise KeyError(f"{plate}: the plate has no table {name!r}; it has {present}")
    return _read_table(Path(plate) / TABLES / name, PLATE_INDEX, str)
