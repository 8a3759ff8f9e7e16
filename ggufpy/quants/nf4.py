"""NF4, the 4-bit NormalFloat of bitsandbytes / QLoRA — as a ggufpy-private GGUF block type.

NF4 is not a ggml type: files holding NF4 tensors load only in ggufpy (``ggufpy inspect`` says so).
Its id is ``GGMLType.NF4 = 0x47500001`` (see GGUFPY_TYPE_BASE in format/constants.py for why that
number cannot collide with ggml's).

GGUF block (ggufpy-private), 64 weights in 36 bytes (4.5 bits/weight):
  [0:4)   d   f32     block absmax, exactly bitsandbytes' float32 ``absmax`` (not rounded to f16,
                      so an NF4 checkpoint made by bitsandbytes imports losslessly)
  [4:36)  qs  u8x32   4-bit codes: low nibble = element j, high nibble = element j+32 (ggml's Q4_0
                      convention, SIMD-friendly; bitsandbytes packs element 2k in the HIGH nibble of
                      byte k, so importing from bitsandbytes repacks the nibbles)
  y = NF4_CODE[q] * d   (float32 multiply, as bitsandbytes' dequantize)

Quantization (bitsandbytes ``quantize_4bit``, quant_type="nf4", blocksize=64; formats.md §4.2):
absmax = max|x| over the block (float32); x_scaled = x * (1/absmax) in float32, clamped to [-1, 1];
code = nearest NF4 value, a value exactly on a midpoint taking the LOWER code (CUDA's decision tree
and the torch backend's bucketize agree on this). An all-zero block (absmax = 0) gives code 7 (0.0).

Double quantization (``compress_statistics``; formats.md §4.3) is the bitsandbytes storage trick for
the absmax values of a whole tensor: offset = mean(absmax); (absmax - offset) quantized blockwise
(256 values) with the 8-bit signed dynamic map. ``double_quantize_absmax`` / ``double_dequantize_absmax``
implement it, taking the nearest map entry (ties low) as bitsandbytes' torch backend and CUDA kernel
do; its CPU library's approximate binary search can pick the neighbour instead (1 of 122 absmax values
in tests/golden/nf4). ``NF4.quantize_blocks(..., double_quant=True)`` stores in ``d`` the absmax values
reconstructed from that 8-bit form, so dequantization equals bitsandbytes' double-quant result; GGUF
blocks stay self-contained per row, so the 8-bit form itself is not stored (a tensor-wide offset and
per-256-block scale do not fit ggml's row-of-blocks model).
"""

from __future__ import annotations

import numpy as np

from ..format.constants import GGMLType
from ._base import QuantType

# bitsandbytes get_4bit_type("nf4") / csrc/kernels.cu dDequantizeNF4, as float32 (formats.md §4.1).
NF4_CODE = np.array(
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ],
    dtype=np.float32,
)
# NF4_CODE in Q1.14 fixed point, for the runtime's integer NF4 x Q8_0 dot product (native blocks.h
# nf4_code_i16; ggufpy.runtime.reference emulates it): round(NF4_CODE * 2**14). No entry lies near a tie
# (the closest is 0.077 from one), so any rounding rule gives this table, and |NF4_CODE_I16 * 2**-14 -
# NF4_CODE| <= 2**-15. Quantization and dequantization never use it.
NF4_CODE_I16 = np.round(NF4_CODE.astype(np.float64) * 2**14).astype(np.int16)
# Decision thresholds: midpoints of neighbouring codes in float32 (x == midpoint -> lower code).
NF4_MIDPOINTS = ((NF4_CODE[:-1] + NF4_CODE[1:]) / np.float32(2)).astype(np.float32)

BLOCK = 64
DQ_BLOCK = 256  # absmax values per double-quantization block (bitsandbytes nested_blocksize)


def nf4_codes(x_scaled: np.ndarray) -> np.ndarray:
    """float32 values in [-1, 1] -> NF4 code indices (uint8), ties to the lower code."""
    return np.searchsorted(NF4_MIDPOINTS, x_scaled, side="left").astype(np.uint8)


def block_absmax(blocks: np.ndarray) -> np.ndarray:
    """(n, 64) float32 -> (n,) float32 max |x| per block."""
    return np.max(np.abs(blocks), axis=1).astype(np.float32)


