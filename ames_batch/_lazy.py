"""Array and image libraries imported on first use.

Modules on the path of a rerun with nothing to do take these names from here: that rerun reads
JSON metadata only and so never pays the 1.5 s it costs to import dask, xarray, zarr, SciPy's
and scikit-image's submodules. (``lazy_loader.load`` would import the parent of a subpackage at
once, dask's 0.2 s.)
"""

import importlib


class _LazyModule:
    """Stands for a module; the first attribute read imports it and takes over its namespace."""

    def __init__(self, name: str):
        self._lazy_name = name

    def __getattr__(self, attr: str):
        # import_module is thread-safe (threads of a run may get here at once) and the update
        # idempotent: no lock of our own, which could wait on a module's import lock
        module = importlib.import_module(self._lazy_name)
        self.__dict__.update(vars(module))
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._lazy_name!r}>"

    def __reduce__(self):
        # pickled as the module it stands for: a function shipped to dask.distributed workers by
        # value (cloudpickle) carries its globals, and the stand-in's copied namespace did not
        # survive the trip (unpickling recursed through dask's backend entries)
        return importlib.import_module, (self._lazy_name,)


dask = _LazyModule("dask")
da = _LazyModule("dask.array")
xr = _LazyModule("xarray")
zarr = _LazyModule("zarr")
ndi = _LazyModule("scipy.ndimage")
sfft = _LazyModule("scipy.fft")
optimize = _LazyModule("scipy.optimize")
spatial = _LazyModule("scipy.spatial")
draw = _LazyModule("skimage.draw")
filters = _LazyModule("skimage.filters")
measure = _LazyModule("skimage.measure")
morphology = _LazyModule("skimage.morphology")
segmentation = _LazyModule("skimage.segmentation")
