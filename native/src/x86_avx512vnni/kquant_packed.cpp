// Packed Q4_K, Q6_K and TQ2_0 for the avx512vnni table: x86_avx2/kquant_packed.h with the VNNI integer steps,
// plus 16-row prompt tiles for Q4_K and Q6_K (two adjacent 8-row panels in the two halves of a zmm: half the
// instructions per weight of the 8-row ymm tiles).
#include <immintrin.h>

namespace ggufpy {
namespace {
inline __m256i kp_dpbusd(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
inline __m256i kp_dpwssd(__m256i acc, __m256i x, __m256i y) { return _mm256_dpwssd_epi32(acc, x, y); }
}  // namespace
}  // namespace ggufpy

#include "../x86_avx2/kquant_packed.h"

namespace ggufpy {

namespace {

// Two panels' 32-byte rows of a chunk side by side: lanes 0-7 rows of panel a, lanes 8-15 of panel b.
inline __m512i load_pair(const void * a, const void * b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

// 8 bytes of each panel (one per row) -> 16 bytes; two panels' 8 halves -> 16 halves.
inline __m128i pair8(const void * a, const void * b) {
    return _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)a), _mm_loadl_epi64((const __m128i *)b));
}
inline __m256i load_pair16(const uint16_t * a, const uint16_t * b) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)), _mm_loadu_si128((const __m128i *)b), 1);
}

inline __m512i bcast4_512(const void * p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// q6_Kx8_sums_by_group for 16 rows (super-block i of panels a and b): the same integer sums per row, each
// 6-bit code assembled as (low 4 bits from ql) | (2 high bits from qh, at bits 4-5) with one vpternlogd
// (select by the 0x0F mask) and one AND (0x3F).
template <int C>
[[gnu::always_inline]] inline void q6_Kx16_sums(const block_q6_Kx8 & a, const block_q6_Kx8 & b,
                                                const block_q8_K_prep * const * y, __m512i * S) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3f = _mm512_set1_epi8(0x3F);
    for (int c = 0; c < C; ++c) S[c] = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h)
#pragma GCC unroll 1
        for (int k = 0; k < 4; ++k)
#pragma GCC unroll 2
            for (int half = 0; half < 2; ++half) {
                const int j = 8 * h + 2 * k + half;
                __m512i acc[C];
                for (int c = 0; c < C; ++c) acc[c] = _mm512_set1_epi32(y[c]->bneg32[j]);
#pragma GCC unroll 4
                for (int ch = 4 * half; ch < 4 * half + 4; ++ch) {
                    const __m512i l = load_pair(a.q[h][ch].l[k & 1], b.q[h][ch].l[k & 1]);
                    const __m512i hb = load_pair(a.q[h][ch].h, b.q[h][ch].h);
                    const __m512i lo = k < 2 ? l : _mm512_srli_epi16(l, 4);
                    const __m512i hi = k == 0 ? _mm512_slli_epi16(hb, 4) : k == 1 ? _mm512_slli_epi16(hb, 2)
                                     : k == 2 ? hb : _mm512_srli_epi16(hb, 2);
                    const __m512i w = _mm512_and_si512(_mm512_ternarylogic_epi32(lo, hi, m4, 0xE4), m3f);  // m4 ? lo : hi
                    for (int c = 0; c < C; ++c)
                        acc[c] = _mm512_dpbusd_epi32(acc[c], w, bcast4_512(y[c]->qs + 128 * h + 32 * k + 4 * ch));
                }
                const __m512i sc = _mm512_cvtepi8_epi32(pair8(a.sc[j], b.sc[j]));
                for (int c = 0; c < C; ++c) S[c] = _mm512_add_epi32(S[c], _mm512_mullo_epi32(acc[c], sc));
            }
}

// acc[c] += super-block of panels a, b (16 rows) . y[c]: the float steps of step<C> (kquant_packed.h) per row.
template <int C>
[[gnu::always_inline]] inline void step16(const block_q6_Kx8 & a, const block_q6_Kx8 & b, const block_q8_K_prep * const * y,
                                          __m512 * acc) {
    __m512i S[C];
    q6_Kx16_sums<C>(a, b, y, S);
    const __m512 d = _mm512_cvtph_ps(load_pair16(a.d, b.d));
    for (int c = 0; c < C; ++c)
        acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(y[c]->d)), _mm512_cvtepi32_ps(S[c]), acc[c]);
}

