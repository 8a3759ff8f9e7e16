// Q4_K, Q6_K and TQ2_0 packed at load (kernels.h repack_kernels), shared by the avx2 and avx512vnni tables:
// 8 rows interleaved so that one ymm holds 4 consecutive weights of each of 8 rows, and a vpdpbusd step
// (kp_dpbusd) against 4 broadcast activation bytes gives each row's partial sum in its own int32 lane, and
// the sub-block scales and mins arrive pre-unpacked, one byte per row, so the per-super-block work that
// bounds the one-row vec_dot (the 6-bit scale unpack) is gone; decode and prompt both use it.
//
// Arithmetic (kquant_tile.h's contract, one row per lane): per super-block the exact int32 S (Q4_K:
// Σ_g sc_g Σ_{e in g} q_e a_e; Q6_K: Σ_j sc_j Σ_{e in j} (q_e - 32) a_e) and, for Q4_K, M = Σ_j m_j (bsum_2j +
// bsum_2j+1); acc = fma(d_w d_a, float(S), acc), then (Q4_K) acc = fma(-dmin_w d_a, float(M), acc). vec_dot on
// the original row evaluates the same float operations, so packed_dot == vec_dot bit for bit (the tests
// assert it). Magnitudes: Q4_K's group sums |Σ q a| <= 15 * 128 * 32 < 2**16, times sc <= 63, 8 groups
// < 2**25; Q6_K's sub-block sums <= 63 * 128 * 16 + 32 * 16 * 128 < 2**18, times |sc| <= 128, 16 sub-blocks
// < 2**29: int32 (vpdpbusd does not saturate; nor does avx2's vpmaddubsw, see its kquant_packed.cpp).
//
// Memory: 1184 bytes per 8 rows and super-block for Q4_K (block_q4_K x 8 = 1152: the scales and mins one byte
// each), 1680 for Q6_K and 528 for TQ2_0 (as the file). The decode kernel reads them as a stream, as vec_dot
// reads the rows.
//
// Included by one kernel file per ISA (x86_avx2/kquant_packed.cpp, x86_avx512vnni/kquant_packed.cpp) after it
// defines, in namespace ggufpy::{anonymous}, the two integer steps everything here is written with:
//   __m256i kp_dpbusd(acc, u, s): acc + per int32 lane the sum of 4 products u8 x s8 (vpdpbusd)
//   __m256i kp_dpwssd(acc, x, y): acc + per int32 lane the sum of 2 products s16 x s16 (vpdpwssd)
// then calls fill_kquant_packed(table). Both must be exact for the operands used here: u <= 63 (Q6_K codes),
// |s| <= 127 (Q8_K), |x|, |y| < 2**13 (mins, block-pair sums).
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <type_traits>

#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

constexpr int KP_ROWS = 8;

// One super-block (256 weights) of 8 rows. Row r's block_q4_K maps to:
//   d[r], dmin[r]          f16, as in the block
//   sc[g][r]               6-bit scale of sub-block (group) g = 0..7 (blocks.h get_scale_min_k4)
//   m[i][r][0..2)          6-bit mins of sub-blocks 2i, 2i + 1 (int16 pairs after vpmovzxbw, for vpdpwssd)
//   qs[k][c][r][b]         byte qs[32k + 4c + b] of the row: low nibble = element 64k + 4c + b (group 2k),
//                          high nibble = element 64k + 32 + 4c + b (group 2k + 1); c = 0..7 chunks of 4
struct block_q4_Kx8 {
    uint16_t d[KP_ROWS];
    uint16_t dmin[KP_ROWS];
    uint8_t sc[8][KP_ROWS];
    uint8_t m[4][KP_ROWS][2];
    uint8_t qs[4][8][KP_ROWS][4];
};
static_assert(sizeof(block_q4_Kx8) == 1184, "q4_Kx8");

