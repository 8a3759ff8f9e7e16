// Scalar dequantizers: the bit-exact twins of the numpy references in ggufpy/quants/ (which equal
// ggml's dequantize_row_*). Every product and sum is float32 in ggml's order; the build uses
// -ffp-contract=off so no FMA sneaks in.
#include <cstring>

#include "ggufpy/blocks.h"
#include "ggufpy/float_bits.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

// ---- legacy 32-blocks ---------------------------------------------------------------------------

void dequant_row_q4_0_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q4_0 *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < 16; ++j) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequant_row_q4_1_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q4_1 *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
        for (int j = 0; j < 16; ++j) {
            y[j] = (x[i].qs[j] & 0x0F) * d + m;
            y[j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

void dequant_row_q5_0_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q5_0 *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const float d = fp16_to_fp32(x[i].d);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; ++j) {
            const int x0 = ((x[i].qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16;
            const int x1 = ((x[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
            y[j] = x0 * d;
            y[j + 16] = x1 * d;
        }
    }
}

void dequant_row_q5_1_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q5_1 *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; ++j) {
            const int x0 = (x[i].qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10);
            const int x1 = (x[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
            y[j] = x0 * d + m;
            y[j + 16] = x1 * d + m;
        }
    }
}

void dequant_row_q8_0_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q8_0 *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < 32; ++j) y[j] = x[i].qs[j] * d;
    }
}

// ---- K-quants ------------------------------------------------------------------------------------

void dequant_row_q2_K_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q2_K *)vx;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
        const uint8_t * q = x[i].qs;
        int is = 0;
        for (int c = 0; c < QK_K; c += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; ++half) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l + 16 * half] >> shift) & 3) - ml;
                }
            }
        }
    }
}

void dequant_row_q3_K_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q3_K *)vx;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d_all = fp16_to_fp32(x[i].d);
        uint8_t scales[16];  // 6-bit scales, bias 32 (formats.md §2.2.5)
        get_scales_q3_K(x[i].scales, scales);
        const uint8_t * q = x[i].qs;
        const uint8_t * hm = x[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int c = 0; c < QK_K; c += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int half = 0; half < 2; ++half) {
                    const float dl = d_all * (scales[is++] - 32);
                    for (int l = 16 * half; l < 16 * half + 16; ++l)
                        *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
            }
        }
    }
}

void dequant_row_q4_K_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q4_K *)vx;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
        const uint8_t * q = x[i].qs;
        for (int is = 0; is < 8; is += 2, q += 32) {
            uint8_t sc, m;
            get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void dequant_row_q5_K_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q5_K *)vx;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
        const uint8_t * ql = x[i].qs;
        const uint8_t * qh = x[i].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

void dequant_row_q6_K_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q6_K *)vx;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const uint8_t * ql = x[i].ql;
        const uint8_t * qh = x[i].qh;
        const int8_t * sc = x[i].scales;
        for (int c = 0; c < QK_K; c += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

void dequant_row_q8_K_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_q8_K *)vx;
    for (size_t i = 0; i < n / QK_K; ++i, y += QK_K)
        for (int j = 0; j < QK_K; ++j) y[j] = x[i].d * x[i].qs[j];
}

// ---- ternary -------------------------------------------------------------------------------------

static inline float tq1_trit(uint8_t byte, uint8_t pow3) {
    const uint8_t q = (uint8_t)(byte * pow3);
    return (float)((int)(((uint16_t)q * 3) >> 8) - 1);
}

void dequant_row_tq1_0_generic(const void * vx, float * y, size_t n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const auto * x = (const block_tq1_0 *)vx;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int p = 0; p < 5; ++p)
            for (int m = 0; m < 32; ++m) *y++ = tq1_trit(x[i].qs[m], pow3[p]) * d;
        for (int p = 0; p < 5; ++p)
            for (int m = 0; m < 16; ++m) *y++ = tq1_trit(x[i].qs[32 + m], pow3[p]) * d;
        for (int p = 0; p < 4; ++p)
            for (int j = 0; j < 4; ++j) *y++ = tq1_trit(x[i].qh[j], pow3[p]) * d;
    }
}

void dequant_row_tq2_0_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_tq2_0 *)vx;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < 64; j += 32)
            for (int l = 0; l < 4; ++l)
                for (int m = 0; m < 32; ++m) *y++ = (float)(((x[i].qs[j + m] >> (2 * l)) & 3) - 1) * d;
    }
}

void dequant_row_tq2_64_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_tq2_64 *)vx;
    for (size_t i = 0; i < n / 64; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int l = 0; l < 4; ++l)
            for (int m = 0; m < 16; ++m) *y++ = (float)(((x[i].qs[m] >> (2 * l)) & 3) - 1) * d;
    }
}

// ---- code-book types -----------------------------------------------------------------------------

