// CPU feature detection. x86: cpuid leaves 1 and 7 plus xgetbv for OS support of YMM/ZMM state.
// aarch64 Linux: getauxval(AT_HWCAP). Other platforms report nothing beyond the generic path.
#include "ggufpy/cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <cpuid.h>
#define GGUFPY_X86_DETECT 1
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace ggufpy {

#if defined(GGUFPY_X86_DETECT)
static unsigned long long xgetbv0() {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static cpu_features detect() {
    cpu_features f;
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    f.sse42 = c & bit_SSE4_2;
    f.fma = c & bit_FMA;
    f.f16c = c & bit_F16C;
    bool osxsave = c & bit_OSXSAVE;
    f.avx = c & bit_AVX;
    if (osxsave) {
        unsigned long long xcr0 = xgetbv0();
        f.os_avx = (xcr0 & 0x6) == 0x6;        // XMM + YMM state
        f.os_avx512 = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
    }
    f.avx = f.avx && f.os_avx;
    f.fma = f.fma && f.os_avx;
    f.f16c = f.f16c && f.os_avx;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f.avx2 = (b & bit_AVX2) && f.os_avx;
        f.avx512f = (b & bit_AVX512F) && f.os_avx512;
        f.avx512dq = (b & bit_AVX512DQ) && f.os_avx512;
        f.avx512bw = (b & bit_AVX512BW) && f.os_avx512;
        f.avx512vl = (b & bit_AVX512VL) && f.os_avx512;
        f.avx512vnni = (c & bit_AVX512VNNI) && f.os_avx512;
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
        f.avxvnni = (a & (1u << 4)) && f.os_avx;
        f.avx512bf16 = (a & (1u << 5)) && f.os_avx512;
    }
    return f;
}
#elif defined(__aarch64__)
static cpu_features detect() {
    cpu_features f;
    f.neon = true;  // Advanced SIMD is mandatory on AArch64
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP);
#ifdef HWCAP_ASIMDDP
    f.dotprod = hw & HWCAP_ASIMDDP;
#endif
    unsigned long hw2 = getauxval(AT_HWCAP2);
#ifdef HWCAP2_I8MM
    f.i8mm = hw2 & HWCAP2_I8MM;
#endif
    (void)hw2;
#endif
    return f;
}
#else
static cpu_features detect() { return cpu_features{}; }
#endif

const cpu_features & get_cpu_features() {
    static const cpu_features f = detect();
    return f;
}

std::vector<std::string> cpu_feature_names() {
    const cpu_features & f = get_cpu_features();
    std::vector<std::string> out;
    auto add = [&](bool on, const char * name) { if (on) out.emplace_back(name); };
    add(f.sse42, "sse4_2"); add(f.avx, "avx"); add(f.avx2, "avx2"); add(f.fma, "fma"); add(f.f16c, "f16c");
    add(f.avx512f, "avx512f"); add(f.avx512dq, "avx512dq"); add(f.avx512bw, "avx512bw");
    add(f.avx512vl, "avx512vl"); add(f.avx512vnni, "avx512_vnni"); add(f.avx512bf16, "avx512_bf16");
    add(f.avxvnni, "avx_vnni"); add(f.neon, "neon"); add(f.dotprod, "dotprod"); add(f.i8mm, "i8mm");
    return out;
}

}  // namespace ggufpy
