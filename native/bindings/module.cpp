// The only file that includes pybind11: validate, release the GIL, call the kernel table.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ggufpy/blocks.h"
#include "ggufpy/cpu_features.h"
#include "ggufpy/dispatch.h"
#include "ggufpy/kernels.h"
#include "model/llama.h"

namespace py = pybind11;
using namespace ggufpy;

namespace {

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
    const block_layout bl = layout_of(type);
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

// Bytes per row of n elements for a weight type and its vec_dot_type; validates n and both arrays.
struct row_bytes {
    size_t w, a;
};
row_bytes dot_rows(const Kernels & k, int slot, uint32_t type, const py::array & w, const py::array & a, size_t n,
                   const char * what) {
    const block_layout bw = layout_of(type), ba = layout_of(k.t->vec_dot_type[slot]);
    if (n == 0 || n % (size_t)bw.block_size || n % (size_t)ba.block_size)
        throw py::value_error(std::string(what) + ": n = " + std::to_string(n) +
                              " is not a positive multiple of the block sizes");
    check_bytes(w, (std::string(what) + ": w").c_str());
    check_bytes(a, (std::string(what) + ": a").c_str());
    return {n / bw.block_size * bw.type_size, n / ba.block_size * ba.type_size};
}

// rows of weight type `type` (uint8, each n elements) . one activation row (uint8, vec_dot_type) -> float32 per row
py::array_t<float> vec_dot(const Kernels & k, uint32_t type, const py::array & w, const py::array & a, size_t n) {
    const int slot = slot_or_throw(type, "vec_dot");
    const vec_dot_fn fn = k.t->vec_dot[slot];
    if (!fn) throw py::value_error("no native vec_dot for type id " + std::to_string(type));
    const auto [w_row, a_row] = dot_rows(k, slot, type, w, a, n, "vec_dot");
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

// The native llama model plus the arrays whose memory it reads (kept alive with it).
struct Llama {
    std::unique_ptr<model::LlamaModel> m;
    py::list keep;
    std::mutex busy;  // one eval at a time (the GIL is released during eval)
};

std::unique_ptr<Llama> make_llama(const py::dict & hp, const py::dict & tensors, int n_ctx, int n_batch,
                                  int n_threads, const py::object & isa) {
    model::llama_hparams h;
    auto get = [&](const char * key) -> py::handle {
        if (!hp.contains(key)) throw py::value_error(std::string("LlamaModel: hparams lacks '") + key + "'");
        return hp[key];
    };
    for (auto & [key, field] : {std::pair<const char *, int *>{"n_vocab", &h.n_vocab}, {"n_embd", &h.n_embd},
                                {"n_layer", &h.n_layer}, {"n_ff", &h.n_ff}, {"n_head", &h.n_head},
                                {"n_head_kv", &h.n_head_kv}, {"head_dim", &h.head_dim}, {"n_rot", &h.n_rot},
                                {"rope_type", &h.rope_type}})
        *field = py::cast<int>(get(key));
    for (auto & [key, field] : {std::pair<const char *, float *>{"rope_freq_base", &h.rope_freq_base},
                                {"rope_freq_scale", &h.rope_freq_scale}, {"rope_attn_factor", &h.rope_attn_factor},
                                {"rms_eps", &h.rms_eps}})
        *field = py::cast<float>(get(key));

    auto out = std::make_unique<Llama>();
    model::tensor_map tm;
    for (auto item : tensors) {
        // name -> (uint8 array, type id, ne0, ne1)
        auto tup = py::cast<py::tuple>(item.second);
        if (tup.size() != 4) throw py::value_error("LlamaModel: tensors values must be (array, type, ne0, ne1)");
        py::array a = py::cast<py::array>(tup[0]);
        check_bytes(a, "LlamaModel tensor");
        model::tensor_ref t;
        t.data = a.data();
        t.type = py::cast<uint32_t>(tup[1]);
        t.ne0 = py::cast<int64_t>(tup[2]);
        t.ne1 = py::cast<int64_t>(tup[3]);
        t.nbytes = (size_t)a.nbytes();
        tm.emplace(py::cast<std::string>(item.first), t);
        out->keep.append(a);
    }
    model::llama_options o;
    o.n_ctx = n_ctx;
    o.n_batch = n_batch;
    o.n_threads = n_threads;
    if (!isa.is_none()) {
        const std::string name = py::cast<std::string>(isa);
        o.kernels = get_kernels(name);
        if (!o.kernels) throw py::value_error("ISA '" + name + "' is not available here");
    }
    out->m = std::make_unique<model::LlamaModel>(h, tm, o);  // std::invalid_argument -> ValueError
    return out;
}

py::array_t<float> llama_eval(Llama & self, const py::array & tokens_in, int n_past, bool all_logits) {
    auto tokens = py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(tokens_in);
    if (!tokens || tokens.ndim() != 1) throw py::value_error("eval: tokens must be a 1-D integer array");
    const int n = (int)tokens.size();
    const int n_vocab = self.m->hparams().n_vocab;
    py::array_t<float> logits({all_logits ? (py::ssize_t)n : (py::ssize_t)1, (py::ssize_t)n_vocab});
    const int32_t * tp = tokens.data();
    float * lp = logits.mutable_data();
    {
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(self.busy);
        self.m->eval(tp, n, n_past, all_logits, lp);  // std::out_of_range -> IndexError
    }
    return logits;
}

// weight rows . activation rows through the tile kernel -> float32 (n_act_rows, n_weight_rows)
py::array_t<float> mat_dot(const Kernels & k, uint32_t type, const py::array & w, const py::array & a, size_t n) {
    const int slot = slot_or_throw(type, "mat_dot");
    const mat_dot_fn fn = k.t->mat_dot[slot];
    if (!fn) throw py::value_error("no native mat_dot for type id " + std::to_string(type));
    const auto [w_row, a_row] = dot_rows(k, slot, type, w, a, n, "mat_dot");
    if ((size_t)w.nbytes() % w_row || (size_t)a.nbytes() % a_row || w.nbytes() == 0 || a.nbytes() == 0)
        throw py::value_error("mat_dot: expected whole rows of " + std::to_string(w_row) + " (weights) and " +
                              std::to_string(a_row) + " (activations) bytes");
    const int nr = (int)((size_t)w.nbytes() / w_row), nc = (int)((size_t)a.nbytes() / a_row);
    py::array_t<float> out({(py::ssize_t)nc, (py::ssize_t)nr});
    const void * wp = w.data();
    const void * ap = a.data();
    float * dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        fn(n, wp, w_row, nr, ap, a_row, nc, dst, (size_t)nr);
    }
    return out;
}

// The same through the load-time packed form: repack the rows, prepare the activations, one packed_dot over
// all rows (nc = 1 runs the decode kernel) -> float32 (n_act_rows, n_weight_rows).
py::array_t<float> packed_mat_dot(const Kernels & k, uint32_t type, const py::array & w, const py::array & a, size_t n) {
    const int slot = slot_or_throw(type, "packed_mat_dot");
    const repack_kernels & rk = k.t->repack[slot];
    if (!rk.row_group) throw py::value_error("no packed form for type id " + std::to_string(type));
    const auto [w_row, a_row] = dot_rows(k, slot, type, w, a, n, "packed_mat_dot");
    if ((size_t)w.nbytes() % w_row || (size_t)a.nbytes() % a_row || w.nbytes() == 0 || a.nbytes() == 0)
        throw py::value_error("packed_mat_dot: expected whole rows of " + std::to_string(w_row) + " (weights) and " +
                              std::to_string(a_row) + " (activations) bytes");
    const int act = type_slot(k.t->vec_dot_type[slot]);
    const int nr = (int)((size_t)w.nbytes() / w_row), nc = (int)((size_t)a.nbytes() / a_row);
    py::array_t<float> out({(py::ssize_t)nc, (py::ssize_t)nr});
    const uint8_t * wp = (const uint8_t *)w.data();
    const uint8_t * ap = (const uint8_t *)a.data();
    float * dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        std::vector<uint8_t> packed(rk.packed_bytes((size_t)nr, n) + 64);
        uint8_t * pw = packed.data() + (64 - (uintptr_t)packed.data() % 64) % 64;
        rk.repack(wp, (size_t)nr, n, pw);
        const size_t ps = k.t->act_prep_bytes[act](n);
        std::vector<uint8_t> prep(ps * (size_t)nc);
        for (int c = 0; c < nc; ++c) k.t->act_prep[act](ap + (size_t)c * a_row, prep.data() + (size_t)c * ps, n);
        rk.packed_dot(n, pw, 0, nr, prep.data(), ps, nc, dst, (size_t)nr);
    }
    return out;
}

