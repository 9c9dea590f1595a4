"""Vendor microscopy files (CZI, DV, ND2, OME-TIFF, TIFF, PNG, AVI) as lazy fields.

Every file is opened through bioio and its plugins; this module only normalises what the
plugin returns: dims renamed to ``("c", "z", "y", "x")``, pixel sizes converted to µm
knowing each reader's units, channel names filled in, raw (unreconstructed) SIM refused.
Nothing here computes pixel data: the returned arrays are dask-backed.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import xarray as xr

from ..errors import MissingPixelSizeError, UnsupportedFileError
from ._vendor_formats import _czi_planes, _czi_scene_count, _dv_channel_names, _dv_planes, _movie_planes, _tiff_planes
from ._vendor_meta import _file_sizes_um, _raw_sim_reason

__all__ = ["SourceImage", "file_digest", "image_files", "list_images", "list_scenes", "read_image"]

log = logging.getLogger("ames_batch")

# Plane chunking: one (y, x) plane per dask chunk for readers that let us choose.
_PLANE_CHUNKED_READERS = ("bioio_tifffile", "bioio_ome_tiff", "bioio_czi")
_SUFFIX_PLUGINS = {
    ".czi": "bioio_czi", ".dv": "bioio_dv", ".r3d": "bioio_dv", ".nd2": "bioio_nd2",
    ".png": "bioio_imageio", ".jpg": "bioio_imageio", ".jpeg": "bioio_imageio",
    ".bmp": "bioio_imageio", ".gif": "bioio_imageio", ".avi": "bioio_imageio",
    ".mp4": "bioio_imageio", ".mov": "bioio_imageio",
}


@dataclass(frozen=True)
class SourceImage:
    """One image inside a file: a scene, and a timepoint where the file is a series.

    Attributes
    ----------
    scene : str
        Scene name as the reader reports it.
    scene_index : int
        Position of the scene in the file, from 0.
    timepoint : int or None
        Frame index for files with T > 1 (movies, time series); None when T == 1.
    """

    scene: str
    scene_index: int
    timepoint: int | None


def image_files(folder: Path) -> list[Path]:
    """The image files below `folder`, in sorted path order: every file whose suffix a reader
    here knows (CZI, DV/R3D, ND2, (OME-)TIFF, PNG, JPEG, BMP, GIF, AVI, MP4, MOV), at any depth.

    Hidden files and folders and ``*.zarr`` folders (a plate written beside the data) are not
    entered.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b/f2.czi", "a.tif", "notes.txt", ".hidden/x.czi", "plate.zarr/c.png"):
    ...     (d / name).parent.mkdir(parents=True, exist_ok=True); (d / name).touch()
    >>> [str(p.relative_to(d)) for p in image_files(d)]
    ['a.tif', 'b/f2.czi']
    """
    known = set(_SUFFIX_PLUGINS) | {".tif", ".tiff"}
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.lower().endswith(".zarr")]  # not entered
        found += [Path(root, f) for f in files if not f.startswith(".") and Path(f).suffix.lower() in known]
    return sorted(found)


def _check_path(path) -> Path:
    if not isinstance(path, (str, Path)):
        raise TypeError(f"`path` must be a str or Path; got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise UnsupportedFileError(f"{path}: no such file")
    return path


def _check_optional_positive(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a number in µm or None; got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be > 0 µm; got {value}")
    return float(value)


def _plugin_for(path: Path) -> str | None:
    """The bioio plugin module for a known suffix (None: let bioio try every plugin)."""
    name = path.name.lower()
    if name.endswith((".ome.tif", ".ome.tiff")):
        return "bioio_ome_tiff"
    if name.endswith((".tif", ".tiff")):
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                return "bioio_ome_tiff" if tif.is_ome else "bioio_tifffile"
        except Exception:  # noqa: BLE001 - unreadable TIFF: bioio reports the real error
            return "bioio_tifffile"
    return _SUFFIX_PLUGINS.get(path.suffix.lower())


def _open(path: Path, *, fresh: bool = False):
    """Open `path` with the bioio plugin for it; map failures to UnsupportedFileError.

    Metadata readers are cached per (path, size, mtime) so a header is parsed once per batch;
    `fresh` readers (for pixel data) are never shared, as bioio readers hold a current scene.
    """
    stat = path.stat()
    opener = _open_cached.__wrapped__ if fresh else _open_cached
    return opener(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _open_cached(path: Path, _size: int, _mtime_ns: int):
    import importlib

    import bioio
    from bioio_base.exceptions import UnsupportedFileFormatError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # plugins warn on every field they cannot parse
            plugin = _plugin_for(path)
            if plugin is None:
                reader = bioio.BioImage(path).reader
            else:
                cls = importlib.import_module(plugin).Reader
                kwargs = {"chunk_dims": ["Y", "X"]} if plugin in _PLANE_CHUNKED_READERS else {}
                reader = cls(str(path), **kwargs)
            module = type(reader).__module__.split(".")[0]
            reader.scenes  # noqa: B018 - forces the header to be parsed now
    except UnsupportedFileFormatError as err:
        raise UnsupportedFileError(
            f"{path}: not a supported image format (no installed bioio plugin reads it)"
        ) from err
    except Exception as err:  # plugin-specific errors: corrupt, truncated, bad header
        raise UnsupportedFileError(
            f"{path}: cannot be read as an image ({type(err).__name__}: {err})"
        ) from err
    return reader, module


def list_scenes(path: Path) -> list[str]:
    """Names of the scenes (positions) in a microscopy file.

    Parameters
    ----------
    path : Path
        Any file a bioio plugin reads.

    Returns
    -------
    scenes : list of str
        One name per scene, in file order; most files have one.

    Raises
    ------
    UnsupportedFileError
        If the file is missing, of an unknown format or unreadable.

    Notes
    -----
    CZI files written without scene metadata (e.g. by pylibCZIrw) still hold several scenes
    in their sub-blocks; bioio-czi then reports only one. We count the sub-block scenes and
    name the extra ones ``"scene-<i>"``.
    """
    path = _check_path(path)
    reader, module = _open(path)
    scenes = [str(s) for s in reader.scenes]
    if module == "bioio_czi":
        n = _czi_scene_count(path)
        if n > len(scenes):
            scenes = [f"scene-{i}" for i in range(n)]
    return scenes


def list_images(path: Path) -> list[SourceImage]:
    """Every image a file holds: one per scene, and per timepoint for series (T > 1).

    Parameters
    ----------
    path : Path
        Any file a bioio plugin reads.

    Returns
    -------
    images : list of SourceImage
        In file order (scene-major). ``convert`` makes one plate field of each.

    Raises
    ------
    UnsupportedFileError
        If the file is missing, of an unknown format or unreadable.
    """
    path = _check_path(path)
    images = []
    for i, name in enumerate(list_scenes(path)):
        n_t = _scene_array(path, i)[0].sizes.get("T", 1)  # the array read_image reads: one place decides
        for t in range(n_t) if n_t > 1 else [None]:
            images.append(SourceImage(scene=name, scene_index=i, timepoint=t))
    return images


@functools.lru_cache(maxsize=2)
def _movie_array(path: Path, _size: int, _mtime_ns: int, scene_index: int) -> tuple[xr.DataArray, object]:
    """A movie's lazy array, built once for all its frames, its frames read forward by one reader."""
    arr, reader = _scene_array(path, scene_index)
    return (_movie_planes(path, arr, reader) if "T" in arr.dims else arr), reader


