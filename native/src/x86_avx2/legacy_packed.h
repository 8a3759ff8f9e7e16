// The frame of the packed 32-element types (Q4_0, Q5_0, Q8_0, NF4), shared by x86_avx2/legacy_packed.cpp
// (groups of 8 rows, one per ymm int32 lane) and x86_avx512vnni/legacy_packed.cpp (groups of 16, zmm):
// the packed layout, the repacking, the prepared activations, the loop over tiles and vec_dot. Each file
// includes this, then defines its type traits and its tile kernel (Tile below); both are compiled with
// AVX2 at least (the activation prep uses it). Everything here has internal linkage.
//
// Packed layout: panels of Panel groups of Group rows (the decode kernel reads a panel as one linear
// stream). Panel p, block b (b = 0 .. nb-1): the groups' scales, then their chunk 0, chunk 1, ..:
//   [d: g0 g1 ..][chunk 0: g0 g1 ..][chunk 1: g0 g1 ..] ..
// Scales first because the kernels read them first: with the scales at the block's end, each block began
// with a load 2 KB ahead and went back, and the decode stream ran well below the read bandwidth (1.1B-shaped
// model, tokens/s, 1 thread: Q4_0 ~32 -> ~43, Q8_0 ~16.6 -> ~18.6, NF4 ~33 -> ~37; 2 threads: Q4_0 ~37 -> ~58,
// Q8_0 ~23.7 -> ~26.7; medians of 3-4 alternating runs, avx512vnni). A packed block holds T::halves
// activation blocks' worth of weights (NF4: 2, one scale), each as T::chunks chunks of T::chunk_bytes per
// group (what a chunk holds: the traits of each file), and T::d_bytes of scales per group. Rows past
// n_rows (padding) are zero: d = 0, so they contribute 0 and are never stored.
//
// Prepared activations (act_prep, from Q8_0 rows): per block {float d, int32 sum = Σ q_a, int8 qs[32]}.
//
// Arithmetic, per (weight row, activation row) pair, activation blocks in order from acc = 0:
//   isum = Σ q_w q_a over the block (exact; how: each file's traits)
//   acc  = fma(d_w * d_a, float(isum), acc)     (d_w, d_a as float; float(isum) rounds only for NF4)
// vec_dot below evaluates the same single chain with scalar FMA on the file's rows (T::half_isum), so
// decode (one row), the tiles and vec_dot agree bitwise, and the tables agree with each other.
#pragma once

#include <immintrin.h>

#include <cstring>

#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

struct q8p_block {
    float d;
    int32_t sum;
    int8_t qs[32];
};
static_assert(sizeof(q8p_block) == 40, "prepared Q8_0 block");

inline int hsum_i32x8(__m256i s) {
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_unpackhi_epi64(h, h));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 1));
    return _mm_cvtsi128_si32(h);
}

size_t prep_bytes_q8_0(size_t n) { return n / 32 * sizeof(q8p_block); }

void prep_q8_0(const void * src, void * dst, size_t n) {
    const auto * x = (const block_q8_0 *)src;
    auto * y = (q8p_block *)dst;
    for (size_t b = 0; b < n / 32; ++b) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)x[b].qs);
        y[b].d = _cvtsh_ss(x[b].d);
        y[b].sum = hsum_i32x8(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1)));
        _mm256_storeu_si256((__m256i *)y[b].qs, q);
    }
}

// f16 block scales (first member d of the block), 2 bytes per row.
template <class W, int Group>
struct pk_f16_scale_of {
    static constexpr int d_bytes = 2 * Group;
    static void pack_scale(const W & b, int r, uint8_t * d) { std::memcpy(d + 2 * r, &b.d, 2); }
    static float row_scale(const W & b) { return _cvtsh_ss(b.d); }
};