def encode(blocks: np.ndarray, absmax: np.ndarray) -> np.ndarray:
    """(n, 64) float32 and (n,) absmax -> (n, 64) codes, bitsandbytes' rule."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(absmax > 0, np.float32(1) / absmax, np.float32(0)).astype(np.float32)
    scaled = np.clip(blocks * inv[:, None], np.float32(-1), np.float32(1)).astype(np.float32)
    return nf4_codes(scaled)


# ---- double quantization of absmax (bitsandbytes create_dynamic_map + quantize_blockwise) ---------


def _torch_linspace_f32(start: float, end: float, steps: int) -> np.ndarray:
    """torch.linspace(start, end, steps, dtype=float32) on CPU, bit for bit: step = (end - start) /
    (steps - 1) in float32; the first half is start + step*i, the second end - step*(steps-1-i), each
    a single fused multiply-add (rounded once to float32; emulated exactly in float64)."""
    start32, end32 = np.float32(start), np.float32(end)
    step = np.float64(np.float32((end32 - start32) / np.float32(steps - 1)))
    i = np.arange(steps, dtype=np.float64)
    low = np.float64(start32) + step * i
    high = np.float64(end32) - step * (steps - 1 - i)
    return np.where(i < steps // 2, low, high).astype(np.float32)


def dynamic_map() -> np.ndarray:
    """bitsandbytes ``create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)``: 256 float32.

    For i = 0..6: the 2**i midpoints of linspace(0.1, 1, 2**i + 1) (torch float32 arithmetic) times
    +-10**(i-6) (a float32 multiply), plus 0 and 1.0, sorted. Index 127 is 0.0, index 255 is 1.0.
    """
    values: list[float] = []
    for i in range(7):
        boundaries = _torch_linspace_f32(0.1, 1.0, 2**i + 1)
        means = ((boundaries[:-1] + boundaries[1:]) / np.float32(2.0)).astype(np.float32)
        scale = 10.0 ** (-6 + i)
        values += (means * np.float32(scale)).tolist()
        values += (means * np.float32(-scale)).tolist()
    values += [0.0, 1.0]
    return np.array(sorted(values), dtype=np.float32)


def double_quantize_absmax(absmax: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.float32]:
    """(n,) float32 absmax -> (uint8 index per block, float32 absmax2 per 256 blocks, float32 offset)."""
    code = dynamic_map()
    mids = ((code[:-1] + code[1:]) / np.float32(2)).astype(np.float32)
    offset = np.float32(np.mean(absmax, dtype=np.float32))
    v = (absmax - offset).astype(np.float32)
    n = len(v)
    pad = (-n) % DQ_BLOCK
    groups = np.concatenate([v, np.zeros(pad, np.float32)]).reshape(-1, DQ_BLOCK)
    absmax2 = np.max(np.abs(groups), axis=1).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(absmax2 > 0, np.float32(1) / absmax2, np.float32(0)).astype(np.float32)
    scaled = np.clip(groups * inv[:, None], np.float32(-1), np.float32(1)).astype(np.float32)
    idx = np.searchsorted(mids, scaled, side="left").astype(np.uint8)
    return idx.reshape(-1)[:n], absmax2, offset


def double_dequantize_absmax(idx: np.ndarray, absmax2: np.ndarray, offset: np.float32) -> np.ndarray:
    """Inverse of ``double_quantize_absmax``: dynamic_map[idx] * absmax2 + offset, in float32."""
    code = dynamic_map()
    group_scale = np.repeat(absmax2, DQ_BLOCK)[: len(idx)]
    return (code[idx] * group_scale + np.float32(offset)).astype(np.float32)


class NF4(QuantType, qtype=GGMLType.NF4):
    """64 weights in 36 bytes: y = NF4_CODE[q] * d (ggufpy-private; see the module docstring).
    [0:4)  d   f32    block absmax
    [4:36) qs  u8x32  low nibble = q[0:32], high nibble = q[32:64]
    Mirrors bitsandbytes quantize_4bit / dequantize_4bit (quant_type="nf4", blocksize=64).
    """

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray, *, double_quant: bool = False) -> np.ndarray:
        blocks = np.asarray(blocks, dtype=np.float32)
        absmax = block_absmax(blocks)
        q = encode(blocks, absmax)  # codes from the exact absmax, as bitsandbytes does
        if double_quant:
            absmax = double_dequantize_absmax(*double_quantize_absmax(absmax))
        out = np.empty((len(blocks), cls.type_size), np.uint8)
        out[:, :4] = absmax.astype("<f4").view(np.uint8).reshape(-1, 4)
        out[:, 4:] = q[:, :32] | (q[:, 32:] << 4)
        return out

    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        blocks = np.ascontiguousarray(blocks)
        d = blocks[:, :4].copy().view("<f4").astype(np.float32)  # (n, 1)
        qs = blocks[:, 4:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1)  # (n, 64)
        return (NF4_CODE[q] * d).astype(np.float32)


def dequantize_code_i16(blocks: np.ndarray) -> np.ndarray:
    """(n, 36) NF4 blocks -> (n, 64) float32 as the runtime's integer dot product sees them:
    NF4_CODE_I16[q] * (d * 2**-14), within 2**-15 * |d| of ``NF4.dequantize_blocks``."""
    blocks = np.ascontiguousarray(blocks)
    d = blocks[:, :4].copy().view("<f4") * np.float32(2**-14)  # (n, 1); exact unless d is tiny (< 2**-112)
    qs = blocks[:, 4:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1)  # (n, 64)
    return (NF4_CODE_I16[q].astype(np.float32) * d).astype(np.float32)


def from_bitsandbytes(packed: np.ndarray, absmax: np.ndarray) -> np.ndarray:
    """bitsandbytes NF4 storage (packed uint8, element 2k in the high nibble; float32 absmax per 64)
    -> GGUF NF4 blocks (n, 36). The element count must be a multiple of 64."""
    packed = np.asarray(packed, dtype=np.uint8).reshape(-1)
    codes = np.empty(packed.size * 2, np.uint8)
    codes[0::2] = packed >> 4
    codes[1::2] = packed & 0x0F
    q = codes.reshape(-1, BLOCK)
    out = np.empty((len(q), NF4.type_size), np.uint8)
    out[:, :4] = np.asarray(absmax, dtype="<f4").reshape(-1, 1).view(np.uint8)
    out[:, 4:] = q[:, :32] | (q[:, 32:] << 4)
    return out
