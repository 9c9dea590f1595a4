"""Write and read one NGFF 0.5 multiscale image group (field, label image or heatmap).

Private helpers shared by fields, labels and heatmaps. A multiscale group is written into a
hidden temporary directory beside its final place; the caller moves it into place when the
voxels are complete (``_plate._move_into_place``).

Pyramid rule: level 0 is the data; each next level halves y and x (z and c kept) while the
smallest y/x side of the current level is larger than ``PYRAMID_MIN_SIDE_PX`` (256), so the
last level has its smallest side <= 256 px. Odd sizes drop the last row/column. Images use the
2x2 mean (integers rounded back to their dtype) with a translation of ``(2**level - 1) / 2``
pixels of level 0 so pixel centres stay in place; labels use nearest (every second pixel,
no translation).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import zarr
from zarr.codecs import BloscCodec

from ._plate import NGFF_VERSION

PYRAMID_MIN_SIDE_PX = 256
_UNIT = "micrometer"


def n_levels_for(shape_yx: tuple[int, int], *, min_side_px: int = PYRAMID_MIN_SIDE_PX) -> int:
    """Number of pyramid levels for a level-0 (Y, X) shape."""
    y, x = shape_yx
    levels = 1
    while min(y, x) > min_side_px:
        y, x = y // 2, x // 2
        levels += 1
    return levels


def _mean2(block: np.ndarray) -> np.ndarray:
    y, x = block.shape[-2] // 2 * 2, block.shape[-1] // 2 * 2
    b = block[..., :y, :x].astype(np.float32)
    out = (b[..., 0::2, 0::2] + b[..., 1::2, 0::2] + b[..., 0::2, 1::2] + b[..., 1::2, 1::2]) / 4
    if np.issubdtype(block.dtype, np.integer):
        info = np.iinfo(block.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(block.dtype)


def _nearest2(block: np.ndarray) -> np.ndarray:
    y, x = block.shape[-2] // 2 * 2, block.shape[-1] // 2 * 2
    return block[..., 0:y:2, 0:x:2]


def downsample(arr: da.Array, *, method: str, chunk_yx: int) -> da.Array:
    """Halve the last two axes of a dask array chunk by chunk ("mean" or "nearest").

    Input chunks along y/x are first merged to ``2 * chunk_yx`` so each output chunk is
    ``chunk_yx`` (the last one smaller), aligned with the zarr chunks of the next level.
    """
    func = {"mean": _mean2, "nearest": _nearest2}[method]
    arr = arr.rechunk(arr.chunks[:-2] + (2 * chunk_yx, 2 * chunk_yx))
    out_chunks = arr.chunks[:-2] + tuple(tuple(c // 2 for c in cs) for cs in arr.chunks[-2:])
    return arr.map_blocks(func, chunks=out_chunks, dtype=arr.dtype)


def axes_meta(axes: tuple[str, ...]) -> list[dict]:
    """NGFF axes list: ``c`` channel, ``z/y/x`` space in micrometer."""
    out = []
    for name in axes:
        if name == "c":
            out.append({"name": "c", "type": "channel"})
        elif name in ("z", "y", "x"):
            out.append({"name": name, "type": "space", "unit": _UNIT})
        else:
            raise ValueError(f"unsupported axis {name!r}; expected c, z, y or x")
    return out


def datasets_meta(axes: tuple[str, ...], scale_um: dict, levels: int, method: str) -> list[dict]:
    """``datasets`` entries with scale (and translation for mean pyramids) per level."""
    out = []
    for level in range(levels):
        f = 2**level
        scale = [1.0 if a == "c" else float(scale_um[a]) * (f if a in "yx" else 1) for a in axes]
        transforms: list[dict] = [{"type": "scale", "scale": scale}]
        if method == "mean" and level > 0:
            shift = [(f - 1) / 2 * float(scale_um[a]) if a in "yx" else 0.0 for a in axes]
            transforms.append({"type": "translation", "translation": shift})
        out.append({"path": str(level), "coordinateTransformations": transforms})
    return out


def temp_dir_for(final: Path) -> Path:
    """Hidden temporary directory beside `final`: ``<parent>/.<name>.tmp-<uuid>``."""
    return final.parent / f".{final.name}.tmp-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class PendingMultiscale:
    """A created multiscale group whose voxels are not written yet (see :func:`store`)."""

    source: da.Array
    targets: list[zarr.Array]
    method: str
    chunk_yx: int


def create_multiscale(
    tmp: Path,
    data: da.Array,
    *,
    axes: tuple[str, ...],
    scale_um: dict,
    chunks: tuple[int, ...],
    method: str,
    levels: int,
    name: str,
    extra_ome: dict | None = None,
    extra_attrs: dict | None = None,
) -> PendingMultiscale:
    """Create the group and empty level arrays at `tmp`; :func:`store` fills them.

    `chunks` are the zarr chunks of level 0 (the y/x entries are the tile size); `data` is
    rechunked to them so every dask chunk writes exactly one zarr chunk.
    """
    chunk_yx = chunks[-1]
    tmp.parent.mkdir(parents=True, exist_ok=True)
    group = zarr.open_group(str(tmp), mode="w-", zarr_format=3)
    compressor = BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")
    targets = []
    shape = data.shape
    for level in range(levels):
        if level > 0:
            shape = shape[:-2] + (shape[-2] // 2, shape[-1] // 2)
        arr_chunks = tuple(max(1, min(c, s) if s else c) for c, s in zip(chunks, shape))
        targets.append(group.create_array(
            str(level),
            shape=shape,
            dtype=data.dtype,
            chunks=arr_chunks,
            compressors=compressor,
            fill_value=0,
            dimension_names=list(axes),
        ))
    multiscale = {
        "name": name,
        "axes": axes_meta(axes),
        "datasets": datasets_meta(axes, scale_um, levels, method),
        "type": method,
    }
    ome = {"version": NGFF_VERSION, "multiscales": [multiscale]}
    ome.update(extra_ome or {})
    attrs: dict = {"ome": ome}
    attrs.update(extra_attrs or {})
    group.attrs.update(attrs)
    return PendingMultiscale(data.rechunk(targets[0].chunks), targets, method, chunk_yx)


def store(pending: PendingMultiscale, *, compute: bool):
    """Write level 0 chunk by chunk, then each next level from the level just written.

    Reading the written level back (instead of one graph from the source to every level)
    keeps peak memory at a few chunks whatever the image size: dask would otherwise hold
    source chunks for both level 0 and the coarser levels at once. Chunks are aligned with
    the zarr chunks, so no lock is needed. With ``compute=False`` a ``dask.delayed`` that
    does all of it is returned.
    """

    def write_levels() -> None:
        da.store(pending.source, pending.targets[0], lock=False)
        for previous, target in zip(pending.targets, pending.targets[1:]):
            coarser = downsample(da.from_zarr(previous), method=pending.method, chunk_yx=pending.chunk_yx)
            da.store(coarser.rechunk(target.chunks), target, lock=False)

    if compute:
        write_levels()
        return None
    return dask.delayed(write_levels, pure=False)()


def discard(tmp: Path) -> None:
    """Remove a temporary group left by a failed write."""
    shutil.rmtree(tmp, ignore_errors=True)


def read_multiscale(group_dir: Path, level: int) -> tuple[da.Array, tuple[str, ...], dict, dict]:
    """Open level `level` of a multiscale group lazily.

    Returns
    -------
    data : dask array
    axes : tuple of str
    scale_um : dict
        µm per pixel of that level for its space axes.
    attrs : dict
        All attributes of the group.
    """
    group = zarr.open_group(str(group_dir), mode="r", zarr_format=3)
    attrs = group.attrs.asdict()
    multiscale = attrs["ome"]["multiscales"][0]
    axes = tuple(a["name"] for a in multiscale["axes"])
    datasets = multiscale["datasets"]
    if not 0 <= level < len(datasets):
        raise KeyError(f"{group_dir}: level {level} does not exist; levels are 0..{len(datasets) - 1}")
    ds = datasets[level]
    scale = next(t["scale"] for t in ds["coordinateTransformations"] if t["type"] == "scale")
    scale_um = {a: float(s) for a, s in zip(axes, scale) if a != "c"}
    arr = group[ds["path"]]
    data = da.from_zarr(arr)
    return data, axes, scale_um, attrs
