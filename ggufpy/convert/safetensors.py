"""Memory-mapped safetensors reader, validated before anything is trusted.

File layout (little-endian; the safetensors README):
  1. header_len u64: the length N of the JSON header
  2. N bytes of UTF-8 JSON: ``{"__metadata__": {str: str}?, NAME: {"dtype": D, "shape": [..],
     "data_offsets": [begin, end]}, ...}``, offsets relative to the data section; the writer pads the
     JSON with spaces to an 8-byte boundary
  3. the data section: every tensor's bytes, row-major, little-endian, contiguous

Checks at open, as safetensors' ``validate()`` does, with Python ints so nothing overflows: the file
holds the 8-byte length and the whole header; the header is a JSON object of well-formed entries; each
dtype is known; ``end - begin`` equals ``prod(shape) * itemsize``; every range lies inside the data
section; ranges do not overlap. Any failure raises ``ConvertError`` naming the file and what is wrong.

Tensor data is never read at open: ``tensor.raw`` is a uint8 view of the memory map. BF16 has no numpy
dtype, so it stays raw 16-bit words and is widened to float32 by ``ggufpy.quants.dequantize`` (the one
BF16 decoder in the package).
"""

from __future__ import annotations

import json
import math
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ConvertError
from ..format.constants import GGMLType

MAX_HEADER_BYTES = 100 << 20  # safetensors' own cap on the JSON header

# safetensors dtype -> (bytes per element, numpy dtype or None when numpy has none, ggml type or None)
DTYPES: dict[str, tuple[int, np.dtype | None, GGMLType | None]] = {
    "F64": (8, np.dtype("<f8"), GGMLType.F64),
    "F32": (4, np.dtype("<f4"), GGMLType.F32),
    "F16": (2, np.dtype("<f2"), GGMLType.F16),
    "BF16": (2, None, GGMLType.BF16),
    "I64": (8, np.dtype("<i8"), GGMLType.I64),
    "I32": (4, np.dtype("<i4"), GGMLType.I32),
    "I16": (2, np.dtype("<i2"), GGMLType.I16),
    "I8": (1, np.dtype("i1"), GGMLType.I8),
    "U8": (1, np.dtype("u1"), None),
    "BOOL": (1, np.dtype("?"), None),
    "F8_E4M3": (1, None, None),
    "F8_E5M2": (1, None, None),
}
FLOAT_DTYPES = ("F32", "F16", "BF16", "F64")


