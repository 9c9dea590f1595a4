"""Thumbnails of the cells of a real rated plate, made the way a pipeline would (test helper).

Reads each field's stain MIP, ``labels/cells`` and a heatmap with ``ames_batch.io``, crops each
cell with a 3 µm margin and hands the crops to the pure picture functions of ``ames_batch.report``.
"""

import numpy as np
import pandas as pd

from ames_batch.image import cell_bbox, max_projection
from ames_batch.io import FieldKey, list_heatmaps, read_field, read_heatmap, read_labels
from ames_batch.report import cell_inset_png, cell_thumbnail_png, gallery_cells, inset_window

MARGIN_UM = 3.0


def cell_crops(plate, well: str, field: str, heatmap: str = "gradcam"):
    """{label: (mip crop, mask crop, pixel size µm, {task: heatmap crop} or {})} of one field."""
    key = FieldKey(well, str(field))
    image = read_field(plate, key)
    pixel_size_um = float(image.attrs["scale_um"]["x"])
    mip = np.asarray(max_projection(image.isel(c=0)), dtype=np.float32)
    labels, _ = read_labels(plate, key, "cells")
    labels = np.asarray(labels)
    if labels.ndim == 3:  # labels of a stack: the cell's footprint in the projection
        labels = labels.max(axis=0)
    maps = {}
    if heatmap in list_heatmaps(plate, key):
        array = read_heatmap(plate, key, heatmap)
        maps = {str(t): np.asarray(array.sel(c=t), dtype=np.float32) for t in array["c"].values}
        maps = {t: (m.max(axis=0) if m.ndim == 3 else m) for t, m in maps.items()}
    out = {}
    for label in np.unique(labels[labels > 0]):
        mask = labels == label
        bbox = cell_bbox(mask, pixel_size_um=pixel_size_um, margin_um=MARGIN_UM)
        out[int(label)] = (mip[bbox], mask[bbox], pixel_size_um,
                           {t: np.clip(m[bbox], 0, 1) for t, m in maps.items()})
    return out


def gallery_items(plate, cells: pd.DataFrame, *, per_class: int = 2, display_um_per_px: float = 0.4):
    """`render_plate_report` gallery items for `gallery_cells(cells)`, heatmap of each task on top."""
    items, crops = [], {}
    for row in gallery_cells(cells, per_class=per_class).to_dict("records"):
        where = (row["well"], str(row["field"]))
        if where not in crops:
            crops[where] = cell_crops(plate, *where)
        mip, mask, pixel_size_um, maps = crops[where][int(row["label"])]
        png = cell_thumbnail_png(mip, mask, pixel_size_um=pixel_size_um, heatmap=maps.get(row["task"]),
                                 display_um_per_px=display_um_per_px)
        items.append({**row, "png": png})
    return items


def sheet_cells(plate, cells: pd.DataFrame) -> pd.DataFrame:
    """The rated cells of `cells` with ``thumbnail_png`` and ``inset_png`` for `render_rating_sheet`."""
    rated = cells[cells["status"] == "ok"].copy()
    thumbs, insets, crops = [], [], {}
    for row in rated.itertuples():
        where = (row.well, str(row.field))
        if where not in crops:
            crops[where] = cell_crops(plate, *where)
        mip, mask, pixel_size_um, _ = crops[where][int(row.label)]
        window = inset_window(mip, mask, pixel_size_um=pixel_size_um)
        thumbs.append(cell_thumbnail_png(mip, mask, pixel_size_um=pixel_size_um, window=window))
        insets.append(cell_inset_png(mip, mask, pixel_size_um=pixel_size_um, window=window))
    return rated.assign(thumbnail_png=thumbs, inset_png=insets)
