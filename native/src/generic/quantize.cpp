// Scalar quantizers: the bit-exact twins of the numpy references' quantize_blocks in ggufpy/quants/
// (legacy.py, k.py, ternary.py, other.py, nf4.py, floats.py), which equal ggml's quantize_row_*_ref
// compiled without FMA contraction. Ports of ggml-quants.c (llama.cpp 0c1e570).
//
// Bit-exactness traps, each also noted where it bites:
//   * Every product and sum is float32 in C's order ((w*l)*x, sequential sums from 0); the build uses
//     -ffp-contract=off (no FMA) and never -ffast-math.
//   * Three roundings: ggml's nearest_int (magic-number add, round half to EVEN, bit-hack outside
//     |x| <= 2**22; K-quants), C roundf (half AWAY from zero; Q8_0/Q8_1/TQ), and truncation of
//     x*id + 8.5f etc. (legacy 4/5-bit). std::round/nearbyint are not interchangeable with them.
//   * Where the numpy reference and the C differ outside the finite range, we follow numpy: the float ->
//     int casts of np.astype (x86 cvtt: truncate, NaN/out of range -> INT32_MIN, then wrap to 8 bits),
//     np.argmax/np.max (NaN wins), np_roundf(+-inf) = NaN, numpy's float16 rounding of NaN payloads.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "ggufpy/blocks.h"
#include "ggufpy/float_bits.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

constexpr float GROUP_MAX_EPS = 1e-15f;  // ggml-quants.c

// ---- rounding and conversion helpers ------------------------------------------------------------

// ggml nearest_int: float32(x + 1.5 * 2**23), low 23 bits minus 2**22. Round half to even for
// |x| <= 4194303; outside (and for inf/NaN) the bit pattern gives what release-built C gives.
inline int nearest_int(float fval) {
    const float val = fval + 12582912.f;
    int i;
    std::memcpy(&i, &val, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

// numpy's float32 -> int cast (x86-64 cvtt): truncate toward zero; NaN and out of range -> INT32_MIN.
// An (u)int8 store then keeps the low byte (numpy: -1.5 -> uint8 255, 300 -> 44, inf/NaN -> 0).
inline int32_t np_cast_i32(float v) {
    return (v > -2147483904.0f && v < 2147483648.0f) ? (int32_t)v : INT32_MIN;
}

// _base.np_roundf followed by the int cast: C roundf (half away from zero) for finite v; the numpy
// formula turns +-inf into NaN, which casts to INT32_MIN like NaN. Written out (truncate, then step by
// the exact fraction) because roundf is a libm call on baseline x86-64; floor(v + 0.5f) would be wrong
// (0.49999997f + 0.5f rounds to 1).
inline int32_t roundf_cast(float v) {
    if (!(v > -2147483904.0f && v < 2147483648.0f)) return INT32_MIN;  // NaN, inf, out of int32 range
    const int32_t i = (int32_t)v;
    const float frac = v - (float)i;  // exact
    return i + (int32_t)(frac >= 0.5f) - (int32_t)(frac <= -0.5f);  // branch-free: ties are data-dependent
}

// numpy astype(float16) (npy_floatbits_to_halfbits): round to nearest even, overflow to inf, NaN keeps
// the top 10 payload bits unquieted (a payload that would vanish becomes 1). F16C quiets instead.
inline uint16_t fp32_to_fp16(float x) {
    uint32_t f;
    std::memcpy(&f, &x, 4);
    const uint16_t h_sgn = (uint16_t)((f & 0x80000000u) >> 16);
    uint32_t f_exp = f & 0x7f800000u, f_sig = f & 0x007fffffu;
    if (f_exp >= 0x47800000u) {  // inf/NaN, or too big
        if (f_exp == 0x7f800000u && f_sig != 0) {
            uint16_t ret = (uint16_t)(0x7c00u + (f_sig >> 13));
            return (uint16_t)(h_sgn + (ret == 0x7c00u ? ret + 1 : ret));
        }
        return (uint16_t)(h_sgn + 0x7c00u);
    }
    if (f_exp <= 0x38000000u) {  // half subnormal or zero
        if (f_exp < 0x33000000u) return h_sgn;
        f_exp >>= 23;
        f_sig = 0x00800000u + f_sig;
        f_sig >>= (113 - f_exp);
        // ties to even; the shift may drop up to 11 bits, so the sticky test looks at the original
        if (((f_sig & 0x00003fffu) != 0x00001000u) || (f & 0x000007ffu)) f_sig += 0x00001000u;
        return (uint16_t)(h_sgn + (f_sig >> 13));
    }
    const uint16_t h_exp = (uint16_t)((f_exp - 0x38000000u) >> 13);
    if ((f_sig & 0x00003fffu) != 0x00001000u) f_sig += 0x00001000u;  // ties to even
    return (uint16_t)(h_sgn + h_exp + (f_sig >> 13));  // a carry into the exponent is correct (even to inf)
}

// floats.f32_to_bf16 (ggml_compute_fp32_to_bf16): NaN quieted, else round to nearest even.
inline uint16_t fp32_to_bf16(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);  // no overflow: u <= 0xff800000 here
}

// ---- block statistics with numpy's semantics ------------------------------------------------------

// np.abs(x).max(): NaN propagates (we return |first NaN|).
inline float np_absmax(const float * x, int n) {
    float m = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float a = std::fabs(x[j]);
        if (a != a) return a;
        if (a > m) m = a;
    }
    return m;
}