// q4_Kx8_sums and the mins for 16 rows; one chain per group half (the 8-row kernel's two chunk-parity chains
// add up to the same exact int32).
template <int C>
[[gnu::always_inline]] inline void step16(const block_q4_Kx8 & a, const block_q4_Kx8 & b, const block_q8_K_prep * const * y,
                                          __m512 * acc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i S[C];
    for (int c = 0; c < C; ++c) S[c] = _mm512_setzero_si512();
#pragma GCC unroll 1
    for (int k = 0; k < 4; ++k) {
        __m512i lo[C], hi[C];
        for (int c = 0; c < C; ++c) lo[c] = hi[c] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int ch = 0; ch < 8; ++ch) {
            const __m512i w = load_pair(a.qs[k][ch], b.qs[k][ch]);
            const __m512i wl = _mm512_and_si512(w, m4), wh = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
            for (int c = 0; c < C; ++c) {
                const int8_t * q = y[c]->qs + 64 * k + 4 * ch;
                lo[c] = _mm512_dpbusd_epi32(lo[c], wl, bcast4_512(q));
                hi[c] = _mm512_dpbusd_epi32(hi[c], wh, bcast4_512(q + 32));
            }
        }
        const __m512i sl = _mm512_cvtepu8_epi32(pair8(a.sc[2 * k], b.sc[2 * k]));
        const __m512i sh = _mm512_cvtepu8_epi32(pair8(a.sc[2 * k + 1], b.sc[2 * k + 1]));
        for (int c = 0; c < C; ++c)
            S[c] = _mm512_add_epi32(S[c], _mm512_add_epi32(_mm512_mullo_epi32(lo[c], sl), _mm512_mullo_epi32(hi[c], sh)));
    }
    __m512i M[C];
    for (int c = 0; c < C; ++c) M[c] = _mm512_setzero_si512();
    for (int p = 0; p < 4; ++p) {
        const __m512i mm = _mm512_cvtepu8_epi16(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a.m[p])), _mm_loadu_si128((const __m128i *)b.m[p]), 1));
        for (int c = 0; c < C; ++c) M[c] = _mm512_dpwssd_epi32(M[c], mm, bcast4_512(&y[c]->bpair[2 * p]));
    }
    const __m512 d = _mm512_cvtph_ps(load_pair16(a.d, b.d));
    const __m512 ndmin = _mm512_xor_ps(_mm512_cvtph_ps(load_pair16(a.dmin, b.dmin)), _mm512_set1_ps(-0.0f));
    for (int c = 0; c < C; ++c) {
        const __m512 da = _mm512_set1_ps(y[c]->d);
        acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(S[c]), acc[c]);
        acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(ndmin, da), _mm512_cvtepi32_ps(M[c]), acc[c]);
    }
}

// 16 packed rows (panels a, b: nb super-blocks each) x C prepared activation rows; out[c * out_stride + r]
// for r < nr.
template <class B, int C>
void tile16(size_t nb, const B * wa, const B * wb, const uint8_t * act, size_t a_stride, float * out, size_t out_stride, int nr) {
    __m512 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
    for (size_t i = 0; i < nb; ++i) {
        const block_q8_K_prep * y[C];
        for (int c = 0; c < C; ++c) y[c] = (const block_q8_K_prep *)(act + (size_t)c * a_stride) + i;
        step16<C>(wa[i], wb[i], y, acc);
    }
    for (int c = 0; c < C; ++c) {
        alignas(64) float t[16];
        _mm512_store_ps(t, acc[c]);
        for (int r = 0; r < nr; ++r) out[(size_t)c * out_stride + r] = t[r];
    }
}

template <class B, int C>
void cols16(size_t nb, const B * wa, const B * wb, const uint8_t * act, size_t a_stride, int nc, float * out, size_t out_stride,
            int nr) {
    if constexpr (C > 1) {
        if (nc < C) return cols16<B, C - 1>(nb, wa, wb, act, a_stride, nc, out, out_stride, nr);
    }
    tile16<B, C>(nb, wa, wb, act, a_stride, out, out_stride, nr);
}

// Activation rows per 16-row tile, what fits the 32 zmm: Q6_K 12 accumulators + 12 sums (8: ~9% slower);
// Q4_K 8 accumulators + 16 chains + 8 sums.
template <class B>
constexpr int cols16_max() { return std::is_same_v<B, block_q6_Kx8> ? 12 : 8; }

// packed_dot: prompts take pairs of panels through the 16-row tile, decode and a last odd panel the 8-row
// kernels of kquant_packed.h (the same per-row arithmetic, so the results agree bitwise). Decode through
// pairs (two streams; Q6_K with q6_Kx8_sums_all's one chain per group) measured 25-35% slower.
template <class B>
void packed_dot16(size_t n, const void * vw, size_t row0, int nr, const void * va, size_t a_stride, int nc, float * out,
                  size_t out_stride) {
    constexpr int CMAX = cols16_max<B>();
    if (nc == 1 || nr <= KP_ROWS) return packed_dot<B>(n, vw, row0, nr, va, a_stride, nc, out, out_stride);
    const size_t nb = n / QK_K;
    const auto * w = (const B *)vw + row0 / KP_ROWS * nb;
    const auto * a = (const uint8_t *)va;
    int r0 = 0;
    for (; r0 + KP_ROWS < nr; r0 += 2 * KP_ROWS, w += 2 * nb) {
        const int rows = nr - r0 < 2 * KP_ROWS ? nr - r0 : 2 * KP_ROWS;
        for (int c0 = 0; c0 < nc; c0 += CMAX)
            cols16<B, CMAX>(nb, w, w + nb, a + (size_t)c0 * a_stride, a_stride, nc - c0, out + (size_t)c0 * out_stride + r0,
                            out_stride, rows);
    }
    if (r0 < nr) packed_dot<B>(n, vw, row0 + (size_t)r0, nr - r0, va, a_stride, nc, out + r0, out_stride);
}

}  // namespace

void fill_avx512vnni_kquant_packed(kernel_table & t) {
    fill_kquant_packed(t);
    t.repack[type_slot(T_Q4_K)].packed_dot = packed_dot16<block_q4_Kx8>;
    t.repack[type_slot(T_Q6_K)].packed_dot = packed_dot16<block_q6_Kx8>;
}

}  // namespace ggufpy
