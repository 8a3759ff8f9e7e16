// Scalar dot products of a weight row with an activation row in the weight type's vec_dot_type
// (../shared/spec/formats.md §3), the activation converters (from_float) and the runtime's F16 / SiLU
// helpers. Ports of ggml-cpu's generic C (quants.c, vec.h; llama.cpp 0c1e570): integer sums per block,
// float32 scale products, float32 accumulation across blocks (F32/F16/BF16 rows accumulate in double, as
// ggml_float). These define the math the SIMD twins must reproduce to ~1e-6 relative. NF4 and TQ2_64 are
// ggufpy-private: their kernels here define the math in ggml's style.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "ggufpy/blocks.h"
#include "ggufpy/float_bits.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

inline float h2f(ggml_half h) { return fp16_to_fp32(h); }

// Round half to even for |x| < 2**22 (ggml's nearest_int); activations here are within +-127.5.
inline int round_even(float x) {
    const float v = x + 12582912.f;
    int i;
    std::memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

// ---- activation converters ---------------------------------------------------------------------

// x86 SIMD quantize_row_q8_0/q8_1 (ggml-cpu arch/x86/quants.c): d = amax / 127, id = 127 / amax,
// q = round-half-even(x * id). Returns d (float, before fp16 rounding); sum_q = Σ q.
inline float q8_block(const float * x, int8_t * qs, int & sum_q) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    sum_q = 0;
    for (int j = 0; j < 32; ++j) {
        const int q = round_even(x[j] * id);
        qs[j] = (int8_t)q;
        sum_q += q;
    }
    return d;
}

void from_float_q8_0_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q8_0 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        int s;
        y[i].d = fp32_to_fp16_numpy(q8_block(x, y[i].qs, s));
    }
}

void from_float_q8_1_generic(const float * x, void * vy, size_t n) {
    auto * y = (block_q8_1 *)vy;
    for (size_t i = 0; i < n / 32; ++i, x += 32) {
        int s;
        const float d = q8_block(x, y[i].qs, s);
        y[i].d = fp32_to_fp16_numpy(d);
        y[i].s = fp32_to_fp16_numpy(d * (float)s);
    }
}

void from_float_f32(const float * x, void * y, size_t n) { std::memcpy(y, x, n * sizeof(float)); }

// ---- dot products ----------------------------------------------------------------------------

float vec_dot_f32_generic(size_t n, const void * vw, const void * va) {
    const float * w = (const float *)vw;
    const float * a = (const float *)va;
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += (double)(w[i] * a[i]);
    return (float)sum;
}

float vec_dot_f16_generic(size_t n, const void * vw, const void * va) {
    const uint16_t * w = (const uint16_t *)vw;
    const uint16_t * a = (const uint16_t *)va;
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += (double)(h2f(w[i]) * h2f(a[i]));
    return (float)sum;
}

// BF16 weights x F32 activations (ggufpy's choice: ggml converts the activations to BF16); the products
// (exact in double) summed in double, the ggml_float of ggml_vec_dot_bf16's scalar path.
float vec_dot_bf16_generic(size_t n, const void * vw, const void * va) {
    const uint16_t * w = (const uint16_t *)vw;
    const float * a = (const float *)va;
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += (double)bf16_to_fp32(w[i]) * (double)a[i];
    return (float)sum;
}

float vec_dot_q8_0_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q8_0 *)vw;
    const auto * y = (const block_q8_0 *)va;
    float sumf = 0.0f;
    for (size_t ib = 0; ib < n / 32; ++ib) {
        int sumi = 0;
        for (int j = 0; j < 32; ++j) sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += (float)sumi * (h2f(x[ib].d) * h2f(y[ib].d));
    }
    return sumf;
}

float vec_dot_q4_0_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q4_0 *)vw;
    const auto * y = (const block_q8_0 *)va;
    float sumf = 0.0f;
    for (size_t ib = 0; ib < n / 32; ++ib) {
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            const int v0 = (x[ib].qs[j] & 0x0F) - 8;
            const int v1 = (x[ib].qs[j] >> 4) - 8;
            sumi += v0 * y[ib].qs[j] + v1 * y[ib].qs[j + 16];
        }
        sumf += (float)sumi * (h2f(x[ib].d) * h2f(y[ib].d));
    }
    return sumf;
}

