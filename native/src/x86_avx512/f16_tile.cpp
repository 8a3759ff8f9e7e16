// F16 weights x F16 activations (ggml's vec_dot_type for F16) with AVX-512F: a dot (vec_dot) and tiles of
// R weight rows x C activation rows (mat_dot), converting with vcvtph2ps and accumulating with FMA.
//
// Arithmetic, per (weight row, activation row) pair: one 16-lane accumulator, acc = fma(w[16k..], a[16k..],
// acc) for k = 0, 1, ... in order, the last partial chunk loaded masked (zeros: fma(0, 0, acc) = acc); the
// result is f16_hsum(acc), one fixed lane order. vec_dot and the tiles (on activations widened to float32
// beforehand, which is exact) evaluate exactly this, so a token's logits do not depend on the batch it is
// in. Decode (packed_dot_f16, one activation row) keeps one chain per row and reads 4 rows a quarter of
// a work item apart; 8-row tiles of adjacent rows for one activation row measured 2x slower.
//
// Prompts go through the in-place packed form (kernels.h repack_kernels with packed_bytes == nullptr: the
// file's rows are the packed form): act_prep widens each activation row to float32 once per op, where the
// tiles used to widen their 32 tokens again for every 16 weight rows (13% of SmolLM2-135M F16's prompt time).
//
// One chain per pair is what lets a tile hold 16 pairs in registers: the AVX2 kernel's four 8-lane chains
// (which the flash-attention dots keep, kernel_table::dot_f16) allow only 6 pairs and measured 35% slower.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"
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

// out[c * os + r] for R weight rows (stride ws bytes) x C activation rows already widened to float32
// (af, stride n16 floats; the tail chunk masked as in vec_dot).
template <int R, int C>
void f16_tile(size_t n, const uint8_t * w, size_t ws, const float * af, size_t n16, float * out, size_t os) {
    __m512 acc[R][C];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
    const uint16_t * wr[R];
    for (int r = 0; r < R; ++r) wr[r] = (const uint16_t *)(w + (size_t)r * ws);
    auto step = [&](size_t i, __mmask16 m, bool full) {
        __m512 wv[R];
        for (int r = 0; r < R; ++r) wv[r] = full ? load16(wr[r] + i) : load16_masked(wr[r] + i, m);
        for (int c = 0; c < C; ++c) {
            const __m512 av = full ? _mm512_loadu_ps(af + (size_t)c * n16 + i) : _mm512_maskz_loadu_ps(m, af + (size_t)c * n16 + i);
            for (int r = 0; r < R; ++r) acc[r][c] = _mm512_fmadd_ps(wv[r], av, acc[r][c]);
        }
    };
    size_t i = 0;
    for (; i + 16 <= n; i += 16) step(i, 0xFFFF, true);
    if (i < n) step(i, tail_mask(n - i), false);
    for (int c = 0; c < C; ++c)
        for (int r = 0; r < R; ++r) out[(size_t)c * os + r] = f16_hsum(acc[r][c]);
}

// ---- the in-place packed form: F16 rows as in the file, activations widened by act_prep ----------------
size_t prep_bytes_f16(size_t n) { return n * sizeof(float); }

void prep_f16(const void * src, void * dst, size_t n) {
    const uint16_t * a = (const uint16_t *)src;
    float * y = (float *)dst;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, load16(a + i));
    if (i < n) _mm512_mask_storeu_ps(y + i, tail_mask(n - i), load16_masked(a + i, tail_mask(n - i)));
}

// f16_tile on activation rows already widened to float32, as tiler.h's Tile (a and as in bytes). 4 x 4: 16
// accumulators; 4 x 6 and 6 x 4 measured the same (~1 zmm FMA per cycle), and 4 x 4 divides the model's
// work items (16 x 32, packed 64 x 48).
template <int R, int C>
struct f16_tile_f32 {
    static void run(size_t n, const uint8_t * w, size_t ws, const uint8_t * a, size_t as, float * out, size_t os) {
        f16_tile<R, C>(n, w, ws, (const float *)a, as / sizeof(float), out, os);
    }
};
using f16_tiles = tiler<f16_tile_f32, 4, 4>;