// legacy._signed_absmax: x[argmax |x|], first index on ties, the first NaN if any (np.argmax).
// C's `if (amax < fabsf(v))` from 0 differs only for NaN and for an all-zero block starting with -0.
inline float np_signed_absmax(const float * x, int n) {
    float amax = -1.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float a = std::fabs(x[j]);
        if (a != a) return x[j];
        if (a > amax) { amax = a; max = x[j]; }
    }
    return max;
}

// x.min() / x.max() with NaN propagating. Among +0/-0 ties the first wins, as in ggml's C; numpy's
// SIMD reduction picks by lane order (CPU-dependent), so the sign bit of a zero Q4_1/Q5_1 m may differ
// from the numpy reference when a block's minimum is a zero of both signs (never for nonzero minima).
inline void np_min_max(const float * x, int n, float & mn, float & mx) {
    mn = mx = x[0];
    if (mn != mn) return;
    for (int j = 1; j < n; ++j) {
        const float v = x[j];
        if (v != v) { mn = mx = v; return; }
        if (v < mn) mn = v;
        if (v > mx) mx = v;
    }
}

// C `id = d ? 1.0f/d : 0.0f` (NaN d is true)
inline float inverse(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

// ---- legacy 32-blocks ---------------------------------------------------------------------------

// Q4_0 / Q5_0: d = xmax / -(2**(bits-1)), q = min(qmax, (uint8)trunc(x*id + bias)) where bias = 8.5 / 16.5.
// Trap: x*id is rounded to float32 before the add (no FMA), then truncated (not rounded).
template <int bits>
inline void legacy_symmetric(const float * x, float & d, uint8_t q[32]) {
    const float half = (float)(1 << (bits - 1));
    d = np_signed_absmax(x, 32) / -half;
    const float id = inverse(d), bias = half + 0.5f;
    const int qmax = (1 << bits) - 1;
    for (int j = 0; j < 32; ++j) {
        const int v = (uint8_t)np_cast_i32(x[j] * id + bias);
        q[j] = (uint8_t)(v < qmax ? v : qmax);
    }
}

// Q4_1 / Q5_1: d = (max - min) / qmax, q = min(qmax, (uint8)trunc((x - min)*id + 0.5f)).
template <int bits>
inline void legacy_affine(const float * x, float & d, float & mn, uint8_t q[32]) {
    const int qmax = (1 << bits) - 1;
    float mx;
    np_min_max(x, 32, mn, mx);
    d = (mx - mn) / (float)qmax;
    const float id = inverse(d);
    for (int j = 0; j < 32; ++j) {
        const int v = (uint8_t)np_cast_i32((x[j] - mn) * id + 0.5f);
        q[j] = (uint8_t)(v < qmax ? v : qmax);
    }
}

// byte j = low nibble of q[j] | q[j + 16] << 4; qh bit j = bit 4 of q[j] (Q5_x)
inline void pack_nibbles(const uint8_t q[32], uint8_t qs[16]) {
    for (int j = 0; j < 16; ++j) qs[j] = (uint8_t)((q[j] & 0x0F) | (q[j + 16] << 4));
}
inline void pack_qh(const uint8_t q[32], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 32; ++j) h |= (uint32_t)((q[j] >> 4) & 1) << j;
    std::memcpy(qh, &h, 4);
}

void quantize_row_q4_0_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q4_0 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        float d;
        uint8_t q[32];
        legacy_symmetric<4>(x, d, q);
        y[i].d = fp32_to_fp16(d);
        pack_nibbles(q, y[i].qs);
    }
}

