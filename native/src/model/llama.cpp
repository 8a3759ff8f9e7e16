// The llama graph, executed SPMD style: every pool thread runs forward_thread() over the same op list,
// taking its share of each op (static row splits for the cheap ops, an atomic chunk counter for the
// matmuls and attention) with a barrier between dependent ops, as ggml's graph compute does.
//
// Numerics follow ggml's CPU backend and ggufpy/runtime/reference.py (the oracle):
//   * matmul: activations converted once per op to the weight type's vec_dot_type (from_float), then
//     one dot per (weight row, token): tiles of rows x tokens (mat_dot) for batches, vec_dot for a
//     single token, both the same float operations per pair (so batch and decode agree bitwise); or,
//     for types whose kernel table has a packed form (kernels.h repack_kernels), weights repacked at load
//     and packed_dot for both (on activations prepared once per op by act_prep), again the same floats;
//   * rms_norm: float32 squares summed in double, scale = 1.0f / sqrtf(mean + eps), (x * scale) * w;
//   * RoPE: ggml_rope_cache_init's theta recurrence in float32, cos/sin correctly rounded, x0*c - x1*s;
//   * attention: K/V stored as F16; causal over positions 0..pos; ggml's two flash-attention kernels,
//     chosen by batch size as ggml does (attend_f32 / attend_f16 below); a table with attend_tile runs
//     the batch kernel on tiles of 32 query rows of one KV head instead (its own online softmax over key
//     blocks, as ggml's tiled kernel; the same softmax, other roundings);
//   * SwiGLU: silu(g) * u with silu(g) = g / (1 + expf(-g)).
// As llama.cpp, the last layer computes attention output and FFN only for the rows whose logits are
// wanted (its inp_out_ids), and a batch that wants none stops there once K/V are stored.
#include "llama.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include <sys/mman.h>

#include "ggufpy/blocks.h"
#include "ggufpy/dispatch.h"
#include "ggufpy/float_bits.h"
#include "thread_pool.h"