float vec_dot_q4_1_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q4_1 *)vw;
    const auto * y = (const block_q8_1 *)va;
    float sumf = 0.0f;
    for (size_t ib = 0; ib < n / 32; ++ib) {
        int sumi = 0;
        for (int j = 0; j < 16; ++j) sumi += (x[ib].qs[j] & 0x0F) * y[ib].qs[j] + (x[ib].qs[j] >> 4) * y[ib].qs[j + 16];
        sumf += (h2f(x[ib].d) * h2f(y[ib].d)) * (float)sumi + h2f(x[ib].m) * h2f(y[ib].s);
    }
    return sumf;
}

float vec_dot_q5_0_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q5_0 *)vw;
    const auto * y = (const block_q8_0 *)va;
    float sumf = 0.0f;
    for (size_t ib = 0; ib < n / 32; ++ib) {
        uint32_t qh;
        std::memcpy(&qh, x[ib].qh, sizeof qh);
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            const int h0 = ((qh >> j) & 1) << 4;
            const int h1 = ((qh >> (j + 16)) & 1) << 4;
            sumi += (((x[ib].qs[j] & 0x0F) | h0) - 16) * y[ib].qs[j] + (((x[ib].qs[j] >> 4) | h1) - 16) * y[ib].qs[j + 16];
        }
        sumf += (float)sumi * (h2f(x[ib].d) * h2f(y[ib].d));
    }
    return sumf;
}

float vec_dot_q5_1_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q5_1 *)vw;
    const auto * y = (const block_q8_1 *)va;
    float sumf = 0.0f;
    for (size_t ib = 0; ib < n / 32; ++ib) {
        uint32_t qh;
        std::memcpy(&qh, x[ib].qh, sizeof qh);
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            const int h0 = ((qh >> j) & 1) << 4;
            const int h1 = ((qh >> (j + 16)) & 1) << 4;
            sumi += ((x[ib].qs[j] & 0x0F) | h0) * y[ib].qs[j] + ((x[ib].qs[j] >> 4) | h1) * y[ib].qs[j + 16];
        }
        sumf += (h2f(x[ib].d) * h2f(y[ib].d)) * (float)sumi + h2f(x[ib].m) * h2f(y[ib].s);
    }
    return sumf;
}

float vec_dot_iq4_nl_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_iq4_nl *)vw;
    const auto * y = (const block_q8_0 *)va;
    float sumf = 0.0f;
    for (size_t ib = 0; ib < n / 32; ++ib) {
        int sumi = 0;
        for (int j = 0; j < 16; ++j)
            sumi += kvalues_iq4nl[x[ib].qs[j] & 0x0F] * y[ib].qs[j] + kvalues_iq4nl[x[ib].qs[j] >> 4] * y[ib].qs[j + 16];
        sumf += (float)sumi * (h2f(x[ib].d) * h2f(y[ib].d));
    }
    return sumf;
}

// ggml_vec_dot_mxfp4_q8_0_generic: d = d_a * 2**(e - 128) (kvalues are E2M1 doubled).
float vec_dot_mxfp4_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_mxfp4 *)vw;
    const auto * y = (const block_q8_0 *)va;
    float sumf = 0.0f;
    for (size_t ib = 0; ib < n / 32; ++ib) {
        const float d = h2f(y[ib].d) * e8m0_to_fp32_half(x[ib].e);
        int sumi1 = 0, sumi2 = 0;
        for (int j = 0; j < 16; ++j) {
            sumi1 += y[ib].qs[j] * kvalues_mxfp4[x[ib].qs[j] & 0x0F];
            sumi2 += y[ib].qs[j + 16] * kvalues_mxfp4[x[ib].qs[j] >> 4];
        }
        sumf += d * (float)(sumi1 + sumi2);
    }
    return sumf;
}

// ---- ggufpy-private 64-element blocks x Q8_0 (two activation blocks per weight block) ----------------

// TQ2_64 (qs byte m: element 16p + m in bits 2p..2p+1, t in 0..2; y = (t - 1) * d): per 32 elements
// (planes 2h, 2h + 1) sumi = Σ (t - 1) * a, then sumf += sumi * (d_w * d_a), as Q4_0 x Q8_0.
float vec_dot_tq2_64_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_tq2_64 *)vw;
    const auto * y = (const block_q8_0 *)va;
    float sumf = 0.0f;
    for (size_t i = 0; i < n / 64; ++i) {
        const float d = h2f(x[i].d);
        for (int h = 0; h < 2; ++h) {
            const block_q8_0 & a = y[2 * i + h];
            int sumi = 0;
            for (int m = 0; m < 16; ++m) {
                const int t0 = (x[i].qs[m] >> (4 * h)) & 3, t1 = (x[i].qs[m] >> (4 * h + 2)) & 3;
                sumi += (t0 - 1) * a.qs[m] + (t1 - 1) * a.qs[m + 16];
            }
            sumf += (float)sumi * (d * h2f(a.d));
        }
    }
    return sumf;
}