void quantize_row_q4_1_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q4_1 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        float d, mn;
        uint8_t q[32];
        legacy_affine<4>(x, d, mn, q);
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(mn);
        pack_nibbles(q, y[i].qs);
    }
}

void quantize_row_q5_0_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q5_0 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        float d;
        uint8_t q[32];
        legacy_symmetric<5>(x, d, q);
        y[i].d = fp32_to_fp16(d);
        pack_qh(q, y[i].qh);
        pack_nibbles(q, y[i].qs);
    }
}

void quantize_row_q5_1_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q5_1 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        float d, mn;
        uint8_t q[32];
        legacy_affine<5>(x, d, mn, q);  // C has no clamp here; numpy's clip to 31 is a no-op
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(mn);
        pack_qh(q, y[i].qh);
        pack_nibbles(q, y[i].qs);
    }
}

// Q8_0 / Q8_1: d = amax / 127, q = roundf(x * id) (half AWAY from zero, not nearest_int)
inline float q8_codes(const float * x, int8_t qs[32]) {
    const float d = np_absmax(x, 32) / 127.0f;
    const float id = inverse(d);
    for (int j = 0; j < 32; ++j) qs[j] = (int8_t)roundf_cast(x[j] * id);
    return d;
}

void quantize_row_q8_1_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q8_1 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        const float d = q8_codes(x, y[i].qs);
        int sum = 0;
        for (int j = 0; j < 32; ++j) sum += y[i].qs[j];
        y[i].d = fp32_to_fp16(d);
        y[i].s = fp32_to_fp16((float)sum * d);  // exact int sum, then one float32 multiply by the unrounded d
    }
}

// ---- K-quant search helpers (ports of ggml-quants.c) -----------------------------------------------

// make_qkx2_quants: asymmetric scale/min search (Q2_K, Q4_K, Q5_K). Returns scale, *the_min >= 0 and
// codes L in [0, nmax]. Trap: trials read `min` after an adopted trial replaced it by its this_min.
float make_qkx2_quants(int n, int nmax, const float * x, const float * weights, uint8_t * L, float * the_min,
                       uint8_t * Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        float diff = scale * L[i] + min - x[i];  // ((scale*L) + min) - x
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;     // (w*l)*l
            sum_xl += w * l * x[i];  // (w*l)*x
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                std::memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// `if (ax > amax) { amax = ax; max = x; }` from 0: the signed value of largest |x|, first on ties,
// NaN never wins. Returns amax.
inline float absmax_first(const float * x, int n, float & max) {
    float amax = 0;
    max = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    return amax;
}

inline int clamp_sym(int l, int nmax) { return l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l; }

// make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = NULL): symmetric search with weights x*x (Q6_K).
// L = l + nmax, or 0 for an all-zero sub-block.
float make_qx_quants(int n, int nmax, const float * x, int8_t * L) {
    float max;
    if (absmax_first(x, n, max) < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_sym(nearest_int(iscale * x[i]), nmax);
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;  // (w*x)*l
        suml2 += w * l * l;     // (w*l)*l
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_sym(nearest_int(iscale * x[i]), nmax);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + clamp_sym(nearest_int(iscale * x[i]), nmax));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// make_q3_quants(n, nmax, x, L, do_rmse = true): symmetric start, then up to 5 coordinate-descent
// passes (Q3_K). L = l + nmax, or 0 for an all-zero sub-block.
float make_q3_quants(int n, int nmax, const float * x, int8_t * L) {
    float max;
    if (absmax_first(x, n, max) < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_sym(nearest_int(iscale * x[i]), nmax);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                const int new_l = clamp_sym(nearest_int(x[i] * sl2 / slx), nmax);  // (x*sl2)/slx
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// L (256 codes < 4) -> 64 bytes: element 128h + 32k + l at bits 2k..2k+1 of byte 32h + l
inline void pack_crumbs(const uint8_t * L, uint8_t * qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// ---- K-quants -----------------------------------------------------------------------------------

// Q2_K: 16 sub-blocks of 16, 4-bit scale and min codes (no clamp: the uint8 store wraps), codes 0..3.
void quantize_row_q2_K_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q2_K *)vy;
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (size_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = fp32_to_fp16(max_scale / q4scale);
        } else {
            for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = 0;
            y[i].d = fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] |= (uint8_t)((unsigned)nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = fp32_to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = fp32_to_fp16(0.f);
        }
        // re-quantize with the f16-rounded scales; a sub-block with d == 0 keeps the search codes
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = fp16_to_fp32(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float dm = fp16_to_fp32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)(l < 0 ? 0 : l > 3 ? 3 : l);
            }
        }
        pack_crumbs(L, y[i].qs);
    }
}

