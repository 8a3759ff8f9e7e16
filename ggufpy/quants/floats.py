"""Plain float types F32, F16 and BF16: the numpy references.

F16: IEEE binary16, little-endian; decoding is exact (numpy's cast keeps NaN payloads; the native
     kernels do the same). Encoding is numpy's astype(float16): round to nearest even.
BF16: the top 16 bits of the float32 pattern u. Decoding is exact (u = h << 16). Encoding mirrors
     ggml_compute_fp32_to_bf16: NaN -> (u >> 16) | 0x0040 (quiet), else round to nearest even
     (u + 0x7FFF + ((u >> 16) & 1)) >> 16; subnormals are kept, overflow rounds to inf.
"""

from __future__ import annotations

import numpy as np


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
