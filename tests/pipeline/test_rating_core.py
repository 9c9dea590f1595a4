"""The rating core (issue #13): one per-cell record and one rater protocol for run, train and evaluate.

Each test here failed on the main branch before the core was rebuilt (see the commit message).
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr
from click.testing import CliRunner

from ames_batch.cli import main
from ames_batch.io import (FieldKey, field_attributes, list_fields, list_heatmaps, read_heatmap, set_field_attributes,
                           write_field)
from ames_batch.metrics import METRIC_NAMES
from ames_batch.nn import BundleRater, PreprocessSettings, build_model, make_card, save_bundle
from ames_batch.pipeline import run_plate, train_plate, write_demo_plate
from ames_batch.vocabulary import TASK_CLASSES, TASKS

SCALE = {"z": 1.0, "y": 0.32, "x": 0.32}  # coarse voxels: fields of a few hundred px, a few slices
CLASSES = {t: list(c) for t, c in TASK_CLASSES.items()}


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """A 4-well x 2-field x 2-cell plate rated once by a small real CNN, and ratings of its cells."""
    root = tmp_path_factory.mktemp("core")
    plate = write_demo_plate(root / "plate.zarr", n_wells=4, n_fields=2, cells_per_field=2, seed=5,
                             scale_um=SCALE).plate
    bundle = _bundle(root / "cnn", seed=0)
    run_plate(plate, model=bundle, explain=(), out_csv=root / "first.csv")
    cells = pd.read_csv(root / "first.csv", dtype={"field": str})
    cells = cells[cells.status == "ok"].reset_index(drop=True)
    ratings = cells[["plate", "well", "field", "label"]].copy()
    for task, classes in CLASSES.items():  # every class of every task appears
        ratings[task] = [classes[(i + len(task)) % len(classes)] for i in range(len(ratings))]
    ratings.to_csv(root / "rated.csv", index=False)
    return root, plate, bundle


def _bundle(folder, *, seed):
    settings = PreprocessSettings(input_shape=(88, 88), target_um_per_px=0.8)
    model = build_model("2d", input_shape=settings.input_shape, tasks=CLASSES, seed=seed)
    card = make_card(name="core-2d", version="0.0", tasks=CLASSES, settings=settings,
                     training={"data_fingerprint": "none", "split": {"train": 0}})
    return save_bundle(model, card, folder, overwrite=True)


def _copy(rated, tmp_path):
    root, plate, bundle = rated
    shutil.copytree(plate, tmp_path / "plate.zarr")
    return tmp_path / "plate.zarr"


def test_metrics_model_is_deployed_on_the_numbers_it_learned(rated, tmp_path):
    """Defect 1: train measured cells on a 2 µm-margin crop, run on a tight box."""
    root, _, _ = rated
    plate = _copy(rated, tmp_path)
    train_plate(plate, root / "rated.csv", tmp_path / "m", arch="metrics", labels="cells")
    run_plate(plate, model=tmp_path / "m", out_csv=tmp_path / "run.csv")
    run = pd.read_csv(tmp_path / "run.csv", dtype={"field": str})
    fitted = pd.read_csv(tmp_path / "m" / "cells.csv", dtype={"field": str})
    merged = run.merge(fitted, on=["well", "field", "label"], suffixes=("_run", "_fit"))
    assert len(merged) == len(pd.read_csv(root / "rated.csv")) > 10
    for name in METRIC_NAMES:
        np.testing.assert_allclose(merged[f"{name}_run"], merged[f"{name}_fit"], rtol=1e-6, equal_nan=True,
                                   err_msg=name)


def test_run_takes_a_channel_named_by_digits(tmp_path, rated):
    """Defect 2: `run --channel 525` turned the name of a DV channel into index 525."""
    _, plate, bundle = rated
    image = _read(plate, list_fields(plate)[0])
    stain = image.isel(c=0).values
    dapi = np.full_like(stain, 100)
    two = xr.DataArray(np.stack([dapi, stain]), dims=("c", "z", "y", "x"), coords={"c": ["435", "525"]},
                       attrs={"scale_um": dict(image.attrs["scale_um"])})
    other = tmp_path / "dv.zarr"
    write_field(other, FieldKey("A/1", "0"), two, plate_name="dv")
    res = CliRunner().invoke(main, ["-q", "run", str(other), "--model", str(bundle), "--channel", "525",
                                    "--explain", "none", "--out", str(tmp_path / "r.csv")])
    assert res.exit_code == 0, res.output
    assert (pd.read_csv(tmp_path / "r.csv").status == "ok").all()
    assert field_attributes(other, FieldKey("A/1", "0"))["run"]["channel"] == "525"  # as the user wrote it


def _read(plate, key):
    from ames_batch.io import read_field

    return read_field(plate, key).compute()


@pytest.mark.parametrize("stale", [{"ames_batch": "0.0"}, {"settings": "0" * 12}])
def test_fields_rated_by_another_version_or_settings_are_redone(rated, tmp_path, stale):
    """Defect 3: the skip signature held neither the version nor the segmentation/preprocessing settings."""
    _, _, bundle = rated
    plate = _copy(rated, tmp_path)
    key = list_fields(plate)[0]
    record = field_attributes(plate, key)["run"]
    set_field_attributes(plate, key, {"run": {**record, **stale}})  # as an older release left it
    report = run_plate(plate, model=bundle, explain=(), out_csv=tmp_path / "r.csv")
    status = {r.key: r.status for r in report.results}
    assert status.pop(key) == "ok"
    assert set(status.values()) == {"skipped"}


def test_a_model_replaced_in_place_is_reloaded(rated, tmp_path):
    """Defect 3: the in-process model cache was keyed on the model's path, not its content."""
    _, _, bundle = rated
    plate = _copy(rated, tmp_path)
    model = tmp_path / "model"
    shutil.copytree(bundle, model)
    first = run_plate(plate, model=model, explain=(), force=True, out_csv=tmp_path / "a.csv")
    _bundle(model, seed=7)  # another model, same folder
    second = run_plate(plate, model=model, explain=(), out_csv=tmp_path / "b.csv")
    assert {r.status for r in second.results} == {"ok"} and not first.failed
    a, b = (pd.read_csv(tmp_path / f"{n}.csv").filter(like="p_") for n in "ab")
    assert not np.allclose(a.values, b.values, atol=1e-4)
    fresh = run_plate(_copy(rated, tmp_path / "again"), model=model, explain=(), force=True,
                      out_csv=tmp_path / "c.csv")
    assert not fresh.failed
    pd.testing.assert_frame_equal(b, pd.read_csv(tmp_path / "c.csv").filter(like="p_"))


