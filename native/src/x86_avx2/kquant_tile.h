// 256-bit kernels for the K-quants Q4_K, Q5_K, Q6_K x Q8_K: a tile of up to RMAX weight rows x CMAX
// activation rows (mat_dot) that unpacks each weight super-block (its 6-bit scales and mins, its nibbles
// and high bits) once per tile instead of once per dot product, and the one-pair dot (vec_dot), which is
// the 1 x 1 tile, so a token gets bitwise the same float whether it is evaluated alone or in a batch.
//
// The integer step is a policy (Dot): x86_avx2/vec_dot.cpp passes kq_maddubs (maddubs, madd, add),
// x86_avx512vnni/vec_dot.cpp passes vpdpwssd on ymm (madd and add in one). Included only by those two
// files, each compiled with its own ISA flags; everything here has internal linkage. In the avx512vnni
// table Q4_K and Q6_K matrices are normally packed at load (x86_avx512vnni/kquant_packed.cpp, which must
// stay bitwise equal to these kernels); these tiles serve Q5_K, unpacked models and the other tables.
//
// ---- the arithmetic every kernel here shares -------------------------------------------------------
// Super-block i of one (weight row, activation row) pair, 8 groups g of 32 elements:
//   sumi = Σ_g madd(maddubs(q_g, a_g), scale_g)     8 int32 lanes; exact (lane l: elements 4l..4l+3 of
//                                                   every group); Q6_K adds -32 Σ scale_j bsum_j (q - 32)
//   S = Σ lanes of sumi, and for Q4_K, Q5_K M = Σ_j m_j (bsum_2j + bsum_2j+1)   (exact int32 scalars)
//   acc = fma(d_w * d_a, float(S), acc)                                       (scalar, from 0)
//   Q4_K, Q5_K:  acc = fma(-dmin_w * d_a, float(M), acc)
//   result = acc
// Integer sums are exact in any order; the float operations above are evaluated identically by every tile
// shape, so mat_dot == vec_dot bit for bit. One scalar chain per pair, so that a kernel
// holding one row per lane (x86_avx512vnni/kquant_packed.cpp, rows interleaved at load) evaluates the very
// same operations lane-wise. Results differ from generic/vec_dot.cpp only by float rounding order (well
// inside DOT_REL; float(S) rounds S beyond 2**24 to 24 bits, 6e-8 relative).
//
// Magnitudes: q <= 15 (Q4_K), 31 (Q5_K), 63 (Q6_K), |a| <= 128, so maddubs pairs <= 2 * 63 * 128 < 2**15
// never saturate; scales <= 63 (Q4_K/Q5_K) or |scale| <= 128 (Q6_K, -32 * scale fits int16).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "ggufpy/blocks.h"
#include "tiler.h"

