"""Vendor readers: real CZI / DV / OME-TIFF / TIFF files written here, real public PNG/TIFF/AVI."""

import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile

from ames_batch.errors import MissingPixelSizeError, UnsupportedFileError
from ames_batch.io import (
    file_digest,
    list_images,
    list_scenes,
    parse_well,
    place_by_pattern,
    read_image,
    read_layout,
    well_in_order,
)
from ames_batch.io._vendor_meta import _dv_raw_sim_reason

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sarcgraph"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"public test images not found at {SHARED}")


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


@pytest.fixture
def stack(rng):
    """(C, Z, Y, X) uint16 with distinct values per channel and plane."""
    return rng.integers(0, 4096, size=(2, 5, 24, 32), dtype=np.uint16)


def write_czi(path, scenes, *, scale_m=(0.04e-6, 0.05e-6, 0.125e-6), names=("actinin", "DAPI")):
    """Write (C, Z, Y, X) scenes with pylibCZIrw; its scale arguments are metres."""
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as czi:
        for s, arr in enumerate(scenes):
            for c in range(arr.shape[0]):
                for z in range(arr.shape[1]):
                    czi.write(arr[c, z], plane={"C": c, "Z": z, "T": 0}, scene=s, location=(s * 1000, 0))
        czi.write_metadata(document_name="t", channel_names=dict(enumerate(names)),
                           scale_x=scale_m[0], scale_y=scale_m[1], scale_z=scale_m[2])


def write_dv(path, arr, *, dx=0.04, dy=0.05, dz=0.125, waves=(525, 460), stage_z=None):
    """Write (C, Z, Y, X) as DeltaVision; `stage_z` (one per section) adds an extended header."""
    import mrc

    if stage_z is None:
        mrc.save(arr, str(path), zAxisOrder="wz", ifExists="overwrite",
                 metadata={"dx": dx, "dy": dy, "dz": dz, **{f"wave{i}": w for i, w in enumerate(waves)}})
        return
    m = mrc.Mrc2(str(path), "w")
    m.initHdrForArr(arr, "wz")
    m.hdr.d[:3] = (dx, dy, dz)
    m.makeExtendedHdr(8, 32)
    m.extFloats[:] = 0
    m.extFloats[: len(stage_z), 4] = stage_z  # float 4 of a DV section = stageZCoord
    m.writeHeader()
    m.writeExtHeader()
    m.seekSec(0)
    m.writeStack(np.ascontiguousarray(arr))
    m.close()


@pytest.mark.parametrize("n_scenes", [1, 2])
def test_czi_voxels_metres_to_um_and_names(tmp_path, stack, n_scenes):
    scenes = [stack + s for s in range(n_scenes)]
    path = tmp_path / "cell.czi"
    write_czi(path, scenes)
    assert len(list_scenes(path)) == n_scenes
    assert [im.scene_index for im in list_images(path)] == list(range(n_scenes))
    for s in range(n_scenes):
        image = read_image(path, scene=s)
        assert image.dims == ("c", "z", "y", "x") and isinstance(image.data, da.Array)
        assert list(image.coords["c"].values) == ["actinin", "DAPI"]
        np.testing.assert_array_equal(image.values, scenes[s])
        assert image.attrs["scale_um"] == pytest.approx({"z": 0.125, "y": 0.05, "x": 0.04}, rel=1e-9)
        assert image.attrs["pixel_size_from"] == "file"


def test_dv_voxels_units_and_wavelength_names(tmp_path, stack):
    path = tmp_path / "cell.dv"
    write_dv(path, stack)
    image = read_image(path)
    np.testing.assert_array_equal(image.values, stack)
    assert list(image.coords["c"].values) == ["525", "460"]
    # DV stores float32 µm: compare at float32 precision
    assert image.attrs["scale_um"] == pytest.approx({"z": 0.125, "y": 0.05, "x": 0.04}, rel=1e-6)


def test_dv_raw_sim_refused_and_normal_stack_accepted(tmp_path, rng):
    raw = rng.integers(0, 4096, size=(1, 30, 16, 16), dtype=np.uint16)  # 2 z x 15 (5 phases x 3 angles)
    raw_path = tmp_path / "raw.dv"
    write_dv(raw_path, raw, stage_z=np.repeat([10.0, 10.125], 15))
    with pytest.raises(UnsupportedFileError, match="raw SIM.*runs of 15"):
        read_image(raw_path)
    ok_path = tmp_path / "recon.dv"
    write_dv(ok_path, raw, stage_z=10.0 + 0.125 * np.arange(30))
    assert _dv_raw_sim_reason(ok_path) is None
    np.testing.assert_array_equal(read_image(ok_path).values, raw)


