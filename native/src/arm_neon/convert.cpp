// NEON float converters (AArch64). Built only on aarch64; not exercised on x86 CI machines.
#include <arm_neon.h>

#include "ggufpy/float_bits.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

void fp16_to_fp32_row_neon(const uint16_t * src, float * dst, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint16x4_t h = vld1_u16(src + i);
        const uint32x4_t w = vmovl_u16(h);
        uint32x4_t f = vreinterpretq_u32_f32(vcvt_f32_f16(vreinterpret_f16_u16(h)));
        // NaN lanes: numpy's rule (payload << 13, no quieting)
        const uint32x4_t man = vandq_u32(w, vdupq_n_u32(0x03ff));
        const uint32x4_t is_nan = vandq_u32(vceqq_u32(vandq_u32(w, vdupq_n_u32(0x7c00)), vdupq_n_u32(0x7c00)),
                                            vmvnq_u32(vceqq_u32(man, vdupq_n_u32(0))));
        const uint32x4_t nan = vorrq_u32(vorrq_u32(vshlq_n_u32(vandq_u32(w, vdupq_n_u32(0x8000)), 16),
                                                   vdupq_n_u32(0x7f800000)), vshlq_n_u32(man, 13));
        f = vbslq_u32(is_nan, nan, f);
        vst1q_f32(dst + i, vreinterpretq_f32_u32(f));
    }
    for (; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

void bf16_to_fp32_row_neon(const uint16_t * src, float * dst, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(src + i), 16)));
    for (; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

}  // namespace ggufpy