void dequant_row_iq4_nl_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_iq4_nl *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < 16; ++j) {
            y[j] = d * kvalues_iq4nl[x[i].qs[j] & 0xF];
            y[j + 16] = d * kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

void dequant_row_iq4_xs_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_iq4_xs *)vx;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const uint8_t * qs = x[i].qs;
        for (int ib = 0; ib < 8; ++ib, y += 32, qs += 16) {
            const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
            const float dl = d * (ls - 32);
            for (int j = 0; j < 16; ++j) {
                y[j] = dl * kvalues_iq4nl[qs[j] & 0xF];
                y[j + 16] = dl * kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

void dequant_row_mxfp4_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_mxfp4 *)vx;
    for (size_t i = 0; i < n / 32; ++i, y += 32) {
        const float d = e8m0_to_fp32_half(x[i].e);
        for (int j = 0; j < 16; ++j) {
            y[j] = kvalues_mxfp4[x[i].qs[j] & 0xF] * d;
            y[j + 16] = kvalues_mxfp4[x[i].qs[j] >> 4] * d;
        }
    }
}

void dequant_row_nf4_generic(const void * vx, float * y, size_t n) {
    const auto * x = (const block_nf4 *)vx;
    for (size_t i = 0; i < n / 64; ++i, y += 64) {
        const float d = x[i].d;
        for (int j = 0; j < 32; ++j) {
            y[j] = nf4_code[x[i].qs[j] & 0xF] * d;
            y[j + 32] = nf4_code[x[i].qs[j] >> 4] * d;
        }
    }
}

void dequant_row_f32_generic(const void * vx, float * y, size_t n) { std::memcpy(y, vx, n * sizeof(float)); }
void dequant_row_f16_generic(const void * vx, float * y, size_t n) { fp16_to_fp32_row_generic((const uint16_t *)vx, y, n); }
void dequant_row_bf16_generic(const void * vx, float * y, size_t n) { bf16_to_fp32_row_generic((const uint16_t *)vx, y, n); }

block_layout layout_of(uint32_t type) {
    switch (type) {
        case T_F32: return {1, 4};
        case T_F16: case T_BF16: return {1, 2};
        case T_Q4_0: return {32, 18};
        case T_Q4_1: return {32, 20};
        case T_Q5_0: return {32, 22};
        case T_Q5_1: return {32, 24};
        case T_Q8_0: return {32, 34};
        case T_Q8_1: return {32, 36};
        case T_Q2_K: return {QK_K, 84};
        case T_Q3_K: return {QK_K, 110};
        case T_Q4_K: return {QK_K, 144};
        case T_Q5_K: return {QK_K, 176};
        case T_Q6_K: return {QK_K, 210};
        case T_Q8_K: return {QK_K, 292};
        case T_TQ1_0: return {QK_K, 54};
        case T_TQ2_0: return {QK_K, 66};
        case T_IQ4_NL: return {32, 18};
        case T_IQ4_XS: return {QK_K, 136};
        case T_MXFP4: return {32, 17};
        case T_NF4: return {64, 36};
        case T_TQ2_64: return {64, 18};
        default: return {0, 0};
    }
}

}  // namespace ggufpy

namespace ggufpy {

void fill_generic(kernel_table & t) {
    t.fp16_to_fp32 = fp16_to_fp32_row_generic;
    t.bf16_to_fp32 = bf16_to_fp32_row_generic;
    auto set = [&](uint32_t type, dequant_row_fn fn) { t.dequant[type_slot(type)] = fn; };
    set(T_F32, dequant_row_f32_generic);
    set(T_F16, dequant_row_f16_generic);
    set(T_BF16, dequant_row_bf16_generic);
    set(T_Q4_0, dequant_row_q4_0_generic);
    set(T_Q4_1, dequant_row_q4_1_generic);
    set(T_Q5_0, dequant_row_q5_0_generic);
    set(T_Q5_1, dequant_row_q5_1_generic);
    set(T_Q8_0, dequant_row_q8_0_generic);
    set(T_Q2_K, dequant_row_q2_K_generic);
    set(T_Q3_K, dequant_row_q3_K_generic);
    set(T_Q4_K, dequant_row_q4_K_generic);
    set(T_Q5_K, dequant_row_q5_K_generic);
    set(T_Q6_K, dequant_row_q6_K_generic);
    set(T_Q8_K, dequant_row_q8_K_generic);
    set(T_TQ1_0, dequant_row_tq1_0_generic);
    set(T_TQ2_0, dequant_row_tq2_0_generic);
    set(T_IQ4_NL, dequant_row_iq4_nl_generic);
    set(T_IQ4_XS, dequant_row_iq4_xs_generic);
    set(T_MXFP4, dequant_row_mxfp4_generic);
    set(T_NF4, dequant_row_nf4_generic);
    set(T_TQ2_64, dequant_row_tq2_64_generic);
    fill_generic_quantize(t);
}

}  // namespace ggufpy
