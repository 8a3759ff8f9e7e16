// Packed Q4_0, Q5_0, Q8_0 and NF4 weights for AVX512-VNNI: repacked once at load into groups of 16 rows, so one zmm
// lane holds one weight row and a matmul is vpdpbusd with the activations broadcast from memory
// ({1to16}) — no nibble shuffles across lanes, no sign tricks, no horizontal sums per block.
//
// Layout, prepared activations and the float chain: x86_avx2/legacy_packed.h (panels of 4 groups of 16 rows,
// 64 rows; each block's scales first, then its chunks), with, for the group's 16 rows r:
//   Q4_0 chunk m (64 bytes), dword r = bytes 4m..4m+3 of row r's qs (low nibbles: elements 4m..4m+3, high
//        nibbles: 16+4m..16+4m+3), q unsigned 0..15 as in the file; m = 0..3;
//   Q8_0 chunk m (128 bytes) = vectors j = 2m, 2m+1; dword r of vector j = bytes 4j..4j+3 of row r's qs
//        XOR 0x80 (w + 128, unsigned, for vpdpbusd's u8 operand); m = 0..3;
//   NF4: legacy_packed.h (two halves of Q4_0's nibble order, float32 scales d * 2**-14);
//   d: the 16 rows' f16 scales (32 bytes; Q4_0, Q5_0, Q8_0).
//
// isum = Σ q_w q_a per block, exact: Q4_0 as Σ q a - 8 Σ a, Q8_0 as Σ (w + 128) a - 128 Σ a, NF4 as
// 256 (Σ (hi + 64) a - 64 Σ a) + Σ lo a (see pk_nf4).
#include <immintrin.h>

#include <cstring>

#include "../x86_avx2/legacy_packed.h"
#include "ggufpy/blocks.h"
#include "ggufpy/kernels.h"