def test_czi_raw_sim_phases_refused(tmp_path, rng):
    """A real CZI whose sub-blocks carry phase (H) indices, as Elyra raw SIM does."""
    from pylibCZIrw import czi as pyczi

    class PhaseWriter(pyczi.CziWriter):  # the public writer only passes T, Z, C, S on to libCZI
        @staticmethod
        def _create_plane(plane, scene):
            return {"T": 0, "Z": 0, "C": 0, **(plane or {}), "S": scene}

    path = tmp_path / "raw.czi"
    writer = PhaseWriter(str(path))
    for z in range(2):
        for h in range(5):
            writer.write(rng.integers(0, 4096, (16, 16), dtype=np.uint16), plane={"C": 0, "Z": z, "T": 0, "H": h})
    writer.write_metadata(scale_x=0.08e-6, scale_y=0.08e-6, scale_z=0.125e-6)
    writer.close()
    with pytest.raises(UnsupportedFileError, match="raw SIM.*H=5"):
        read_image(path)


@pytest.mark.parametrize(("unit", "factor"), [("µm", 1.0), ("nm", 1e3)])
def test_ome_tiff_units(tmp_path, stack, unit, factor):
    path = tmp_path / "cell.ome.tif"
    tifffile.imwrite(path, stack, ome=True, metadata={
        "axes": "CZYX", "Channel": {"Name": ["actinin", "DAPI"]},
        "PhysicalSizeX": 0.04 * factor, "PhysicalSizeY": 0.05 * factor, "PhysicalSizeZ": 0.125 * factor,
        "PhysicalSizeXUnit": unit, "PhysicalSizeYUnit": unit, "PhysicalSizeZUnit": unit})
    image = read_image(path)
    np.testing.assert_array_equal(image.values, stack)
    assert list(image.coords["c"].values) == ["actinin", "DAPI"]
    assert image.attrs["scale_um"] == pytest.approx({"z": 0.125, "y": 0.05, "x": 0.04}, rel=1e-9)


def test_ome_tiff_modulo_phases_refused(tmp_path, stack):
    path = tmp_path / "raw.ome.tif"
    tifffile.imwrite(path, stack, ome=True, metadata={"axes": "CZYX", "PhysicalSizeX": 0.08, "PhysicalSizeY": 0.08,
                                                      "PhysicalSizeZ": 0.125})
    with tifffile.TiffFile(path) as tif:
        xml = tif.pages[0].description
    modulo = ('<StructuredAnnotations><XMLAnnotation ID="Annotation:Modulo:0" '
              'Namespace="openmicroscopy.org/omero/dimension/modulo"><Value><Modulo '
              'namespace="http://www.openmicroscopy.org/Schemas/Additions/2011-09">'
              '<ModuloAlongZ Type="other" TypeDescription="phase" Start="0" Step="1" End="4"/>'
              '</Modulo></Value></XMLAnnotation></StructuredAnnotations>')
    tifffile.tiffcomment(path, xml.replace("</OME>", modulo + "</OME>").encode())
    with pytest.raises(UnsupportedFileError, match="raw SIM"):
        read_image(path)


def test_imagej_tiff_calibration(tmp_path, stack):
    path = tmp_path / "cell.tif"
    tifffile.imwrite(path, stack.transpose(1, 0, 2, 3), imagej=True, resolution=(1 / 0.04, 1 / 0.05),
                     metadata={"spacing": 0.125, "unit": "um", "axes": "ZCYX"})
    image = read_image(path)
    np.testing.assert_array_equal(image.values, stack)
    assert image.attrs["scale_um"] == pytest.approx({"z": 0.125, "y": 0.05, "x": 0.04}, rel=1e-6)


