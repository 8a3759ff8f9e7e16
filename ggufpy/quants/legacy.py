"""Legacy 32-element block types: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1 (../shared/spec/formats.md §2.1).

Byte layouts (all little-endian, one block = 32 weights):

1. Q4_0 (18 B): d f16 | qs[16]                    x = d * (q - 8)
2. Q4_1 (20 B): d f16 | m f16 | qs[16]            x = d * q + m
3. Q5_0 (22 B): d f16 | qh u32 | qs[16]           x = d * (q - 16)
4. Q5_1 (24 B): d f16 | m f16 | qh u32 | qs[16]   x = d * q + m
5. Q8_0 (34 B): d f16 | qs i8[32]                 x = d * q
6. Q8_1 (36 B): d f16 | s f16 | qs i8[32]         x = d * q, s = fp16(d * sum(q)) (activation type)

Nibble order (Q4_x, Q5_x): byte j holds element j in its low nibble and element j + 16 in its high nibble.
Q5_x keep bit 4 of element i in bit i of ``qh``.

The oracle is gguf-py 0.19.0 (``gguf.quants``), itself bit-exact with ``quantize_row_*_ref`` in
ggml-quants.c compiled without FMA contraction. All arithmetic below is float32 in the C order.
"""

from __future__ import annotations

import functools

import numpy as np

from ..format.constants import GGMLType
from ._base import QuantType, f16_bits, f16_value, np_roundf

# ---- shared helpers ------------------------------------------------------------------------------

_CHUNK_ELEMS = 1 << 17  # weights per chunk: 512 KiB of float32 stays in L2 across the ~10 passes