namespace ggufpy {
namespace {

// The per-row helpers below run once per row and super-block inside the tiles: GCC's inliner otherwise
// leaves some out of line (a call per row and super-block).
#define KQ_INLINE [[gnu::always_inline]] inline

// ggml get_scale_shuffle_k4: row i broadcasts int16 i of each 128-bit lane over that lane.
alignas(32) const uint8_t k_shuffle_k4[256] = {
    0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
    2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
    4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5,
    6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7,
    8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9,
    10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11,
    12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13,
    14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15,
};
inline __m256i scale_shuffle_k4(int i) { return _mm256_load_si256((const __m256i *)k_shuffle_k4 + i); }

// ggml get_scale_shuffle_q3k: row i spreads int16 scale 2i over lane 0 and scale 2i + 1 over lane 1 (Q2_K, Q3_K,
// Q6_K: each 32-element group holds two sub-blocks of 16, one per 128-bit lane of the maddubs result).
alignas(32) const uint8_t k_shuffle_q3k[128] = {
    0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
    4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7,
    8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11,
    12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15,
};
inline __m256i scale_shuffle_q3k(int i) { return _mm256_load_si256((const __m256i *)k_shuffle_q3k + i); }

// 16 int8 sub-block scales -> int16, scales 0-7 in both lanes of s[0], 8-15 in both lanes of s[1]
// (picked per group with scale_shuffle_q3k).
inline void spread_k16_scales(__m128i scales8, __m256i s[2]) {
    const __m256i all = _mm256_cvtepi8_epi16(scales8);
    s[0] = _mm256_permute2x128_si256(all, all, 0x00);
    s[1] = _mm256_permute2x128_si256(all, all, 0x11);
}

// The 12 packed scale bytes (p[0..12), read as 16: the 4 bytes after them must be readable, as they are
// in a block) -> 8 scales then 8 mins as 16 uint8, blocks.h get_scale_min_k4 for all j at once:
//   sc_j = p[j] & 63,                 m_j = p[j + 4] & 63                    (j < 4)
//   sc_j = (p[j + 4] & 15) | (p[j - 4] >> 6) << 4,  m_j = (p[j + 4] >> 4) | (p[j] >> 6) << 4   (j >= 4)
KQ_INLINE __m128i unpack_k4_scales(const uint8_t * p) {
    const __m128i s = _mm_loadu_si128((const __m128i *)p);
    const __m128i a = _mm_shuffle_epi8(s, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i b = _mm_shuffle_epi8(s, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i lo = _mm_and_si128(a, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0));
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(a, 4), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15));
    const __m128i top = _mm_and_si128(_mm_srli_epi16(b, 2), _mm_set1_epi8(0x30));  // (x >> 6) << 4; b's -1 lanes are 0
    return _mm_or_si128(_mm_or_si128(lo, hi), top);
}

inline __m256i kq_load(const void * p) { return _mm256_loadu_si256((const __m256i *)p); }

// ---- per-type traits ----------------------------------------------------------------------------
// row: the per-super-block state of one weight row, built once per tile (load). group(g): the 32 weight
// codes of elements 32g..32g+31 as u8; scale(g): the int16 multipliers of maddubs' 16 pair sums of that
// group; fix(bsums): Q6_K's int32 lanes added to sumi, the K4 types' mins lanes for hadd.

// Q4_K / Q5_K: sub-block j = group j (32 elements), x = d * sc_j * q - dmin * m_j.
struct kq_k4_row {
    __m256i scales;  // int16 sc_0..sc_7 in both 128-bit lanes
    __m256i mins;    // int16 m_0, m_0, m_1, m_1, ..., m_7, m_7 (madd with bsums: lane j = m_j (bsum_2j + bsum_2j+1))
    __m128 dm;       // d, -dmin, d, -dmin
    KQ_INLINE void load_scales(ggml_half d, ggml_half dmin, const uint8_t * packed) {  // packed: 16 readable bytes
        const __m128i sm = unpack_k4_scales(packed);  // bytes 0-7 scales, 8-15 mins
        scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        const __m128i m8 = _mm_unpackhi_epi8(sm, sm);
        mins = _mm256_cvtepu8_epi16(m8);
        const __m128 f = _mm_cvtph_ps(_mm_set1_epi32((int)((uint32_t)d | (uint32_t)dmin << 16)));  // d, dmin, d, dmin
        dm = _mm_xor_ps(f, _mm_setr_ps(0.0f, -0.0f, 0.0f, -0.0f));
    }
    KQ_INLINE __m256i scale(int g) const { return _mm256_shuffle_epi8(scales, scale_shuffle_k4(g)); }
    KQ_INLINE __m256i fix(__m256i bsums) const { return _mm256_madd_epi16(mins, bsums); }
};

struct kq_q4_K {
    using wblock = block_q4_K;
    static constexpr bool affine = true;
    struct row : kq_k4_row {
        const uint8_t * qs;  // 128 bytes: byte l of 32-byte chunk k holds element 64k + l (low) / 64k + 32 + l (high)
        KQ_INLINE void load(const wblock & b) {
            load_scales(b.d, b.dmin, b.scales);
            qs = b.qs;
        }
        KQ_INLINE __m256i group(int g) const {
            const __m256i q = kq_load(qs + 32 * (g / 2));
            return _mm256_and_si256(g % 2 ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0F));
        }
    };
};

