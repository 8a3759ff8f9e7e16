// AVX2 dot products (weight row x activation row in vec_dot_type), activation converters and runtime
// helpers. Ports of ggml-cpu arch/x86/quants.c (llama.cpp 0c1e570), the maddubs variants: integer sums
// per block exactly as generic/vec_dot.cpp, float accumulation in 8 lanes with FMA (so the sums differ
// from generic only by float rounding order).
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "ggufpy/blocks.h"
#include "ggufpy/float_bits.h"
#include "ggufpy/kernels.h"
#include "exp.h"
#include "kquant_tile.h"
#include "legacy_tile.h"

namespace ggufpy {

namespace {

inline float h2f(ggml_half h) { return _cvtsh_ss(h); }

inline float hsum_float_8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

inline int hsum_i32_8(__m256i a) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

// ---- activation converters (ggml x86 quantize_row_q8_0 / q8_1) -------------------------------------

// 32 floats -> 32 int8 codes (round half to even) in q; returns d = amax/127 (float).
inline float q8_block(const float * x, __m256i & q) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 amax = _mm256_andnot_ps(sign_bit, v0);
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v1));
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v2));
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v3));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float max_scalar = _mm_cvtss_f32(m4);
    const float d = max_scalar / 127.f;
    const __m256 mul = _mm256_set1_ps(max_scalar != 0.0f ? 127.f / max_scalar : 0.0f);
    v0 = _mm256_round_ps(_mm256_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v1 = _mm256_round_ps(_mm256_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v2 = _mm256_round_ps(_mm256_mul_ps(v2, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v3 = _mm256_round_ps(_mm256_mul_ps(v3, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256i i0 = _mm256_cvtps_epi32(v0), i1 = _mm256_cvtps_epi32(v1), i2 = _mm256_cvtps_epi32(v2), i3 = _mm256_cvtps_epi32(v3);
    // pack to int8 and undo the lane interleaving of packs
    i0 = _mm256_packs_epi32(i0, i1);
    i2 = _mm256_packs_epi32(i2, i3);
    i0 = _mm256_packs_epi16(i0, i2);
    q = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    return d;
}

inline ggml_half f2h(float f) { return (ggml_half)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

void from_float_q8_0_avx2(const float * x, void * vy, size_t n) {
    auto * y = (block_q8_0 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        __m256i q;
        y[i].d = f2h(q8_block(x, q));
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
    }
}

void from_float_q8_1_avx2(const float * x, void * vy, size_t n) {
    auto * y = (block_q8_1 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        __m256i q;
        const float d = q8_block(x, q);
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
        const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);  // pairs of int8 -> int16
        const int s = hsum_i32_8(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
        y[i].d = f2h(d);
        y[i].s = f2h(d * (float)s);
    }
}

// ---- dot products ----------------------------------------------------------------------------

float vec_dot_f32_avx2(size_t n, const void * vw, const void * va) {
    const float * w = (const float *)vw;
    const float * a = (const float *)va;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(a + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(a + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(a + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), s0);
    float sum = hsum_float_8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; ++i) sum += w[i] * a[i];
    return sum;
}

inline __m256 load_f16x8(const uint16_t * p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

float vec_dot_f16_avx2(size_t n, const void * vw, const void * va) {
    const uint16_t * w = (const uint16_t *)vw;
    const uint16_t * a = (const uint16_t *)va;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load_f16x8(w + i), load_f16x8(a + i), s0);
        s1 = _mm256_fmadd_ps(load_f16x8(w + i + 8), load_f16x8(a + i + 8), s1);
        s2 = _mm256_fmadd_ps(load_f16x8(w + i + 16), load_f16x8(a + i + 16), s2);
        s3 = _mm256_fmadd_ps(load_f16x8(w + i + 24), load_f16x8(a + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load_f16x8(w + i), load_f16x8(a + i), s0);
    float sum = hsum_float_8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; ++i) sum += h2f(w[i]) * h2f(a[i]);
    return sum;
}

inline __m256 load_bf16x8(const uint16_t * p) {  // exact: u32 = h << 16
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

// BF16 weights x F32 activations (ggufpy keeps the activations float32; ggml would round them to BF16).
float vec_dot_bf16_avx2(size_t n, const void * vw, const void * va) {
    const uint16_t * w = (const uint16_t *)vw;
    const float * a = (const float *)va;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(a + i), s0);
        s1 = _mm256_fmadd_ps(load_bf16x8(w + i + 8), _mm256_loadu_ps(a + i + 8), s1);
        s2 = _mm256_fmadd_ps(load_bf16x8(w + i + 16), _mm256_loadu_ps(a + i + 16), s2);
        s3 = _mm256_fmadd_ps(load_bf16x8(w + i + 24), _mm256_loadu_ps(a + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(a + i), s0);
    float sum = hsum_float_8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; ++i) sum += bf16_to_fp32(w[i]) * a[i];
    return sum;
}

struct dot_maddubs {
    // 8 int32 lanes, each the sum of 4 u8 x s8 products. maddubs saturates pairs to int16: safe because
    // every u operand here is at most 128 and every s at most 127 in magnitude (2 * 128 * 127 < 32768).
    static inline __m256i dot(__m256i u, __m256i s) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)); }
};

// |x| * sign(y, x) = x * y as maddubs' u8 x s8 (ggml mul_add_epi8): int16 pair sums; |x|, |y| <= 127.
inline __m256i mul_add_epi8(__m256i x, __m256i y) {
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// ggml_vec_dot_q2_K_q8_K (AVX2): 2-bit planes times q8 (maddubs), times the sub-block scale (madd); the
// min term dmin * Σ mins * bsums enters the same float accumulator first.
float vec_dot_q2_K_avx2(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q2_K *)vw;
    const auto * y = (const block_q8_K *)va;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * h2f(x[i].d);
        const float dmin = -y[i].d * h2f(x[i].dmin);
        const uint8_t * q2 = x[i].qs;
        const int8_t * q8 = y[i].qs;
        const __m128i mins_and_scales = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i mins = _mm256_cvtepi8_epi16(_mm_and_si128(_mm_srli_epi16(mins_and_scales, 4), m4));
        const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);
        __m256i scales[2];
        spread_k16_scales(_mm_and_si128(mins_and_scales, m4), scales);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < QK_K / 128; ++j, q2 += 32) {
            const __m256i q2bits = _mm256_loadu_si256((const __m256i *)q2);
            for (int p = 0; p < 4; ++p, q8 += 32) {  // plane p: bits 2p..2p+1, 32 elements
                const __m256i q2p = _mm256_and_si256(_mm256_srli_epi16(q2bits, 2 * p), m3);
                const __m256i p16 = _mm256_maddubs_epi16(q2p, _mm256_loadu_si256((const __m256i *)q8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_shuffle_epi8(scales[j], scale_shuffle_q3k(p)), p16));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_float_8(acc);
}

// ggml_vec_dot_q3_K_q8_K (AVX2): q = low2 - 4 * (1 - hbit) as maddubs(low2, q8) - maddubs(4 * !hbit, q8),
// both u8 operands <= 4, then times the sub-block scale (s - 32) with madd.
float vec_dot_q3_K_avx2(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q3_K *)vw;
    const auto * y = (const block_q8_K *)va;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i mone = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = y[i].d * h2f(x[i].d);
        const uint8_t * q3 = x[i].qs;
        const int8_t * q8 = y[i].qs;
        uint8_t sc[16];
        get_scales_q3_K(x[i].scales, sc);
        __m256i scales[2];
        spread_k16_scales(_mm_sub_epi8(_mm_loadu_si128((const __m128i *)sc), _mm_set1_epi8(32)), scales);
        const __m256i hbits = _mm256_loadu_si256((const __m256i *)x[i].hmask);  // bit 4j + p: plane p of chunk j
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < QK_K / 128; ++j, q3 += 32) {
            const __m256i q3bits = _mm256_loadu_si256((const __m256i *)q3);
            for (int p = 0; p < 4; ++p, q8 += 32) {
                const int bit = 4 * j + p;
                const __m256i q3l = _mm256_and_si256(_mm256_srli_epi16(q3bits, 2 * p), m3);
                const __m256i hclear = _mm256_andnot_si256(hbits, _mm256_slli_epi16(mone, bit));  // 1 << bit where clear
                const __m256i q3h = _mm256_slli_epi16(_mm256_srli_epi16(hclear, bit), 2);         // 4 where clear
                const __m256i a = _mm256_loadu_si256((const __m256i *)q8);
                const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q3l, a), _mm256_maddubs_epi16(q3h, a));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_shuffle_epi8(scales[j], scale_shuffle_q3k(p)), p16));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_float_8(acc);
}

