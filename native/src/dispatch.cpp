// One kernel_table per ISA, registered only if compiled in AND runnable on this CPU
// (torchao's compile-time + runtime gate). GGUFPY_ISA=generic|avx2|avx512|avx512vnni|neon forces one.
#include "ggufpy/dispatch.h"

#include <cstdlib>

#include "ggufpy/blocks.h"
#include "ggufpy/cpu_features.h"

namespace ggufpy {

int type_slot(uint32_t type) {
    if (type < 43) return (int)type;
    if (type == T_NF4) return 43;
    if (type == T_TQ2_64) return 44;
    return -1;
}

template <typename... Fill>
static kernel_table build(const char * isa, Fill... fills) {
    kernel_table t{};
    (fills(t), ...);
    t.isa = isa;
    return t;
}

static const kernel_table k_generic = build("generic", fill_generic, fill_generic_vec_dot);
#if defined(GGUFPY_HAVE_X86)
static const kernel_table k_avx2 = build("avx2", fill_generic, fill_generic_vec_dot, fill_avx2, fill_avx2_vec_dot);
static const kernel_table k_avx512 = build("avx512", fill_generic, fill_generic_vec_dot, fill_avx2, fill_avx2_vec_dot,
                                           fill_avx512, fill_avx512_vec_dot);
// avx512 plus vpdpbusd dot products (Cascade Lake, Ice Lake, Zen 4 and later).
static const kernel_table k_avx512vnni = build("avx512vnni", fill_generic, fill_generic_vec_dot, fill_avx2,
                                               fill_avx2_vec_dot, fill_avx512, fill_avx512_vec_dot, fill_avx512vnni);
#endif
#if defined(GGUFPY_HAVE_NEON)
static const kernel_table k_neon = build("neon", fill_generic, fill_generic_vec_dot, fill_neon);
#endif

struct entry {
    const kernel_table * table;
    bool (*runnable)(const cpu_features &);
};

static const entry k_entries[] = {
    {&k_generic, [](const cpu_features &) { return true; }},
#if defined(GGUFPY_HAVE_X86)
    {&k_avx2, [](const cpu_features & f) { return f.avx2 && f.fma && f.f16c; }},
    {&k_avx512, [](const cpu_features & f) {
         return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx2 && f.fma && f.f16c;
     }},
    {&k_avx512vnni, [](const cpu_features & f) {
         return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni && f.avx2 && f.fma && f.f16c;
     }},
#endif
#if defined(GGUFPY_HAVE_NEON)
    {&k_neon, [](const cpu_features & f) { return f.neon; }},
#endif
};

std::vector<std::string> compiled_isas() {
    std::vector<std::string> out;
    for (const entry & e : k_entries) out.emplace_back(e.table->isa);
    return out;
}

std::vector<std::string> available_isas() {
    std::vector<std::string> out;
    for (const entry & e : k_entries)
        if (e.runnable(get_cpu_features())) out.emplace_back(e.table->isa);
    return out;
}

const kernel_table * get_kernels(const std::string & isa) {
    for (const entry & e : k_entries)
        if (isa == e.table->isa && e.runnable(get_cpu_features())) return e.table;
    return nullptr;
}

struct choice {
    const kernel_table * table;
    std::string error;
};

static choice choose() {
    const char * env = std::getenv("GGUFPY_ISA");
    const kernel_table * best = &k_generic;
    for (const entry & e : k_entries)
        if (e.runnable(get_cpu_features())) best = e.table;
    if (env == nullptr || *env == '\0' || std::string(env) == "auto") return {best, ""};
    const kernel_table * forced = get_kernels(env);
    if (forced) return {forced, ""};
    return {best, std::string("GGUFPY_ISA=") + env + " is not available on this CPU/build"};
}

static const choice & chosen() {
    static const choice c = choose();
    return c;
}

const kernel_table & default_kernels() { return *chosen().table; }
std::string default_isa_error() { return chosen().error; }

}  // namespace ggufpy