def _scene_array(path: Path, scene_index: int) -> tuple[xr.DataArray, object]:
    """The reader's own lazy array for one scene (its dims, upper case), and the reader."""
    reader, module = _open(path, fresh=True)
    n_meta = len(reader.scenes)
    if module == "bioio_czi" and scene_index >= n_meta:
        return _czi_planes(path, scene_index), reader
    if scene_index >= n_meta:
        raise UnsupportedFileError(f"{path}: has {n_meta} scene(s); scene {scene_index} asked")
    if module == "bioio_dv":
        # bioio-dv's own array needs its file open at compute time, and naming its tasks pickles
        # the file's memmap: 1.3 s of a 2 s convert of a 168 MB stack, twice a file
        try:
            return _dv_planes(path), reader
        except Exception as err:  # mrc raises many types on a damaged file
            raise UnsupportedFileError(
                f"{path}: cannot be read as an image ({type(err).__name__}: {err})") from err
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader.set_scene(scene_index)
            arr = reader.xarray_dask_data
            if arr.sizes.get("M", 1) > 1:  # mosaic tiles: let the plugin stitch them
                arr = reader.mosaic_xarray_dask_data
    except Exception as err:  # plugin-specific errors surface only when dims are built
        raise UnsupportedFileError(
            f"{path}: cannot be read as an image ({type(err).__name__}: {err})"
        ) from err
    if module == "bioio_czi" and n_meta == 1 and _czi_scene_count(path) > 1:
        return _czi_planes(path, scene_index), reader
    if module in ("bioio_tifffile", "bioio_ome_tiff"):
        arr = _tiff_planes(path, scene_index, arr)
    return arr, reader


