// AVX-512 (F/BW/VL/DQ) float converters (compiled with the AVX-512 flags only).
#include <immintrin.h>

#include "ggufpy/float_bits.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

// NaN lanes get numpy's rule (payload << 13, no quieting); vcvtph2ps would set the quiet bit.
static inline __m512 fix_nan_lanes(__m512 f, __m256i h16) {
    const __m512i h = _mm512_cvtepu16_epi32(h16);
    const __m512i man = _mm512_and_si512(h, _mm512_set1_epi32(0x03ff));
    const __mmask16 exp_all = _mm512_cmpeq_epi32_mask(_mm512_and_si512(h, _mm512_set1_epi32(0x7c00)),
                                                      _mm512_set1_epi32(0x7c00));
    const __mmask16 is_nan = _mm512_mask_cmpneq_epi32_mask(exp_all, man, _mm512_setzero_si512());
    const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(h, _mm512_set1_epi32(0x8000)), 16);
    const __m512i nan = _mm512_or_si512(_mm512_or_si512(sign, _mm512_set1_epi32(0x7f800000)),
                                        _mm512_slli_epi32(man, 13));
    return _mm512_castsi512_ps(_mm512_mask_mov_epi32(_mm512_castps_si512(f), is_nan, nan));
}

void fp16_to_fp32_row_avx512(const uint16_t * src, float * dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm512_storeu_ps(dst + i, fix_nan_lanes(_mm512_cvtph_ps(h), h));
    }
    if (i < n) {  // masked tail
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        const __m256i h = _mm256_maskz_loadu_epi16(m, src + i);
        _mm512_mask_storeu_ps(dst + i, m, fix_nan_lanes(_mm512_cvtph_ps(h), h));
    }
}

void bf16_to_fp32_row_avx512(const uint16_t * src, float * dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_si512((void *)(dst + i), _mm512_slli_epi32(w, 16));
    }
    for (; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

}  // namespace ggufpy