// Q3_K: 16 sub-blocks of 16, 6-bit signed scales (biased +32, int8 store wraps before the clamp),
// codes -4..3: bit 2 in hmask (element e: bit e / 32 of byte e % 32), bits 0-1 in qs.
void quantize_row_q3_K_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q3_K *)vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (size_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = std::fabs(scales[j]);
            if (scale > amax) { amax = scale; max_scale = scales[j]; }
        }
        std::memset(y[i].scales, 0, 12);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) {
                int8_t l = (int8_t)nearest_int(iscale * scales[j]);
                l = (int8_t)((l < -32 ? -32 : l > 31 ? 31 : l) + 32);
                if (j < 8) y[i].scales[j] = l & 0xF;
                else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                l >>= 4;
                y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
            }
            y[i].d = fp32_to_fp16(1 / iscale);
        } else {
            y[i].d = fp32_to_fp16(0.f);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            int8_t sc = (int8_t)(j < 8 ? y[i].scales[j] & 0xF : y[i].scales[j - 8] >> 4);
            sc = (int8_t)((sc | (((y[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
            const float d = fp16_to_fp32(y[i].d) * sc;
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)((l < -4 ? -4 : l > 3 ? 3 : l) + 4);
            }
        }
        std::memset(y[i].hmask, 0, QK_K / 8);
        uint8_t Lu[QK_K];
        for (int j = 0; j < QK_K; ++j) {
            Lu[j] = (uint8_t)L[j];
            if (Lu[j] > 3) {
                y[i].hmask[j % 32] |= (uint8_t)(1 << (j / 32));
                Lu[j] -= 4;
            }
        }
        pack_crumbs(Lu, y[i].qs);
    }
}

// Q4_K / Q5_K shared body: 8 sub-blocks of 32 with make_qkx2_quants, 6-bit scale/min codes (the
// uint8 store wraps before MIN(63, .)) packed as get_scale_min_k4 reads them, then codes
// re-quantized with the f16-rounded scales into L[256] (0..nmax).
inline void quantize_k4(const float * x, int nmax, float rmin, int nstep, ggml_half & d_out, ggml_half & dmin_out,
                        uint8_t scales_out[12], uint8_t L[QK_K]) {
    uint8_t Laux[32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < QK_K / 32; ++j) {
        ls[j] = (uint8_t)nearest_int(inv_scale * scales[j]);
        lm[j] = (uint8_t)nearest_int(inv_min * mins[j]);
        if (ls[j] > 63) ls[j] = 63;
        if (lm[j] > 63) lm[j] = 63;
        if (j < 4) {
            scales_out[j] = ls[j];
            scales_out[j + 4] = lm[j];
        } else {
            scales_out[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales_out[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales_out[j - 0] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    d_out = fp32_to_fp16(max_scale / 63.f);
    dmin_out = fp32_to_fp16(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; ++j) {
        const float d = fp16_to_fp32(d_out) * ls[j];
        if (!d) continue;
        const float dm = fp16_to_fp32(dmin_out) * lm[j];
        for (int ii = 0; ii < 32; ++ii) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        }
    }
}

void quantize_row_q4_K_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q4_K *)vy;
    uint8_t L[QK_K];
    for (size_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        quantize_k4(x, 15, -1.f, 20, y[i].d, y[i].dmin, y[i].scales, L);
        uint8_t * q = y[i].qs;  // byte 32c + l = element 64c + l | element 64c + 32 + l << 4
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void quantize_row_q5_K_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q5_K *)vy;
    uint8_t L[QK_K];
    for (size_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        quantize_k4(x, 31, -0.5f, 15, y[i].d, y[i].dmin, y[i].scales, L);
        uint8_t * qh = y[i].qh;  // bit 4 of element e at bit e / 32 of byte e % 32
        uint8_t * ql = y[i].qs;
        std::memset(qh, 0, QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int c = 0; c < QK_K; c += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[c + j], l2 = L[c + j + 32];
                if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
                if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
        }
    }
}

// Q6_K: 16 sub-blocks of 16 via make_qx_quants, int8 scales MIN(127, .) (the largest lands on -128),
// codes 0..63: low nibbles in ql, bits 4-5 in qh. A block whose scales are all < GROUP_MAX_EPS is zeroed.
void quantize_row_q6_K_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q6_K *)vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (size_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            const float abs_scale = std::fabs(scales[ib]);
            if (abs_scale > max_abs_scale) { max_abs_scale = abs_scale; max_scale = scales[ib]; }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            std::memset(&y[i], 0, sizeof(block_q6_K));
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            const int v = nearest_int(iscale * scales[ib]);
            y[i].scales[ib] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = fp16_to_fp32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)((l < -32 ? -32 : l > 31 ? 31 : l) + 32);
            }
        }
        uint8_t * ql = y[i].ql;
        uint8_t * qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

