// 256-bit kernels for the 32-element legacy and code-book types (IQ4_NL, MXFP4 x Q8_0; Q4_1, Q5_1 x Q8_1;
// Q4_0, Q5_0 and Q8_0 are packed at load instead, legacy_packed.cpp of each ISA): a one-pair dot (vec_dot) and a tile of up to RMAX weight rows x CMAX activation rows
// (mat_dot), which unpacks each weight block and converts each scale once per tile instead of once per dot
// product.
//
// The u8 x s8 integer step is a policy: x86_avx2/vec_dot.cpp passes maddubs + madd, x86_avx512vnni/
// vec_dot.cpp passes vpdpbusd on ymm (AVX512-VNNI + VL). Included only by those two files, each
// compiled with its own ISA flags; everything here has internal linkage (anonymous namespace), so the
// two copies never meet at link time.
//
// Per block the integer sum is exact (as generic/vec_dot.cpp); scales are float32 products d_w * d_a and
// the accumulation is lane-wise FMA, so results differ from generic only by rounding order.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ggufpy/blocks.h"
#include "tiler.h"
#include "ggufpy/float_bits.h"

namespace ggufpy {
namespace {

inline float lt_hsum(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high nibbles (16..31).
inline __m256i lt_nibbles(const uint8_t * p) {
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

inline __m256i lt_load(const int8_t * p) { return _mm256_loadu_si256((const __m256i *)p); }

// The f16 scale pair (first 4 bytes) of two blocks with one vcvtph2ps: [d0, m0, d1, m1] (m: Q4_1's min,
// Q8_1's s; junk for the Q8_0-activation types, whose lanes 1 and 3 are then never used).
inline __m128 lt_scale_pair(const void * b0, const void * b1) {
    int32_t u0, u1;
    std::memcpy(&u0, b0, 4);
    std::memcpy(&u1, b1, 4);
    return _mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128(u0), u1, 1));
}

// Broadcast lane i of a 4-float vector to 8 lanes.
inline __m256 lt_lane(__m128 v, int i) { return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v), _mm256_set1_epi32(i)); }

// Q5's qh (32 bits, bit i = bit 4 of element i) -> 32 bytes, 0x10 where the bit is set.
inline __m256i lt_qh_bit4(const uint8_t * qh) {
    uint32_t x;
    std::memcpy(&x, qh, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);  // byte i = byte i/8 of x
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201);                   // bit i % 8 of that byte
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// 16 bytes of 4-bit code-book indices (Q4_0 nibble order) -> the 32 int8 code values (one pshufb).
inline __m256i lt_codebook(const uint8_t * qs, const int8_t * table) {
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)table)), lt_nibbles(qs));
}

// ---- per-type traits ----------------------------------------------------------------------------
// wq(block): the weight bytes as the u8 operand; sign_w: signed weights (IQ4_NL, MXFP4: |w| and
// sign(a, w)); affine: Q4_1's / Q5_1's m_w * s_a term.
// Weight scales: pair(b0, b1) = [d0, m0, d1, m1] of two blocks, rows<R>(b) = [d, m] of R rows' blocks in
// lanes 2r, 2r + 1 (m junk, never used, unless affine).

// Blocks whose first 4 bytes are two f16 [d, m] (m: Q4_1's / Q5_1's min; for IQ4_NL junk).
template <class W>
struct lt_f16_scales {
    using wblock = W;
    static inline __m128 pair(const W & b0, const W & b1) { return lt_scale_pair(&b0, &b1); }
    template <int R>
    static inline __m256 rows(const W * const * b) {  // one vcvtph2ps for all R rows
        __m128i h = _mm_setzero_si128();
        for (int r = 0; r < R; ++r) {
            int32_t u;
            std::memcpy(&u, b[r], 4);
            h = _mm_insert_epi32(h, u, r);
        }
        return _mm256_cvtph_ps(h);
    }
};

struct lt_q4_1 : lt_f16_scales<block_q4_1> {
    using ablock = block_q8_1;
    static constexpr bool sign_w = false, affine = true;
    static inline __m256i wq(const wblock & b) { return lt_nibbles(b.qs); }
};
struct lt_q5_1 : lt_f16_scales<block_q5_1> {
    using ablock = block_q8_1;
    static constexpr bool sign_w = false, affine = true;
    static inline __m256i wq(const wblock & b) { return _mm256_or_si256(lt_nibbles(b.qs), lt_qh_bit4(b.qh)); }
};