// ---- ternary -------------------------------------------------------------------------------------

// Bytes times 3 and times 9 mod 256 (AVX2 has no 8-bit multiply): 3q = q + 2q; 9q = (8q & 0xF8) + q.
inline __m256i mul3_epu8(__m256i q) { return _mm256_add_epi8(q, _mm256_add_epi8(q, q)); }
inline __m256i mul9_epu8(__m256i q) { return _mm256_add_epi8(_mm256_and_si256(_mm256_slli_epi16(q, 3), _mm256_set1_epi8(-8)), q); }

// TQ1_0's leading trit (q * 3) >> 8 of bytes q already multiplied by 3**n, per byte (ggml): avg(q, avg(q, 0))
// = ceil((q + ceil(q/2)) / 2) ~ 3q/4, with q - 1 (saturating) first to cancel avg's round-up; then >> 6.
inline __m256i tq1_trit(__m256i q) {
    q = _mm256_subs_epu8(q, _mm256_set1_epi8(1));
    q = _mm256_avg_epu8(q, _mm256_avg_epu8(q, _mm256_setzero_si256()));
    return _mm256_and_si256(_mm256_srli_epi16(q, 6), _mm256_set1_epi8(3));
}

inline __m256i q8_load(const int8_t * p) { return _mm256_loadu_si256((const __m256i *)p); }

