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
// The same over rows x_j = x + j * stride, j < rows, with per-row (per-element) arithmetic identical to
// dot_f16_f32 / mad_f16 (the prompt flash attention's q . k_j and acc += e_j v_j, without a call per key):
// out[j] = dot_f16_f32(n, x_j, y); for j in order: mad_f16(n, y, x_j, a[j]).
using dot_f16_f32_rows_fn = void (*)(size_t n, size_t rows, const uint16_t * x, size_t stride, const float * y, float * out);
using mad_f16_rows_fn = void (*)(size_t n, size_t rows, float * y, const uint16_t * x, size_t stride, const float * a);
// F16 accumulators (ggml_vec_mad_f16 / ggml_vec_scale_f16, the decode flash-attention path):
// y[i] = f16(y[i] + a * x[i]) and y[i] = f16(y[i] * a), rounding to nearest even.
using mad_f16_f16_fn = void (*)(size_t n, uint16_t * y, const uint16_t * x, float a);
using scale_f16_fn = void (*)(size_t n, uint16_t * y, float a);
// y[i] = silu(g[i]) * u[i] = g / (1 + expf(-g)) * u (ggml_silu_f32 then ggml_mul), n floats; y may be g.
using silu_mul_fn = void (*)(size_t n, float * y, const float * g, const float * u);
// The prompt flash attention (64+ query rows) for a tile of nq <= kAttendTileRows query rows sharing one KV
// head: row i (q[i], hd floats) attends keys j < n_keys[i] (n_keys[i] >= 1; K/V rows of hd halves at
// K + j * kv_stride, V + j * kv_stride), out[i] = sum_j softmax_j(scale * q[i] . k_j) v_j (hd floats), with
// an online softmax over blocks of kAttendTileKeys keys. A row's floats do not depend on the other rows of
// the tile (nor on threads). scratch: attend_tile_scratch_floats(hd) floats. nullptr in a table: the
// model's row-at-a-time kernel (dot_f16_f32_rows / mad_f16_rows).
constexpr int kAttendTileRows = 32;
constexpr int kAttendTileKeys = 32;
// (scratch layout: src/attend_tile.h)
constexpr size_t attend_tile_scratch_floats(size_t hd) {
    return 2 * hd * kAttendTileRows + (size_t)kAttendTileKeys * kAttendTileRows + 2 * (size_t)kAttendTileKeys * hd;
}
using attend_tile_fn = void (*)(int hd, int nq, const float * const * q, const int * n_keys, const uint16_t * K,
                                const uint16_t * V, size_t kv_stride, float scale, float * scratch, float * const * out);

// ---- load-time repacking (optional, per weight type) ----
// A weight matrix may be rewritten once at load into a kernel-private layout ("packed"): rows in groups of
// row_group (the last group zero-padded), each group's blocks interleaved so one vector holds several
// rows. The packed form replaces the file's rows for that matrix (same size up to padding). Its matmul
// reads activations converted from the vec_dot_type rows by act_prep[activation type] (a per-block layout
// private to the kernels of that ISA, e.g. with the block sums). Contract as mat_dot: for every (row,
// activation row) pair packed_dot gives bitwise the float vec_dot gives on the original row and the
// vec_dot_type row, whether nc is 1 (decode) or more (prompt).
//   packed_bytes(n_rows, n): bytes of the packed form (a multiple of 64; allocate 64-byte aligned).
//   repack(src, n_rows, n, dst): src = n_rows raw rows of n elements (contiguous).
//   packed_dot(n, w, row0, nr, a, a_stride, nc, out, out_stride): rows [row0, row0 + nr) of the packed
//     matrix w (row0 a multiple of row_group) x nc prepared activation rows a + c * a_stride ->
//     out[c * out_stride + r], r < nr.
using packed_bytes_fn = size_t (*)(size_t n_rows, size_t n);
using repack_fn = void (*)(const void * src, size_t n_rows, size_t n, void * dst);
using packed_dot_fn = void (*)(size_t n, const void * w, size_t row0, int nr, const void * a, size_t a_stride, int nc,
                               float * out, size_t out_stride);
