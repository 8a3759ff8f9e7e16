// Scalar half/bfloat16 decoding, shared by the generic kernels and the SIMD tails.
//
// fp16 -> fp32 follows numpy's npy_halfbits_to_floatbits exactly: NaN payloads are shifted, never
// quieted (F16C's vcvtph2ps quiets signalling NaNs, so SIMD paths patch NaN lanes with this rule).
#pragma once

#include <cstdint>
#include <cstring>

namespace ggufpy {

inline float bits_to_f32(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

inline uint32_t fp16_to_fp32_bits(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = h & 0x7c00u;
    uint32_t man = h & 0x03ffu;
    if (exp == 0x7c00u) return sign | 0x7f800000u | (man << 13);           // inf / NaN
    if (exp != 0) return sign | (((exp >> 10) + 112u) << 23) | (man << 13);  // normal: rebias 15 -> 127
    if (man == 0) return sign;                                               // +-0
    // subnormal: normalise the mantissa
    int e = 113;
    while (!(man & 0x0400u)) { man <<= 1; --e; }
    return sign | ((uint32_t)e << 23) | ((man & 0x03ffu) << 13);
}

inline float fp16_to_fp32(uint16_t h) { return bits_to_f32(fp16_to_fp32_bits(h)); }
inline float bf16_to_fp32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

// MXFP4's E8M0 scale halved, 2**(e - 128) (ggml_e8m0_to_fp32_half; halved because kvalues_mxfp4 are the
// E2M1 values doubled). e < 2 gives the float32 denormals 2**-128 and 2**-127; e = 255 is not NaN here.
inline float e8m0_to_fp32_half(uint8_t e) { return bits_to_f32(e < 2 ? (0x00200000u << e) : ((uint32_t)(e - 1) << 23)); }

}  // namespace ggufpy