// mat_dot on F16 activation rows: each group of 4 widened once (prep_f16), then every row tile reads it.
void mat_dot_f16(size_t n, const void * w, size_t ws, int nr, const void * va, size_t as, int nc, float * out, size_t os) {
    constexpr int cols = 4;
    const uint8_t * a = (const uint8_t *)va;
    thread_local std::vector<float> buf;  // grows once per thread
    if (buf.size() < n * cols) buf.resize(n * cols);
    for (int c0 = 0; c0 < nc; c0 += cols) {
        const int cc = nc - c0 < cols ? nc - c0 : cols;
        for (int c = 0; c < cc; ++c) prep_f16(a + (size_t)(c0 + c) * as, buf.data() + (size_t)c * n, n);
        f16_tiles::run(n, w, ws, nr, buf.data(), n * sizeof(float), cc, out + (size_t)c0 * os, os);
    }
}

// vec_dot_f16_avx512 of S rows on a widened activation row (exact widening: the same floats), each row its
// own chain. Decode reads rows r + k nr / S side by side: S memory streams a fraction of a work item apart
// (SmolLM2 F16 decode, 1 thread: 2 streams ~5% over one, 4 streams another 2-10%; adjacent rows
// interleaved instead: 2x slower).
template <int S>
void dotS_f16_f32(size_t n, const uint16_t * const * w, const float * a, float * const * o) {
    __m512 acc[S];
    for (int k = 0; k < S; ++k) acc[k] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 av = _mm512_loadu_ps(a + i);
        for (int k = 0; k < S; ++k) acc[k] = _mm512_fmadd_ps(load16(w[k] + i), av, acc[k]);
    }
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 av = _mm512_maskz_loadu_ps(m, a + i);
        for (int k = 0; k < S; ++k) acc[k] = _mm512_fmadd_ps(load16_masked(w[k] + i, m), av, acc[k]);
    }
    for (int k = 0; k < S; ++k) *o[k] = f16_hsum(acc[k]);
}

constexpr int kDecodeStreams = 4;

void packed_dot_f16(size_t n, const void * vw, size_t row0, int nr, const void * va, size_t as, int nc, float * out, size_t os) {
    const size_t ws = n * sizeof(uint16_t);
    const uint8_t * w = (const uint8_t *)vw + row0 * ws;
    if (nc == 1) {  // decode: one chain per row (see the header), rows r + k nr / S side by side
        const float * af = (const float *)va;
        constexpr int S = kDecodeStreams;
        const int h = nr / S;
        for (int r = 0; r < h; ++r) {
            const uint16_t * wr[S];
            float * o[S];
            for (int k = 0; k < S; ++k) {
                wr[k] = (const uint16_t *)(w + (size_t)(r + k * h) * ws);
                o[k] = out + r + k * h;
            }
            dotS_f16_f32<S>(n, wr, af, o);
        }
        for (int r = S * h; r < nr; ++r) {
            const uint16_t * wr1 = (const uint16_t *)(w + (size_t)r * ws);
            float * o1 = out + r;
            dotS_f16_f32<1>(n, &wr1, af, &o1);
        }
        return;
    }
    // 4 activation rows at a time over all the weight rows (columns outer: measured ~5% faster prompts than
    // rows outer here)
    for (int c0 = 0; c0 < nc; c0 += 4)
        f16_tiles::run(n, w, ws, nr, (const uint8_t *)va + (size_t)c0 * as, as, nc - c0 < 4 ? nc - c0 : 4, out + (size_t)c0 * os, os);
}

}  // namespace

void fill_avx512_f16(kernel_table & t) {
    t.vec_dot[type_slot(T_F16)] = vec_dot_f16_avx512;
    t.mat_dot[type_slot(T_F16)] = mat_dot_f16;
    repack_kernels & rk = t.repack[type_slot(T_F16)];
    rk.row_group = 1;
    rk.packed_dot = packed_dot_f16;  // in place: no packed_bytes / repack
    t.act_prep[type_slot(T_F16)] = prep_f16;
    t.act_prep_bytes[type_slot(T_F16)] = prep_bytes_f16;
}

}  // namespace ggufpy
