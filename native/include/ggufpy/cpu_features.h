// CPU feature detection, done once (cpuid + xgetbv on x86, getauxval on Linux/aarch64).
// Thread-safe after the first call (function-local static).
#pragma once

#include <string>
#include <vector>

namespace ggufpy {

struct cpu_features {
    bool sse42 = false, avx = false, avx2 = false, fma = false, f16c = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
    bool avx512vnni = false, avx512bf16 = false, avxvnni = false;
    bool neon = false, dotprod = false, i8mm = false;
    bool os_avx = false, os_avx512 = false;  // the OS saves the YMM / ZMM state (xgetbv)
};

const cpu_features & get_cpu_features();

// Names of the flags that are set, e.g. {"avx2", "fma", "avx512f", ...}.
std::vector<std::string> cpu_feature_names();

}  // namespace ggufpy
