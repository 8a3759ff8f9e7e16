// AVX-512 activation converters for the matmul (F16 and Q8_K, from x86_avx512/quantize.cpp). The dot
// products of the avx512 table are the AVX2 ones (x86_avx2/vec_dot.cpp): without VNNI, 512-bit maddubs
// kernels bought nothing over them; the avx512vnni table adds vpdpbusd.
#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

void fill_avx512_vec_dot(kernel_table & t) {
    t.from_float[type_slot(T_F16)] = quantize_row_f16_avx512;
    t.from_float[type_slot(T_Q8_K)] = quantize_row_q8_K_avx512;
}

}  // namespace ggufpy