// NF4 (block_nf4: float d, qs[32], low nibble = element j, high = element j + 32; y = nf4_code[q] * d)
// with the Q1.14 code book of blocks.h: per 32 elements sumi = Σ nf4_code_i16[q] * a, then
// sumf += sumi * ((d_w * 2**-14) * d_a). Off the true-codebook dot by <= 2**-15 * |d_w| * Σ|a| (blocks.h).
// |sumi| < 2**26, so (float)sumi may round (relative 2**-24, inside the vec_dot bound).
float vec_dot_nf4_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_nf4 *)vw;
    const auto * y = (const block_q8_0 *)va;
    float sumf = 0.0f;
    for (size_t i = 0; i < n / 64; ++i) {
        const float d = x[i].d * 0x1p-14f;  // exact while |d_w| >= 2**-112 (the product stays normal)
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < 32; ++j) {
            sumi0 += nf4_code_i16[x[i].qs[j] & 0x0F] * y[2 * i].qs[j];
            sumi1 += nf4_code_i16[x[i].qs[j] >> 4] * y[2 * i + 1].qs[j];
        }
        sumf += (float)sumi0 * (d * h2f(y[2 * i].d));
        sumf += (float)sumi1 * (d * h2f(y[2 * i + 1].d));
    }
    return sumf;
}

// K-quant 6-bit scale / min of sub-block j as ints (blocks.h get_scale_min_k4).
inline void scale_min_k4(int j, const uint8_t * q, int & d, int & m) {
    uint8_t d8, m8;
    get_scale_min_k4(j, q, &d8, &m8);
    d = d8;
    m = m8;
}

// Min term of Q4_K/Q5_K from bsums: Σ_g bsums[g] * m_{g/2}.
inline int k4_min_sum(const uint8_t * scales, const int16_t * bsums) {
    int s = 0;
    for (int j = 0; j < 8; ++j) {
        int sc, m;
        scale_min_k4(j, scales, sc, m);
        s += m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
    return s;
}

float vec_dot_q4_K_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q4_K *)vw;
    const auto * y = (const block_q8_K *)va;
    float sumf = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const uint8_t * q4 = x[i].qs;
        const int8_t * q8 = y[i].qs;
        int sumi = 0;
        for (int c = 0; c < 4; ++c, q4 += 32, q8 += 64) {  // 64 elements: low nibbles, then high nibbles
            int sc_lo, m_lo, sc_hi, m_hi;
            scale_min_k4(2 * c, x[i].scales, sc_lo, m_lo);
            scale_min_k4(2 * c + 1, x[i].scales, sc_hi, m_hi);
            int s_lo = 0, s_hi = 0;
            for (int l = 0; l < 32; ++l) {
                s_lo += (q4[l] & 0x0F) * q8[l];
                s_hi += (q4[l] >> 4) * q8[l + 32];
            }
            sumi += sc_lo * s_lo + sc_hi * s_hi;
        }
        const float d = h2f(x[i].d) * y[i].d;
        const float dmin = h2f(x[i].dmin) * y[i].d;
        sumf += d * (float)sumi - dmin * (float)k4_min_sum(x[i].scales, y[i].bsums);
    }
    return sumf;
}

float vec_dot_q5_K_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q5_K *)vw;
    const auto * y = (const block_q8_K *)va;
    float sumf = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const uint8_t * q4 = x[i].qs;
        const uint8_t * qh = x[i].qh;
        const int8_t * q8 = y[i].qs;
        int sumi = 0;
        for (int c = 0; c < 4; ++c, q4 += 32, q8 += 64) {
            int sc_lo, m_lo, sc_hi, m_hi;
            scale_min_k4(2 * c, x[i].scales, sc_lo, m_lo);
            scale_min_k4(2 * c + 1, x[i].scales, sc_hi, m_hi);
            int s_lo = 0, s_hi = 0;
            for (int l = 0; l < 32; ++l) {
                s_lo += ((q4[l] & 0x0F) | (((qh[l] >> (2 * c)) & 1) << 4)) * q8[l];
                s_hi += ((q4[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4)) * q8[l + 32];
            }
            sumi += sc_lo * s_lo + sc_hi * s_hi;
        }
        const float d = h2f(x[i].d) * y[i].d;
        const float dmin = h2f(x[i].dmin) * y[i].d;
        sumf += d * (float)sumi - dmin * (float)k4_min_sum(x[i].scales, y[i].bsums);
    }
    return sumf;
}

