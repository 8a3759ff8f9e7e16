// F16 weights x F16 activations (ggml's vec_dot_type for F16) with AVX-512F: a dot (vec_dot) and tiles of
// R weight rows x C activation rows (mat_dot), converting with vcvtph2ps and accumulating with FMA.
//
// Arithmetic, per (weight row, activation row) pair: one 16-lane accumulator, acc = fma(w[16k..], a[16k..],
// acc) for k = 0, 1, ... in order, the last partial chunk loaded masked (zeros: fma(0, 0, acc) = acc); the
// result is f16_hsum(acc), one fixed lane order. vec_dot and the tiles (on activations widened to float32
// beforehand, which is exact) evaluate exactly this, so a token's logits do not depend on the batch it is
// in.
//
// The model reads F16 matrices through the packed form (f16_packed.h: groups of 4 rows interleaved chunk by
// chunk, one linear stream for decode and for the prompt tiles); act_prep widens each activation row to
// float32 once per op, where the tiles used to widen their 32 tokens again for every 16 weight rows (13% of
// SmolLM2-135M F16's prompt time).
//
// One chain per pair is what lets a tile hold 16 pairs in registers: the AVX2 kernel's four 8-lane chains
// (which the flash-attention dots keep, kernel_table::dot_f16) allow only 6 pairs and measured 35% slower.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"
#include "../f16_packed.h"
#include "../x86_avx2/tiler.h"

namespace ggufpy {

namespace {

inline __m512 load16(const uint16_t * p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
inline __m512 load16_masked(const uint16_t * p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
inline __mmask16 tail_mask(size_t k) { return (__mmask16)((1u << k) - 1); }  // k in 1..15

// 16 lanes -> 1 in a fixed order: halves added pairwise (8 + 8, 4 + 4, 2 + 2, 1 + 1).
inline float f16_hsum(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

float vec_dot_f16_avx512(size_t n, const void * vw, const void * va) {
    const uint16_t * w = (const uint16_t *)vw;
    const uint16_t * a = (const uint16_t *)va;
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(load16(w + i), load16(a + i), acc);
    if (i < n) acc = _mm512_fmadd_ps(load16_masked(w + i, tail_mask(n - i)), load16_masked(a + i, tail_mask(n - i)), acc);
    return f16_hsum(acc);
}

// out[c * os + r], r < nr, for R weight rows x C activation rows already widened to float32 (af, stride n16
// floats; the tail chunk masked as in vec_dot). Row r's chunk k (elements 16k ..) is at w + r * row_step +
// k * chunk_step halves: the file's rows (row_step n, chunk_step 16) or a packed group (16, 64, below).
template <int R, int C>
void f16_tile(size_t n, const uint16_t * w, size_t row_step, size_t chunk_step, const float * af, size_t n16, float * out,
              size_t os, int nr) {
    __m512 acc[R][C];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
    auto step = [&](size_t i, const uint16_t * p, __mmask16 m, bool full) {
        __m512 wv[R];
        for (int r = 0; r < R; ++r) wv[r] = full ? load16(p + r * row_step) : load16_masked(p + r * row_step, m);
        for (int c = 0; c < C; ++c) {
            const __m512 av = full ? _mm512_loadu_ps(af + (size_t)c * n16 + i) : _mm512_maskz_loadu_ps(m, af + (size_t)c * n16 + i);
            for (int r = 0; r < R; ++r) acc[r][c] = _mm512_fmadd_ps(wv[r], av, acc[r][c]);
        }
    };
    size_t i = 0;
    for (; i + 16 <= n; i += 16, w += chunk_step) step(i, w, 0xFFFF, true);
    if (i < n) step(i, w, tail_mask(n - i), false);
    for (int c = 0; c < C; ++c)
        for (int r = 0; r < nr; ++r) out[(size_t)c * os + r] = f16_hsum(acc[r][c]);
}

// ---- the packed form (f16_packed.h), activations widened by act_prep -----------------------------------
void prep_f16(const void * src, void * dst, size_t n) {
    const uint16_t * a = (const uint16_t *)src;
    float * y = (float *)dst;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, load16(a + i));
    if (i < n) _mm512_mask_storeu_ps(y + i, tail_mask(n - i), load16_masked(a + i, tail_mask(n - i)));
}

// f16_tile on the file's rows, as tiler.h's Tile (a and as in bytes). 4 x 4: 16 accumulators; 4 x 6 and 6 x 4
// measured the same (~1 zmm FMA per cycle).
template <int R, int C>
struct f16_tile_f32 {
    static void run(size_t n, const uint8_t * w, size_t ws, const uint8_t * a, size_t as, float * out, size_t os) {
        f16_tile<R, C>(n, (const uint16_t *)w, ws / sizeof(uint16_t), kF16Chunk, (const float *)a, as / sizeof(float), out, os, R);
    }
};
constexpr int kCols = 4;  // activation rows per tile
using f16_tiles = tiler<f16_tile_f32, 4, kCols>;

// f16_tile on one packed group (f16_packed.h's Tile).
template <int C>
struct f16_group_tile {
    static void run(size_t n, const uint16_t * g, const float * af, size_t n16, float * out, size_t os, int nr) {
        f16_tile<kF16Group, C>(n, g, kF16Chunk, kF16GroupHalves, af, n16, out, os, nr);
    }
};

}  // namespace

void fill_avx512_f16(kernel_table & t) { set_f16<f16_tiles, f16_group_tile, kCols, prep_f16>(t, vec_dot_f16_avx512); }

}  // namespace ggufpy
