// The prompt flash attention (kernels.h attend_tile) with AVX2 + FMA: x86_avx512/attention.cpp's algorithm
// (read its header for the per-row arithmetic; scratch: attend_tile.h attend_scratch) in four vectors of 8 lanes, the masks
// as blends. Only blocks where some row of the tile has fewer keys than the block holds need them; a block
// every row sees whole runs unmasked (the same floats: a blend that keeps every lane is the identity).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "attend_tile.h"
#include "exp.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

constexpr int kRows = kAttendTileRows;  // 32: four vectors of 8 lanes
constexpr int kNV = kRows / 8;
constexpr int kKeys = kAttendTileKeys;
constexpr int kJ = 2;  // keys per register block of the score product (2 x 4 accumulators)
constexpr int kD = 2;  // head elements per register block of the output product

inline void widen(const uint16_t * src, float * dst, int hd) {
    int d = 0;
    for (; d + 8 <= hd; d += 8) _mm256_storeu_ps(dst + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + d))));
    for (; d < hd; ++d) dst[d] = _cvtsh_ss(src[d]);
}

template <int J>
inline void scores(int hd, const float * QT, const float * Kf, int j0, __m256 scale, float * PT) {
    __m256 acc[J][kNV];
    for (int j = 0; j < J; ++j)
        for (int v = 0; v < kNV; ++v) acc[j][v] = _mm256_setzero_ps();
    const float * kr = Kf + (size_t)j0 * hd;
    for (int d = 0; d < hd; ++d) {
        __m256 q[kNV];
        for (int v = 0; v < kNV; ++v) q[v] = _mm256_loadu_ps(QT + (size_t)d * kRows + 8 * v);
        for (int j = 0; j < J; ++j) {
            const __m256 k = _mm256_broadcast_ss(kr + (size_t)j * hd + d);
            for (int v = 0; v < kNV; ++v) acc[j][v] = _mm256_fmadd_ps(k, q[v], acc[j][v]);
        }
    }
    for (int j = 0; j < J; ++j)
        for (int v = 0; v < kNV; ++v) _mm256_storeu_ps(PT + (size_t)(j0 + j) * kRows + 8 * v, _mm256_mul_ps(acc[j][v], scale));
}

// OT[d][.] for d in [d0, d0 + D): rescaled by e on the lanes of grow, then += p_j Vf[j][d] over the block's
// keys, on the valid lanes only when Masked.
template <int D, bool Masked>
inline void accumulate(int hd, int kb, int d0, const float * PT, const float * Vf, const __m256 (*valid)[kNV],
                       const __m256 * e, const __m256 * grow, float * OT) {
    __m256 acc[D][kNV];
    for (int d = 0; d < D; ++d)
        for (int v = 0; v < kNV; ++v) {
            const __m256 o = _mm256_loadu_ps(OT + (size_t)(d0 + d) * kRows + 8 * v);
            acc[d][v] = _mm256_blendv_ps(o, _mm256_mul_ps(o, e[v]), grow[v]);
        }
    for (int j = 0; j < kb; ++j) {
        const float * vr = Vf + (size_t)j * hd + d0;
        for (int d = 0; d < D; ++d) {
            const __m256 x = _mm256_broadcast_ss(vr + d);
            for (int v = 0; v < kNV; ++v) {
                const __m256 f = _mm256_fmadd_ps(x, _mm256_loadu_ps(PT + (size_t)j * kRows + 8 * v), acc[d][v]);
                acc[d][v] = Masked ? _mm256_blendv_ps(acc[d][v], f, valid[j][v]) : f;
            }
        }
    }
    for (int d = 0; d < D; ++d)
        for (int v = 0; v < kNV; ++v) _mm256_storeu_ps(OT + (size_t)(d0 + d) * kRows + 8 * v, acc[d][v]);
}

template <bool Masked>
inline void accumulate_all(int hd, int kb, const float * PT, const float * Vf, const __m256 (*valid)[kNV], const __m256 * e,
                           const __m256 * grow, float * OT) {
    int d = 0;
    for (; d + kD <= hd; d += kD) accumulate<kD, Masked>(hd, kb, d, PT, Vf, valid, e, grow, OT);
    for (; d < hd; ++d) accumulate<1, Masked>(hd, kb, d, PT, Vf, valid, e, grow, OT);
}

