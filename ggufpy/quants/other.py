"""Other 4-bit and i-quant types: IQ4_NL, IQ4_XS, MXFP4 (quantize + dequantize) and dequantize-only
IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M (../shared/spec/formats.md §2.4).

Byte layouts (little-endian; full block tables in each class docstring):

1. IQ4_NL  (32 w, 18 B):  d f16 | qs[16]                          x = d * kvalues_iq4nl[q]
2. IQ4_XS  (256 w, 136 B): d f16 | scales_h u16 | scales_l[4] | qs[128]
3. MXFP4   (32 w, 17 B):  e u8 (E8M0) | qs[16]                    x = kvalues_mxfp4[q] * 2**(e - 128)
4. IQ2_XXS (256 w, 66 B): d f16 | qs u16[32]                      8-wide grid, 256 entries
5. IQ2_XS  (256 w, 74 B): d f16 | qs u16[32] | scales[8]          8-wide grid, 512 entries
6. IQ2_S   (256 w, 82 B): d f16 | qs[32] | signs[32] | qh[8] | scales[8]   1024 entries
7. IQ3_XXS (256 w, 98 B): d f16 | qs[64] | scales_and_signs u32[8]        4-wide grid, 256 entries
8. IQ3_S   (256 w, 110 B): d f16 | qs[64] | qh[8] | signs[32] | scales[4] 4-wide grid, 512 entries
9. IQ1_S   (256 w, 50 B): d f16 | qs[32] | qh u16[8]              8-wide ternary grid, 2048 entries
10. IQ1_M  (256 w, 56 B): qs[32] | qh[16] | scales u16[4] (d is split over the scales' top nibbles)

4-bit nibble order (IQ4_NL, IQ4_XS per 16-byte run, MXFP4) is Q4_0's: byte j holds element j in its
low nibble and element j + 16 in its high nibble.

The oracle is gguf-py 0.19.0 (``gguf.quants``), bit-exact with ggml's ``dequantize_row_*``; every
product is float32 in gguf-py's (= C's) order. The IQ grids of ggml-common.h are embedded below in
a compact, lossless form (see ``_IQ_GRIDS``); ggufpy does not import ``gguf`` at runtime.
"""

from __future__ import annotations

import base64
import functools
import zlib

import numpy as np

from ..format.constants import GGMLType
from ._base import QuantType, f16_value
from .legacy import _chunked

QK_K = 256

# kvalues_iq4nl (ggml-common.h): the non-linear 4-bit code book of IQ4_NL and IQ4_XS.
KVALUES_IQ4NL = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=np.int8)
# kvalues_mxfp4 (ggml-common.h): E2M1 values doubled; the E8M0 "half" scale undoes the doubling.
KVALUES_MXFP4 = np.array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12], dtype=np.int8)

# ksigns_iq2xs (ggml-common.h): 7 sign bits plus an 8th bit that makes the count of minus signs even.
KSIGNS_IQ2XS = np.array([i | ((bin(i).count("1") & 1) << 7) for i in range(128)], dtype=np.uint8)
# bit j of a sign byte -> element j of the 8 it covers
_BITS = np.arange(8, dtype=np.uint8)

# ---- IQ grids ------------------------------------------------------------------------------------
#
# Each grid of ggml-common.h (iq2xxs_grid, iq2xs_grid, iq2s_grid, iq3xxs_grid, iq3s_grid,
# iq1s_grid) is a sorted set of W-vectors over L levels (gguf-py's ``grid_map``). Entry i's vector,
# read as a base-L number with element 0 least significant, increases with i, so a grid is fully
# described by a bitmap over the L**W candidate numbers. Stored here: base85(zlib(bitmap packed
# little-endian)). ``tools/gen_golden_legacy.py --print-grids`` regenerates these strings from
# gguf-py; tests/quants/test_other.py checks the decoded grids against gguf-py and pins their sha256.

