"""K-quants: Q2_K Q3_K Q4_K Q5_K Q6_K and the activation type Q8_K (../shared/spec/formats.md §2.2).

Byte layouts (all little-endian, one super-block = QK_K = 256 weights):

1. Q2_K (84 B):  scales[16] | qs[64] | d f16 | dmin f16           16 sub-blocks x 16, 4-bit scale + 4-bit min
2. Q3_K (110 B): hmask[32] | qs[64] | scales[12] | d f16         16 x 16, 6-bit signed scales (biased +32)
3. Q4_K (144 B): d f16 | dmin f16 | scales[12] | qs[128]         8 x 32, 6-bit scale + 6-bit min
4. Q5_K (176 B): d f16 | dmin f16 | scales[12] | qh[32] | qs[128]
5. Q6_K (210 B): ql[128] | qh[64] | scales i8[16] | d f16         16 x 16, 8-bit signed scales
6. Q8_K (292 B): d f32 | qs i8[256] | bsums i16[16]               activation type, never stored in files

Quantizers port ``quantize_row_<t>_ref`` of ggml-quants.c (llama.cpp 0c1e570), which is what
llama-quantize runs when no imatrix is given; dequantizers port ``dequantize_row_<t>``. Both are pinned
bit for bit to that C compiled without FMA contraction (tests/golden/q_blocks, made by
tools/gen_golden_kquants.py) and to gguf-py's dequantizers.

Vectorisation: the search helpers take sub-blocks as *columns*: ``x`` of shape (n, n_sub) with the
n = 16 or 32 elements of a sub-block down axis 0 and one column per sub-block of every super-block.
A Python loop over the n elements then accumulates float32 sums in C's loop order for all sub-blocks
at once, and a loop over the search steps replaces C's outer loop. Nothing loops over blocks.

Bit-exactness traps (each is also noted where it bites):
  * All arithmetic is float32 in C's association: ``w*l*x`` is ``(w*l)*x``, sums are sequential from 0.
  * Integer arrays are cast to float32 before they meet floats (numpy makes int32 * float32 float64).
  * ``nearest_int`` is ggml's magic-number rounding, emulated bit for bit (``_nearest_int``).
  * Stores into uint8/int8 fields wrap modulo 256, as C's conversions do.
  * The maxima are C's ``if (v > best)`` loops from 0: first index wins ties, NaN never wins, +0 stays +0.
  * After the search every element is re-quantized with the f16-rounded scales, except sub-blocks whose
    effective scale is exactly 0: those keep the search's codes.
"""

from __future__ import annotations

import numpy as np

from ..format.constants import GGMLType
from ._base import QuantType, f16_bits, f16_value

QK_K = 256
_F32 = np.float32
_GROUP_MAX_EPS = np.float32(1e-15)  # ggml-quants.c GROUP_MAX_EPS

# ---- scalar helpers ------------------------------------------------------------------------------


def _nearest_int(x: np.ndarray) -> np.ndarray:
    """ggml ``nearest_int`` bit for bit: low 23 bits of float32(x + 1.5 * 2**23), minus 2**22, as int32.

    Round half to even for |x| <= 4194303, where it equals ``_base.nearest_int``. Outside that range and
    for inf/NaN it returns the C's value (release builds compile the range assert out), with no numpy
    cast warning.
    """
    bits = (np.asarray(x, dtype=_F32) + _F32(12582912.0)).view(np.int32)
    return (bits & 0x7FFFFF) - 0x400000


def _f32(a: np.ndarray) -> np.ndarray:
    return a.astype(_F32)


def _u8(v: np.ndarray) -> np.ndarray:
    """C store of an int into a uint8_t field (wraps modulo 256)."""
    return (v & 0xFF).astype(np.uint8)


def _i8(v: np.ndarray) -> np.ndarray:
    """C store of an int into an int8_t field (wraps modulo 256)."""
    return _u8(v).view(np.int8)


def _seq_sum(terms: np.ndarray) -> np.ndarray:
    """Sum over axis 0 one row at a time from 0.0f, as a C ``for`` loop does. (n, m) -> (m,)"""
    acc = np.zeros(terms.shape[1:], dtype=_F32)
    for row in terms:
        acc += row
    return acc


