"""Per-format pixel access for the vendor readers: CZI scenes, DV sections, TIFF planes, movie frames.

Private helpers of ``_vendor``: each builds a lazy dask array whose tasks open the file,
read one (y, x) plane, and close it again (a movie's tasks share one reader kept open,
`_MovieFrames`: its frames decode cheaply only in order). One plane per task suits the plate
writer, which streams slabs of whole planes (``_multiscale.store``), and decodes each plane once.
"""

from __future__ import annotations

import threading
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr

from ..errors import UnsupportedFileError

def _czi_file(path: Path):
    from aicspylibczi import CziFile

    return CziFile(str(path))


def _czi_scene_count(path: Path) -> int:
    shapes = _czi_file(path).get_dims_shape()
    stops = [s["S"][1] for s in shapes if "S" in s]
    return max(stops) if stops else 1


def _dv_header(path: Path):
    from mrc import DVFile

    with DVFile(path) as dv:
        return dv.hdr, dv.ext_hdr


def _tiff_planes(path: Path, scene_index: int, arr: xr.DataArray) -> xr.DataArray:
    """Same voxels as the plugin's array, one plane per task through tifffile's zarr store.

    Reading through the store decodes only the strips or tiles of the plane asked for; falls
    back to the plugin's array when the axes do not map one to one.
    """
    import tifffile
    import zarr

    with tifffile.TiffFile(path) as tif:
        series = tif.series[scene_index]
        axes, shape = series.axes, series.shape
    if len(axes) == arr.ndim and tuple(shape) == tuple(arr.shape) and set(axes) - set("TCZYXS"):
        axes = "".join(arr.dims)  # tifffile's unnamed axes (Q): the plugin named them in place
    if set(axes) - set("TCZYXS") or len(set(axes)) != len(axes) or "Y" not in axes:
        return arr
    sizes = dict(zip(axes, shape))
    if any(arr.sizes.get(d, 1) != sizes.get(d, 1) for d in set(arr.dims) | set(axes)):
        return arr
    store = tifffile.imread(path, aszarr=True, series=scene_index)
    data = da.from_zarr(zarr.open(store, mode="r"), chunks=tuple(n if a in "YXS" else 1 for a, n in sizes.items()))
    planes = xr.DataArray(data, dims=list(axes)).expand_dims([d for d in arr.dims if d not in axes])
    return planes.transpose(*arr.dims).assign_coords({k: v for k, v in arr.coords.items() if k in ("C", "S")})


def _dv_planes(path: Path) -> xr.DataArray:
    """DV sections as a lazy array; each task opens the file, copies one section, closes it."""
    from mrc import DVFile

    with DVFile(path) as dv:
        sizes, dtype = dict(dv.sizes), dv.dtype
    n_lead = len(sizes) - 2
    chunks = tuple((1,) * n for n in list(sizes.values())[:n_lead]) + tuple((n,) for n in list(sizes.values())[-2:])

    def block(block_id=None):
        with DVFile(path) as dv:  # a memmap: only this section is read
            plane = np.array(dv.data[tuple(block_id[:n_lead])])
        return plane[(np.newaxis,) * n_lead]

    return xr.DataArray(da.map_blocks(block, chunks=chunks, dtype=dtype), dims=list(sizes))


def _czi_planes(path: Path, scene_index: int) -> xr.DataArray:
    """CZI scene without scene metadata: one lazy read per (t, c, z) plane via aicspylibczi."""
    czi = _czi_file(path)
    shape = next(
        (s for s in czi.get_dims_shape() if s.get("S", (0, 1))[0] <= scene_index < s.get("S", (0, 1))[1]),
        None,
    )
    if shape is None:
        raise UnsupportedFileError(f"{path}: scene {scene_index} not found in the CZI sub-blocks")
    dims = [d for d in "TCZ" if d in shape]
    sizes = {d: shape[d][1] - shape[d][0] for d in dims}
    probe, probe_dims = czi.read_image(S=scene_index, **{d: shape[d][0] for d in dims})
    if dict(probe_dims).get("A", 1) > 1:
        raise UnsupportedFileError(f"{path}: RGB CZI scenes without scene metadata are not supported")
    ny, nx = dict(probe_dims)["Y"], dict(probe_dims)["X"]

    def plane(index: dict) -> np.ndarray:
        data, _ = _czi_file(path).read_image(S=scene_index, **index)
        return data.reshape(ny, nx)

    def build(level: int, index: dict):
        if level == len(dims):
            return da.from_delayed(dask.delayed(plane)(dict(index)), (ny, nx), dtype=probe.dtype)
        d = dims[level]
        return da.stack([build(level + 1, {**index, d: shape[d][0] + i}) for i in range(sizes[d])])

    names = [ch.get("Name") or f"C{i}" for i, ch in enumerate(
        czi.meta.findall("./Metadata/Information/Image/Dimensions/Channels/Channel"))]
    coords = {"C": names} if "C" in dims and len(names) == sizes["C"] else {}
    return xr.DataArray(build(0, {}), dims=dims + ["Y", "X"], coords=coords)


def _dv_channel_names(path: Path, n: int) -> list[str]:
    hdr, _ = _dv_header(path)
    waves = [hdr.wave1, hdr.wave2, hdr.wave3, hdr.wave4, hdr.wave5]
    names = [str(int(w)) if w and w > 0 else f"C{i}" for i, w in enumerate(waves[:n])]
    return names + [f"C{i}" for i in range(len(names), n)]


class _MovieFrames:
    """One imageio reader of a movie, opened on first use and read forward.

    bioio-imageio opens the file for every frame it is asked for and decodes from its start,
    so converting a movie frame by frame was quadratic in its length (sarcgraph's 146-frame
    sample_2.avi: 52 s). Kept open, the next frame costs one decode and the same frame again
    none (imageio keeps the last one; a plate writes each channel of a frame in turn). A lock
    serialises dask's threads; the reader closes when this object is collected.
    """

    def __init__(self, path: Path, extension: str, mode: str):
        self.path, self.extension, self.mode = path, extension, mode
        self._reader = None
        self._lock = threading.Lock()

    def __call__(self, t: int) -> np.ndarray:
        import imageio

        with self._lock:
            if self._reader is None:
                self._reader = imageio.get_reader(str(self.path), format=self.extension, mode=self.mode)
            return np.asarray(self._reader.get_data(t))

    def __del__(self):
        if self._reader is not None:
            self._reader.close()


def _movie_planes(path: Path, arr: xr.DataArray, reader) -> xr.DataArray:
    """bioio-imageio's lazy movie `arr` (dims with T) with its frames read by one `_MovieFrames`."""
    frames = _MovieFrames(path, reader.extension, reader.imageio_read_mode)
    axis = arr.dims.index("T")
    chunks = tuple((1,) * n if d == "T" else (n,) for d, n in zip(arr.dims, arr.shape))

    def block(block_id=None):
        frame = frames(block_id[axis])
        return np.expand_dims(frame, axis).astype(arr.dtype, copy=False)

    return arr.copy(data=da.map_blocks(block, chunks=chunks, dtype=arr.dtype))

