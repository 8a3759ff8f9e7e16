// AVX2 + F16C float converters (compiled with -mavx2 -mfma -mf16c only).
#include <immintrin.h>

#include "ggufpy/float_bits.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

// NaN lanes get numpy's rule (payload << 13, no quieting); vcvtph2ps would set the quiet bit.
static inline __m256 fix_nan_lanes(__m256 f, __m128i h16) {
    const __m256i h = _mm256_cvtepu16_epi32(h16);
    const __m256i exp = _mm256_and_si256(h, _mm256_set1_epi32(0x7c00));
    const __m256i man = _mm256_and_si256(h, _mm256_set1_epi32(0x03ff));
    const __m256i is_nan = _mm256_andnot_si256(_mm256_cmpeq_epi32(man, _mm256_setzero_si256()),
                                               _mm256_cmpeq_epi32(exp, _mm256_set1_epi32(0x7c00)));
    const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x8000)), 16);
    const __m256i nan = _mm256_or_si256(_mm256_or_si256(sign, _mm256_set1_epi32(0x7f800000)),
                                        _mm256_slli_epi32(man, 13));
    return _mm256_castsi256_ps(_mm256_blendv_epi8(_mm256_castps_si256(f), nan, is_nan));
}

void fp16_to_fp32_row_avx2(const uint16_t * src, float * dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, fix_nan_lanes(_mm256_cvtph_ps(h), h));
    }
    for (; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

void bf16_to_fp32_row_avx2(const uint16_t * src, float * dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(w, 16));
    }
    for (; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

}  // namespace ggufpy
