"""End-to-end tests of `run_plate` and `ames-batch run` on real plates and real Keras models."""

import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from ames_batch.errors import LockedError, NotAPlateError
from ames_batch.io import (FieldKey, field_attributes, list_fields, list_heatmaps, list_labels, plate_lock, read_cell_table,
                           read_field, read_heatmap, read_labels, read_plate_table, validate_plate, write_field)
from ames_batch.metrics import METRIC_NAMES
from ames_batch.nn import MetricsRater, MetricsRatingModel
from ames_batch.pipeline import run_plate

VOLATILE = ["run_timestamp", "plate"]  # when it ran, and the copy's folder name


def _stable(csv) -> pd.DataFrame:
    return pd.read_csv(csv).drop(columns=VOLATILE, errors="ignore")


def test_run_writes_labels_heatmaps_and_csv(demo_plate, small_bundle, tmp_path):
    report = run_plate(demo_plate, model=small_bundle, out_csv=tmp_path / "r.csv")
    assert not report.failed
    table = pd.read_csv(tmp_path / "r.csv")
    for key in list_fields(demo_plate):
        labels, properties = read_labels(demo_plate, key, "cells")
        ids = set(np.unique(labels.values)) - {0}
        rows = table[(table.well == key.well) & (table.field.astype(str) == key.field)]
        assert set(rows.label) == ids == {p["label-value"] for p in properties}
        for p in properties:
            assert p["sarcomerisation"] in "1234" and p["source"] in ("adult", "neonatal", "ipsc")
            probs = [p[f"p_source_{c}"] for c in ("adult", "neonatal", "ipsc")]
            assert sum(probs) == pytest.approx(1, abs=1e-4)
        heat = read_heatmap(demo_plate, key, "gradcam")
        assert list(heat.coords["c"].values) == ["sarcomerisation", "directionality", "source"]
        # Grad-CAM lies in [0, 1]: stored in 8 bits, read back as float32
        assert heat.dtype == np.float32 and heat.attrs["ames"]["encoding"]["value_range"] == [0.0, 1.0]
        assert zarr.open_array(demo_plate / key.path / "heatmaps" / "gradcam" / "0", mode="r").dtype == np.uint8
        # on a coarser grid than the labels (the model's), over the same field of view
        f = round(heat.attrs["scale_um"]["x"] / labels.attrs["scale_um"]["x"])
        assert f > 1 and heat.shape[1:] == tuple(n // f for n in labels.shape[1:])
        # Grad-CAM lives only inside the found cells: zero on every block of label pixels with no cell
        (ny, nx), cells = heat.shape[1:], labels.values.max(axis=0) > 0
        inside = cells[:ny * f, :nx * f].reshape(ny, f, nx, f).any(axis=(1, 3))
        assert float(np.abs(heat.values[:, ~inside]).max()) == 0.0 and heat.values[:, inside].max() > 0
    validate_plate(demo_plate)


def test_segmentation_finds_the_truth_cells(demo_plate, small_bundle, tmp_path):
    """The labels `run` writes lie over the demo's truth: every cell found is a true cell, and
    at most one touching pair of the plate's four cells is left unsplit (the segmentation splits
    touching pairs with recall ~0.9 on held-out plates, docs/segmentation.md)."""
    from ames_batch.segment import match_labels

    run_plate(demo_plate, model=small_bundle, explain=(), out_csv=tmp_path / "r.csv")
    matched = n_truth = 0
    for key in list_fields(demo_plate):
        found, _ = read_labels(demo_plate, key, "cells", on_field_grid=True)
        truth, _ = read_labels(demo_plate, key, "truth")
        match = match_labels(found.values[0], truth.values[0], iou_threshold=0.5)
        assert match.precision == 1.0 or match.n_predicted == 1, key  # an unsplit pair is one label
        matched, n_truth = matched + len(match.pairs), n_truth + match.n_truth
    assert n_truth == 4 and matched >= 3


def test_rerun_is_a_no_op_and_new_wells_are_rated(demo_plate, small_bundle, tmp_path):
    csv = tmp_path / "r.csv"
    run_plate(demo_plate, model=small_bundle, explain=(), out_csv=csv)
    first = pd.read_csv(csv)
    stamps = {k: field_attributes(demo_plate, k)["run"]["timestamp"] for k in list_fields(demo_plate)}
    again = run_plate(demo_plate, model=small_bundle, explain=(), out_csv=csv)
    assert {r.status for r in again.results} == {"skipped"}
    pd.testing.assert_frame_equal(pd.read_csv(csv), first)

    old = FieldKey("A/1", "0")
    write_field(demo_plate, FieldKey("C/1", "0"), read_field(demo_plate, old).compute())
    third = run_plate(demo_plate, model=small_bundle, explain=(), out_csv=csv)
    status = {r.key: r.status for r in third.results}
    assert status.pop(FieldKey("C/1", "0")) == "ok"
    assert set(status.values()) == {"skipped"}
    assert {k: field_attributes(demo_plate, k)["run"]["timestamp"] for k in stamps} == stamps
    table = pd.read_csv(csv)
    assert len(table[table.well == "C/1"]) == len(first[first.well == "A/1"])


def test_force_and_changed_settings_redo(demo_plate, small_bundle, tmp_path):
    run_plate(demo_plate, model=small_bundle, explain=(), out_csv=tmp_path / "r.csv")
    redo = run_plate(demo_plate, model=small_bundle, explain=("gradcam",), out_csv=tmp_path / "r.csv")
    assert {r.status for r in redo.results} == {"ok"}
    forced = run_plate(demo_plate, model=small_bundle, explain=("gradcam",), force=True, out_csv=tmp_path / "r.csv")
    assert {r.status for r in forced.results} == {"ok"}


def test_rerun_without_a_method_removes_its_stale_heatmap(demo_plate, small_bundle, tmp_path):
    run_plate(demo_plate, model=small_bundle, explain=("gradcam", "organised"), out_csv=tmp_path / "r.csv")
    key = list_fields(demo_plate)[0]
    assert list_heatmaps(demo_plate, key) == ["gradcam", "organised"]
    run_plate(demo_plate, model=small_bundle, explain=(), force=True, out_csv=tmp_path / "r.csv")
    assert list_heatmaps(demo_plate, key) == []  # it no longer belongs to the field's labels
    assert "cells" in list_labels(demo_plate, key)
    validate_plate(demo_plate)


def _metrics_model(folder, n=40):
    """A real fitted MetricsRatingModel (scikit-learn) on random but plausible metric rows."""
    rng = np.random.default_rng(2)
    rows = [{name: float(rng.uniform(0.1, 2.0)) for name in METRIC_NAMES} for _ in range(n)]
    ratings = {"sarcomerisation": [str(i % 4 + 1) for i in range(n)],
               "directionality": [str((i // 4) % 4 + 1) for i in range(n)],
               "source": [("adult", "neonatal", "ipsc")[i % 3] for i in range(n)]}
    model = MetricsRatingModel().fit(rows, ratings)
    MetricsRater(model).save(folder, name=folder.name, version="1", training={"data_fingerprint": "random",
                                                                              "split": {}})
    return model


def test_run_with_a_metrics_model(demo_plate, tmp_path):
    """`train --arch metrics` makes a model that `run` deploys: ratings from the CSV's own metrics."""
    model = _metrics_model(tmp_path / "metrics-v1")
    report = run_plate(demo_plate, model=tmp_path / "metrics-v1", out_csv=tmp_path / "r.csv")
    assert not report.failed and report.n_cells >= 2
    table = pd.read_csv(tmp_path / "r.csv", dtype={"sarcomerisation": str, "directionality": str})
    assert set(table.model) == {"metrics-v1"} and set(table.model_version.astype(str)) == {"1"}
    expected = model.predict(table[list(METRIC_NAMES)])  # the CSV's metrics are what it rated from
    for task in ("sarcomerisation", "directionality", "source"):
        assert list(table[task]) == list(expected[task])
        assert np.allclose(table.filter(like=f"p_{task}_").sum(axis=1), 1.0)
    for key in list_fields(demo_plate):
        assert list_heatmaps(demo_plate, key) == ["organised"]  # its default: no network to explain
        labels, properties = read_labels(demo_plate, key, "cells")
        assert {p["label-value"] for p in properties} == set(table[table.well == key.well].label)
        organised = read_heatmap(demo_plate, key, "organised").values[0]
        assert set(np.unique(organised)) <= {0.0, 1.0} and not organised[labels.values.max(axis=0) == 0].any()
        for p in properties:  # the map is what the CSV's organised fraction counted
            inside = labels.values.max(axis=0) == p["label-value"]
            assert organised[inside].mean() == pytest.approx(p["organised_fraction"], abs=1e-6)
    validate_plate(demo_plate)
    with pytest.raises(ValueError, match="makes no \\['gradcam'\\] heatmap.*--explain from \\['organised'\\]"):
        run_plate(demo_plate, model=tmp_path / "metrics-v1", explain=("gradcam",), out_csv=tmp_path / "r.csv")
    with pytest.raises(ValueError, match="--mode 3d does not match the 2d model"):
        run_plate(demo_plate, model=tmp_path / "metrics-v1", mode="3d", out_csv=tmp_path / "r.csv")


def test_cells_a_detector_clipped_are_flagged_with_their_clipped_share(demo_plate, small_bundle, tmp_path):
    """A detector that clipped a field at the 90th percentile of one cell's projection: each cell's
    clipped share (from the raw pixels of its true outline) is in the CSV, flagged where it is
    over 1 %, and counted in the summary; a field that was not clipped has none."""
    from click.testing import CliRunner

    from ames_batch.cli import main
    from ames_batch.pipeline import SATURATED_CELL_SHARE
    from ames_batch.segment import match_labels

    key = FieldKey("A/1", "0")
    image = read_field(demo_plate, key)
    truth = np.asarray(read_labels(demo_plate, key, "truth")[0][0])
    stack = np.asarray(image.values)
    level = np.percentile(stack[0].max(axis=0)[truth == 1], 90)
    clipped = np.minimum(stack, level).astype(stack.dtype)
    write_field(demo_plate, FieldKey("B/9", "0"), xr.DataArray(clipped, dims=image.dims, coords={"c": image.coords["c"].values},
                                                               attrs={"scale_um": image.attrs["scale_um"]}))
    at_top = clipped[0].max(axis=0) == clipped.max()
    expected = {t: at_top[truth == t].mean() for t in np.unique(truth) if t}
    assert expected[1] == pytest.approx(0.10, abs=0.01)

    res = CliRunner().invoke(main, ["run", str(demo_plate), "--model", str(small_bundle), "--explain", "none",
                                    "--out", str(tmp_path / "r.csv")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "r.csv", dtype={"field": str})
    found = np.asarray(read_labels(demo_plate, FieldKey("B/9", "0"), "cells")[0][0])
    pairs = match_labels(found, truth, iou_threshold=0.5).pairs
    assert {t for _, t, _ in pairs} == set(expected)
    rows = table[table.well == "B/9"].set_index("label")
    for cell, t, _ in pairs:
        assert rows.loc[cell, "saturated_fraction"] == pytest.approx(expected[t], abs=0.02)
        assert bool(rows.loc[cell, "saturated"]) == (expected[t] > SATURATED_CELL_SHARE)
    others = table[table.well != "B/9"]
    assert len(others) and (others.saturated_fraction == 0).all() and not others.saturated.any()
    n_flagged = int(table.saturated.sum())
    assert n_flagged >= 1 and f"\t{n_flagged} saturated\t" in res.output.strip().splitlines()[-1]


def test_the_summary_counts_fields_without_cells(demo_plate, small_bundle, tmp_path):
    """A field of camera background only: a 'no cells' row in the CSV, counted on the summary line
    (a plate whose fields come out empty must not pass for a small plate)."""
    from click.testing import CliRunner

    from ames_batch.cli import main

    image = read_field(demo_plate, FieldKey("A/1", "0"))
    background = np.random.default_rng(0).poisson(100, image.shape).astype(image.dtype)
    write_field(demo_plate, FieldKey("B/9", "0"), xr.DataArray(background, dims=image.dims,
                                                               coords={"c": image.coords["c"].values},
                                                               attrs={"scale_um": image.attrs["scale_um"]}))
    res = CliRunner().invoke(main, ["run", str(demo_plate), "--model", str(small_bundle), "--explain", "none",
                                    "--out", str(tmp_path / "r.csv")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "r.csv", dtype={"field": str})
    assert table.loc[table.well == "B/9", "status"].tolist() == ["no cells"]
    summary = res.output.strip().splitlines()[-1].split("\t")
    assert summary[-1] == "1 without cells" and summary[1] == f"{int((table.status == 'ok').sum())} cells"


@pytest.mark.parametrize("bad", ["nan", "constant", "saturated"])
def test_bad_field_is_reported_and_others_rated(demo_plate, small_bundle, tmp_path, bad):
    good = list_fields(demo_plate)
    shape = (1, 3, 200, 200)
    data = {"nan": np.full(shape, np.nan, np.float32),
            "constant": np.full(shape, 100, np.uint16),
            "saturated": np.full(shape, 65535, np.uint16)}[bad]
    if bad == "saturated":
        data[..., :20, :20] = 10
    write_field(demo_plate, FieldKey("B/1", "0"), xr.DataArray(
        data, dims=("c", "z", "y", "x"), coords={"c": ["alpha-actinin"]},
        attrs={"scale_um": {"z": 0.5, "y": 0.2, "x": 0.2}}))
    report = run_plate(demo_plate, model=small_bundle, explain=(), out_csv=tmp_path / "r.csv")
    assert [r.key for r in report.failed] == [FieldKey("B/1", "0")]
    table = pd.read_csv(tmp_path / "r.csv")
    bad_rows = table[table.well == "B/1"]
    assert len(bad_rows) == 1 and bad_rows.status.iloc[0].startswith("error")
    assert (table[table.well != "B/1"].status == "ok").all()
    # the error row's empty label must not turn the others' into floats ("1.0")
    written = pd.read_csv(tmp_path / "r.csv", dtype=str)
    assert written.label[written.status == "ok"].str.fullmatch(r"[1-9]\d*").all()
    assert all(r.status == "ok" for r in report.results if r.key in good)
    assert not (demo_plate / "B/1/0/labels/cells").exists()


def test_cli_exit_codes(demo_plate, small_bundle, tmp_path):
    cmd = [sys.executable, "-m", "ames_batch.cli", "run", str(demo_plate), "--model", str(small_bundle),
           "--explain", "none", "--out", str(tmp_path / "r.csv")]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "r.csv").is_file()
    not_plate = subprocess.run(cmd[:4] + [str(tmp_path)] + cmd[5:], capture_output=True, text=True)
    errors = [line for line in not_plate.stderr.splitlines() if line.startswith("ames-batch: error:")]
    assert not_plate.returncode == 2 and len(errors) == 1
    assert str(tmp_path) in errors[0] and "ames-batch convert" in errors[0]
    no_model = subprocess.run(cmd[:6] + [str(tmp_path / "missing")] + cmd[7:], capture_output=True, text=True)
    assert no_model.returncode == 2


def test_not_a_plate_and_lock(tmp_path, demo_plate, small_bundle):
    with pytest.raises(NotAPlateError):
        run_plate(tmp_path, model=small_bundle)
    with plate_lock(demo_plate, purpose="test"):
        with pytest.raises(LockedError):
            run_plate(demo_plate, model=small_bundle, explain=())


def test_kill_and_rerun_gives_the_same_outputs(demo_plate, small_bundle, tmp_path):
    reference = tmp_path / "reference.zarr"
    shutil.copytree(demo_plate, reference)
    run_plate(reference, model=small_bundle, out_csv=tmp_path / "reference.csv")

    cmd = [sys.executable, "-m", "ames_batch.cli", "-q", "run", str(demo_plate), "--model", str(small_bundle),
           "--out", str(tmp_path / "killed.csv")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (demo_plate / "A/1/0/labels/cells").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_plate(demo_plate, model=small_bundle, out_csv=tmp_path / "killed.csv")
    pd.testing.assert_frame_equal(_stable(tmp_path / "killed.csv"), _stable(tmp_path / "reference.csv"))
    for key in list_fields(reference):
        a, _ = read_labels(reference, key, "cells")
        b, _ = read_labels(demo_plate, key, "cells")
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(read_heatmap(reference, key, "gradcam").values,
                                      read_heatmap(demo_plate, key, "gradcam").values)
        pd.testing.assert_frame_equal(read_cell_table(demo_plate, key).drop(columns=VOLATILE, errors="ignore"),
                                      read_cell_table(reference, key).drop(columns=VOLATILE, errors="ignore"))
    pd.testing.assert_frame_equal(read_plate_table(demo_plate).drop(columns=VOLATILE, errors="ignore"),
                                  read_plate_table(reference).drop(columns=VOLATILE, errors="ignore"))
    assert list_labels(demo_plate, key) == list_labels(reference, key)
    assert {"cells", "cells-directionality", "cells-source"} <= set(list_labels(demo_plate, key))


def test_the_plate_tables_hold_the_csv(demo_plate, small_bundle, tmp_path):
    """ngio, a real client of Fractal's feature tables, reads every field's table and the plate's,
    and their values are the CSV's."""
    import ngio

    run_plate(demo_plate, model=small_bundle, explain=(), out_csv=tmp_path / "r.csv")
    csv = pd.read_csv(tmp_path / "r.csv", dtype={"field": str})
    columns = [c for c in csv.columns if c not in ("plate", "status")]
    ome_plate = ngio.open_ome_zarr_plate(demo_plate)
    for key in list_fields(demo_plate):
        rows = csv[(csv.well == key.well) & (csv.field == key.field)].set_index("label")
        row, column = key.well.split("/")
        table = ome_plate.get_image(row, int(column), key.field).get_table("cells").dataframe
        assert sorted(table.index) == sorted(rows.index)
        for name in columns:
            if name in ("label", "well", "field"):
                continue
            got, want = table.loc[rows.index, name], rows[name]
            if pd.api.types.is_numeric_dtype(want):
                np.testing.assert_array_equal(got.astype(float), want.astype(float), err_msg=name)  # NaN == NaN
            else:
                assert list(got.astype(str)) == list(want.astype(str)), name
    plate_table = ome_plate.get_table("cells").dataframe
    assert len(plate_table) == len(csv) and set(plate_table["path_in_well"]) == set(csv.field)


def test_distributed_cluster_gives_the_same_csv(demo_plate, small_bundle, tmp_path):
    other = tmp_path / "other.zarr"
    shutil.copytree(demo_plate, other)
    run_plate(demo_plate, model=small_bundle, explain=(), out_csv=tmp_path / "local.csv")
    run_plate(other, model=small_bundle, explain=(), out_csv=tmp_path / "cluster.csv", workers=1)
    pd.testing.assert_frame_equal(_stable(tmp_path / "local.csv"), _stable(tmp_path / "cluster.csv"))


def test_score_run_against_truth_itself(demo_plate, tmp_path):
    from ames_batch.io import write_labels
    from ames_batch.pipeline import score_run

    truth = pd.read_csv(tmp_path / "plate-truth.csv", dtype={"field": str})
    for key in list_fields(demo_plate):
        labels, _ = read_labels(demo_plate, key, "truth")
        write_labels(demo_plate, key, "cells", labels.values[0])
    perfect = truth[["plate", "well", "field", "label", "sarcomerisation", "directionality", "source"]].copy()
    perfect.to_csv(tmp_path / "perfect.csv", index=False)
    scores = score_run(demo_plate, tmp_path / "perfect.csv", tmp_path / "plate-truth.csv")
    assert scores["recall"] == scores["precision"] == 1.0 and scores["n_matched"] == len(truth)
    assert all(scores[t]["accuracy"] == 1.0 for t in ("sarcomerisation", "directionality", "source"))
    wrong = perfect.copy()
    wrong.loc[0, "sarcomerisation"] = wrong.loc[0, "sarcomerisation"] % 4 + 1
    wrong.to_csv(tmp_path / "wrong.csv", index=False)
    scores = score_run(demo_plate, tmp_path / "wrong.csv", tmp_path / "plate-truth.csv")
    assert scores["sarcomerisation"]["accuracy"] == pytest.approx((len(truth) - 1) / len(truth))
    assert scores["source"]["accuracy"] == 1.0


def test_score_run_is_not_fooled_by_a_field_without_cells(demo_plate, tmp_path):
    """A run's CSV with a 'no cells' row has empty ratings there, so pandas read the ratings of every
    cell as floats ("2.0") and none matched the truth ("2"): 0 % for a perfect run."""
    from ames_batch.io import write_labels
    from ames_batch.pipeline import score_run

    truth = pd.read_csv(tmp_path / "plate-truth.csv", dtype={"field": str})
    for key in list_fields(demo_plate):
        labels, _ = read_labels(demo_plate, key, "truth")
        write_labels(demo_plate, key, "cells", labels.values[0])
    perfect = truth[["plate", "well", "field", "label", "sarcomerisation", "directionality", "source"]].copy()
    perfect = perfect.astype({t: str for t in ("sarcomerisation", "directionality")})  # class names, as a run has them
    empty = {"plate": perfect.plate.iloc[0], "well": "H/12", "field": "0", "status": "no cells"}
    pd.concat([perfect.assign(status="ok"), pd.DataFrame([empty])]).to_csv(tmp_path / "with-empty.csv", index=False)
    scores = score_run(demo_plate, tmp_path / "with-empty.csv", tmp_path / "plate-truth.csv")
    assert all(scores[t]["accuracy"] == 1.0 for t in ("sarcomerisation", "directionality", "source"))
