// Scalar float converters: the bit-exact twins of numpy's float16/bfloat16 casts.
#include <cstring>

#include "ggufpy/kernels.h"
#include "ggufpy/float_bits.h"

namespace ggufpy {

void fp16_to_fp32_row_generic(const uint16_t * src, float * dst, size_t n) {
    for (size_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

void bf16_to_fp32_row_generic(const uint16_t * src, float * dst, size_t n) {
    for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

}  // namespace ggufpy
