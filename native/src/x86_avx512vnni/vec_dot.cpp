// AVX-512 VNNI dot products: the legacy-type kernels of x86_avx2/legacy_tile.h with vpdpbusd on ymm
// registers (AVX512-VNNI + AVX512-VL) as the integer step, and 4 x 3 tiles (the 32 ymm registers of
// AVX-512 hold the 24 accumulators, two chains per pair; measured best on SmolLM2). Registered as ISA "avx512vnni" (dispatch.cpp) only when the CPU
// reports avx512_vnni on top of the avx512 table's requirements; everything else is inherited.
//
// Why 256-bit: on Zen 4 (which executes 512-bit ops as two 256-bit halves) the zmm form of these kernels
// measured slower, because two 32-element blocks per zmm need cross-lane shuffles for the nibbles and
// the per-block scales; the ymm form holds one block per register and needs none.
#include <immintrin.h>

#include "../x86_avx2/legacy_tile.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

struct dot_vnni {
    static inline __m256i dot(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }
};

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
}

}  // namespace ggufpy