def _running_max(v: np.ndarray) -> np.ndarray:
    """C ``if (v > best) best = v;`` over axis 0 from best = 0. (k, m) -> (m,)"""
    best = np.zeros(v.shape[1:], dtype=_F32)
    for row in v:
        best = np.where(row > best, row, best)
    return best


def _absmax_first(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C ``if (ax > amax) { amax = ax; max = x; }`` over axis 0 from 0: (amax, signed max). (k, m) -> (m,)"""
    amax = np.zeros(x.shape[1:], dtype=_F32)
    vmax = np.zeros(x.shape[1:], dtype=_F32)
    for row in x:
        ax = np.abs(row)
        take = ax > amax
        amax = np.where(take, ax, amax)
        vmax = np.where(take, row, vmax)
    return amax, vmax


def _columns(blocks: np.ndarray, n: int) -> np.ndarray:
    """(n_blocks, 256) -> (n, n_blocks * 256 / n): one sub-block of n elements per column."""
    return np.ascontiguousarray(blocks.reshape(-1, n).T)


def _sub_blocks(cols: np.ndarray, n_blocks: int) -> np.ndarray:
    """Inverse of ``_columns``: (n, n_sub) -> (n_blocks, 256 / n, n)."""
    return cols.T.reshape(n_blocks, -1, cols.shape[0])


def _check(blocks: np.ndarray, width: int) -> np.ndarray:
    blocks = np.asarray(blocks)
    if blocks.ndim != 2 or blocks.shape[1] != width:
        raise ValueError(f"expected (n_blocks, {width}) blocks, got {blocks.shape}")
    return blocks


# ---- search helpers (sub-blocks as columns) ------------------------------------------------------


def _qkx_error(scale, L, the_min, x, weights, use_mad: bool) -> np.ndarray:
    """Σ w * err over axis 0 with err = scale*L + min - x, squared or (use_mad) absolute. -> (m,)"""
    diff = scale * _f32(L) + the_min - x  # ((scale*L) + min) - x
    diff = np.abs(diff) if use_mad else diff * diff
    return _seq_sum(weights * diff)


def make_qkx2_quants(x, weights, nmax: int, rmin: float, rdelta: float, nstep: int, use_mad: bool):
    """Asymmetric scale/min search: port of ggml ``make_qkx2_quants`` (Q2_K, Q4_K, Q5_K).

    Args:
        x, weights: (n, m) float32, one sub-block per column.
        nmax: largest code. Trial ``is`` = 0..nstep uses iscale = (rmin + rdelta*is + nmax)/(max - min).
        use_mad: weigh |error| instead of error squared.
    Returns:
        scale (m,), the_min (m,) >= 0 (x ~ scale*L - the_min), L (n, m) int32 codes in [0, nmax].
    """
    f_nmax = _F32(nmax)
    mn, mx = x[0].copy(), x[0].copy()
    sum_w = weights[0].copy()
    sum_x = sum_w * x[0]
    for xi, wi in zip(x[1:], weights[1:]):
        mn = np.where(xi < mn, xi, mn)
        mx = np.where(xi > mx, xi, mx)
        sum_w += wi
        sum_x += wi * xi
    mn = np.where(mn > 0, _F32(0), mn)
    flat, flat_min = mx == mn, mn  # C returns scale 0, L = 0 here, before any search
    iscale = f_nmax / (mx - mn)
    scale = _F32(1) / iscale
    L = np.clip(_nearest_int(iscale * (x - mn)), 0, nmax)
    best = _qkx_error(scale, L, mn, x, weights, use_mad)
    for step in range(nstep + 1):
        # C reads `min` here, which an adopted trial below has replaced by its this_min (the spec's
        # "with the original min" is not what the code does).
        iscale = (_F32(rmin) + _F32(rdelta) * _F32(step) + f_nmax) / (mx - mn)
        laux = np.clip(_nearest_int(iscale * (x - mn)), 0, nmax)
        lf = _f32(laux)
        wl = weights * lf
        sum_l, sum_l2, sum_xl = _seq_sum(wl), _seq_sum(wl * lf), _seq_sum(wl * x)
        D = sum_w * sum_l2 - sum_l * sum_l
        this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
        this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
        clamp = this_min > 0
        this_min = np.where(clamp, _F32(0), this_min)
        this_scale = np.where(clamp, sum_xl / sum_l2, this_scale)
        cur = _qkx_error(this_scale, laux, this_min, x, weights, use_mad)
        take = (D > 0) & (cur < best)
        L = np.where(take, laux, L)
        best = np.where(take, cur, best)
        scale = np.where(take, this_scale, scale)
        mn = np.where(take, this_min, mn)
    scale = np.where(flat, _F32(0), scale)
    the_min = -np.where(flat, flat_min, mn)
    return scale, the_min, np.where(flat, 0, L)


def _symmetric_start(x):
    """Shared start of make_qx_quants / make_q3_quants: (all_zero, signed max, w = x*x, w*x). Columns."""
    amax, vmax = _absmax_first(x)
    w = x * x
    return amax < _GROUP_MAX_EPS, vmax, w, w * x


def _symmetric_codes(iscale, x, nmax: int) -> np.ndarray:
    """clamp(nearest_int(iscale*x), -nmax, nmax-1) as int32."""
    return np.clip(_nearest_int(iscale * x), -nmax, nmax - 1)


def make_qx_quants(x, nmax: int):
    """Symmetric scale search, port of ggml ``make_qx_quants(n, nmax, x, L, rmse_type=1, qw=NULL)`` (Q6_K).

    Args:
        x: (n, m) float32, one sub-block per column.
    Returns:
        scale (m,) and L (n, m) int32 = l + nmax in [0, 2*nmax) (0 for all-zero sub-blocks).
    """
    zero, vmax, w, wx = _symmetric_start(x)

    def trial(iscale):
        l = _symmetric_codes(iscale, x, nmax)
        lf = _f32(l)
        return l, _seq_sum(wx * lf), _seq_sum(w * lf * lf)  # Σ (w*x)*l, Σ (w*l)*l

    L, sumlx, suml2 = trial(-_F32(nmax) / vmax)
    scale = np.where(suml2 != 0, sumlx / suml2, _F32(0))  # C `suml2 ? ... : 0`: NaN counts as true
    best = scale * sumlx
    for step in (*range(-9, 0), *range(1, 10)):
        l, sumlx, suml2 = trial(-(_F32(nmax) + _F32(0.1) * _F32(step)) / vmax)
        take = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        L = np.where(take, l, L)
        scale = np.where(take, sumlx / suml2, scale)
        best = np.where(take, scale * sumlx, best)
    return np.where(zero, _F32(0), scale), np.where(zero, 0, L + nmax)


def make_q3_quants(x, nmax: int):
    """Symmetric search with coordinate descent, port of ggml ``make_q3_quants(..., do_rmse=true)`` (Q3_K).

    C stops after the first of its 5 passes that changes nothing; such a pass leaves the state as it
    was, so the passes after it would change nothing either, and always running 5 gives the same result.

    Args:
        x: (n, m) float32, one sub-block per column.
    Returns:
        scale (m,) and L (n, m) int32 = l + nmax in [0, 2*nmax) (0 for all-zero sub-blocks).
    """
    zero, vmax, w, wx = _symmetric_start(x)
    L = _symmetric_codes(-_F32(nmax) / vmax, x, nmax)
    lf = _f32(L)
    sumlx, suml2 = _seq_sum(wx * lf), _seq_sum(w * lf * lf)
    for _ in range(5):
        for i in range(x.shape[0]):
            li = _f32(L[i])
            slx = sumlx - wx[i] * li
            sl2 = suml2 - w[i] * li * li
            new_l = np.clip(_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1)
            nf = _f32(new_l)
            slx_new = slx + wx[i] * nf
            sl2_new = sl2 + w[i] * nf * nf
            take = (slx > 0) & (new_l != L[i]) & (sl2_new > 0)
            take &= slx_new * slx_new * suml2 > sumlx * sumlx * sl2_new
            L[i] = np.where(take, new_l, L[i])
            sumlx = np.where(take, slx_new, sumlx)
            suml2 = np.where(take, sl2_new, suml2)
    scale = np.where(suml2 > 0, sumlx / suml2, _F32(0))
    return np.where(zero, _F32(0), scale), np.where(zero, 0, L + nmax)


# ---- scale packing -------------------------------------------------------------------------------


def pack_scale_min_k4(sc: np.ndarray, m: np.ndarray) -> np.ndarray:
    """8 six-bit scales and mins (n, 8) uint8 -> the 12 ``scales`` bytes of Q4_K/Q5_K. (n, 12)"""
    out = np.empty((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = sc[:, :4] | ((sc[:, 4:] >> 4) << 6)
    out[:, 4:8] = m[:, :4] | ((m[:, 4:] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:] & 0xF) | ((m[:, 4:] & 0xF) << 4)
    return out


def get_scale_min_k4(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``pack_scale_min_k4`` (ggml ``get_scale_min_k4`` for j = 0..7): (sc, m), each (n, 8) uint8."""
    b = scales
    sc = np.concatenate([b[:, 0:4] & 63, (b[:, 8:12] & 0xF) | ((b[:, 0:4] >> 6) << 4)], axis=1)
    m = np.concatenate([b[:, 4:8] & 63, (b[:, 8:12] >> 4) | ((b[:, 4:8] >> 6) << 4)], axis=1)
    return sc, m


def _pack_q3_scales(s: np.ndarray) -> np.ndarray:
    """16 six-bit codes (n, 16) uint8 -> 12 bytes: low nibbles of s[j], s[j+8] in byte j < 8; byte 8+m holds
    bits 4-5 of s[m], s[m+4], s[m+8], s[m+12] at bits 0, 2, 4, 6."""
    out = np.empty((s.shape[0], 12), dtype=np.uint8)
    out[:, :8] = (s[:, :8] & 0xF) | ((s[:, 8:] & 0xF) << 4)
    hi = (s >> 4).reshape(-1, 4, 4)  # (n, j // 4, j % 4)
    out[:, 8:] = hi[:, 0] | (hi[:, 1] << 2) | (hi[:, 2] << 4) | (hi[:, 3] << 6)
    return out


def _unpack_q3_scales(b: np.ndarray) -> np.ndarray:
    """Inverse of ``_pack_q3_scales`` (the kmask shuffle of dequantize_row_q3_K). (n, 12) -> (n, 16) uint8"""
    low = np.concatenate([b[:, :8] & 0xF, b[:, :8] >> 4], axis=1)
    hi = (b[:, None, 8:] >> np.array([0, 2, 4, 6], dtype=np.uint8)[None, :, None]) & 3  # (n, j // 4, j % 4)
    return low | (hi.reshape(-1, 16) << 4)


def _pack_crumbs(v: np.ndarray) -> np.ndarray:
    """(n, 256) codes < 4 -> (n, 64): byte 32h + l holds element 128h + 32k + l at bits 2k..2k+1."""
    v = v.reshape(-1, 2, 4, 32)
    return (v[:, :, 0] | (v[:, :, 1] << 2) | (v[:, :, 2] << 4) | (v[:, :, 3] << 6)).reshape(-1, 64)


def _unpack_crumbs(b: np.ndarray) -> np.ndarray:
    """Inverse of ``_pack_crumbs``. (n, 64) -> (n, 256) uint8"""
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8)[None, None, :, None]
    return ((b.reshape(-1, 2, 1, 32) >> shifts) & 3).reshape(-1, QK_K)


