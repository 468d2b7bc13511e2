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


def npz_headers(path) -> dict[str, tuple[tuple[int, ...], "np.dtype", int]]:
    """(shape, dtype, data bytes) of every array of the .npz archive at `path`, by name, read from
    the headers alone. Raises ValueError (zipfile.BadZipFile is one) for a member that is not a
    .npy array, a name given twice, an array of Python objects (PickledArray), or a header that
    disagrees with the size the zip directory gives its member (data cut short, or padded)."""
    import zipfile

    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if name == info.filename:
                raise ValueError(f"it holds {info.filename!r}, which is not a .npy array")
            if name in arrays:
                raise ValueError(f"the array {name!r} appears twice")
            with archive.open(info) as stream:
                try:
                    shape, dtype, size = read_npy_header(stream)
                except PickledArray as error:
                    raise PickledArray(f"its array {name!r} {error}") from None
                except ValueError:
                    raise ValueError(f"its array {name!r} is not a valid .npy array") from None
                offset = stream.tell()
            if info.file_size != offset + size:
                raise ValueError(f"its array {name!r} declares {shape} of {dtype.name} ({size:,} bytes) but holds "
                                 f"{info.file_size - offset:,} bytes of data")
            arrays[name] = (shape, dtype, size)
    return arrays