struct kq_q5_K {
    using wblock = block_q5_K;
    static constexpr bool affine = true;
    struct row : kq_k4_row {
        const uint8_t * qs;  // low 4 bits as Q4_K
        __m256i qh;          // bit g of byte l: bit 4 of element 32g + l
        KQ_INLINE void load(const wblock & b) {
            load_scales(b.d, b.dmin, b.scales);
            qs = b.qs;
            qh = kq_load(b.qh);
        }
        KQ_INLINE __m256i group(int g) const {
            const __m256i q = kq_load(qs + 32 * (g / 2));
            const __m256i lo = _mm256_and_si256(g % 2 ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0F));
            // bit g -> bit 4 (16-bit shifts: the bits crossing bytes are masked off)
            const __m256i h = g >= 4 ? _mm256_srli_epi16(qh, g - 4) : _mm256_slli_epi16(qh, 4 - g);
            return _mm256_or_si256(lo, _mm256_and_si256(h, _mm256_set1_epi8(0x10)));
        }
    };
};

// Q6_K: 16 sub-blocks of 16, x = d * sc_j * (q - 32); group g = 4h + k of 128-element half h:
// low nibbles from ql[64h + 32 (k & 1) + l] (k < 2 low nibble, else high), bits 4-5 from bits 2k, 2k+1 of
// qh[32h + l]; its sub-blocks 2g, 2g + 1 are the two 128-bit lanes of maddubs' result.
struct kq_q6_K {
    using wblock = block_q6_K;
    static constexpr bool affine = false;
    struct row {
        const uint8_t * ql;
        const uint8_t * qh;
        __m256i scales[2];  // spread_k16_scales
        __m256i neg32;      // int16 -32 * sc_j, j = 0..15 (pairs with bsum_j)
        __m128 dm;          // d in lane 0
        KQ_INLINE void load(const wblock & b) {
            ql = b.ql;
            qh = b.qh;
            const __m128i s8 = _mm_loadu_si128((const __m128i *)b.scales);
            spread_k16_scales(s8, scales);
            neg32 = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(_mm256_cvtepi8_epi16(s8), 5));
            dm = _mm_set_ss(_cvtsh_ss(b.d));
        }
        KQ_INLINE __m256i group(int g) const {
            const int h = g / 4, k = g % 4;
            const __m256i l = kq_load(ql + 64 * h + 32 * (k & 1));
            const __m256i lo = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(l, 4) : l, _mm256_set1_epi8(0x0F));
            const __m256i q = kq_load(qh + 32 * h);
            const __m256i hi = k == 2 ? q : k > 2 ? _mm256_srli_epi16(q, 2 * k - 4) : _mm256_slli_epi16(q, 4 - 2 * k);
            return _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(0x30)));
        }
        KQ_INLINE __m256i scale(int g) const { return _mm256_shuffle_epi8(scales[g / 4], scale_shuffle_q3k(g % 4)); }
    };
};

// AVX2 integer steps: acc + Σ pairs of int16 x int16 (vpmaddwd, vpaddd).
struct kq_maddubs {
    static inline __m256i madd_acc(__m256i acc, __m256i x, __m256i y) { return _mm256_add_epi32(acc, _mm256_madd_epi16(x, y)); }
};

// One super-block's float step for pair (row, activation), the formula in the header comment: the scalar
// chain lives in lane 0 of acc; d_a is the activation's d in every lane.
template <class T, class Dot>
KQ_INLINE __m128 kq_accumulate(const typename T::row & w, __m256i sumi, __m256i bsums, __m128 d_a, __m128 acc) {
    if constexpr (T::affine) {
        const __m256i v = _mm256_hadd_epi32(sumi, w.fix(bsums));  // s01 s23 m01 m23 | s45 s67 m45 m67
        const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        const __m128 sm = _mm_cvtepi32_ps(_mm_hadd_epi32(h, h));  // S, M, S, M
        const __m128 p = _mm_mul_ps(w.dm, d_a);                    // d_w d_a, -dmin_w d_a, ...
        acc = _mm_fmadd_ss(p, sm, acc);
        return _mm_fmadd_ss(_mm_movehdup_ps(p), _mm_movehdup_ps(sm), acc);
    } else {
        const __m256i v = Dot::madd_acc(sumi, bsums, w.neg32);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        h = _mm_add_epi32(h, _mm_unpackhi_epi64(h, h));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 1));  // lane 0: S
        return _mm_fmadd_ss(_mm_mul_ss(w.dm, d_a), _mm_cvtepi32_ps(h), acc);
    }
}

