"""Our AnnData files, judged by anndata: read back as what anndata wrote reads back, each node
encoded as anndata's own writer encodes it."""

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import zarr

from ames_batch.io._anndata import write_anndata


def parts(n: int) -> dict:
    """Every element type a cell table holds, with missing values, unicode and many categories."""
    rng = np.random.default_rng(n)
    names = [f"c{i}" for i in range(200)]
    return {
        "obs_names": [str(10 * i + 1) for i in range(n)],
        "obs": {
            "well": pd.Categorical(["A/1", None, "B/12"] * (n // 3) + ["A/1"] * (n % 3), categories=["A/1", "B/12"]),
            "many": pd.Categorical([names[i % 200] for i in range(n)], categories=names),  # int16 codes
            "µ-label": pd.Categorical(["α-actinin"] * n, categories=["α-actinin"]),
            "n": np.arange(n, dtype=np.int64) * 7,
            "small": np.arange(n, dtype=np.int32),
            "ok": np.arange(n) % 2 == 0,
            "count": pd.array([None if i % 4 == 1 else i for i in range(n)], dtype="Int64"),
            "flag": pd.array([None if i % 3 == 2 else i % 2 == 0 for i in range(n)], dtype="boolean"),
        },
        "x": rng.normal(size=(n, 3)).astype(np.float64) * np.where(np.arange(n)[:, None] % 5 == 0, np.nan, 1),
        "var_names": ["centroid_y_um", "length_um", "p_source_ipsc"],
    }


def anndata_of(p: dict) -> ad.AnnData:
    obs = pd.DataFrame(p["obs"], index=pd.Index(p["obs_names"], dtype=object))
    return ad.AnnData(X=p["x"], obs=obs, var=pd.DataFrame(index=pd.Index(p["var_names"], dtype=object)))


@pytest.mark.parametrize("n", [0, 1, 7, 300])
def test_anndata_reads_back_what_was_written(tmp_path, n):
    p = parts(n)
    write_anndata(tmp_path / "t.zarr", attributes={"type": "feature_table"}, **p)
    anndata_of(p).write_zarr(tmp_path / "theirs.zarr")
    got, expected = ad.read_zarr(tmp_path / "t.zarr"), ad.read_zarr(tmp_path / "theirs.zarr")
    assert list(got.obs_names) == p["obs_names"] and list(got.var_names) == p["var_names"]
    np.testing.assert_array_equal(got.X, p["x"])
    pd.testing.assert_frame_equal(got.obs, expected.obs)
    pd.testing.assert_frame_equal(got.var, expected.var)
    assert zarr.open_group(tmp_path / "t.zarr", mode="r").attrs["type"] == "feature_table"


def _encodings(root) -> dict:
    """Path → (node type, data type, anndata encoding attributes) of every node under `root`."""
    out = {}
    for meta_path in sorted(root.rglob("zarr.json")):
        meta = json.loads(meta_path.read_text())
        rel = str(meta_path.parent.relative_to(root))
        if rel == "raw":  # anndata's placeholder for no raw data; ngio drops it
            continue
        attrs = meta.get("attributes", {})
        out[rel] = (meta["node_type"], meta.get("data_type"), meta.get("shape"),
                    {k: v for k, v in attrs.items() if k.startswith(("encoding", "column-order", "_index", "ordered"))})
    return out


def test_each_node_is_encoded_as_anndata_itself_encodes_it(tmp_path):
    p = parts(7)
    write_anndata(tmp_path / "ours.zarr", attributes={}, **p)
    anndata_of(p).write_zarr(tmp_path / "theirs.zarr")
    assert _encodings(tmp_path / "ours.zarr") == _encodings(tmp_path / "theirs.zarr")