// A Q8_K activation block as the packed kernels read it, with its block sums precomputed in their forms.
struct block_q8_K_prep {
    float d;
    int16_t bpair[8];   // bsums[2j] + bsums[2j + 1] (Q4_K's mins; |.| <= 32 * 128 fits int16)
    int32_t bneg32[16];  // -32 * bsums[j] (Q6_K's offset: the start of sub-block j's integer sum)
    int8_t qs[QK_K];
};
static_assert(sizeof(block_q8_K_prep) == 340, "q8_K_prep");

// Row r of a packed group from one of its super-blocks (the layouts above; padding rows stay zero: d = 0).
void pack_block(const block_q4_K & b, int r, block_q4_Kx8 & o) {
    o.d[r] = b.d;
    o.dmin[r] = b.dmin;
    for (int j = 0; j < 8; ++j) get_scale_min_k4(j, b.scales, &o.sc[j][r], &o.m[j / 2][r][j % 2]);
    for (int k = 0; k < 4; ++k)
        for (int c = 0; c < 8; ++c) std::memcpy(o.qs[k][c][r], b.qs + 32 * k + 4 * c, 4);
}

size_t act_prep_bytes_q8_K(size_t n) { return n / QK_K * sizeof(block_q8_K_prep); }

void act_prep_q8_K(const void * src, void * dst, size_t n) {
    const auto * x = (const block_q8_K *)src;
    auto * y = (block_q8_K_prep *)dst;
    for (size_t i = 0; i < n / QK_K; ++i) {
        y[i].d = x[i].d;
        for (int j = 0; j < 8; ++j) y[i].bpair[j] = (int16_t)(x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
        for (int j = 0; j < 16; ++j) y[i].bneg32[j] = -32 * x[i].bsums[j];
        std::memcpy(y[i].qs, x[i].qs, QK_K);
    }
}

inline __m256i bcast4(const void * p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// S (8 rows, int32) of one super-block for C activation rows; two chains per group half (chunk parity).
template <int C>
[[gnu::always_inline]] inline void q4_Kx8_sums(const block_q4_Kx8 & b, const block_q8_K_prep * const * y, __m256i * S) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int c = 0; c < C; ++c) S[c] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
        __m256i lo[C][2], hi[C][2];
        for (int c = 0; c < C; ++c) lo[c][0] = lo[c][1] = hi[c][0] = hi[c][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int ch = 0; ch < 8; ++ch) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)b.qs[k][ch]);
            const __m256i wl = _mm256_and_si256(w, m4), wh = _mm256_and_si256(_mm256_srli_epi16(w, 4), m4);
            for (int c = 0; c < C; ++c) {
                const int8_t * q = y[c]->qs + 64 * k + 4 * ch;
                lo[c][ch & 1] = kp_dpbusd(lo[c][ch & 1], wl, bcast4(q));
                hi[c][ch & 1] = kp_dpbusd(hi[c][ch & 1], wh, bcast4(q + 32));
            }
        }
        const __m256i sl = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)b.sc[2 * k]));
        const __m256i sh = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)b.sc[2 * k + 1]));
        for (int c = 0; c < C; ++c) {
            const __m256i tl = _mm256_mullo_epi32(_mm256_add_epi32(lo[c][0], lo[c][1]), sl);
            const __m256i th = _mm256_mullo_epi32(_mm256_add_epi32(hi[c][0], hi[c][1]), sh);
            S[c] = _mm256_add_epi32(S[c], _mm256_add_epi32(tl, th));
        }
    }
}

// out[c * out_stride + r] = lane r of acc[c], r < nr.
template <int C>
inline void store_rows(const __m256 * acc, float * out, size_t out_stride, int nr) {
    for (int c = 0; c < C; ++c) {
        alignas(32) float t[KP_ROWS];
        _mm256_store_ps(t, acc[c]);
        for (int r = 0; r < nr; ++r) out[(size_t)c * out_stride + r] = t[r];
    }
}