namespace ggufpy {

namespace {

constexpr int kGroup = 16;  // rows per group: one per zmm int32 lane
constexpr int kPanel = 4;   // groups per panel (the packed form's row_group is kPanel * kGroup)

// ---- per-type traits --------------------------------------------------------------------------------
// A packed block holds `halves` activation blocks' worth of weights (Q4_0, Q8_0: 1; NF4: 2, one scale),
// each as `chunks` chunks of chunk_bytes per group; a chunk gives n_vec weight vectors, vector v pairing
// with activation dword j[v] into int32 accumulator acc_of<K>(v) of K (>= min_acc); combine<K> turns the
// K accumulators and the broadcast Σ a into Σ q_w q_a. scales(p): the group's 16 float scales of a block.
// pack_row / row_scale / half_isum: the repacking of one row's block and vec_dot's scalar view.

// Offset types (Q4_0: q - 8 from unsigned nibbles; Q8_0: w from w + 128): any K, summed, minus Σ a << shift.
template <int Shift>
struct pk_offset {
    static constexpr int min_acc = 1;
    template <int K>
    static constexpr int acc_of(int v) { return v % K; }
    template <int K>
    static inline __m512i combine(const __m512i * isum, __m512i sum) {
        __m512i s = isum[0];
        for (int k = 1; k < K; ++k) s = _mm512_add_epi32(s, isum[k]);
        return _mm512_sub_epi32(s, _mm512_slli_epi32(sum, Shift));
    }
};

// f16 block scales (first member d of the block), 32 bytes per group.
template <class W>
struct pk_f16_scale : pk_f16_scale_of<W, kGroup> {
    static inline __m512 scales(const uint8_t * p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
};

// decode_panels: panels the decode kernel (one activation row) reads side by side, as that many memory streams.
// Measured on the 1.1B-shaped model, one thread (tokens/s, one panel -> two): Q8_0 17.5 -> 19.8, Q4_0
// 38 -> 31 (its two-vector unpack per chunk makes it the slower side there); software prefetch did not help.
// With the scales-first layout (and every matrix in the huge-page arena) Q8_0 no longer gains from two
// (1.1B-shaped decode, 3 alternating runs each, two -> one: 1 thread 15.4 -> 16.7, 2 threads 29.9 -> 31.5).
struct pk_q4_0 : pk_offset<3>, pk_f16_scale<block_q4_0> {
    using wblock = block_q4_0;
    static constexpr int decode_panels = 1;
    static constexpr int halves = 1, chunks = 4, chunk_bytes = 64, n_vec = 2;  // low, high nibbles
    static inline void chunk(const uint8_t * p, const uint8_t *, int m, __m512i * w, int * j) {
        const __m512i c = _mm512_loadu_si512(p);
        const __m512i m4 = _mm512_set1_epi8(0x0F);
        w[0] = _mm512_and_si512(c, m4);
        w[1] = _mm512_and_si512(_mm512_srli_epi16(c, 4), m4);
        j[0] = m;
        j[1] = m + 4;
    }
    static void pack_row(const wblock & b, int r, uint8_t * p, size_t stride) {
        for (int m = 0; m < 4; ++m) std::memcpy(p + m * stride + 4 * r, b.qs + 4 * m, 4);
    }
    static inline int half_isum(const wblock & w, int, const q8p_block & a) {  // Σ (q - 8) a
        const __m128i t = _mm_loadu_si128((const __m128i *)w.qs);
        const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
        return hsum_i32x8(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, _mm256_loadu_si256((const __m256i *)a.qs))) - (a.sum << 3);
    }
};

struct pk_q8_0 : pk_offset<7>, pk_f16_scale<block_q8_0> {
    using wblock = block_q8_0;
    static constexpr int decode_panels = 1;
    static constexpr int halves = 1, chunks = 4, chunk_bytes = 128, n_vec = 2;  // dwords 2m, 2m + 1
    static inline void chunk(const uint8_t * p, const uint8_t *, int m, __m512i * w, int * j) {
        w[0] = _mm512_loadu_si512(p);
        w[1] = _mm512_loadu_si512(p + 64);
        j[0] = 2 * m;
        j[1] = 2 * m + 1;
    }
    static void pack_row(const wblock & b, int r, uint8_t * p, size_t stride) {
        for (int j = 0; j < 8; ++j) {
            uint32_t u;
            std::memcpy(&u, b.qs + 4 * j, 4);
            u ^= 0x80808080u;
            std::memcpy(p + j / 2 * stride + j % 2 * 64 + 4 * r, &u, 4);
        }
    }
    static inline int half_isum(const wblock & w, int, const q8p_block & a) {  // Σ w a
        const __m256i q = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)w.qs), _mm256_set1_epi8((char)0x80));
        return hsum_i32x8(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, _mm256_loadu_si256((const __m256i *)a.qs))) - (a.sum << 7);
    }
};

// Q5_0: Q4_0's nibble chunks plus, after the 16 f16 scales of the group's d region, the high bits as
// 64-bit byte masks (one masked add each): for chunk m, 8 bytes for the low-nibble vector (bit 4r + b = qh bit 4m + b of
// row r) then 8 for the high-nibble one (qh bit 16 + 4m + b); q = nibble | 16 * bit, w = q - 16.
struct pk_q5_0 : pk_offset<4>, pk_f16_scale<block_q5_0> {
    using wblock = block_q5_0;
    static constexpr int decode_panels = 1;
    static constexpr int halves = 1, chunks = 4, chunk_bytes = 64, n_vec = 2, d_bytes = 32 + 64;
    static inline void chunk(const uint8_t * p, const uint8_t * d, int m, __m512i * w, int * j) {
        const __m512i c = _mm512_loadu_si512(p);
        const __m512i m4 = _mm512_set1_epi8(0x0F), b4 = _mm512_set1_epi8(0x10);
        __mmask64 k0, k1;
        std::memcpy(&k0, d + 32 + 16 * m, 8);
        std::memcpy(&k1, d + 32 + 16 * m + 8, 8);
        const __m512i lo = _mm512_and_si512(c, m4), hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), m4);
        w[0] = _mm512_mask_add_epi8(lo, k0, lo, b4);  // nibble + 16 where the high bit is set
        w[1] = _mm512_mask_add_epi8(hi, k1, hi, b4);
        j[0] = m;
        j[1] = m + 4;
    }
    static void pack_row(const wblock & b, int r, uint8_t * p, size_t stride) {
        for (int m = 0; m < 4; ++m) std::memcpy(p + m * stride + 4 * r, b.qs + 4 * m, 4);
    }
    static void pack_scale(const wblock & b, int r, uint8_t * d) {
        pk_f16_scale<block_q5_0>::pack_scale(b, r, d);
        uint32_t qh;
        std::memcpy(&qh, b.qh, 4);
        for (int m = 0; m < 4; ++m)
            for (int v = 0; v < 2; ++v) {
                uint64_t k;
                std::memcpy(&k, d + 32 + 16 * m + 8 * v, 8);
                k |= (uint64_t)((qh >> (16 * v + 4 * m)) & 0xF) << (4 * r);
                std::memcpy(d + 32 + 16 * m + 8 * v, &k, 8);
            }
    }
    static inline int half_isum(const wblock & w, int, const q8p_block & a) {  // Σ (q - 16) a
        const __m128i t = _mm_loadu_si128((const __m128i *)w.qs);
        __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
        uint32_t qh;
        std::memcpy(&qh, w.qh, 4);
        q = _mm256_mask_add_epi8(q, (__mmask32)qh, q, _mm256_set1_epi8(0x10));
        return hsum_i32x8(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, _mm256_loadu_si256((const __m256i *)a.qs))) - (a.sum << 4);
    }
};

