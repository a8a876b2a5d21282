"""Reader for the IDX format of MNIST and Fashion-MNIST, gzipped or raw (detected by content, not name)."""

from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path

import numpy as np

from oneclass.errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


#: the most bytes one dataset file may hold once decompressed (the largest IDX file we know, MNIST's training
#: images, holds 47 MB): a header or a gzip stream that asks for more is refused before it is allocated
MAX_FILE_BYTES = 1 << 30


def read_bytes(path: str | Path) -> bytes:
    """The file's content, decompressed if it is gzip; a truncated or corrupt archive is a DataError, and so is
    one that would decompress to more than MAX_FILE_BYTES (a gzip bomb)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError(f"{p}: {size:,} bytes is more than a dataset file may hold ({MAX_FILE_BYTES:,})")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    except OSError as exc:
        raise DataError(f"{p}: cannot read ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataError(f"{p}: truncated or corrupt gzip file ({exc}); download it again") from None
        if len(data) > MAX_FILE_BYTES:
            raise DataError(f"{p}: decompresses to more than {MAX_FILE_BYTES:,} bytes; not a dataset file")
        return data
    return raw


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes: magic (0, 0, dtype code, ndim), ndim big-endian uint32 sizes, then the values."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES or data[3] == 0:
        raise DataError(f"{source}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated IDX file (header cut short); download it again")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(_DTYPES[data[2]])
    expected = math.prod(dims) * dtype.itemsize  # Python integers: a hostile header cannot overflow them
    found = len(data) - header
    if expected > MAX_FILE_BYTES:
        raise DataError(f"{source}: the header's shape {dims} asks for {expected:,} bytes, more than a dataset file "
                        f"may hold ({MAX_FILE_BYTES:,}); not a dataset file")
    if found < expected:
        raise DataError(f"{source}: truncated IDX file: expected {expected} bytes of data for shape {dims}, "
                        f"found {found}; download it again")
    if found > expected:
        raise DataError(f"{source}: {found - expected} unexpected bytes after the data of shape {dims}")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (e.g. `train-images-idx3-ubyte.gz`) into a numpy array."""
    return parse_idx(read_bytes(path), str(path))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write a uint8 array as IDX (gzipped when `compress`, by default when the name ends in .gz)."""
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    data = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes() + arr.tobytes()
    p = Path(path)
    if compress if compress is not None else p.suffix == ".gz":
        data = gzip.compress(data, compresslevel=9, mtime=0)
    p.write_bytes(data)