def _chunked(method):
    """Run a ``quantize_blocks``/``dequantize_blocks`` body on slices of ~_CHUNK_ELEMS weights.

    Blocks are independent, so this only changes speed: each numpy pass then streams through cache
    instead of main memory (2-3x on 1M weights). Wrap the plain function, under ``@classmethod``.
    """

    @functools.wraps(method)
    def wrapper(cls, blocks):
        step = max(1, _CHUNK_ELEMS // cls.block_size)
        n = len(blocks)
        if n <= step:
            return method(cls, blocks)
        first = method(cls, blocks[:step])
        out = np.empty((n, first.shape[1]), dtype=first.dtype)
        out[:step] = first
        for i in range(step, n, step):
            out[i : i + step] = method(cls, blocks[i : i + step])
        return out

    return wrapper



def _block_min(x: np.ndarray) -> np.ndarray:
    """(n, 32) -> (n, 1) minimum as ggml's loop finds it (``if (v < min) min = v``): the FIRST element
    with the smallest value, so a zero minimum keeps that element's sign. numpy's ``min`` returns +0
    or -0 depending on its SIMD reduction order (CPU-dependent), which would make bytes differ by CPU."""
    mn = x.min(axis=1, keepdims=True)
    first = np.argmax(x == mn, axis=1)[:, None]  # first index equal to the minimum (all False if NaN)
    return np.where(np.isnan(mn), mn, np.take_along_axis(x, first, axis=1))


def _signed_absmax(blocks: np.ndarray) -> np.ndarray:
    """The element with the largest |x| of each block, the first one on ties (C's strict ``>``). (n, 1)"""
    imax = np.abs(blocks).argmax(axis=1)
    return blocks[np.arange(blocks.shape[0]), imax].reshape(-1, 1)


def _inverse(d: np.ndarray) -> np.ndarray:
    """C ``id = d ? 1.0f/d : 0.0f`` in float32."""
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """(n, 32) codes < 16 -> (n, 16) bytes: low nibble = q[j], high nibble = q[j + 16]."""
    return (q[:, :16] & np.uint8(0x0F)) | (q[:, 16:] << np.uint8(4))


def _unpack_nibbles(qs: np.ndarray) -> np.ndarray:
    """(n, 16) bytes -> (n, 32) uint8 codes, inverse of ``_pack_nibbles``."""
    out = np.empty((qs.shape[0], 2, 16), dtype=np.uint8)
    np.bitwise_and(qs, np.uint8(0x0F), out=out[:, 0])
    np.right_shift(qs, np.uint8(4), out=out[:, 1])
    return out.reshape(-1, 32)


def _pack_qh(q: np.ndarray) -> np.ndarray:
    """(n, 32) 5-bit codes -> (n, 4) bytes of the little-endian u32 whose bit i is bit 4 of q[i]."""
    return np.packbits(q >> np.uint8(4), axis=1, bitorder="little")


def _unpack_qh(qh: np.ndarray) -> np.ndarray:
    """(n, 4) bytes of qh -> (n, 32) uint8, element i = bit i of the u32, shifted to bit 4."""
    return np.unpackbits(qh, axis=1, bitorder="little") << np.uint8(4)


def _scale_f32(raw: np.ndarray, off: int) -> np.ndarray:
    """The f16 at byte ``off`` of every block as float32. (n, 1)"""
    return f16_value(raw[:, off : off + 2])


def _symmetric_codes(x: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 (half = 8) / Q5_0 (half = 16): d = xmax / -half, q = min(2*half - 1, (int)(x*id + half + 0.5f)).

    FMA trap: q = (int8_t)(x*id + 8.5f). gguf-py 0.19.0 (our oracle) rounds x*id to float32 and then
    adds 8.5f, exactly what ggml's C reference does when it is compiled without FMA contraction. Older
    gguf-py (FIXME "reference rounding is cursed and depends on FMA") did the multiply-add in float64,
    which emulates a fused multiply-add. The two differ only on near-ties: exact x*id within ~2**-22 of
    a half-integer, e.g. just below -7.5, where the unfused sum rounds up to the integer and the fused
    one stays below it. Measured in tests/quants/test_legacy.py: 0 code differences on 1M normal
    weights, while each constructed near-tie block (``near_tie_blocks``) has one or more; there gguf-py
    0.19.0 agrees with us. The value is >= 0, so C's truncating cast = floor.
    """
    d = _signed_absmax(x) / np.float32(-half)  # (n, 1)
    q = np.trunc(x * _inverse(d) + np.float32(half + 0.5)).astype(np.uint8)
    np.minimum(q, np.uint8(2 * half - 1), out=q)
    return d, q


def _asymmetric_codes(x: np.ndarray, nmax: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q4_1 (nmax = 15) / Q5_1 (nmax = 31): d = (max - min)/nmax, q = (int)((x - min)*id + 0.5f).

    Uses the unrounded float32 min and d. (x - min)*id + 0.5 >= 0, so truncation = floor. Q5_1's C has
    no clamp (the value never exceeds 31); gguf-py clips to nmax, a no-op we keep for Q4_1's sake.
    """
    mn = _block_min(x)
    d = (x.max(axis=1, keepdims=True) - mn) / np.float32(nmax)
    q = np.trunc((x - mn) * _inverse(d) + np.float32(0.5)).astype(np.uint8)
    np.minimum(q, np.uint8(nmax), out=q)
    return d, mn, q


def _check(blocks: np.ndarray, width: int) -> np.ndarray:
    blocks = np.asarray(blocks)
    if blocks.ndim != 2 or blocks.shape[1] != width:
        raise ValueError(f"expected (n_blocks, {width}) blocks, got {blocks.shape}")
    return blocks


# ---- types ---------------------------------------------------------------------------------------


class Q4_0(QuantType, qtype=GGMLType.Q4_0):
    """32 weights in 18 bytes: x = d * (q - 8).

    [0:2)  d   f16   block scale = xmax / -8 (xmax: the signed element of largest |x|)
    [2:18) qs  u8x16 low nibbles = q[0:16], high nibbles = q[16:32]
    Mirrors block_q4_0 / quantize_row_q4_0_ref / dequantize_row_q4_0 in ggml.
    """

    @classmethod
    @_chunked
    @np.errstate(over="ignore", divide="ignore")  # f16(d) may overflow to inf, as in C
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, 32).astype(np.float32, copy=False)
        d, q = _symmetric_codes(x, 8)
        out = np.empty((x.shape[0], cls.type_size), dtype=np.uint8)
        out[:, 0:2] = f16_bits(d[:, 0])
        out[:, 2:18] = _pack_nibbles(q)
        return out

    @classmethod
    @_chunked
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        d = _scale_f32(raw, 0)
        q = _unpack_nibbles(raw[:, 2:18]).view(np.int8) - np.int8(8)
        return d * q.astype(np.float32)


class Q4_1(QuantType, qtype=GGMLType.Q4_1):
    """32 weights in 20 bytes: x = d * q + m.

    [0:2)  d   f16   block scale = (max - min) / 15
    [2:4)  m   f16   block minimum
    [4:20) qs  u8x16 low nibbles = q[0:16], high nibbles = q[16:32]
    Mirrors block_q4_1 / quantize_row_q4_1_ref / dequantize_row_q4_1 in ggml.
    """

    @classmethod
    @_chunked
    @np.errstate(over="ignore", divide="ignore")  # f16(d) may overflow to inf, as in C
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, 32).astype(np.float32, copy=False)
        d, mn, q = _asymmetric_codes(x, 15)
        out = np.empty((x.shape[0], cls.type_size), dtype=np.uint8)
        out[:, 0:2] = f16_bits(d[:, 0])
        out[:, 2:4] = f16_bits(mn[:, 0])
        out[:, 4:20] = _pack_nibbles(q)
        return out

    @classmethod
    @_chunked
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        d, m = _scale_f32(raw, 0), _scale_f32(raw, 2)
        # Unfused d*q + m, as gguf-py (a C build with FMA contraction may differ in the last bit).
        return d * _unpack_nibbles(raw[:, 4:20]).astype(np.float32) + m