def _key_and_area(cell, field):
    return (cell.key, cell.metrics["area_um2"])


def _refuse_field_a21(cell, field):
    if cell.key == FieldKey("A/2", "1"):
        raise ValueError("cannot prepare this cell")
    return _key_and_area(cell, field)


class _RefusingRater(BundleRater):
    """A third kind of rater, written as one class: it refuses to rate the field A/2/1.

    It rates from the cells' metrics (no TensorFlow); its batch fails whenever that field's cells
    are in it, as a model that runs out of memory or meets a bad input would.
    """

    card = {}
    identity = "refusing@1#000000000000"
    name, version = "refusing", "1"
    tasks = {t: tuple(c) for t, c in TASK_CLASSES.items()}
    needs_stack = False
    explanations = ()
    default_explanations = ()
    batch_size = 64
    preparer = staticmethod(_key_and_area)

    def predict_proba(self, batch):
        if any(key == FieldKey("A/2", "1") for key, _ in batch):
            raise MemoryError("cannot allocate the batch")
        return {t: np.full((len(batch), len(c)), 1 / len(c)) for t, c in self.tasks.items()}

    def explain(self, method, batch, probabilities):
        raise ValueError(method)


def test_a_failing_batch_marks_only_its_culprit(rated, tmp_path):
    """Defect 4: the batched predict sat outside any `try`: one field's failure stopped its group."""
    from ames_batch.pipeline._rate import RunSettings, rate_fields

    plate = _copy(rated, tmp_path)
    keys = list_fields(plate)[:4]
    assert FieldKey("A/2", "1") in keys
    results = rate_fields(plate, keys, _RefusingRater(), RunSettings.for_rater(_RefusingRater(), explain=()))
    status = {r.key: r.status for r in results}
    assert status.pop(FieldKey("A/2", "1")).startswith("error: MemoryError")
    assert set(status.values()) == {"ok"}


class _BadPrepareRater(_RefusingRater):
    """Its preparation of field A/2/1 fails (a bad field met while reading and measuring)."""

    preparer = staticmethod(_refuse_field_a21)


