// The only file that includes pybind11: validate, release the GIL, call the kernel table.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "ggufpy/blocks.h"
#include "ggufpy/cpu_features.h"
#include "ggufpy/dispatch.h"
#include "ggufpy/kernels.h"

namespace py = pybind11;
using namespace ggufpy;

namespace {

using u16_array = py::array_t<uint16_t, py::array::c_style>;

// Accept a C-contiguous array of 2-byte elements (uint16, float16, or raw uint8 bytes of even length)
// and view it as uint16 without copying.
py::array as_u16(const py::array & a, const char * what) {
    if (!(a.flags() & py::array::c_style))
        throw py::value_error(std::string(what) + ": expected a C-contiguous array");
    const py::dtype dt = a.dtype();
    if (dt.itemsize() == 2) return a.attr("view")(py::dtype("<u2"));
    if (dt.itemsize() == 1 && dt.kind() == 'u') {
        if (a.nbytes() % 2) throw py::value_error(std::string(what) + ": byte length must be even, got " +
                                                  std::to_string(a.nbytes()));
        return a.attr("reshape")(-1).attr("view")(py::dtype("<u2"));
    }
    throw py::type_error(std::string(what) + ": expected uint16/float16 (or uint8 bytes), got dtype " +
                         std::string(py::str(dt)));
}

template <typename Fn>
py::array_t<float> convert_u16(Fn fn, const py::array & src, const char * what) {
    py::array h = as_u16(src, what);
    py::array_t<float> out(h.request().shape);
    const auto * in = static_cast<const uint16_t *>(h.data());
    float * dst = out.mutable_data();
    const size_t n = (size_t)h.size();
    {
        py::gil_scoped_release release;
        fn(in, dst, n);
    }
    return out;
}

struct Kernels {
    const kernel_table * t;
};

dequant_row_fn dequant_fn(const Kernels & k, uint32_t type) {
    const int slot = type_slot(type);
    return slot < 0 ? nullptr : k.t->dequant[slot];
}

// raw block bytes (uint8, C-contiguous, whole blocks) -> flat float32
py::array_t<float> dequantize(const Kernels & k, uint32_t type, const py::array & src) {
    dequant_row_fn fn = dequant_fn(k, type);
    const block_layout bl = layout_of(type);
    if (!fn || bl.block_size == 0) throw py::value_error("no native dequantizer for type id " + std::to_string(type));
    if (!(src.flags() & py::array::c_style)) throw py::value_error("dequantize: expected a C-contiguous array");
    if (src.dtype().kind() != 'u' || src.dtype().itemsize() != 1)
        throw py::type_error("dequantize: expected uint8 bytes, got dtype " + std::string(py::str(src.dtype())));
    const size_t n_bytes = (size_t)src.nbytes();
    if (n_bytes % (size_t)bl.type_size)
        throw py::value_error("dequantize: " + std::to_string(n_bytes) + " bytes is not a whole number of " +
                              std::to_string(bl.type_size) + "-byte blocks");
    const size_t n = n_bytes / bl.type_size * bl.block_size;
    py::array_t<float> out((py::ssize_t)n);
    const void * in = src.data();
    float * dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        fn(in, dst, n);
    }
    return out;
}

quantize_row_fn quantize_fn(const Kernels & k, uint32_t type) {
    const int slot = type_slot(type);
    return slot < 0 ? nullptr : k.t->quantize[slot];
}

// float32 (C-contiguous, whole blocks) -> flat raw block bytes (uint8)
py::array_t<uint8_t> quantize(const Kernels & k, uint32_t type, const py::array & src) {
    quantize_row_fn fn = quantize_fn(k, type);
    const block_layout bl = layout_of(type);
    if (!fn || bl.block_size == 0) throw py::value_error("no native quantizer for type id " + std::to_string(type));
    if (!py::isinstance<py::array_t<float>>(src))  // native-endian float32 only
        throw py::type_error("quantize: expected float32, got dtype " + std::string(py::str(src.dtype())));
    if (!(src.flags() & py::array::c_style)) throw py::value_error("quantize: expected a C-contiguous array");
    const size_t n = (size_t)src.size();
    if (n % (size_t)bl.block_size)
        throw py::value_error("quantize: expected a multiple of the block size " + std::to_string(bl.block_size) +
                              " elements, got " + std::to_string(n));
    py::array_t<uint8_t> out((py::ssize_t)(n / bl.block_size * bl.type_size));
    const float * in = static_cast<const float *>(src.data());
    void * dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        fn(in, dst, n);
    }
    return out;
}

