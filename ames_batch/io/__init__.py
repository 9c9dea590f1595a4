"""Edges of the pipeline: the NGFF 0.5 HCS plate (fields, labels, heatmaps), its lock, CSV tables;
vendor files for convert.

Names load lazily (as in scikit-image): a rerun with nothing to do reads JSON metadata and never
pays for dask, xarray or the vendor readers.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_channels": ["resolve_channel"],
        "_fields": ["field_attributes", "field_level_scales", "read_field", "read_field_projection", "read_field_stack", "set_field_attributes", "write_field"],
        "_heatmaps": ["list_heatmaps", "read_heatmap", "remove_heatmap", "write_heatmap"],
        "_labels": ["list_labels", "read_label_properties", "read_labels", "write_cell_labels", "write_labels"],
        "_lock": ["plate_lock"],
        "_plate": ["FieldKey", "list_fields", "validate_plate"],
        "_table": ["read_ratings", "write_csv_atomic"],
        "_tables": ["list_tables", "read_cell_table", "read_plate_table", "write_cell_table", "write_plate_table"],
        # vendor files (convert)
        "_layout": ["Placement", "parse_well", "place_by_pattern", "read_layout", "well_in_order"],
        "_vendor": ["SourceImage", "file_digest", "image_files", "list_images", "list_scenes", "read_image"],
    },
)