def _pack_nibbles64(v: np.ndarray) -> np.ndarray:
    """(n, 256) codes < 16 -> (n, 128): byte 32c + l = element 64c + l | element 64c + 32 + l << 4."""
    v = v.reshape(-1, 4, 2, 32)
    return (v[:, :, 0] | (v[:, :, 1] << 4)).reshape(-1, 128)


def _unpack_nibbles64(b: np.ndarray) -> np.ndarray:
    """Inverse of ``_pack_nibbles64``. (n, 128) -> (n, 256) uint8"""
    b = b.reshape(-1, 4, 1, 32)
    return np.concatenate([b & 0xF, b >> 4], axis=2).reshape(-1, QK_K)


def _bits_by_32(b: np.ndarray) -> np.ndarray:
    """(n, 32) bit planes -> (n, 256) uint8: element e is bit e // 32 of byte e % 32 (Q3_K hmask, Q5_K qh)."""
    shifts = np.arange(8, dtype=np.uint8)[None, :, None]
    return ((b[:, None, :] >> shifts) & 1).reshape(-1, QK_K)


def _pack_bits_by_32(bits: np.ndarray) -> np.ndarray:
    """Inverse of ``_bits_by_32``: (n, 256) zeros/ones -> (n, 32)."""
    planes = bits.astype(np.uint8).reshape(-1, 8, 32) << np.arange(8, dtype=np.uint8)[None, :, None]
    return np.bitwise_or.reduce(planes, axis=1).astype(np.uint8)


