// Packed Q4_0, Q5_0, Q8_0 and NF4 weights for AVX2 (the avx2 and avx512 tables; the avx512vnni table has its own
// 16-row form, x86_avx512vnni/legacy_packed.cpp): repacked once at load into groups of 8 rows, so one ymm
// int32 lane holds one weight row and a matmul is vpmaddubsw against 4 activation bytes broadcast to all
// lanes (NF4: vpmaddwd on the int16 codes): no nibble shuffles across lanes, no horizontal sums per row,
// one scale conversion per 8 rows.
//
// Layout (legacy_packed.h): panels of 4 groups of 8 rows (32 rows), each block's scales first, then its
// chunks; for the group's 8 rows r:
//   d: the 8 rows' f16 scales (16 bytes);
//   Q4_0 chunk m (32 bytes), dword r = bytes 4m..4m+3 of row r's qs (low nibbles: elements 4m..4m+3, high
//        nibbles: 16+4m..16+4m+3), q unsigned 0..15 as in the file; m = 0..3;
//   Q5_0 chunks as Q4_0's, the fifth bits after the scales (pk_q5_0 below);
//   Q8_0 chunk m (64 bytes) = vectors j = 2m, 2m+1; dword r of vector j = bytes 4j..4j+3 of row r's qs
//        (signed, as in the file); m = 0..3;
//   NF4: legacy_packed.h (two halves of 4 chunks of 32 bytes in Q4_0's nibble order; float32 scales).
// Per panel and block: Q4_0 4 * (16 + 128) = 576 bytes, Q5_0 4 * (48 + 128) = 704, Q8_0 4 * (16 + 256) = 1088,
// NF4 4 * (32 + 256) = 1152 (the file's 18, 22, 34 and 36 per row). Rows past n_rows (padding) are zero: d = 0, so they contribute 0 and are never stored.
//
// Per (weight row, activation row) pair and block, isum = Σ q_w q_a exactly (then legacy_packed.h's float
// chain, the avx512vnni table's too):
//     Q4_0 as Σ q a - 8 Σ a: vpmaddubsw pair sums |.| <= 2 * 15 * 128 = 3840, the block's eight added in
//          int16 (|.| <= 30720 < 2**15), then one vpmaddwd;
//     Q5_0 as Σ q a - 16 Σ a: pair sums <= 7936, four per int16 accumulator (two per pair), two vpmaddwd;
//     Q8_0 as Σ |w| (a sign w) (ggml's sign trick): pair sums <= 2 * 128 * 127 = 32512, since activations
//          come from from_float (|q_a| <= 127; -128 would overflow vpsignb), one vpmaddwd per vector;
//     NF4 as Σ code a: the int16 codes (nf4_lut.h) times the activations widened to int16, vpmaddwd
//          (pair sums < 2**22), per (row, element pair) lane, the pairs added by one vphaddd per block.
#include <immintrin.h>

#include <cstring>

#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"
#include "legacy_packed.h"
#include "legacy_tile.h"
#include "nf4_lut.h"

