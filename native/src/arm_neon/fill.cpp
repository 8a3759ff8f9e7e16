// NEON table: the float converters; dequantizers fall back to the generic kernels for now.
#include "ggufpy/kernels.h"

namespace ggufpy {

void fill_neon(kernel_table & t) {
    t.fp16_to_fp32 = fp16_to_fp32_row_neon;
    t.bf16_to_fp32 = bf16_to_fp32_row_neon;
}

}  // namespace ggufpy
