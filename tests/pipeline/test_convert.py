"""convert_files / ames-batch convert: real vendor files into a real plate on disk."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from click.testing import CliRunner

from ames_batch.cli import main
from ames_batch.errors import LockedError
from ames_batch.io import FieldKey, field_attributes, list_fields, plate_lock, read_field, validate_plate
from ames_batch.pipeline import convert_files

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sarcgraph"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"public test images not found at {SHARED}")


@pytest.fixture
def rng():
    return np.random.default_rng(4)


def write_czi(path, scenes, names=("actinin", "DAPI")):
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as czi:
        for s, arr in enumerate(scenes):
            for c in range(arr.shape[0]):
                for z in range(arr.shape[1]):
                    czi.write(arr[c, z], plane={"C": c, "Z": z, "T": 0}, scene=s, location=(s * 1000, 0))
        # pylibCZIrw stores these numbers as given; CZI scaling is in metres
        czi.write_metadata(document_name="t", channel_names=dict(enumerate(names)),
                           scale_x=0.04e-6, scale_y=0.04e-6, scale_z=0.125e-6)


def write_dv(path, arr):
    import mrc

    mrc.save(arr, str(path), zAxisOrder="wz", ifExists="overwrite",
             metadata={"dx": 0.08, "dy": 0.08, "dz": 0.2, "wave0": 525, "wave1": 460})


def write_ome(path, arr):
    tifffile.imwrite(path, arr, ome=True, metadata={
        "axes": "CZYX", "Channel": {"Name": ["DAPI", "actinin"]},
        "PhysicalSizeX": 0.05, "PhysicalSizeY": 0.05, "PhysicalSizeZ": 0.15})


@pytest.fixture
def files(tmp_path, rng):
    """Four real files (CZI with two scenes, DV, OME-TIFF, plain TIFF) and what each holds."""
    src = tmp_path / "src"
    src.mkdir()
    data = {name: rng.integers(0, 60000, size=(2, 4, 40, 48), dtype=np.uint16) for name in "abcd"}
    write_czi(src / "a.czi", [data["a"], data["b"]])
    write_dv(src / "c.dv", data["c"])
    write_ome(src / "d.ome.tif", data["d"])
    plain = rng.integers(0, 255, size=(3, 40, 48), dtype=np.uint8)
    tifffile.imwrite(src / "e.tif", plain, photometric="minisblack")
    truth = {
        ("a.czi", 0): (data["a"], ["actinin", "DAPI"], (0.125, 0.04, 0.04)),
        ("a.czi", 1): (data["b"], ["actinin", "DAPI"], (0.125, 0.04, 0.04)),
        ("c.dv", 0): (data["c"], ["525", "460"], (0.2, 0.08, 0.08)),
        ("d.ome.tif", 0): (data["d"], ["DAPI", "actinin"], (0.15, 0.05, 0.05)),
        ("e.tif", 0): (plain[None], ["C0"], (0.3, 0.1, 0.1)),
    }
    order = [src / n for n in ("a.czi", "c.dv", "d.ome.tif", "e.tif")]
    return order, truth


def test_a_folder_stands_for_its_image_files(tmp_path, files):
    """An acquisition folder as cron hands it over: the images below it in sorted order (a
    subfolder too); not the notes, hidden entries or the plate written inside it."""
    inputs, truth = files
    src = inputs[0].parent
    (src / "day2").mkdir()
    (inputs[2]).rename(src / "day2" / inputs[2].name)  # d.ome.tif one level down
    (src / "notes.txt").write_text("objective 100x")
    (src / ".trash").mkdir()
    write_ome(src / ".trash" / "old.ome.tif", np.zeros((2, 2, 8, 8), np.uint16))
    plate = src / "plate.zarr"  # the plate inside the folder it converts
    report = convert_files([src], plate, channel=0, pixel_size_um=0.1, z_step_um=0.3)
    assert report.ok
    assert [Path(p).relative_to(src).as_posix() for p in report.mapping.file] == [
        "a.czi", "a.czi", "c.dv", "day2/d.ome.tif", "e.tif"]
    _check_plate(plate, truth)
    again = convert_files([src, src / "c.dv"], plate, channel=0, pixel_size_um=0.1, z_step_um=0.3)
    assert again.ok and not again.converted and len(again.skipped) == 5  # the plate is not read as input
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files in .*empty"):
        convert_files([tmp_path / "empty"], tmp_path / "other.zarr")
    res = CliRunner().invoke(main, ["convert", str(src), "-o", str(plate), "--pixel-size", "0.1", "--z-step", "0.3"])
    assert res.exit_code == 0, res.output


def test_a_rerun_reads_only_files_that_changed(tmp_path, files):
    """Nightly over a growing folder: a file with the path, size and mtime of a converted one is
    not hashed again (its content rewritten in place with the old mtime passes for unchanged, as
    with rsync); a file whose mtime moved is hashed, and converted only if its content changed."""
    inputs, _ = files
    plate = tmp_path / "plate.zarr"
    assert convert_files(inputs[1:3], plate, channel=0).ok  # c.dv, d.ome.tif
    dv = inputs[1]
    stat = dv.stat()
    raw = bytearray(dv.read_bytes())
    raw[-1] ^= 0xFF  # the last voxel byte: same size, other content
    dv.write_bytes(bytes(raw))
    os.utime(dv, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = convert_files(inputs[1:3], plate, channel=0)
    assert report.ok and not report.converted and len(report.skipped) == 2
    os.utime(dv, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    report = convert_files(inputs[1:3], plate, channel=0)
    assert [p.name for p, _ in report.skipped] == ["d.ome.tif"] and [k.path for k in report.converted] == ["A/3/0"]
    os.utime(inputs[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))  # touched, same content
    report = convert_files(inputs[1:3], plate, channel=0)
    assert report.ok and not report.converted and len(report.skipped) == 2


def _check_plate(plate, truth):
    validate_plate(plate)
    seen = set()
    for key in list_fields(plate):
        attrs = field_attributes(plate, key)
        src = attrs["source"]
        ident = (Path(src["path"]).name, src["scene_index"])
        seen.add(ident)
        voxels, names, scale = truth[ident]
        image = read_field(plate, key)
        np.testing.assert_array_equal(image.values, voxels)
        assert list(image.coords["c"].values) == names
        assert [image.attrs["scale_um"][a] for a in "zyx"] == pytest.approx(scale, rel=1e-6)
        assert src["size_bytes"] == Path(src["path"]).stat().st_size
    assert seen == set(truth)


def test_convert_batch_every_voxel_and_rerun_is_noop(tmp_path, files):
    inputs, truth = files
    plate = tmp_path / "plate.zarr"
    report = convert_files(inputs, plate, channel="actinin", pixel_size_um=0.1, z_step_um=0.3)
    # the DV (wavelength names) and the plain TIFF have no channel named actinin: they fail
    assert [p.name for p, _ in report.failed] == ["c.dv", "e.tif"]
    assert all("actinin" in reason for _, reason in report.failed)
    assert [k.path for k in report.converted] == ["A/1/0", "A/1/1", "A/2/0"]
    assert field_attributes(plate, FieldKey("A/2", "0"))["stain_channel"] == "actinin"
    assert field_attributes(plate, FieldKey("A/2", "0"))["stain_channel_index"] == 1

    report = convert_files(inputs, plate, channel=0, pixel_size_um=0.1, z_step_um=0.3)
    assert report.ok and [k.path for k in report.converted] == ["A/3/0", "A/4/0"]
    assert len(report.skipped) == 3
    _check_plate(plate, truth)
    mapping = pd.read_csv(plate / "convert_mapping.csv", dtype=str)
    assert list(mapping["well"] + "/" + mapping["field"]) == ["A/1/0", "A/1/1", "A/2/0", "A/3/0", "A/4/0"]

    before = {p: p.stat().st_mtime_ns for p in plate.rglob("*") if p.is_file() and p.name != ".ames.lock"}
    report = convert_files(inputs, plate, pixel_size_um=0.1, z_step_um=0.3)
    assert report.ok and report.converted == [] and len(report.skipped) == 5
    after = {p: p.stat().st_mtime_ns for p in plate.rglob("*") if p.is_file() and p.name != ".ames.lock"}
    assert after == before


def test_missing_pixel_size_is_a_failure_not_one_micron(tmp_path, files):
    inputs, _ = files
    plate = tmp_path / "plate.zarr"
    report = convert_files(inputs, plate)
    assert len(report.failed) == 1 and "--pixel-size" in report.failed[0][1]
    assert len(report.converted) == 4


def test_layout_and_pattern_placement(tmp_path, files):
    inputs, truth = files
    layout = tmp_path / "layout.csv"
    layout.write_text("file,well,field,acquisition\na.czi,C3,2,day7\nsrc/c.dv,B1,0,\n")
    plate = tmp_path / "layout.zarr"
    report = convert_files(inputs[:2], plate, layout=layout)
    assert report.ok
    assert [k.path for k in report.converted] == ["C/3/2", "C/3/3", "B/1/0"]
    assert field_attributes(plate, FieldKey("C/3", "3"))["acquisition"] == "day7"

    renamed = tmp_path / "named"
    renamed.mkdir()
    (renamed / "exp_B07_f3.ome.tif").write_bytes(inputs[2].read_bytes())
    (renamed / "nothing.dv").write_bytes(inputs[1].read_bytes())
    plate = tmp_path / "pattern.zarr"
    report = convert_files(sorted(renamed.iterdir()), plate,
                           pattern=r"(?P<row>[A-H])(?P<column>\d+)_f(?P<field>\d+)")
    assert [k.path for k in report.converted] == ["B/7/3"]
    assert len(report.failed) == 1 and "does not match" in report.failed[0][1]
    np.testing.assert_array_equal(read_field(plate, FieldKey("B/7", "3")).values, truth[("d.ome.tif", 0)][0])


def test_channel_by_dv_wavelength_name_and_by_index_string(tmp_path, files):
    inputs, _ = files
    plate = tmp_path / "plate.zarr"
    assert convert_files([inputs[1]], plate, channel="460").ok  # DV names are wavelengths
    attrs = field_attributes(plate, FieldKey("A/1", "0"))
    assert (attrs["stain_channel"], attrs["stain_channel_index"]) == ("460", 1)
    assert convert_files([inputs[2]], plate, channel="1").ok  # digits naming no channel: index
    attrs = field_attributes(plate, FieldKey("A/2", "0"))
    assert (attrs["stain_channel"], attrs["stain_channel_index"]) == ("actinin", 1)


@pytest.mark.parametrize("fmt", ["czi", "dv", "ome.tif"])
def test_converted_field_opens_on_the_stain_brightest_plane_with_a_robust_window(tmp_path, rng, fmt):
    # 20 planes (two write slabs): the stain (channel 1) is brightest at z = 13, the other
    # channel at z = 2; the stain's voxels lie in 500..1500 but for hot pixels in plane 7
    # (0.4 % of it: neither its brightness nor the window follow them)
    stack = rng.integers(500, 1501, size=(2, 20, 64, 64), dtype=np.uint16)
    stack[1, 13, 16:48, 16:48] += 2000
    stack[0, 2, :32] += 3000
    stack[1, 7, ::16, ::16] = 65535
    path = tmp_path / f"bright.{fmt}"
    {"czi": lambda: write_czi(path, [stack], names=("DAPI", "actinin")), "dv": lambda: write_dv(path, stack),
     "ome.tif": lambda: write_ome(path, stack)}[fmt]()
    plate = tmp_path / "plate.zarr"
    assert convert_files([path], plate, channel=1).ok
    omero = json.loads((plate / "A/1/0/zarr.json").read_text())["attributes"]["ome"]["omero"]
    assert omero["rdefs"] == {"defaultT": 0, "defaultZ": 13, "model": "color"}
    names = {"czi": ["DAPI", "actinin"], "dv": ["525", "460"], "ome.tif": ["DAPI", "actinin"]}[fmt]
    assert [c["label"] for c in omero["channels"]] == names
    window = omero["channels"][1]["window"]
    assert (window["min"], window["max"]) == (0, 65535)
    assert 500 <= window["start"] <= 510 and 1500 <= window["end"] <= 3500
    validate_plate(plate)


def test_occupied_field_is_refused(tmp_path, files):
    inputs, _ = files
    layout = tmp_path / "layout.csv"
    layout.write_text("file,well,field\nc.dv,A1,0\n")
    plate = tmp_path / "plate.zarr"
    assert convert_files([inputs[1]], plate, layout=layout).ok
    layout.write_text("file,well,field\nd.ome.tif,A1,0\n")
    report = convert_files([inputs[2]], plate, layout=layout)
    assert len(report.failed) == 1 and "already holds" in report.failed[0][1]


def test_bad_files_reported_and_rest_converted(tmp_path, files):
    inputs, _ = files
    junk = tmp_path / "junk.czi"
    junk.write_bytes(b"\x00" * 1000)
    text = tmp_path / "notes.tif"
    text.write_text("not an image")
    cut = tmp_path / "cut.dv"
    cut.write_bytes(inputs[1].read_bytes()[:3000])
    plate = tmp_path / "plate.zarr"
    report = convert_files([junk, inputs[0], text, cut], plate)
    assert sorted(p.name for p, _ in report.failed) == ["cut.dv", "junk.czi", "notes.tif"]
    assert all(str(p) in reason for p, reason in report.failed)
    assert len(report.converted) == 2
    validate_plate(plate)


def test_leftovers_of_a_killed_writer_are_removed(tmp_path, files):
    inputs, truth = files
    plate = tmp_path / "plate.zarr"
    assert convert_files(inputs[1:2], plate).ok
    stale_dir = plate / "A" / "2" / f".0.tmp-{'a' * 32}"
    (stale_dir / "0").mkdir(parents=True)
    stale_file = plate / "A" / "1" / f".zarr.json.tmp-{'b' * 32}"
    stale_file.write_text("{")
    report = convert_files(inputs[2:3], plate)
    assert report.ok and [k.path for k in report.converted] == ["A/2/0"]
    assert not stale_dir.exists() and not stale_file.exists()
    validate_plate(plate)


def test_plate_lock_refuses_second_writer(tmp_path, files):
    inputs, _ = files
    plate = tmp_path / "plate.zarr"
    with plate_lock(plate, purpose="run"), pytest.raises(LockedError):
        convert_files(inputs[:1], plate)


def test_argument_checks(tmp_path, files):
    inputs, _ = files
    with pytest.raises(ValueError, match="not both"):
        convert_files(inputs, tmp_path / "p", layout=tmp_path / "l.csv", pattern="x")
    with pytest.raises(ValueError, match="named groups"):
        convert_files(inputs, tmp_path / "p", pattern=r"(\d+)")
    with pytest.raises(TypeError, match="inputs"):
        convert_files(inputs[0], tmp_path / "p")


def test_cli_exit_codes_and_outputs(tmp_path, files):
    inputs, _ = files
    plate = tmp_path / "plate.zarr"
    runner = CliRunner()
    result = runner.invoke(main, ["-q", "convert", *map(str, inputs), "-o", str(plate), "--channel", "1"])
    assert result.exit_code == 1, result.output
    assert "e.tif" in result.stderr and "--pixel-size" in result.stderr
    assert len(result.stdout.strip().splitlines()) == 4  # one mapping line per field
    result = runner.invoke(main, ["-q", "convert", *map(str, inputs), "-o", str(plate),
                                  "--pixel-size", "0.1", "--z-step", "0.3"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("A/4/0")
    result = runner.invoke(main, ["convert", str(inputs[0]), "-o", str(plate), "--pattern", "(x)"])
    assert result.exit_code == 2 and "named groups" in result.stderr
    result = runner.invoke(main, ["convert", str(inputs[0]), "-o", str(inputs[0].parent)])
    assert result.exit_code == 2 and "not an NGFF HCS plate" in result.stderr


@needs_shared
def test_sarcgraph_images_convert_and_read_back(tmp_path):
    import imageio.v3 as iio

    names = ["sample_5.png", "sample_horizontal.tif", "sample_vertical.tif"]
    plate = tmp_path / "sarc.zarr"
    report = convert_files([SHARED / n for n in names], plate, pixel_size_um=0.12)
    assert report.ok and len(report.converted) == 3
    validate_plate(plate)
    for name, key in zip(names, report.converted):
        reference = tifffile.imread(SHARED / name) if name.endswith(".tif") else iio.imread(SHARED / name)
        image = read_field(plate, key)
        np.testing.assert_array_equal(image.values[0, 0], reference)
        assert image.attrs["scale_um"]["x"] == pytest.approx(0.12)


@needs_shared
@pytest.mark.slow
def test_sarcgraph_large_png_and_movie(tmp_path):
    import imageio.v3 as iio

    plate = tmp_path / "sarc.zarr"
    report = convert_files([SHARED / "sample_4.png", SHARED / "sample_2.avi"], plate, pixel_size_um=0.12)
    assert report.ok and len(report.converted) == 1 + 146
    validate_plate(plate)
    np.testing.assert_array_equal(read_field(plate, FieldKey("A/1", "0")).values[0, 0],
                                  iio.imread(SHARED / "sample_4.png"))
    for t in (0, 73, 145):
        frame = iio.imread(SHARED / "sample_2.avi", index=t, plugin="pyav")
        np.testing.assert_array_equal(read_field(plate, FieldKey("A/2", str(t))).values[:, 0],
                                      np.moveaxis(frame, -1, 0))


def _plate_snapshot(plate):
    """Everything a user can see: fields, voxels, names, scale, our attributes, the mapping."""
    out = {}
    for key in list_fields(plate):
        image = read_field(plate, key)
        attrs = field_attributes(plate, key)
        out[key.path] = (image.values.tobytes(), list(image.coords["c"].values),
                         json.dumps(image.attrs["scale_um"], sort_keys=True), json.dumps(attrs, sort_keys=True))
    out["mapping"] = (plate / "convert_mapping.csv").read_text()
    return out


@pytest.mark.slow  # the child process imports the whole package (tensorflow included): ~20 s
def test_killed_convert_then_rerun_equals_uninterrupted(tmp_path, rng):
    src = tmp_path / "src"
    src.mkdir()
    inputs = []
    for i in range(8):
        path = src / f"f{i}.ome.tif"
        write_ome(path, rng.integers(0, 60000, size=(2, 8, 64, 64), dtype=np.uint16))
        inputs.append(path)
    reference = tmp_path / "reference.zarr"
    assert convert_files(inputs, reference).ok

    plate = tmp_path / "killed.zarr"
    cmd = [sys.executable, "-c", "from ames_batch.cli import main; main()", "-q", "convert",
           *map(str, inputs), "-o", str(plate)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    deadline = time.monotonic() + 120
    while not (plate / "A" / "1" / "0" / "zarr.json").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "convert never wrote its first field"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_fields = len(list_fields(plate)) if (plate / "zarr.json").exists() else 0
    assert killed_fields < len(inputs) or proc.returncode == 0  # it was cut short (or had finished)
    print(f"killed after {killed_fields} of {len(inputs)} fields (returncode {proc.returncode})")

    report = convert_files(inputs, plate)
    assert report.ok
    assert not [p for p in plate.rglob("*.tmp-*")], "unfinished groups left behind"
    validate_plate(plate)
    assert _plate_snapshot(plate) == _plate_snapshot(reference)