namespace ggufpy {

namespace {

constexpr int kGroup = 8;  // rows per group: one per ymm int32 lane
constexpr int kPanel = 4;  // groups per panel (the packed form's row_group is kPanel * kGroup)

inline __m256i ones16() { return _mm256_set1_epi16(1); }

// ---- per-type traits --------------------------------------------------------------------------------
// chunk(p, d, m, u, s, j): chunk m's n_vec weight items (d: the group's scale region of the block, where
// Q5_0 keeps its fifth bits), each two vectors (Q4_0, Q5_0: u the codes; Q8_0: u = |w|, s = w; NF4: u, s the
// int16 codes of rows 0, 1, 4, 5 and 2, 3, 6, 7), item v pairing with activation dword j[v]; act(q): the
// activation operand from those 4 bytes; dot(acc, u, s, a, v) adds item v's products to the pair's K
// accumulators; isum(acc, Σ a): the block's Σ q_w q_a, one row per int32 lane;
// scales(p): the group's 8 float scales. half_isum: vec_dot's scalar view of one block (legacy_packed.h).
inline __m256i act_bcast4(int32_t q) { return _mm256_set1_epi32(q); }
inline __m256 scales_f16(const uint8_t * p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

struct pk_q4_0 : pk_f16_scale_of<block_q4_0, kGroup> {
    using wblock = block_q4_0;
    static constexpr int decode_panels = 1, halves = 1, chunks = 4, chunk_bytes = 32, n_vec = 2, K = 1;  // low, high nibbles
    static inline void chunk(const uint8_t * p, const uint8_t *, int m, __m256i * u, __m256i *, int * j) {
        const __m256i c = _mm256_loadu_si256((const __m256i *)p);
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        u[0] = _mm256_and_si256(c, m4);
        u[1] = _mm256_and_si256(_mm256_srli_epi16(c, 4), m4);
        j[0] = m;
        j[1] = m + 4;
    }
    static constexpr auto act = act_bcast4;
    static constexpr auto scales = scales_f16;
    static inline void dot(__m256i * acc, __m256i u, __m256i, __m256i a, int) {  // int16 pairs
        acc[0] = _mm256_add_epi16(acc[0], _mm256_maddubs_epi16(u, a));
    }
    static inline __m256i isum(const __m256i * acc, __m256i sum) {
        return _mm256_sub_epi32(_mm256_madd_epi16(acc[0], ones16()), _mm256_slli_epi32(sum, 3));
    }
    static void pack_row(const wblock & b, int r, uint8_t * p, size_t stride) {
        for (int m = 0; m < 4; ++m) std::memcpy(p + m * stride + 4 * r, b.qs + 4 * m, 4);
    }
    static inline int half_isum(const wblock & w, int, const q8p_block & a) {  // Σ (q - 8) a
        const __m128i t = _mm_loadu_si128((const __m128i *)w.qs);
        const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
        const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)a.qs));
        return hsum_i32x8(_mm256_madd_epi16(p, ones16())) - (a.sum << 3);
    }
};

struct pk_q8_0 : pk_f16_scale_of<block_q8_0, kGroup> {
    using wblock = block_q8_0;
    static constexpr int decode_panels = 1, halves = 1, chunks = 4, chunk_bytes = 64, n_vec = 2, K = 1;  // dwords 2m, 2m + 1
    static inline void chunk(const uint8_t * p, const uint8_t *, int m, __m256i * u, __m256i * s, int * j) {
        s[0] = _mm256_loadu_si256((const __m256i *)p);
        s[1] = _mm256_loadu_si256((const __m256i *)(p + 32));
        u[0] = _mm256_abs_epi8(s[0]);
        u[1] = _mm256_abs_epi8(s[1]);
        j[0] = 2 * m;
        j[1] = 2 * m + 1;
    }
    static constexpr auto act = act_bcast4;
    static constexpr auto scales = scales_f16;
    static inline void dot(__m256i * acc, __m256i u, __m256i s, __m256i a, int) {  // int32
        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(a, s)), ones16()));
    }
    static inline __m256i isum(const __m256i * acc, __m256i) { return acc[0]; }
    static void pack_row(const wblock & b, int r, uint8_t * p, size_t stride) {
        for (int j = 0; j < 8; ++j) std::memcpy(p + j / 2 * stride + j % 2 * 32 + 4 * r, b.qs + 4 * j, 4);
    }
    static inline int half_isum(const wblock & w, int, const q8p_block & a) {  // Σ w a
        const __m256i q = _mm256_loadu_si256((const __m256i *)w.qs);
        const __m256i s = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)a.qs), q);
        return hsum_i32x8(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(q), s), ones16()));
    }
};