_GRID_LEVELS: dict[str, tuple[tuple[int, ...], int, int]] = {
    # name: (levels, width W, entries)
    "IQ2_XXS": ((0x08, 0x19, 0x2B), 8, 256),
    "IQ2_XS": ((0x08, 0x19, 0x2B), 8, 512),
    "IQ2_S": ((0x08, 0x19, 0x2B), 8, 1024),
    "IQ3_XXS": ((0x04, 0x0C, 0x14, 0x1C, 0x24, 0x2C, 0x34, 0x3E), 4, 256),
    "IQ3_S": ((0x01, 0x03, 0x05, 0x07, 0x09, 0x0B, 0x0D, 0x0F), 4, 512),
    "IQ1_S": ((-1, 0, 1), 8, 2048),  # iq1s_grid; also used by IQ1_M
}

_IQ_GRIDS: dict[str, tuple[str, ...]] = {
    "IQ2_XXS": (
        "c-nPRORB^$43oj#tB`je2YP^R=KfcCw)5@K5e=lV<VbEmf91ogR%p3E0BR^O#16P=^@J3)+t0mx___f>P^zDolEn6;is&dxI"
        "!#Zg_{KuzkVd4Mw`?l*l~*(z5~c8Qj-!-YZym34v`$TQ4<4*~)dpL;rq|+W4irx`d$&)6^vGb7UkLBrzcFbHqcf>sMFwRxr;"
        "MTG;*}m%Qlby-@@TSk)X7om@@#uKQIjUUWQ&$2&y}*gX5TV=Bc|Cuh1wL(2Kn3A3Yj<N%;gblzhT7_jxp@MF=lA5st5R^Hl2"
        "J=^JV`E{Z0D^#$6R7"
    ),
    "IQ2_XS": (
        "c-mc2TdsvL2pkgnkBRPwCicH3cK=&BJX-bM<{ZTW!^|+oxJIi-qkD|rsuaR~iB<*?x~C4>8J0pJW<V>X*vo#SY&(-c)w(<-f"
        "CU6QVt|)*=>oJ=N8h~B3mmYKBw*Y)Ca<s*uvOak7T*la5<g=kAh?T96(5+bR(Mt@J=L5^n!u1sF+~=p=RjVCGbM+vDH*59tF"
        "!>kC`)-u3GzO}jM8X_r-*1ytubG*&a^iqGs?p-do}D8x2NWXU?%O)=7t88q040RdJ=Ak)9T+$YBcFD31^6BC_W+mG1}iEA-T"
        "}Oj@u6-pQ1yByIl9%`W3mW#F%j~<yh(N0zSL~oH^Zy%}}tQx4=M73#xoc?jNErTmD?iDs40;(&MG>YYMNuDE=SK;cc#9vM%q"
        "_=>7msuqjC"
    ),
    "IQ2_S": (
        "c-n1JU5W-F3~NE(E9iYHjPDBe{#V(wI=kPpE5rQ7#3X8F%Z9aF@G^(h-0EI3Em0|W3^QwctZ7zp0a8G#rYWS&oF&YfEj@sgh"
        "^u5FBBgC>LAkBEEtarKv-X}c)kMD5E9g)N*35uFS6j&;COQ!QC2=T0oAzp}=fs8f?3xctXeG?g^dQAA!2(KVP=j1x!<Qgx@l"
        "7F)Pu!TMd$m>{ZzEray(N$AzRb24)#*U9zYZZF^+2!@EVQ9?ARiEH!J<ErE8usn4?()-BQhW*1pE<<S|Z6aT82aQO}QP4+el"
        "6zUY~*z7~Sl6pK?p!Q_DMIhH4w7?joIO9P^#Dw9CRS7mu8OBC|vDii4FoWN_zK9m?6y$}qXC*pyH_2f!)+bXep&HXz~CYasM"
        "7Fd3(JhmM~KIbkHJ7yU4;E692~{FNElHOf~Fzm+TBn!W(JyjC6"
    ),
    "IQ3_XXS": (
        "c-l=-F%H5o3_M%0RAmZ7_lgPeigaLyA4Q!IuVCbv_?)J2Rn;aw-<^~BWtxCXwzFx0%xW)eST<YW5KL&L;j#hAAHoX-c)&}FY"
        "<X@1m|7IGsjrX>q7@bAuHrcP3L2_`6x)_>^v5;&o?@Fdagv_Uo9H*utGOGEJ93R6P|L2rgx{U}Y-UnrS3sKYtPIbF!WdDS7|"
        "dsT<9UQCqzhJe8+4kK5km%XvHjm=J(sMgqk-e3v^zjTJayVggoDWMJzTWE4a0T)3l-9P!ydlNePrBA?Xny*@kmBo4W|8$?wE"
        "o20v5Uy_5"
    ),
    "IQ3_S": (
        "c-k#d!AiqG5PdVu!e&pqA>uXNMyUCUt<-~hDT4SrX{pfmmf{D9Rs{Q#&TgE;z`Qr}-rMBob#A|%IbF{W(Id*&Lkwq!%0~0(%"
        "@Ao{OU0lD_x2OXCI^OquXIKLt}o^pYnG?L6&oz+9HeSVPSrN(A}t!YmF^Xmp*3Qy-5G8(e|b5Y-VC?q(AA>+32wuC)HmEXp@"
        "c1}PT|h83}iuXSwt^ePGkv?U+Lf3a_=1ov?9@{igP&9v4ypFswx3&TJZ@M2_=SuX>*z&qp%+CoXl)ge8!drA@5Agyn!FG+()"
        "?*sDei}n1QT95(J|p-wR7#Aht{0!Hx!aZfy;cl!bD4D3uqR(zW`GY5;6>@R{_|3X$jRqNR^eu)^e<Ll^vCYlKPU1;QQ+o$IB"
        "(hKom+bHx0SXmXXwyZnVo8~6jd#wQ>"
    ),
    "IQ1_S": (
        "c-k#eK}(!R7=CxE;dM-9V?RN1diSfb(^(PgE$L;EU0C#DLh=VZ*|bQ>IZZw%yXlwN6ha`hG?#HO$v6$G@ldv(umMk2dT8mb2"
        "WdTox*h^v8VtnDuD#8?@Vw9Syw7v(LR2?w<}y}3b9YJG^C&5*&qs>Nl?x;NhAB!%0hRecnsm$a2YwJ@;QqccSPG~@n#@N5uB"
        "Y$^gNY22s7}?HYgoxmY#Y+!Ajh1yxWA4l1OzVO1-XRyWBes^wA;LAoBq<x!%nuPhFWp9`{&R@7DG%<XIwD^Is3Q$Jf@<B<<h"
        "d(0^?jzIHG8vQn*?-$Ub(LsHW&@kYNcQ%|}dP%c;av8KJU^mWiJv*28-WD<$YEG%#}+D!ES;XeDuFD(VlG#i@A4$V;H%7rH5"
        "2w&LB_pg1xSvl=L<CZ@9?{WdkSxbxSuMq|l64F4MqT|O(RS}O@H(bLXvHn!_OntvSw2GXTKiD_6XGLxujp0!)qyF+V=7Bv?g"
        "3oFy??D1-6?{(2le%HQrc>Le(m#@Cb_P%)g$;r#{<KcsUbe#9?p_<1{H>jE?+1SCIq;Fwj@yPMjA_U90?}vdY$)D1%>fQq-z"
        "{36HBT$I&mG*v%J#A~V%aSj@pZtCEAg}V1eou`2@uUxU_YQ=)6;l3U7EjmAKr#y2F0kdO91c}@u6ikZ68>90+)KINV7E3oVy"
        "0wcNC7Qg*Gnz$6Ckekcj5w;yQl$8BcV}uIeIA*;9XR~L2uzcrHYS+2)y-rqrtcg6e{stpn$cM#il(dTBx(R&0u-;P1DmAvG}"
        "u@dX;b%ns9v~6p49X^c}lqEMlIFjzJBbrp$X4T{{D_p5YV7e^~xM<^E7<_56qcAaL=FI+lT|4v2#Y&dpW2-Egd@Fdf5G@Dhe"
        "eu*|v(bMFD;1sQ1"
    ),
}


