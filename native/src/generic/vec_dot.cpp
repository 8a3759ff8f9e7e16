// Scalar dot products of a weight row with an activation row in the weight type's vec_dot_type
// (../shared/spec/formats.md §3), the activation converters (from_float) and the runtime's F16 / SiLU
// helpers. Ports of ggml-cpu's generic C (quants.c, vec.h; llama.cpp 0c1e570): integer sums per block,
// float32 scale products, float32 accumulation across blocks (F32/F16 rows accumulate in double, as
// ggml_float). These define the math the SIMD twins must reproduce to ~1e-6 relative.
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

const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

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

// ---- runtime helpers ---------------------------------------------------------------------------

float dot_f16_f32_generic(size_t n, const uint16_t * x, const float * y) {
    float sum = 0.0f;
    for (size_t i = 0; i < n; ++i) sum += h2f(x[i]) * y[i];
    return sum;
}

void mad_f16_generic(size_t n, float * y, const uint16_t * x, float a) {
    for (size_t i = 0; i < n; ++i) y[i] += a * h2f(x[i]);
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

// ---- weight types without an integer kernel yet (Q2_K, Q3_K, ternary, NF4, MXFP4, IQ4_XS, BF16) ----------
// The activations stay float32 (vec_dot_type F32); each weight block is decoded with its bit-exact
// dequantizer and the products are summed in double, so the result is the float64 dot of the
// dequantized row rounded once. Correct for every type, slower than an integer kernel.
void dequant_row_q2_K_generic(const void *, float *, size_t);
void dequant_row_q3_K_generic(const void *, float *, size_t);
void dequant_row_tq1_0_generic(const void *, float *, size_t);
void dequant_row_tq2_0_generic(const void *, float *, size_t);
void dequant_row_tq2_64_generic(const void *, float *, size_t);
void dequant_row_iq4_xs_generic(const void *, float *, size_t);
void dequant_row_mxfp4_generic(const void *, float *, size_t);
void dequant_row_nf4_generic(const void *, float *, size_t);

template <dequant_row_fn Dequant, int QK, int TYPE_SIZE>
static float vec_dot_via_f32_generic(size_t n, const void * vw, const void * va) {
    const uint8_t * w = (const uint8_t *)vw;
    const float * a = (const float *)va;
    float buf[QK];
    double sum = 0.0;
    for (size_t i = 0; i < n; i += QK, w += TYPE_SIZE) {
        Dequant(w, buf, QK);
        for (int j = 0; j < QK; ++j) sum += (double)buf[j] * (double)a[i + j];
    }
    return (float)sum;
}

static float vec_dot_bf16_generic(size_t n, const void * vw, const void * va) {
    const uint16_t * w = (const uint16_t *)vw;
    const float * a = (const float *)va;
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += (double)bf16_to_fp32(w[i]) * (double)a[i];
    return (float)sum;
}

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
    set(T_Q2_K, vec_dot_via_f32_generic<dequant_row_q2_K_generic, QK_K, 84>, T_F32);
    set(T_Q3_K, vec_dot_via_f32_generic<dequant_row_q3_K_generic, QK_K, 110>, T_F32);
    set(T_TQ1_0, vec_dot_via_f32_generic<dequant_row_tq1_0_generic, QK_K, 54>, T_F32);
    set(T_TQ2_0, vec_dot_via_f32_generic<dequant_row_tq2_0_generic, QK_K, 66>, T_F32);
    set(T_IQ4_XS, vec_dot_via_f32_generic<dequant_row_iq4_xs_generic, QK_K, 136>, T_F32);
    set(T_MXFP4, vec_dot_via_f32_generic<dequant_row_mxfp4_generic, 32, 17>, T_F32);
    set(T_NF4, vec_dot_via_f32_generic<dequant_row_nf4_generic, 64, 36>, T_F32);
    set(T_TQ2_64, vec_dot_via_f32_generic<dequant_row_tq2_64_generic, 64, 18>, T_F32);
    set(T_BF16, vec_dot_bf16_generic, T_F32);

    t.from_float[type_slot(T_F32)] = from_float_f32;
    t.from_float[type_slot(T_F16)] = t.quantize[type_slot(T_F16)];  // numpy rule = F16C round-to-nearest-even
    t.from_float[type_slot(T_Q8_0)] = from_float_q8_0_generic;
    t.from_float[type_slot(T_Q8_1)] = from_float_q8_1_generic;
    t.from_float[type_slot(T_Q8_K)] = quantize_row_q8_K_generic;

    t.dot_f16_f32 = dot_f16_f32_generic;
    t.mad_f16 = mad_f16_generic;
    t.mad_f16_f16 = mad_f16_f16_generic;
    t.scale_f16 = scale_f16_generic;
    t.silu_mul = silu_mul_generic;
}

}  // namespace ggufpy