@dataclass(frozen=True)
class SafeTensor:
    """One tensor: its name, safetensors dtype, numpy-order shape and raw bytes (a view of the map)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    raw: np.ndarray  # uint8, (n_bytes,)
    file: str

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    def to_f32(self) -> np.ndarray:
        """The values as a new float32 array of ``shape`` (F32, F16, BF16 and F64 sources)."""
        from ..quants import dequantize

        if self.dtype == "F32":
            return self.raw.view("<f4").astype(np.float32).reshape(self.shape)
        if self.dtype in ("F16", "BF16"):
            return dequantize(self.raw, DTYPES[self.dtype][2]).reshape(self.shape)
        if self.dtype == "F64":
            return self.raw.view("<f8").astype(np.float32).reshape(self.shape)
        raise ConvertError(f"{self.file}: tensor {self.name!r} is {self.dtype}; only float tensors can be converted")


class SafetensorsFile:
    """One ``.safetensors`` file, memory-mapped and validated at open.

    Args:
        path: the file.

    Raises:
        ConvertError: unreadable, truncated or malformed header (the message says which and where).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        name = os.path.basename(self.path)
        try:
            self._f = open(self.path, "rb")
        except FileNotFoundError:
            raise ConvertError(f"{self.path}: file not found") from None
        size = os.fstat(self._f.fileno()).st_size
        if size < 8:
            self.close()
            raise ConvertError(f"{name}: truncated safetensors file ({size} bytes; the header length alone is 8)")
        n = int.from_bytes(self._f.read(8), "little")
        if n > MAX_HEADER_BYTES:
            self.close()
            raise ConvertError(f"{name}: header length {n} is over the {MAX_HEADER_BYTES}-byte limit (corrupt file?)")
        if 8 + n > size:
            self.close()
            raise ConvertError(f"{name}: truncated safetensors header: it claims {n} bytes, the file has {size - 8} after "
                               "the length")
        try:
            header = json.loads(self._f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            self.close()
            raise ConvertError(f"{name}: safetensors header is not valid JSON ({e})") from None
        except RecursionError:
            self.close()
            raise ConvertError(f"{name}: safetensors header JSON is nested too deeply") from None
        self.data_start = 8 + n
        self.data_size = size - self.data_start
        try:
            self.metadata, self._entries = _validate(header, self.data_size)
        except ConvertError as e:
            self.close()
            raise ConvertError(f"{name}: {e}") from None
        self._mm = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ) if size > 0 else None
        self._buf = np.frombuffer(self._mm, dtype=np.uint8) if self._mm is not None else np.zeros(0, np.uint8)

    def keys(self) -> list[str]:
        """Tensor names in header order (the order llama.cpp's converter writes them)."""
        return list(self._entries)

    def info(self, name: str) -> tuple[str, tuple[int, ...]]:
        dtype, shape, _, _ = self._entries[name]
        return dtype, shape

    def get(self, name: str) -> SafeTensor:
        dtype, shape, begin, end = self._entries[name]
        raw = self._buf[self.data_start + begin:self.data_start + end]
        return SafeTensor(name, dtype, shape, raw, os.path.basename(self.path))

    def release(self, name: str) -> None:
        """Drop the pages of ``name`` from this process's resident set (they stay in the page cache), so
        reading a model tensor by tensor keeps the resident size near one tensor, not the file size."""
        if self._mm is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        _, _, begin, end = self._entries[name]
        start = (self.data_start + begin) // mmap.PAGESIZE * mmap.PAGESIZE
        stop = self.data_start + end
        if stop > start:
            try:
                self._mm.madvise(mmap.MADV_DONTNEED, start, stop - start)
            except OSError:
                pass

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        self._buf = None
        mm, self._mm = getattr(self, "_mm", None), None
        if mm is not None:
            try:
                mm.close()
            except BufferError:  # a view is still alive; the map closes when it goes
                pass
        self._f.close()

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _validate(header: object, data_size: int) -> tuple[dict, dict[str, tuple[str, tuple[int, ...], int, int]]]:
    """(metadata, {name: (dtype, shape, begin, end)}) from a parsed header, checked against the data size."""
    if not isinstance(header, dict):
        raise ConvertError(f"header is a JSON {type(header).__name__}, expected an object")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict):
        raise ConvertError("__metadata__ is not an object")
    entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(e, dict) or not {"dtype", "shape", "data_offsets"} <= e.keys():
            raise ConvertError(f"tensor {name!r}: entry must have dtype, shape and data_offsets, got {e!r}"[:300])
        dtype, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ConvertError(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise ConvertError(f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise ConvertError(f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]")
        begin, end = offsets
        want = math.prod(shape) * DTYPES[dtype][0]
        if not 0 <= begin <= end:
            raise ConvertError(f"tensor {name!r}: data_offsets [{begin}, {end}) are not increasing")
        if end - begin != want:
            raise ConvertError(f"tensor {name!r}: {dtype} {shape} needs {want} bytes, data_offsets give {end - begin}")
        if end > data_size:
            raise ConvertError(f"tensor {name!r}: data [{begin}, {end}) runs past the end of the data section "
                               f"({data_size} bytes): truncated file")
        entries[name] = (dtype, tuple(shape), begin, end)
    spans = sorted((b, e, n) for n, (_, _, b, e) in entries.items() if e > b)
    for (_, e0, n0), (b1, _, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise ConvertError(f"tensors {n0!r} and {n1!r} overlap in the data section")
    return metadata, entries
