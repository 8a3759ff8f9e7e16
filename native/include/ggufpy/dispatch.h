// ISA selection: one kernel_table per ISA compiled in and runnable on this CPU.
// The default ISA is the best runnable one unless GGUFPY_ISA names another (checked once, at first use).
#pragma once

#include <string>
#include <vector>

#include "ggufpy/kernels.h"

namespace ggufpy {

// ISAs compiled into this build, best last.
std::vector<std::string> compiled_isas();
// Compiled ISAs this CPU can run, best last ("generic" always first).
std::vector<std::string> available_isas();
// Table for `isa`, or nullptr if it is not available here.
const kernel_table * get_kernels(const std::string & isa);
// The table chosen by default (GGUFPY_ISA override or best available); `error` is set when the
// override names an ISA that is not available.
const kernel_table & default_kernels();
std::string default_isa_error();

}  // namespace ggufpy