void attend_tile_avx2(int hd, int nq, const float * const * q, const int * n_keys, const uint16_t * K,
                      const uint16_t * V, size_t kv_stride, float scale, float * scratch, float * const * out) {
    const attend_scratch sc(scratch, (size_t)hd);
    float *QT = sc.QT, *OT = sc.OT, *PT = sc.PT, *Kf = sc.Kf, *Vf = sc.Vf;

    alignas(32) int nk[kRows];
    const int kmax = sc.begin(nq, q, n_keys, nk);
    int kmin = kmax;  // the fewest keys a row of the tile sees
    for (int r = 0; r < nq; ++r) kmin = nk[r] < kmin ? nk[r] : kmin;

    __m256i nkv[kNV];
    __m256 M[kNV], S[kNV];
    for (int v = 0; v < kNV; ++v) {
        nkv[v] = _mm256_load_si256((const __m256i *)(nk + 8 * v));
        M[v] = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
        S[v] = _mm256_setzero_ps();
    }
    const __m256 vscale = _mm256_set1_ps(scale);
    __m256 valid[kKeys][kNV];

    for (int j0 = 0; j0 < kmax; j0 += kKeys) {
        const int kb = kmax - j0 < kKeys ? kmax - j0 : kKeys;
        const int kbJ = (kb + kJ - 1) / kJ * kJ;
        const bool masked = j0 + kKeys > kmin;  // some row of the tile lacks a key of this block
        for (int j = 0; j < kb; ++j) {
            widen(K + (size_t)(j0 + j) * kv_stride, Kf + (size_t)j * hd, hd);
            widen(V + (size_t)(j0 + j) * kv_stride, Vf + (size_t)j * hd, hd);
            const __m256i jj = _mm256_set1_epi32(j0 + j);
            for (int v = 0; v < kNV; ++v) valid[j][v] = _mm256_castsi256_ps(_mm256_cmpgt_epi32(nkv[v], jj));
        }
        if (kbJ > kb) std::memset(Kf + (size_t)kb * hd, 0, sizeof(float) * (size_t)(kbJ - kb) * hd);

        for (int j = 0; j < kbJ; j += kJ) scores<kJ>(hd, QT, Kf, j, vscale, PT);

        __m256 e[kNV], grow[kNV];
        for (int v = 0; v < kNV; ++v) {
            __m256 bm = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
            for (int j = 0; j < kb; ++j) {
                const __m256 s = _mm256_loadu_ps(PT + (size_t)j * kRows + 8 * v);
                bm = _mm256_blendv_ps(bm, _mm256_max_ps(bm, s), valid[j][v]);
            }
            const __m256 m_new = _mm256_max_ps(M[v], bm);
            grow[v] = _mm256_cmp_ps(m_new, M[v], _CMP_GT_OQ);
            e[v] = exp_ps(_mm256_sub_ps(M[v], m_new));  // M = -inf (first keys): exp_ps clamps, S and O are 0
            S[v] = _mm256_blendv_ps(S[v], _mm256_mul_ps(S[v], e[v]), grow[v]);
            M[v] = m_new;
            for (int j = 0; j < kb; ++j) {
                float * pj = PT + (size_t)j * kRows + 8 * v;
                const __m256 p = _mm256_and_ps(valid[j][v], exp_ps(_mm256_sub_ps(_mm256_loadu_ps(pj), m_new)));
                _mm256_storeu_ps(pj, p);
                S[v] = _mm256_blendv_ps(S[v], _mm256_add_ps(S[v], p), valid[j][v]);
            }
        }

        if (masked)
            accumulate_all<true>(hd, kb, PT, Vf, valid, e, grow, OT);
        else
            accumulate_all<false>(hd, kb, PT, Vf, valid, e, grow, OT);
    }

    alignas(32) float inv[kRows];
    for (int v = 0; v < kNV; ++v) _mm256_store_ps(inv + 8 * v, _mm256_div_ps(_mm256_set1_ps(1.0f), S[v]));
    sc.finish(nq, inv, out);
}

}  // namespace

void fill_avx2_attention(kernel_table & t) { t.attend_tile = attend_tile_avx2; }

}  // namespace ggufpy
