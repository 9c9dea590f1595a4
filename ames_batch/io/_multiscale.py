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

Writing streams: the source is read one slab at a time (one zarr chunk deep along every axis
but y and x, at most ``MAX_CHUNK_Z`` planes), every level is made from that slab in memory
and stored, and the slab buffer is reused. Peak memory is a slab, whatever Z, C or the
number of fields; nothing is read back from the store.
"""

from __future__ import annotations

import itertools
import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._lazy import da, dask, zarr
from ._plate import NGFF_VERSION

PYRAMID_MIN_SIDE_PX = 256
#: Zarr v3 codec metadata (zarr builds the codec), so that reading a plate never imports zarr's writers.
#: Images: zstd with bit shuffling packs camera noise tightly (written once by convert).
IMAGE_COMPRESSOR = {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 5, "shuffle": "bitshuffle"}}
#: Labels: a few values in large runs; lz4 encodes them 4x faster than zstd (a SIM field's
#: labels: 12 chunks of 4 MB per run), still about 1000:1.
LABEL_COMPRESSOR = {"name": "blosc", "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "shuffle"}}
#: Heatmaps: smooth floats written on every run; zstd level 1 is 4x faster than 5 for 4 % more bytes.
HEATMAP_COMPRESSOR = {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 1, "shuffle": "bitshuffle"}}
# Planes per chunk along z: a write holds one chunk-deep slab of planes, so this bounds its memory.
MAX_CHUNK_Z = 16
#: Smallest chunk side (px) of what a run writes on its own grids, labels and heatmaps: they
#: compress to little, and each chunk is a file and a zarr task (measured on a demo field:
#: three label images 0.16 s to write in the field's 256-px chunks, 0.08 s in 1024-px ones).
DERIVED_CHUNK_MIN_PX = 1024
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
    """2x2 mean of the last two axes, plane by plane (float32 temporaries of one plane only)."""
    y, x = block.shape[-2] // 2 * 2, block.shape[-1] // 2 * 2
    out = np.empty(block.shape[:-2] + (y // 2, x // 2), block.dtype)
    integer = np.issubdtype(block.dtype, np.integer)
    for idx in np.ndindex(block.shape[:-2]):
        b = block[idx]
        mean = b[0:y:2, 0:x:2].astype(np.float32)
        mean += b[1:y:2, 0:x:2]
        mean += b[0:y:2, 1:x:2]
        mean += b[1:y:2, 1:x:2]
        mean /= 4
        if integer:
            info = np.iinfo(block.dtype)
            np.clip(np.rint(mean, out=mean), info.min, info.max, out=mean)
        out[idx] = mean
    return out


def _nearest2(block: np.ndarray) -> np.ndarray:
    y, x = block.shape[-2] // 2 * 2, block.shape[-1] // 2 * 2
    return block[..., 0:y:2, 0:x:2]


_HALVE = {"mean": _mean2, "nearest": _nearest2}


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


def datasets_meta(axes: tuple[str, ...], scale_um: dict, levels: int, method: str,
                  origin_um: dict | None = None) -> list[dict]:
    """``datasets`` entries with scale (and translation for mean pyramids) per level.

    `origin_um` places level 0's first pixel centre (µm per space axis; default 0): an image on
    a coarser grid than the field it overlays (a heatmap at a model's scale) starts there.
    """
    origin = {a: float((origin_um or {}).get(a, 0.0)) for a in axes if a != "c"}
    out = []
    for level in range(levels):
        f = 2**level
        scale = [1.0 if a == "c" else float(scale_um[a]) * (f if a in "yx" else 1) for a in axes]
        transforms: list[dict] = [{"type": "scale", "scale": scale}]
        if (method == "mean" and level > 0) or any(origin.values()):
            shift = [0.0 if a == "c" else origin[a] + ((f - 1) / 2 * float(scale_um[a]) if a in "yx" else 0.0)
                     for a in axes]
            transforms.append({"type": "translation", "translation": shift})
        out.append({"path": str(level), "coordinateTransformations": transforms})
    return out


def temp_dir_for(final: Path) -> Path:
    """Hidden temporary directory beside `final`: ``<parent>/.<name>.tmp-<uuid>``."""
    return final.parent / f".{final.name}.tmp-{uuid.uuid4().hex}"


#: A NumPy source up to this many bytes is written into a zarr memory store and its files laid
#: down in one pass (`_lay_down`): each call into zarr's file store costs a trip through its
#: event loop and a thread, and a run writes five such small groups per field (measured on SIM
#: fields: ~40 ms of a field's ~70 ms of writing went to zarr's calls, not to the pixels).
IN_MEMORY_MAX_BYTES = 32 * 2**20


@dataclass(frozen=True)
class PendingMultiscale:
    """A created multiscale group whose voxels are not written yet (see :func:`store`)."""

    source: np.ndarray | da.Array  # NumPy: in memory already; dask: computed slab by slab
    targets: list[zarr.Array]
    method: str
    tmp: Path
    files: dict | None = None  # the memory store's keys and buffers, laid down at `tmp` once stored


def create_multiscale(
    tmp: Path,
    data: np.ndarray | da.Array,
    *,
    axes: tuple[str, ...],
    scale_um: dict,
    chunks: tuple[int, ...],
    method: str,
    levels: int,
    name: str,
    extra_ome: dict | None = None,
    extra_attrs: dict | None = None,
    origin_um: dict | None = None,
    compressor: dict = IMAGE_COMPRESSOR,
) -> PendingMultiscale:
    """Create the group and empty level arrays at `tmp`; :func:`store` fills them.

    `chunks` are the zarr chunks of level 0 (the y/x entries are the tile size, kept at every
    level); along ``z`` they hold at most ``MAX_CHUNK_Z`` planes, since a write streams
    through one chunk-deep slab at a time.
    """
    chunks = tuple(min(c, MAX_CHUNK_Z) if a == "z" else c for a, c in zip(axes, chunks))
    tmp.parent.mkdir(parents=True, exist_ok=True)
    files = {} if isinstance(data, np.ndarray) and data.nbytes <= IN_MEMORY_MAX_BYTES else None
    if files is None:
        group = zarr.open_group(str(tmp), mode="w-", zarr_format=3)
    else:
        tmp.mkdir()  # as the file store's "w-" would: a name taken is an error
        group = zarr.open_group(zarr.storage.MemoryStore(files), mode="w-", zarr_format=3)
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
        "datasets": datasets_meta(axes, scale_um, levels, method, origin_um),
        "type": method,
    }
    ome = {"version": NGFF_VERSION, "multiscales": [multiscale]}
    ome.update(extra_ome or {})
    attrs: dict = {"ome": ome}
    attrs.update(extra_attrs or {})
    group.attrs.update(attrs)
    return PendingMultiscale(data, targets, method, tmp, files)


def _lay_down(files: dict, root: Path) -> None:
    """Write a zarr memory store's keys as the files a file store would have written under `root`."""
    made = {root}
    for key, buffer in files.items():
        path = root / key
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(buffer.to_bytes())


def _slabs(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Chunk-aligned index of every slab: one chunk deep along the leading axes, whole in y/x."""
    lead = [range(0, n, c) for n, c in zip(shape[:-2], chunks[:-2])]
    return [tuple(slice(i, min(i + c, n)) for i, c, n in zip(start, chunks, shape))
            for start in itertools.product(*lead)]


def _store_tiles(target: zarr.Array, index: tuple[slice, ...], slab: np.ndarray) -> None:
    """Store a chunk-aligned slab one zarr chunk at a time.

    One write call per chunk: zarr would otherwise encode all of a slab's chunks at once and
    hold their buffers together (measured: 80 MB for a 33 MB slab, against 15 MB chunk by
    chunk, at about the same speed).
    """
    cy, cx = target.chunks[-2:]
    for y0 in range(0, slab.shape[-2], cy):
        for x0 in range(0, slab.shape[-1], cx):
            tile = (slice(y0, y0 + cy), slice(x0, x0 + cx))
            target[index + tile] = slab[(Ellipsis,) + tile]


def store(pending: PendingMultiscale, *, compute: bool, on_slab: Callable | None = None):
    """Stream the source into every level, one chunk-deep slab of level 0 at a time.

    Each slab of a dask source is computed into one reused buffer (a NumPy source's slab is a
    view of it), stored chunk by chunk, halved in memory for each next level and stored there,
    so peak memory is one slab (at most ``MAX_CHUNK_Z`` planes of the source) plus its smaller
    copies, and the written levels are never read back. A dask slab is computed here with
    dask's threaded scheduler (the process that writes reads), so the source must be
    computable in this process. Writes are aligned with the zarr chunks, so no lock is needed.

    Parameters
    ----------
    pending : PendingMultiscale
        From :func:`create_multiscale`.
    compute : bool
        Write now, or return a ``dask.delayed`` that does all of it.
    on_slab : callable, optional
        ``on_slab(index, slab) -> result`` is called on each level-0 slab as it passes
        (`index`: tuple of slices into level 0, `slab`: its ndarray, valid only during the
        call); the results are returned in slab order.

    Returns
    -------
    list, or dask.delayed.Delayed of list
        The `on_slab` results (empty without `on_slab`).
    """

    def write_levels() -> list:
        source, targets = pending.source, pending.targets
        chunks = targets[0].chunks
        slab_shape = tuple(min(c, n) for c, n in zip(chunks[:-2], source.shape[:-2])) + source.shape[-2:]
        buffer = None if isinstance(source, np.ndarray) else np.empty(slab_shape, source.dtype)
        results = []
        for index in _slabs(source.shape, chunks):
            if isinstance(source, np.ndarray):  # a view: dask's graph and scheduler cost ~4 ms a slab
                slab = source[index]
            else:
                slab = buffer[tuple(slice(0, s.stop - s.start) for s in index)]
                # local threads: the slab fills this process's buffer, even inside a distributed worker
                da.store(source[index], slab, lock=False, scheduler="threads")
            if on_slab is not None:
                results.append(on_slab(index, slab))
            level_slab = slab
            for level, target in enumerate(targets):
                if level > 0:
                    level_slab = _HALVE[pending.method](level_slab)
                _store_tiles(target, index, level_slab)
        return results

    def write_and_lay_down() -> list:
        results = write_levels()
        if pending.files is not None:
            _lay_down(pending.files, pending.tmp)
        return results

    if compute:
        return write_and_lay_down()
    return dask.delayed(write_and_lay_down, pure=False)()


def discard(tmp: Path) -> None:
    """Remove a temporary group left by a failed write."""
    shutil.rmtree(tmp, ignore_errors=True)


def open_level(group_dir: Path, level: int) -> tuple[zarr.Array, tuple[str, ...], dict, dict, dict]:
    """Open level `level` of a multiscale group as a zarr array.

    Returns
    -------
    array : zarr.Array
    axes : tuple of str
    scale_um : dict
        µm per pixel of that level for its space axes.
    translation_um : dict
        µm position of that level's first pixel centre for its space axes.
    attrs : dict
        All attributes of the group.
    """
    group = zarr.open_group(str(group_dir), mode="r", zarr_format=3)
    attrs = group.attrs.asdict()
    levels = _levels(attrs)
    if not 0 <= level < len(levels):
        raise KeyError(f"{group_dir}: level {level} does not exist; levels are 0..{len(levels) - 1}")
    path, axes, scale_um, translation_um = levels[level]
    return group[path], axes, scale_um, translation_um, attrs


def level_scales(group_dir: Path) -> list[dict]:
    """µm per pixel of each level of a multiscale group (space axes), from its metadata alone."""
    return [scale_um for _, _, scale_um, _ in _levels(_document(group_dir).get("attributes", {}))]


@dataclass(frozen=True)
class LevelGeometry:
    """A level's shape, chunk shape (the inner chunks of a sharded array, as ``zarr.Array.chunks``),
    axes and µm scale, and the group's level count: read from the ``zarr.json`` documents alone."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    axes: tuple[str, ...]
    scale_um: dict
    n_levels: int


def level_geometry(group_dir: Path, level: int) -> LevelGeometry:
    """The `LevelGeometry` of level `level` of a multiscale group, without opening it with zarr
    (zarr's open of a group and its array, ~10-30 ms, was most of writing a field's labels).

    Raises
    ------
    FileNotFoundError
        If the group or the level's array has no ``zarr.json``.
    KeyError
        If the level does not exist or is not an array.
    """
    levels = _levels(_document(group_dir).get("attributes", {}))
    if not 0 <= level < len(levels):
        raise KeyError(f"{group_dir}: level {level} does not exist; levels are 0..{len(levels) - 1}")
    path, axes, scale_um, _ = levels[level]
    meta = _document(group_dir / path)
    if meta.get("node_type") != "array":
        raise KeyError(f"{group_dir / path}: level {level} is not a zarr array")
    chunks = meta["chunk_grid"]["configuration"]["chunk_shape"]
    for codec in meta.get("codecs", []):
        if codec.get("name") == "sharding_indexed":
            chunks = codec["configuration"]["chunk_shape"]
    return LevelGeometry(tuple(meta["shape"]), tuple(chunks), axes, scale_um, len(levels))


def _document(node: Path) -> dict:
    """The ``zarr.json`` of a zarr v3 node, parsed."""
    with open(Path(node) / "zarr.json", encoding="utf-8") as fh:
        return json.load(fh)


def _levels(attrs: dict) -> list[tuple[str, tuple[str, ...], dict, dict]]:
    """(path, axes, scale_um, translation_um) of each level in a group's multiscales metadata."""
    multiscale = attrs["ome"]["multiscales"][0]
    axes = tuple(a["name"] for a in multiscale["axes"])
    out = []
    for ds in multiscale["datasets"]:
        scale = next(t["scale"] for t in ds["coordinateTransformations"] if t["type"] == "scale")
        shift = next((t["translation"] for t in ds["coordinateTransformations"] if t["type"] == "translation"), None)
        out.append((ds["path"], axes, {a: float(s) for a, s in zip(axes, scale) if a != "c"},
                    {a: float(t) for a, t in zip(axes, shift or [0.0] * len(axes)) if a != "c"}))
    return out


def read_multiscale(group_dir: Path, level: int) -> tuple[da.Array, tuple[str, ...], dict, dict, dict]:
    """Open level `level` of a multiscale group lazily: as :func:`open_level`, the array as dask."""
    array, axes, scale_um, translation_um, attrs = open_level(group_dir, level)
    return da.from_zarr(array), axes, scale_um, translation_um, attrs
