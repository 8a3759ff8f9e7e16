// The prompt flash attention (kernels.h attend_tile) with AVX-512F: up to 32 query rows that share one KV
// head, with the rows in the vector lanes, so every step is vertical (no horizontal sums, no per-row scalar
// softmax) and each K/V block is converted from F16 once for all 32 rows.
//
// Scratch: attend_tile.h attend_scratch (row r of the tile is lane r % 16 of vector r / 16; padding lanes of QT
// zero; Kf and Vf are read one element at a time, broadcast).
// Per row, over blocks of kKeys keys (key j of a block valid for lane r when j < n_keys[r]):
//   s_j = (sum_d k_jd q_d, a single fma chain in d order) * scale
//   M' = max(M, max_valid s_j); on lanes where M' > M: S *= e, O *= e with e = exp(M - M')
//   p_j = exp(s_j - M'); S += p_j and O += p_j v_j, valid keys in order
//   out = O * (1 / S)
// Invalid keys leave a lane's state untouched (masked operations, not "+ 0", which could flip a -0), so a
// row's result does not depend on the other rows of its tile, on how many blocks the tile visits, or on
// threads. exp is exp16 below (the AVX2 silu's polynomial, ~1 ulp; ggml's softmax also uses a vector expf).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "attend_tile.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

constexpr int kRows = kAttendTileRows;  // 32: two vectors of 16 lanes
constexpr int kKeys = kAttendTileKeys;  // keys per block
constexpr int kJ = 8;                   // keys per register block of the score product (8 x 2 accumulators)
constexpr int kD = 8;                   // head elements per register block of the output product

// expf for 16 lanes: Cody-Waite reduction and a degree-5 polynomial (~1 ulp), inputs clamped to [-87, 88].
inline __m512 exp16(__m512 x) {
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, ln2_hi, x);
    r = _mm512_fnmadd_ps(k, ln2_lo, r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

inline __mmask16 tail_mask(int k) { return (__mmask16)((1u << k) - 1); }  // k in 1..15

// hd halves -> hd floats (exact).
inline void widen(const uint16_t * src, float * dst, int hd) {
    int d = 0;
    for (; d + 16 <= hd; d += 16) _mm512_storeu_ps(dst + d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + d))));
    if (d < hd) {
        const __mmask16 m = tail_mask(hd - d);
        _mm512_mask_storeu_ps(dst + d, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + d)));
    }
}