def _requantize(codes: np.ndarray, keep: np.ndarray, value: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """clamp(nearest_int(value), lo, hi) - lo where ``keep`` (effective scale != 0), else the search codes.
    All (n_blocks, n_sub, n) or broadcastable; returns uint8 codes."""
    fresh = np.clip(_nearest_int(value), lo, hi) - lo
    return np.where(keep, fresh, codes).astype(np.uint8)


# ---- Q4_K / Q5_K shared quantizer ----------------------------------------------------------------


def _quantize_k4(blocks: np.ndarray, nmax: int, rmin: float, nstep: int):
    """Body shared by quantize_row_q4_K_ref and quantize_row_q5_K_ref, up to the codes.

    Returns:
        d, dmin as (n, 2) f16 bytes, the 12 packed ``scales`` bytes (n, 12), codes L (n, 256) uint8.
    """
    n_blocks = blocks.shape[0]
    x = _columns(blocks, 32)  # (32, n_blocks * 8)
    av_x = np.sqrt(_seq_sum(x * x) / _F32(32))
    weights = av_x + np.abs(x)
    scales, mins, L = make_qkx2_quants(x, weights, nmax, rmin, 0.1, nstep, use_mad=False)
    scales, mins = scales.reshape(n_blocks, 8), mins.reshape(n_blocks, 8)
    max_scale, max_min = _running_max(scales.T), _running_max(mins.T)  # (n_blocks,)
    inv_scale = np.where(max_scale > 0, _F32(63) / max_scale, _F32(0))[:, None]
    inv_min = np.where(max_min > 0, _F32(63) / max_min, _F32(0))[:, None]
    # uint8_t ls = nearest_int(...); ls = MIN(63, ls): the uint8 store wraps before the clamp
    ls = np.minimum(_u8(_nearest_int(inv_scale * scales)), np.uint8(63))  # (n_blocks, 8)
    lm = np.minimum(_u8(_nearest_int(inv_min * mins)), np.uint8(63))
    d, dmin = f16_bits(max_scale / _F32(63)), f16_bits(max_min / _F32(63))
    d_sub = (f16_value(d) * ls)[:, :, None]  # (n_blocks, 8, 1)
    dm = (f16_value(dmin) * lm)[:, :, None]
    xb = blocks.reshape(n_blocks, 8, 32)
    L = _requantize(_sub_blocks(L, n_blocks), d_sub != 0, (xb + dm) / d_sub, 0, nmax)
    return d, dmin, pack_scale_min_k4(ls, lm), L.reshape(n_blocks, QK_K)


def _dequantize_k4(raw: np.ndarray, q: np.ndarray) -> np.ndarray:
    """y = (d*sc)*q - dmin*m for Q4_K/Q5_K; q (n, 256) uint8 codes. -> (n, 256) float32"""
    sc, m = get_scale_min_k4(raw[:, 4:16])
    d_sub = (f16_value(raw[:, 0:2]) * sc)[:, :, None]  # (n, 8, 1)
    m_sub = (f16_value(raw[:, 2:4]) * m)[:, :, None]
    return (d_sub * _f32(q).reshape(-1, 8, 32) - m_sub).reshape(-1, QK_K)


# ---- types ---------------------------------------------------------------------------------------


class Q2_K(QuantType, qtype=GGMLType.Q2_K):
    """256 weights in 84 bytes, 16 sub-blocks of 16: x = d*(sc & 15)*q - dmin*(sc >> 4), q in 0..3.

    [0:16)  scales u8x16 sub-block j: low nibble = scale code, high nibble = min code
    [16:80) qs     u8x64 element 128h + 32k + l at bits 2k..2k+1 of byte 32h + l
    [80:82) d      f16   super-scale of the scale codes = max_scale / 15
    [82:84) dmin   f16   super-scale of the min codes = max_min / 15
    Mirrors block_q2_K / quantize_row_q2_K_ref / dequantize_row_q2_K in ggml.
    """

    @classmethod
    @np.errstate(over="ignore", divide="ignore", invalid="ignore")  # garbage in masked-out lanes, as C skips
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, QK_K).astype(_F32, copy=False)
        n_blocks = x.shape[0]
        cols = _columns(x, 16)  # (16, n_blocks * 16)
        scales, mins, L = make_qkx2_quants(cols, np.abs(cols), 3, -0.5, 0.1, 15, use_mad=True)
        scales, mins = scales.reshape(n_blocks, 16), mins.reshape(n_blocks, 16)
        max_scale, max_min = _running_max(scales.T), _running_max(mins.T)
        has_s, has_m = (max_scale > 0)[:, None], (max_min > 0)[:, None]
        # No clamp in C: scales[j] = l; scales[j] |= (l << 4), both stored into uint8.
        ls = np.where(has_s, _nearest_int((_F32(15) / max_scale)[:, None] * scales), 0)
        lm = np.where(has_m, _nearest_int((_F32(15) / max_min)[:, None] * mins), 0)
        sc = _u8(ls) | _u8(lm << 4)  # (n_blocks, 16)
        d = f16_bits(np.where(has_s[:, 0], max_scale / _F32(15), _F32(0)))
        dmin = f16_bits(np.where(has_m[:, 0], max_min / _F32(15), _F32(0)))
        d_sub = (f16_value(d) * (sc & 0xF))[:, :, None]  # (n_blocks, 16, 1)
        dm = (f16_value(dmin) * (sc >> 4))[:, :, None]
        xb = x.reshape(n_blocks, 16, 16)
        L = _requantize(_sub_blocks(L, n_blocks), d_sub != 0, (xb + dm) / d_sub, 0, 3)
        return np.concatenate([sc, _pack_crumbs(L.reshape(n_blocks, QK_K)), d, dmin], axis=1)

    @classmethod
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        sc = raw[:, 0:16]
        dl = (f16_value(raw[:, 80:82]) * (sc & 0xF))[:, :, None]  # (n, 16, 1)
        ml = (f16_value(raw[:, 82:84]) * (sc >> 4))[:, :, None]
        q = _f32(_unpack_crumbs(raw[:, 16:80])).reshape(-1, 16, 16)
        return (dl * q - ml).reshape(-1, QK_K)