@pytest.mark.parametrize("fmt", ["tif", "ome.tif", "dv"])
def test_planes_read_one_per_chunk(tmp_path, rng, fmt):
    """Each (y, x) plane is one dask chunk, read whole (the plate writer streams planes)."""
    stack = rng.integers(0, 65535, size=(2, 3, 600, 40), dtype=np.uint16)
    path = tmp_path / f"tall.{fmt}"
    if fmt == "dv":
        write_dv(path, stack)
    else:
        tifffile.imwrite(path, stack, ome=fmt == "ome.tif", photometric="minisblack",
                         metadata={"axes": "CZYX"} if fmt == "ome.tif" else None)
    image = read_image(path, pixel_size_um=0.1, z_step_um=0.2)
    assert image.data.chunks[2:] == ((600,), (40,))
    assert all(c == 1 for dim in image.data.chunks[:2] for c in dim)
    # a plain TIFF without shape metadata is a sequence of 6 pages: read as 6 planes
    expected = stack if fmt != "tif" else stack.reshape(1, 6, 600, 40)
    np.testing.assert_array_equal(image.values, expected)


def test_plain_tiff_needs_pixel_size_and_z_step(tmp_path, stack):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, stack[0])  # tifffile writes resolution 1/1 with no unit: not a calibration
    with pytest.raises(MissingPixelSizeError, match="--pixel-size"):
        read_image(path)
    with pytest.raises(MissingPixelSizeError, match="--z-step"):
        read_image(path, pixel_size_um=0.1)
    image = read_image(path, pixel_size_um=0.1, z_step_um=0.3)
    assert image.attrs["scale_um"] == {"z": 0.3, "y": 0.1, "x": 0.1}
    assert image.attrs["pixel_size_from"] == "user"
    np.testing.assert_array_equal(image.values, stack[:1])


def test_inch_dpi_is_not_a_calibration(tmp_path, stack):
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(path, stack[0, 0], resolution=(72, 72), resolutionunit="INCH")
    with pytest.raises(MissingPixelSizeError, match="no pixel size"):
        read_image(path)


def test_file_calibration_wins_over_user_value(tmp_path, stack, caplog):
    path = tmp_path / "cell.czi"
    write_czi(path, [stack])
    image = read_image(path, pixel_size_um=0.2)
    assert image.attrs["scale_um"]["x"] == pytest.approx(0.04)
    assert "ignored" in caplog.text


@pytest.mark.parametrize("content", [b"", b"hello, not an image\n" * 10])
def test_not_an_image_is_refused(tmp_path, content):
    path = tmp_path / "junk.tif"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFileError, match="junk.tif"):
        read_image(path, pixel_size_um=0.1)


def test_unknown_suffix_and_missing_file(tmp_path):
    path = tmp_path / "notes.xyz"
    path.write_text("nothing")
    with pytest.raises(UnsupportedFileError, match="not a supported image format"):
        read_image(path)
    with pytest.raises(UnsupportedFileError, match="no such file"):
        read_image(tmp_path / "absent.czi")


def test_truncated_dv_is_refused(tmp_path, stack):
    path = tmp_path / "cut.dv"
    write_dv(path, stack)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnsupportedFileError, match="cut.dv"):
        read_image(path).values


def test_argument_checks(tmp_path, stack):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, stack[0, 0])
    with pytest.raises(ValueError, match="pixel_size_um"):
        read_image(path, pixel_size_um=-1.0)
    with pytest.raises(TypeError, match="scene"):
        read_image(path, scene=1.5)
    with pytest.raises(UnsupportedFileError, match="scene 3"):
        read_image(path, scene=3, pixel_size_um=0.1)


def test_file_digest_matches_hashlib(tmp_path):
    import hashlib

    path = tmp_path / "a.bin"
    path.write_bytes(bytes(range(256)) * 5000)
    digest = file_digest(path)
    assert digest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest["size_bytes"] == 256 * 5000 and digest["mtime_ns"] == path.stat().st_mtime_ns
    # a file whose path, size and mtime a plate has recorded is not read: its recorded hash stands
    known = {(digest["path"], digest["size_bytes"], digest["mtime_ns"]): "0" * 64}
    assert file_digest(path, known)["sha256"] == "0" * 64
    os.utime(path, ns=(digest["mtime_ns"], digest["mtime_ns"] + 10**9))  # touched: read again
    assert file_digest(path, known)["sha256"] == digest["sha256"]


# ---- layout -----------------------------------------------------------------------------


def test_wells_and_patterns():
    assert parse_well("b03") == "B/3" and parse_well("C/12") == "C/12"
    with pytest.raises(ValueError, match="well"):
        parse_well("3B")
    assert [well_in_order(i) for i in (0, 11, 12)] == ["A/1", "A/12", "B/1"]
    pattern = r"(?P<row>[A-H])(?P<column>\d+)_f(?P<field>\d+)"
    place = place_by_pattern("plate1_C07_f2.czi", pattern)
    assert (place.well, place.field) == ("C/7", 2)
    with pytest.raises(ValueError, match="does not match"):
        place_by_pattern("cell.czi", pattern)


