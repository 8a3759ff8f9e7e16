"""Streaming GGUF v3 writer.

The header (magic, version, counts, KV records, tensor infos) is written first with every tensor
offset computed up front from the declared types and shapes; tensor data then streams to disk one
tensor at a time in the order added, each zero-padded to the alignment. A tensor may be given as an
array or as a callable that produces it when its turn comes, so peak memory is about one tensor.

Output goes to a temporary file beside the target and is renamed over it only when complete; an
error or an interrupt removes the temporary file. An existing target is refused unless
``overwrite=True``.

State machine (gguf-py ``WriterState`` idea): OPEN (add_* allowed) -> WRITTEN | ABORTED. Any call
out of that order raises ``WriterStateError``.
"""

from __future__ import annotations

import enum
import os
import struct
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from ..errors import GGUFError, GGUFFormatError, WriterStateError
from .constants import (
    GGML_MAX_DIMS,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGUF_SUPPORTED_VERSIONS,
    GGUF_VERSION,
    PLAIN_DTYPES,
    QUANT_SIZES,
    VALUE_DTYPE,
    VALUE_STRUCT,
    GGMLType,
    GGUFValueType,
    is_removed,
    tensor_n_bytes,
)
from .keys import General

TensorSource = Union[np.ndarray, bytes, bytearray, memoryview, Callable[[], Any]]

# numpy dtype -> ggml type for add_tensor without an explicit type
_DTYPE_TO_GGML = {np.dtype(v).newbyteorder("="): k for k, v in PLAIN_DTYPES.items()}
_DTYPE_TO_VALUE = {
    np.dtype(np.uint8): GGUFValueType.UINT8,
    np.dtype(np.int8): GGUFValueType.INT8,
    np.dtype(np.uint16): GGUFValueType.UINT16,
    np.dtype(np.int16): GGUFValueType.INT16,
    np.dtype(np.uint32): GGUFValueType.UINT32,
    np.dtype(np.int32): GGUFValueType.INT32,
    np.dtype(np.float32): GGUFValueType.FLOAT32,
    np.dtype(np.bool_): GGUFValueType.BOOL,
    np.dtype(np.uint64): GGUFValueType.UINT64,
    np.dtype(np.int64): GGUFValueType.INT64,
    np.dtype(np.float64): GGUFValueType.FLOAT64,
}


class WriterState(enum.Enum):
    OPEN = "open"
    WRITTEN = "written"
    ABORTED = "aborted"


@dataclass
class _TensorInfo:
    name: str
    ne: tuple[int, ...]
    type: GGMLType
    n_bytes: int
    source: TensorSource
    offset: int = 0  # relative to the data section, filled in at write time


def _pad(n: int, alignment: int) -> int:
    """Bytes of zero padding that bring ``n`` up to a multiple of ``alignment``."""
    return (-n) % alignment


def _encode_string(s: str | bytes) -> bytes:
    raw = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(raw)) + raw


def _infer_elem_type(values: Any) -> GGUFValueType:
    """Element type of an array value: numpy dtype, else gguf-py's rule (int->INT32, float->FLOAT32)."""
    if isinstance(values, np.ndarray):
        try:
            return _DTYPE_TO_VALUE[values.dtype.newbyteorder("=")]
        except KeyError:
            raise GGUFFormatError(f"no GGUF value type for numpy dtype {values.dtype}") from None
    first = next(iter(values), None)
    if isinstance(first, (str, bytes)):
        return GGUFValueType.STRING
    if isinstance(first, bool):
        return GGUFValueType.BOOL
    if isinstance(first, int):
        return GGUFValueType.INT32
    if isinstance(first, float):
        return GGUFValueType.FLOAT32
    if isinstance(first, (list, tuple, np.ndarray)):
        return GGUFValueType.ARRAY
    raise GGUFFormatError(f"cannot infer a GGUF array element type from {type(first).__name__}; pass elem_type")


