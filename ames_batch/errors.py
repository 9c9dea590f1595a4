"""Domain exceptions; the CLI maps them to exit codes.

Each refines the builtin it specialises, so callers that only know the
builtin still catch it.
"""

__all__ = [
    "AmesError",
    "BadFieldError",
    "LockedError",
    "ModelBundleError",
    "NotAPlateError",
    "UnsupportedFileError",
    "MissingPixelSizeError",
]


class AmesError(Exception):
    """Base class for errors that carry a user-facing one-line message."""


class UnsupportedFileError(AmesError, ValueError):
    """A file cannot be read as a microscopy image (corrupt, truncated, unknown format)."""


class MissingPixelSizeError(AmesError, ValueError):
    """A file carries no physical pixel size and none was given by the user."""


class NotAPlateError(AmesError, ValueError):
    """A path is not an OME-Zarr (NGFF) HCS plate."""


class BadFieldError(AmesError, ValueError):
    """A field's data cannot be rated (empty, saturated, NaN, wrong dimensions)."""


class ModelBundleError(AmesError, ValueError):
    """A model bundle is missing, has an invalid card or an unknown version."""


class LockedError(AmesError, RuntimeError):
    """Another process holds the plate's lock."""