// ---- mat_dot tile: R weight rows x C activation rows ---------------------------------------------------
// out[c * out_stride + r] = row r of w . row c of a. Per super-block: unpack R rows' scales, then per group
// the R rows' codes and scales once, each activation load once, R x C maddubs + madd_acc.
template <class T, class Dot, int R, int C>
inline void kq_tile(size_t n, const uint8_t * w, size_t w_stride, const uint8_t * a, size_t a_stride, float * out,
                    size_t out_stride) {
    using W = typename T::wblock;
    __m128 acc[R][C];  // lane 0: the pair's scalar chain
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) acc[r][c] = _mm_setzero_ps();
    for (size_t i = 0; i < n / QK_K; ++i) {
        typename T::row rw[R];
        for (int r = 0; r < R; ++r) rw[r].load(((const W *)(w + (size_t)r * w_stride))[i]);
        const block_q8_K * y[C];
        for (int c = 0; c < C; ++c) y[c] = (const block_q8_K *)(a + (size_t)c * a_stride) + i;
        // K independent integer chains per pair (group g feeds chain g % K), so small tiles are not bound by
        // the latency of vpdpwssd accumulating into one register; integer sums, so K changes no result bit.
        constexpr int K = R * C >= 4 ? 1 : R * C == 1 ? 4 : 2;
        __m256i sumi[K][R][C];
        for (int k = 0; k < K; ++k)
            for (int r = 0; r < R; ++r)
                for (int c = 0; c < C; ++c) sumi[k][r][c] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int g = 0; g < QK_K / 32; ++g) {
            __m256i q[R], sc[R];
            for (int r = 0; r < R; ++r) {
                q[r] = rw[r].group(g);
                sc[r] = rw[r].scale(g);
            }
            for (int c = 0; c < C; ++c) {
                const __m256i aq = kq_load(y[c]->qs + 32 * g);
                for (int r = 0; r < R; ++r)
                    sumi[g % K][r][c] = Dot::madd_acc(sumi[g % K][r][c], _mm256_maddubs_epi16(q[r], aq), sc[r]);
            }
        }
        for (int c = 0; c < C; ++c) {
            const __m256i bsums = kq_load(y[c]->bsums);
            const __m128 d_a = _mm_set1_ps(y[c]->d);
            for (int r = 0; r < R; ++r) {
                __m256i s = sumi[0][r][c];
                for (int k = 1; k < K; ++k) s = _mm256_add_epi32(s, sumi[k][r][c]);
                acc[r][c] = kq_accumulate<T, Dot>(rw[r], s, bsums, d_a, acc[r][c]);
            }
        }
    }
    for (int c = 0; c < C; ++c)
        for (int r = 0; r < R; ++r) out[(size_t)c * out_stride + r] = _mm_cvtss_f32(acc[r][c]);
}

// vec_dot: the 1 x 1 tile (so it evaluates the tiles' float operations exactly).
template <class T, class Dot>
float kq_vec_dot(size_t n, const void * w, const void * a) {
    float out;
    kq_tile<T, Dot, 1, 1>(n, (const uint8_t *)w, 0, (const uint8_t *)a, 0, &out, 0);
    return out;
}

// The tiler (tiler.h) over kq_tile: any nr x nc, tiles of RMAX x CMAX.
template <class T, class Dot>
struct kq_tile_of {
    template <int R, int C>
    struct at {
        static void run(size_t n, const uint8_t * w, size_t ws, const uint8_t * a, size_t as, float * out, size_t os) {
            kq_tile<T, Dot, R, C>(n, w, ws, a, as, out, os);
        }
    };
};
template <class T, class Dot, int RMAX, int CMAX>
using kq_tiler = tiler<kq_tile_of<T, Dot>::template at, RMAX, CMAX>;

#undef KQ_INLINE

}  // namespace
}  // namespace ggufpy