struct lt_iq4_nl : lt_f16_scales<block_iq4_nl> {
    using ablock = block_q8_0;
    static constexpr bool sign_w = true, affine = false;
    static inline __m256i wq(const wblock & b) { return lt_codebook(b.qs, kvalues_iq4nl); }
};
// MXFP4: kvalues_mxfp4 code book, scale 2**(e - 128) from the E8M0 byte (not f16: it spans 2**-128..2**126).
struct lt_mxfp4 {
    using wblock = block_mxfp4;
    using ablock = block_q8_0;
    static constexpr bool sign_w = true, affine = false;
    static inline __m256i wq(const wblock & b) { return lt_codebook(b.qs, kvalues_mxfp4); }
    static inline __m128 pair(const wblock & b0, const wblock & b1) {
        return _mm_setr_ps(e8m0_to_fp32_half(b0.e), 0.0f, e8m0_to_fp32_half(b1.e), 0.0f);
    }
    template <int R>
    static inline __m256 rows(const wblock * const * b) {
        alignas(32) float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int r = 0; r < R; ++r) s[2 * r] = e8m0_to_fp32_half(b[r]->e);
        return _mm256_load_ps(s);
    }
};

// Integer sums (8 int32 lanes) of one weight block with one activation block.
template <class T, class Dot>
inline __m256i lt_block_dot(__m256i w, __m256i a) {
    if (T::sign_w) return Dot::dot(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    return Dot::dot(w, a);
}

// ---- the arithmetic every kernel here shares ----------------------------------------------------------
// For one (weight row, activation row) pair, blocks b = 0, 1, 2, ...:
//   acc[b % 2] = fma(d_w * d_a, float(Σ q_w q_a), acc[b % 2])         (8 lanes; two chains hide FMA latency)
//   m[b % 2]  += m_w * s_a                                              (Q4_1 only)
//   result = ((hsum(acc[0] + acc[1]) + m[0]) + m[1])
// vec_dot (one pair, scales of two blocks per vcvtph2ps) and the tiles (scales of R rows per vcvtph2ps)
// evaluate exactly these float operations in this order, so a token gets bitwise the same logits whether
// it is evaluated alone or inside a batch.

template <class T, class Dot>
float lt_vec_dot(size_t n, const void * vw, const void * va) {
    using W = typename T::wblock;
    using A = typename T::ablock;
    const W * x = (const W *)vw;
    const A * y = (const A *)va;
    const size_t nb = n / 32;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();  // lane 1: Σ m_w s_a of even blocks, lane 3: of odd blocks
    size_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
        const __m128 p = _mm_mul_ps(T::pair(x[ib], x[ib + 1]), lt_scale_pair(&y[ib], &y[ib + 1]));
        if (T::affine) acc_m = _mm_add_ps(acc_m, p);
        const __m256i s0 = lt_block_dot<T, Dot>(T::wq(x[ib]), lt_load(y[ib].qs));
        const __m256i s1 = lt_block_dot<T, Dot>(T::wq(x[ib + 1]), lt_load(y[ib + 1].qs));
        acc0 = _mm256_fmadd_ps(lt_lane(p, 0), _mm256_cvtepi32_ps(s0), acc0);
        acc1 = _mm256_fmadd_ps(lt_lane(p, 2), _mm256_cvtepi32_ps(s1), acc1);
    }
    if (ib < nb) {  // an even block: lanes 0 and 1 only
        const __m128 p = _mm_mul_ps(T::pair(x[ib], x[ib]), lt_scale_pair(&y[ib], &y[ib]));
        if (T::affine) acc_m = _mm_add_ps(acc_m, _mm_blend_ps(p, _mm_setzero_ps(), 0xC));
        const __m256i s0 = lt_block_dot<T, Dot>(T::wq(x[ib]), lt_load(y[ib].qs));
        acc0 = _mm256_fmadd_ps(lt_lane(p, 0), _mm256_cvtepi32_ps(s0), acc0);
    }
    float sum = lt_hsum(_mm256_add_ps(acc0, acc1));
    if (T::affine) {
        sum += _mm_cvtss_f32(_mm_shuffle_ps(acc_m, acc_m, 1));
        sum += _mm_cvtss_f32(_mm_shuffle_ps(acc_m, acc_m, 3));
    }
    return sum;
}