// The prompt attention tile: q float32 (nq, hd), nq <= 32; n_keys int (nq,), each in 1..n; k, v float16
// (n, hd) -> float32 (nq, hd).
py::array_t<float> attend_tile(const Kernels & k, const py::array & q_in, const py::array & nk_in, const py::array & k_in,
                               const py::array & v_in, float scale) {
    if (!k.t->attend_tile) throw py::value_error(std::string("no attend_tile kernel in the ") + k.t->isa + " table");
    auto q = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(q_in);
    auto nk = py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(nk_in);
    if (!q || q.ndim() != 2 || q.shape(0) < 1 || q.shape(0) > kAttendTileRows || q.shape(1) < 1)
        throw py::value_error("attend_tile: q must be float32 (nq, hd) with 1 <= nq <= " + std::to_string(kAttendTileRows));
    const int nq = (int)q.shape(0), hd = (int)q.shape(1);
    if (!nk || nk.ndim() != 1 || nk.shape(0) != nq) throw py::value_error("attend_tile: n_keys must be (nq,) integers");
    for (const py::array * a : {&k_in, &v_in})
        if (a->ndim() != 2 || a->itemsize() != 2 || a->shape(1) != hd || !(a->flags() & py::array::c_style))
            throw py::value_error("attend_tile: k and v must be C-contiguous float16 (n, hd)");
    if (k_in.shape(0) != v_in.shape(0)) throw py::value_error("attend_tile: k and v differ in rows");
    const int64_t n = k_in.shape(0);
    for (int i = 0; i < nq; ++i)
        if (nk.data()[i] < 1 || nk.data()[i] > n) throw py::value_error("attend_tile: n_keys must lie in 1..n");
    py::array_t<float> out({(py::ssize_t)nq, (py::ssize_t)hd});
    std::vector<const float *> qs(nq);
    std::vector<float *> os(nq);
    for (int i = 0; i < nq; ++i) {
        qs[i] = q.data() + (size_t)i * hd;
        os[i] = out.mutable_data() + (size_t)i * hd;
    }
    const uint16_t * kp = (const uint16_t *)k_in.data();
    const uint16_t * vp = (const uint16_t *)v_in.data();
    const int32_t * nkp = nk.data();
    {
        py::gil_scoped_release release;
        std::vector<float> scratch(attend_tile_scratch_floats((size_t)hd));
        k.t->attend_tile(hd, nq, qs.data(), nkp, kp, vp, (size_t)hd, scale, scratch.data(), os.data());
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
        .def("has_mat_dot", [](const Kernels & k, uint32_t type) {
            const int slot = type_slot(type);
            return slot >= 0 && k.t->mat_dot[slot] != nullptr;
        })
        .def("mat_dot", &mat_dot, py::arg("type"), py::arg("w"), py::arg("a"), py::arg("n"),
             "Every weight row (uint8 blocks of type id `type`, n elements each) . every activation row (uint8 "
             "blocks of vec_dot_type(type)) through the tile kernel; float32 (activation rows, weight rows).")
        .def("has_packed", [](const Kernels & k, uint32_t type) {
            const int slot = type_slot(type);
            return slot >= 0 && k.t->repack[slot].row_group != 0;
        })
        .def("packed_mat_dot", &packed_mat_dot, py::arg("type"), py::arg("w"), py::arg("a"), py::arg("n"),
             "mat_dot through the load-time packed form of the weights (has_packed(type)).")
        .def("vec_dot", &vec_dot, py::arg("type"), py::arg("w"), py::arg("a"), py::arg("n"),
             "Dot of each n-element weight row (uint8 blocks of type id `type`) with one activation row (uint8 "
             "blocks of vec_dot_type(type)); float32 per row.")
        .def_property_readonly("has_attend_tile", [](const Kernels & k) { return k.t->attend_tile != nullptr; })
        .def("attend_tile", &attend_tile, py::arg("q"), py::arg("n_keys"), py::arg("k"), py::arg("v"), py::arg("scale"),
             "Prompt attention for up to 32 query rows sharing one KV head (kernels.h attend_tile).")
        .def("__repr__", [](const Kernels & k) { return std::string("<ggufpy._native.Kernels isa=") + k.t->isa + ">"; });

    m.def("kernels", [](py::object isa) {
        if (isa.is_none()) return Kernels{&default_kernels()};
        const std::string name = py::cast<std::string>(isa);
        const kernel_table * t = get_kernels(name);
        if (!t) throw py::value_error("ISA '" + name + "' is not available here; available: " +
                                      std::string(py::str(py::cast(available_isas()))));
        return Kernels{t};
    }, py::arg("isa") = py::none(), "Kernel table for an ISA (default: the chosen one).");
    py::class_<Llama>(m, "LlamaModel")
        .def(py::init(&make_llama), py::arg("hparams"), py::arg("tensors"), py::arg("n_ctx"), py::arg("n_batch"),
             py::arg("n_threads"), py::arg("isa") = py::none(),
             "hparams: dict of llama_hparams fields; tensors: GGUF name -> (uint8 array, type id, ne0, ne1). The "
             "arrays are kept alive by the model, which reads them in place.")
        .def("eval", &llama_eval, py::arg("tokens"), py::arg("n_past"), py::arg("all_logits") = true,
             "Logits (n_tokens or 1, n_vocab) float32 of tokens at positions n_past.. (the GIL is released).")
        .def("reset", [](Llama & self) {
            py::gil_scoped_release release;  // an eval in flight holds `busy` and needs the GIL to return
            std::lock_guard<std::mutex> lock(self.busy);
            self.m->reset();
        })
        .def_property_readonly("n_cached", [](const Llama & self) { return self.m->n_cached(); })
        .def_property_readonly("n_ctx", [](const Llama & self) { return self.m->n_ctx(); })
        .def_property_readonly("n_batch", [](const Llama & self) { return self.m->n_batch(); })
        .def_property_readonly("n_threads", [](const Llama & self) { return self.m->n_threads(); })
        .def_property_readonly("isa", [](const Llama & self) { return std::string(self.m->isa()); });

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
