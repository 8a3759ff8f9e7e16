"""The QuantType base class, the registry, and the rounding helpers every reference shares.

Each block type is one subclass, registered by its type id through ``__init_subclass__(qtype=...)``
(gguf-py's pattern). Subclasses implement the numpy reference on whole blocks:

    quantize_blocks(blocks: (n, block_size) float32) -> (n, type_size) uint8
    dequantize_blocks(blocks: (n, type_size) uint8)  -> (n, block_size) float32

Rounding traps, stated once (../shared/spec/formats.md §0.2):
  * ``np_roundf``: C ``roundf`` = round half AWAY from zero (Q8_0, Q8_1; ``lroundf`` in TQ1_0/TQ2_0).
  * ``nearest_int``: ggml's magic-number rounding = round half to EVEN in float32 (K-quants, Q8_K);
    equal to ``np.rint`` on float32 for |x| <= 2**22.
  * C casts ``(int)(x + 8.5f)`` truncate; x is >= 0 there, so truncation = floor (Q4_0..Q5_1).
  * All arithmetic is float32 in C's left-to-right order; numpy code must keep float32 dtypes and the
    same association, or results differ in the last bit.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..errors import UnsupportedTypeError
from ..format.constants import QUANT_SIZES, GGMLType

_REGISTRY: dict[int, type[QuantType]] = {}


class QuantType:
    """A block layout with its numpy reference. Subclass with ``class Q4_0(QuantType, qtype=GGMLType.Q4_0)``."""

    qtype: ClassVar[GGMLType]
    block_size: ClassVar[int]
    type_size: ClassVar[int]

    def __init_subclass__(cls, qtype: GGMLType | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if qtype is None:
            return
        cls.qtype = GGMLType(qtype)
        cls.block_size, cls.type_size = QUANT_SIZES[cls.qtype]
        if int(qtype) in _REGISTRY:
            raise AssertionError(f"{cls.qtype.name} registered twice ({_REGISTRY[int(qtype)].__name__}, {cls.__name__})")
        _REGISTRY[int(qtype)] = cls

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        """(n, block_size) float32 -> (n, type_size) uint8."""
        raise UnsupportedTypeError(f"quantizing to {cls.qtype.name} is not supported (dequantize-only type)")

    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        """(n, type_size) uint8 -> (n, block_size) float32."""
        raise NotImplementedError

    @classmethod
    def can_quantize(cls) -> bool:
        return cls.quantize_blocks.__func__ is not QuantType.quantize_blocks.__func__


def registry() -> dict[int, type[QuantType]]:
    """type id -> QuantType subclass, for every type with a numpy reference."""
    return _REGISTRY


# ---- rounding and half-precision helpers ---------------------------------------------------------


def np_roundf(x: np.ndarray) -> np.ndarray:
    """C ``roundf``: round half away from zero (float32 in, float32 out)."""
    # floor(a + 0.5) would be wrong for a = 0.49999997 (the sum rounds up to 1.0 in float32);
    # 2 * frac(a) is exact, so this is gguf-py's exact formulation.
    a = np.abs(x).astype(np.float32)
    floored = np.floor(a)
    return np.copysign(floored + np.floor(np.float32(2) * (a - floored)), x).astype(np.float32)


def nearest_int(x: np.ndarray) -> np.ndarray:
    """ggml ``nearest_int``: float32 round half to even, as int32 (valid for |x| <= 4194303)."""
    return np.rint(x.astype(np.float32)).astype(np.int32)


def f16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> little-endian half bits as (..., 2) uint8 (round to nearest even)."""
    return np.asarray(x, dtype=np.float32).astype("<f2").view(np.uint8).reshape(*np.shape(x), 2)


def f16_value(b: np.ndarray) -> np.ndarray:
    """(..., 2) uint8 little-endian half bits -> float32 (..., 1)."""
    return np.ascontiguousarray(b).view("<f2").astype(np.float32)


def split_blocks(data: np.ndarray, type_size: int) -> np.ndarray:
    """Raw bytes (any shape, rows of whole blocks) -> (n_blocks, type_size) uint8 view."""
    raw = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    if raw.size % type_size:
        raise ValueError(f"{raw.size} bytes is not a whole number of {type_size}-byte blocks")
    return raw.reshape(-1, type_size)