float vec_dot_q6_K_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q6_K *)vw;
    const auto * y = (const block_q8_K *)va;
    float sumf = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const uint8_t * ql = x[i].ql;
        const uint8_t * qh = x[i].qh;
        const int8_t * sc = x[i].scales;
        const int8_t * q8 = y[i].qs;
        int sumi = 0;
        for (int c = 0; c < 2; ++c, ql += 64, qh += 32, sc += 8, q8 += 128) {  // 128 elements per chunk
            int s[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // per 16-element group: l/16 + {0, 2, 4, 6}
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int v0 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int v1 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int v2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int v3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                s[is + 0] += v0 * q8[l];
                s[is + 2] += v1 * q8[l + 32];
                s[is + 4] += v2 * q8[l + 64];
                s[is + 6] += v3 * q8[l + 96];
            }
            for (int g = 0; g < 8; ++g) sumi += sc[g] * s[g];
        }
        sumf += (h2f(x[i].d) * y[i].d) * (float)sumi;
    }
    return sumf;
}

// ggml_vec_dot_q2_K_q8_K_generic: 16 sub-blocks of 16 (scale nibble sc & 0xF, min nibble sc >> 4); the
// min term from bsums. sumf += dall * isum - dmin * summs, both products float32 (no FMA).
float vec_dot_q2_K_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q2_K *)vw;
    const auto * y = (const block_q8_K *)va;
    float sumf = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const uint8_t * q2 = x[i].qs;
        const int8_t * q8 = y[i].qs;
        const uint8_t * sc = x[i].scales;
        int summs = 0;
        for (int j = 0; j < 16; ++j) summs += y[i].bsums[j] * (sc[j] >> 4);
        const float dall = y[i].d * h2f(x[i].d);
        const float dmin = y[i].d * h2f(x[i].dmin);
        int isum = 0;
        int is = 0;
        for (int k = 0; k < QK_K / 128; ++k, q2 += 32) {
            for (int shift = 0; shift < 8; shift += 2, q8 += 32) {  // plane: 32 elements at this shift
                for (int half = 0; half < 2; ++half) {
                    int isuml = 0;
                    for (int l = 16 * half; l < 16 * half + 16; ++l) isuml += q8[l] * ((q2[l] >> shift) & 3);
                    isum += (sc[is++] & 0xF) * isuml;
                }
            }
        }
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    return sumf;
}