// acc[c] += super-block b (8 rows) . prepared activation block y[c], for C activation rows.
template <int C>
[[gnu::always_inline]] inline void step(const block_q4_Kx8 & b, const block_q8_K_prep * const * y, __m256 * acc) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256i S[C];
    q4_Kx8_sums<C>(b, y, S);
    __m256i M[C];
    for (int c = 0; c < C; ++c) M[c] = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
        const __m256i mm = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)b.m[p]));  // row r: m_2p, m_2p+1
        for (int c = 0; c < C; ++c) M[c] = kp_dpwssd(M[c], mm, bcast4(&y[c]->bpair[2 * p]));
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b.d));
    const __m256 ndmin = _mm256_xor_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b.dmin)), sign);
    for (int c = 0; c < C; ++c) {
        const __m256 da = _mm256_set1_ps(y[c]->d);
        acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(S[c]), acc[c]);
        acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(ndmin, da), _mm256_cvtepi32_ps(M[c]), acc[c]);
    }
}

// ---- Q6_K ----------------------------------------------------------------------------------------------
// One super-block of 8 rows (1680 bytes, as 8 block_q6_K), in the order the kernel reads it (a sequential
// stream: a layout with ql and qh in separate regions measured 3x slower decode, the prefetchers losing
// the interleaved streams). Row r's block maps to:
//   d[r]                   f16
//   sc[j][r]               int8 scale of sub-block j = 0..15 (16 elements each)
//   q[h][c].l[p][r][b]     byte ql[64h + 32p + 4c + b]: low nibble = element 128h + 32p + 4c + b (group 4h + p),
//                          high nibble = element 128h + 64 + 32p + 4c + b (group 4h + 2 + p)
//   q[h][c].h[r][b]        byte qh[32h + 4c + b]: bits 2k, 2k + 1 = bits 4, 5 of group 4h + k's element 4c + b
// (h: half of 128, p: 0/1, c: chunk of 4 of the group's 32, b: byte). Group g = 4h + k holds sub-blocks 2g
// (chunks 0-3) and 2g + 1 (chunks 4-7).
struct q6_Kx8_chunk {
    uint8_t l[2][KP_ROWS][4];
    uint8_t h[KP_ROWS][4];
};
struct block_q6_Kx8 {
    uint16_t d[KP_ROWS];
    int8_t sc[16][KP_ROWS];
    q6_Kx8_chunk q[2][8];
};
static_assert(sizeof(block_q6_Kx8) == 8 * sizeof(block_q6_K), "q6_Kx8");

void pack_block(const block_q6_K & b, int r, block_q6_Kx8 & o) {
    o.d[r] = b.d;
    for (int j = 0; j < 16; ++j) o.sc[j][r] = b.scales[j];
    for (int h = 0; h < 2; ++h)
        for (int c = 0; c < 8; ++c) {
            for (int p = 0; p < 2; ++p) std::memcpy(o.q[h][c].l[p][r], b.ql + 64 * h + 32 * p + 4 * c, 4);
            std::memcpy(o.q[h][c].h[r], b.qh + 32 * h + 4 * c, 4);
        }
}

// S (8 rows, int32) of one super-block for C activation rows: sub-block j's sum starts at -32 bsum_j (the
// codes' offset), takes Σ q a (q = 0..63 unsigned for vpdpbusd), and is scaled by sc_j (vpmulld). Each chunk
// unpacked once into all four of its groups: 4 int32 chains per activation row (decode, small tiles).
template <int C>
[[gnu::always_inline]] inline void q6_Kx8_sums_all(const block_q6_Kx8 & b, const block_q8_K_prep * const * y, __m256i * S) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    for (int c = 0; c < C; ++c) S[c] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int hs = 0; hs < 4; ++hs) {  // half h = hs / 2 of 128 elements; chunks 4 (hs % 2) .. +4: sub-blocks 8h + 2k + hs % 2
        const int h = hs / 2, half = hs % 2;
        __m256i acc[C][4];  // [group k of this half]
        for (int c = 0; c < C; ++c)
            for (int k = 0; k < 4; ++k) acc[c][k] = _mm256_set1_epi32(y[c]->bneg32[8 * h + 2 * k + half]);
#pragma GCC unroll 4
        for (int ch = 4 * half; ch < 4 * half + 4; ++ch) {
            const q6_Kx8_chunk & q = b.q[h][ch];
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)q.l[0]);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)q.l[1]);
            const __m256i hb = _mm256_loadu_si256((const __m256i *)q.h);
            __m256i w[4];
            w[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
            w[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
            w[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, m30));
            w[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
            for (int c = 0; c < C; ++c)
                for (int k = 0; k < 4; ++k)
                    acc[c][k] = kp_dpbusd(acc[c][k], w[k], bcast4(y[c]->qs + 128 * h + 32 * k + 4 * ch));
        }
        for (int k = 0; k < 4; ++k) {
            const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)b.sc[8 * h + 2 * k + half]));
            for (int c = 0; c < C; ++c) S[c] = _mm256_add_epi32(S[c], _mm256_mullo_epi32(acc[c][k], sc));
        }
    }
}

