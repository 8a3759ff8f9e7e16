// Kernel signatures and the per-ISA function table.
//
// Contract for every kernel here: raw pointers, element counts; no allocation, no exceptions, no
// validation (bindings/module.cpp validates). Inputs and outputs must not alias. Thread-safe: kernels
// keep no state. Each ISA's implementation lives in src/<isa>/ and is compiled with that ISA's flags
// only; dispatch.cpp registers a table for an ISA only when cpu_features says the CPU can run it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ggufpy {

// Row converters: n elements from src to dst.
using fp16_to_fp32_fn = void (*)(const uint16_t * src, float * dst, size_t n);
using bf16_to_fp32_fn = void (*)(const uint16_t * src, float * dst, size_t n);
// Dequantize n elements (a whole number of blocks) of raw block bytes to float32.
using dequant_row_fn = void (*)(const void * src, float * dst, size_t n);
// Quantize n float32 elements (a whole number of blocks) to raw block bytes; bit-identical to the numpy
// reference's quantize_blocks (which equals ggml's quantize_row_*_ref).
using quantize_row_fn = void (*)(const float * src, void * dst, size_t n);
// Dot product of one weight row (n elements of the weight type, raw blocks) with one activation row
// already converted to that type's vec_dot_type (../shared/spec/formats.md §3); n a whole number of
// blocks. Summation order is the kernel's own: results agree with an exact float64 dot to ~1e-6 relative
// (NF4 plus its Q1.14 code book's rounding, blocks.h nf4_code_i16).
using vec_dot_fn = float (*)(size_t n, const void * w, const void * a);
// A tile of dot products: out[c * out_stride + r] = vec_dot(n, w + r * w_stride, a + c * a_stride) for
// r < nr, c < nc (any sizes >= 1). Unpacks each weight block and converts each scale once per tile.
using mat_dot_fn = void (*)(size_t n, const void * w, size_t w_stride, int nr, const void * a, size_t a_stride, int nc,
                            float * out, size_t out_stride);
// Float32 activations -> a vec_dot_type (F32 copy, F16, Q8_0, Q8_1, Q8_K), as ggml's CPU from_float:
// Q8_0/Q8_1 with the x86 SIMD rule (id = 127/amax, round half to even; Q8_1 s = fp16(d * sum q)), Q8_K
// with quantize_row_q8_K_ref. n a whole number of blocks of that type.
using from_float_fn = void (*)(const float * src, void * dst, size_t n);
// Runtime helpers on the F16 KV cache: dot of n halves with n floats; y[i] += a * x[i] over n halves.
using dot_f16_f32_fn = float (*)(size_t n, const uint16_t * x, const float * y);
using mad_f16_fn = void (*)(size_t n, float * y, const uint16_t * x, float a);
// F16 accumulators (ggml_vec_mad_f16 / ggml_vec_scale_f16, the decode flash-attention path):
// y[i] = f16(y[i] + a * x[i]) and y[i] = f16(y[i] * a), rounding to nearest even.
using mad_f16_f16_fn = void (*)(size_t n, uint16_t * y, const uint16_t * x, float a);
using scale_f16_fn = void (*)(size_t n, uint16_t * y, float a);
// y[i] = silu(g[i]) * u[i] = g / (1 + expf(-g)) * u (ggml_silu_f32 then ggml_mul), n floats; y may be g.
using silu_mul_fn = void (*)(size_t n, float * y, const float * g, const float * u);

// Table slot of a type id: ggml ids 0..42 map to themselves, the ggufpy-private ids follow.
constexpr int N_TYPE_SLOTS = 45;
int type_slot(uint32_t type);  // -1 if the id has no slot

struct kernel_table {
    const char * isa;               // "generic", "avx2", "avx512", "neon"
    fp16_to_fp32_fn fp16_to_fp32;   // exact, NaN payloads preserved (numpy's rule, not F16C's quieting)
    bf16_to_fp32_fn bf16_to_fp32;   // exact: u32 = h << 16
    dequant_row_fn dequant[N_TYPE_SLOTS];  // nullptr: no kernel for that type
    quantize_row_fn quantize[N_TYPE_SLOTS];  // nullptr: no kernel for that type
    vec_dot_fn vec_dot[N_TYPE_SLOTS];        // by weight type; nullptr: no matmul kernel for that type
    mat_dot_fn mat_dot[N_TYPE_SLOTS];        // by weight type; nullptr: loop over vec_dot
    uint32_t vec_dot_type[N_TYPE_SLOTS];     // by weight type: the activation type vec_dot expects
    from_float_fn from_float[N_TYPE_SLOTS];  // by activation type (F32, F16, Q8_0, Q8_1, Q8_K)
    dot_f16_f32_fn dot_f16_f32;
    mad_f16_fn mad_f16;
    mad_f16_f16_fn mad_f16_f16;
    scale_f16_fn scale_f16;
    silu_mul_fn silu_mul;
};

// Fill a table: the generic one has every kernel; each ISA overrides what it accelerates and keeps
// the rest (ggml's arch-fallback idea, done with data).
void fill_generic(kernel_table & t);
void fill_generic_quantize(kernel_table & t);  // the quantizers of fill_generic (generic/quantize.cpp)
void fill_generic_vec_dot(kernel_table & t);  // generic/vec_dot.cpp: every vec_dot + vec_dot_type
#if defined(GGUFPY_HAVE_X86)
void fill_avx2(kernel_table & t);
void fill_avx2_vec_dot(kernel_table & t);      // x86_avx2/vec_dot.cpp
void fill_avx512(kernel_table & t);
void fill_avx512_vec_dot(kernel_table & t);    // x86_avx512/vec_dot.cpp (activation converters)
void fill_avx512vnni(kernel_table & t);        // x86_avx512vnni/vec_dot.cpp (vpdpbusd)
#endif
#if defined(GGUFPY_HAVE_NEON)
void fill_neon(kernel_table & t);
#endif

// ---- generic (always built) ----
void fp16_to_fp32_row_generic(const uint16_t * src, float * dst, size_t n);
void bf16_to_fp32_row_generic(const uint16_t * src, float * dst, size_t n);
// Quantizers a SIMD kernel falls back to for blocks it does not handle itself (e.g. NaN input).
void quantize_row_q8_0_generic(const float * src, void * dst, size_t n);
void quantize_row_q8_K_generic(const float * src, void * dst, size_t n);
// float32 -> half bits by numpy's astype(float16) rule (RNE; NaN payload kept, not quieted).
uint16_t fp32_to_fp16_numpy(float x);

#if defined(GGUFPY_HAVE_X86)
void fp16_to_fp32_row_avx2(const uint16_t * src, float * dst, size_t n);
void bf16_to_fp32_row_avx2(const uint16_t * src, float * dst, size_t n);
void fp16_to_fp32_row_avx512(const uint16_t * src, float * dst, size_t n);
void bf16_to_fp32_row_avx512(const uint16_t * src, float * dst, size_t n);
void quantize_row_q8_0_avx512(const float * src, void * dst, size_t n);
void quantize_row_q8_K_avx512(const float * src, void * dst, size_t n);
void quantize_row_f16_avx512(const float * src, void * dst, size_t n);
#endif

#if defined(GGUFPY_HAVE_NEON)
void fp16_to_fp32_row_neon(const uint16_t * src, float * dst, size_t n);
void bf16_to_fp32_row_neon(const uint16_t * src, float * dst, size_t n);
#endif

}  // namespace ggufpy
