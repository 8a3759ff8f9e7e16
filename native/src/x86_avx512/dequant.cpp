// AVX-512 dequantizers for the hot types. Same float32 operations in the same order as the generic
// kernels (convert int -> float, multiply, then add/subtract; no FMA), so results are bit-identical.
#include <immintrin.h>

#include "ggufpy/blocks.h"
#include "ggufpy/float_bits.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

// 16 int32 lanes from 16 bytes
static inline __m512 bytes_to_ps(__m128i b, bool is_signed) {
    return _mm512_cvtepi32_ps(is_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
}

static void dequant_row_q8_0_avx512(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q8_0 *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const __m512 d = _mm512_set1_ps(fp16_to_fp32(x[i].d));
        const __m128i lo = _mm_loadu_si128((const __m128i *)x[i].qs);
        const __m128i hi = _mm_loadu_si128((const __m128i *)(x[i].qs + 16));
        _mm512_storeu_ps(y, _mm512_mul_ps(bytes_to_ps(lo, true), d));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(bytes_to_ps(hi, true), d));
    }
}

// low / high nibbles of 16 bytes as two __m128i of values 0..15
static inline void nibbles(const uint8_t * qs, __m128i & lo, __m128i & hi) {
    const __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    lo = _mm_and_si128(b, m);
    hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
}

static void dequant_row_q4_0_avx512(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q4_0 *)vx;
    const __m128i eight = _mm_set1_epi8(8);
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const __m512 d = _mm512_set1_ps(fp16_to_fp32(x[i].d));
        __m128i lo, hi;
        nibbles(x[i].qs, lo, hi);
        _mm512_storeu_ps(y, _mm512_mul_ps(bytes_to_ps(_mm_sub_epi8(lo, eight), true), d));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(bytes_to_ps(_mm_sub_epi8(hi, eight), true), d));
    }
}

static void dequant_row_q4_1_avx512(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q4_1 *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const __m512 d = _mm512_set1_ps(fp16_to_fp32(x[i].d));
        const __m512 m = _mm512_set1_ps(fp16_to_fp32(x[i].m));
        __m128i lo, hi;
        nibbles(x[i].qs, lo, hi);
        _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(bytes_to_ps(lo, false), d), m));
        _mm512_storeu_ps(y + 16, _mm512_add_ps(_mm512_mul_ps(bytes_to_ps(hi, false), d), m));
    }
}

static void dequant_row_q4_K_avx512(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q4_K *)vx;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
        const uint8_t * q = x[i].qs;
        for (int is = 0; is < 8; is += 2, q += 32, y += 64) {
            uint8_t sc, m;
            get_scale_min_k4(is, x[i].scales, &sc, &m);
            const __m512 d1 = _mm512_set1_ps(d * sc), m1 = _mm512_set1_ps(min * m);
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const __m512 d2 = _mm512_set1_ps(d * sc), m2 = _mm512_set1_ps(min * m);
            for (int h = 0; h < 32; h += 16) {
                __m128i lo, hi;
                nibbles(q + h, lo, hi);
                _mm512_storeu_ps(y + h, _mm512_sub_ps(_mm512_mul_ps(d1, bytes_to_ps(lo, false)), m1));
                _mm512_storeu_ps(y + 32 + h, _mm512_sub_ps(_mm512_mul_ps(d2, bytes_to_ps(hi, false)), m2));
            }
        }
    }
}

static void dequant_row_q6_K_avx512(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q6_K *)vx;
    const __m128i m4 = _mm_set1_epi8(0x0F), m2 = _mm_set1_epi8(3), off = _mm_set1_epi8(32);
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const uint8_t * ql = x[i].ql;
        const uint8_t * qh = x[i].qh;
        const int8_t * sc = x[i].scales;
        for (int c = 0; c < 2; ++c, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int h = 0; h < 2; ++h) {  // l in [16h, 16h + 16): scale index is = h
                const __m128i a = _mm_loadu_si128((const __m128i *)(ql + 16 * h));
                const __m128i b = _mm_loadu_si128((const __m128i *)(ql + 32 + 16 * h));
                const __m128i hb = _mm_loadu_si128((const __m128i *)(qh + 16 * h));
                const __m128i q[4] = {
                    _mm_sub_epi8(_mm_or_si128(_mm_and_si128(a, m4), _mm_slli_epi16(_mm_and_si128(hb, m2), 4)), off),
                    _mm_sub_epi8(_mm_or_si128(_mm_and_si128(b, m4),
                                              _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(hb, 2), m2), 4)), off),
                    _mm_sub_epi8(_mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m4),
                                              _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(hb, 4), m2), 4)), off),
                    _mm_sub_epi8(_mm_or_si128(_mm_and_si128(_mm_srli_epi16(b, 4), m4),
                                              _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(hb, 6), m2), 4)), off),
                };
                for (int k = 0; k < 4; ++k) {
                    const __m512 ds = _mm512_set1_ps(d * sc[h + 2 * k]);
                    _mm512_storeu_ps(y + 32 * k + 16 * h, _mm512_mul_ps(ds, bytes_to_ps(q[k], true)));
                }
            }
        }
    }
}

static void dequant_row_nf4_avx512(const void * vx, float * y, size_t n) {
    const auto * x = (const block_nf4 *)vx;
    const __m512 table = _mm512_loadu_ps(nf4_code);
    for (size_t i = 0; i < n / 64; ++i, y += 64) {
        const __m512 d = _mm512_set1_ps(x[i].d);
        for (int h = 0; h < 32; h += 16) {
            __m128i lo, hi;
            nibbles(x[i].qs + h, lo, hi);
            _mm512_storeu_ps(y + h, _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(lo), table), d));
            _mm512_storeu_ps(y + 32 + h, _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(hi), table), d));
        }
    }
}

void fill_avx512(kernel_table & t) {
    t.fp16_to_fp32 = fp16_to_fp32_row_avx512;
    t.bf16_to_fp32 = bf16_to_fp32_row_avx512;
    t.dequant[type_slot(T_Q8_0)] = dequant_row_q8_0_avx512;
    t.dequant[type_slot(T_Q4_0)] = dequant_row_q4_0_avx512;
    t.dequant[type_slot(T_Q4_1)] = dequant_row_q4_1_avx512;
    t.dequant[type_slot(T_Q4_K)] = dequant_row_q4_K_avx512;
    t.dequant[type_slot(T_Q6_K)] = dequant_row_q6_K_avx512;
    t.dequant[type_slot(T_NF4)] = dequant_row_nf4_avx512;
    t.dequant[type_slot(T_F16)] = [](const void * s, float * d, size_t n) { fp16_to_fp32_row_avx512((const uint16_t *)s, d, n); };
    t.dequant[type_slot(T_BF16)] = [](const void * s, float * d, size_t n) { bf16_to_fp32_row_avx512((const uint16_t *)s, d, n); };
    t.quantize[type_slot(T_Q8_0)] = quantize_row_q8_0_avx512;  // x86_avx512/quantize.cpp
    t.quantize[type_slot(T_Q8_K)] = quantize_row_q8_K_avx512;
    t.quantize[type_slot(T_F16)] = quantize_row_f16_avx512;
}

}  // namespace ggufpy