class Q5_0(QuantType, qtype=GGMLType.Q5_0):
    """32 weights in 22 bytes: x = d * (q - 16), q 5 bits.

    [0:2)  d   f16   block scale = xmax / -16
    [2:6)  qh  u32   bit i = bit 4 of q[i]
    [6:22) qs  u8x16 low nibbles = low 4 bits of q[0:16], high nibbles = of q[16:32]
    Mirrors block_q5_0 / quantize_row_q5_0_ref / dequantize_row_q5_0 in ggml.
    """

    @classmethod
    @_chunked
    @np.errstate(over="ignore", divide="ignore")  # f16(d) may overflow to inf, as in C
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, 32).astype(np.float32, copy=False)
        d, q = _symmetric_codes(x, 16)
        out = np.empty((x.shape[0], cls.type_size), dtype=np.uint8)
        out[:, 0:2] = f16_bits(d[:, 0])
        out[:, 2:6] = _pack_qh(q)
        out[:, 6:22] = _pack_nibbles(q)
        return out

    @classmethod
    @_chunked
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        d = _scale_f32(raw, 0)
        q = (_unpack_nibbles(raw[:, 6:22]) | _unpack_qh(raw[:, 2:6])).view(np.int8) - np.int8(16)
        return d * q.astype(np.float32)


class Q5_1(QuantType, qtype=GGMLType.Q5_1):
    """32 weights in 24 bytes: x = d * q + m, q 5 bits.

    [0:2)  d   f16   block scale = (max - min) / 31
    [2:4)  m   f16   block minimum
    [4:8)  qh  u32   bit i = bit 4 of q[i]
    [8:24) qs  u8x16 low nibbles = low 4 bits of q[0:16], high nibbles = of q[16:32]
    Mirrors block_q5_1 / quantize_row_q5_1_ref / dequantize_row_q5_1 in ggml.
    """

    @classmethod
    @_chunked
    @np.errstate(over="ignore", divide="ignore")  # f16(d) may overflow to inf, as in C
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, 32).astype(np.float32, copy=False)
        d, mn, q = _asymmetric_codes(x, 31)
        out = np.empty((x.shape[0], cls.type_size), dtype=np.uint8)
        out[:, 0:2] = f16_bits(d[:, 0])
        out[:, 2:4] = f16_bits(mn[:, 0])
        out[:, 4:8] = _pack_qh(q)
        out[:, 8:24] = _pack_nibbles(q)
        return out

    @classmethod
    @_chunked
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        d, m = _scale_f32(raw, 0), _scale_f32(raw, 2)
        q = _unpack_nibbles(raw[:, 8:24]) | _unpack_qh(raw[:, 4:8])
        return d * q.astype(np.float32) + m


def _q8_codes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shared by Q8_0 and Q8_1: d = amax / 127 (float32, (n, 1)) and q = roundf(x * id) as int8 (n, 32)."""
    d = np.abs(x).max(axis=1, keepdims=True) / np.float32(127)
    # roundf = round half away from zero (not numpy's half-to-even); scaling uses the float32 d.
    return d, np_roundf(x * _inverse(d)).astype(np.int8)


class Q8_0(QuantType, qtype=GGMLType.Q8_0):
    """32 weights in 34 bytes: x = d * q.

    [0:2)  d   f16   block scale = amax / 127
    [2:34) qs  i8x32 q[j] = roundf(x[j] / d) (half away from zero)
    Mirrors block_q8_0 / quantize_row_q8_0_ref / dequantize_row_q8_0 in ggml.
    """

    @classmethod
    @_chunked
    @np.errstate(over="ignore", divide="ignore")  # f16(d) may overflow to inf, as in C
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, 32).astype(np.float32, copy=False)
        d, q = _q8_codes(x)
        out = np.empty((x.shape[0], cls.type_size), dtype=np.uint8)
        out[:, 0:2] = f16_bits(d[:, 0])
        out[:, 2:34] = q.view(np.uint8)
        return out

    @classmethod
    @_chunked
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        return _scale_f32(raw, 0) * raw[:, 2:34].view(np.int8).astype(np.float32)


class Q8_1(QuantType, qtype=GGMLType.Q8_1):
    """32 activations in 36 bytes: x = d * q; s caches d * sum(q) for the Q4_1/Q5_1 dot products.

    [0:2)  d   f16   block scale = amax / 127
    [2:4)  s   f16   fp16(d_f32 * sum(q)) with the unrounded float32 d
    [4:36) qs  i8x32 q[j] = roundf(x[j] / d), identical to Q8_0's qs
    Mirrors block_q8_1 / quantize_row_q8_1_ref in ggml. ggml has no dequantize_row_q8_1; ours
    returns d * q and ignores s. gguf-py has no Q8_1.
    """

    @classmethod
    @_chunked
    @np.errstate(over="ignore", divide="ignore")  # f16(d) may overflow to inf, as in C
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, 32).astype(np.float32, copy=False)
        d, q = _q8_codes(x)
        # sum is an int in C (|sum| <= 4064, exact in float32), then sum*d in float32.
        s = q.sum(axis=1, dtype=np.int32).astype(np.float32) * d[:, 0]
        out = np.empty((x.shape[0], cls.type_size), dtype=np.uint8)
        out[:, 0:2] = f16_bits(d[:, 0])
        out[:, 2:4] = f16_bits(s)
        out[:, 4:36] = q.view(np.uint8)
        return out

    @classmethod
    @_chunked
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        return _scale_f32(raw, 0) * raw[:, 4:36].view(np.int8).astype(np.float32)