// ---- mat_dot tile: R weight rows x C activation rows ----------------------------------------------------
// out[c * out_stride + r] = row r of w . row c of a.
template <class T, class Dot, int R, int C>
void lt_tile(size_t n, const uint8_t * w, size_t w_stride, const uint8_t * a, size_t a_stride, float * out, size_t out_stride) {
    using W = typename T::wblock;
    using A = typename T::ablock;
    const size_t nb = n / 32;
    __m256 acc[2][R][C];
    __m256 acc_m[2][C];  // lane 2r + 1: Σ m_w s_a of pair (r, c), even / odd blocks
    for (int k = 0; k < 2; ++k) {
        for (int r = 0; r < R; ++r)
            for (int c = 0; c < C; ++c) acc[k][r][c] = _mm256_setzero_ps();
        for (int c = 0; c < C; ++c) acc_m[k][c] = _mm256_setzero_ps();
    }
    auto block = [&](size_t ib, int k) {
        __m256i wq[R], wabs[R];
        const W * b[R];
        for (int r = 0; r < R; ++r) {
            b[r] = &((const W *)(w + (size_t)r * w_stride))[ib];
            wq[r] = T::wq(*b[r]);
            if (T::sign_w) wabs[r] = _mm256_sign_epi8(wq[r], wq[r]);
        }
        const __m256 dm = T::template rows<R>(b);  // lanes 2r: d_w of row r, 2r + 1: m_w (junk unless affine)
        for (int c = 0; c < C; ++c) {
            const A & ab = ((const A *)(a + (size_t)c * a_stride))[ib];
            int32_t u;
            std::memcpy(&u, &ab, 4);
            const __m256 as = _mm256_cvtph_ps(_mm_set1_epi32(u));  // [d_a, s_a] x 4
            const __m256 p = _mm256_mul_ps(dm, as);  // lanes 2r: d_w d_a, 2r + 1: m_w s_a
            if (T::affine) acc_m[k][c] = _mm256_add_ps(acc_m[k][c], p);
            const __m256i aq = lt_load(ab.qs);
            for (int r = 0; r < R; ++r) {
                __m256i s;
                if (T::sign_w)
                    s = Dot::dot(wabs[r], _mm256_sign_epi8(aq, wq[r]));
                else
                    s = Dot::dot(wq[r], aq);
                acc[k][r][c] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(p, _mm256_set1_epi32(2 * r)), _mm256_cvtepi32_ps(s), acc[k][r][c]);
            }
        }
    };
    size_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
        block(ib, 0);
        block(ib + 1, 1);
    }
    if (ib < nb) block(ib, 0);
    for (int c = 0; c < C; ++c) {
        float m0[8], m1[8];
        _mm256_storeu_ps(m0, acc_m[0][c]);
        _mm256_storeu_ps(m1, acc_m[1][c]);
        for (int r = 0; r < R; ++r) {
            float sum = lt_hsum(_mm256_add_ps(acc[0][r][c], acc[1][r][c]));
            if (T::affine) {
                sum += m0[2 * r + 1];
                sum += m1[2 * r + 1];
            }
            out[(size_t)c * out_stride + r] = sum;
        }
    }
}

// The tiler (tiler.h) over lt_tile: any nr x nc, tiles of RMAX x CMAX.
template <class T, class Dot>
struct lt_tile_of {
    template <int R, int C>
    struct at {
        static void run(size_t n, const uint8_t * w, size_t ws, const uint8_t * a, size_t as, float * out, size_t os) {
            lt_tile<T, Dot, R, C>(n, w, ws, a, as, out, os);
        }
    };
};
template <class T, class Dot, int RMAX, int CMAX>
using lt_tiler = tiler<lt_tile_of<T, Dot>::template at, RMAX, CMAX>;

}  // namespace
}  // namespace ggufpy