int slot_or_throw(uint32_t type, const char * what) {
    const int slot = type_slot(type);
    if (slot < 0) throw py::value_error(std::string(what) + ": unknown type id " + std::to_string(type));
    return slot;
}

const py::array & check_bytes(const py::array & a, const char * what) {
    if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(what) + ": expected a C-contiguous array");
    if (a.dtype().kind() != 'u' || a.dtype().itemsize() != 1)
        throw py::type_error(std::string(what) + ": expected uint8 bytes, got dtype " + std::string(py::str(a.dtype())));
    return a;
}

// float32 row(s) -> raw blocks of activation type `type` (the matmul's from_float)
py::array_t<uint8_t> from_float(const Kernels & k, uint32_t type, const py::array & src) {
    const from_float_fn fn = k.t->from_float[slot_or_throw(type, "from_float")];
    const block_layout bl = type == T_F32 ? block_layout{1, 4} : layout_of(type);
    if (!fn || bl.block_size == 0) throw py::value_error("no activation converter to type id " + std::to_string(type));
    if (!py::isinstance<py::array_t<float>>(src) || !(src.flags() & py::array::c_style))
        throw py::type_error("from_float: expected C-contiguous float32, got dtype " + std::string(py::str(src.dtype())));
    const size_t n = (size_t)src.size();
    if (n % (size_t)bl.block_size)
        throw py::value_error("from_float: " + std::to_string(n) + " elements is not a multiple of the block size " +
                              std::to_string(bl.block_size));
    py::array_t<uint8_t> out((py::ssize_t)(n / bl.block_size * bl.type_size));
    const float * in = static_cast<const float *>(src.data());
    void * dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        fn(in, dst, n);
    }
    return out;
}