def test_fields_prepared_at_once_keep_their_order_and_their_own_failure(rated, tmp_path):
    from ames_batch.pipeline._rate import RunSettings, prepare_group
    from ames_batch.pipeline._run import preparing_processes

    plate = _copy(rated, tmp_path)
    keys = list_fields(plate)[:4]
    rater = _BadPrepareRater()
    settings = RunSettings.for_rater(rater, explain=())
    one, two = (prepare_group(plate, keys, rater, settings, threads=n) for n in (1, 2))
    workers = prepare_group(plate, keys, rater, settings, processes=preparing_processes())
    assert list(workers.results) == list(two.results) and workers.results[FieldKey("A/2", "1")].failed
    assert "cannot prepare this cell" in workers.results[FieldKey("A/2", "1")].status
    assert [c.prepared for f in workers.fields.values() for c in f.cells] == \
        [c.prepared for f in one.fields.values() for c in f.cells]
    assert list(two.results) == [FieldKey("A/2", "1")] and two.results[FieldKey("A/2", "1")].failed
    assert list(two.fields) == list(one.fields) == [k for k in keys if k != FieldKey("A/2", "1")]
    for key in one.fields:
        assert [c.prepared for c in two.fields[key].cells] == [c.prepared for c in one.fields[key].cells]
        np.testing.assert_array_equal(two.fields[key].labels(), one.fields[key].labels())


FAKE_TENSORFLOW = "raise ImportError('ames-batch imported TensorFlow where it needs none')\n"