// Q5_0: Q4_0's nibble chunks, and after the group's 8 f16 scales its fifth bits, 32 bytes: byte 4r + b, bit
// 2m + v = bit 4 of the element in byte 4r + b of chunk m's vector v (0: low nibbles, 1: high) of row r, qh
// bit 4m + b (v = 0) or 16 + 4m + b (v = 1); one 16-bit shift and a mask bring bit 2m + v to 0x10 in every
// byte (shifts of at most 4 keep each bit in its byte). q = nibble | 16 * bit in 0..31: vpmaddubsw pair sums
// <= 2 * 31 * 128 = 7936, so each of the two items' int16 accumulators takes the block's 4 (<= 31744).
struct pk_q5_0 : pk_f16_scale_of<block_q5_0, kGroup> {
    using wblock = block_q5_0;
    static constexpr int decode_panels = 1, halves = 1, chunks = 4, chunk_bytes = 32, n_vec = 2, K = 2;
    static constexpr int d_bytes = 2 * kGroup + 32;
    static inline __m256i bit4(__m256i hb, int k) {  // bit k of every byte -> 0x10
        const __m256i x = k < 4 ? _mm256_slli_epi16(hb, 4 - k) : _mm256_srli_epi16(hb, k - 4);
        return _mm256_and_si256(x, _mm256_set1_epi8(0x10));
    }
    static inline void chunk(const uint8_t * p, const uint8_t * d, int m, __m256i * u, __m256i *, int * j) {
        const __m256i c = _mm256_loadu_si256((const __m256i *)p);
        const __m256i hb = _mm256_loadu_si256((const __m256i *)(d + 2 * kGroup));
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        u[0] = _mm256_or_si256(_mm256_and_si256(c, m4), bit4(hb, 2 * m));
        u[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4), bit4(hb, 2 * m + 1));
        j[0] = m;
        j[1] = m + 4;
    }
    static constexpr auto act = act_bcast4;
    static constexpr auto scales = scales_f16;
    static inline void dot(__m256i * acc, __m256i u, __m256i, __m256i a, int v) {  // int16 pairs, one accumulator per item
        acc[v] = _mm256_add_epi16(acc[v], _mm256_maddubs_epi16(u, a));
    }
    static inline __m256i isum(const __m256i * acc, __m256i sum) {  // Σ q a - 16 Σ a
        const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(acc[0], ones16()), _mm256_madd_epi16(acc[1], ones16()));
        return _mm256_sub_epi32(s, _mm256_slli_epi32(sum, 4));
    }
    static void pack_row(const wblock & b, int r, uint8_t * p, size_t stride) {
        for (int m = 0; m < 4; ++m) std::memcpy(p + m * stride + 4 * r, b.qs + 4 * m, 4);
    }
    static void pack_scale(const wblock & b, int r, uint8_t * d) {
        pk_f16_scale_of<block_q5_0, kGroup>::pack_scale(b, r, d);
        uint32_t qh;
        std::memcpy(&qh, b.qh, 4);
        for (int m = 0; m < 4; ++m)
            for (int v = 0; v < 2; ++v)
                for (int e = 0; e < 4; ++e) d[2 * kGroup + 4 * r + e] |= (uint8_t)(((qh >> (16 * v + 4 * m + e)) & 1) << (2 * m + v));
    }
    static inline int half_isum(const wblock & w, int, const q8p_block & a) {  // Σ (q - 16) a
        const __m256i q = _mm256_or_si256(lt_nibbles(w.qs), lt_qh_bit4(w.qh));
        const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)a.qs));
        return hsum_i32x8(_mm256_madd_epi16(p, ones16())) - (a.sum << 4);
    }
};

struct pk_nf4 : pk_nf4_frame<kGroup> {
    static constexpr int decode_panels = 1, n_vec = 2, K = 2;  // items: low, high nibbles
    static inline void chunk(const uint8_t * p, const uint8_t *, int m, __m256i * u, __m256i * s, int * j) {
        const nf4_tables t = nf4_load_tables();
        const __m256i c = _mm256_loadu_si256((const __m256i *)p);
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        const __m256i idx[2] = {_mm256_and_si256(c, m4), _mm256_and_si256(_mm256_srli_epi16(c, 4), m4)};
        for (int v = 0; v < 2; ++v) {
            const __m256i lo = _mm256_shuffle_epi8(t.lo, idx[v]), hi = _mm256_shuffle_epi8(t.hi, idx[v]);
            u[v] = _mm256_unpacklo_epi8(lo, hi);  // dwords: row 0 elements (0, 1), (2, 3), row 1 .. | rows 4, 5
            s[v] = _mm256_unpackhi_epi8(lo, hi);  // rows 2, 3 | rows 6, 7
        }
        j[0] = m;
        j[1] = m + 4;
    }
    static inline __m256i act(int32_t q) {  // 4 int16 (a0 a1 a2 a3) in every qword: (a0, a1), (a2, a3) per dword pair
        return _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(q)));
    }
    static inline __m256 scales(const uint8_t * p) { return _mm256_loadu_ps((const float *)p); }
    static inline void dot(__m256i * acc, __m256i u, __m256i s, __m256i a, int) {
        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(u, a));
        acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(s, a));
    }
    static inline __m256i isum(const __m256i * acc, __m256i) {  // in-lane pair sums: rows 0 1 2 3 | 4 5 6 7
        return _mm256_hadd_epi32(acc[0], acc[1]);
    }
    static inline int half_isum(const wblock & w, int h, const q8p_block & a) {  // Σ code a over elements 32h..
        const __m256i q = _mm256_loadu_si256((const __m256i *)w.qs);
        const __m256i idx = _mm256_and_si256(h ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0F));
        // qwords 0, 2, 1, 3: nf4_block_dot's order
        return hsum_i32x8(nf4_block_dot(_mm256_permute4x64_epi64(idx, 0xD8), a.qs, nf4_load_tables()));
    }
};