class Q3_K(QuantType, qtype=GGMLType.Q3_K):
    """256 weights in 110 bytes, 16 sub-blocks of 16: x = d*(s - 32)*(q - 4), q in 0..7.

    [0:32)    hmask  u8x32 bit 2 of q: element e at bit e // 32 of byte e % 32
    [32:96)   qs     u8x64 bits 0-1 of q: element 128h + 32k + l at bits 2k..2k+1 of byte 32h + l
    [96:108)  scales u8x12 16 six-bit codes s (see ``_pack_q3_scales``)
    [108:110) d      f16   super-scale = -max_scale / 32 (max_scale: signed scale of largest |.|)
    Mirrors block_q3_K / quantize_row_q3_K_ref / dequantize_row_q3_K in ggml.
    """

    @classmethod
    @np.errstate(over="ignore", divide="ignore", invalid="ignore")  # garbage in masked-out lanes, as C skips
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, QK_K).astype(_F32, copy=False)
        n_blocks = x.shape[0]
        scales, L = make_q3_quants(_columns(x, 16), 4)
        scales = scales.reshape(n_blocks, 16)
        max_scale = _absmax_first(scales.T)[1]
        has = (max_scale != 0)[:, None]  # C `if (max_scale)`: NaN counts as true
        iscale = _F32(-32) / max_scale
        # int8_t l = nearest_int(...): the int8 store wraps before the clamp
        s = np.clip(_i8(_nearest_int(iscale[:, None] * scales)), -32, 31).astype(np.int32) + 32
        s = np.where(has, s, 0).astype(np.uint8)  # (n_blocks, 16); memset 0 when max_scale == 0
        d = f16_bits(np.where(has[:, 0], _F32(1) / iscale, _F32(0)))
        d_sub = (f16_value(d) * _f32(s.astype(np.int32) - 32))[:, :, None]  # (n_blocks, 16, 1)
        xb = x.reshape(n_blocks, 16, 16)
        L = _requantize(_sub_blocks(L, n_blocks), d_sub != 0, xb / d_sub, -4, 3).reshape(n_blocks, QK_K)
        high = L > 3
        L = np.where(high, L - 4, L)
        return np.concatenate([_pack_bits_by_32(high), _pack_crumbs(L), _pack_q3_scales(s), d], axis=1)

    @classmethod
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        s = _unpack_q3_scales(raw[:, 96:108]).astype(np.int32) - 32
        dl = (f16_value(raw[:, 108:110]) * _f32(s))[:, :, None]  # (n, 16, 1)
        # q = low2 - (hbit ? 0 : 4)
        q = _unpack_crumbs(raw[:, 32:96]).astype(np.int32) - 4 * (1 - _bits_by_32(raw[:, 0:32]).astype(np.int32))
        return (dl * _f32(q).reshape(-1, 16, 16)).reshape(-1, QK_K)


