"""A .npy array's header read before its data: what it holds and how large it is, so that
nothing is allocated or unpickled on a file's word."""
from __future__ import annotations

import math

NPY_MAGIC = b"\x93NUMPY"


class PickledArray(ValueError):
    """A .npy array of Python objects: reading it would unpickle, which runs code from the file."""


def read_npy_header(stream) -> tuple[tuple[int, ...], "np.dtype", int]:
    """(shape, dtype, data bytes) of the .npy array at the stream's position, which is left at
    the first byte of its data. Raises ValueError for anything but a .npy header of version
    1 or 2 (3 only differs in allowing UTF-8 field names, which specc never writes), and
    PickledArray for an array of Python objects."""
    from numpy.lib import format as npy

    version = npy.read_magic(stream)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f".npy version {version[0]}.{version[1]}")
    reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, _, dtype = reader(stream)
    if dtype.hasobject:
        raise PickledArray("holds Python objects, which specc never loads (loading them would run code from the file)")
    return shape, dtype, math.prod(shape) * dtype.itemsize