# ---- dims and channel names -------------------------------------------------------------


def _normalise(arr: xr.DataArray, path: Path, timepoint: int | None, module: str) -> xr.DataArray:
    """Reader dims (upper case, any order, maybe T/S/extra) -> (c, z, y, x)."""
    for dim in ("Y", "X"):
        if dim not in arr.dims:
            raise UnsupportedFileError(f"{path}: no {dim} axis in {arr.dims}; not an image")
    n_t = arr.sizes.get("T", 1)
    if timepoint is not None:
        if not 0 <= timepoint < n_t:
            raise UnsupportedFileError(f"{path}: timepoint {timepoint} asked; the file has {n_t}")
        arr = arr.isel(T=timepoint)
    elif n_t > 1:
        raise UnsupportedFileError(
            f"{path}: holds {n_t} timepoints; read one with `timepoint=` (convert makes one field each)")
    extra = [d for d in arr.dims if d not in ("T", "C", "Z", "Y", "X", "S")]
    for dim in extra:
        if arr.sizes[dim] > 1:
            raise UnsupportedFileError(
                f"{path}: dimension {dim}={arr.sizes[dim]} is not supported (only scenes, T, C, Z, Y, X, RGB)")
    arr = arr.squeeze([d for d in extra + ["T"] if d in arr.dims], drop=True)
    if "C" in arr.coords and arr.coords["C"].dtype.kind in "USO":
        names = [str(v) for v in arr.coords["C"].values]
    elif module == "bioio_dv":
        names = _dv_channel_names(path, arr.sizes.get("C", 1))
    else:
        names = [f"C{i}" for i in range(arr.sizes.get("C", 1))]
    arr = arr.drop_vars(list(arr.coords))
    if "C" not in arr.dims:
        arr = arr.expand_dims("C")
    if "S" in arr.dims:  # RGB(A) samples become channels
        samples = "RGBA"[: arr.sizes["S"]] if arr.sizes["S"] <= 4 else range(arr.sizes["S"])
        names = [s if len(names) == 1 else f"{n}/{s}" for n in names for s in samples]
        arr = arr.transpose("C", "S", ...).stack(CS=("C", "S")).drop_vars(["CS", "C", "S"], errors="ignore")
        arr = arr.rename(CS="C").transpose("C", ...)
    if "Z" not in arr.dims:
        arr = arr.expand_dims("Z")
    arr = arr.transpose("C", "Z", "Y", "X").rename(C="c", Z="z", Y="y", X="x")
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    if not isinstance(arr.data, da.Array):
        arr = arr.copy(data=da.from_array(arr.data, chunks=(1, 1) + arr.shape[2:]))
    return arr.assign_coords(c=unique)