// PT[j][.] = scale * (Kf[j] . QT) for keys [j0, j0 + J) of the block.
template <int J>
inline void scores(int hd, const float * QT, const float * Kf, int j0, __m512 scale, float * PT) {
    __m512 acc[J][2];
    for (int j = 0; j < J; ++j) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    const float * kr = Kf + (size_t)j0 * hd;
    for (int d = 0; d < hd; ++d) {
        const __m512 q0 = _mm512_loadu_ps(QT + (size_t)d * kRows), q1 = _mm512_loadu_ps(QT + (size_t)d * kRows + 16);
        for (int j = 0; j < J; ++j) {
            const __m512 k = _mm512_set1_ps(kr[(size_t)j * hd + d]);
            acc[j][0] = _mm512_fmadd_ps(k, q0, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(k, q1, acc[j][1]);
        }
    }
    for (int j = 0; j < J; ++j) {
        _mm512_storeu_ps(PT + (size_t)(j0 + j) * kRows, _mm512_mul_ps(acc[j][0], scale));
        _mm512_storeu_ps(PT + (size_t)(j0 + j) * kRows + 16, _mm512_mul_ps(acc[j][1], scale));
    }
}

// OT[d][.] (d in [d0, d0 + D)) = OT * e on the lanes in grow, then += p_j * Vf[j][d] for the block's keys
// in order, each on its valid lanes only.
template <int D>
inline void accumulate(int hd, int kb, int d0, const float * PT, const float * Vf, const __mmask16 (*valid)[2],
                       const __m512 e[2], const __mmask16 grow[2], float * OT) {
    __m512 acc[D][2];
    for (int d = 0; d < D; ++d)
        for (int v = 0; v < 2; ++v) {
            const __m512 o = _mm512_loadu_ps(OT + (size_t)(d0 + d) * kRows + 16 * v);
            acc[d][v] = _mm512_mask_mul_ps(o, grow[v], o, e[v]);
        }
    for (int j = 0; j < kb; ++j) {
        const __m512 p0 = _mm512_loadu_ps(PT + (size_t)j * kRows), p1 = _mm512_loadu_ps(PT + (size_t)j * kRows + 16);
        const float * vr = Vf + (size_t)j * hd + d0;
        for (int d = 0; d < D; ++d) {
            const __m512 x = _mm512_set1_ps(vr[d]);
            acc[d][0] = _mm512_mask3_fmadd_ps(x, p0, acc[d][0], valid[j][0]);
            acc[d][1] = _mm512_mask3_fmadd_ps(x, p1, acc[d][1], valid[j][1]);
        }
    }
    for (int d = 0; d < D; ++d)
        for (int v = 0; v < 2; ++v) _mm512_storeu_ps(OT + (size_t)(d0 + d) * kRows + 16 * v, acc[d][v]);
}

void attend_tile_avx512(int hd, int nq, const float * const * q, const int * n_keys, const uint16_t * K,
                        const uint16_t * V, size_t kv_stride, float scale, float * scratch, float * const * out) {
    const attend_scratch sc(scratch, (size_t)hd);
    float *QT = sc.QT, *OT = sc.OT, *PT = sc.PT, *Kf = sc.Kf, *Vf = sc.Vf;

    int nk[kRows];
    const int kmax = sc.begin(nq, q, n_keys, nk);

    const __m512i nkv[2] = {_mm512_loadu_si512(nk), _mm512_loadu_si512(nk + 16)};
    const __m512 vscale = _mm512_set1_ps(scale);
    __m512 M[2], S[2];
    for (int v = 0; v < 2; ++v) {
        M[v] = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
        S[v] = _mm512_setzero_ps();
    }
    __mmask16 valid[kKeys][2];

    for (int j0 = 0; j0 < kmax; j0 += kKeys) {
        const int kb = kmax - j0 < kKeys ? kmax - j0 : kKeys;
        const int kb8 = (kb + kJ - 1) / kJ * kJ;
        for (int j = 0; j < kb; ++j) {
            widen(K + (size_t)(j0 + j) * kv_stride, Kf + (size_t)j * hd, hd);
            widen(V + (size_t)(j0 + j) * kv_stride, Vf + (size_t)j * hd, hd);
            const __m512i jj = _mm512_set1_epi32(j0 + j);
            valid[j][0] = _mm512_cmpgt_epi32_mask(nkv[0], jj);
            valid[j][1] = _mm512_cmpgt_epi32_mask(nkv[1], jj);
        }
        if (kb8 > kb) std::memset(Kf + (size_t)kb * hd, 0, sizeof(float) * (size_t)(kb8 - kb) * hd);

        for (int j = 0; j < kb8; j += kJ) scores<kJ>(hd, QT, Kf, j, vscale, PT);

        __m512 e[2];
        __mmask16 grow[2];
        for (int v = 0; v < 2; ++v) {
            __m512 bm = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
            for (int j = 0; j < kb; ++j) {
                const __m512 s = _mm512_loadu_ps(PT + (size_t)j * kRows + 16 * v);
                bm = _mm512_mask_max_ps(bm, valid[j][v], bm, s);
            }
            const __m512 m_new = _mm512_max_ps(M[v], bm);
            grow[v] = _mm512_cmp_ps_mask(m_new, M[v], _CMP_GT_OQ);
            e[v] = exp16(_mm512_sub_ps(M[v], m_new));  // M = -inf (first keys): exp16 clamps, S and O are 0
            S[v] = _mm512_mask_mul_ps(S[v], grow[v], S[v], e[v]);
            M[v] = m_new;
            for (int j = 0; j < kb; ++j) {
                float * pj = PT + (size_t)j * kRows + 16 * v;
                const __m512 p = _mm512_maskz_mov_ps(valid[j][v], exp16(_mm512_sub_ps(_mm512_loadu_ps(pj), m_new)));
                _mm512_storeu_ps(pj, p);
                S[v] = _mm512_mask_add_ps(S[v], valid[j][v], S[v], p);
            }
        }

        int d = 0;
        for (; d + kD <= hd; d += kD) accumulate<kD>(hd, kb, d, PT, Vf, valid, e, grow, OT);
        for (; d < hd; ++d) accumulate<1>(hd, kb, d, PT, Vf, valid, e, grow, OT);
    }

    alignas(64) float inv[kRows];
    for (int v = 0; v < 2; ++v) _mm512_storeu_ps(inv + 16 * v, _mm512_div_ps(_mm512_set1_ps(1.0f), S[v]));
    sc.finish(nq, inv, out);
}

}  // namespace

void fill_avx512_attention(kernel_table & t) { t.attend_tile = attend_tile_avx512; }

}  // namespace ggufpy
