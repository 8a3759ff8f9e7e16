// F16 weights x F16 activations (ggml's vec_dot_type for F16) with AVX2 + F16C, for the avx2 table (the
// avx512 tables have their own, x86_avx512/f16_tile.cpp): a dot (vec_dot), tiles of R weight rows x C
// activation rows on the file's rows (mat_dot, for the model with repacking off) and on the packed form
// (f16_packed.h: groups of 4 rows interleaved chunk by chunk; packed_dot, decode and prompts).
//
// Arithmetic, per (weight row, activation row) pair: one 8-lane accumulator, acc = fma(w[8k..], a[8k..],
// acc) for k = 0, 1, ... in order, the last partial step's missing elements zero in both operands (fma(0,
// 0, acc) = acc); the result is f16_hsum8(acc), one fixed lane order. vec_dot and the tiles (on activations
// widened to float32 beforehand, which is exact) evaluate exactly this, so a token's logits do not depend
// on the batch it is in. One chain per pair is what lets a tile hold 12 pairs in the 16 ymm registers; the
// flash-attention dots keep the four-chain vec_dot_f16_avx2 (kernel_table::dot_f16).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"
#include "../f16_packed.h"
#include "tiler.h"

namespace ggufpy {

namespace {

inline __m256 load8(const uint16_t * p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

// The first m < 8 halves of p, zero after.
inline __m256 load8_part(const uint16_t * p, size_t m) {
    uint16_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(t, p, m * sizeof(uint16_t));
    return load8(t);
}

inline __m256i part_mask(size_t m) {  // lanes 0 .. m-1 set (m < 8)
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// 8 lanes -> 1 in a fixed order: halves added pairwise (4 + 4, 2 + 2, 1 + 1).
inline float f16_hsum8(__m256 v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

float vec_dot_f16_1chain(size_t n, const void * vw, const void * va) {
    const uint16_t * w = (const uint16_t *)vw;
    const uint16_t * a = (const uint16_t *)va;
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(load8(w + i), load8(a + i), acc);
    if (i < n) acc = _mm256_fmadd_ps(load8_part(w + i, n - i), load8_part(a + i, n - i), acc);
    return f16_hsum8(acc);
}

// out[c * os + r], r < nr, for R weight rows x C activation rows already widened to float32 (af, stride n16
// floats). Element e of row r is at w + r * row_step + (e / 16) * chunk_step + e % 16 halves: the file's rows
// (row_step n, chunk_step 16) or a packed group (16, 64). Activations held, weights one row at a time:
// C + 1 + R * C registers (4 x 3: 16).
template <int R, int C>
void f16_tile(size_t n, const uint16_t * w, size_t row_step, size_t chunk_step, const float * af, size_t n16, float * out,
              size_t os, int nr) {
    __m256 acc[R][C];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16_t * p = w + i / kF16Chunk * chunk_step + i % kF16Chunk;
        __m256 av[C];
        for (int c = 0; c < C; ++c) av[c] = _mm256_loadu_ps(af + (size_t)c * n16 + i);
        for (int r = 0; r < R; ++r) {
            const __m256 wv = load8(p + r * row_step);
            for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(wv, av[c], acc[r][c]);
        }
    }
    if (i < n) {
        const uint16_t * p = w + i / kF16Chunk * chunk_step + i % kF16Chunk;
        const __m256i m = part_mask(n - i);
        __m256 av[C];
        for (int c = 0; c < C; ++c) av[c] = _mm256_maskload_ps(af + (size_t)c * n16 + i, m);
        for (int r = 0; r < R; ++r) {
            const __m256 wv = load8_part(p + r * row_step, n - i);
            for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(wv, av[c], acc[r][c]);
        }
    }
    for (int c = 0; c < C; ++c)
        for (int r = 0; r < nr; ++r) out[(size_t)c * os + r] = f16_hsum8(acc[r][c]);
}

void prep_f16(const void * src, void * dst, size_t n) { fp16_to_fp32_row_avx2((const uint16_t *)src, (float *)dst, n); }

constexpr int kCols = 3;  // activation rows per tile

// f16_tile on the file's rows, as tiler.h's Tile (a and as in bytes).
template <int R, int C>
struct f16_tile_f32 {
    static void run(size_t n, const uint8_t * w, size_t ws, const uint8_t * a, size_t as, float * out, size_t os) {
        f16_tile<R, C>(n, (const uint16_t *)w, ws / sizeof(uint16_t), kF16Chunk, (const float *)a, as / sizeof(float), out, os, R);
    }
};
using f16_tiles = tiler<f16_tile_f32, 4, kCols>;

// f16_tile on one packed group (f16_packed.h's Tile).
template <int C>
struct f16_group_tile {
    static void run(size_t n, const uint16_t * g, const float * af, size_t n16, float * out, size_t os, int nr) {
        f16_tile<kF16Group, C>(n, g, kF16Chunk, kF16GroupHalves, af, n16, out, os, nr);
    }
};

}  // namespace

void fill_avx2_f16(kernel_table & t) { set_f16<f16_tiles, f16_group_tile, kCols, prep_f16>(t, vec_dot_f16_1chain); }

}  // namespace ggufpy