// rows of weight type `type` (uint8, each n elements) . one activation row (uint8, vec_dot_type) -> float32 per row
py::array_t<float> vec_dot(const Kernels & k, uint32_t type, const py::array & w, const py::array & a, size_t n) {
    const int slot = slot_or_throw(type, "vec_dot");
    const vec_dot_fn fn = k.t->vec_dot[slot];
    if (!fn) throw py::value_error("no native vec_dot for type id " + std::to_string(type));
    const uint32_t vdt = k.t->vec_dot_type[slot];
    const block_layout bw = type == T_F32 ? block_layout{1, 4} : layout_of(type);
    const block_layout ba = vdt == T_F32 ? block_layout{1, 4} : layout_of(vdt);
    if (n == 0 || n % (size_t)bw.block_size || n % (size_t)ba.block_size)
        throw py::value_error("vec_dot: n = " + std::to_string(n) + " is not a positive multiple of the block sizes");
    const size_t w_row = n / bw.block_size * bw.type_size, a_row = n / ba.block_size * ba.type_size;
    check_bytes(w, "vec_dot: w");
    check_bytes(a, "vec_dot: a");
    if ((size_t)w.nbytes() % w_row || (size_t)a.nbytes() != a_row)
        throw py::value_error("vec_dot: expected whole weight rows of " + std::to_string(w_row) + " bytes and one " +
                              std::to_string(a_row) + "-byte activation row, got " + std::to_string(w.nbytes()) +
                              " and " + std::to_string(a.nbytes()) + " bytes");
    const size_t rows = (size_t)w.nbytes() / w_row;
    py::array_t<float> out((py::ssize_t)rows);
    const auto * wp = static_cast<const uint8_t *>(w.data());
    const void * ap = a.data();
    float * dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        for (size_t r = 0; r < rows; ++r) dst[r] = fn(n, wp + r * w_row, ap);
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "ggufpy native kernels (use through ggufpy.quants._native)";

    py::class_<Kernels>(m, "Kernels")
        .def_property_readonly("isa", [](const Kernels & k) { return std::string(k.t->isa); })
        .def("fp16_to_fp32",
             [](const Kernels & k, const py::array & src) { return convert_u16(k.t->fp16_to_fp32, src, "fp16_to_fp32"); },
             py::arg("src"), "Decode IEEE half bits to float32 (exact; NaN payloads kept).")
        .def("bf16_to_fp32",
             [](const Kernels & k, const py::array & src) { return convert_u16(k.t->bf16_to_fp32, src, "bf16_to_fp32"); },
             py::arg("src"), "Decode bfloat16 bits to float32 (exact).")
        .def("dequantize", &dequantize, py::arg("type"), py::arg("src"),
             "Raw blocks of ggml/ggufpy type id `type` (uint8) to flat float32.")
        .def("has_dequantize", [](const Kernels & k, uint32_t type) { return dequant_fn(k, type) != nullptr; })
        .def("quantize", &quantize, py::arg("type"), py::arg("src"),
             "float32 (C-contiguous, a whole number of blocks) to flat raw blocks (uint8) of type id `type`.")
        .def("has_quantize", [](const Kernels & k, uint32_t type) { return quantize_fn(k, type) != nullptr; })
        .def("vec_dot_type", [](const Kernels & k, uint32_t type) -> py::object {
            const int slot = type_slot(type);
            if (slot < 0 || !k.t->vec_dot[slot]) return py::none();
            return py::int_(k.t->vec_dot_type[slot]);
        }, py::arg("type"), "Activation type id the matmul of weight type `type` converts to (None: no kernel).")
        .def("from_float", &from_float, py::arg("type"), py::arg("src"),
             "float32 activations to raw blocks of activation type id `type` (F32, F16, Q8_0, Q8_1, Q8_K).")
        .def("vec_dot", &vec_dot, py::arg("type"), py::arg("w"), py::arg("a"), py::arg("n"),
             "Dot of each n-element weight row (uint8 blocks of type id `type`) with one activation row (uint8 "
             "blocks of vec_dot_type(type)); float32 per row.")
        .def("__repr__", [](const Kernels & k) { return std::string("<ggufpy._native.Kernels isa=") + k.t->isa + ">"; });

    m.def("kernels", [](py::object isa) {
        if (isa.is_none()) return Kernels{&default_kernels()};
        const std::string name = py::cast<std::string>(isa);
        const kernel_table * t = get_kernels(name);
        if (!t) throw py::value_error("ISA '" + name + "' is not available here; available: " +
                                      std::string(py::str(py::cast(available_isas()))));
        return Kernels{t};
    }, py::arg("isa") = py::none(), "Kernel table for an ISA (default: the chosen one).");
    m.def("block_layout", [](uint32_t type) {
        const block_layout bl = layout_of(type);
        return py::make_tuple(bl.block_size, bl.type_size);
    }, "(block_size, type_size) of the native block struct for a type id ((0, 0) if none).");
    m.def("cpu_features", &cpu_feature_names, "CPU feature flags detected at run time.");
    m.def("compiled_isas", &compiled_isas);
    m.def("available_isas", &available_isas);
    m.def("default_isa", []() { return std::string(default_kernels().isa); });
    m.def("default_isa_error", &default_isa_error, "Why a GGUFPY_ISA override was ignored ('' if it was not).");
#ifdef GGUFPY_CUDA
    m.attr("cuda_compiled") = true;
#else
    m.attr("cuda_compiled") = false;
#endif
    m.attr("compiler") = std::string(
#if defined(__clang__)
        "clang " __clang_version__
#elif defined(__GNUC__)
        "gcc " __VERSION__
#else
        "unknown"
#endif
    );
}