// ggml_vec_dot_q3_K_q8_K_generic: q = low2 - (hmask bit ? 0 : 4); per 16 elements (scale_j - 32) * Σ q a,
// summed per lane l (element index mod 8) into aux32[8]; each block adds d * aux32[l] to float lane l, and
// the 8 lanes are summed at the end, in that order.
float vec_dot_q3_K_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_q3_K *)vw;
    const auto * y = (const block_q8_K *)va;
    float sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < n / QK_K; ++i) {
        int8_t aux8[QK_K];  // the 256 weights q in -4..3
        int8_t * a = aux8;
        const uint8_t * q3 = x[i].qs;
        const uint8_t * hm = x[i].hmask;
        uint8_t m = 1;
        for (int j = 0; j < QK_K; j += 128, q3 += 32)
            for (int shift = 0; shift < 8; shift += 2, m <<= 1, a += 32)
                for (int l = 0; l < 32; ++l) a[l] = (int8_t)(((q3[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
        uint8_t scales[16];
        get_scales_q3_K(x[i].scales, scales);
        int32_t aux32[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        const int8_t * q8 = y[i].qs;
        a = aux8;
        for (int j = 0; j < QK_K / 16; ++j)
            for (int h = 0; h < 2; ++h, q8 += 8, a += 8)
                for (int l = 0; l < 8; ++l) aux32[l] += (scales[j] - 32) * (q8[l] * a[l]);
        const float d = h2f(x[i].d) * y[i].d;
        for (int l = 0; l < 8; ++l) sums[l] += d * (float)aux32[l];
    }
    float sumf = 0.0f;
    for (int l = 0; l < 8; ++l) sumf += sums[l];
    return sumf;
}

// TQ1_0 trit n of a byte (formats.md §2.3): q = byte * 3**n mod 256, trit = (q * 3) >> 8.
inline int tq1_trit(uint8_t byte, uint8_t pow3) {
    const uint8_t q = (uint8_t)(byte * pow3);
    return (int)(((uint16_t)q * 3) >> 8);
}

// ggml_vec_dot_tq1_0_q8_K_generic: qs[0..32) hold elements m + 32n (n = 0..4), qs[32..48) elements
// 160 + m + 16n, qh[j] elements 240 + j + 4n (n = 0..3); sum of (trit - 1) * a, times d_w * d_a.
float vec_dot_tq1_0_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_tq1_0 *)vw;
    const auto * y = (const block_q8_K *)va;
    const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    float sumf = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        const int8_t * q8 = y[i].qs;
        int sum = 0;
        for (int l = 0; l < 5; ++l)
            for (int m = 0; m < 32; ++m) sum += (tq1_trit(x[i].qs[m], pow3[l]) - 1) * q8[l * 32 + m];
        for (int l = 0; l < 5; ++l)
            for (int m = 0; m < 16; ++m) sum += (tq1_trit(x[i].qs[32 + m], pow3[l]) - 1) * q8[160 + l * 16 + m];
        for (int l = 0; l < 4; ++l)
            for (int j = 0; j < 4; ++j) sum += (tq1_trit(x[i].qh[j], pow3[l]) - 1) * q8[240 + l * 4 + j];
        sumf += (float)sum * (h2f(x[i].d) * y[i].d);
    }
    return sumf;
}

// ggml_vec_dot_tq2_0_q8_K_generic: qs[32g + m] holds element 128g + 32l + m at bits 2l..2l+1.
float vec_dot_tq2_0_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_tq2_0 *)vw;
    const auto * y = (const block_q8_K *)va;
    float sumf = 0.0f;
    for (size_t i = 0; i < n / QK_K; ++i) {
        int32_t sumi = 0;
        for (int j = 0; j < 64; j += 32)
            for (int l = 0; l < 4; ++l)
                for (int k = 0; k < 32; ++k) sumi += y[i].qs[j * 4 + l * 32 + k] * (((x[i].qs[j + k] >> (l * 2)) & 3) - 1);
        const float d = y[i].d * h2f(x[i].d);
        sumf += (float)sumi * d;
    }
    return sumf;
}