// The same S one group (k) at a time: each chunk is unpacked once per group, so only one int32 chain per
// activation row is live and a tile takes 8 activation rows, which amortises the 6-bit unpack (it, not
// vpdpbusd, bounds the 4-row tile: prompt 82 -> 90 t/s on the 1.1B-shaped model) but costs decode a third.
template <int C>
[[gnu::always_inline]] inline void q6_Kx8_sums_by_group(const block_q6_Kx8 & b, const block_q8_K_prep * const * y, __m256i * S) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    for (int c = 0; c < C; ++c) S[c] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h)
#pragma GCC unroll 1  // unrolled 4x the 8-row tile's body (~8 KB) spilled and ran ~10% slower (1.1B pp256 ~85 -> ~94 t/s)
        for (int k = 0; k < 4; ++k)  // group 4h + k: chunks 0-3 are sub-block 8h + 2k, chunks 4-7 sub-block 8h + 2k + 1
#pragma GCC unroll 2
            for (int half = 0; half < 2; ++half) {
                const int j = 8 * h + 2 * k + half;
                __m256i acc[C];
                for (int c = 0; c < C; ++c) acc[c] = _mm256_set1_epi32(y[c]->bneg32[j]);
#pragma GCC unroll 4
                for (int ch = 4 * half; ch < 4 * half + 4; ++ch) {
                    const q6_Kx8_chunk & q = b.q[h][ch];
                    const __m256i l = _mm256_loadu_si256((const __m256i *)q.l[k & 1]);
                    const __m256i hb = _mm256_loadu_si256((const __m256i *)q.h);
                    const __m256i lo = _mm256_and_si256(k < 2 ? l : _mm256_srli_epi16(l, 4), m4);
                    const __m256i hi = k == 0 ? _mm256_slli_epi16(hb, 4) : k == 1 ? _mm256_slli_epi16(hb, 2)
                                     : k == 2 ? hb : _mm256_srli_epi16(hb, 2);
                    const __m256i w = _mm256_or_si256(lo, _mm256_and_si256(hi, m30));
                    for (int c = 0; c < C; ++c)
                        acc[c] = kp_dpbusd(acc[c], w, bcast4(y[c]->qs + 128 * h + 32 * k + 4 * ch));
                }
                const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)b.sc[j]));
                for (int c = 0; c < C; ++c) S[c] = _mm256_add_epi32(S[c], _mm256_mullo_epi32(acc[c], sc));
            }
}

template <int C>
[[gnu::always_inline]] inline void step(const block_q6_Kx8 & b, const block_q8_K_prep * const * y, __m256 * acc) {
    __m256i S[C];
    if constexpr (C <= 4)
        q6_Kx8_sums_all<C>(b, y, S);
    else
        q6_Kx8_sums_by_group<C>(b, y, S);
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b.d));
    for (int c = 0; c < C; ++c)
        acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y[c]->d)), _mm256_cvtepi32_ps(S[c]), acc[c]);
}