// NF4: the Q1.14 code book (blocks.h nf4_code_i16) split as code = 256 * hi + lo, lo = code & 0xFF unsigned,
// hi signed in -64..64; tables of lo and of hi + 64 (unsigned for vpdpbusd), looked up with vpshufb.
// Σ code a = 256 * (Σ (hi + 64) a - 64 Σ a) + Σ lo a; accumulator 0 takes the lo products, 1 the hi ones.
struct nf4_bytes {
    uint8_t lo[16], hi[16];
};
constexpr nf4_bytes make_nf4_bytes() {
    nf4_bytes t{};
    for (int k = 0; k < 16; ++k) {
        const int code = nf4_code_i16[k], lo = code & 0xFF;
        t.lo[k] = (uint8_t)lo;
        t.hi[k] = (uint8_t)((code - lo) / 256 + 64);
    }
    return t;
}
alignas(16) constexpr nf4_bytes k_nf4 = make_nf4_bytes();

struct pk_nf4 : pk_nf4_frame<kGroup> {
    static constexpr int decode_panels = 1, n_vec = 4, min_acc = 2;
    static inline void chunk(const uint8_t * p, const uint8_t *, int m, __m512i * w, int * j) {
        const __m512i lo_t = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)k_nf4.lo));
        const __m512i hi_t = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)k_nf4.hi));
        const __m512i c = _mm512_loadu_si512(p);
        const __m512i m4 = _mm512_set1_epi8(0x0F);
        const __m512i i0 = _mm512_and_si512(c, m4), i1 = _mm512_and_si512(_mm512_srli_epi16(c, 4), m4);
        w[0] = _mm512_shuffle_epi8(lo_t, i0);
        w[1] = _mm512_shuffle_epi8(hi_t, i0);
        w[2] = _mm512_shuffle_epi8(lo_t, i1);
        w[3] = _mm512_shuffle_epi8(hi_t, i1);
        j[0] = j[1] = m;
        j[2] = j[3] = m + 4;
    }
    template <int K>
    static constexpr int acc_of(int v) { return v % 2; }
    template <int K>
    static inline __m512i combine(const __m512i * isum, __m512i sum) {
        const __m512i hi = _mm512_sub_epi32(isum[1], _mm512_slli_epi32(sum, 6));
        return _mm512_add_epi32(_mm512_slli_epi32(hi, 8), isum[0]);
    }
    static inline __m512 scales(const uint8_t * p) { return _mm512_loadu_ps(p); }
    static inline int half_isum(const wblock & w, int h, const q8p_block & a) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)w.qs);
        const __m256i idx = _mm256_and_si256(h ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0F));  // element order
        const __m256i lo_t = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)k_nf4.lo));
        const __m256i hi_t = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)k_nf4.hi));
        const __m256i av = _mm256_loadu_si256((const __m256i *)a.qs);
        const int lo = hsum_i32x8(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_shuffle_epi8(lo_t, idx), av));
        const int hi = hsum_i32x8(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_shuffle_epi8(hi_t, idx), av));
        return (int)((uint32_t)(hi - (a.sum << 6)) << 8) + lo;
    }
};