// int16 pair sums of trit * a for 32 bytes q (already times 3**n) and 32 activations.
inline __m256i tq1_trit_dot(__m256i q, const int8_t * a) { return _mm256_maddubs_epi16(tq1_trit(q), q8_load(a)); }

// ggml_vec_dot_tq1_0_q8_K (AVX2): trits t in 0..2 times q8 with maddubs into int16 sums (at most 6 terms of
// |2 * 2 * 127|, no overflow), minus Σ q8 (the bsums) for the -1, once per block.
float vec_dot_tq1_0_avx2(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_tq1_0 *)vw;
    const auto * y = (const block_q8_K *)va;
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QK_K; ++i) {
        const int8_t * q8 = y[i].qs;
        // qs[0..32): trit n of byte m is element 32n + m
        const __m256i q0 = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i q1 = mul3_epu8(q0), q2 = mul9_epu8(q0), q3 = mul9_epu8(q1), q4 = mul9_epu8(q2);
        __m256i sumi0 = _mm256_add_epi16(tq1_trit_dot(q0, q8), tq1_trit_dot(q1, q8 + 32));
        __m256i sumi1 = _mm256_add_epi16(tq1_trit_dot(q2, q8 + 64), tq1_trit_dot(q3, q8 + 96));
        __m256i sumi2 = tq1_trit_dot(q4, q8 + 128);
        // qs[32..48): trit n of byte m is element 160 + 16n + m; qh[j]: trit n is element 240 + 4n + j
        const __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(x[i].qs + 32)));
        const __m256i t3 = mul3_epu8(t), t9 = mul9_epu8(t), t27 = mul9_epu8(t3), t81 = mul9_epu8(t9);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, 4);
        __m256i qh16 = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm_set1_epi32((int)qh)),
                                          _mm256_set_epi16(27, 27, 27, 27, 9, 9, 9, 9, 3, 3, 3, 3, 1, 1, 1, 1));
        qh16 = _mm256_and_si256(qh16, _mm256_set1_epi16(0xFF));
        const __m128i qh5 = _mm_packus_epi16(_mm256_castsi256_si128(qh16), _mm256_extracti128_si256(qh16, 1));
        const __m256i t01 = _mm256_blend_epi32(t, t3, 0xF0);    // elements 160..175 | 176..191
        const __m256i t23 = _mm256_blend_epi32(t9, t27, 0xF0);  // 192..207 | 208..223
        const __m256i t45 = _mm256_inserti128_si256(t81, qh5, 1);  // 224..239 | 240..255
        sumi0 = _mm256_add_epi16(sumi0, tq1_trit_dot(t01, q8 + 160));
        sumi1 = _mm256_add_epi16(sumi1, tq1_trit_dot(t23, q8 + 192));
        sumi2 = _mm256_add_epi16(sumi2, tq1_trit_dot(t45, q8 + 224));
        const __m256i ysum = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        sumi0 = _mm256_add_epi16(_mm256_sub_epi16(sumi0, ysum), _mm256_add_epi16(sumi1, sumi2));
        const __m256i sumi = _mm256_madd_epi16(sumi0, _mm256_set1_epi16(1));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_float_8(acc);
}