// ggml_vec_dot_iq4_xs_q8_K_generic: 8 sub-blocks of 32, 6-bit scale ls (4 bits in scales_l, 2 in
// scales_h), y = d * (ls - 32) * kvalues_iq4nl[q]; sumf += (d_w * d_a * (ls - 32)) * Σ per sub-block.
float vec_dot_iq4_xs_generic(size_t n, const void * vw, const void * va) {
    const auto * x = (const block_iq4_xs *)vw;
    const auto * y = (const block_q8_K *)va;
    float sumf = 0.0f;
    for (size_t ibl = 0; ibl < n / QK_K; ++ibl) {
        const float d4d8 = h2f(x[ibl].d) * y[ibl].d;
        const uint8_t * qs = x[ibl].qs;
        const int8_t * q8 = y[ibl].qs;
        for (int ib = 0; ib < QK_K / 32; ++ib, qs += 16, q8 += 32) {
            const int ls = ((x[ibl].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((x[ibl].scales_h >> (2 * ib)) & 3) << 4);
            int sumi1 = 0, sumi2 = 0;
            for (int j = 0; j < 16; ++j) {
                sumi1 += q8[j] * kvalues_iq4nl[qs[j] & 0xF];
                sumi2 += q8[j + 16] * kvalues_iq4nl[qs[j] >> 4];
            }
            sumf += (d4d8 * (float)(ls - 32)) * (float)(sumi1 + sumi2);
        }
    }
    return sumf;
}

// ---- runtime helpers ---------------------------------------------------------------------------

float dot_f16_f32_generic(size_t n, const uint16_t * x, const float * y) {
    float sum = 0.0f;
    for (size_t i = 0; i < n; ++i) sum += h2f(x[i]) * y[i];
    return sum;
}

void mad_f16_generic(size_t n, float * y, const uint16_t * x, float a) {
    for (size_t i = 0; i < n; ++i) y[i] += a * h2f(x[i]);
}

void dot_f16_f32_rows_generic(size_t n, size_t rows, const uint16_t * x, size_t stride, const float * y, float * out) {
    for (size_t j = 0; j < rows; ++j) out[j] = dot_f16_f32_generic(n, x + j * stride, y);
}

void mad_f16_rows_generic(size_t n, size_t rows, float * y, const uint16_t * x, size_t stride, const float * a) {
    for (size_t j = 0; j < rows; ++j) mad_f16_generic(n, y, x + j * stride, a[j]);
}

void mad_f16_f16_generic(size_t n, uint16_t * y, const uint16_t * x, float a) {
    for (size_t i = 0; i < n; ++i) y[i] = fp32_to_fp16_numpy(h2f(y[i]) + h2f(x[i]) * a);
}

void scale_f16_generic(size_t n, uint16_t * y, float a) {
    for (size_t i = 0; i < n; ++i) y[i] = fp32_to_fp16_numpy(h2f(y[i]) * a);
}

void silu_mul_generic(size_t n, float * y, const float * g, const float * u) {
    for (size_t i = 0; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

}  // namespace

void fill_generic_vec_dot(kernel_table & t) {
    auto set = [&](uint32_t type, vec_dot_fn fn, uint32_t vdt) {
        t.vec_dot[type_slot(type)] = fn;
        t.vec_dot_type[type_slot(type)] = vdt;
    };
    set(T_F32, vec_dot_f32_generic, T_F32);
    set(T_F16, vec_dot_f16_generic, T_F16);
    set(T_Q8_0, vec_dot_q8_0_generic, T_Q8_0);
    set(T_Q4_0, vec_dot_q4_0_generic, T_Q8_0);
    set(T_Q4_1, vec_dot_q4_1_generic, T_Q8_1);
    set(T_Q5_0, vec_dot_q5_0_generic, T_Q8_0);
    set(T_Q5_1, vec_dot_q5_1_generic, T_Q8_1);
    set(T_IQ4_NL, vec_dot_iq4_nl_generic, T_Q8_0);
    set(T_Q4_K, vec_dot_q4_K_generic, T_Q8_K);
    set(T_Q5_K, vec_dot_q5_K_generic, T_Q8_K);
    set(T_Q6_K, vec_dot_q6_K_generic, T_Q8_K);
    set(T_MXFP4, vec_dot_mxfp4_generic, T_Q8_0);
    set(T_Q2_K, vec_dot_q2_K_generic, T_Q8_K);
    set(T_Q3_K, vec_dot_q3_K_generic, T_Q8_K);
    set(T_TQ1_0, vec_dot_tq1_0_generic, T_Q8_K);
    set(T_TQ2_0, vec_dot_tq2_0_generic, T_Q8_K);
    set(T_IQ4_XS, vec_dot_iq4_xs_generic, T_Q8_K);
    // ggufpy-private: no ggml rule; Q8_0, two activation blocks per 64-element weight block
    set(T_NF4, vec_dot_nf4_generic, T_Q8_0);
    set(T_TQ2_64, vec_dot_tq2_64_generic, T_Q8_0);
    set(T_BF16, vec_dot_bf16_generic, T_F32);

    t.from_float[type_slot(T_F32)] = from_float_f32;
    t.from_float[type_slot(T_F16)] = t.quantize[type_slot(T_F16)];  // numpy rule = F16C round-to-nearest-even
    t.from_float[type_slot(T_Q8_0)] = from_float_q8_0_generic;
    t.from_float[type_slot(T_Q8_1)] = from_float_q8_1_generic;
    t.from_float[type_slot(T_Q8_K)] = quantize_row_q8_K_generic;

    t.dot_f16_f32 = dot_f16_f32_generic;
    t.dot_f16 = vec_dot_f16_generic;
    t.mad_f16 = mad_f16_generic;
    t.dot_f16_f32_rows = dot_f16_f32_rows_generic;
    t.mad_f16_rows = mad_f16_rows_generic;
    t.mad_f16_f16 = mad_f16_f16_generic;
    t.scale_f16 = scale_f16_generic;
    t.silu_mul = silu_mul_generic;
}

}  // namespace ggufpy
