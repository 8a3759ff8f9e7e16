"""Plain float types F32, F16 and BF16: the numpy references.

F16: IEEE binary16, little-endian; decoding is exact (numpy's cast keeps NaN payloads; the native
     kernels do the same). Encoding is numpy's astype(float16): round to nearest even.
BF16: the top 16 bits of the float32 pattern u. Decoding is exact (u = h << 16). Encoding mirrors
     ggml_compute_fp32_to_bf16: NaN -> (u >> 16) | 0x0040 (quiet), else round to nearest even
     (u + 0x7FFF + ((u >> 16) & 1)) >> 16; subnormals are kept, overflow rounds to inf.
"""

from __future__ import annotations

import numpy as np

from ..format.constants import GGMLType
from ._base import QuantType


def f16_to_f32(h: np.ndarray) -> np.ndarray:
    """(n,) uint16 half bits -> float32."""
    return h.view(np.float16).astype(np.float32)


def f32_to_f16(x: np.ndarray) -> np.ndarray:
    """float32 -> uint16 half bits (round to nearest even)."""
    return np.asarray(x, dtype=np.float32).astype(np.float16).view(np.uint16)


def bf16_to_f32(h: np.ndarray) -> np.ndarray:
    """(n,) uint16 bfloat16 bits -> float32."""
    return (h.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> uint16 bfloat16 bits, ggml's rule."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    is_nan = (u & 0x7FFFFFFF) > 0x7F800000
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return np.where(is_nan, (u >> 16) | 0x0040, rounded).astype(np.uint16)


class F32(QuantType, qtype=GGMLType.F32):
    """4 bytes: IEEE binary32, little-endian."""

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(blocks, dtype="<f4").view(np.uint8).reshape(-1, 4)

    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(blocks).view("<f4").reshape(-1, 1).astype(np.float32)


class F16(QuantType, qtype=GGMLType.F16):
    """2 bytes: IEEE binary16, little-endian (encode: round to nearest even, numpy's cast)."""

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        return f32_to_f16(blocks).view(np.uint8).reshape(-1, 2)

    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        return f16_to_f32(np.ascontiguousarray(blocks).view("<u2")).reshape(-1, 1)


class BF16(QuantType, qtype=GGMLType.BF16):
    """2 bytes: the top half of a float32 (encode: ggml's round-to-nearest-even, NaN quieted)."""

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        return f32_to_bf16(blocks).view(np.uint8).reshape(-1, 2)

    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        return bf16_to_f32(np.ascontiguousarray(blocks).view("<u2")).reshape(-1, 1)
