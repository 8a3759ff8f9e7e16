// Block structs of every type with a native kernel. Byte layouts mirror ggml-common.h (and, for the
// ggufpy-private NF4 / TQ2_64, ggufpy/quants/nf4.py and ternary.py); each size is static_asserted
// and tests/quants/test_layout.py checks them against ggufpy.format.constants.QUANT_SIZES.
#pragma once

#include <cstddef>
#include <cstdint>

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

// (block_size, type_size) of the types above, {0, 0} for others.
struct block_layout { int block_size; int type_size; };
block_layout layout_of(uint32_t type);

}  // namespace ggufpy