struct repack_kernels {
    int row_group = 0;  // 0: the type has no packed form in this table
    packed_bytes_fn packed_bytes = nullptr;
    repack_fn repack = nullptr;
    packed_dot_fn packed_dot = nullptr;
};
// Activation rows (vec_dot_type, n elements, raw blocks) -> the packed kernels' activation layout.
using act_prep_fn = void (*)(const void * src, void * dst, size_t n);
using act_prep_bytes_fn = size_t (*)(size_t n);  // bytes of one prepared row of n elements

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
    repack_kernels repack[N_TYPE_SLOTS];     // by weight type; row_group 0: not packed (mat_dot / vec_dot)
    act_prep_fn act_prep[N_TYPE_SLOTS];      // by activation type: what packed_dot reads (nullptr: none)
    act_prep_bytes_fn act_prep_bytes[N_TYPE_SLOTS];
    from_float_fn from_float[N_TYPE_SLOTS];  // by activation type (F32, F16, Q8_0, Q8_1, Q8_K)
    dot_f16_f32_fn dot_f16_f32;
    vec_dot_fn dot_f16;  // F16 x F16, n halves: the decode flash attention's q . k (kept apart from
                         // vec_dot[F16], whose summation order the matmul tiles of a table may choose)
    mad_f16_fn mad_f16;
    dot_f16_f32_rows_fn dot_f16_f32_rows;
    mad_f16_rows_fn mad_f16_rows;
    mad_f16_f16_fn mad_f16_f16;
    scale_f16_fn scale_f16;
    silu_mul_fn silu_mul;
    attend_tile_fn attend_tile;  // nullptr: none (see attend_tile_fn)
};

// Fill a table: the generic one has every kernel; each ISA overrides what it accelerates and keeps
// the rest (ggml's arch-fallback idea, done with data).
void fill_generic(kernel_table & t);
void fill_generic_quantize(kernel_table & t);  // the quantizers of fill_generic (generic/quantize.cpp)
void fill_generic_vec_dot(kernel_table & t);  // generic/vec_dot.cpp: every vec_dot + vec_dot_type
#if defined(GGUFPY_HAVE_X86)
void fill_avx2(kernel_table & t);
void fill_avx2_vec_dot(kernel_table & t);      // x86_avx2/vec_dot.cpp
void fill_avx2_kquant_packed(kernel_table & t);  // x86_avx2/kquant_packed.cpp (packed Q4_K, Q6_K, TQ2_0)
void fill_avx2_legacy_packed(kernel_table & t);  // x86_avx2/legacy_packed.cpp (packed Q4_0, Q5_0, Q8_0, NF4)
void fill_avx2_attention(kernel_table & t);    // x86_avx2/attention.cpp (attend_tile)
void fill_avx2_f16(kernel_table & t);          // x86_avx2/f16_tile.cpp (F16 dot + tiles, packed F16)
void fill_avx512(kernel_table & t);
void fill_avx512_vec_dot(kernel_table & t);    // x86_avx512/vec_dot.cpp (activation converters)
void fill_avx512vnni(kernel_table & t);        // x86_avx512vnni/vec_dot.cpp (vpdpbusd)
void fill_avx512vnni_packed(kernel_table & t);  // x86_avx512vnni/legacy_packed.cpp (packed Q4_0, Q8_0)
void fill_avx512vnni_kquant_packed(kernel_table & t);  // x86_avx512vnni/kquant_packed.cpp (packed Q4_K, Q6_K, TQ2_0)
void fill_avx512_f16(kernel_table & t);        // x86_avx512/f16_tile.cpp (F16 dot + tiles)
void fill_avx512_attention(kernel_table & t);  // x86_avx512/attention.cpp (attend_tile)
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
