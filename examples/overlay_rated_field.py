"""Render a rated field as a PNG: MIP, Grad-CAM of one task, cell outlines with their ratings.

Run after ``ames-batch run``::

    python examples/overlay_rated_field.py demo/plate.zarr A/1 0 --task sarcomerisation -o field.png

Reads the field's stain MIP, ``labels/cells`` (with the ratings as properties) and
``heatmaps/gradcam`` from the plate; writes a PNG with ``ames_batch.xai.overlay_png``.
"""

import argparse
from pathlib import Path

import numpy as np

from ames_batch.image import max_projection
from ames_batch.io import FieldKey, read_field, read_heatmap, read_labels
from ames_batch.xai import overlay_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plate", type=Path)
    parser.add_argument("well", help="e.g. A/1")
    parser.add_argument("field", help="e.g. 0")
    parser.add_argument("--task", default="sarcomerisation", choices=["sarcomerisation", "directionality", "source"])
    parser.add_argument("--method", default="gradcam", choices=["gradcam", "ig"])
    parser.add_argument("-o", "--out", type=Path, default=Path("rated-field.png"))
    args = parser.parse_args()

    key = FieldKey(args.well, args.field)
    image = read_field(args.plate, key)
    mip = np.asarray(max_projection(image.isel(c=0)))
    labels, properties = read_labels(args.plate, key, "cells")
    heatmap = np.asarray(read_heatmap(args.plate, key, args.method).sel(c=args.task))
    if heatmap.ndim == 3:  # a 3D model's map: show its projection
        heatmap = heatmap.max(axis=0)
    ratings = "; ".join(
        f"cell {p['label-value']}: sarc {p['sarcomerisation']}, dir {p['directionality']}, {p['source']}"
        for p in properties)
    title = f"{args.plate.name} {key.path} - {args.method} for {args.task}\n{ratings}"
    path = overlay_png(mip, heatmap, np.asarray(labels[0]), args.out,
                       pixel_size_um=image.attrs["scale_um"]["x"], title=title)
    print(path)


if __name__ == "__main__":
    main()
