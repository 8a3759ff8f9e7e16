// Packed Q4_K, Q6_K and TQ2_0 for the avx512vnni table: x86_avx2/kquant_packed.h with the VNNI integer steps.
#include <immintrin.h>

namespace ggufpy {
namespace {
inline __m256i kp_dpbusd(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
inline __m256i kp_dpwssd(__m256i acc, __m256i x, __m256i y) { return _mm256_dpwssd_epi32(acc, x, y); }
}  // namespace
}  // namespace ggufpy

#include "../x86_avx2/kquant_packed.h"

namespace ggufpy {

void fill_avx512vnni_kquant_packed(kernel_table & t) { fill_kquant_packed(t); }

}  // namespace ggufpy