// ---- ternary ------------------------------------------------------------------------------------

// d = amax, t = roundf(x / d) + 1 in {0, 1, 2} (lroundf in C: half away from zero); n = 256 or 64
inline float trits(const float * x, uint8_t * t, int n = QK_K) {
    const float d = np_absmax(x, n);
    const float id = inverse(d);
    for (int j = 0; j < n; ++j) t[j] = (uint8_t)((int8_t)roundf_cast(x[j] * id) + 1);
    return d;
}

// base-3 number of `count` trits t[0], t[stride], ... (first most significant), times 3**(5 - count),
// stored as ceil(v * 256 / 243)
inline uint8_t tq1_byte(const uint8_t * t, int stride, int count) {
    uint32_t v = 0;
    for (int k = 0; k < count; ++k) v = v * 3 + t[k * stride];
    for (int k = count; k < 5; ++k) v *= 3;
    return (uint8_t)((v * 256 + 242) / 243);
}

// TQ1_0: qs[0:32) 5 trits of elements m + 32n; qs[32:48) of 160 + m + 16n; qh[j] 4 trits of 240 + j + 4n.
void quantize_row_tq1_0_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_tq1_0 *)vy;
    uint8_t t[QK_K];
    for (size_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        y[i].d = fp32_to_fp16(trits(x, t));
        for (int m = 0; m < 32; ++m) y[i].qs[m] = tq1_byte(t + m, 32, 5);
        for (int m = 0; m < 16; ++m) y[i].qs[32 + m] = tq1_byte(t + 160 + m, 16, 5);
        for (int j = 0; j < 4; ++j) y[i].qh[j] = tq1_byte(t + 240 + j, 4, 4);
    }
}

// TQ2_0: byte 32g + m holds element 128g + 32k + m in bits 2k..2k+1.
void quantize_row_tq2_0_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_tq2_0 *)vy;
    uint8_t t[QK_K];
    for (size_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        y[i].d = fp32_to_fp16(trits(x, t));
        for (int g = 0; g < 2; ++g)
            for (int m = 0; m < 32; ++m) {
                const uint8_t * e = t + 128 * g + m;
                y[i].qs[32 * g + m] = (uint8_t)(e[0] | (e[32] << 2) | (e[64] << 4) | (e[96] << 6));
            }
    }
}

// TQ2_64 (ggufpy-private, ternary.TQ2_64): TQ2_0's rule on 64-element blocks; byte m holds element
// 16k + m in bits 2k..2k+1.
void quantize_row_tq2_64_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_tq2_64 *)vy;
    uint8_t t[64];
    for (size_t i = 0; i < n / 64; ++i, x += 64) {
        y[i].d = fp32_to_fp16(trits(x, t, 64));
        for (int m = 0; m < 16; ++m) y[i].qs[m] = (uint8_t)(t[m] | (t[m + 16] << 2) | (t[m + 32] << 4) | (t[m + 48] << 6));
    }
}

// ---- code-book types ----------------------------------------------------------------------------

// MXFP4: e = (uint8)(floorf(log2f(amax)) - 2 + 127) (0 if amax is not > 0; the cast wraps for tiny
// amax, as numpy's), d = 2**(e - 128); each element takes the code with the smallest |kv*d - x|,
// first on ties. Only the 8 codes of x's sign are searched (other.py explains why that is the same).
// log2f: numpy's float32 log2 and glibc's agree on floor() at every float32 (checked near each power of 2).
void quantize_row_mxfp4_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_mxfp4 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        const float amax = np_absmax(x, 32);
        const uint8_t e = amax > 0 ? (uint8_t)np_cast_i32(std::floor(std::log2(amax)) - 2.0f + 127.0f) : 0;
        const float d = bits_to_f32(e < 2 ? (0x00200000u << e) : ((uint32_t)(e - 1) << 23));
        uint8_t q[32];
        for (int j = 0; j < 32; ++j) {
            const float a = std::fabs(x[j]);
            int best = 0;
            float best_err = std::fabs(kvalues_mxfp4[0] * d - a);
            for (int k = 1; k < 8; ++k) {
                const float err = std::fabs(kvalues_mxfp4[k] * d - a);
                if (err < best_err) { best = k; best_err = err; }
            }
            q[j] = (uint8_t)(x[j] < 0 && best > 0 ? best + 8 : best);
        }
        y[i].e = e;
        pack_nibbles(q, y[i].qs);
    }
}

