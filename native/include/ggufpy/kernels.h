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

struct kernel_table {
    const char * isa;               // "generic", "avx2", "avx512", "neon"
    fp16_to_fp32_fn fp16_to_fp32;   // exact, NaN payloads preserved (numpy's rule, not F16C's quieting)
    bf16_to_fp32_fn bf16_to_fp32;   // exact: u32 = h << 16
};

// ---- generic (always built) ----
void fp16_to_fp32_row_generic(const uint16_t * src, float * dst, size_t n);
void bf16_to_fp32_row_generic(const uint16_t * src, float * dst, size_t n);

#if defined(GGUFPY_HAVE_X86)
void fp16_to_fp32_row_avx2(const uint16_t * src, float * dst, size_t n);
void bf16_to_fp32_row_avx2(const uint16_t * src, float * dst, size_t n);
void fp16_to_fp32_row_avx512(const uint16_t * src, float * dst, size_t n);
void bf16_to_fp32_row_avx512(const uint16_t * src, float * dst, size_t n);
#endif

#if defined(GGUFPY_HAVE_NEON)
void fp16_to_fp32_row_neon(const uint16_t * src, float * dst, size_t n);
void bf16_to_fp32_row_neon(const uint16_t * src, float * dst, size_t n);
#endif

}  // namespace ggufpy