// ---- the tile: G groups (16 G rows) x C activation rows ------------------------------------------------
template <class T, int G, int C>
struct tile {
    static void run(size_t nb, const uint8_t * w, size_t g0, const q8p_block * const * a, float * out, size_t os, int nr) {
        using L = layout<T, kGroup, kPanel>;
        // K int32 chains per pair: two when there are few pairs (vpdpbusd latency) or the type needs two
        constexpr int K = ((C == 1 && G <= kPanel) || T::min_acc == 2) ? 2 : 1;
        const uint8_t * wq[G];
        const uint8_t * wd[G];
        for (int g = 0; g < G; ++g) {
            wq[g] = L::qs(w, nb, g0 + g);
            wd[g] = L::d(w, nb, g0 + g);
        }
        __m512 acc[G][C];
        for (int g = 0; g < G; ++g)
            for (int c = 0; c < C; ++c) acc[g][c] = _mm512_setzero_ps();
        for (size_t b = 0; b < nb; ++b) {
            __m512 dw[G];
            for (int g = 0; g < G; ++g) dw[g] = T::scales(wd[g] + b * L::block_bytes);
            for (int h = 0; h < T::halves; ++h) {
                const size_t ab = b * T::halves + h;  // activation block
                __m512i isum[G][C][K];
                for (int g = 0; g < G; ++g)
                    for (int c = 0; c < C; ++c)
                        for (int k = 0; k < K; ++k) isum[g][c][k] = _mm512_setzero_si512();
                for (int m = 0; m < T::chunks; ++m) {
                    __m512i wv[G][T::n_vec];
                    int j[T::n_vec];
                    for (int g = 0; g < G; ++g)
                        T::chunk(wq[g] + b * L::block_bytes + (h * T::chunks + m) * L::chunk_stride, wd[g] + b * L::block_bytes, m,
                                 wv[g], j);
                    for (int c = 0; c < C; ++c)
                        for (int v = 0; v < T::n_vec; ++v) {
                            int32_t u;
                            std::memcpy(&u, a[c][ab].qs + 4 * j[v], 4);
                            const __m512i av = _mm512_set1_epi32(u);
                            for (int g = 0; g < G; ++g) {
                                __m512i & s = isum[g][c][T::template acc_of<K>(v)];
                                s = _mm512_dpbusd_epi32(s, wv[g][v], av);
                            }
                        }
                }
                for (int c = 0; c < C; ++c) {
                    const __m512i sum = _mm512_set1_epi32(a[c][ab].sum);
                    const __m512 da = _mm512_set1_ps(a[c][ab].d);
                    for (int g = 0; g < G; ++g) {
                        const __m512 s = _mm512_cvtepi32_ps(T::template combine<K>(isum[g][c], sum));
                        acc[g][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw[g], da), s, acc[g][c]);
                    }
                }
            }
        }
        for (int c = 0; c < C; ++c)
            for (int g = 0; g < G; ++g) {
                const int left = nr - g * kGroup;
                if (left <= 0) break;
                float * o = out + (size_t)c * os + g * kGroup;
                if (left >= kGroup)
                    _mm512_storeu_ps(o, acc[g][c]);
                else
                    _mm512_mask_storeu_ps(o, (__mmask16)((1u << left) - 1), acc[g][c]);
            }
    }
};

template <class T, int GMAX, int CMAX>
repack_kernels kernels_of() { return packed_kernels_of<tile, T, kGroup, kPanel, GMAX, CMAX>(); }

}  // namespace

void fill_avx512vnni_packed(kernel_table & t) {
    // 2 groups x 6 activation rows: 12 float + 12 int32 accumulators, 4 weight vectors in 32 zmm; NF4
    // (two int32 chains per pair, two code-book tables) 1 group x 6.
    set_packed<pk_q4_0>(t, T_Q4_0, kernels_of<pk_q4_0, 2, 6>());
    set_packed<pk_q8_0>(t, T_Q8_0, kernels_of<pk_q8_0, 2, 6>());
    set_packed<pk_nf4>(t, T_NF4, kernels_of<pk_nf4, 1, 6>());
    set_packed<pk_q5_0>(t, T_Q5_0, kernels_of<pk_q5_0, 2, 6>());
}

}  // namespace ggufpy
