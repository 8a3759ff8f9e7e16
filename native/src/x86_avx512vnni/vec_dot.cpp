// AVX-512 VNNI dot products: the legacy-type kernels of x86_avx2/legacy_tile.h with vpdpbusd on ymm
// registers (AVX512-VNNI + AVX512-VL) as the integer step, and 4 x 3 tiles (the 32 ymm registers of
// AVX-512 hold the 24 accumulators, two chains per pair; measured best on SmolLM2; the legacy types gain
// 5-10%); Q4_0, Q8_0 and NF4 are packed at load instead (legacy_packed.cpp). Registered as ISA "avx512vnni" (dispatch.cpp) only when the CPU reports avx512_vnni on
// top of the avx512 table's requirements; Q4_K, Q5_K, Q6_K are x86_avx2/kquant_tile.h's kernels with
// vpdpwssd (madd and add in one) as the integer step; everything else (Q2_K, Q3_K, ternary, TQ2_64) is
// inherited.
//
// Why 256-bit: on Zen 4 (which executes 512-bit ops as two 256-bit halves) the zmm form of these kernels
// measured slower, because two 32-element blocks per zmm need cross-lane shuffles for the nibbles and
// the per-block scales; the ymm form holds one block per register and needs none.
#include <immintrin.h>

#include "../x86_avx2/kquant_tile.h"
#include "../x86_avx2/legacy_tile.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

struct dot_vnni {
    static inline __m256i dot(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }
};

// The K-quants' integer step (kquant_tile.h's Dot): vpdpwssd folds the scale madd and the add into one.
struct kq_vnni {
    static inline __m256i madd_acc(__m256i acc, __m256i x, __m256i y) { return _mm256_dpwssd_epi32(acc, x, y); }
};

}  // namespace

void fill_avx512vnni(kernel_table & t) {
    t.vec_dot[type_slot(T_Q4_1)] = lt_vec_dot<lt_q4_1, dot_vnni>;
    t.mat_dot[type_slot(T_Q4_1)] = lt_tiler<lt_q4_1, dot_vnni, 4, 3>::run;
    t.vec_dot[type_slot(T_Q5_1)] = lt_vec_dot<lt_q5_1, dot_vnni>;
    t.mat_dot[type_slot(T_Q5_1)] = lt_tiler<lt_q5_1, dot_vnni, 4, 3>::run;
    t.vec_dot[type_slot(T_IQ4_NL)] = lt_vec_dot<lt_iq4_nl, dot_vnni>;
    t.vec_dot[type_slot(T_MXFP4)] = lt_vec_dot<lt_mxfp4, dot_vnni>;
    t.mat_dot[type_slot(T_IQ4_NL)] = lt_tiler<lt_iq4_nl, dot_vnni, 4, 3>::run;
    t.mat_dot[type_slot(T_MXFP4)] = lt_tiler<lt_mxfp4, dot_vnni, 4, 3>::run;
    // Q4_0, Q5_0, Q8_0, NF4: packed at load (legacy_packed.cpp), with their own vec_dot
    fill_avx512vnni_packed(t);
    // K-quants: 4 x 4 tiles (16 accumulator pairs of the 32 ymm registers; measured best on the
    // TinyLlama-shaped rows, 2048 and 5632 wide); vec_dot is the 1 x 1 tile (a zmm form, two groups per
    // instruction, measured 15% slower: the per-super-block scale unpack, not the multiplies, bounds it)
    t.vec_dot[type_slot(T_Q4_K)] = kq_vec_dot<kq_q4_K, kq_vnni>;
    t.vec_dot[type_slot(T_Q5_K)] = kq_vec_dot<kq_q5_K, kq_vnni>;
    t.vec_dot[type_slot(T_Q6_K)] = kq_vec_dot<kq_q6_K, kq_vnni>;
    t.mat_dot[type_slot(T_Q4_K)] = kq_tiler<kq_q4_K, kq_vnni, 4, 4>::run;
    t.mat_dot[type_slot(T_Q5_K)] = kq_tiler<kq_q5_K, kq_vnni, 4, 4>::run;
    t.mat_dot[type_slot(T_Q6_K)] = kq_tiler<kq_q6_K, kq_vnni, 4, 4>::run;
    fill_avx512vnni_kquant_packed(t);  // Q4_K, Q6_K, TQ2_0 packed at load (kquant_packed.cpp)
}

}  // namespace ggufpy
