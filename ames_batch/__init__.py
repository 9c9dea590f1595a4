"""ames-batch: rate sarcomere structure of cardiomyocytes in OME-Zarr plates.

Rooms (see ``docs/architecture.md``): ``io`` (files and stores), ``synth``
(synthetic cells), ``image`` (projections, resampling), ``segment`` (cell
labels), ``metrics`` (sarcomere measurements), ``nn`` (rating models),
``xai`` (heatmaps) and ``pipeline`` (orchestration).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ames-batch")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
