"""Ternary block types TQ1_0 and TQ2_0, and BitNet b1.58 absmean ternarisation
(../shared/spec/formats.md §2.3, §5.1).

Byte layouts (little-endian, one block = 256 weights, x = d * (t - 1) with trit t in {0, 1, 2}):

1. TQ1_0 (54 B): qs[48] | qh[4] | d f16.  qs[0:32] hold 5 trits per byte (elements m + 32n, n = 0..4,
   n = 0 most significant), qs[32:48] 5 trits per byte (elements 160 + m + 16n), qh[j] 4 trits
   (elements 240 + j + 4n, n = 0..3) plus a zero 5th trit. A byte stores ceil(v * 256 / 243) of its
   base-3 number v, so trit n is read back as ((uint8)(byte * 3**n) * 3) >> 8.
2. TQ2_0 (66 B): qs[64] | d f16.  Byte 32g + m holds element 128g + 32n + m in bits 2n..2n+1.

Both quantize with d = amax, t = lroundf(x / d) + 1 (round half away from zero). The oracle is
gguf-py 0.19.0, bit-exact with quantize_row_tq{1,2}_0_ref in ggml-quants.c.
"""

from __future__ import annotations

import numpy as np

from ..format.constants import GGMLType
from ._base import QuantType, f16_bits, f16_value, np_roundf
from .legacy import _chunked

_POW3 = np.array([81, 27, 9, 3, 1], dtype=np.uint16)  # first trit most significant


def _byte_trits() -> np.ndarray:
    """(256, 5) int8: the 5 trits (minus 1) that TQ1_0's decoder reads from each byte value."""
    b = np.arange(256, dtype=np.uint16).reshape(-1, 1)
    q = (b * np.array([1, 3, 9, 27, 81], dtype=np.uint16)) & np.uint16(0xFF)  # (uint8)(byte * 3**n)
    return ((q * np.uint16(3)) >> np.uint16(8)).astype(np.int8) - np.int8(1)