// NF4 (64 elements, two activation blocks; one float32 scale d * 2**-14 per row, for the Q1.14 code book
// blocks.h nf4_code_i16): chunks 0..3 hold elements 0..31, chunks 4..7 elements 32..63, each half in
// Q4_0's nibble order (code-book indices: dword r of chunk m = elements 4m..4m+3 in the low nibbles,
// 16+4m..16+4m+3 in the high ones). The file's byte i holds elements i and i + 32, so repacking moves
// nibbles: half h of a block in that order, byte i = element 32h + i | element 32h + 16 + i << 4.
inline void nf4_half_q4(const block_nf4 & b, int h, uint8_t out[16]) {
    auto nib = [&](int e) { return e < 32 ? b.qs[e] & 0x0F : b.qs[e - 32] >> 4; };
    for (int i = 0; i < 16; ++i) out[i] = (uint8_t)(nib(32 * h + i) | nib(32 * h + 16 + i) << 4);
}

template <int Group>
struct pk_nf4_frame {
    using wblock = block_nf4;
    static constexpr int halves = 2, chunks = 4, chunk_bytes = 4 * Group, d_bytes = 4 * Group;
    static float row_scale(const wblock & b) { return b.d * 0x1p-14f; }  // code book in Q1.14
    static void pack_scale(const wblock & b, int r, uint8_t * d) {
        const float s = row_scale(b);
        std::memcpy(d + 4 * r, &s, 4);
    }
    static void pack_row(const wblock & b, int r, uint8_t * p, size_t stride) {
        for (int h = 0; h < 2; ++h) {
            uint8_t q[16];
            nf4_half_q4(b, h, q);
            for (int m = 0; m < 4; ++m) std::memcpy(p + (4 * h + m) * stride + 4 * r, q + 4 * m, 4);
        }
    }
};

// Where group g's scales and chunk 0 of block 0 are; chunk k is k * chunk_stride further, block b
// b * block_bytes further. Chunk k of the panel's groups lie together, so the decode kernel (scales, then
// chunk by chunk over the panel's groups) reads each block front to back.
template <class T, int Group, int Panel>
struct layout {
    static constexpr size_t qs_bytes = (size_t)T::halves * T::chunks * T::chunk_bytes;  // per group and block
    static constexpr size_t block_bytes = Panel * (qs_bytes + T::d_bytes);
    static constexpr size_t chunk_stride = Panel * T::chunk_bytes;
    static_assert(block_bytes % 64 == 0, "packed blocks keep the matrix's 64-byte alignment");
    static const uint8_t * qs(const uint8_t * w, size_t nb, size_t g) {
        return w + g / Panel * nb * block_bytes + Panel * T::d_bytes + g % Panel * T::chunk_bytes;
    }
    static const uint8_t * d(const uint8_t * w, size_t nb, size_t g) {
        return w + g / Panel * nb * block_bytes + g % Panel * T::d_bytes;
    }
};

template <class T, int Group, int Panel>
size_t packed_bytes(size_t n_rows, size_t n) {
    constexpr size_t rows = Panel * Group;
    return (n_rows + rows - 1) / rows * (n / (32 * T::halves)) * layout<T, Group, Panel>::block_bytes;
}

template <class T, int Group, int Panel>
void repack(const void * src, size_t n_rows, size_t n, void * dst) {
    using W = typename T::wblock;
    using L = layout<T, Group, Panel>;
    const size_t nb = n / (32 * T::halves);
    std::memset(dst, 0, packed_bytes<T, Group, Panel>(n_rows, n));
    for (size_t row = 0; row < n_rows; ++row) {
        const size_t g = row / Group;
        const int r = (int)(row % Group);
        uint8_t * qs = (uint8_t *)L::qs((const uint8_t *)dst, nb, g);
        uint8_t * d = (uint8_t *)L::d((const uint8_t *)dst, nb, g);
        const W * x = (const W *)src + row * nb;
        for (size_t b = 0; b < nb; ++b) {
            T::pack_row(x[b], r, qs + b * L::block_bytes, L::chunk_stride);
            T::pack_scale(x[b], r, d + b * L::block_bytes);
        }
    }
}

// Tile<T, G, C>::run(nb, w, g0, a, out, out_stride, nr): G groups from global group g0 x C activation rows
// (out[c * out_stride + r], r < nr). Any group count x activation rows: tiles of at most GMAX x CMAX, edges
// with smaller instantiations.
template <template <class, int, int> class Tile, class T, int G, int C>
void run_gc(size_t nb, const uint8_t * w, size_t g0, const q8p_block * const * a, float * out, size_t os, int nr, int ng,
            int nc) {
    if constexpr (G > 1) {
        if (ng < G) return run_gc<Tile, T, G - 1, C>(nb, w, g0, a, out, os, nr, ng, nc);
    }
    if constexpr (C > 1) {
        if (nc < C) return run_gc<Tile, T, G, C - 1>(nb, w, g0, a, out, os, nr, ng, nc);
    }
    Tile<T, G, C>::run(nb, w, g0, a, out, os, nr);
}

