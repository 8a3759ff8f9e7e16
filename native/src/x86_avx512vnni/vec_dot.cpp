// AVX-512 VNNI dot products: the legacy-type kernels of x86_avx2/legacy_tile.h with vpdpbusd on ymm
// registers (AVX512-VNNI + AVX512-VL) as the integer step, and 4 x 3 tiles (the 32 ymm registers of
// AVX-512 hold the 24 accumulators, two chains per pair; measured best on SmolLM2); and NF4 x Q8_0 with
// vpdpbusd on the code book's bytes (Zen 4, in-cache rows: ~10% over AVX2's vpmaddwd kernel; the legacy
// types gain 5-10%). Registered as ISA "avx512vnni" (dispatch.cpp) only when the CPU reports avx512_vnni on
// top of the avx512 table's requirements; everything else (K-quants, ternary, TQ2_64) is inherited.
//
// Why 256-bit: on Zen 4 (which executes 512-bit ops as two 256-bit halves) the zmm form of these kernels
// measured slower, because two 32-element blocks per zmm need cross-lane shuffles for the nibbles and
// the per-block scales; the ymm form holds one block per register and needs none.
#include <immintrin.h>

#include "../x86_avx2/legacy_tile.h"
#include "../x86_avx2/nf4_lut.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

struct dot_vnni {
    static inline __m256i dot(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }
};

// NF4 x Q8_0 with vpdpbusd: code = 256 * hi + lo with lo = the unsigned low byte and hi the signed high byte of
// nf4_code_i16, so Σ code * a = 256 * Σ hi * a + Σ lo * a; both bytes by pshufb, hi x a with the sign trick
// (|hi| <= 64). vpdpbusd sums 4 u8 x s8 products into int32 without saturating (lo * a reaches 255 * 127).
inline __m256i nf4_block_dot(__m256i idx, const int8_t * a8, const nf4_tables & t) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)a8);
    const __m256i lo = _mm256_shuffle_epi8(t.lo, idx), hi = _mm256_shuffle_epi8(t.hi, idx);
    const __m256i s_lo = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, a);
    const __m256i s_hi = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(hi, hi), _mm256_sign_epi8(a, hi));
    return _mm256_add_epi32(_mm256_slli_epi32(s_hi, 8), s_lo);
}
float vec_dot_nf4_avx512vnni(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_nf4 *)vw;
    const auto * y = (const block_q8_0 *)va;
    const nf4_tables t = nf4_load_tables();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (size_t i = 0; i < n / 64; ++i) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i s0 = nf4_block_dot(_mm256_and_si256(q, m4), y[2 * i].qs, t);
        const __m256i s1 = nf4_block_dot(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), y[2 * i + 1].qs, t);
        const float d = x[i].d * 0x1p-14f;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d * _cvtsh_ss(y[2 * i].d)), _mm256_cvtepi32_ps(s0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d * _cvtsh_ss(y[2 * i + 1].d)), _mm256_cvtepi32_ps(s1), acc1);
    }
    return lt_hsum(_mm256_add_ps(acc0, acc1));
}

}  // namespace

void fill_avx512vnni(kernel_table & t) {
    t.vec_dot[type_slot(T_Q8_0)] = lt_vec_dot<lt_q8_0, dot_vnni>;
    t.vec_dot[type_slot(T_Q4_0)] = lt_vec_dot<lt_q4_0, dot_vnni>;
    t.vec_dot[type_slot(T_Q4_1)] = lt_vec_dot<lt_q4_1, dot_vnni>;
    t.mat_dot[type_slot(T_Q8_0)] = lt_tiler<lt_q8_0, dot_vnni, 4, 3>::run;
    t.mat_dot[type_slot(T_Q4_0)] = lt_tiler<lt_q4_0, dot_vnni, 4, 3>::run;
    t.mat_dot[type_slot(T_Q4_1)] = lt_tiler<lt_q4_1, dot_vnni, 4, 3>::run;
    t.vec_dot[type_slot(T_Q5_0)] = lt_vec_dot<lt_q5_0, dot_vnni>;
    t.vec_dot[type_slot(T_Q5_1)] = lt_vec_dot<lt_q5_1, dot_vnni>;
    t.mat_dot[type_slot(T_Q5_0)] = lt_tiler<lt_q5_0, dot_vnni, 4, 3>::run;
    t.mat_dot[type_slot(T_Q5_1)] = lt_tiler<lt_q5_1, dot_vnni, 4, 3>::run;
    t.vec_dot[type_slot(T_NF4)] = vec_dot_nf4_avx512vnni;
    t.vec_dot[type_slot(T_IQ4_NL)] = lt_vec_dot<lt_iq4_nl, dot_vnni>;
    t.vec_dot[type_slot(T_MXFP4)] = lt_vec_dot<lt_mxfp4, dot_vnni>;
    t.mat_dot[type_slot(T_IQ4_NL)] = lt_tiler<lt_iq4_nl, dot_vnni, 4, 3>::run;
    t.mat_dot[type_slot(T_MXFP4)] = lt_tiler<lt_mxfp4, dot_vnni, 4, 3>::run;
}

}  // namespace ggufpy
