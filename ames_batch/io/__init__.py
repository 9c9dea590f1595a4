"""Edges of the pipeline: the NGFF 0.5 HCS plate (fields, labels, heatmaps), its lock, CSV tables."""

from ._channels import resolve_channel
from ._fields import field_attributes, read_field, read_field_projection, set_field_attributes, write_field
from ._heatmaps import list_heatmaps, read_heatmap, remove_heatmap, write_heatmap
from ._labels import list_labels, read_label_properties, read_labels, write_cell_labels, write_labels
from ._lock import plate_lock
from ._plate import FieldKey, list_fields, validate_plate
from ._table import read_ratings, write_csv_atomic
from ._tables import list_tables, read_cell_table, read_plate_table, write_cell_table, write_plate_table

__all__ = [
    "FieldKey",
    "field_attributes",
    "list_fields",
    "list_heatmaps",
    "remove_heatmap",
    "list_labels",
    "list_tables",
    "plate_lock",
    "read_field",
    "read_field_projection",
    "read_heatmap",
    "read_cell_table",
    "read_labels",
    "read_label_properties",
    "read_plate_table",
    "read_ratings",
    "resolve_channel",
    "set_field_attributes",
    "validate_plate",
    "write_cell_labels",
    "write_cell_table",
    "write_csv_atomic",
    "write_field",
    "write_heatmap",
    "write_labels",
    "write_plate_table",
]

# ---- vendor files (convert) ----
from ._layout import Placement, parse_well, place_by_pattern, read_layout, well_in_order  # noqa: E402
from ._vendor import SourceImage, file_digest, list_images, list_scenes, read_image  # noqa: E402

__all__ += [
    "Placement",
    "SourceImage",
    "file_digest",
    "list_images",
    "list_scenes",
    "parse_well",
    "place_by_pattern",
    "read_image",
    "read_layout",
    "well_in_order",
]
