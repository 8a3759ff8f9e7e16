"""Memory-mapped, zero-copy GGUF v3 reader with eager validation.

File layout (little-endian; ../shared/spec/formats.md §1):
  1. magic "GGUF" (4 bytes), version u32 (2 or 3)
  2. tensor_count u64, metadata_kv_count u64
  3. metadata_kv_count x KV record: key (u64 length + UTF-8), value_type u32, value
     (arrays: elem_type u32, count u64, then packed elements; strings carry their own u64 length)
  4. tensor_count x tensor info: name (string), n_dims u32, ne[n_dims] u64 (ne[0] = contiguous
     dimension, i.e. the reverse of the numpy shape), type u32, offset u64 (relative to data start)
  5. zero padding to general.alignment (default 32), then the data section

Every count, length and range is checked against the file size before anything is sized by it, so a
hostile file can raise ``GGUFFormatError`` but never allocate by a claimed count, crash or hang.
Tensor data is never read at open: ``tensor.data`` is a view into the memory map.
"""

from __future__ import annotations

import builtins
import mmap
import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import GGUFFormatError
from .constants import (
    GGML_MAX_DIMS,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGUF_SUPPORTED_VERSIONS,
    PLAIN_DTYPES,
    QUANT_SIZES,
    VALUE_DTYPE,
    VALUE_STRUCT,
    GGMLType,
    GGUFValueType,
    type_name,
)
from .keys import General

MAX_ARRAY_DEPTH = 8  # nested arrays deeper than this are refused (the C reader allows none)
_MIN_KV_BYTES = 8 + 4 + 1  # empty key, type, 1-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # empty name, n_dims=0, type, offset
_INT64_MAX = (1 << 63) - 1
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class GGUFField:
    """One metadata KV record.

    ``value`` is an ``int``/``float``/``bool``/``str`` for scalars; for arrays a read-only numpy view
    into the file (numeric and bool elements), a ``list[str]`` (strings) or a ``list`` of such
    values (nested arrays). ``elem_type`` is set for arrays only; ``offset`` is where the record
    starts in the file.
    """

    key: str
    type: GGUFValueType
    value: Any
    elem_type: GGUFValueType | None = None
    offset: int = 0


class Metadata(Mapping[str, Any]):
    """Typed, ordered view of the KV records: ``md[key]`` is the value, ``md.field(key)`` the record."""

    def __init__(self, fields: dict[str, GGUFField]):
        self._fields = fields

    def __getitem__(self, key: str) -> Any:
        return self._fields[key].value

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def field(self, key: str) -> GGUFField:
        """The full record (type, element type, file offset) of ``key``."""
        return self._fields[key]

    def fields(self) -> list[GGUFField]:
        """All records in file order."""
        return list(self._fields.values())

    def __repr__(self) -> str:
        return f"Metadata({len(self)} keys)"


@dataclass(frozen=True)
class ReaderTensor:
    """One tensor of an open file. ``shape`` is numpy order; ``ne`` is GGUF order (``ne[0]`` first)."""

    name: str
    ne: tuple[int, ...]
    type: GGMLType
    offset: int  # absolute byte offset of the data in the file
    n_bytes: int
    data: np.ndarray = field(repr=False)  # uint8 view (rows..., bytes per row), zero-copy

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(reversed(self.ne))

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.ne:
            n *= d
        return n

    def numpy(self) -> np.ndarray:
        """The tensor as numpy in ``shape``: float32 for float and quantized types, the integer dtype
        for I8..I64, float64 for F64. F32 and the integer types are zero-copy views.

        Raises:
            UnsupportedTypeError: the type has no dequantizer yet.
        """
        plain = PLAIN_DTYPES.get(self.type)
        if plain is not None and self.type != GGMLType.F16:
            return self.data.view(plain).reshape(self.shape)
        # Decoding lives in quants/ (which builds on format/); imported here, at call time, so the
        # format layer has no import-time dependency on the math.
        from ..quants import dequantize

        return dequantize(self.data, self.type).reshape(self.shape)


