// AVX-512 dot products and activation converters. The activation converters (F16 and Q8_K) come from
// x86_avx512/quantize.cpp; the one dot product here is BF16 x F32. Every other dot product of the avx512
// table is the AVX2 one (x86_avx2/vec_dot.cpp): without VNNI, 512-bit maddubs kernels bought nothing over
// them, nor did an NF4 kernel with vpermw (the 16 int16 codes in one zmm) and vpmaddwd (Zen 4: 2% slower
// than AVX2's two-pshufb lookup); the avx512vnni table adds vpdpbusd.
#include <immintrin.h>

#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

inline __m512 load_bf16x16(const uint16_t * p) {  // exact: u32 = h << 16
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

// BF16 weights x F32 activations, 4 x 16 lanes; the tail (n % 16) masked.
float vec_dot_bf16_avx512(size_t n, const void * vw, const void * va) {
    const uint16_t * w = (const uint16_t *)vw;
    const float * a = (const float *)va;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(load_bf16x16(w + i), _mm512_loadu_ps(a + i), s0);
        s1 = _mm512_fmadd_ps(load_bf16x16(w + i + 16), _mm512_loadu_ps(a + i + 16), s1);
        s2 = _mm512_fmadd_ps(load_bf16x16(w + i + 32), _mm512_loadu_ps(a + i + 32), s2);
        s3 = _mm512_fmadd_ps(load_bf16x16(w + i + 48), _mm512_loadu_ps(a + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(load_bf16x16(w + i), _mm512_loadu_ps(a + i), s0);
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, w + i));
        s1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(h, 16)), _mm512_maskz_loadu_ps(m, a + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

}  // namespace

void fill_avx512_vec_dot(kernel_table & t) {
    t.from_float[type_slot(T_F16)] = quantize_row_f16_avx512;
    t.from_float[type_slot(T_Q8_K)] = quantize_row_q8_K_avx512;
    t.vec_dot[type_slot(T_BF16)] = vec_dot_bf16_avx512;
    fill_avx512_f16(t);
    fill_avx512_attention(t);
}

}  // namespace ggufpy
