"""Calibration (µm per pixel, per reader's units) and raw-SIM detection for the vendor readers."""

from __future__ import annotations

import re
from pathlib import Path

from ._vendor_formats import _czi_file, _dv_header

# Length units to µm (OME UnitsLength values, ImageJ/TIFF unit strings).
_TO_UM = {
    "m": 1e6, "dm": 1e5, "cm": 1e4, "mm": 1e3, "millimeter": 1e3, "centimeter": 1e4,
    "µm": 1.0, "μm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "\\u00b5m": 1.0, "nm": 1e-3, "nanometer": 1e-3, "pm": 1e-6, "Å": 1e-4, "angstrom": 1e-4,
}
# CZI dimensions that carry SIM raw data: H = phase, R = rotation (libCZI naming).
_CZI_RAW_SIM_DIMS = ("H", "R")
# Run length of repeated stage-z positions that marks OMX raw SIM (phases per z, >= 3).
_MIN_SIM_RUN = 3


# ---- pixel sizes, per reader, in µm -----------------------------------------------------


def _czi_sizes_um(path: Path) -> dict[str, float | None]:
    """CZI ``Scaling/Items/Distance`` values are metres; convert to µm ourselves."""
    meta = _czi_file(path).meta
    out: dict[str, float | None] = {"z": None, "y": None, "x": None}
    for axis in out:
        node = meta.find(f"./Metadata/Scaling/Items/Distance[@Id='{axis.upper()}']/Value")
        if node is not None and node.text:
            value = float(f"{float(node.text) * 1e6:.12g}")  # drop float noise of m -> µm
            out[axis] = value if value > 0 else None
    return out


def _dv_sizes_um(path: Path) -> dict[str, float | None]:
    """DV (MRC/Priism) header ``dx, dy, dz`` are µm; 0 means not recorded."""
    hdr, _ = _dv_header(path)
    return {a: (float(v) if v and v > 0 else None) for a, v in (("z", hdr.dz), ("y", hdr.dy), ("x", hdr.dx))}


def _ome_sizes_um(reader, scene_index: int) -> dict[str, float | None]:
    """OME ``PhysicalSize*`` come with their own unit (µm by default); convert it."""
    pixels = reader.ome_metadata.images[scene_index].pixels
    out: dict[str, float | None] = {}
    for axis in ("z", "y", "x"):
        value = getattr(pixels, f"physical_size_{axis}")
        unit = getattr(pixels, f"physical_size_{axis}_unit")
        unit = getattr(unit, "value", unit) or "µm"
        out[axis] = value * _TO_UM[unit] if value and unit in _TO_UM else None
    return out


def _tiff_sizes_um(path: Path, scene_index: int) -> dict[str, float | None]:
    """Plain/ImageJ TIFF: trust ImageJ units or metric resolution units only.

    tifffile writes resolution 1/1 with unit NONE by default and image editors write 72 dpi
    inches: neither is a microscope calibration, so both count as missing.
    """
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.series[scene_index].pages[0]
        tags = page.tags
        ij = tif.imagej_metadata or {}
        if tif.is_imagej:
            unit = str(ij.get("unit", "")).strip().lower().replace("\\u00b5", "µ")
            scalar = _TO_UM.get(unit)
        else:
            unit_tag = tags.get("ResolutionUnit")
            unit_value = int(unit_tag.value) if unit_tag is not None else 1
            scalar = {3: 1e4, 4: 1e3, 5: 1.0}.get(unit_value)  # cm, mm, µm (tifffile RESUNIT)
        out: dict[str, float | None] = {"z": None, "y": None, "x": None}
        if scalar is None:
            return out
        for axis, tag in (("x", "XResolution"), ("y", "YResolution")):
            if tag in tags:
                num, den = tags[tag].value
                out[axis] = scalar * den / num if num > 0 and den > 0 else None
        spacing = ij.get("spacing")
        if spacing:
            out["z"] = float(spacing) * scalar
    return out