class Q4_K(QuantType, qtype=GGMLType.Q4_K):
    """256 weights in 144 bytes, 8 sub-blocks of 32: x = (d*sc)*q - dmin*m, q in 0..15.

    [0:2)    d      f16    super-scale of the scale codes = max_scale / 63
    [2:4)    dmin   f16    super-scale of the min codes = max_min / 63
    [4:16)   scales u8x12  8 six-bit sc and 8 six-bit m (``pack_scale_min_k4``)
    [16:144) qs     u8x128 byte 32c + l: element 64c + l (low nibble), element 64c + 32 + l (high)
    Mirrors block_q4_K / quantize_row_q4_K_ref / dequantize_row_q4_K in ggml.
    """

    @classmethod
    @np.errstate(over="ignore", divide="ignore", invalid="ignore")  # garbage in masked-out lanes, as C skips
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, QK_K).astype(_F32, copy=False)
        d, dmin, scales, L = _quantize_k4(x, nmax=15, rmin=-1.0, nstep=20)
        return np.concatenate([d, dmin, scales, _pack_nibbles64(L)], axis=1)

    @classmethod
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        return _dequantize_k4(raw, _unpack_nibbles64(raw[:, 16:144]))


class Q5_K(QuantType, qtype=GGMLType.Q5_K):
    """256 weights in 176 bytes, 8 sub-blocks of 32: x = (d*sc)*q - dmin*m, q in 0..31.

    [0:2)    d      f16    super-scale of the scale codes = max_scale / 63
    [2:4)    dmin   f16    super-scale of the min codes = max_min / 63
    [4:16)   scales u8x12  as Q4_K
    [16:48)  qh     u8x32  bit 4 of q: element e at bit e // 32 of byte e % 32
    [48:176) qs     u8x128 bits 0-3 of q, nibble order as Q4_K
    Mirrors block_q5_K / quantize_row_q5_K_ref / dequantize_row_q5_K in ggml.
    """

    @classmethod
    @np.errstate(over="ignore", divide="ignore", invalid="ignore")  # garbage in masked-out lanes, as C skips
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, QK_K).astype(_F32, copy=False)
        d, dmin, scales, L = _quantize_k4(x, nmax=31, rmin=-0.5, nstep=15)
        qh = _pack_bits_by_32(L >> 4)
        return np.concatenate([d, dmin, scales, qh, _pack_nibbles64(L & 0xF)], axis=1)

    @classmethod
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        q = _unpack_nibbles64(raw[:, 48:176]) + (_bits_by_32(raw[:, 16:48]) << 4)
        return _dequantize_k4(raw, q)


