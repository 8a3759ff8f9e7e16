// Block structs of every type with a native kernel. Byte layouts mirror ggml-common.h (and, for the
// ggufpy-private NF4 / TQ2_64, ggufpy/quants/nf4.py and ternary.py); each size is static_asserted
// and tests/quants/test_layout.py checks them against ggufpy.format.constants.QUANT_SIZES.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ggufpy {

constexpr int QK_K = 256;
using ggml_half = uint16_t;

struct block_q4_0 { ggml_half d; uint8_t qs[16]; };
struct block_q4_1 { ggml_half d; ggml_half m; uint8_t qs[16]; };
struct block_q5_0 { ggml_half d; uint8_t qh[4]; uint8_t qs[16]; };
struct block_q5_1 { ggml_half d; ggml_half m; uint8_t qh[4]; uint8_t qs[16]; };
struct block_q8_0 { ggml_half d; int8_t qs[32]; };
struct block_q8_1 { ggml_half d; ggml_half s; int8_t qs[32]; };
struct block_q2_K { uint8_t scales[16]; uint8_t qs[64]; ggml_half d; ggml_half dmin; };
struct block_q3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; ggml_half d; };
struct block_q4_K { ggml_half d; ggml_half dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct block_q5_K { ggml_half d; ggml_half dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct block_q6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; ggml_half d; };
struct block_q8_K { float d; int8_t qs[256]; int16_t bsums[16]; };
struct block_tq1_0 { uint8_t qs[48]; uint8_t qh[4]; ggml_half d; };
struct block_tq2_0 { uint8_t qs[64]; ggml_half d; };
struct block_iq4_nl { ggml_half d; uint8_t qs[16]; };
struct block_iq4_xs { ggml_half d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; };
struct block_mxfp4 { uint8_t e; uint8_t qs[16]; };
// ggufpy-private
struct block_nf4 { float d; uint8_t qs[32]; };        // 64 weights: y = NF4_CODE[q] * d
struct block_tq2_64 { uint8_t qs[16]; ggml_half d; };  // 64 ternary weights: y = (q - 1) * d

static_assert(sizeof(block_q4_0) == 18, "q4_0");
static_assert(sizeof(block_q4_1) == 20, "q4_1");
static_assert(sizeof(block_q5_0) == 22, "q5_0");
static_assert(sizeof(block_q5_1) == 24, "q5_1");
static_assert(sizeof(block_q8_0) == 34, "q8_0");
static_assert(sizeof(block_q8_1) == 36, "q8_1");
static_assert(sizeof(block_q2_K) == 84, "q2_K");
static_assert(sizeof(block_q3_K) == 110, "q3_K");
static_assert(sizeof(block_q4_K) == 144, "q4_K");
static_assert(sizeof(block_q5_K) == 176, "q5_K");
static_assert(sizeof(block_q6_K) == 210, "q6_K");
static_assert(sizeof(block_q8_K) == 292, "q8_K");
static_assert(sizeof(block_tq1_0) == 54, "tq1_0");
static_assert(sizeof(block_tq2_0) == 66, "tq2_0");
static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl");
static_assert(sizeof(block_iq4_xs) == 136, "iq4_xs");
static_assert(sizeof(block_mxfp4) == 17, "mxfp4");
static_assert(sizeof(block_nf4) == 36, "nf4");
static_assert(sizeof(block_tq2_64) == 18, "tq2_64");

// Type ids (ggml.h; private ids from ggufpy/format/constants.py).
enum ggml_type_id : uint32_t {
    T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8, T_Q8_1 = 9,
    T_Q2_K = 10, T_Q3_K = 11, T_Q4_K = 12, T_Q5_K = 13, T_Q6_K = 14, T_Q8_K = 15, T_IQ4_NL = 20,
    T_IQ4_XS = 23, T_BF16 = 30, T_TQ1_0 = 34, T_TQ2_0 = 35, T_MXFP4 = 39,
    T_NF4 = 0x47500001u, T_TQ2_64 = 0x47500002u,
};

// Q4_K/Q5_K 6-bit scale and min of sub-block j (0..7) from the 12 ``scales`` bytes (ggml get_scale_min_k4):
// j < 4: low 6 bits of bytes j / j+4; j >= 4: low/high nibble of byte j+4 plus the top 2 bits of j-4 / j.
inline void get_scale_min_k4(int j, const uint8_t * q, uint8_t * d, uint8_t * m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

// Q3_K's 16 6-bit scales (stored +32) from the 12 packed ``scales`` bytes (formats.md §2.2.5; ggml's kmask
// dance in ggml_vec_dot_q3_K_q8_K): out[j] = (low nibble of byte j % 8, j < 8 low / j >= 8 high) | (2 bits of
// byte 8 + j % 4 at 2 * (j / 4)) << 4, in 0..63 (the caller subtracts 32).
inline void get_scales_q3_K(const uint8_t * packed, uint8_t * out) {
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    uint32_t aux[4];
    std::memcpy(aux, packed, 12);
    const uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    std::memcpy(out, aux, 16);
}

// ---- code books: what a 4-bit index decodes to --------------------------------------------------------

// ggml-common.h kvalues_iq4nl (IQ4_NL, IQ4_XS): y = d * kvalues_iq4nl[q].
inline constexpr int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
// ggml-common.h kvalues_mxfp4: the E2M1 values doubled (hence ggml's e8m0 "half" scale).
inline constexpr int8_t kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
// bitsandbytes NF4 (ggufpy/quants/nf4.py NF4_CODE, float32): y = nf4_code[q] * d.
inline constexpr float nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};
// NF4 in Q1.14 fixed point for the integer NF4 x Q8_0 dot: nf4_code_i16[q] = round(nf4_code[q] * 2**14)
// (ggufpy/quants/nf4.py NF4_CODE_I16; no entry is near a tie, so every rounding rule agrees). Hence
// |nf4_code_i16[q] * 2**-14 - nf4_code[q]| <= 2**-15 (measured max 0.42 * 2**-14), and a dot with this
// table is off the true-codebook dot by at most 2**-15 * |d_w| * sum |a| on top of the activations'
// Q8_0 rounding. |entry| <= 2**14, so 32 products with |a| <= 127 sum to < 2**26: int32 is safe.
inline constexpr int16_t nf4_code_i16[16] = {
    -16384, -11406, -8603, -6470, -4660, -3027, -1492, 0, 1304, 2637, 4032, 5536, 7221, 9218, 11845, 16384,
};
constexpr bool nf4_code_i16_is_rounded_code() {
    for (int i = 0; i < 16; ++i) {
        const double s = (double)nf4_code[i] * 16384.0;
        if (s - nf4_code_i16[i] > 0.5 || nf4_code_i16[i] - s > 0.5) return false;
    }
    return true;
}
static_assert(nf4_code_i16_is_rounded_code(), "nf4_code_i16 must be round(nf4_code * 2**14)");

// (block_size, type_size) of the types above, {0, 0} for others.
struct block_layout { int block_size; int type_size; };
block_layout layout_of(uint32_t type);

}  // namespace ggufpy