def _file_sizes_um(path: Path, module: str, reader, scene_index: int) -> dict[str, float | None]:
    if module == "bioio_czi":
        return _czi_sizes_um(path)
    if module == "bioio_dv":
        return _dv_sizes_um(path)
    if module == "bioio_ome_tiff":
        return _ome_sizes_um(reader, scene_index)
    if module == "bioio_tifffile":
        return _tiff_sizes_um(path, scene_index)
    if module == "bioio_imageio":
        return {"z": None, "y": None, "x": None}  # PNG, JPEG, movies carry no calibration
    # ND2 (nd2 gives µm), LIF and other plugins documented to report µm.
    sizes = reader.physical_pixel_sizes
    return {a: (float(v) if v and v > 0 else None) for a, v in (("z", sizes.Z), ("y", sizes.Y), ("x", sizes.X))}


# ---- raw SIM ----------------------------------------------------------------------------


def _dv_raw_sim_reason(path: Path) -> str | None:
    """OMX raw SIM: consecutive sections share one stage z (phases x angles interleaved in z)."""
    hdr, ext = _dv_header(path)
    if ext is None:
        return None
    order = hdr.sequence_order  # slowest..fastest of the non-YX axes as numpy sees them
    nz = hdr.nz
    if nz < 2 * _MIN_SIM_RUN:
        return None
    sizes = {"C": hdr.nc or 1, "T": hdr.nt or 1, "Z": nz}
    z_stride = 1
    for axis in reversed(order):
        if axis == "Z":
            break
        z_stride *= sizes[axis]
    zs = [round(ext.frame(i * z_stride).stageZCoord, 4) for i in range(nz)]
    if len(set(zs)) < 2:
        return None  # stage z not recorded: the header cannot tell
    runs, start = [], 0
    for i in range(1, nz + 1):
        if i == nz or zs[i] != zs[start]:
            runs.append(i - start)
            start = i
    k = runs[0]
    if k >= _MIN_SIM_RUN and all(r == k for r in runs) and nz % k == 0:
        return (f"raw SIM data ({nz} sections in runs of {k} at one stage z: phases x angles "
                f"interleaved in z); reconstruct it first (e.g. softWoRx, fairSIM) and convert the result")
    return None


def _czi_raw_sim_reason(path: Path) -> str | None:
    """Zeiss raw SIM: sub-blocks carry phase (H) or rotation (R) indices."""
    for shape in _czi_file(path).get_dims_shape():
        for dim in _CZI_RAW_SIM_DIMS:
            if dim in shape and shape[dim][1] - shape[dim][0] > 1:
                return (f"raw SIM data (CZI dimension {dim}={shape[dim][1] - shape[dim][0]}: "
                        f"{'phases' if dim == 'H' else 'rotations'}); reconstruct it first (ZEN SIM "
                        f"processing) and convert the result")
    return None


def _ome_raw_sim_reason(reader) -> str | None:
    """OME-TIFF exported from raw SIM may declare ``ModuloAlongZ`` with phase/angle types."""
    xml = reader.ome_metadata.to_xml() if hasattr(reader.ome_metadata, "to_xml") else ""
    for match in re.finditer(r"<(?:\w+:)?ModuloAlongZ\b[^>]*>", xml):
        if re.search(r'Type(?:Description)?="[^"]*(phase|angle|rotation)', match.group(0), re.I):
            return ("raw SIM data (OME ModuloAlongZ declares phases/angles in z); "
                    "reconstruct it first and convert the result")
    return None


def _raw_sim_reason(path: Path, module: str, reader) -> str | None:
    if module == "bioio_dv":
        return _dv_raw_sim_reason(path)
    if module == "bioio_czi":
        return _czi_raw_sim_reason(path)
    if module == "bioio_ome_tiff":
        return _ome_raw_sim_reason(reader)
    return None


