// AVX2 dequantizers for the hot types. Same float32 operations in the same order as the generic
// kernels (convert int -> float, multiply, then add/subtract; no FMA), so results are bit-identical.
#include <immintrin.h>

#include "ggufpy/blocks.h"
#include "ggufpy/float_bits.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

// 8 floats from the 8 bytes at the bottom of b
static inline __m256 bytes8_to_ps(__m128i b, bool is_signed) {
    return _mm256_cvtepi32_ps(is_signed ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b));
}

// y[0..16) = f(bytes) for the 16 bytes of b, as two 8-lane halves
template <typename F>
static inline void store16(float * y, __m128i b, bool is_signed, F f) {
    _mm256_storeu_ps(y, f(bytes8_to_ps(b, is_signed)));
    _mm256_storeu_ps(y + 8, f(bytes8_to_ps(_mm_srli_si128(b, 8), is_signed)));
}

static inline void nibbles(const uint8_t * qs, __m128i & lo, __m128i & hi) {
    const __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    lo = _mm_and_si128(b, m);
    hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
}

static void dequant_row_q8_0_avx2(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q8_0 *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[i].d));
        auto mul = [&](__m256 v) { return _mm256_mul_ps(v, d); };
        store16(y, _mm_loadu_si128((const __m128i *)x[i].qs), true, mul);
        store16(y + 16, _mm_loadu_si128((const __m128i *)(x[i].qs + 16)), true, mul);
    }
}

static void dequant_row_q4_0_avx2(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q4_0 *)vx;
    const __m128i eight = _mm_set1_epi8(8);
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[i].d));
        auto mul = [&](__m256 v) { return _mm256_mul_ps(v, d); };
        __m128i lo, hi;
        nibbles(x[i].qs, lo, hi);
        store16(y, _mm_sub_epi8(lo, eight), true, mul);
        store16(y + 16, _mm_sub_epi8(hi, eight), true, mul);
    }
}

static void dequant_row_q4_1_avx2(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q4_1 *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[i].d));
        const __m256 m = _mm256_set1_ps(fp16_to_fp32(x[i].m));
        auto f = [&](__m256 v) { return _mm256_add_ps(_mm256_mul_ps(v, d), m); };
        __m128i lo, hi;
        nibbles(x[i].qs, lo, hi);
        store16(y, lo, false, f);
        store16(y + 16, hi, false, f);
    }
}

static void dequant_row_q4_K_avx2(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q4_K *)vx;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
        const uint8_t * q = x[i].qs;
        for (int is = 0; is < 8; is += 2, q += 32, y += 64) {
            uint8_t sc, m;
            get_scale_min_k4(is, x[i].scales, &sc, &m);
            const __m256 d1 = _mm256_set1_ps(d * sc), m1 = _mm256_set1_ps(min * m);
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const __m256 d2 = _mm256_set1_ps(d * sc), m2 = _mm256_set1_ps(min * m);
            auto f1 = [&](__m256 v) { return _mm256_sub_ps(_mm256_mul_ps(d1, v), m1); };
            auto f2 = [&](__m256 v) { return _mm256_sub_ps(_mm256_mul_ps(d2, v), m2); };
            for (int h = 0; h < 32; h += 16) {
                __m128i lo, hi;
                nibbles(q + h, lo, hi);
                store16(y + h, lo, false, f1);
                store16(y + 32 + h, hi, false, f2);
            }
        }
    }
}

static void dequant_row_q6_K_avx2(const void * vx, float * y, size_t n) {
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
                    const __m256 ds = _mm256_set1_ps(d * sc[h + 2 * k]);
                    store16(y + 32 * k + 16 * h, q[k], true, [&](__m256 v) { return _mm256_mul_ps(ds, v); });
                }
            }
        }
    }
}

// NF4: 16-entry code book looked up as two 8-entry permutes selected by bit 3 of the code
static inline __m256 nf4_lookup(__m128i codes8, __m256 lo_tab, __m256 hi_tab) {
    const __m256i idx = _mm256_cvtepu8_epi32(codes8);
    const __m256 lo = _mm256_permutevar8x32_ps(lo_tab, idx);
    const __m256 hi = _mm256_permutevar8x32_ps(hi_tab, idx);
    const __m256 use_hi = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28));  // bit 3 -> sign bit
    return _mm256_blendv_ps(lo, hi, use_hi);
}

static void dequant_row_nf4_avx2(const void * vx, float * y, size_t n) {
    const auto * x = (const block_nf4 *)vx;
    const __m256 lo_tab = _mm256_loadu_ps(nf4_code), hi_tab = _mm256_loadu_ps(nf4_code + 8);
    for (size_t i = 0; i < n / 64; ++i, y += 64) {
        const __m256 d = _mm256_set1_ps(x[i].d);
        for (int h = 0; h < 32; h += 16) {
            __m128i lo, hi;
            nibbles(x[i].qs + h, lo, hi);
            for (int e = 0; e < 16; e += 8) {
                _mm256_storeu_ps(y + h + e, _mm256_mul_ps(nf4_lookup(lo, lo_tab, hi_tab), d));
                _mm256_storeu_ps(y + 32 + h + e, _mm256_mul_ps(nf4_lookup(hi, lo_tab, hi_tab), d));
                lo = _mm_srli_si128(lo, 8);
                hi = _mm_srli_si128(hi, 8);
            }
        }
    }
}

void fill_avx2(kernel_table & t) {
    t.fp16_to_fp32 = fp16_to_fp32_row_avx2;
    t.bf16_to_fp32 = bf16_to_fp32_row_avx2;
    t.dequant[type_slot(T_Q8_0)] = dequant_row_q8_0_avx2;
    t.dequant[type_slot(T_Q4_0)] = dequant_row_q4_0_avx2;
    t.dequant[type_slot(T_Q4_1)] = dequant_row_q4_1_avx2;
    t.dequant[type_slot(T_Q4_K)] = dequant_row_q4_K_avx2;
    t.dequant[type_slot(T_Q6_K)] = dequant_row_q6_K_avx2;
    t.dequant[type_slot(T_NF4)] = dequant_row_nf4_avx2;
    t.dequant[type_slot(T_F16)] = [](const void * s, float * d, size_t n) { fp16_to_fp32_row_avx2((const uint16_t *)s, d, n); };
    t.dequant[type_slot(T_BF16)] = [](const void * s, float * d, size_t n) { bf16_to_fp32_row_avx2((const uint16_t *)s, d, n); };
}

}  // namespace ggufpy