def test_read_layout(tmp_path):
    (tmp_path / "a.czi").write_bytes(b"x")
    csv = tmp_path / "layout.csv"
    csv.write_text("file,well,field,acquisition\na.czi,B2,1,day3\nelsewhere/b.dv,A1,0,\n")
    layout = read_layout(csv)
    a = layout[str((tmp_path / "a.czi").resolve())]
    assert (a.well, a.field, a.acquisition) == ("B/2", 1, "day3")
    assert layout[str((tmp_path / "elsewhere" / "b.dv").resolve())].well == "A/1"
    csv.write_text("file,well,field\na.czi,B2,1\nb.czi,B2,1\n")
    with pytest.raises(ValueError, match="already given"):
        read_layout(csv)
    csv.write_text("file,well\na.czi,B2\n")
    with pytest.raises(ValueError, match="field"):
        read_layout(csv)


# ---- real public images -------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("name", ["sample_5.png", "sample_horizontal.tif", "sample_vertical.tif"])
def test_sarcgraph_stills_read_identical(name):
    import imageio.v3 as iio

    path = SHARED / name
    with pytest.raises(MissingPixelSizeError, match="--pixel-size"):
        read_image(path)
    image = read_image(path, pixel_size_um=0.12)
    reference = tifffile.imread(path) if name.endswith(".tif") else iio.imread(path)
    assert image.shape == (1, 1) + reference.shape
    np.testing.assert_array_equal(image.values[0, 0], reference)
    assert image.attrs["scale_um"] == {"z": 0.12, "y": 0.12, "x": 0.12}


@needs_shared
def test_sarcgraph_movie_frames_are_images():
    import imageio.v3 as iio

    path = SHARED / "sample_2.avi"
    images = list_images(path)
    assert len(images) == 146 and images[7].timepoint == 7
    with pytest.raises(UnsupportedFileError, match="146 timepoints"):
        read_image(path, pixel_size_um=0.12)
    frame = read_image(path, timepoint=7, pixel_size_um=0.12)
    reference = iio.imread(path, index=7, plugin="pyav")  # (Y, X, 3) RGB
    assert list(frame.coords["c"].values) == ["R", "G", "B"]
    np.testing.assert_array_equal(frame.values[:, 0], np.moveaxis(reference, -1, 0))


@needs_shared
def test_movie_frames_read_forward_are_the_plugins_frames_in_any_order():
    """One reader, kept open and read forward, serves every frame: in order, out of order and
    from several threads, each frame is what imageio decodes for it on its own."""
    from concurrent.futures import ThreadPoolExecutor

    import imageio.v3 as iio

    path = SHARED / "sample_2.avi"
    order = [0, 1, 2, 100, 3, 145, 145, 50]
    frames = [read_image(path, timepoint=t, pixel_size_um=0.12).values for t in order]
    for t, frame in zip(order, frames):
        np.testing.assert_array_equal(frame[:, 0], np.moveaxis(iio.imread(path, index=t, plugin="pyav"), -1, 0))
    with ThreadPoolExecutor(4) as pool:
        again = list(pool.map(lambda t: read_image(path, timepoint=t, pixel_size_um=0.12).values, order))
    for a, b in zip(frames, again):
        np.testing.assert_array_equal(a, b)


# ---- vendor files without a writer: run when a file is given --------------------------------


@pytest.mark.parametrize("env", ["AMES_TEST_ND2", "AMES_TEST_LIF"])
def test_given_vendor_file(env):
    value = os.environ.get(env)
    if not value:
        pytest.skip(f"set {env}=/path/to/file to test this reader on a real file")
    path = Path(value)
    for ref in list_images(path):
        try:
            image = read_image(path, scene=ref.scene_index, timepoint=ref.timepoint)
        except MissingPixelSizeError:
            pytest.fail(f"{path} carries no pixel size according to our reader")
        assert image.dims == ("c", "z", "y", "x")
        assert all(0.01 < v < 10 for v in image.attrs["scale_um"].values()), image.attrs["scale_um"]
        plane = image.isel(c=0, z=image.sizes["z"] // 2).values
        assert plane.shape == image.shape[2:]
