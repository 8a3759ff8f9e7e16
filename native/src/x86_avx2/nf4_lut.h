// The NF4 Q1.14 code book (blocks.h nf4_code_i16) as two pshufb tables: byte k of `lo` / `hi` is the low /
// high byte of nf4_code_i16[k], in both 128-bit lanes. Included by x86_avx2/vec_dot.cpp and
// x86_avx512vnni/vec_dot.cpp, each compiled with its own ISA flags; internal linkage (anonymous namespace).
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

}  // namespace
}  // namespace ggufpy