class Q6_K(QuantType, qtype=GGMLType.Q6_K):
    """256 weights in 210 bytes, 16 sub-blocks of 16: x = (d*sc)*(q - 32), q in 0..63.

    [0:128)   ql     u8x128 bits 0-3 of q; element 128h + 32k + l: byte 64h + 32(k % 2) + l,
                            low nibble for k < 2, high nibble for k >= 2
    [128:192) qh     u8x64  bits 4-5 of q: element 128h + 32k + l at bits 2k..2k+1 of byte 32h + l
    [192:208) scales i8x16  sub-block scales (the largest lands on -128)
    [208:210) d      f16    super-scale = -max_scale / 128 (max_scale: signed scale of largest |.|)
    Mirrors block_q6_K / quantize_row_q6_K_ref / dequantize_row_q6_K in ggml.
    """

    @classmethod
    @np.errstate(over="ignore", divide="ignore", invalid="ignore")  # garbage in masked-out lanes, as C skips
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, QK_K).astype(_F32, copy=False)
        n_blocks = x.shape[0]
        scales, L = make_qx_quants(_columns(x, 16), 32)
        scales = scales.reshape(n_blocks, 16)
        max_abs_scale, max_scale = _absmax_first(scales.T)
        iscale = _F32(-128) / max_scale
        d = f16_bits(_F32(1) / iscale)
        sc = _i8(np.minimum(127, _nearest_int(iscale[:, None] * scales)))  # (n_blocks, 16)
        d_sub = (f16_value(d) * sc)[:, :, None]
        xb = x.reshape(n_blocks, 16, 16)
        L = _requantize(_sub_blocks(L, n_blocks), d_sub != 0, xb / d_sub, -32, 31).reshape(n_blocks, 2, 4, 32)
        lo, hi = L & 0xF, L >> 4
        ql = np.concatenate([lo[:, :, 0] | (lo[:, :, 2] << 4), lo[:, :, 1] | (lo[:, :, 3] << 4)], axis=2)
        qh = _pack_crumbs(hi.reshape(n_blocks, QK_K))
        out = np.concatenate([ql.reshape(n_blocks, 128), qh, sc.view(np.uint8), d], axis=1)
        out[max_abs_scale < _GROUP_MAX_EPS] = 0  # C memsets the whole block
        return out

    @classmethod
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        ql = raw[:, 0:128].reshape(-1, 2, 1, 2, 32) >> np.array([0, 4], dtype=np.uint8)[None, None, :, None, None]
        lo = (ql & 0xF).reshape(-1, QK_K)  # (n, h, k // 2, k % 2, l) flattened = element order
        q = (lo | (_unpack_crumbs(raw[:, 128:192]) << 4)).astype(np.int32) - 32
        d_sub = (f16_value(raw[:, 208:210]) * raw[:, 192:208].view(np.int8))[:, :, None]  # (n, 16, 1)
        return (d_sub * _f32(q).reshape(-1, 16, 16)).reshape(-1, QK_K)


