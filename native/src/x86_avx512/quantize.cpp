// AVX-512 quantizers: the activation types Q8_0 and Q8_K, and F16. Bit-identical to generic/quantize.cpp:
// the same float32 products (no FMA), the same roundings emulated lane-wise, maxima taken over non-NaN
// values (exact and order-free: |x| makes every zero +0), and anything the vector path does not model
// (NaN in a Q8_0 block, F16 NaN lanes) handled with the generic rule.
#include <immintrin.h>

#include <cstring>

#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

// roundf (half AWAY from zero) then numpy's cvtt cast, lane-wise: truncate, then step by the exact
// fraction. NaN, +-inf (fraction NaN) and |x| >= 2**31 give INT32_MIN, as generic roundf_cast.
static inline __m512i round_away_epi32(__m512 p) {
    const __m512 t = _mm512_roundscale_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_sub_ps(p, t);
    const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __mmask16 down = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(-0.5f), _CMP_LE_OQ);
    __m512i i = _mm512_cvttps_epi32(t);
    i = _mm512_mask_add_epi32(i, up, i, _mm512_set1_epi32(1));
    return _mm512_mask_sub_epi32(i, down, i, _mm512_set1_epi32(1));
}

// Q8_0: d = amax / 127, q = roundf(x * id). A block holding a NaN goes to the generic kernel (numpy's
// max propagates the NaN into d).
void quantize_row_q8_0_avx512(const float * x, void * vy, size_t n) {
    auto * y = (block_q8_0 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1);
        if (_mm512_cmp_ps_mask(a0, a1, _CMP_UNORD_Q)) {
            quantize_row_q8_0_generic(x, &y[i], 32);
            continue;
        }
        const float d = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1)) / 127.0f;
        const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        y[i].d = fp32_to_fp16_numpy(d);
        _mm_storeu_si128((__m128i *)y[i].qs, _mm512_cvtepi32_epi8(round_away_epi32(_mm512_mul_ps(v0, id))));
        _mm_storeu_si128((__m128i *)(y[i].qs + 16), _mm512_cvtepi32_epi8(round_away_epi32(_mm512_mul_ps(v1, id))));
    }
}

// Q8_K: max = the first element of largest |x| (NaN never wins: vmaxps returns its second operand, the
// accumulator, when a lane is NaN), qs = MIN(127, nearest_int(iscale * x)) with ggml's magic-number
// bit hack done on the vector bits, stored to int8 by truncation (vpmovdb), bsums from the stored bytes.
void quantize_row_q8_K_avx512(const float * x, void * vy, size_t n) {
    auto * y = (block_q8_K *)vy;
    const __m512 magic = _mm512_set1_ps(12582912.f);
    const __m512i low23 = _mm512_set1_epi32(0x007fffff), bias = _mm512_set1_epi32(0x00400000);
    const __m512i q127 = _mm512_set1_epi32(127);
    for (size_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        __m512 acc = _mm512_setzero_ps();
        for (int j = 0; j < QK_K; j += 16) acc = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + j)), acc);
        const float amax = _mm512_reduce_max_ps(acc);
        if (!amax) {
            std::memset(&y[i], 0, sizeof(block_q8_K));
            continue;
        }
        float max = 0;
        for (int j = 0; j < QK_K; j += 16) {
            const __mmask16 m = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (m) {
                max = x[j + __builtin_ctz(m)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int j = 0; j < QK_K; j += 16) {
            const __m512 val = _mm512_add_ps(_mm512_mul_ps(vs, _mm512_loadu_ps(x + j)), magic);
            const __m512i q = _mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(val), low23), bias);
            const __m128i b = _mm512_cvtepi32_epi8(_mm512_min_epi32(q, q127));
            _mm_storeu_si128((__m128i *)(y[i].qs + j), b);
            y[i].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(b));
        }
        y[i].d = 1 / iscale;
    }
}

// F16: vcvtps2ph rounds to nearest even exactly like numpy for every non-NaN input (float32
// subnormals -> +-0 whether or not DAZ is set); it quiets NaNs, so NaN lanes take numpy's rule
// sign | 0x7c00 + (mantissa >> 13), at least 1.
void quantize_row_f16_avx512(const float * x, void * vy, size_t n) {
    auto * y = (uint16_t *)vy;
    const __m512i sig_mask = _mm512_set1_epi32(0x007fffff), sign_mask = _mm512_set1_epi32((int)0x80000000u);
    const __m512i exp_h = _mm512_set1_epi32(0x7c00), one = _mm512_set1_epi32(1);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        if (nan) {
            const __m512i u = _mm512_castps_si512(v);
            const __m512i sig = _mm512_max_epu32(_mm512_srli_epi32(_mm512_and_si512(u, sig_mask), 13), one);
            const __m512i nh = _mm512_or_si512(_mm512_srli_epi32(_mm512_and_si512(u, sign_mask), 16), _mm512_add_epi32(exp_h, sig));
            h = _mm256_mask_blend_epi16(nan, h, _mm512_cvtepi32_epi16(nh));
        }
        _mm256_storeu_si256((__m256i *)(y + i), h);
    }
    for (; i < n; ++i) y[i] = fp32_to_fp16_numpy(x[i]);
}

}  // namespace ggufpy
