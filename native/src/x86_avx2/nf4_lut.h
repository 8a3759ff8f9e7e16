// The NF4 Q1.14 code book (blocks.h nf4_code_i16) as two pshufb tables: byte k of `lo` / `hi` is the low /
// high byte of nf4_code_i16[k], in both 128-bit lanes; looked up with two pshufb and interleaved back to
// int16 (unpacklo/hi_epi8), they multiply activations widened to int16 with vpmaddwd (|code| <= 2**14,
// |a| <= 128: pair sums < 2**22, exact). Included by x86_avx2/legacy_packed.cpp; internal linkage.
#pragma once

#include <immintrin.h>

#include "ggufpy/blocks.h"

namespace ggufpy {
namespace {

struct nf4_tables {
    __m256i lo, hi;
};

inline nf4_tables nf4_load_tables() {
    const __m128i c0 = _mm_loadu_si128((const __m128i *)nf4_code_i16);
    const __m128i c1 = _mm_loadu_si128((const __m128i *)(nf4_code_i16 + 8));
    const __m128i m = _mm_set1_epi16(0xFF);
    const __m128i lo = _mm_packus_epi16(_mm_and_si128(c0, m), _mm_and_si128(c1, m));
    const __m128i hi = _mm_packus_epi16(_mm_srli_epi16(c0, 8), _mm_srli_epi16(c1, 8));  // srli: 0..255 per int16, kept by packus
    return {_mm256_broadcastsi128_si256(lo), _mm256_broadcastsi128_si256(hi)};
}

// Σ nf4_code_i16[idx] * a over one block of 32, 8 int32 lanes. idx: the 32 code indices with qwords in the
// order (elements) 0-7, 16-23 | 8-15, 24-31, so the in-lane unpacks yield elements 0-15 and 16-31 in order.
inline __m256i nf4_block_dot(__m256i idx, const int8_t * a, const nf4_tables & t) {
    const __m256i lo = _mm256_shuffle_epi8(t.lo, idx), hi = _mm256_shuffle_epi8(t.hi, idx);
    const __m256i w0 = _mm256_unpacklo_epi8(lo, hi);  // int16 codes of elements 0-7 | 8-15
    const __m256i w1 = _mm256_unpackhi_epi8(lo, hi);  // 16-23 | 24-31
    const __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a));
    const __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + 16)));
    return _mm256_add_epi32(_mm256_madd_epi16(w0, a0), _mm256_madd_epi16(w1, a1));
}

}  // namespace
}  // namespace ggufpy
