"""Write a table as AnnData on zarr v3 (anndata's on-disk encoding), as plain files.

anndata's own ``write_zarr`` makes about a thousand zarr calls for a one-row table with ten
string columns: ~1 core-second per field, several times the cost of reading and
decompressing the 130 MB SIM field the table describes. The encoding of the few element types
a cell table holds is small and fixed (anndata's "on-disk format": ``anndata``, ``dataframe``,
``categorical``, ``nullable-integer``, ``nullable-boolean``, ``string-array``, ``array``,
``dict``), so it is written here directly, one ``zarr.json`` and at most one chunk per node,
with the codecs zarr itself uses (``numcodecs``) and chunk keys ``c.0`` (no ``c/`` folder).
Reading stays with ``anndata.read_zarr`` (and ngio), which the tests use as the judge of every
file written here.
"""

import json
from pathlib import Path

import numcodecs
import numpy as np
import pandas as pd

__all__ = ["write_anndata"]

_ZSTD = {"name": "zstd", "configuration": {"level": 0, "checksum": False}}
_COMPRESS = numcodecs.Zstd(level=0)
_VLEN_UTF8 = numcodecs.VLenUTF8()
_EMPTY_DICT = {"encoding-type": "dict", "encoding-version": "0.1.0"}


def _write_json(folder: Path, meta: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "zarr.json", "w", encoding="utf-8") as fh:
        fh.write(json.dumps(meta))  # no indent: json's C encoder (~40 of these per field)


def _group(folder: Path, attributes: dict) -> None:
    _write_json(folder, {"zarr_format": 3, "node_type": "group", "attributes": attributes})


def _array(folder: Path, values: np.ndarray, encoding: str = "array") -> None:
    """One zarr v3 array in a single chunk (none when it has no elements)."""
    if values.dtype == object:  # str
        data_type, fill, codecs = "string", "", [{"name": "vlen-utf8", "configuration": {}}]
        payload = _VLEN_UTF8.encode(values)
    else:
        values = values.astype(values.dtype.newbyteorder("<"), copy=False)
        data_type, fill = values.dtype.name, values.dtype.type(0).item()
        codecs = [{"name": "bytes", "configuration": {"endian": "little"}} if values.dtype.itemsize > 1
                  else {"name": "bytes"}]
        payload = np.ascontiguousarray(values).tobytes()
    _write_json(folder, {
        "zarr_format": 3, "node_type": "array", "shape": list(values.shape), "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [max(1, n) for n in values.shape]}},
        # "c.0", not "c/0": one directory fewer per array to make (and to delete on a rerun)
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}},
        "fill_value": fill, "codecs": [*codecs, _ZSTD],
        "attributes": {"encoding-type": encoding, "encoding-version": "0.2.0"}, "storage_transformers": [],
    })
    if values.size:
        (folder / ".".join(["c"] + ["0"] * values.ndim)).write_bytes(_COMPRESS.encode(payload))


def _strings(values) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object)


def _column(folder: Path, values) -> None:
    """One obs column: a categorical, a nullable int/bool (values and mask) or a plain array."""
    if isinstance(values, pd.Categorical):
        _group(folder, {"ordered": bool(values.ordered), "encoding-type": "categorical", "encoding-version": "0.2.0"})
        _array(folder / "codes", np.asarray(values.codes))
        _array(folder / "categories", _strings(values.categories), "string-array")
    elif isinstance(values, (pd.arrays.BooleanArray, pd.arrays.IntegerArray)):
        kind = "nullable-boolean" if isinstance(values, pd.arrays.BooleanArray) else "nullable-integer"
        _group(folder, {"encoding-type": kind, "encoding-version": "0.1.0"})
        _array(folder / "values", values.to_numpy(dtype=values.dtype.numpy_dtype, na_value=0))
        _array(folder / "mask", np.asarray(values.isna(), dtype=bool))
    else:
        _array(folder, np.asarray(values))


def _dataframe(folder: Path, index, columns: dict) -> None:
    _group(folder, {"column-order": list(columns), "_index": "_index", "encoding-type": "dataframe",
                    "encoding-version": "0.2.0"})
    _array(folder / "_index", _strings(index), "string-array")
    for name, values in columns.items():
        _column(folder / name, values)


def write_anndata(folder: Path, *, obs_names, obs: dict, x: np.ndarray, var_names, attributes: dict) -> None:
    """Write an AnnData of `x` and `obs` into the new directory `folder` (zarr v3).

    Parameters
    ----------
    folder : Path
        Directory to create (it must not hold a zarr node yet).
    obs_names : sequence of str
        One name per row (the index).
    obs : dict of str to array-like
        Columns in order: ``pandas.Categorical`` of str, pandas nullable ``Int*`` / ``boolean``
        arrays, or NumPy int / bool arrays; one value per row.
    x : (n_obs, n_vars) ndarray of float64
        The measurements.
    var_names : sequence of str
        One name per column of `x`.
    attributes : dict
        Further attributes of the root group (beside anndata's own encoding attributes).
    """
    folder = Path(folder)
    _group(folder, {"encoding-type": "anndata", "encoding-version": "0.1.0", **attributes})
    _array(folder / "X", np.asarray(x, dtype=np.float64).reshape(len(obs_names), len(var_names)))
    _dataframe(folder / "obs", obs_names, obs)
    _dataframe(folder / "var", var_names, {})
    for name in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
        _group(folder / name, _EMPTY_DICT)