def test_no_tensorflow_for_a_no_op_rerun_or_a_metrics_model(rated, tmp_path):
    """Defect 5: a rerun with nothing to do paid the TensorFlow import; `import ames_batch.nn` too."""
    root, _, bundle = rated
    plate = _copy(rated, tmp_path)
    fake = tmp_path / "no-tf" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(FAKE_TENSORFLOW)
    env = {**os.environ, "PYTHONPATH": str(fake.parent)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ames_batch.cli", "-q", *map(str, args)], env=env,
                              capture_output=True, text=True, timeout=300)

    done = cli("run", plate, "--model", bundle, "--explain", "none", "--out", tmp_path / "r.csv")
    assert done.returncode == 0, done.stderr
    assert "16 cells" in done.stdout or "cells" in done.stdout
    trained = cli("train", plate, "--ratings", root / "rated.csv", "--arch", "metrics", "--labels", "cells",
                  "-o", tmp_path / "m")
    assert trained.returncode == 0, trained.stderr
    ran = cli("run", plate, "--model", tmp_path / "m", "--out", tmp_path / "m.csv")
    assert ran.returncode == 0, ran.stderr
    assert (pd.read_csv(tmp_path / "m.csv").status == "ok").all()
    imported = subprocess.run([sys.executable, "-c", "import ames_batch.nn, ames_batch.pipeline"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr


HEAVY_MODULES = ("tensorflow", "dask.array", "xarray", "zarr", "scipy.ndimage", "skimage.measure")


def test_a_no_op_rerun_imports_no_array_library(rated, tmp_path):
    """#14: a rerun with nothing to do cost 2.8 s, 1.5 s of it importing dask, xarray, zarr and
    SciPy's submodules it never used; it reads JSON only."""
    root, _, bundle = rated
    plate = _copy(rated, tmp_path)
    shutil.copy(root / "plate-report.html", tmp_path)  # the report of that run, still true
    shutil.copy(root / "first-wells.csv", tmp_path / "r-wells.csv")
    run = ["-q", "run", str(plate), "--model", str(bundle), "--explain", "none", "--out", str(tmp_path / "r.csv")]
    script = ("import sys\nfrom ames_batch.cli import main\n"
              f"try:\n    main({run!r})\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
              f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert pd.read_csv(tmp_path / "r.csv").equals(pd.read_csv(root / "first.csv"))


def test_train_expresses_the_default_models_settings(rated, tmp_path):
    """Defect 7: the default model's settings (window, pixel size, rotation) were not `train` options."""
    root, plate, _ = rated
    res = CliRunner().invoke(main, [
        "-q", "train", str(plate), "--ratings", str(root / "rated.csv"), "--labels", "cells", "-o",
        str(tmp_path / "m"), "--input-px", "88", "--um-per-px", "0.8", "--max-rotation-deg", "3",
        "--source-loss-weight", "0.1", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4"])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    assert card["preprocessing"]["input_shape"] == [88, 88]
    assert card["preprocessing"]["target_um_per_px"] == 0.8
    assert card["training"]["settings"]["augment"]["max_rotation_deg"] == 3.0
    assert card["training"]["settings"]["loss_weights"] == {"source": 0.1}


def test_written_field_attributes_are_what_the_schema_describes(rated, tmp_path):
    """Defect 8: the plate-attributes schema described keys nothing wrote (and none that were)."""
    import jsonschema
    import tifffile

    from ames_batch._schemas import load_schema
    from ames_batch.pipeline import convert_files

    _, plate, _ = rated  # demo + run
    stack = _read(plate, list_fields(plate)[0]).isel(c=0).values
    tifffile.imwrite(tmp_path / "A1_f0.ome.tif", stack[:, None], ome=True,
                     metadata={"axes": "ZCYX", "PhysicalSizeX": 0.32, "PhysicalSizeY": 0.32, "PhysicalSizeZ": 1.0})
    converted = tmp_path / "converted.zarr"
    convert_files([tmp_path / "A1_f0.ome.tif"], converted, pattern=r"(?P<row>[A-H])(?P<column>\d+)_f(?P<field>\d+)")
    schema = load_schema("plate-attributes.schema.json")
    written = set()
    for p in (plate, converted):
        for key in list_fields(p):
            attrs = field_attributes(p, key)
            jsonschema.validate(attrs, schema)
            written |= set(attrs)
    assert set(schema["properties"]) - written == {"acquisition"}  # only with `convert --layout`


def test_ig_completeness_is_recorded_per_cell(rated, tmp_path):
    """Defect 8: the README called IG completeness-checked; `run` never checked it."""
    _, _, bundle = rated
    plate = _copy(rated, tmp_path)
    run_plate(plate, model=bundle, explain=("ig",), wells=["A/1"], force=True, out_csv=tmp_path / "r.csv")
    table = pd.read_csv(tmp_path / "r.csv")
    errors = table[[f"ig_completeness_{t}" for t in TASKS]].to_numpy()
    assert np.isfinite(errors).all() and (errors >= 0).all() and errors.max() < 0.05
    # IG is unbounded and signed: kept as float32, not in 8 bits
    key = next(k for k in list_fields(plate) if "ig" in list_heatmaps(plate, k))
    heat = read_heatmap(plate, key, "ig")
    assert "encoding" not in heat.attrs["ames"] and (heat.values < 0).any() and (heat.values > 0).any()
    assert zarr.open_array(plate / key.path / "heatmaps" / "ig" / "0", mode="r").dtype == np.float32


def _same_input(a, b):
    """Equal prepared inputs of any kind (a CNN window, a hybrid's window and metrics, metrics)."""
    if hasattr(a, "cnn"):
        return _same_input(a.cnn, b.cnn) and _same_input(a.metrics, b.metrics)
    if hasattr(a, "x"):
        return np.array_equal(a.x, b.x) and np.array_equal(a.geometry.matrix, b.geometry.matrix)
    return a == b


def test_every_kind_prepares_with_a_small_picklable_preparer(rated):
    """Worker processes make the inputs with ``rater.preparer``: it must pickle without the model
    (a bound method would drag the network along, or fail) and give what ``prepare`` gives."""
    import pickle

    from ames_batch.nn import load_rater, make_trainer, tuning_candidates
    from ames_batch.pipeline import default_model_path, extract_cells
    from ames_batch.pipeline._field_input import read_field_data
    from ames_batch.segment import segment_cells

    _, plate, bundle = rated
    raters = [load_rater(p) for p in (bundle, default_model_path("2d"), default_model_path("3d"))]
    trainers = [make_trainer(a) for a in ("2d", "3d", "metrics", "hybrid")]
    trainers += [t for r in raters[1:]
                 for _, t, _ in tuning_candidates(r, make_trainer("hybrid", init=r), tuple(r.tasks))]
    key = list_fields(plate)[0]
    field = read_field_data(plate, key, with_stack=True)
    cell = extract_cells(field, segment_cells(field.mip, field.pixel_size_um))[0]
    for kind in raters + trainers:
        pickled = pickle.dumps(kind.preparer)
        assert len(pickled) < 4096, (kind, len(pickled))
        assert _same_input(pickle.loads(pickled)(cell, field), kind.prepare(cell, field)), kind