// Σ (t - 1) * a over one block of 32, t in 0..2 per byte: sign(a, t - 1) is the product itself (|a| <= 127).
inline __m256i ternary_block_dot(__m256i t, __m256i a) {
    const __m256i prod = _mm256_sign_epi8(a, _mm256_sub_epi8(t, _mm256_set1_epi8(1)));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), prod), _mm256_set1_epi16(1));
}

// TQ2_64 x Q8_0 (generic/vec_dot.cpp vec_dot_tq2_64_generic): byte m holds element 16p + m at bits 2p..2p+1.
float vec_dot_tq2_64_avx2(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_tq2_64 *)vw;
    const auto * y = (const block_q8_0 *)va;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (size_t i = 0; i < n / 64; ++i) {
        const __m128i q = _mm_loadu_si128((const __m128i *)x[i].qs);
        // lane 0 = q, lane 1 = q >> 2: bits 0-1 hold elements 0-15 | 16-31, bits 4-5 elements 32-47 | 48-63
        const __m256i planes = _mm256_set_m128i(_mm_srli_epi16(q, 2), q);
        const __m256i s0 = ternary_block_dot(_mm256_and_si256(planes, m3), q8_load(y[2 * i].qs));
        const __m256i s1 = ternary_block_dot(_mm256_and_si256(_mm256_srli_epi16(planes, 4), m3), q8_load(y[2 * i + 1].qs));
        const float d = h2f(x[i].d);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d * h2f(y[2 * i].d)), _mm256_cvtepi32_ps(s0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d * h2f(y[2 * i + 1].d)), _mm256_cvtepi32_ps(s1), acc1);
    }
    return hsum_float_8(_mm256_add_ps(acc0, acc1));
}

// ---- code-book types -----------------------------------------------------------------------------

// ggml_vec_dot_iq4_xs_q8_K (AVX2): kvalues_iq4nl by pshufb (lt_codebook), signed x signed with the sign
// trick, times the sub-block scale (ls - 32) with madd.
float vec_dot_iq4_xs_avx2(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_iq4_xs *)vw;
    const auto * y = (const block_q8_K *)va;
    __m256 acc = _mm256_setzero_ps();
    for (size_t ibl = 0; ibl < n / QK_K; ++ibl) {
        const uint8_t * qs = x[ibl].qs;
        const int8_t * q8 = y[ibl].qs;
        uint16_t sh = x[ibl].scales_h;
        __m256i sumi1 = _mm256_setzero_si256(), sumi2 = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ib += 2, qs += 32, q8 += 64, sh >>= 4) {
            const __m256i p16_1 = mul_add_epi8(lt_codebook(qs, kvalues_iq4nl), q8_load(q8));
            const __m256i p16_2 = mul_add_epi8(lt_codebook(qs + 16, kvalues_iq4nl), q8_load(q8 + 32));
            const int16_t ls1 = (int16_t)(((x[ibl].scales_l[ib / 2] & 0xF) | ((sh << 4) & 0x30)) - 32);
            const int16_t ls2 = (int16_t)(((x[ibl].scales_l[ib / 2] >> 4) | ((sh << 2) & 0x30)) - 32);
            sumi1 = _mm256_add_epi32(sumi1, _mm256_madd_epi16(p16_1, _mm256_set1_epi16(ls1)));
            sumi2 = _mm256_add_epi32(sumi2, _mm256_madd_epi16(p16_2, _mm256_set1_epi16(ls2)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[ibl].d) * y[ibl].d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi1, sumi2)), acc);
    }
    return hsum_float_8(acc);
}

