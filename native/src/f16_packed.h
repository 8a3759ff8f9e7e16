// The packed F16 layout, shared by the F16 kernel files of the avx2 and avx512 tables (x86_avx2/f16_tile.cpp,
// x86_avx512/f16_tile.cpp): groups of 4 rows interleaved chunk by chunk, so that decode (one activation row,
// one chain per row of a group) and the prompt tiles (one group x a few activation rows) read each matrix
// as one linear stream. The file's rows read four at a time are four streams, which this machine's single
// core reads ~15% slower (microbenchmark from DRAM, 576-wide rows: 4 streams a quarter of a work item apart
// 25-27 GB/s, one interleaved stream 31 GB/s).
//
// Group g (rows 4g .. 4g + 3), chunk k (elements 16k .. 16k + 15): 4 x 16 halves, row 4g + r's at half 16 r;
// the last chunk zero past n, rows past n_rows zero. Also here: the loop over groups and activation rows and
// the table registration, around each ISA file's group tile. Plain C++ (no ISA), internal linkage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"

namespace ggufpy {
namespace {

constexpr int kF16Group = 4;
constexpr size_t kF16Chunk = 16;                            // elements per chunk
constexpr size_t kF16GroupHalves = kF16Chunk * kF16Group;   // per chunk of a group

size_t f16_chunks(size_t n) { return (n + kF16Chunk - 1) / kF16Chunk; }

size_t packed_bytes_f16(size_t n_rows, size_t n) {
    return (n_rows + kF16Group - 1) / kF16Group * f16_chunks(n) * kF16GroupHalves * sizeof(uint16_t);
}

void repack_f16(const void * src, size_t n_rows, size_t n, void * dst) {
    const size_t nk = f16_chunks(n);
    std::memset(dst, 0, packed_bytes_f16(n_rows, n));
    for (size_t row = 0; row < n_rows; ++row) {
        const uint16_t * x = (const uint16_t *)src + row * n;
        uint16_t * g = (uint16_t *)dst + row / kF16Group * nk * kF16GroupHalves + row % kF16Group * kF16Chunk;
        for (size_t k = 0; k < nk; ++k) {
            const size_t e = kF16Chunk * k, m = n - e < kF16Chunk ? n - e : kF16Chunk;
            std::memcpy(g + k * kF16GroupHalves, x + e, m * sizeof(uint16_t));
        }
    }
}

size_t prep_bytes_f16(size_t n) { return n * sizeof(float); }  // activations widened to float32

// Tile<C>::run(n, g, af, n16, out, os, nr): one packed group (4 rows from g) x C activation rows widened to
// float32 (af, stride n16 floats) -> out[c * os + r], r < nr (the ISA file's kernel); C = 1 is decode.
template <template <int> class Tile, int C>
void f16_group_cols(int nc, size_t n, const uint16_t * g, const float * af, size_t n16, float * out, size_t os, int nr) {
    if constexpr (C > 1) {
        if (nc < C) return f16_group_cols<Tile, C - 1>(nc, n, g, af, n16, out, os, nr);
    }
    Tile<C>::run(n, g, af, n16, out, os, nr);
}

// packed_dot: Cols activation rows at a time over all the groups (columns outer: ~5% faster prompts than
// rows outer, avx512).
template <template <int> class Tile, int Cols>
void packed_dot_f16(size_t n, const void * vw, size_t row0, int nr, const void * va, size_t as, int nc, float * out, size_t os) {
    const size_t gstride = f16_chunks(n) * kF16GroupHalves;
    const uint16_t * w = (const uint16_t *)vw + row0 / kF16Group * gstride;
    const size_t n16 = as / sizeof(float);
    for (int c0 = 0; c0 < nc; c0 += Cols) {
        const float * a = (const float *)((const uint8_t *)va + (size_t)c0 * as);
        for (int r0 = 0; r0 < nr; r0 += kF16Group)
            f16_group_cols<Tile, Cols>(nc - c0, n, w + (size_t)r0 / kF16Group * gstride, a, n16, out + (size_t)c0 * os + r0, os,
                                       nr - r0 < kF16Group ? nr - r0 : kF16Group);
    }
}

// mat_dot on the file's rows (the model with repacking off) and F16 activation rows: Cols of them at a time
// widened once (Prep), then Tiles::run (a tiler.h tiler of the ISA file's kernel) over all the weight rows.
template <class Tiles, int Cols, act_prep_fn Prep>
void mat_dot_f16(size_t n, const void * w, size_t ws, int nr, const void * va, size_t as, int nc, float * out, size_t os) {
    const uint8_t * a = (const uint8_t *)va;
    thread_local std::vector<float> buf;  // grows once per thread
    if (buf.size() < n * Cols) buf.resize(n * Cols);
    for (int c0 = 0; c0 < nc; c0 += Cols) {
        const int cc = nc - c0 < Cols ? nc - c0 : Cols;
        for (int c = 0; c < cc; ++c) Prep(a + (size_t)(c0 + c) * as, buf.data() + (size_t)c * n, n);
        Tiles::run(n, w, ws, nr, buf.data(), n * sizeof(float), cc, out + (size_t)c0 * os, os);
    }
}

// A table's F16 matmul entries: vec_dot and mat_dot on the file's rows, the packed form, and Prep (F16
// activation row -> float32, exact) as its act_prep.
// Tiles: the tiler of the file's rows (mat_dot), GroupTile: the packed groups' kernel.
template <class Tiles, template <int> class GroupTile, int Cols, act_prep_fn Prep>
void set_f16(kernel_table & t, vec_dot_fn dot) {
    t.vec_dot[type_slot(T_F16)] = dot;
    t.mat_dot[type_slot(T_F16)] = mat_dot_f16<Tiles, Cols, Prep>;
    repack_kernels & rk = t.repack[type_slot(T_F16)];
    rk.row_group = kF16Group;
    rk.packed_bytes = packed_bytes_f16;
    rk.repack = repack_f16;
    rk.packed_dot = packed_dot_f16<GroupTile, Cols>;
    t.act_prep[type_slot(T_F16)] = Prep;
    t.act_prep_bytes[type_slot(T_F16)] = prep_bytes_f16;
}

}  // namespace
}  // namespace ggufpy