template <template <class, int, int> class Tile, class T, int Group, int Panel, int GMAX, int CMAX>
void packed_dot(size_t n, const void * vw, size_t row0, int nr, const void * va, size_t as, int nc, float * out, size_t os) {
    const size_t nb = n / (32 * T::halves);
    const uint8_t * w = (const uint8_t *)vw;
    const int n_groups = (nr + Group - 1) / Group;
    constexpr int G1 = T::decode_panels * Panel;  // one activation row: whole panels, each read front to back
    const int gstep = nc == 1 ? G1 : GMAX;
    for (int g0 = 0; g0 < n_groups; g0 += gstep) {
        const int ng = n_groups - g0 < gstep ? n_groups - g0 : gstep;
        for (int c0 = 0; c0 < nc; c0 += CMAX) {
            const int ncc = nc - c0 < CMAX ? nc - c0 : CMAX;
            const q8p_block * a[CMAX];
            for (int c = 0; c < ncc; ++c) a[c] = (const q8p_block *)((const uint8_t *)va + (size_t)(c0 + c) * as);
            float * o = out + (size_t)c0 * os + (size_t)g0 * Group;
            const size_t wg = row0 / Group + (size_t)g0;  // global index of the tile's first group
            const int nrr = nr - g0 * Group;
            if (nc == 1)
                run_gc<Tile, T, G1, 1>(nb, w, wg, a, o, os, nrr, ng, 1);
            else
                run_gc<Tile, T, GMAX, CMAX>(nb, w, wg, a, o, os, nrr, ng, ncc);
        }
    }
}

// vec_dot on the file's rows and Q8_0 activations: the packed kernels' per-pair arithmetic (header), one
// activation block at a time, each prepared on the fly.
template <class T>
float vec_dot(size_t n, const void * vw, const void * va) {
    using W = typename T::wblock;
    const W * x = (const W *)vw;
    const block_q8_0 * y = (const block_q8_0 *)va;
    __m128 acc = _mm_setzero_ps();
    for (size_t b = 0; b < n / (32 * T::halves); ++b) {
        const float dw = T::row_scale(x[b]);
        for (int h = 0; h < T::halves; ++h) {
            q8p_block ab;
            prep_q8_0(&y[b * T::halves + h], &ab, 32);
            const int isum = T::half_isum(x[b], h, ab);
            const __m128 d = _mm_mul_ss(_mm_set_ss(dw), _mm_set_ss(ab.d));
            acc = _mm_fmadd_ss(d, _mm_cvtsi32_ss(_mm_setzero_ps(), isum), acc);
        }
    }
    return _mm_cvtss_f32(acc);
}

template <template <class, int, int> class Tile, class T, int Group, int Panel, int GMAX, int CMAX>
repack_kernels packed_kernels_of() {
    repack_kernels k;
    k.row_group = Panel * Group;
    k.packed_bytes = packed_bytes<T, Group, Panel>;
    k.repack = repack<T, Group, Panel>;
    k.packed_dot = packed_dot<Tile, T, Group, Panel, GMAX, CMAX>;
    return k;
}

// Register type's packed form in a table: its kernels, the vec_dot with the same arithmetic, no row tiles
// (the packed form replaces them; with repacking off the model loops over vec_dot), and the activation prep.
template <class T>
void set_packed(kernel_table & t, uint32_t type, const repack_kernels & k) {
    t.repack[type_slot(type)] = k;
    t.vec_dot[type_slot(type)] = vec_dot<T>;
    t.mat_dot[type_slot(type)] = nullptr;
    t.act_prep[type_slot(T_Q8_0)] = prep_q8_0;
    t.act_prep_bytes[type_slot(T_Q8_0)] = prep_bytes_q8_0;
}

}  // namespace

}  // namespace ggufpy