def encode_value(vtype: GGUFValueType, value: Any, elem_type: GGUFValueType | None = None) -> bytes:
    """Bytes of one value (without key or type tag)."""
    if vtype == GGUFValueType.STRING:
        return _encode_string(value)
    if vtype != GGUFValueType.ARRAY:
        return struct.pack("<" + VALUE_STRUCT[vtype], value)
    if elem_type is None:
        elem_type = _infer_elem_type(value)
    head = struct.pack("<IQ", elem_type, len(value))
    if elem_type == GGUFValueType.STRING:
        return head + b"".join(_encode_string(s) for s in value)
    if elem_type == GGUFValueType.ARRAY:
        return head + b"".join(encode_value(GGUFValueType.ARRAY, v, _infer_elem_type(v)) for v in value)
    arr = np.asarray(value)
    if elem_type == GGUFValueType.BOOL:
        arr = arr.astype(bool)
    return head + arr.astype(VALUE_DTYPE[elem_type], copy=False).tobytes()


def _as_bytes(data: Any) -> memoryview:
    if isinstance(data, np.ndarray):
        if data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("<"))
        return memoryview(np.ascontiguousarray(data)).cast("B")
    return memoryview(data).cast("B")


class GGUFWriter:
    """Write a GGUF v3 file, streaming tensor data one tensor at a time.

    Example:
        >>> with GGUFWriter("out.gguf", "llama") as w:
        ...     w.add_uint32("llama.block_count", 2)
        ...     w.add_tensor("output_norm.weight", np.ones(64, np.float32))
        # written and renamed into place when the block exits without an error

    Args:
        path: target file.
        arch: written first as ``general.architecture`` when given.
        alignment: data alignment; written as ``general.alignment`` when not the default 32.
        overwrite: replace an existing ``path`` (refused by default).
        version: 3 (default) or 2 (same layout; only to reproduce v2 inputs byte for byte).
    """

    def __init__(self, path: str | os.PathLike, arch: str | None = None, *, alignment: int | None = None,
                 overwrite: bool = False, version: int = GGUF_VERSION):
        self.path = os.fspath(path)
        if version not in GGUF_SUPPORTED_VERSIONS:
            raise GGUFFormatError(f"cannot write GGUF version {version}; supported: {GGUF_SUPPORTED_VERSIONS}")
        self.version = version
        self.overwrite = overwrite
        if not overwrite and os.path.exists(self.path):
            raise FileExistsError(f"{self.path} exists; pass overwrite=True (CLI: --force) to replace it")
        self.state = WriterState.OPEN
        self._kv: dict[str, tuple[GGUFValueType, Any, GGUFValueType | None]] = {}
        self._tensors: dict[str, _TensorInfo] = {}
        if arch is not None:
            self.add_string(General.ARCHITECTURE, arch)
        if alignment is not None and alignment != GGUF_DEFAULT_ALIGNMENT:
            self.add_uint32(General.ALIGNMENT, alignment)

    # ---- metadata --------------------------------------------------------------------------

    def add_key_value(self, key: str, value: Any, vtype: GGUFValueType,
                      elem_type: GGUFValueType | None = None) -> None:
        """Add one KV record of an explicit type (``elem_type`` for arrays; inferred if None)."""
        self._require_open("add_key_value")
        if not key:
            raise GGUFFormatError("metadata key must not be empty")
        if key in self._kv:
            raise GGUFFormatError(f"duplicate metadata key {key!r}")
        vtype = GGUFValueType(vtype)
        if key == General.ALIGNMENT:
            self._check_alignment(value, vtype)
        encode_value(vtype, value, elem_type)  # validate now, so errors name the key at add time
        self._kv[key] = (vtype, value, elem_type)

    def add_uint8(self, key: str, v: int) -> None: self.add_key_value(key, v, GGUFValueType.UINT8)
    def add_int8(self, key: str, v: int) -> None: self.add_key_value(key, v, GGUFValueType.INT8)
    def add_uint16(self, key: str, v: int) -> None: self.add_key_value(key, v, GGUFValueType.UINT16)
    def add_int16(self, key: str, v: int) -> None: self.add_key_value(key, v, GGUFValueType.INT16)
    def add_uint32(self, key: str, v: int) -> None: self.add_key_value(key, v, GGUFValueType.UINT32)
    def add_int32(self, key: str, v: int) -> None: self.add_key_value(key, v, GGUFValueType.INT32)
    def add_uint64(self, key: str, v: int) -> None: self.add_key_value(key, v, GGUFValueType.UINT64)
    def add_int64(self, key: str, v: int) -> None: self.add_key_value(key, v, GGUFValueType.INT64)
    def add_float32(self, key: str, v: float) -> None: self.add_key_value(key, v, GGUFValueType.FLOAT32)
    def add_float64(self, key: str, v: float) -> None: self.add_key_value(key, v, GGUFValueType.FLOAT64)
    def add_bool(self, key: str, v: bool) -> None: self.add_key_value(key, v, GGUFValueType.BOOL)
    def add_string(self, key: str, v: str) -> None: self.add_key_value(key, v, GGUFValueType.STRING)

    def add_array(self, key: str, values: Iterable | np.ndarray, elem_type: GGUFValueType | None = None) -> None:
        """Add an array; ``elem_type`` defaults to the numpy dtype, or gguf-py's inference for lists."""
        if not isinstance(values, np.ndarray):
            values = list(values)
        self.add_key_value(key, values, GGUFValueType.ARRAY, elem_type)

    # ---- tensors ---------------------------------------------------------------------------

    def add_tensor(self, name: str, data: TensorSource, *, ggml_type: GGMLType | None = None,
                   shape: tuple[int, ...] | None = None, ne: tuple[int, ...] | None = None) -> None:
        """Declare a tensor; its bytes are written (or produced, if ``data`` is callable) at ``write()``.

        Args:
            data: numpy array (F32/F16/F64/I8..I64 inferred from its dtype), raw bytes of an already
                encoded tensor (give ``ggml_type``), or a zero-argument callable returning either.
            ggml_type: the stored type; required for raw bytes and callables.
            shape: element shape in numpy order; ``ne``: the same in GGUF order (ne[0] first, kept
                verbatim, trailing 1s included). Without either, derived from ``data``: for a block
                type a uint8 array's last axis counts bytes per row (as ``ReaderTensor.data``).
        """
        self._require_open("add_tensor")
        if name in self._tensors:
            raise GGUFFormatError(f"duplicate tensor name {name!r}")
        if len(name.encode("utf-8")) >= 64:
            raise GGUFFormatError(f"tensor name {name!r} is {len(name.encode())} bytes; llama.cpp allows at most 63")
        qtype = self._tensor_type(name, data, ggml_type)
        ne = self._tensor_ne(name, data, qtype, shape, ne)
        self._tensors[name] = _TensorInfo(name, ne, qtype, tensor_n_bytes(qtype, ne), data)

    def _tensor_type(self, name: str, data: TensorSource, ggml_type: GGMLType | None) -> GGMLType:
        if ggml_type is not None:
            qtype = GGMLType(ggml_type)
            if is_removed(qtype):
                raise GGUFFormatError(f"tensor {name!r}: type {qtype.name} was removed from ggml")
            return qtype
        if not isinstance(data, np.ndarray):
            raise GGUFFormatError(f"tensor {name!r}: pass ggml_type for raw bytes or a callable source")
        try:
            return _DTYPE_TO_GGML[data.dtype.newbyteorder("=")]
        except KeyError:
            raise GGUFFormatError(f"tensor {name!r}: no ggml type for dtype {data.dtype}; pass ggml_type") from None

    def _tensor_ne(self, name: str, data: TensorSource, qtype: GGMLType, shape, ne) -> tuple[int, ...]:
        block_size, type_size = QUANT_SIZES[qtype]
        if ne is None and shape is not None:
            ne = tuple(reversed(shape))
        if ne is None:
            if not isinstance(data, np.ndarray):
                raise GGUFFormatError(f"tensor {name!r}: pass shape= or ne= for a non-array source")
            if data.dtype != np.uint8 or qtype == GGMLType.I8:  # elements, numpy order
                ne = tuple(reversed(data.shape))
            else:  # raw encoded bytes: last axis is bytes per row
                if data.dtype != np.uint8 or data.ndim == 0 or data.shape[-1] % type_size:
                    raise GGUFFormatError(
                        f"tensor {name!r}: {qtype.name} data must be uint8 rows of whole {type_size}-byte blocks, "
                        f"got {data.dtype} {data.shape}"
                    )
                ne = (data.shape[-1] // type_size * block_size, *reversed(data.shape[:-1]))
        ne = tuple(int(d) for d in ne)
        if len(ne) > GGML_MAX_DIMS or any(d < 0 for d in ne):
            raise GGUFFormatError(f"tensor {name!r}: invalid ne {list(ne)} (at most {GGML_MAX_DIMS} dims, each >= 0)")
        if (ne[0] if ne else 1) % block_size:
            raise GGUFFormatError(
                f"tensor {name!r}: row length {ne[0] if ne else 1} is not a multiple of {qtype.name}'s block size {block_size}"
            )
        return ne

    # ---- output ----------------------------------------------------------------------------

    @property
    def alignment(self) -> int:
        kv = self._kv.get(General.ALIGNMENT)
        return kv[1] if kv else GGUF_DEFAULT_ALIGNMENT

    def header_bytes(self) -> bytes:
        """Everything before the data section (including its padding when there are tensors)."""
        out = [GGUF_MAGIC, struct.pack("<IQQ", self.version, len(self._tensors), len(self._kv))]
        for key, (vtype, value, elem_type) in self._kv.items():
            out.append(_encode_string(key) + struct.pack("<I", vtype) + encode_value(vtype, value, elem_type))
        offset = 0
        for t in self._tensors.values():
            t.offset = offset
            out.append(_encode_string(t.name) + struct.pack(f"<I{len(t.ne)}QIQ", len(t.ne), *t.ne, t.type, offset))
            offset += t.n_bytes + _pad(t.n_bytes, self.alignment)
        head = b"".join(out)
        if self._tensors:
            head += bytes(_pad(len(head), self.alignment))
        return head

    def write(self, progress: bool = False) -> str:
        """Write the file (header, then each tensor streamed in order) and rename it into place.

        Returns the path written. On any error the partial temporary file is removed.
        """
        self._require_open("write")
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.", suffix=".part", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.header_bytes())
                self._write_data(f, progress)
            if not self.overwrite and os.path.exists(self.path):
                raise FileExistsError(f"{self.path} appeared while writing; pass overwrite=True to replace it")
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            self.state = WriterState.ABORTED
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self.state = WriterState.WRITTEN
        return self.path

    def _write_data(self, f, progress: bool) -> None:
        bar = None
        if progress:
            from tqdm import tqdm

            total = sum(t.n_bytes for t in self._tensors.values())
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(self.path))
        try:
            for t in self._tensors.values():
                data = _as_bytes(t.source() if callable(t.source) else t.source)
                if data.nbytes != t.n_bytes:
                    raise GGUFError(
                        f"tensor {t.name!r}: source gave {data.nbytes} bytes, expected {t.n_bytes} "
                        f"for {t.type.name} ne={list(t.ne)}"
                    )
                f.write(data)
                del data  # let this tensor's bytes go before the next source is produced (peak: one tensor)
                f.write(bytes(_pad(t.n_bytes, self.alignment)))
                if bar is not None:
                    bar.set_postfix_str(t.name, refresh=False)
                    bar.update(t.n_bytes)
        finally:
            if bar is not None:
                bar.close()

    def abort(self) -> None:
        """Give up: nothing is (or will be) written."""
        self.state = WriterState.ABORTED

    def __enter__(self) -> GGUFWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self.state == WriterState.OPEN:
            self.write()

    # ---- checks ----------------------------------------------------------------------------

    def _require_open(self, what: str) -> None:
        if self.state != WriterState.OPEN:
            raise WriterStateError(f"{what}() called on a writer that is {self.state.value}; make a new GGUFWriter")

    @staticmethod
    def _check_alignment(value: Any, vtype: GGUFValueType) -> None:
        if vtype != GGUFValueType.UINT32:
            raise GGUFFormatError(f"{General.ALIGNMENT} must be UINT32, got {vtype.name}")
        if not isinstance(value, (int, np.integer)) or value <= 0 or value & (value - 1):
            raise GGUFFormatError(f"{General.ALIGNMENT} must be a power of two, got {value!r}")


def writer_from(reader, path: str | os.PathLike, *, overwrite: bool = False) -> GGUFWriter:
    """A writer pre-filled with every KV record and tensor of an open ``GGUFReader``, in file order.

    Writing it unchanged reproduces a contiguously laid-out v3 input byte for byte; add, or build a
    new writer from ``reader.metadata.fields()``, to edit.
    """
    w = GGUFWriter(path, overwrite=overwrite, version=reader.version)
    for f in reader.metadata.fields():
        w.add_key_value(f.key, f.value, f.type, f.elem_type)
    for t in reader.tensors:
        w.add_tensor(t.name, t.data, ggml_type=t.type, ne=t.ne)
    return w
