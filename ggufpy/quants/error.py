"""Quantization error analysis: how far ``dequantize(quantize(x))`` lands from ``x``.

For a uniform (linear) quantizer with step s, rounding error is ~uniform on [-s/2, s/2], so its
variance is s**2 / 12. Types that can say what their step is per element implement
``QuantType.linear_step(blocks) -> (n_blocks, block_size) float32``; for them ``error_stats``
reports that theoretical variance beside the measured one (codebook types such as NF4 have none).
"""

from __future__ import annotations

import numpy as np

from ..format.constants import QUANT_SIZES, GGMLType


def bits_per_weight(qtype: GGMLType | int) -> float:
    block_size, type_size = QUANT_SIZES[GGMLType(qtype)]
    return 8.0 * type_size / block_size


def compare(x: np.ndarray, y: np.ndarray) -> dict:
    """Error statistics of an approximation ``y`` of ``x`` (float64 accumulation)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    err = x - y
    signal = float(np.dot(x, x))
    noise = float(np.dot(err, err))
    n = max(x.size, 1)
    return {
        "n": int(x.size),
        "mse": noise / n,
        "rmse": (noise / n) ** 0.5,
        "max_abs_err": float(np.max(np.abs(err))) if x.size else 0.0,
        "snr_db": 10 * np.log10(signal / noise) if noise > 0 and signal > 0 else float("inf"),
    }


def error_stats(x: np.ndarray, qtype: GGMLType | int, **options) -> dict:
    """Quantize ``x`` (rows whose length is a multiple of the block size) and measure the error.

    Returns mse, rmse, max_abs_err, snr_db, bits_per_weight, and for linear types
    ``theoretical_var`` (mean s**2/12) beside ``measured_var`` (= mse).

    Example:
        >>> error_stats(np.random.randn(4, 256).astype(np.float32), GGMLType.Q4_K)["snr_db"]
    """
    from . import dequantize, get, quantize

    x = np.asarray(x, dtype=np.float32)
    cls = get(qtype)
    q = quantize(x, qtype, **options)
    stats = compare(x, dequantize(q, qtype))
    stats["type"] = cls.qtype.name
    stats["bits_per_weight"] = bits_per_weight(cls.qtype)
    stats["measured_var"] = stats["mse"]
    step = getattr(cls, "linear_step", None)
    if step is not None:
        from ._base import split_blocks

        s = step(split_blocks(q, cls.type_size)).astype(np.float64)
        stats["theoretical_var"] = float(np.mean(s * s) / 12.0)
    return stats
