"""Quantization front door: ``quantize(x, qtype)`` and ``dequantize(data, qtype)``.

Every type has one numpy reference (a ``QuantType`` subclass in ``floats``, ``legacy``, ``k``,
``ternary``, ``nf4``, ``other``); native kernels from ``_native`` only make them faster and are tested
bit-for-bit against them. ``reference=True`` forces the numpy path.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedTypeError
from ..format.constants import QUANT_SIZES, GGMLType
from . import _native, floats
from ._base import QuantType, registry

# Families register their types on import.
from . import k, legacy, nf4, other, ternary  # noqa: E402,F401  (imported for registration)


def get(qtype: GGMLType | int) -> type[QuantType]:
    """The QuantType class of ``qtype``.

    Raises:
        UnsupportedTypeError: no numpy reference exists for it.
    """
    cls = registry().get(int(qtype))
    if cls is None:
        name = GGMLType(qtype).name if int(qtype) in GGMLType._value2member_map_ else f"type#{int(qtype)}"
        raise UnsupportedTypeError(f"ggufpy has no implementation of {name}")
    return cls


def _native_dequant(qtype: GGMLType):
    k = _native.kernels()
    if not k.has_dequantize(int(qtype)):
        return None
    return lambda raw: k.dequantize(int(qtype), raw)


def dequantize(data: np.ndarray, qtype: GGMLType | int, *, reference: bool = False) -> np.ndarray:
    """Raw bytes of whole blocks -> float32 of shape ``data.shape[:-1] + (elements per row,)``.

    ``data`` is uint8 with rows in its last axis (as ``ReaderTensor.data``), or any C-contiguous array
    whose bytes are whole blocks (then the result is flat).
    """
    cls = get(qtype)
    raw = np.ascontiguousarray(data)
    rows = raw.shape[:-1] if raw.dtype == np.uint8 and raw.ndim > 1 else ()
    if cls.qtype == GGMLType.F32:
        return raw.view(np.float32).reshape(*rows, -1)
    fn = None if reference else _native_dequant(cls.qtype)
    if fn is not None:
        out = fn(raw.reshape(-1).view(np.uint8))
    else:
        from ._base import split_blocks

        out = cls.dequantize_blocks(split_blocks(raw, cls.type_size))
    return out.reshape(*rows, -1)


def quantize(x: np.ndarray, qtype: GGMLType | int, *, reference: bool = False, **options) -> np.ndarray:
    """float32 rows (..., n) with n a multiple of the block size -> uint8 (..., n / block_size * type_size).

    ``options`` go to the type's ``quantize_blocks`` (e.g. ``double_quant=True`` for NF4); with options,
    or ``reference=True``, the numpy reference runs, else the native kernel when there is one (bit-identical).
    """
    cls = get(qtype)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim == 0 or x.shape[-1] % cls.block_size:
        raise ValueError(
            f"{cls.qtype.name}: row length {x.shape[-1] if x.ndim else 0} is not a multiple of its block size {cls.block_size}"
        )
    k = None if reference or options else _native.kernels()
    if k is not None and k.has_quantize(int(cls.qtype)):
        out = k.quantize(int(cls.qtype), x.reshape(-1))
    else:
        out = cls.quantize_blocks(x.reshape(-1, cls.block_size), **options)
    return out.reshape(*x.shape[:-1], x.shape[-1] // cls.block_size * cls.type_size)


__all__ = ["QuantType", "dequantize", "quantize", "get", "registry", "QUANT_SIZES"]
