// The llama forward pass on CPU: llama.cpp's llama graph (src/models/llama.cpp at 0c1e570, tensor names
// and dims in ../shared/spec/formats.md §6.2), with ggml's CPU numerics (see llama.cpp in this folder).
//
// The caller passes pointers into the file's memory map and keeps the map alive for the model's lifetime.
// Matrices are copied once at load into one arena the model owns (transparent huge pages): repacked where
// the kernel table has a packed form (kernels.h repack_kernels), else as they are; the file's pages of
// those tensors are handed back to the kernel (MADV_PAGEOUT), so the weights are resident once. Norm
// weights, biases and token_embd's looked-up rows are read from the map. Everything the
// forward pass needs (activations, the F16 KV cache, per-thread scratch) is allocated once here, sized by
// n_ctx and n_batch, so evaluating a token allocates nothing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ggufpy/kernels.h"

namespace ggufpy {
namespace model {

class ThreadPool;

// A tensor as stored: raw data, ggml type id, dims in GGUF order (ne0 = row length), byte size.
struct tensor_ref {
    const void * data = nullptr;
    uint32_t type = 0;
    int64_t ne0 = 0, ne1 = 1;
    size_t nbytes = 0;
};

// GGUF tensor name -> tensor; the model looks up the llama names and validates them.
using tensor_map = std::unordered_map<std::string, tensor_ref>;

struct llama_hparams {
    int n_vocab = 0, n_embd = 0, n_layer = 0, n_ff = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_rot = 0;
    int rope_type = 0;  // 0: NORM, pairs (2i, 2i+1); 2: NEOX, pairs (i, i + n_rot/2)
    float rope_freq_base = 10000.0f, rope_freq_scale = 1.0f, rope_attn_factor = 1.0f, rms_eps = 1e-5f;
};

struct llama_options {
    int n_ctx = 512;    // KV cache positions
    int n_batch = 512;  // tokens per forward pass (longer inputs are split)
    int n_threads = 1;
    bool repack = true;  // pack weights at load where the kernel table has a packed form (kernels.h)
    const kernel_table * kernels = nullptr;  // nullptr: default_kernels()
};

// One matmul weight (n_out rows of n_in elements) with its dot kernel.
struct matrix {
    const uint8_t * data = nullptr;
    uint32_t type = 0;
    int64_t n_in = 0, n_out = 0;
    size_t row_bytes = 0;
    vec_dot_fn dot = nullptr;
    mat_dot_fn mat = nullptr;  // optional tile kernel (nullptr: loop over dot)
    const uint8_t * packed = nullptr;  // the load-time packed form (kernels.h repack_kernels), else nullptr
    packed_dot_fn packed_dot = nullptr;
    int act = -1;  // slot of the activation type (vec_dot_type)
    const float * bias = nullptr;  // optional F32 [n_out]
};

struct llama_layer {
    const float * attn_norm = nullptr;
    matrix wq, wk, wv, wo;
    const float * ffn_norm = nullptr;
    matrix gate, up, down;
};

class LlamaModel {
public:
    // Throws std::invalid_argument naming the tensor for a missing tensor, wrong dims, or a type without
    // a kernel; std::invalid_argument for inconsistent hparams/options.
    LlamaModel(const llama_hparams & hp, const tensor_map & tensors, const llama_options & opt);
    ~LlamaModel();
    LlamaModel(const LlamaModel &) = delete;
    LlamaModel & operator=(const LlamaModel &) = delete;

    // Evaluate `n_tokens` tokens at positions n_past, n_past + 1, ... (n_past <= positions held: a smaller
    // value rewinds the cache). Writes logits of every token (all_logits) or of the last one only to
    // `logits` (n_tokens or 1 rows of n_vocab floats). Throws std::out_of_range for a bad token id or
    // positions beyond n_ctx. Not thread-safe: one eval at a time per model.
    void eval(const int32_t * tokens, int n_tokens, int n_past, bool all_logits, float * logits);
    void reset() { n_cached_ = 0; }

    int n_cached() const { return n_cached_; }
    int n_ctx() const { return opt_.n_ctx; }
    int n_batch() const { return opt_.n_batch; }
    int n_threads() const;
    const llama_hparams & hparams() const { return hp_; }
    const char * isa() const { return kt_->isa; }

    // The forward pass of one batch on thread `ith` (public for the pool's trampoline only).
    void forward_thread(int ith);

private:
    struct batch_state;
    void forward_batch(const int32_t * tokens, int n_tokens, int n_past, bool all_logits, float * logits);

    llama_hparams hp_;
    llama_options opt_;
    const kernel_table * kt_;
    tensor_ref tok_embd_;
    dequant_row_fn embd_dequant_ = nullptr;
    const float * output_norm_ = nullptr;
    const float * rope_freqs_ = nullptr;
    matrix output_;
    std::vector<llama_layer> layers_;

    std::unique_ptr<ThreadPool> pool_;
    int n_cached_ = 0;

    // buffers (n_batch rows each)
    std::vector<float> x_, cur_, q_, k_, v_, attn_, gate_, up_, rope_cos_, rope_sin_;
    std::vector<uint16_t> k_cache_, v_cache_;  // [n_layer][n_ctx][n_head_kv * head_dim], F16
    std::vector<std::vector<uint8_t>> act_;    // per activation-type slot: n_batch rows of converted activations
    std::vector<size_t> act_stride_;           // bytes per row in act_[slot] (for the widest input)
    std::vector<std::vector<uint8_t>> prep_;   // per activation-type slot: act_prep of act_ (packed matrices only)
    std::vector<size_t> prep_stride_;          // bytes per row in prep_[slot]; 0: no packed matrix reads it
    struct free_deleter {
        void operator()(void * p) const;
    };
    // The matrices (packed or copied; they replace the file's rows): bump-allocated, 64-byte aligned, from one
    // reserved anonymous mapping backed by transparent huge pages (a GEMV streams them ~10% faster than from
    // 4 KiB pages; one 2 MiB-rounded buffer per matrix instead cost the 1.1B Q4_0 model 200 MB); malloc once
    // it is used up.
    struct packed_arena {
        void * map = nullptr;
        size_t map_bytes = 0;
        uint8_t * base = nullptr;
        size_t cap = 0, used = 0;
        std::vector<std::unique_ptr<uint8_t, free_deleter>> extra;
        void reserve(size_t bytes);
        uint8_t * take(size_t bytes);
        ~packed_arena();
    };
    packed_arena packed_;
    std::vector<float> scratch_;               // per thread: n_ctx scores + head_dim accumulator
    std::vector<uint16_t> scratch16_;          // per thread: F16 query + F16 accumulator (2 * head_dim)
    size_t scratch_stride_ = 0;
    std::unique_ptr<std::atomic<int>[]> counters_;  // dynamic work counters, one per op of a batch
    int n_counters_ = 0;
    std::unique_ptr<batch_state> bs_;
};

}  // namespace model
}  // namespace ggufpy