// NF4 (ggufpy-private, nf4.encode; single quantization only): d = absmax (float32, stored exactly),
// s = clamp(x * (1/absmax), -1, 1), code = number of midpoints < s (a value on a midpoint takes the
// LOWER code; NaN -> 15 as np.searchsorted). Byte j = code j | code j + 32 << 4.
void quantize_row_nf4_generic(const float * x, void * vy, size_t n) {
    float mids[15];
    for (int k = 0; k < 15; ++k) mids[k] = (nf4_code[k] + nf4_code[k + 1]) / 2.0f;
    auto * y = (block_nf4 *)vy;
    for (size_t i = 0; i < n / 64; ++i, x += 64) {
        const float absmax = np_absmax(x, 64);
        const float inv = absmax > 0 ? 1.0f / absmax : 0.0f;
        uint8_t q[64];
        for (int j = 0; j < 64; ++j) {
            float s = x[j] * inv;
            if (s != s) { q[j] = 15; continue; }
            s = s < -1.0f ? -1.0f : s > 1.0f ? 1.0f : s;
            int c = 0;
            while (c < 15 && mids[c] < s) ++c;
            q[j] = (uint8_t)c;
        }
        y[i].d = absmax;
        for (int j = 0; j < 32; ++j) y[i].qs[j] = (uint8_t)(q[j] | (q[j + 32] << 4));
    }
}

// ---- plain floats -------------------------------------------------------------------------------

void quantize_row_f16_generic(const float * x, void * vy, size_t n) {
    auto * y = (uint16_t *)vy;
    for (size_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void quantize_row_bf16_generic(const float * x, void * vy, size_t n) {
    auto * y = (uint16_t *)vy;
    for (size_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

}  // namespace

// ---- external: also the fallbacks of SIMD kernels (declared in kernels.h) -------------------------

uint16_t fp32_to_fp16_numpy(float x) { return fp32_to_fp16(x); }

void quantize_row_q8_0_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q8_0 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) y[i].d = fp32_to_fp16(q8_codes(x, y[i].qs));
}

// Q8_K: d = 1 / (-127 / max) (max: signed element of largest |x|), qs = MIN(127, nearest_int(iscale*x))
// stored to int8, bsums = exact sums of 16. An all-zero block: d = 0, qs = 0, bsums = 0 (C leaves them).
void quantize_row_q8_K_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q8_K *)vy;
    for (size_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        float max;
        if (!absmax_first(x, QK_K, max)) {
            std::memset(&y[i], 0, sizeof(block_q8_K));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; ++j) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void fill_generic_quantize(kernel_table & t) {
    auto set = [&](uint32_t type, quantize_row_fn fn) { t.quantize[type_slot(type)] = fn; };
    set(T_F16, quantize_row_f16_generic);
    set(T_BF16, quantize_row_bf16_generic);
    set(T_Q4_0, quantize_row_q4_0_generic);
    set(T_Q4_1, quantize_row_q4_1_generic);
    set(T_Q5_0, quantize_row_q5_0_generic);
    set(T_Q5_1, quantize_row_q5_1_generic);
    set(T_Q8_0, quantize_row_q8_0_generic);
    set(T_Q8_1, quantize_row_q8_1_generic);
    set(T_Q2_K, quantize_row_q2_K_generic);
    set(T_Q3_K, quantize_row_q3_K_generic);
    set(T_Q4_K, quantize_row_q4_K_generic);
    set(T_Q5_K, quantize_row_q5_K_generic);
    set(T_Q6_K, quantize_row_q6_K_generic);
    set(T_Q8_K, quantize_row_q8_K_generic);
    set(T_TQ1_0, quantize_row_tq1_0_generic);
    set(T_TQ2_0, quantize_row_tq2_0_generic);
    set(T_TQ2_64, quantize_row_tq2_64_generic);
    set(T_MXFP4, quantize_row_mxfp4_generic);
    set(T_NF4, quantize_row_nf4_generic);
}

}  // namespace ggufpy
