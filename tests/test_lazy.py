"""Lazily imported modules travel to dask.distributed workers as the modules they stand for."""

import pickle

import cloudpickle

from ames_batch import _lazy
from ames_batch._lazy import da


def test_a_used_stand_in_pickles_as_its_module():
    import dask.array

    _lazy.da.from_array  # noqa: B018  (first use: the stand-in copies the module's namespace)
    assert pickle.loads(pickle.dumps(_lazy.da)) is dask.array


def test_a_function_shipped_by_value_finds_its_lazy_globals():
    # what distributed does with a nested function: cloudpickle carries its globals by value
    def shape_of(n):
        return da.zeros(n, chunks=2).shape

    assert cloudpickle.loads(cloudpickle.dumps(shape_of))(5) == (5,)
