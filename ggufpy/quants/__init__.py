"""Quantization front door: ``dequantize(data, qtype)`` (and ``quantize`` once the quant issue lands).

Every type has one numpy reference (``floats.py``, ...); the native kernels in ``_native`` only make
them faster and are tested bit-for-bit against them.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedTypeError
from ..format.constants import GGMLType
from . import _native, floats


def dequantize(data: np.ndarray, qtype: GGMLType) -> np.ndarray:
    """Raw tensor bytes (any shape, uint8 or the type's dtype) -> flat float32.

    Raises:
        UnsupportedTypeError: no decoder for ``qtype`` yet.
    """
    qtype = GGMLType(qtype)
    raw = np.ascontiguousarray(data)
    if qtype == GGMLType.F32:
        return raw.reshape(-1).view(np.float32)
    if qtype == GGMLType.F16:
        return _native.kernels().fp16_to_fp32(raw.reshape(-1).view(np.uint16))
    if qtype == GGMLType.BF16:
        return _native.kernels().bf16_to_fp32(raw.reshape(-1).view(np.uint16))
    raise UnsupportedTypeError(f"dequantizing {qtype.name} is not implemented yet")


__all__ = ["dequantize", "floats"]