namespace ggufpy {
namespace model {

namespace {

constexpr int kRowChunk = 16;        // weight rows per matmul work item
constexpr int kRowChunkSingle = 64;  // ... when there is a single activation row (decode; ggml's choice too)
constexpr int kRowChunkSinglePacked = 128;  // ... of a packed matrix (the decode kernels read two row panels at once)
constexpr int kTokenChunk = 32;      // tokens per matmul work item (activations stay in L1 across the rows)
constexpr int kRowChunkPacked = 64;  // weight rows per work item of an op with a packed matrix (a multiple of row_group)
constexpr int kTokenChunkPacked = 48;  // ... and tokens (a multiple of the packed tiles' 6)
constexpr int kColChunk = 256;       // elements per work item when a single row is split (a Q8_K block)
constexpr int kFlashTileQ = 64;      // GGML_FA_TILE_Q: smaller batches take ggml's one-row attention kernel

size_t bytes_for(uint32_t type, int64_t n) {
    const block_layout bl = layout_of(type);
    return (size_t)(n / bl.block_size) * (size_t)bl.type_size;
}

struct span {
    int64_t begin, end;
};

// Static share of [0, n) for thread ith of nth (contiguous, sizes differ by at most one).
span split(int64_t n, int ith, int nth) {
    const int64_t base = n / nth, extra = n % nth;
    const int64_t begin = ith * base + std::min<int64_t>(ith, extra);
    return {begin, begin + base + (ith < extra ? 1 : 0)};
}

void rms_norm_row(const float * x, const float * w, float * y, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

void rope_row(float * x, int n_heads, int head_dim, int n_rot, const float * c, const float * s, int rope_type) {
    const int half = n_rot / 2;
    for (int h = 0; h < n_heads; ++h) {
        float * v = x + (size_t)h * head_dim;
        if (rope_type == 0) {  // NORM: adjacent pairs
            for (int i = 0; i < half; ++i) {
                const float x0 = v[2 * i], x1 = v[2 * i + 1];
                v[2 * i] = x0 * c[i] - x1 * s[i];
                v[2 * i + 1] = x0 * s[i] + x1 * c[i];
            }
        } else {  // NEOX: halves
            for (int i = 0; i < half; ++i) {
                const float x0 = v[i], x1 = v[i + half];
                v[i] = x0 * c[i] - x1 * s[i];
                v[i + half] = x0 * s[i] + x1 * c[i];
            }
        }
    }
}

// Causal attention of one query row over keys 0..n_keys-1 for batches of at least kFlashTileQ rows, as
// ggml's tiled flash-attention kernel computes it: q float32, K/V read from F16, scores (q . k) * scale,
// softmax exp(s - max), output (sum_j e_j v_j) * (1 / sum_j e_j). scratch: n_keys + hd floats.
void attend_f32(const kernel_table & kt, int hd, int n_keys, const float * q, const uint16_t * K, const uint16_t * V,
                size_t kv_stride, float scale, float * scratch, float * out) {
    float * scores = scratch;
    float * acc = scratch + n_keys;
    float mx = -std::numeric_limits<float>::infinity();
    kt.dot_f16_f32_rows((size_t)hd, (size_t)n_keys, K, kv_stride, q, scores);
    for (int j = 0; j < n_keys; ++j) {
        const float s = scores[j] * scale;
        scores[j] = s;
        mx = std::max(mx, s);
    }
    float sum = 0.0f;
    for (int j = 0; j < n_keys; ++j) {
        const float e = std::exp(scores[j] - mx);
        scores[j] = e;
        sum += e;
    }
    std::fill(acc, acc + hd, 0.0f);
    kt.mad_f16_rows((size_t)hd, (size_t)n_keys, acc, V, kv_stride, scores);
    const float inv = 1.0f / sum;
    for (int i = 0; i < hd; ++i) out[i] = acc[i] * inv;
}

// The same for smaller batches (every decode step), as ggml's one-row kernel
// (ggml_compute_forward_flash_attn_ext_f16_one_chunk) computes it: q rounded to F16, F16 dots, keys in order
// with an online softmax whose V accumulator is F16 (each scale and multiply-add rounded to F16).
// scratch16: 2 * hd halves.
void attend_f16(const kernel_table & kt, int hd, int n_keys, const float * q, const uint16_t * K, const uint16_t * V,
                size_t kv_stride, float scale, uint16_t * scratch16, float * out) {
    uint16_t * q16 = scratch16;
    uint16_t * acc = scratch16 + hd;
    const vec_dot_fn dot_f16 = kt.dot_f16;
    kt.from_float[type_slot(T_F16)](q, q16, (size_t)hd);
    std::fill(acc, acc + hd, (uint16_t)0);
    float M = -std::numeric_limits<float>::infinity(), S = 0.0f;
    for (int j = 0; j < n_keys; ++j) {
        const float s = dot_f16((size_t)hd, K + (size_t)j * kv_stride, q16) * scale;
        float ms = 1.0f, vs = 1.0f;
        if (s > M) {  // new maximum: rescale what was accumulated (ms = 0 for the first key)
            const float m_old = M;
            M = s;
            ms = std::exp(m_old - M);
            kt.scale_f16((size_t)hd, acc, ms);
        } else {
            vs = std::exp(s - M);
        }
        kt.mad_f16_f16((size_t)hd, acc, V + (size_t)j * kv_stride, vs);
        S = S * ms + vs;
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int i = 0; i < hd; ++i) out[i] = fp16_to_fp32(acc[i]) * inv;
}

std::string tensor_error(const std::string & name, const std::string & what) { return "tensor '" + name + "': " + what; }

// The file's copy of a packed tensor is not read again (but for token_embd's looked-up rows, which fault
// back in): let the kernel reclaim its pages so the model does not hold the weights twice. MADV_PAGEOUT
// only reclaims (file pages are dropped, anonymous ones swapped), never changes the contents, so it is safe
// whatever the caller's buffer is; errors (old kernels, no swap) just leave the pages where they are.
void release_pages(const void * p, size_t n) {
#if defined(MADV_PAGEOUT)
    const uintptr_t page = 4096, b = ((uintptr_t)p + page - 1) / page * page, e = ((uintptr_t)p + n) / page * page;
    if (e > b) (void)madvise((void *)b, e - b, MADV_PAGEOUT);
#else
    (void)p;
    (void)n;
#endif
}

}  // namespace

// What forward_thread needs about the batch in flight.
struct LlamaModel::batch_state {
    const int32_t * tokens = nullptr;
    int n = 0;           // tokens in the batch
    int n_past = 0;      // position of tokens[0]
    int out_row0 = 0;    // first token whose logits are wanted
    int n_out = 0;       // how many (0: none)
    float * logits = nullptr;
};

namespace {

struct mm_job {
    const matrix * w;
    float * out;
    size_t out_stride;  // floats between tokens
    bool accumulate;    // out += W x (the residual add) instead of out = W x
};

}  // namespace

LlamaModel::LlamaModel(const llama_hparams & hp, const tensor_map & tensors, const llama_options & opt)
    : hp_(hp), opt_(opt), kt_(opt.kernels ? opt.kernels : &default_kernels()) {
    if (hp.n_vocab <= 0 || hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_ff <= 0 || hp.n_head <= 0 || hp.n_head_kv <= 0 ||
        hp.head_dim <= 0 || hp.n_head % hp.n_head_kv != 0 || hp.n_rot <= 0 || hp.n_rot > hp.head_dim || hp.n_rot % 2)
        throw std::invalid_argument("inconsistent llama hyperparameters");
    if (hp.rope_type != 0 && hp.rope_type != 2) throw std::invalid_argument("rope_type must be 0 (NORM) or 2 (NEOX)");
    if (opt_.n_ctx <= 0 || opt_.n_batch <= 0 || opt_.n_threads <= 0)
        throw std::invalid_argument("n_ctx, n_batch and n_threads must be positive");
    opt_.n_batch = std::min(opt_.n_batch, opt_.n_ctx);

    const int64_t n_q = (int64_t)hp.n_head * hp.head_dim, n_kv = (int64_t)hp.n_head_kv * hp.head_dim;

    auto find = [&](const std::string & name) -> const tensor_ref * {
        auto it = tensors.find(name);
        return it == tensors.end() ? nullptr : &it->second;
    };
    // an upper bound of the packed forms (type overheads <= 1/8, rows padded to <= 64 per matrix); only
    // what is written is backed by memory
    size_t packed_bound = 0;
    for (const auto & kv : tensors)
        packed_bound += kv.second.nbytes + kv.second.nbytes / 8 + 64 * (kv.second.nbytes / std::max<int64_t>(kv.second.ne1, 1)) + 4096;
    packed_.reserve(packed_bound);
    auto check_dims = [&](const std::string & name, const tensor_ref & t, int64_t ne0, int64_t ne1) {
        if (t.ne0 != ne0 || t.ne1 != ne1)
            throw std::invalid_argument(tensor_error(name, "dims (" + std::to_string(t.ne0) + ", " + std::to_string(t.ne1) +
                                                               "), expected (" + std::to_string(ne0) + ", " + std::to_string(ne1) + ")"));
        const block_layout bl = layout_of(t.type);
        if (bl.block_size == 0) throw std::invalid_argument(tensor_error(name, "type id " + std::to_string(t.type) + " is not supported"));
        if (ne0 % bl.block_size)
            throw std::invalid_argument(tensor_error(name, "row length " + std::to_string(ne0) + " is not a multiple of the block size"));
        if (!t.data || t.nbytes != bytes_for(t.type, ne0) * (size_t)ne1)
            throw std::invalid_argument(tensor_error(name, "data size does not match its dims and type"));
    };
    auto vec = [&](const std::string & name, int64_t n, bool required) -> const float * {
        const tensor_ref * t = find(name);
        if (!t) {
            if (required) throw std::invalid_argument("missing tensor '" + name + "'");
            return nullptr;
        }
        if (t->type != T_F32) throw std::invalid_argument(tensor_error(name, "expected F32, got type id " + std::to_string(t->type)));
        check_dims(name, *t, n, 1);
        return (const float *)t->data;
    };
    auto mat = [&](const std::string & name, int64_t n_in, int64_t n_out, const std::string & bias) -> matrix {
        const tensor_ref * t = find(name);
        if (!t) throw std::invalid_argument("missing tensor '" + name + "'");
        check_dims(name, *t, n_in, n_out);
        const int slot = type_slot(t->type);
        matrix m;
        m.data = (const uint8_t *)t->data;
        m.type = t->type;
        m.n_in = n_in;
        m.n_out = n_out;
        m.row_bytes = bytes_for(t->type, n_in);
        m.dot = slot < 0 ? nullptr : kt_->vec_dot[slot];
        m.mat = slot < 0 ? nullptr : kt_->mat_dot[slot];
        if (!m.dot) throw std::invalid_argument(tensor_error(name, "no matmul kernel for type id " + std::to_string(t->type)));
        const uint32_t vdt = kt_->vec_dot_type[slot];
        m.act = type_slot(vdt);
        if (m.act < 0 || !kt_->from_float[m.act] || n_in % layout_of(vdt).block_size)
            throw std::invalid_argument(tensor_error(name, "no activation conversion for its vec_dot_type " + std::to_string(vdt)));
        if (!bias.empty()) m.bias = vec(bias, n_out, false);
        const repack_kernels & rk = kt_->repack[slot];
        // Every matrix lives in the arena's huge pages (a GEMV streams them ~10% faster than the file's
        // 4 KiB pages: SmolLM2-135M F16 decode, 1 thread, ~69 -> ~79 t/s), repacked where the kernel table
        // has a packed form with its own layout, else copied as it is; the file's pages are released.
        // (matmul's row chunks must be whole row groups)
        const bool packed = opt_.repack && rk.row_group && kt_->act_prep[m.act] && kRowChunkPacked % rk.row_group == 0 &&
                            kRowChunkSinglePacked % rk.row_group == 0;
        uint8_t * buf;
        if (packed) {
            buf = packed_.take(rk.packed_bytes((size_t)n_out, (size_t)n_in));
            rk.repack(m.data, (size_t)n_out, (size_t)n_in, buf);
        } else {
            buf = packed_.take(t->nbytes);
            std::memcpy(buf, m.data, t->nbytes);
            m.data = buf;
        }
        release_pages(t->data, t->nbytes);
        if (packed) {
            m.packed = buf;
            m.packed_dot = rk.packed_dot;
        }
        return m;
    };

    const tensor_ref * te = find("token_embd.weight");
    if (!te) throw std::invalid_argument("missing tensor 'token_embd.weight'");
    check_dims("token_embd.weight", *te, hp.n_embd, hp.n_vocab);
    tok_embd_ = *te;
    embd_dequant_ = type_slot(te->type) < 0 ? nullptr : kt_->dequant[type_slot(te->type)];
    if (!embd_dequant_) throw std::invalid_argument(tensor_error("token_embd.weight", "no dequantizer for type id " + std::to_string(te->type)));
    output_norm_ = vec("output_norm.weight", hp.n_embd, true);
    rope_freqs_ = vec("rope_freqs.weight", hp.n_rot / 2, false);
    output_ = mat(find("output.weight") ? "output.weight" : "token_embd.weight", hp.n_embd, hp.n_vocab, "");

    layers_.resize(hp.n_layer);
    for (int il = 0; il < hp.n_layer; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        llama_layer & L = layers_[il];
        L.attn_norm = vec(p + "attn_norm.weight", hp.n_embd, true);
        L.wq = mat(p + "attn_q.weight", hp.n_embd, n_q, p + "attn_q.bias");
        L.wk = mat(p + "attn_k.weight", hp.n_embd, n_kv, p + "attn_k.bias");
        L.wv = mat(p + "attn_v.weight", hp.n_embd, n_kv, p + "attn_v.bias");
        L.wo = mat(p + "attn_output.weight", n_q, hp.n_embd, p + "attn_output.bias");
        L.ffn_norm = vec(p + "ffn_norm.weight", hp.n_embd, true);
        L.gate = mat(p + "ffn_gate.weight", hp.n_embd, hp.n_ff, p + "ffn_gate.bias");
        L.up = mat(p + "ffn_up.weight", hp.n_embd, hp.n_ff, p + "ffn_up.bias");
        L.down = mat(p + "ffn_down.weight", hp.n_ff, hp.n_embd, p + "ffn_down.bias");
    }

    // buffers
    const size_t nb = (size_t)opt_.n_batch;
    x_.assign(nb * hp.n_embd, 0.0f);
    cur_.assign(nb * hp.n_embd, 0.0f);
    q_.assign(nb * n_q, 0.0f);
    k_.assign(nb * n_kv, 0.0f);
    v_.assign(nb * n_kv, 0.0f);
    attn_.assign(nb * n_q, 0.0f);
    gate_.assign(nb * hp.n_ff, 0.0f);
    up_.assign(nb * hp.n_ff, 0.0f);
    rope_cos_.assign(nb * (hp.n_rot / 2), 0.0f);
    rope_sin_.assign(nb * (hp.n_rot / 2), 0.0f);
    const size_t cache = (size_t)hp.n_layer * (size_t)opt_.n_ctx * (size_t)n_kv;
    k_cache_.assign(cache, 0);
    v_cache_.assign(cache, 0);

    act_.resize(N_TYPE_SLOTS);
    act_stride_.assign(N_TYPE_SLOTS, 0);
    prep_.resize(N_TYPE_SLOTS);
    prep_stride_.assign(N_TYPE_SLOTS, 0);
    // Once one packed matrix reads an activation slot, every conversion to that slot is prepared too
    // (convert_rows / norm_convert), so the prepared stride must fit the widest matrix of the slot, packed
    // or not (a TQ2_0 ffn_down shares Q8_K with a packed Q6_K output: 5632 vs 2048 wide).
    std::vector<size_t> prep_need(N_TYPE_SLOTS, 0);
    std::vector<char> slot_packed(N_TYPE_SLOTS, 0);
    auto need = [&](const matrix & m) {
        const uint32_t vdt = kt_->vec_dot_type[type_slot(m.type)];
        act_stride_[m.act] = std::max(act_stride_[m.act], bytes_for(vdt, m.n_in));
        if (kt_->act_prep[m.act])
            prep_need[m.act] = std::max(prep_need[m.act], (kt_->act_prep_bytes[m.act]((size_t)m.n_in) + 63) / 64 * 64);
        slot_packed[m.act] |= m.packed != nullptr;
    };
    need(output_);
    for (const llama_layer & L : layers_)
        for (const matrix * m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) need(*m);
    for (int s = 0; s < N_TYPE_SLOTS; ++s) prep_stride_[s] = slot_packed[s] ? prep_need[s] : 0;
    for (int s = 0; s < N_TYPE_SLOTS; ++s)
        if (act_stride_[s]) act_[s].assign(nb * act_stride_[s] + 64, 0);
    for (int s = 0; s < N_TYPE_SLOTS; ++s)
        if (prep_stride_[s]) prep_[s].assign(nb * prep_stride_[s] + 64, 0);

    pool_.reset(new ThreadPool(opt_.n_threads));
    scratch_stride_ = (std::max((size_t)opt_.n_ctx + (size_t)hp.head_dim, attend_tile_scratch_floats((size_t)hp.head_dim)) + 15) / 16 * 16;
    scratch_.assign(scratch_stride_ * (size_t)pool_->size(), 0.0f);
    scratch16_.assign((size_t)2 * hp.head_dim * (size_t)pool_->size(), 0);
    n_counters_ = 5 * hp.n_layer + 4;
    counters_.reset(new std::atomic<int>[n_counters_]);
    bs_.reset(new batch_state());
}

LlamaModel::~LlamaModel() = default;

void LlamaModel::free_deleter::operator()(void * p) const { std::free(p); }

void LlamaModel::packed_arena::reserve(size_t bytes) {
    constexpr size_t huge = 2u << 20;
    const size_t want = (bytes + huge - 1) / huge * huge;
    void * p = mmap(nullptr, want + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;  // take() falls back to malloc
    map = p;
    map_bytes = want + huge;
    base = (uint8_t *)(((uintptr_t)p + huge - 1) / huge * huge);
    cap = want;
#if defined(MADV_HUGEPAGE)
    (void)madvise(base, cap, MADV_HUGEPAGE);
#endif
}

uint8_t * LlamaModel::packed_arena::take(size_t bytes) {
    bytes = (bytes + 63) / 64 * 64;
    if (base && cap - used >= bytes) {
        uint8_t * p = base + used;
        used += bytes;
        return p;
    }
    void * p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    extra.emplace_back((uint8_t *)p);
    return (uint8_t *)p;
}

LlamaModel::packed_arena::~packed_arena() {
    if (map) munmap(map, map_bytes);
}

int LlamaModel::n_threads() const { return pool_->size(); }

void LlamaModel::eval(const int32_t * tokens, int n_tokens, int n_past, bool all_logits, float * logits) {
    if (n_tokens <= 0) throw std::invalid_argument("eval: no tokens");
    if (n_past < 0 || n_past > n_cached_)
        throw std::out_of_range("eval: n_past = " + std::to_string(n_past) + " is outside [0, " + std::to_string(n_cached_) +
                                "] (positions held by the KV cache)");
    if ((int64_t)n_past + n_tokens > opt_.n_ctx)
        throw std::out_of_range("eval: positions up to " + std::to_string((int64_t)n_past + n_tokens) +
                                " exceed the context size n_ctx = " + std::to_string(opt_.n_ctx));
    for (int i = 0; i < n_tokens; ++i)
        if (tokens[i] < 0 || tokens[i] >= hp_.n_vocab)
            throw std::out_of_range("eval: token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                    " is outside [0, " + std::to_string(hp_.n_vocab) + ")");
    for (int done = 0; done < n_tokens;) {
        const int n = std::min(opt_.n_batch, n_tokens - done);
        const bool last = done + n == n_tokens;
        float * out = all_logits ? logits + (size_t)done * hp_.n_vocab : (last ? logits : nullptr);
        forward_batch(tokens + done, n, n_past + done, all_logits, out);
        done += n;
    }
}

namespace {

void trampoline(void * ctx, int ith) { static_cast<LlamaModel *>(ctx)->forward_thread(ith); }

}  // namespace

void LlamaModel::forward_batch(const int32_t * tokens, int n, int n_past, bool all_logits, float * logits) {
    batch_state & b = *bs_;
    b.tokens = tokens;
    b.n = n;
    b.n_past = n_past;
    b.logits = logits;
    b.n_out = logits == nullptr ? 0 : (all_logits ? n : 1);
    b.out_row0 = all_logits ? 0 : n - 1;
    for (int i = 0; i < n_counters_; ++i) counters_[i].store(0, std::memory_order_relaxed);
    pool_->run(trampoline, this);
    n_cached_ = n_past + n;
}

void LlamaModel::forward_thread(int ith) {
    const batch_state & b = *bs_;
    const int nth = pool_->size();
    const int n = b.n;
    const llama_hparams & hp = hp_;
    const int64_t n_embd = hp.n_embd, n_q = (int64_t)hp.n_head * hp.head_dim, n_kv = (int64_t)hp.n_head_kv * hp.head_dim;
    const int half_rot = hp.n_rot / 2;
    const kernel_table & kt = *kt_;
    int op = 0;  // index of the next dynamic counter (the same sequence on every thread)

    // Work items for an elementwise pass over `rows` rows of n_in: whole rows when there are enough of
    // them for every thread, else kColChunk pieces (whole blocks of every activation type).
    auto pieces = [&](int rows, int64_t n_in) -> int64_t { return rows >= nth || n_in % kColChunk ? 1 : n_in / kColChunk; };
    // rows [0, rows) of src (stride src_stride floats, n_in wide) -> activation buffer of slot `act`;
    // `pre` runs on each piece first (in place), e.g. SwiGLU.
    auto convert_rows = [&](float * src, size_t src_stride, int rows, int64_t n_in, int act, auto pre) {
        const from_float_fn ff = kt.from_float[act];
        const size_t stride = act_stride_[act];
        uint8_t * dst = act_[act].data();
        const int64_t per_row = pieces(rows, n_in), width = n_in / per_row;
        const size_t piece_bytes = bytes_for((uint32_t)act, width);  // activation slots are type ids < 43
        const span r = split(rows * per_row, ith, nth);
        for (int64_t i = r.begin; i < r.end; ++i) {
            const int64_t t = i / per_row, c = i % per_row;
            float * x = src + t * src_stride + c * width;
            pre(x, (size_t)(t * src_stride + c * width), (size_t)width);
            uint8_t * q = dst + t * stride + (size_t)c * piece_bytes;
            ff(x, q, (size_t)width);
            if (prep_stride_[act])  // per block, so a piece is prepared on its own
                kt.act_prep[act](q, prep_[act].data() + t * prep_stride_[act] + (size_t)c * kt.act_prep_bytes[act]((size_t)width),
                                 (size_t)width);
        }
    };
    auto no_pre = [](float *, size_t, size_t) {};

    // norm rows of x_ into cur_, then convert for every distinct activation slot of `ms`
    auto norm_convert = [&](const float * w, int row0, int rows, std::initializer_list<const matrix *> ms) {
        const span r = split(rows, ith, nth);
        for (int64_t t = r.begin; t < r.end; ++t) {
            float * y = cur_.data() + t * n_embd;
            rms_norm_row(x_.data() + (row0 + t) * n_embd, w, y, n_embd, hp.rms_eps);
            int done_slots[3] = {-1, -1, -1}, k = 0;
            for (const matrix * m : ms) {
                if (std::find(done_slots, done_slots + k, m->act) != done_slots + k) continue;
                done_slots[k++] = m->act;
                uint8_t * q = act_[m->act].data() + t * act_stride_[m->act];
                kt.from_float[m->act](y, q, (size_t)n_embd);
                if (prep_stride_[m->act]) kt.act_prep[m->act](q, prep_[m->act].data() + t * prep_stride_[m->act], (size_t)n_embd);
            }
        }
    };

    // out[t][r] (+)= W[r] . act[t] (+ bias[r]) for every job, tokens [0, rows)
    auto matmul = [&](std::initializer_list<mm_job> jobs, int rows) {
        std::atomic<int> & counter = counters_[op++];
        // one chunking for all jobs of the op; packed matrices need row chunks of whole row groups
        bool packed = false;
        for (const mm_job & j : jobs) packed = packed || j.w->packed;
        const int64_t tc = packed ? kTokenChunkPacked : kTokenChunk;
        const int64_t t_blocks = (rows + tc - 1) / tc;
        const int64_t rc = rows == 1 ? (packed ? kRowChunkSinglePacked : kRowChunkSingle) : (packed ? kRowChunkPacked : kRowChunk);
        int64_t total = 0, ends[4];
        int nj = 0;
        for (const mm_job & j : jobs) {
            total += (j.w->n_out + rc - 1) / rc * t_blocks;
            ends[nj++] = total;
        }
        for (int64_t c = counter.fetch_add(1, std::memory_order_relaxed); c < total; c = counter.fetch_add(1, std::memory_order_relaxed)) {
            int ji = 0;
            while (c >= ends[ji]) ++ji;
            const mm_job & j = jobs.begin()[ji];
            const int64_t local = c - (ji ? ends[ji - 1] : 0);
            const int64_t rb = local / t_blocks, tb = local % t_blocks;
            const matrix & w = *j.w;
            const int64_t r0 = rb * rc, r1 = std::min<int64_t>(w.n_out, r0 + rc);
            const int64_t t0 = tb * tc, t1 = std::min<int64_t>(rows, t0 + tc);
            const uint8_t * act = act_[w.act].data();
            const size_t astride = act_stride_[w.act];
            float tile[kRowChunkPacked * kTokenChunkPacked];  // [token][row] of this chunk, stride rc
            static_assert(kRowChunkSingle <= kRowChunkPacked && kRowChunkSinglePacked <= kRowChunkPacked * kTokenChunkPacked &&
                              kRowChunk * kTokenChunk <= kRowChunkPacked * kTokenChunkPacked, "tile");
            const int nr = (int)(r1 - r0), nc = (int)(t1 - t0);
            // Tiles pay off when weights are reused across tokens; a single token streams the weights
            // from memory, which one row after another (vec_dot) does best (measured 2x on SmolLM2 decode;
            // F16 8-row tiles 2x slower than vec_dot), except in a packed layout made for it.
            if (w.packed) {
                const size_t pstride = prep_stride_[w.act];
                w.packed_dot((size_t)w.n_in, w.packed, (size_t)r0, nr, prep_[w.act].data() + (size_t)t0 * pstride, pstride, nc, tile,
                             (size_t)rc);
            } else if (w.mat && nc > 1) {
                w.mat((size_t)w.n_in, w.data + (size_t)r0 * w.row_bytes, w.row_bytes, nr, act + (size_t)t0 * astride, astride, nc,
                      tile, (size_t)rc);
            } else {
                for (int r = 0; r < nr; ++r)
                    for (int c = 0; c < nc; ++c)
                        tile[c * rc + r] = w.dot((size_t)w.n_in, w.data + (size_t)(r0 + r) * w.row_bytes, act + (size_t)(t0 + c) * astride);
            }
            for (int c = 0; c < nc; ++c) {
                float * o = j.out + (size_t)(t0 + c) * j.out_stride + r0;
                const float * d = tile + c * rc;
                for (int r = 0; r < nr; ++r) {
                    const float v = w.bias ? d[r] + w.bias[r0 + r] : d[r];
                    o[r] = j.accumulate ? o[r] + v : v;
                }
            }
        }
    };

    // ---- embeddings and the RoPE cache of this batch's positions
    {
        const span r = split(n, ith, nth);
        const size_t row_bytes = bytes_for(tok_embd_.type, n_embd);
        const float theta_scale = (float)std::pow((double)hp.rope_freq_base, (double)(-2.0f / (float)hp.n_rot));
        for (int64_t t = r.begin; t < r.end; ++t) {
            embd_dequant_((const uint8_t *)tok_embd_.data + (size_t)b.tokens[t] * row_bytes, x_.data() + t * n_embd, (size_t)n_embd);
            float theta = (float)(b.n_past + t);
            float * c = rope_cos_.data() + t * half_rot;
            float * s = rope_sin_.data() + t * half_rot;
            for (int i = 0; i < half_rot; ++i) {
                const float th = hp.rope_freq_scale * (rope_freqs_ ? theta / rope_freqs_[i] : theta);
                c[i] = (float)std::cos((double)th) * hp.rope_attn_factor;
                s[i] = (float)std::sin((double)th) * hp.rope_attn_factor;
                theta *= theta_scale;
            }
        }
    }
    pool_->barrier();

    const int n_gqa = hp.n_head / hp.n_head_kv;
    const float kq_scale = 1.0f / std::sqrt((float)hp.head_dim);
    const from_float_fn to_f16 = kt.from_float[type_slot(T_F16)];
    float * scratch = scratch_.data() + (size_t)ith * scratch_stride_;
    uint16_t * scratch16 = scratch16_.data() + (size_t)ith * 2 * hp.head_dim;

    for (int il = 0; il < hp.n_layer; ++il) {
        const llama_layer & L = layers_[il];
        uint16_t * kc = k_cache_.data() + (size_t)il * opt_.n_ctx * n_kv;
        uint16_t * vc = v_cache_.data() + (size_t)il * opt_.n_ctx * n_kv;

        // ---- self-attention
        norm_convert(L.attn_norm, 0, n, {&L.wq, &L.wk, &L.wv});
        pool_->barrier();
        matmul({{&L.wq, q_.data(), (size_t)n_q, false}, {&L.wk, k_.data(), (size_t)n_kv, false}, {&L.wv, v_.data(), (size_t)n_kv, false}}, n);
        pool_->barrier();
        {
            const span r = split(n, ith, nth);
            for (int64_t t = r.begin; t < r.end; ++t) {
                const float * c = rope_cos_.data() + t * half_rot;
                const float * s = rope_sin_.data() + t * half_rot;
                rope_row(q_.data() + t * n_q, hp.n_head, hp.head_dim, hp.n_rot, c, s, hp.rope_type);
                rope_row(k_.data() + t * n_kv, hp.n_head_kv, hp.head_dim, hp.n_rot, c, s, hp.rope_type);
                const size_t pos = (size_t)(b.n_past + t);
                to_f16(k_.data() + t * n_kv, kc + pos * n_kv, (size_t)n_kv);
                to_f16(v_.data() + t * n_kv, vc + pos * n_kv, (size_t)n_kv);
            }
        }
        pool_->barrier();

        // Past this point only rows whose logits are wanted matter in the last layer (llama.cpp's
        // inp_out_ids): rows [rs, rs + rn). A batch that wants no logits stops after storing K/V.
        const bool last = il == hp.n_layer - 1;
        const int rs = last ? b.out_row0 : 0, rn = last ? b.n_out : n;
        if (rn == 0) break;
        std::atomic<int> & counter = counters_[op++];
        const int hd = hp.head_dim;
        if (n >= kFlashTileQ && kt.attend_tile) {
            // Tiles of kAttendTileRows (token, head) rows of one KV head: rows r = t' * n_gqa + i for the
            // group's heads i and tokens t' of [rs, rs + rn); the last tiles (most keys) first.
            const int64_t pairs = (int64_t)rn * n_gqa;
            const int64_t tiles = (pairs + kAttendTileRows - 1) / kAttendTileRows;
            const int64_t items = tiles * hp.n_head_kv;
            for (int64_t it = counter.fetch_add(1, std::memory_order_relaxed); it < items; it = counter.fetch_add(1, std::memory_order_relaxed)) {
                const int g = (int)(it % hp.n_head_kv);
                const int64_t p0 = (tiles - 1 - it / hp.n_head_kv) * kAttendTileRows;
                const int nq = (int)std::min<int64_t>(kAttendTileRows, pairs - p0);
                const float * qs[kAttendTileRows];
                float * os[kAttendTileRows];
                int nk[kAttendTileRows];
                for (int r = 0; r < nq; ++r) {
                    const int64_t t = rs + (p0 + r) / n_gqa;
                    const int h = g * n_gqa + (int)((p0 + r) % n_gqa);
                    qs[r] = q_.data() + t * n_q + (size_t)h * hd;
                    os[r] = attn_.data() + t * n_q + (size_t)h * hd;
                    nk[r] = b.n_past + (int)t + 1;
                }
                const size_t kv_off = (size_t)g * hd;
                kt.attend_tile(hd, nq, qs, nk, kc + kv_off, vc + kv_off, (size_t)n_kv, kq_scale, scratch, os);
            }
        } else {
            const int64_t items = (int64_t)rn * hp.n_head;
            const bool one_row = n < kFlashTileQ;  // ggml picks the kernel by the batch's row count
            for (int64_t it = counter.fetch_add(1, std::memory_order_relaxed); it < items; it = counter.fetch_add(1, std::memory_order_relaxed)) {
                const int64_t t = rs + it / hp.n_head;
                const int h = (int)(it % hp.n_head);
                const size_t kv_off = (size_t)(h / n_gqa) * hd;
                const int n_keys = b.n_past + (int)t + 1;
                const float * qv = q_.data() + t * n_q + (size_t)h * hd;
                float * out = attn_.data() + t * n_q + (size_t)h * hd;
                if (one_row)
                    attend_f16(kt, hd, n_keys, qv, kc + kv_off, vc + kv_off, (size_t)n_kv, kq_scale, scratch16, out);
                else
                    attend_f32(kt, hd, n_keys, qv, kc + kv_off, vc + kv_off, (size_t)n_kv, kq_scale, scratch, out);
            }
        }
        pool_->barrier();
        float * xr = x_.data() + (size_t)rs * n_embd;
        convert_rows(attn_.data() + (size_t)rs * n_q, (size_t)n_q, rn, n_q, L.wo.act, no_pre);
        pool_->barrier();
        matmul({{&L.wo, xr, (size_t)n_embd, true}}, rn);
        pool_->barrier();

        // ---- feed-forward (SwiGLU)
        norm_convert(L.ffn_norm, rs, rn, {&L.gate, &L.up});
        pool_->barrier();
        matmul({{&L.gate, gate_.data(), (size_t)hp.n_ff, false}, {&L.up, up_.data(), (size_t)hp.n_ff, false}}, rn);
        pool_->barrier();
        convert_rows(gate_.data(), (size_t)hp.n_ff, rn, hp.n_ff, L.down.act, [&](float * g, size_t off, size_t w) {
            kt.silu_mul(w, g, g, up_.data() + off);
        });
        pool_->barrier();
        matmul({{&L.down, xr, (size_t)n_embd, true}}, rn);
        pool_->barrier();
    }

    // ---- output (x_ rows [out_row0, out_row0 + n_out) hold the final hidden states)
    if (b.n_out == 0) return;
    norm_convert(output_norm_, b.out_row0, b.n_out, {&output_});
    pool_->barrier();
    matmul({{&output_, b.logits, (size_t)hp.n_vocab, false}}, b.n_out);
}

}  // namespace model
}  // namespace ggufpy