// ---- the tile: G groups (8 G rows) x C activation rows ------------------------------------------------
template <class T, int G, int C>
struct tile {
    static void run(size_t nb, const uint8_t * w, size_t g0, const q8p_block * const * a, float * out, size_t os, int nr) {
        using L = layout<T, kGroup, kPanel>;
        const uint8_t * wq[G];
        const uint8_t * wd[G];
        for (int g = 0; g < G; ++g) {
            wq[g] = L::qs(w, nb, g0 + g);
            wd[g] = L::d(w, nb, g0 + g);
        }
        __m256 acc[G][C];
        for (int g = 0; g < G; ++g)
            for (int c = 0; c < C; ++c) acc[g][c] = _mm256_setzero_ps();
        for (size_t b = 0; b < nb; ++b) {
            __m256 dw[G];
            for (int g = 0; g < G; ++g) dw[g] = T::scales(wd[g] + b * L::block_bytes);
            for (int h = 0; h < T::halves; ++h) {
                const size_t ab = b * T::halves + h;  // activation block
                __m256i is[G][C][T::K];
                for (int g = 0; g < G; ++g)
                    for (int c = 0; c < C; ++c)
                        for (int k = 0; k < T::K; ++k) is[g][c][k] = _mm256_setzero_si256();
                for (int m = 0; m < T::chunks; ++m) {
                    __m256i u[G][T::n_vec], s[G][T::n_vec];
                    int j[T::n_vec];
                    for (int g = 0; g < G; ++g)
                        T::chunk(wq[g] + b * L::block_bytes + (h * T::chunks + m) * L::chunk_stride, wd[g] + b * L::block_bytes, m,
                                 u[g], s[g], j);
                    for (int c = 0; c < C; ++c)
                        for (int v = 0; v < T::n_vec; ++v) {
                            int32_t q;
                            std::memcpy(&q, a[c][ab].qs + 4 * j[v], 4);
                            const __m256i av = T::act(q);
                            for (int g = 0; g < G; ++g) T::dot(is[g][c], u[g][v], s[g][v], av, v);
                        }
                }
                for (int c = 0; c < C; ++c) {
                    const __m256i sum = _mm256_set1_epi32(a[c][ab].sum);
                    const __m256 da = _mm256_set1_ps(a[c][ab].d);
                    for (int g = 0; g < G; ++g) {
                        const __m256 si = _mm256_cvtepi32_ps(T::isum(is[g][c], sum));
                        acc[g][c] = _mm256_fmadd_ps(_mm256_mul_ps(dw[g], da), si, acc[g][c]);
                    }
                }
            }
        }
        for (int c = 0; c < C; ++c)
            for (int g = 0; g < G; ++g) {
                const int left = nr - g * kGroup;
                if (left <= 0) break;
                float * o = out + (size_t)c * os + g * kGroup;
                if (left >= kGroup) {
                    _mm256_storeu_ps(o, acc[g][c]);
                } else {
                    alignas(32) float t[kGroup];
                    _mm256_store_ps(t, acc[g][c]);
                    std::memcpy(o, t, sizeof(float) * (size_t)left);
                }
            }
    }
};

template <class T, int GMAX, int CMAX>
repack_kernels kernels_of() { return packed_kernels_of<tile, T, kGroup, kPanel, GMAX, CMAX>(); }

}  // namespace

void fill_avx2_legacy_packed(kernel_table & t) {
    // 2 groups x 3 activation rows (1.1B-shaped pp128, --isa avx2: 1 x 4, 2 x 2, 3 x 2 the same within noise
    // for Q4_0 and Q8_0; NF4 1 x 3 ~17% slower, 1 x 4 and 2 x 2 ~5%; Q5_0, SmolLM2-135M Q4_K_M pp256: 1 x 4
    // and 2 x 2 the same within noise)
    set_packed<pk_q4_0>(t, T_Q4_0, kernels_of<pk_q4_0, 2, 3>());
    set_packed<pk_q8_0>(t, T_Q8_0, kernels_of<pk_q8_0, 2, 3>());
    set_packed<pk_nf4>(t, T_NF4, kernels_of<pk_nf4, 2, 3>());
    set_packed<pk_q5_0>(t, T_Q5_0, kernels_of<pk_q5_0, 2, 3>());
}

}  // namespace ggufpy