// ---- TQ2_0 ---------------------------------------------------------------------------------------------
// One block (256 ternary weights) of 8 rows (528 bytes, as 8 block_tq2_0). Row r's block maps to:
//   d[r]                   f16
//   qs[c][r][b]            byte qs[4c + b] of the row (c = 0..15); its bits 2l..2l+1 hold t of element
//                          128 (c / 8) + 32 l + 4 (c % 8) + b, w = t - 1 (ggml's order, blocks.h)
// S = Σ t a - Σ a, exact in int32 (|S| <= 2 * 127 * 256); acc = fma(d_w d_a, float(S), acc), as vec_dot_tq2_0
// below evaluates it on the file's row.
struct block_tq2_0x8 {
    uint16_t d[KP_ROWS];
    uint8_t qs[16][KP_ROWS][4];
};
static_assert(sizeof(block_tq2_0x8) == 8 * sizeof(block_tq2_0), "tq2_0x8");

void pack_block(const block_tq2_0 & b, int r, block_tq2_0x8 & o) {
    o.d[r] = b.d;
    for (int c = 0; c < 16; ++c) std::memcpy(o.qs[c][r], b.qs + 4 * c, 4);
}

// Σ a over a prepared block: bneg32[j] = -32 bsums[j] (exact).
inline int32_t q8_K_prep_sum(const block_q8_K_prep & y) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) s += y.bneg32[j];
    return -s / 32;
}

// Four chains per activation row, one per bit plane l.
template <int C>
[[gnu::always_inline]] inline void step(const block_tq2_0x8 & b, const block_q8_K_prep * const * y, __m256 * acc) {
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256i s[C][4];
    for (int c = 0; c < C; ++c) {
        s[c][0] = _mm256_set1_epi32(-q8_K_prep_sum(*y[c]));
        s[c][1] = s[c][2] = s[c][3] = _mm256_setzero_si256();
    }
#pragma GCC unroll 16
    for (int ch = 0; ch < 16; ++ch) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)b.qs[ch]);
        const __m256i w[4] = {_mm256_and_si256(q, m3), _mm256_and_si256(_mm256_srli_epi16(q, 2), m3),
                              _mm256_and_si256(_mm256_srli_epi16(q, 4), m3), _mm256_and_si256(_mm256_srli_epi16(q, 6), m3)};
        const int e0 = 128 * (ch / 8) + 4 * (ch % 8);
        for (int c = 0; c < C; ++c)
            for (int l = 0; l < 4; ++l) s[c][l] = kp_dpbusd(s[c][l], w[l], bcast4(y[c]->qs + e0 + 32 * l));
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b.d));
    for (int c = 0; c < C; ++c) {
        const __m256i S = _mm256_add_epi32(_mm256_add_epi32(s[c][0], s[c][1]), _mm256_add_epi32(s[c][2], s[c][3]));
        acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y[c]->d)), _mm256_cvtepi32_ps(S), acc[c]);
    }
}

// vec_dot on the file's row and a Q8_K row: the packed kernel's per-pair arithmetic (one fma per block).
float vec_dot_tq2_0(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_tq2_0 *)vw;
    const auto * y = (const block_q8_K *)va;
    const __m256i m3 = _mm256_set1_epi8(3);
    float acc = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        __m256i s = _mm256_setzero_si256();
        for (int j = 0; j < 2; ++j) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            for (int l = 0; l < 4; ++l) {
                const __m256i t = _mm256_and_si256(_mm256_srli_epi16(q, 2 * l), m3);
                s = kp_dpbusd(s, t, _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * j + 32 * l)));
            }
        }
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_unpackhi_epi64(h, h));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 1));
        int32_t sa = 0;
        for (int j = 0; j < 16; ++j) sa += y[i].bsums[j];
        const int32_t S = _mm_cvtsi128_si32(h) - sa;
        acc = std::fma(_cvtsh_ss(x[i].d) * y[i].d, (float)S, acc);
    }
    return acc;
}

// 8 packed rows x C prepared activation rows, all super-blocks; out[c * out_stride + r] for r < nr. (Decode
// reads one row group at a time: two groups side by side, as the legacy panels do, measured 1.8x slower here.)
template <class B, int C>
void tile(size_t nb, const B * w, const uint8_t * a, size_t a_stride, float * out, size_t out_stride, int nr) {
    __m256 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; ++i) {
        const block_q8_K_prep * y[C];
        for (int c = 0; c < C; ++c) y[c] = (const block_q8_K_prep *)(a + (size_t)c * a_stride) + i;
        step<C>(w[i], y, acc);  // the type's overload
    }
    store_rows<C>(acc, out, out_stride, nr);
}