class _Cursor:
    """Bounds-checked little-endian parser over the memory map."""

    def __init__(self, buf: mmap.mmap | bytes, size: int):
        self.buf = buf
        self.size = size
        self.pos = 0

    def need(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            raise GGUFFormatError(
                f"{what} at byte {self.pos}: needs {n} bytes but only {self.size - self.pos} remain "
                f"(file size {self.size}); the file is truncated or the value is corrupt"
            )

    def unpack(self, st: struct.Struct, what: str) -> Any:
        self.need(st.size, what)
        (v,) = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return v

    def u32(self, what: str) -> int:
        return self.unpack(_U32, what)

    def u64(self, what: str) -> int:
        return self.unpack(_U64, what)

    def string(self, what: str) -> str:
        start = self.pos
        n = self.u64(f"{what} length")
        if n > self.size - self.pos:
            raise GGUFFormatError(
                f"{what} at byte {start}: string length {n} runs past the end of the file "
                f"({self.size - self.pos} bytes remain)"
            )
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise GGUFFormatError(f"{what} at byte {start}: invalid UTF-8 ({e.reason} at {e.start})") from None


def _value_type(raw: int, where: str) -> GGUFValueType:
    try:
        return GGUFValueType(raw)
    except ValueError:
        raise GGUFFormatError(f"{where}: unknown value type {raw}, expected 0..12") from None


class GGUFReader:
    """Open a GGUF file, validate its header eagerly and expose metadata and tensors.

    Example:
        >>> r = GGUFReader("model.gguf")
        >>> r.metadata["general.architecture"], r.tensors[0].name, r.tensors[0].shape

    Raises:
        GGUFFormatError: anything malformed, with the offset, key or tensor and expected vs got.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        with builtins.open(self.path, "rb") as f:
            self.file_size = os.fstat(f.fileno()).st_size
            if self.file_size == 0:
                raise GGUFFormatError(f"{self.path}: file is empty, expected a GGUF header (24+ bytes)")
            self._mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._bytes = np.frombuffer(self._mmap, dtype=np.uint8)
        try:
            self._parse()
        except GGUFFormatError as e:
            self.close()
            raise GGUFFormatError(f"{self.path}: {e}") from None

    # ---- public API -------------------------------------------------------------------------

    @property
    def architecture(self) -> str | None:
        v = self.metadata.get(General.ARCHITECTURE)
        return v if isinstance(v, str) else None

    def get_tensor(self, name: str) -> ReaderTensor:
        """The tensor called ``name``; ``KeyError`` naming it if absent."""
        try:
            return self.tensors[self._tensor_index[name]]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor named {name!r}") from None

    def close(self) -> None:
        """Drop the views and the map. Views handed out before keep the map alive (numpy holds it)."""
        self._bytes = None
        self._mmap = None

    def __enter__(self) -> GGUFReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GGUFReader({self.path!r}: v{self.version}, {len(self.metadata)} keys, {len(self.tensors)} tensors)"

    # ---- parsing ------------------------------------------------------------------------------

    def _parse(self) -> None:
        c = _Cursor(self._mmap, self.file_size)
        c.need(24, "GGUF header")
        magic = self._mmap[0:4]
        if magic != GGUF_MAGIC:
            raise GGUFFormatError(f"bad magic at byte 0: expected b'GGUF', got {magic!r}; not a GGUF file")
        c.pos = 4
        self.version = c.u32("version")
        if self.version not in GGUF_SUPPORTED_VERSIONS:
            hint = ""
            if self.version & 0xFFFF == 0:
                hint = " (looks like a big-endian GGUF; only little-endian files are supported)"
            raise GGUFFormatError(f"unsupported GGUF version {self.version} at byte 4, expected 2 or 3{hint}")
        n_tensors = c.u64("tensor_count")
        n_kv = c.u64("metadata_kv_count")
        self._check_count(c, n_kv, _MIN_KV_BYTES, "metadata_kv_count", 16)
        self._check_count(c, n_tensors, _MIN_TENSOR_INFO_BYTES, "tensor_count", 8)

        fields: dict[str, GGUFField] = {}
        for i in range(n_kv):
            f = self._read_kv(c, i)
            if f.key in fields:
                raise GGUFFormatError(
                    f"duplicate metadata key {f.key!r} at byte {f.offset} (first at byte {fields[f.key].offset})"
                )
            fields[f.key] = f
        self.metadata = Metadata(fields)
        self.fields = fields
        self.alignment = self._alignment(fields)

        infos = [self._read_tensor_info(c, i) for i in range(n_tensors)]
        pad = (-c.pos) % self.alignment
        self.data_offset = c.pos + pad if n_tensors else c.pos
        self.tensors = self._build_tensors(infos)
        self._tensor_index = {t.name: i for i, t in enumerate(self.tensors)}

    def _check_count(self, c: _Cursor, n: int, min_bytes: int, what: str, at: int) -> None:
        if n > (self.file_size - c.pos) // min_bytes:
            raise GGUFFormatError(
                f"{what} at byte {at} is {n}, but the {self.file_size - c.pos} bytes left can hold at most "
                f"{(self.file_size - c.pos) // min_bytes} records"
            )

    def _read_kv(self, c: _Cursor, i: int) -> GGUFField:
        start = c.pos
        key = c.string(f"metadata key #{i}")
        if not key:
            raise GGUFFormatError(f"metadata key #{i} at byte {start} is empty")
        vtype = _value_type(c.u32(f"type of {key!r}"), f"metadata {key!r} at byte {start}")
        if vtype == GGUFValueType.ARRAY:
            elem_type, value = self._read_array(c, key, 0)
            return GGUFField(key, vtype, value, elem_type, start)
        return GGUFField(key, vtype, self._read_scalar(c, vtype, key), None, start)

    def _read_scalar(self, c: _Cursor, vtype: GGUFValueType, key: str) -> Any:
        if vtype == GGUFValueType.STRING:
            return c.string(f"value of {key!r}")
        st = struct.Struct("<" + VALUE_STRUCT[vtype])
        if vtype == GGUFValueType.BOOL:  # any non-zero byte is true, as in gguf.cpp
            return bool(c.unpack(struct.Struct("<B"), f"value of {key!r}"))
        return c.unpack(st, f"value of {key!r}")

    def _read_array(self, c: _Cursor, key: str, depth: int) -> tuple[GGUFValueType, Any]:
        start = c.pos
        where = f"array {key!r} at byte {start}"
        elem_type = _value_type(c.u32(f"element type of {key!r}"), where)
        n = c.u64(f"element count of {key!r}")
        if elem_type == GGUFValueType.STRING:
            if n > (c.size - c.pos) // 8:
                raise GGUFFormatError(f"{where}: {n} strings cannot fit in the {c.size - c.pos} bytes left")
            return elem_type, [c.string(f"{key!r}[{j}]") for j in range(n)]
        if elem_type == GGUFValueType.ARRAY:
            if depth + 1 >= MAX_ARRAY_DEPTH:
                raise GGUFFormatError(f"{where}: arrays nested deeper than {MAX_ARRAY_DEPTH} levels")
            if n > (c.size - c.pos) // 12:
                raise GGUFFormatError(f"{where}: {n} nested arrays cannot fit in the {c.size - c.pos} bytes left")
            return elem_type, [self._read_array(c, f"{key}[{j}]", depth + 1)[1] for j in range(n)]
        dtype = np.dtype(VALUE_DTYPE[elem_type])
        if n > (c.size - c.pos) // dtype.itemsize:
            raise GGUFFormatError(
                f"{where}: {n} x {elem_type.name} needs {n * dtype.itemsize} bytes, "
                f"only {c.size - c.pos} remain"
            )
        arr = self._bytes[c.pos : c.pos + n * dtype.itemsize].view(dtype)
        c.pos += n * dtype.itemsize
        if elem_type == GGUFValueType.BOOL:
            arr = arr != 0
        return elem_type, arr

    def _alignment(self, fields: dict[str, GGUFField]) -> int:
        f = fields.get(General.ALIGNMENT)
        if f is None:
            return GGUF_DEFAULT_ALIGNMENT
        if f.type != GGUFValueType.UINT32:
            raise GGUFFormatError(f"{General.ALIGNMENT} at byte {f.offset}: expected type UINT32, got {f.type.name}")
        if f.value == 0 or f.value & (f.value - 1):
            raise GGUFFormatError(f"{General.ALIGNMENT} at byte {f.offset}: {f.value} is not a power of two")
        return f.value

    def _read_tensor_info(self, c: _Cursor, i: int) -> tuple[str, tuple[int, ...], GGMLType, int, int]:
        start = c.pos
        name = c.string(f"name of tensor #{i}")
        where = f"tensor {name!r} (info at byte {start})"
        n_dims = c.u32(f"n_dims of {name!r}")
        if n_dims > GGML_MAX_DIMS:
            raise GGUFFormatError(f"{where}: n_dims is {n_dims}, expected at most {GGML_MAX_DIMS}")
        ne = tuple(c.u64(f"ne[{d}] of {name!r}") for d in range(n_dims))
        raw_type = c.u32(f"type of {name!r}")
        rel_offset = c.u64(f"offset of {name!r}")
        try:
            qtype = GGMLType(raw_type)
        except ValueError:
            raise GGUFFormatError(f"{where}: unknown ggml type id {raw_type}, expected 0..42 or a ggufpy-private id") from None
        block_size, type_size = QUANT_SIZES[qtype]
        if block_size == 0:
            raise GGUFFormatError(f"{where}: type {qtype.name} (id {raw_type}) was removed from ggml and has no layout")
        n_elems = 1
        for d in ne:
            n_elems *= d
        if n_elems > _INT64_MAX:
            raise GGUFFormatError(f"{where}: shape ne={list(ne)} has {n_elems} elements, more than int64 can hold")
        if (ne[0] if ne else 1) % block_size:
            raise GGUFFormatError(
                f"{where}: row length ne[0]={ne[0]} is not a multiple of {qtype.name}'s block size {block_size}"
            )
        n_bytes = n_elems // block_size * type_size
        if n_bytes > _INT64_MAX:
            raise GGUFFormatError(f"{where}: byte size {n_bytes} of shape ne={list(ne)} overflows int64")
        return name, ne, qtype, rel_offset, n_bytes

    def _build_tensors(self, infos: list) -> list[ReaderTensor]:
        tensors, seen = [], set()
        for name, ne, qtype, rel, n_bytes in infos:
            if name in seen:
                raise GGUFFormatError(f"duplicate tensor name {name!r}")
            seen.add(name)
            if rel % self.alignment:
                raise GGUFFormatError(
                    f"tensor {name!r}: data offset {rel} is not a multiple of the alignment {self.alignment}"
                )
            start = self.data_offset + rel
            if start + n_bytes > self.file_size:
                raise GGUFFormatError(
                    f"tensor {name!r}: data [{start}, {start + n_bytes}) exceeds file size {self.file_size}"
                )
            tensors.append(ReaderTensor(name, ne, qtype, start, n_bytes, self._view(start, n_bytes, ne, qtype)))
        by_offset = sorted(tensors, key=lambda t: t.offset)
        for a, b in zip(by_offset, by_offset[1:]):
            if a.offset + a.n_bytes > b.offset:
                raise GGUFFormatError(
                    f"tensor {b.name!r}: data at [{b.offset}, {b.offset + b.n_bytes}) overlaps tensor "
                    f"{a.name!r} at [{a.offset}, {a.offset + a.n_bytes})"
                )
        return tensors

    def _view(self, start: int, n_bytes: int, ne: tuple[int, ...], qtype: GGMLType) -> np.ndarray:
        block_size, type_size = QUANT_SIZES[qtype]
        raw = self._bytes[start : start + n_bytes]
        if not ne:
            return raw
        row_bytes = ne[0] // block_size * type_size
        return raw.reshape(*reversed(ne[1:]), row_bytes)


def open(path: str | os.PathLike) -> GGUFReader:  # noqa: A001 - ggufpy.open mirrors builtins.open on purpose
    """Open a GGUF file (``GGUFReader(path)``)."""
    return GGUFReader(path)
