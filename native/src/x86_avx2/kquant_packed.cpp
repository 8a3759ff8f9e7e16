// Packed Q4_K, Q6_K and TQ2_0 for the avx2 table: kquant_packed.h with vpdpbusd / vpdpwssd emulated by
// vpmaddubsw + vpmaddwd (+ vpaddd). Exact here: vpmaddubsw's int16 pair sums stay below 2 * 63 * 128 =
// 16128 (it saturates only past 32767), vpmaddwd's below 2 * 2**26.
#include <immintrin.h>

namespace ggufpy {
namespace {
inline __m256i kp_dpbusd(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
inline __m256i kp_dpwssd(__m256i acc, __m256i x, __m256i y) { return _mm256_add_epi32(acc, _mm256_madd_epi16(x, y)); }
}  // namespace
}  // namespace ggufpy

#include "kquant_packed.h"

namespace ggufpy {

void fill_avx2_kquant_packed(kernel_table & t) { fill_kquant_packed(t); }

}  // namespace ggufpy