_BYTE_TRITS = _byte_trits()
# ceil(v * 256 / 243) for every base-3 number v < 243 (the "243 trick").
_V_TO_BYTE = ((np.arange(243, dtype=np.uint32) * 256 + 242) // 243).astype(np.uint8)


def _trits(blocks: np.ndarray, width: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Shared quantizer: d = amax (float32, (n, 1)) and t = lroundf(x * id) + 1 as uint8 (n, width)."""
    x = np.asarray(blocks, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(f"expected (n_blocks, {width}) blocks, got {x.shape}")
    d = np.abs(x).max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", over="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    t = np_roundf(x * inv).astype(np.int8) + np.int8(1)
    return d, t.view(np.uint8)


def _d_bits(d: np.ndarray) -> np.ndarray:
    return f16_bits(d[:, 0])


class TQ1_0(QuantType, qtype=GGMLType.TQ1_0):
    """256 weights in 54 bytes (1.6875 bpw): x = d * (t - 1), 5 trits per byte.

    [0:32)  qs  u8x32 byte m: trits of elements m + 32n, n = 0..4 (n = 0 most significant)
    [32:48) qs  u8x16 byte 32 + m: trits of elements 160 + m + 16n, n = 0..4
    [48:52) qh  u8x4  byte j: trits of elements 240 + j + 4n, n = 0..3, then a zero trit
    [52:54) d   f16   block scale = amax
    Each byte stores ceil(v * 256 / 243) of its base-3 number v.
    Mirrors block_tq1_0 / quantize_row_tq1_0_ref / dequantize_row_tq1_0 in ggml.
    """

    @classmethod
    @_chunked
    @np.errstate(over="ignore", divide="ignore")  # f16(d) may overflow to inf, as in C
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        d, t = _trits(blocks)
        n = t.shape[0]
        t = t.astype(np.uint16)
        v0 = np.einsum("nkm,k->nm", t[:, :160].reshape(n, 5, 32), _POW3)  # (n, 32)
        v1 = np.einsum("nkm,k->nm", t[:, 160:240].reshape(n, 5, 16), _POW3)  # (n, 16)
        v2 = np.einsum("nkm,k->nm", t[:, 240:].reshape(n, 4, 4), _POW3[:4])  # (n, 4), 5th trit 0
        out = np.empty((n, cls.type_size), dtype=np.uint8)
        out[:, 0:32] = _V_TO_BYTE[v0]
        out[:, 32:48] = _V_TO_BYTE[v1]
        out[:, 48:52] = _V_TO_BYTE[v2]
        out[:, 52:54] = _d_bits(d)
        return out

    @classmethod
    @_chunked
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = np.asarray(blocks)
        n = raw.shape[0]
        d = f16_value(raw[:, 52:54])  # (n, 1)
        t = np.empty((n, 256), dtype=np.int8)
        t[:, :160] = _BYTE_TRITS[raw[:, 0:32]].transpose(0, 2, 1).reshape(n, 160)
        t[:, 160:240] = _BYTE_TRITS[raw[:, 32:48]].transpose(0, 2, 1).reshape(n, 80)
        t[:, 240:] = _BYTE_TRITS[raw[:, 48:52], :4].transpose(0, 2, 1).reshape(n, 16)
        return d * t.astype(np.float32)


class TQ2_0(QuantType, qtype=GGMLType.TQ2_0):
    """256 weights in 66 bytes (2.0625 bpw): x = d * (t - 1), 2 bits per weight.

    [0:64)  qs  u8x64 byte 32g + m: element 128g + 32n + m in bits 2n..2n+1 (g = 0..1, n = 0..3)
    [64:66) d   f16   block scale = amax (code 3 is never written; it would decode to +2d)
    Mirrors block_tq2_0 / quantize_row_tq2_0_ref / dequantize_row_tq2_0 in ggml.
    """

    @classmethod
    @_chunked
    @np.errstate(over="ignore", divide="ignore")  # f16(d) may overflow to inf, as in C
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        d, t = _trits(blocks)
        n = t.shape[0]
        t = t.reshape(n, 2, 4, 32)  # (block, g, plane n, m)
        qs = t[:, :, 0] | (t[:, :, 1] << np.uint8(2)) | (t[:, :, 2] << np.uint8(4)) | (t[:, :, 3] << np.uint8(6))
        out = np.empty((n, cls.type_size), dtype=np.uint8)
        out[:, 0:64] = qs.reshape(n, 64)
        out[:, 64:66] = _d_bits(d)
        return out

    @classmethod
    @_chunked
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = np.asarray(blocks)
        n = raw.shape[0]
        d = f16_value(raw[:, 64:66])  # (n, 1)
        qs = raw[:, 0:64].reshape(n, 2, 1, 32) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
        t = (qs & np.uint8(3)).view(np.int8) - np.int8(1)  # (n, 2, 4, 32)
        return d * t.reshape(n, 256).astype(np.float32)


class TQ2_64(QuantType, qtype=GGMLType.TQ2_64):
    """64 weights in 18 bytes (2.25 bpw): x = d * (t - 1), 2 bits per weight. ggufpy-private.

    [0:16)  qs  u8x16 byte m: element 16n + m in bits 2n..2n+1 (n = 0..3; TQ2_0's planes, 16 wide)
    [16:18) d   f16   block scale = amax
    Quantized exactly like TQ2_0 (d = amax, t = lroundf(x / d) + 1), but on 64-element blocks, so rows
    whose length is a multiple of 64 and not of 256 (SmolLM2's 576) can be ternary. Not a ggml type:
    its id GGMLType.TQ2_64 = 0x47500002 makes llama.cpp refuse the file instead of misreading it.
    """

    @classmethod
    @_chunked
    @np.errstate(over="ignore", divide="ignore")
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        d, t = _trits(blocks, 64)
        t = t.reshape(-1, 4, 16)  # (block, plane n, m)
        out = np.empty((t.shape[0], cls.type_size), dtype=np.uint8)
        out[:, 0:16] = t[:, 0] | (t[:, 1] << np.uint8(2)) | (t[:, 2] << np.uint8(4)) | (t[:, 3] << np.uint8(6))
        out[:, 16:18] = _d_bits(d)
        return out

    @classmethod
    @_chunked
    @np.errstate(over="ignore", invalid="ignore")
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = np.asarray(blocks)
        n = raw.shape[0]
        d = f16_value(raw[:, 16:18])  # (n, 1)
        qs = raw[:, 0:16].reshape(n, 1, 16) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 4, 1)
        t = (qs & np.uint8(3)).view(np.int8) - np.int8(1)  # (n, 4, 16)
        return d * t.reshape(n, 64).astype(np.float32)


def absmean_ternary(w: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, np.float32]:
    """BitNet b1.58 per-tensor absmean ternarisation of a weight tensor.

    scale = max(mean(|w|), eps);  q = clip(round(w * (1 / scale)), -1, 1);  w ~= q * scale.

    Source: the reference BitLinear ``weight_quant`` of "The Era of 1-bit LLMs" (BitNet b1.58) and
    llama.cpp's ``BitnetModel.weight_quant``: ``s = 1 / w.abs().mean().clamp(min=1e-5)``,
    ``(w * s).round().clamp(-1, 1)`` (formats.md §5.1). As in that code, w is multiplied by the
    float32 reciprocal rather than divided by the scale, and ``round`` is torch's half-to-even.
    The mean is accumulated in float64 and rounded once to float32 (torch's float32 summation may
    differ from it in the last bit of ``scale``).

    Args:
        w: weights, any shape; computed in float32.
        eps: lower bound of the scale, so an all-zero tensor gives q = 0 instead of NaN.

    Returns:
        (q, scale): q int8 of w's shape with values in {-1, 0, 1}, and the float32 scale.
    """
    w = np.asarray(w, dtype=np.float32)
    scale = np.float32(max(np.float32(np.abs(w).mean(dtype=np.float64)), np.float32(eps)))
    s = np.float32(1) / scale
    q = np.clip(np.rint(w * s), -1, 1).astype(np.int8)
    return q, scale