def read_image(
    path: Path,
    *,
    scene: int | str = 0,
    timepoint: int | None = None,
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
) -> xr.DataArray:
    """Read one image of a vendor file as a lazy ``(c, z, y, x)`` field with µm scale.

    Parameters
    ----------
    path : Path
        CZI, DV, ND2, OME-TIFF, TIFF, PNG, AVI, ... (any format an installed bioio plugin reads).
    scene : int or str
        Scene index or name (see `list_scenes`).
    timepoint : int or None
        Frame of a series with T > 1 (see `list_images`); must be None or 0 when T == 1.
    pixel_size_um : float or None
        y/x pixel size in µm for files that carry none. A file's own calibration wins;
        a different value given here is logged as a warning, never silently applied.
    z_step_um : float or None
        z step in µm for stacks (Z > 1) whose file carries none.

    Returns
    -------
    image : xarray.DataArray
        Dask-backed, dims ``("c", "z", "y", "x")``, the file's dtype (value range kept),
        coordinate ``c`` = channel names (RGB samples become channels ``R, G, B``),
        ``attrs["scale_um"] = {"z", "y", "x"}`` in µm,
        ``attrs["source"] = {"path", "scene", "scene_index", "timepoint", "reader"}`` and
        ``attrs["pixel_size_from"]`` (``"file"`` or ``"user"``).

    Raises
    ------
    UnsupportedFileError
        Missing, unknown, corrupt file; raw SIM data; T > 1 without `timepoint`; other
        dimensions (e.g. CZI phases) of size > 1.
    MissingPixelSizeError
        The file carries no pixel size (or z step, for stacks) and none was given.
    TypeError, ValueError
        Bad argument types or non-positive sizes.

    Notes
    -----
    Units by reader: CZI ``Scaling`` is metres (we convert); DV headers are µm; OME sizes
    carry their unit; TIFF resolution is trusted only with ImageJ units or cm/mm/µm
    resolution units (tifffile's default 1/1 "no unit" and 72-dpi inches count as missing);
    PNG/AVI have none. A single plane (Z == 1) has no z step: ``scale_um["z"]`` is then the
    file's or `z_step_um` if known, else the x pixel size (a placeholder with no effect).

    Examples
    --------
    >>> import numpy as np, tifffile, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> tifffile.imwrite(p, np.zeros((4, 8, 8), np.uint16))
    >>> read_image(p, pixel_size_um=0.04, z_step_um=0.125).attrs["scale_um"]
    {'z': 0.125, 'y': 0.04, 'x': 0.04}
    """
    path = _check_path(path)
    if isinstance(scene, bool) or not isinstance(scene, (int, str)):
        raise TypeError(f"`scene` must be an int index or a str name; got {type(scene).__name__}")
    if timepoint is not None and (isinstance(timepoint, bool) or not isinstance(timepoint, int)):
        raise TypeError(f"`timepoint` must be an int or None; got {type(timepoint).__name__}")
    pixel_size_um = _check_optional_positive(pixel_size_um, "pixel_size_um")
    z_step_um = _check_optional_positive(z_step_um, "z_step_um")

    scenes = list_scenes(path)
    if isinstance(scene, str):
        if scene not in scenes:
            raise UnsupportedFileError(f"{path}: no scene {scene!r}; scenes are {scenes}")
        scene_index = scenes.index(scene)
    else:
        if not 0 <= scene < len(scenes):
            raise UnsupportedFileError(f"{path}: scene {scene} asked; the file has {len(scenes)}")
        scene_index = scene
    if _open(path)[1] == "bioio_imageio":  # movies: build the T-frame array once, not per frame
        stat = path.stat()
        raw, reader = _movie_array(path.resolve(), stat.st_size, stat.st_mtime_ns, scene_index)
    else:
        raw, reader = _scene_array(path, scene_index)
    module = type(reader).__module__.split(".")[0]
    reason = _raw_sim_reason(path, module, reader)
    if reason:
        raise UnsupportedFileError(f"{path}: {reason}")
    image = _normalise(raw, path, timepoint, module)
    sizes = _file_sizes_um(path, module, reader, scene_index)

    if sizes["x"] is None or sizes["y"] is None:
        if pixel_size_um is None:
            raise MissingPixelSizeError(
                f"{path}: the file carries no pixel size; pass --pixel-size (µm per pixel)")
        sizes["x"] = sizes["y"] = pixel_size_um
        source_of_size = "user"
    else:
        source_of_size = "file"
        if pixel_size_um is not None and not math.isclose(pixel_size_um, sizes["x"], rel_tol=0.01):
            log.warning("%s: file pixel size %.4g µm kept; --pixel-size %.4g ignored for this file",
                        path, sizes["x"], pixel_size_um)
    if sizes["z"] is None:
        if image.sizes["z"] > 1 and z_step_um is None:
            raise MissingPixelSizeError(
                f"{path}: a stack of {image.sizes['z']} planes with no z step; pass --z-step (µm)")
        sizes["z"] = z_step_um if z_step_um is not None else sizes["x"]
    image.attrs = {
        "scale_um": {"z": float(sizes["z"]), "y": float(sizes["y"]), "x": float(sizes["x"])},
        "source": {"path": str(path.resolve()), "scene": scenes[scene_index],
                   "scene_index": scene_index, "timepoint": timepoint, "reader": module},
        "pixel_size_from": source_of_size,
    }
    return image


def file_digest(path: Path, known: dict | None = None) -> dict:
    """Identity of a source file: resolved path, size in bytes, modification time and SHA-256.

    Parameters
    ----------
    path : Path
        An existing file.
    known : dict, optional
        ``{(path, size_bytes, mtime_ns): sha256}`` of files hashed before (a plate's source
        records): a file whose resolved path, size and modification time match one is not
        read again (as rsync decides; a file rewritten in place with its old size and mtime
        restored would pass for unchanged).

    Returns
    -------
    digest : dict
        ``{"path": str, "size_bytes": int, "mtime_ns": int, "sha256": str}``; reads the file
        in 1 MiB blocks unless `known` has it.
    """
    path = _check_path(path)
    stat = path.stat()
    ident = {"path": str(path.resolve()), "size_bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    sha = (known or {}).get(tuple(ident.values()))
    if sha is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        sha = h.hexdigest()
    return {**ident, "sha256": sha}