@functools.cache
def iq_grid(name: str) -> np.ndarray:
    """The decoded grid ``name`` (a key of ``_IQ_GRIDS``) as float32 (entries, W), read-only."""
    levels, width, entries = _GRID_LEVELS[name]
    n_levels = len(levels)
    bitmap = np.frombuffer(zlib.decompress(base64.b85decode("".join(_IQ_GRIDS[name]))), dtype=np.uint8)
    keys = np.flatnonzero(np.unpackbits(bitmap, bitorder="little")[: n_levels**width])  # (entries,)
    if keys.size != entries:
        raise AssertionError(f"{name} grid decodes to {keys.size} entries, expected {entries}")
    digits = (keys.reshape(-1, 1) // n_levels ** np.arange(width)) % n_levels  # (entries, W)
    grid = np.array(levels, dtype=np.float32)[digits]
    grid.flags.writeable = False
    return grid


def _signs(bits: np.ndarray) -> np.ndarray:
    """(...,) sign bytes -> (..., 8) float32 +1/-1 (bit j set = element j negative)."""
    return np.where((bits[..., None] >> _BITS) & np.uint8(1), np.float32(-1), np.float32(1))


def _u16(raw: np.ndarray, start: int, stop: int) -> np.ndarray:
    return np.ascontiguousarray(raw[:, start:stop]).view("<u2")


def _u32(raw: np.ndarray, start: int, stop: int) -> np.ndarray:
    return np.ascontiguousarray(raw[:, start:stop]).view("<u4")


def _nibbles16(qs: np.ndarray) -> np.ndarray:
    """(..., 16) bytes -> (..., 32) codes: low nibbles first, then high nibbles (Q4_0 order)."""
    return np.concatenate([qs & np.uint8(0x0F), qs >> np.uint8(4)], axis=-1)


def _check(blocks: np.ndarray, width: int) -> np.ndarray:
    blocks = np.asarray(blocks)
    if blocks.ndim != 2 or blocks.shape[1] != width:
        raise ValueError(f"expected (n_blocks, {width}) blocks, got {blocks.shape}")
    return blocks


_dequant_errstate = functools.partial(np.errstate, over="ignore", invalid="ignore")  # inf * 0 = NaN, as in C

# ---- 4-bit code-book types -----------------------------------------------------------------------


class IQ4_NL(QuantType, qtype=GGMLType.IQ4_NL):
    """32 weights in 18 bytes: x = d * kvalues_iq4nl[q] (non-linear 4-bit code book).

    [0:2)  d   f16   block scale
    [2:18) qs  u8x16 low nibbles = q[0:16], high nibbles = q[16:32]
    Mirrors block_iq4_nl / dequantize_row_iq4_nl in ggml. Dequantize only (ggml's quantizer is a
    search with optional imatrix; gguf-py has none).
    """

    @classmethod
    @_chunked
    @_dequant_errstate()
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        d = f16_value(raw[:, 0:2])  # (n, 1)
        return d * KVALUES_IQ4NL[_nibbles16(raw[:, 2:18])].astype(np.float32)


class IQ4_XS(QuantType, qtype=GGMLType.IQ4_XS):
    """256 weights in 136 bytes: 8 sub-blocks of 32, x = d * (ls - 32) * kvalues_iq4nl[q].

    [0:2)    d        f16   super-block scale
    [2:4)    scales_h u16   bits 2ib..2ib+1 = high 2 bits of sub-block ib's 6-bit scale ls
    [4:8)    scales_l u8x4  nibble ib%2 of byte ib/2 = low 4 bits of ls
    [8:136)  qs       u8x128 16 bytes per sub-block, Q4_0 nibble order within each run
    Mirrors block_iq4_xs / dequantize_row_iq4_xs in ggml. Dequantize only.
    """

    @classmethod
    @_chunked
    @_dequant_errstate()
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        n = raw.shape[0]
        d = f16_value(raw[:, 0:2])  # (n, 1)
        scales_h = _u16(raw, 2, 4)  # (n, 1)
        scales_l = raw[:, 4:8]
        ls_lo = np.stack([scales_l & np.uint8(0x0F), scales_l >> np.uint8(4)], axis=-1).reshape(n, 8)
        ls_hi = ((scales_h >> (2 * np.arange(8, dtype=np.uint16))) & np.uint16(3)).astype(np.uint8)  # (n, 8)
        ls = (ls_lo | (ls_hi << np.uint8(4))).astype(np.int8) - np.int8(32)
        dl = (d * ls.astype(np.float32)).reshape(n, 8, 1)
        q = _nibbles16(raw[:, 8:136].reshape(n, 8, 16))  # (n, 8, 32)
        return (dl * KVALUES_IQ4NL[q].astype(np.float32)).reshape(n, QK_K)


class MXFP4(QuantType, qtype=GGMLType.MXFP4):
    """32 weights in 17 bytes (OCP microscaling FP4): x = kvalues_mxfp4[q] * 2**(e - 128).

    [0:1)  e   u8    E8M0 shared exponent; the decoder uses the "half" value 2**(e - 128) since the
                     code book holds E2M1 values doubled (e < 2 gives the denormals 2**-128, 2**-127)
    [1:17) qs  u8x16 low nibbles = q[0:16], high nibbles = q[16:32]; q = sign bit 3 | E2M1 bits 0..2
    Quantize: e = floor(log2(amax)) - 2 + 127 (0 if amax = 0); each element takes the code with the
    smallest |kv * d - x|, the first one on ties.
    Mirrors block_mxfp4 / quantize_row_mxfp4_ref / dequantize_row_mxfp4 in ggml.
    """

    @staticmethod
    def e8m0_to_fp32_half(e: np.ndarray) -> np.ndarray:
        """ggml_e8m0_to_fp32_half: E8M0 byte -> float32 2**(e - 128), built from its bit pattern."""
        e = e.astype(np.uint32)
        bits = np.where(e < 2, np.uint32(0x00200000) << e, (e - np.uint32(1)) << np.uint32(23))
        return bits.astype(np.uint32).view(np.float32)

    @classmethod
    @_chunked
    @np.errstate(divide="ignore", over="ignore")
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        x = _check(blocks, 32).astype(np.float32, copy=False)
        n = x.shape[0]
        amax = np.abs(x).max(axis=1, keepdims=True)  # (n, 1)
        # (uint8_t)(floorf(log2f(amax)) - 2 + 127), all float32 as in gguf-py (np.log2 on float32;
        # the cast wraps for amax < 2**-125; for amax = inf it is undefined, in C as in numpy).
        e = np.floor(np.log2(amax)) - np.float32(2) + np.float32(127)
        e = np.where(amax > 0, e, np.float32(0)).astype(np.uint8)
        d = cls.e8m0_to_fp32_half(e)  # (n, 1)
        # best_index_mxfp4: argmin over the 16 codes of |kv*d - x|, first minimum wins. We search only
        # the 8 codes with x's sign, on |x|: the float32 errors are the same (RNE is symmetric), an
        # opposite-sign code k > 0 has error >= |x| = error of code 0, which comes first, and for
        # x < 0 the zero code is 0, not 8. NaN and inf give code 0 either way.
        a = np.abs(x)
        mag = KVALUES_MXFP4[:8].astype(np.float32)
        k = np.abs(d[:, :, None] * mag - a[:, :, None]).argmin(axis=2).astype(np.uint8)  # (n, 32)
        best = np.where((x < 0) & (k > 0), k + np.uint8(8), k)
        out = np.empty((n, cls.type_size), dtype=np.uint8)
        out[:, 0] = e[:, 0]
        out[:, 1:17] = best[:, :16] | (best[:, 16:] << np.uint8(4))
        return out

    @classmethod
    @_chunked
    @_dequant_errstate()
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        d = cls.e8m0_to_fp32_half(raw[:, 0:1])  # (n, 1)
        return d * KVALUES_MXFP4[_nibbles16(raw[:, 1:17])].astype(np.float32)


# ---- i-quants with grids (dequantize only) -------------------------------------------------------


class IQ2_XXS(QuantType, qtype=GGMLType.IQ2_XXS):
    """256 weights in 66 bytes (2.0625 bpw): 8 groups of 32, each 4 x 8-wide grid points.

    [0:2)   d   f16     super-block scale
    [2:66)  qs  u32x16  per group of 32 a pair (aux0, aux1): the 4 bytes of aux0 index iq2xxs_grid;
                        aux1 bits 7l..7l+6 index ksigns_iq2xs for grid point l, bits 28..31 = scale s
    x = d * (0.5 + s) * 0.25 * grid * sign.
    Mirrors block_iq2_xxs / dequantize_row_iq2_xxs in ggml.
    """

    @classmethod
    @_chunked
    @_dequant_errstate()
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        n = raw.shape[0]
        d = f16_value(raw[:, 0:2])  # (n, 1)
        aux = _u32(raw, 2, 66).reshape(n, 8, 2)
        s = (aux[..., 1] >> np.uint32(28)).astype(np.float32)  # (n, 8)
        db = (d * (np.float32(0.5) + s) * np.float32(0.25)).reshape(n, 8, 1, 1)
        sign_idx = (aux[..., 1:2] >> np.array([0, 7, 14, 21], dtype=np.uint32)) & np.uint32(0x7F)  # (n, 8, 4)
        signs = _signs(KSIGNS_IQ2XS[sign_idx])  # (n, 8, 4, 8)
        grid = iq_grid("IQ2_XXS")[np.ascontiguousarray(aux[..., 0]).view(np.uint8).reshape(n, 8, 4)]  # (n, 8, 4, 8)
        return (db * grid * signs).reshape(n, QK_K)


class IQ2_XS(QuantType, qtype=GGMLType.IQ2_XS):
    """256 weights in 74 bytes (2.3125 bpw): 16 half-groups of 16, each 2 x 8-wide grid points.

    [0:2)   d       f16     super-block scale
    [2:66)  qs      u16x32  bits 0..8 index iq2xs_grid, bits 9..15 index ksigns_iq2xs
    [66:74) scales  u8x8    nibble per 16 weights (low nibble first): s
    x = d * (0.5 + s) * 0.25 * grid * sign.
    Mirrors block_iq2_xs / dequantize_row_iq2_xs in ggml.
    """

    @classmethod
    @_chunked
    @_dequant_errstate()
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        n = raw.shape[0]
        d = f16_value(raw[:, 0:2])  # (n, 1)
        qs = _u16(raw, 2, 66)  # (n, 32)
        sc = raw[:, 66:74]
        s = np.stack([sc & np.uint8(0x0F), sc >> np.uint8(4)], axis=-1).reshape(n, 16)
        db = (d * (np.float32(0.5) + s.astype(np.float32)) * np.float32(0.25)).reshape(n, 16, 1, 1)
        signs = _signs(KSIGNS_IQ2XS[qs >> np.uint16(9)]).reshape(n, 16, 2, 8)
        grid = iq_grid("IQ2_XS")[qs & np.uint16(511)].reshape(n, 16, 2, 8)
        return (db * grid * signs).reshape(n, QK_K)


class IQ2_S(QuantType, qtype=GGMLType.IQ2_S):
    """256 weights in 82 bytes (2.5625 bpw): 16 half-groups of 16, each 2 x 8-wide grid points.

    [0:2)   d       f16    super-block scale
    [2:34)  qs      u8x32  low 8 bits of the 10-bit iq2s_grid index of grid point k
    [34:66) signs   u8x32  explicit sign byte of grid point k (bit j = element j negative)
    [66:74) qh      u8x8   bits 2(k%4)..+1 of byte k/4 = high 2 bits of grid point k's index
    [74:82) scales  u8x8   nibble per 16 weights (low nibble first): s
    x = d * (0.5 + s) * 0.25 * grid * sign.
    Mirrors block_iq2_s / dequantize_row_iq2_s in ggml.
    """

    @classmethod
    @_chunked
    @_dequant_errstate()
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        n = raw.shape[0]
        d = f16_value(raw[:, 0:2])  # (n, 1)
        sc = raw[:, 74:82]
        s = np.stack([sc & np.uint8(0x0F), sc >> np.uint8(4)], axis=-1).reshape(n, 16)
        db = (d * (np.float32(0.5) + s.astype(np.float32)) * np.float32(0.25)).reshape(n, 16, 1, 1)
        signs = _signs(raw[:, 34:66]).reshape(n, 16, 2, 8)
        qh = (raw[:, 66:74, None] >> np.array([0, 2, 4, 6], dtype=np.uint8)) & np.uint8(3)  # (n, 8, 4)
        idx = raw[:, 2:34].astype(np.uint16) | (qh.reshape(n, 32).astype(np.uint16) << np.uint16(8))
        grid = iq_grid("IQ2_S")[idx].reshape(n, 16, 2, 8)
        return (db * grid * signs).reshape(n, QK_K)


class IQ3_XXS(QuantType, qtype=GGMLType.IQ3_XXS):
    """256 weights in 98 bytes (3.0625 bpw): 8 groups of 32, each 8 x 4-wide grid points.

    [0:2)   d                 f16     super-block scale
    [2:66)  qs                u8x64   iq3xxs_grid index of each 4 weights
    [66:98) scales_and_signs  u32x8   per group: bits 7l..7l+6 index ksigns_iq2xs for 8 weights l,
                                      bits 28..31 = scale s
    x = d * (0.5 + s) * 0.5 * grid * sign.
    Mirrors block_iq3_xxs / dequantize_row_iq3_xxs in ggml.
    """

    @classmethod
    @_chunked
    @_dequant_errstate()
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        n = raw.shape[0]
        d = f16_value(raw[:, 0:2])  # (n, 1)
        aux = _u32(raw, 66, 98)  # (n, 8)
        db = (d * (np.float32(0.5) + (aux >> np.uint32(28)).astype(np.float32)) * np.float32(0.5)).reshape(n, 8, 1, 1)
        sign_idx = (aux[..., None] >> np.array([0, 7, 14, 21], dtype=np.uint32)) & np.uint32(0x7F)  # (n, 8, 4)
        signs = _signs(KSIGNS_IQ2XS[sign_idx])  # (n, 8, 4, 8)
        grid = iq_grid("IQ3_XXS")[raw[:, 2:66]].reshape(n, 8, 4, 8)
        return (db * grid * signs).reshape(n, QK_K)


class IQ3_S(QuantType, qtype=GGMLType.IQ3_S):
    """256 weights in 110 bytes (3.4375 bpw): 8 groups of 32, each 8 x 4-wide grid points.

    [0:2)    d       f16    super-block scale
    [2:66)   qs      u8x64  low 8 bits of the 9-bit iq3s_grid index of each 4 weights
    [66:74)  qh      u8x8   bit k%8 of byte k/8 = bit 8 of grid point k's index
    [74:106) signs   u8x32  explicit sign bits, one per weight
    [106:110) scales u8x4   nibble per group (low nibble first): s
    x = d * (1 + 2s) * grid * sign.
    Mirrors block_iq3_s / dequantize_row_iq3_s in ggml.
    """

    @classmethod
    @_chunked
    @_dequant_errstate()
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        n = raw.shape[0]
        d = f16_value(raw[:, 0:2])  # (n, 1)
        sc = raw[:, 106:110]
        s = np.stack([sc & np.uint8(0x0F), sc >> np.uint8(4)], axis=-1).reshape(n, 8)
        db = (d * (np.uint8(1) + np.uint8(2) * s)).reshape(n, 8, 1, 1)  # 1 + 2s <= 31, exact in uint8
        signs = _signs(raw[:, 74:106]).reshape(n, 8, 4, 8)
        qh = np.unpackbits(raw[:, 66:74], axis=1, bitorder="little").astype(np.uint16)  # (n, 64)
        idx = raw[:, 2:66].astype(np.uint16) | (qh << np.uint16(8))
        grid = iq_grid("IQ3_S")[idx].reshape(n, 8, 4, 8)
        return (db * grid * signs).reshape(n, QK_K)


IQ1S_DELTA = np.float32(0.125)  # IQ1S_DELTA and IQ1M_DELTA in ggml-common.h


class IQ1_S(QuantType, qtype=GGMLType.IQ1_S):
    """256 weights in 50 bytes (1.5625 bpw): 8 groups of 32, each 4 x 8-wide ternary grid points.

    [0:2)   d   f16     super-block scale
    [2:34)  qs  u8x32   low 8 bits of the 11-bit iq1s_grid index of grid point k
    [34:50) qh  u16x8   per group: bits 3l..3l+2 = high 3 bits of point l's index,
                        bits 12..14 = scale s, bit 15 = sign of delta
    x = d * (2s + 1) * (grid + delta), delta = -0.125 if bit 15 else +0.125.
    Mirrors block_iq1_s / dequantize_row_iq1_s in ggml.
    """

    @classmethod
    @_chunked
    @_dequant_errstate()
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        n = raw.shape[0]
        d = f16_value(raw[:, 0:2])  # (n, 1)
        qh = _u16(raw, 34, 50)  # (n, 8)
        dl = (d * (np.uint16(2) * ((qh >> np.uint16(12)) & np.uint16(7)) + np.uint16(1))).reshape(n, 8, 1, 1)
        delta = np.where(qh & np.uint16(0x8000), -IQ1S_DELTA, IQ1S_DELTA).reshape(n, 8, 1, 1)
        hi = (qh[..., None] >> np.array([0, 3, 6, 9], dtype=np.uint16)) & np.uint16(7)  # (n, 8, 4)
        idx = raw[:, 2:34].astype(np.uint16) | (hi.reshape(n, 32) << np.uint16(8))
        grid = iq_grid("IQ1_S")[idx].reshape(n, 8, 4, 8)
        return (dl * (grid + delta)).reshape(n, QK_K)


class IQ1_M(QuantType, qtype=GGMLType.IQ1_M):
    """256 weights in 56 bytes (1.75 bpw): 16 half-groups of 16, each 2 x 8-wide ternary grid points.

    [0:32)  qs      u8x32   low 8 bits of the 11-bit iq1s_grid index of grid point k
    [32:48) qh      u8x16   nibble per grid point (low first): bits 0..2 = high index bits,
                            bit 3 = sign of delta
    [48:56) scales  u16x4   bits 3m..3m+2 = 3-bit scale s of half-group m (4 per word); the top
                            nibbles of words 0..3 are bits 0-3, 4-7, 8-11, 12-15 of the f16 d
    x = d * (2s + 1) * (grid + delta), delta = -0.125 if the bit is set else +0.125.
    Mirrors block_iq1_m / dequantize_row_iq1_m in ggml.
    """

    @classmethod
    @_chunked
    @_dequant_errstate()
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raw = _check(blocks, cls.type_size)
        n = raw.shape[0]
        sc = _u16(raw, 48, 56)  # (n, 4)
        top = (sc & np.uint16(0xF000)) >> np.array([12, 8, 4, 0], dtype=np.uint16)
        d = (top[:, 0] | top[:, 1] | top[:, 2] | top[:, 3]).view(np.float16).astype(np.float32).reshape(n, 1)
        s = ((sc[..., None] >> np.array([0, 3, 6, 9], dtype=np.uint16)) & np.uint16(7)).reshape(n, 16)
        dl = (d * (np.uint16(2) * s + np.uint16(1))).reshape(n, 8, 2, 1, 1)
        qh = raw[:, 32:48]
        qh = np.stack([qh & np.uint8(0x0F), qh >> np.uint8(4)], axis=-1).reshape(n, 32)
        idx = raw[:, 0:32].astype(np.uint16) | ((qh & np.uint8(7)).astype(np.uint16) << np.uint16(8))
        delta = np.where(qh & np.uint8(8), -IQ1S_DELTA, IQ1S_DELTA).reshape(n, 8, 2, 2, 1)
        grid = iq_grid("IQ1_S")[idx].reshape(n, 8, 2, 2, 8)
        return (dl * (grid + delta)).reshape(n, QK_K)