class Q8_K(QuantType, qtype=GGMLType.Q8_K):
    """256 activations in 292 bytes: x = d * q (intermediate type for K-quant dot products).

    [0:4)     d     f32    = 1 / (-127 / max) (max: signed element of largest |x|); 0 for an all-zero block
    [4:260)   qs    i8x256 min(127, nearest_int(-127/max * x))
    [260:292) bsums i16x16 bsums[j] = exact sum of qs[16j : 16j + 16]
    Mirrors block_q8_K / quantize_row_q8_K_ref / dequantize_row_q8_K in ggml. For an all-zero block
    the C leaves bsums unwritten; we write zeros.
    """

    @classmethod
    @np.errstate(over="ignore", divide="ignore", invalid="ignore")  # all-zero blocks are masked out after
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, QK_K).astype(_F32, copy=False)
        amax, vmax = _absmax_first(x.T)
        iscale = (_F32(-127) / vmax)[:, None]
        qs = _i8(np.minimum(127, _nearest_int(iscale * x)))
        d = _F32(1) / iscale[:, 0]
        zero = amax == 0
        qs[zero] = 0
        d[zero] = 0
        bsums = qs.reshape(-1, 16, 16).sum(axis=2, dtype=np.int16)
        parts = [d.astype("<f4").view(np.uint8).reshape(-1, 4), qs.view(np.uint8), bsums.astype("<i2").view(np.uint8)]
        return np.concatenate(parts, axis=1)

    @classmethod
    @np.errstate(over="ignore", invalid="ignore")  # arbitrary bytes: inf * 0 = NaN, as in C
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = np.ascontiguousarray(_check(blocks, cls.type_size))
        d = raw[:, 0:4].copy().view("<f4").astype(_F32)  # (n, 1)
        return d * raw[:, 4:260].view(np.int8)
