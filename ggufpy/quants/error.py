"""Quantization error analysis: how far ``dequantize(quantize(x))`` lands from ``x``.

For a uniform (linear) quantizer with step s, rounding error is ~uniform on [-s/2, s/2], so its
variance is s**2 / 12. Types that can say what their step is per element implement
an entry in ``_LINEAR_STEP`` (blocks -> per-element step); for them ``error_stats`` reports that
theoretical variance beside the measured one (codebook types such as NF4 or IQ4_NL have none).
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
    step = _LINEAR_STEP.get(cls.qtype)
    if step is not None:
        from ._base import split_blocks

        s = step(split_blocks(q, cls.type_size))
        stats["theoretical_var"] = float(np.mean(s * s) / 12.0)
    return stats


# ---- quantization step of each linear type, per element: (n_blocks, block_size) float64 ------------
# The step is the spacing of the representable values around an element: d for the 32-blocks and the
# ternary types, d * sub-block scale for the K-quants. Offsets are the block layouts of ggml-common.h.


def _f16_at(blocks: np.ndarray, offset: int) -> np.ndarray:
    return np.ascontiguousarray(blocks[:, offset:offset + 2]).view("<f2").astype(np.float64)  # (n, 1)


def _per_element(step: np.ndarray, block_size: int) -> np.ndarray:
    """(n, k) per-sub-block steps -> (n, block_size)."""
    return np.repeat(np.abs(step), block_size // step.shape[1], axis=1)


def _k4_step(blocks: np.ndarray) -> np.ndarray:  # Q4_K, Q5_K: d * sc per 32
    from .k import get_scale_min_k4

    sc, _ = get_scale_min_k4(blocks[:, 4:16])
    return _per_element(_f16_at(blocks, 0) * sc, 256)


def _q6_k_step(blocks: np.ndarray) -> np.ndarray:  # d * int8 scale per 16
    return _per_element(_f16_at(blocks, 208) * blocks[:, 192:208].view(np.int8), 256)


def _q3_k_step(blocks: np.ndarray) -> np.ndarray:  # d * (s - 32) per 16
    from .k import _unpack_q3_scales

    return _per_element(_f16_at(blocks, 108) * (_unpack_q3_scales(blocks[:, 96:108]).astype(np.int16) - 32), 256)


def _q2_k_step(blocks: np.ndarray) -> np.ndarray:  # d * (scale nibble) per 16
    return _per_element(_f16_at(blocks, 80) * (blocks[:, 0:16] & 0xF), 256)


_LINEAR_STEP = {
    GGMLType.Q4_0: lambda b: _per_element(_f16_at(b, 0), 32),
    GGMLType.Q4_1: lambda b: _per_element(_f16_at(b, 0), 32),
    GGMLType.Q5_0: lambda b: _per_element(_f16_at(b, 0), 32),
    GGMLType.Q5_1: lambda b: _per_element(_f16_at(b, 0), 32),
    GGMLType.Q8_0: lambda b: _per_element(_f16_at(b, 0), 32),
    GGMLType.Q2_K: _q2_k_step,
    GGMLType.Q3_K: _q3_k_step,
    GGMLType.Q4_K: _k4_step,
    GGMLType.Q5_K: _k4_step,
    GGMLType.Q6_K: _q6_k_step,
    GGMLType.TQ1_0: lambda b: _per_element(_f16_at(b, 52), 256),
    GGMLType.TQ2_0: lambda b: _per_element(_f16_at(b, 64), 256),
    GGMLType.TQ2_64: lambda b: _per_element(_f16_at(b, 16), 64),
}