// Activation rows per tile: what fits 32 ymm with the type's int chains, S and the unpacked weights (Q4_K: 4
// chains per row; TQ2_0: 4; Q6_K: 1 past 4 rows, see q6_Kx8_sums_by_group).
template <class B>
constexpr int kp_cols() { return std::is_same_v<B, block_q6_Kx8> ? 8 : 4; }

// 8 rows x nc activation rows with tiles of C = min(nc, CMAX) .. 1 columns.
template <class B, int C>
void run_cols(size_t nb, const B * w, const uint8_t * a, size_t a_stride, int nc, float * out, size_t out_stride, int rows) {
    if constexpr (C > 1) {
        if (nc < C) return run_cols<B, C - 1>(nb, w, a, a_stride, nc, out, out_stride, rows);
    }
    tile<B, C>(nb, w, a, a_stride, out, out_stride, rows);
}

// packed_dot over row groups of 8 and column tiles of up to kp_cols<B>().
template <class B>
void packed_dot(size_t n, const void * vw, size_t row0, int nr, const void * va, size_t a_stride, int nc, float * out,
                size_t out_stride) {
    constexpr int CMAX = kp_cols<B>();
    const size_t nb = n / QK_K;
    const auto * w = (const B *)vw + row0 / KP_ROWS * nb;
    const auto * a = (const uint8_t *)va;
    for (int r0 = 0; r0 < nr; r0 += KP_ROWS, w += nb) {
        const int rows = nr - r0 < KP_ROWS ? nr - r0 : KP_ROWS;
        for (int c0 = 0; c0 < nc; c0 += CMAX)
            run_cols<B, CMAX>(nb, w, a + (size_t)c0 * a_stride, a_stride, nc - c0, out + (size_t)c0 * out_stride + r0, out_stride,
                              rows);
    }
}

template <class B>
size_t packed_bytes(size_t n_rows, size_t n) {
    const size_t groups = (n_rows + KP_ROWS - 1) / KP_ROWS;
    return (groups * (n / QK_K) * sizeof(B) + 63) / 64 * 64;
}

// Rows of file blocks W -> groups of 8 rows, super-block by super-block (pack_block per row).
template <class W, class B>
void repack(const void * src, size_t n_rows, size_t n, void * dst) {
    const size_t nb = n / QK_K;
    const auto * x = (const W *)src;
    auto * y = (B *)dst;
    std::memset(dst, 0, packed_bytes<B>(n_rows, n));  // padding rows: all zero
    for (size_t row = 0; row < n_rows; ++row)
        for (size_t i = 0; i < nb; ++i) pack_block(x[row * nb + i], (int)(row % KP_ROWS), y[row / KP_ROWS * nb + i]);
}

template <class W, class B>
repack_kernels kernels_of() {
    repack_kernels k;
    k.row_group = KP_ROWS;
    k.packed_bytes = packed_bytes<B>;
    k.repack = repack<W, B>;
    k.packed_dot = packed_dot<B>;
    return k;
}

void fill_kquant_packed(kernel_table & t) {
    t.repack[type_slot(T_Q4_K)] = kernels_of<block_q4_K, block_q4_Kx8>();
    t.repack[type_slot(T_Q6_K)] = kernels_of<block_q6_K, block_q6_Kx8>();
    t.repack[type_slot(T_TQ2_0)] = kernels_of<block_tq2_0, block_tq2_0x8>();
    t.vec_dot[type_slot(T_TQ2_0)] = vec_dot_tq2_0;  // the packed kernel's arithmetic (bitwise equal)
    t.act_prep[type_slot(T_Q8_K)] = act_prep_q8_K;
    t.act_prep_bytes[type_slot(T_Q8_K)] = act_prep_bytes_q8_K;
}

}  // namespace
}  // namespace ggufpy