// ---- runtime helpers ---------------------------------------------------------------------------

inline float dot_f16_f32_row(size_t n, const uint16_t * x, const float * y) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(load_f16x8(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(load_f16x8(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load_f16x8(x + i), _mm256_loadu_ps(y + i), s0);
    float sum = hsum_float_8(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) sum += h2f(x[i]) * y[i];
    return sum;
}

float dot_f16_f32_avx2(size_t n, const uint16_t * x, const float * y) { return dot_f16_f32_row(n, x, y); }

// Rows two at a time (independent chains for the out-of-order core), each row exactly dot_f16_f32_row.
void dot_f16_f32_rows_avx2(size_t n, size_t rows, const uint16_t * x, size_t stride, const float * y, float * out) {
    size_t j = 0;
    for (; j + 2 <= rows; j += 2) {
        out[j] = dot_f16_f32_row(n, x + j * stride, y);
        out[j + 1] = dot_f16_f32_row(n, x + (j + 1) * stride, y);
    }
    if (j < rows) out[j] = dot_f16_f32_row(n, x + j * stride, y);
}

void mad_f16_avx2(size_t n, float * y, const uint16_t * x, float a) {
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_f16x8(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += a * h2f(x[i]);
}

// y[i] += a[j] * x_j[i] for j in order, each element's sequence of operations exactly mad_f16_avx2's; 32
// elements of y stay in registers across all rows instead of a load and a store per row.
void mad_f16_rows_avx2(size_t n, size_t rows, float * y, const uint16_t * x, size_t stride, const float * a) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 y0 = _mm256_loadu_ps(y + i), y1 = _mm256_loadu_ps(y + i + 8);
        __m256 y2 = _mm256_loadu_ps(y + i + 16), y3 = _mm256_loadu_ps(y + i + 24);
        for (size_t j = 0; j < rows; ++j) {
            const uint16_t * xj = x + j * stride + i;
            const __m256 va = _mm256_set1_ps(a[j]);
            y0 = _mm256_fmadd_ps(va, load_f16x8(xj), y0);
            y1 = _mm256_fmadd_ps(va, load_f16x8(xj + 8), y1);
            y2 = _mm256_fmadd_ps(va, load_f16x8(xj + 16), y2);
            y3 = _mm256_fmadd_ps(va, load_f16x8(xj + 24), y3);
        }
        _mm256_storeu_ps(y + i, y0);
        _mm256_storeu_ps(y + i + 8, y1);
        _mm256_storeu_ps(y + i + 16, y2);
        _mm256_storeu_ps(y + i + 24, y3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 y0 = _mm256_loadu_ps(y + i);
        for (size_t j = 0; j < rows; ++j) y0 = _mm256_fmadd_ps(_mm256_set1_ps(a[j]), load_f16x8(x + j * stride + i), y0);
        _mm256_storeu_ps(y + i, y0);
    }
    for (; i < n; ++i)
        for (size_t j = 0; j < rows; ++j) y[i] += a[j] * h2f(x[j * stride + i]);
}

inline void store_f16x8(uint16_t * p, __m256 v) {
    _mm_storeu_si128((__m128i *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

void mad_f16_f16_avx2(size_t n, uint16_t * y, const uint16_t * x, float a) {
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) store_f16x8(y + i, _mm256_fmadd_ps(load_f16x8(x + i), va, load_f16x8(y + i)));
    for (; i < n; ++i) y[i] = f2h(h2f(y[i]) + h2f(x[i]) * a);
}

void scale_f16_avx2(size_t n, uint16_t * y, float a) {
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) store_f16x8(y + i, _mm256_mul_ps(load_f16x8(y + i), va));
    for (; i < n; ++i) y[i] = f2h(h2f(y[i]) * a);
}

void silu_mul_avx2(size_t n, float * y, const float * g, const float * u) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 vg = _mm256_loadu_ps(g + i);
        const __m256 e = exp_ps(_mm256_xor_ps(vg, sign));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_div_ps(vg, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    for (; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

}  // namespace

void fill_avx2_vec_dot(kernel_table & t) {
    t.vec_dot[type_slot(T_F32)] = vec_dot_f32_avx2;
    t.vec_dot[type_slot(T_Q4_1)] = lt_vec_dot<lt_q4_1, dot_maddubs>;
    // 2 x 3 tiles: 12 accumulators (two chains per pair) in the 16 ymm registers; measured best on SmolLM2
    t.mat_dot[type_slot(T_Q4_1)] = lt_tiler<lt_q4_1, dot_maddubs, 2, 3>::run;
    t.vec_dot[type_slot(T_Q5_1)] = lt_vec_dot<lt_q5_1, dot_maddubs>;
    t.mat_dot[type_slot(T_Q5_1)] = lt_tiler<lt_q5_1, dot_maddubs, 2, 3>::run;
    t.vec_dot[type_slot(T_IQ4_NL)] = lt_vec_dot<lt_iq4_nl, dot_maddubs>;
    t.vec_dot[type_slot(T_MXFP4)] = lt_vec_dot<lt_mxfp4, dot_maddubs>;
    t.mat_dot[type_slot(T_IQ4_NL)] = lt_tiler<lt_iq4_nl, dot_maddubs, 2, 3>::run;
    t.mat_dot[type_slot(T_MXFP4)] = lt_tiler<lt_mxfp4, dot_maddubs, 2, 3>::run;
    t.vec_dot[type_slot(T_TQ2_64)] = vec_dot_tq2_64_avx2;
    t.vec_dot[type_slot(T_BF16)] = vec_dot_bf16_avx2;
    t.vec_dot[type_slot(T_Q2_K)] = vec_dot_q2_K_avx2;
    t.vec_dot[type_slot(T_Q3_K)] = vec_dot_q3_K_avx2;
    t.vec_dot[type_slot(T_TQ1_0)] = vec_dot_tq1_0_avx2;
    t.vec_dot[type_slot(T_IQ4_XS)] = vec_dot_iq4_xs_avx2;
    t.vec_dot[type_slot(T_Q4_K)] = kq_vec_dot<kq_q4_K, kq_maddubs>;
    t.vec_dot[type_slot(T_Q5_K)] = kq_vec_dot<kq_q5_K, kq_maddubs>;
    t.vec_dot[type_slot(T_Q6_K)] = kq_vec_dot<kq_q6_K, kq_maddubs>;
    t.mat_dot[type_slot(T_Q4_K)] = kq_tiler<kq_q4_K, kq_maddubs, 2, 3>::run;
    t.mat_dot[type_slot(T_Q5_K)] = kq_tiler<kq_q5_K, kq_maddubs, 2, 3>::run;
    t.mat_dot[type_slot(T_Q6_K)] = kq_tiler<kq_q6_K, kq_maddubs, 2, 3>::run;
    t.from_float[type_slot(T_Q8_0)] = from_float_q8_0_avx2;
    t.from_float[type_slot(T_Q8_1)] = from_float_q8_1_avx2;
    t.dot_f16_f32 = dot_f16_f32_avx2;
    t.dot_f16 = vec_dot_f16_avx2;
    t.mad_f16 = mad_f16_avx2;
    t.dot_f16_f32_rows = dot_f16_f32_rows_avx2;
    t.mad_f16_rows = mad_f16_rows_avx2;
    t.mad_f16_f16 = mad_f16_f16_avx2;
    t.scale_f16 = scale_f16_avx2;
    t.silu_mul = silu_mul_avx2;
    fill_avx2_attention(t);
    fill_avx2_f16(t);  // F16 matmuls: one chain per pair, packed at load (f16_tile.cpp)
    fill_avx2_kquant_packed(t);  // packed Q4_K, Q6_K, TQ2_0 (and TQ2_0's vec_dot, kquant_packed.h)
    fill_avx2_legacy_packed(t);  // packed Q4_0, Q5_0, Q8_0, NF4 with their vec_dot (legacy_packed.cpp)
}

}  // namespace ggufpy
