"""Numpy reference forward pass of llama.cpp's llama graph: slow, obvious, the oracle for the native runtime.

Mirrors ``llama_model_llama::graph`` in llama.cpp 0c1e570 ``src/models/llama.cpp`` (tensor names and dims:
../shared/spec/formats.md §6.2). For tokens t at positions p, with x (n_tokens, n_embd) float32:

    x = token_embd[t]                                        get_rows (dequantized rows)
    for each layer il:
        h = rms_norm(x) * attn_norm                          "attn_norm"
        q, k, v = h @ attn_q.T, h @ attn_k.T, h @ attn_v.T   (+ optional biases)
        q, k = rope(q, p), rope(k, p)                        "Qcur", "Kcur"
        K, V = cache[0 : p_last + 1]                         K/V stored as F16 (llama.cpp's default cache type)
        a = softmax(q K^T * 1/sqrt(head_dim) + causal) V     GQA: query head h reads K/V head h // n_gqa
        x = x + a @ attn_output.T                            "attn_out", "ffn_inp"
        h = rms_norm(x) * ffn_norm                           "ffn_norm"
        x = x + (silu(h @ ffn_gate.T) * (h @ ffn_up.T)) @ ffn_down.T     "ffn_out", "l_out"
    logits = (rms_norm(x) * output_norm) @ output.T          output = token_embd when absent (tied)

Numerics copied from ggml's CPU backend (llama.cpp's defaults: flash attention "auto" = on, F16 KV cache):

* rms_norm (``ggml_compute_forward_rms_norm_f32``): sum of float32 squares accumulated in double,
  ``scale = 1.0f / sqrtf(mean + eps)``, then ``x * scale`` and the weight multiply in float32.
* RoPE (``ggml_rope_cache_init`` / ``rotate_pairs`` in ggml-cpu ``ops.cpp``): ``theta_scale =
  powf(base, -2/n_rot)``; theta starts at the position and is multiplied by theta_scale in float32 once per
  pair, so theta_i carries ggml's rounding; cos/sin are correctly rounded float32 (times attn_factor). NORM
  pairs (x[2i], x[2i+1]) (the converter permuted Q/K rows for this, formats.md §6.3); NEOX pairs
  (x[i], x[i + n_rot/2]).
* K and V pass through the KV cache in ``kv_dtype`` (F16). KQ scale 1/sqrtf(head_dim). Attention for 64 or
  more query rows is the tiled flash-attention kernel (``ggml_compute_forward_flash_attn_ext_tiled``): Q stays
  float32, K/V converted from F16, scores (q·k) * scale, exp(s - max) in float32, output
  (sum_j e_j v_j) * (1/sum_j e_j) — this is ``attention``, and all of it with ``emulate_ggml=False``.

With ``emulate_ggml=True`` (default) also:

* Fewer than 64 query rows (prompts under 64 tokens, every decode step) use ggml's one-row kernel
  (``..._f16_one_chunk``): Q rounded to F16, keys visited in order with an online softmax whose V accumulator is
  F16 (``attention_one_row``).
* Matmuls quantize their activations first, as ggml converts src1 to the weight type's ``vec_dot_type``
  (``VEC_DOT_TYPE``: Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL/MXFP4, Q8_1 for Q4_1/Q5_1, Q8_K for K- and IQ types,
  F16/BF16 for those weights; ggufpy's own NF4 and TQ2_64 take Q8_0). Q8_0/Q8_1 codes are those of the x86 SIMD
  ``quantize_row_q8_{0,1}`` (``id = 127/amax``, round half to even), Q8_K those of ``quantize_row_q8_K_ref``; for
  Q4_1/Q5_1 the min term uses Q8_1's stored ``s = fp16(d * sum(q))`` as ``ggml_vec_dot_q4_1_q8_1`` does; NF4
  weights enter as the native kernel's Q1.14 code book ``NF4_CODE_I16`` (``_nf4_i16_weights``).

What the emulation buys (SmolLM2-135M Q4_1, measured against llama.cpp 0c1e570's own tensors): given llama.cpp's
inputs, the emulated Q/K/V and output projections and both attention kernels equal llama.cpp's outputs to
~2e-7 relative (median). End to end the logits still differ by a few percent, because summation-order noise flips
F16 and Q8 roundings and this model amplifies the flips (our own F16 vs F32 KV cache differ as much); the
emulation cannot remove that, but it reproduces the systematic effect of the 8-bit activation noise on
perplexity, which plain float32 misses: over 20 wiki.utf8 chunks of 512, llama-perplexity 12.3902, this
reference 12.3884 (-0.01%), with emulate_ggml=False 12.3543 (-0.29%). Not copied: summation order inside dot products,
the split-KV decode kernel (one row, 512+ cached keys), ggml's vectorised expf/silu (~1 ulp).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GGUFFormatError, UnsupportedTypeError
from ..format.constants import QUANT_SIZES, GGMLType
from .config import ModelConfig, RopeType

# ggml-cpu type_traits_cpu[type].vec_dot_type (ggml-cpu.c): what the activations become before a matmul.
_Q8_0_WEIGHTS = ("Q4_0", "Q5_0", "Q8_0", "IQ4_NL", "MXFP4", "NVFP4", "Q1_0", "Q2_0")
_Q8_1_WEIGHTS = ("Q4_1", "Q5_1")
_Q8_K_WEIGHTS = ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S",
                 "IQ1_S", "IQ1_M", "IQ4_XS", "TQ1_0", "TQ2_0")
VEC_DOT_TYPE: dict[GGMLType, GGMLType] = {
    GGMLType.F32: GGMLType.F32, GGMLType.F16: GGMLType.F16, GGMLType.BF16: GGMLType.BF16,
    **{GGMLType[name]: vdt
       for vdt, names in ((GGMLType.Q8_0, _Q8_0_WEIGHTS), (GGMLType.Q8_1, _Q8_1_WEIGHTS),
                          (GGMLType.Q8_K, _Q8_K_WEIGHTS))
       for name in names if name in GGMLType.__members__},
    # ggufpy-private types: no ggml rule; ggufpy's native kernels (native/src/generic/vec_dot.cpp) take
    # Q8_0 activations, two blocks per 64-element weight block
    GGMLType.NF4: GGMLType.Q8_0, GGMLType.TQ2_64: GGMLType.Q8_0,
}
# Not mirrored by the native table: BF16, whose native kernel keeps the activations in float32.

FA_TILE_Q = 64  # GGML_FA_TILE_Q (ggml-cpu/common.h): batches of at least this many rows use the tiled kernel

# ---------------------------------------------------------------------------------------------------------
# KV cache
# ---------------------------------------------------------------------------------------------------------


class KVCache:
    """K and V of every layer for positions [0, n_ctx): ``k[il]`` is (n_ctx, n_head_kv, head_dim) in ``dtype``.

    ``n_tokens`` is how many leading positions hold valid entries; ``logits(..., start_pos=p)`` needs
    ``p <= n_tokens`` and leaves ``n_tokens = p + len(tokens)`` (writing at p < n_tokens rewinds, as
    llama.cpp's memory does after ``seq_rm``).
    """

    def __init__(self, config: ModelConfig, n_ctx: int, dtype=np.float16):
        if n_ctx <= 0:
            raise ValueError(f"KVCache: n_ctx must be positive, got {n_ctx}")
        shape = (config.n_layer, n_ctx, config.n_head_kv, config.head_dim)
        self.k = np.zeros(shape, dtype=dtype)
        self.v = np.zeros(shape, dtype=dtype)
        self.n_ctx = n_ctx
        self.n_tokens = 0


# ---------------------------------------------------------------------------------------------------------
# Ops (each mirrors one ggml CPU op)
# ---------------------------------------------------------------------------------------------------------


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """ggml_rms_norm then ggml_mul: x * (1/sqrtf(mean(x^2) + eps)) * weight, rows of x (n, n_embd) float32."""
    sum_sq = np.sum((x * x).astype(np.float64), axis=-1, keepdims=True)  # ggml_float accumulator
    mean = (sum_sq / x.shape[-1]).astype(np.float32)
    scale = np.float32(1.0) / np.sqrt(mean + np.float32(eps))
    return (x * scale) * weight


def rope_cos_sin(positions: np.ndarray, config: ModelConfig, freq_factors: np.ndarray | None = None):
    """cos, sin of shape (n_tokens, n_rot/2) float32, exactly as ggml_rope_cache_init builds its cache
    (ext_factor = 0, i.e. no YaRN, so mscale = attn_factor)."""
    n_rot = config.n_rot
    theta_scale = np.float32(np.float64(config.rope_freq_base) ** np.float64(np.float32(-2.0) / np.float32(n_rot)))
    freq_scale = np.float32(config.rope_freq_scale)
    theta = positions.astype(np.float32)  # float theta = p
    thetas = np.empty((len(positions), n_rot // 2), dtype=np.float32)
    for i in range(n_rot // 2):
        t = theta if freq_factors is None else theta / freq_factors[i]
        thetas[:, i] = freq_scale * t  # theta_interp = freq_scale * theta_extrap
        theta = theta * theta_scale  # float32 product, like ggml's running `theta *= theta_scale`
    t64 = thetas.astype(np.float64)
    mscale = np.float32(config.rope_attn_factor)
    return np.cos(t64).astype(np.float32) * mscale, np.sin(t64).astype(np.float32) * mscale


def rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, rope_type: RopeType) -> np.ndarray:
    """Rotate the first n_rot dims of x (n_tokens, n_heads, head_dim); cos/sin (n_tokens, n_rot/2)."""
    n_rot = 2 * cos.shape[1]
    out = x.copy()
    c, s = cos[:, None, :], sin[:, None, :]
    if rope_type == RopeType.NORM:
        x0, x1 = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = x0 * c - x1 * s
        out[..., 1:n_rot:2] = x0 * s + x1 * c
    else:  # NEOX
        half = n_rot // 2
        x0, x1 = x[..., :half], x[..., half:n_rot]
        out[..., :half] = x0 * c - x1 * s
        out[..., half:n_rot] = x0 * s + x1 * c
    return out


def silu(x: np.ndarray) -> np.ndarray:
    """ggml_silu_f32: x / (1 + expf(-x))."""
    with np.errstate(over="ignore"):  # expf(-x) overflows to inf for x << 0: the result is -0, as in C
        return x / (np.float32(1.0) + np.exp(-x))


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, q_pos0: int, scale: float) -> np.ndarray:
    """Causal GQA attention. q (n, n_head, d) at positions q_pos0..; k, v (n_kv, n_head_kv, d) at 0..n_kv-1.
    Returns (n, n_head * d) float32."""
    n, n_head, d = q.shape
    n_kv, n_head_kv, _ = k.shape
    qg = q.reshape(n, n_head_kv, n_head // n_head_kv, d).transpose(1, 2, 0, 3)  # (kv, g, n, d)
    kt = k.transpose(1, 2, 0)[:, None]  # (kv, 1, d, n_kv)
    scores = (qg @ kt) * np.float32(scale)  # (kv, g, n, n_kv)
    future = np.arange(n_kv)[None, :] > (q_pos0 + np.arange(n))[:, None]  # key after query
    scores += np.where(future, np.float32(-np.inf), np.float32(0))  # the causal mask, added as ggml does
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    out = (e @ v.transpose(1, 0, 2)[:, None]) * (np.float32(1.0) / e.sum(axis=-1, keepdims=True))  # (kv, g, n, d)
    return out.transpose(2, 0, 1, 3).reshape(n, n_head * d)


def attention_one_row(q: np.ndarray, k: np.ndarray, v: np.ndarray, q_pos0: int, scale: float) -> np.ndarray:
    """Causal GQA attention as ggml's CPU flash-attention kernel for small batches computes it
    (``ggml_compute_forward_flash_attn_ext_f16_one_chunk``; used when fewer than 64 query rows):
    q is converted to K's type (F16 for an F16 cache), scores are f32 dots, and keys are visited in order
    with an online softmax whose V accumulator is kept in V's type (F16: every scale and multiply-add is
    rounded to F16). k, v are the cache arrays (n_kv, n_head_kv, d) in their storage dtype."""
    n, n_head, d = q.shape
    n_kv, n_head_kv, _ = k.shape
    heads = np.arange(n_head) // (n_head // n_head_kv)  # K/V head of each query head
    qc = q.astype(k.dtype).astype(np.float32)  # q_to_vec_dot
    kf = k.astype(np.float32)[:, heads]  # (n_kv, n_head, d)
    vf = v.astype(np.float32)[:, heads]
    s_all = np.einsum("thd,jhd->jth", qc, kf) * np.float32(scale)  # (n_kv, n, n_head)
    # masked keys are skipped (mv == -INFINITY: continue); key 0 is visible to every row
    s_all[np.arange(n_kv)[:, None] > (q_pos0 + np.arange(n))[None, :]] = -np.inf
    # The running maximum is known up front: on a new maximum ggml scales the old state by ms = expf(Mold - M)
    # and adds v with vs = 1 = expf(s - M); otherwise ms = 1 and vs = expf(s - M). Both are one formula.
    m_run = np.maximum.accumulate(s_all, axis=0)
    m_old = np.concatenate([np.full((1, n, n_head), -np.inf, dtype=np.float32), m_run[:-1]])
    ms = np.exp(m_old - m_run)  # 0 for key 0, 1 unless the maximum moved
    vs = np.exp(s_all - m_run)  # 0 for masked keys
    total = np.zeros((n, n_head), dtype=np.float32)
    acc = np.zeros((n, n_head, d), dtype=v.dtype)  # VKQ16 (VKQ32 for an F32 cache)
    for j in range(n_kv):
        if j and not (ms[j] == 1).all():
            acc = (acc.astype(np.float32) * ms[j][..., None]).astype(v.dtype)  # ggml_vec_scale_f16
        acc = (acc.astype(np.float32) + vf[j] * vs[j][..., None]).astype(v.dtype)  # ggml_vec_mad_f16
        total = total * ms[j] + vs[j]
    out = acc.astype(np.float32) * (np.float32(1) / total)[..., None]
    return out.reshape(n, n_head * d)


def quantize_activations(x: np.ndarray, vec_dot_type: GGMLType) -> tuple[np.ndarray, np.ndarray | None]:
    """What ggml's CPU matmul multiplies the weights by: x (n, k) float32 converted to ``vec_dot_type`` and
    back. Returns (x_deq, s) where s (n, k/32) is Q8_1's fp16(d * sum(q)) (None for other types)."""
    if vec_dot_type == GGMLType.F32:
        return x, None
    if vec_dot_type == GGMLType.F16:
        return x.astype(np.float16).astype(np.float32), None
    if vec_dot_type == GGMLType.BF16:
        from ..quants.floats import bf16_to_f32, f32_to_bf16

        return bf16_to_f32(f32_to_bf16(x)).reshape(x.shape), None
    if vec_dot_type == GGMLType.Q8_K:
        return _q8_K(x), None
    if vec_dot_type in (GGMLType.Q8_0, GGMLType.Q8_1):
        blocks = x.reshape(x.shape[0], -1, 32)
        amax = np.abs(blocks).max(axis=-1, keepdims=True)
        d = amax / np.float32(127)
        with np.errstate(divide="ignore"):
            inv = np.where(amax != 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
        q = np.rint(blocks * inv)  # _mm256_round_ps(_MM_ROUND_NEAREST): ties to even
        x_deq = (d.astype(np.float16).astype(np.float32) * q).reshape(x.shape)
        s = None
        if vec_dot_type == GGMLType.Q8_1:
            s = (d[..., 0] * q.sum(axis=-1)).astype(np.float16).astype(np.float32)
        return x_deq, s
    raise UnsupportedTypeError(f"no activation conversion to {vec_dot_type.name}")


def _q8_K(x: np.ndarray) -> np.ndarray:
    """quantize_row_q8_K_ref then d * q: iscale = -127/max (max = the first element of largest |x|)."""
    blocks = x.reshape(x.shape[0], -1, 256)
    idx = np.abs(blocks).argmax(axis=-1)[..., None]
    mx = np.take_along_axis(blocks, idx, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        iscale = np.float32(-127) / mx
        q = np.minimum(np.rint(iscale * blocks), 127)  # nearest_int: ties to even
        d = np.float32(1) / iscale
    out = np.where(mx != 0, d * q, np.float32(0))
    return out.astype(np.float32).reshape(x.shape)


# ---------------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Linear:
    """One matmul weight, float32 (n_out, n_in) in numpy order, and what ggml multiplies it with.

    For weights whose vec_dot_type is Q8_1 (Q4_1, Q5_1) under act_quant, ``w`` holds d * q only and ``m``
    (n_out, n_in/32) the per-block minimums, which ggml multiplies by Q8_1's ``s``.
    """

    w: np.ndarray
    vec_dot_type: GGMLType
    m: np.ndarray | None = None
    bias: np.ndarray | None = None

    def __call__(self, x: np.ndarray, act_quant: bool) -> np.ndarray:
        s = None
        if act_quant:
            x, s = quantize_activations(x, self.vec_dot_type)
        y = x @ self.w.T
        if self.m is not None:
            y += s @ self.m.T
        if self.bias is not None:
            y += self.bias
        return y


def _nf4_i16_weights(tensor) -> np.ndarray:
    """NF4 weights as the native NF4 x Q8_0 kernel multiplies them, (n_out, n_in) float32:
    NF4_CODE_I16[q] * (d * 2**-14) instead of NF4_CODE[q] * d (|difference| <= 2**-15 * |d|)."""
    from ..quants.nf4 import dequantize_code_i16

    raw = np.asarray(tensor.data).reshape(-1, QUANT_SIZES[GGMLType.NF4][1])
    return dequantize_code_i16(raw).reshape(tensor.shape)


def _own_matmul_weights(tensor, act_quant: bool) -> bool:
    """Whether the weights a matmul multiplies differ from ``tensor.numpy()`` (the dequantized values that
    get_rows uses): Q4_1/Q5_1 under act_quant (d * q alone, the min goes with Q8_1's s) and NF4 under
    act_quant (the Q1.14 code book)."""
    return act_quant and (VEC_DOT_TYPE.get(tensor.type) == GGMLType.Q8_1 or tensor.type == GGMLType.NF4)


def _linear(tensor, act_quant: bool, bias=None) -> Linear:
    vdt = VEC_DOT_TYPE.get(tensor.type)
    if vdt is None:
        raise UnsupportedTypeError(f"tensor {tensor.name!r}: no matmul rule for type {tensor.type.name}")
    if act_quant and tensor.type == GGMLType.NF4:
        return Linear(_nf4_i16_weights(tensor), vdt, None, bias)
    if act_quant and vdt == GGMLType.Q8_1:
        from ..quants import dequantize

        # Q4_1 and Q5_1 both keep m (f16) at bytes [2, 4) of each block: zero it to get d * q alone.
        block_bytes = QUANT_SIZES[tensor.type][1]
        raw = np.array(tensor.data).reshape(-1, block_bytes)
        m = raw[:, 2:4].copy().view(np.float16).astype(np.float32).reshape(tensor.shape[0], -1)
        raw[:, 2:4] = 0
        w = dequantize(raw.reshape(tensor.data.shape), tensor.type).reshape(tensor.shape)
        return Linear(w, vdt, m, bias)
    return Linear(np.ascontiguousarray(tensor.numpy(), dtype=np.float32), vdt, None, bias)


@dataclass
class LayerWeights:
    """The tensors of block ``il``, attribute names = GGUF names without ``blk.{il}.`` and ``.weight``."""

    attn_norm: np.ndarray
    attn_q: Linear
    attn_k: Linear
    attn_v: Linear
    attn_output: Linear
    ffn_norm: np.ndarray
    ffn_gate: Linear
    ffn_up: Linear
    ffn_down: Linear


# ---------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------


class ReferenceModel:
    """The llama graph in numpy, reading weights from an open ``GGUFReader``.

    Args:
        reader: the open file (kept open by the caller for the model's lifetime; weights are memmap views).
        kv_dtype: KV cache storage type; float16 is llama.cpp's default (``--cache-type-k/v f16``).
        emulate_ggml: copy ggml's activation quantization and its flash-attention kernel choice (see the
            module docstring); False: plain float32 matmuls and attention.
        cache_weights: keep dequantized float32 weights after first use (about 4 bytes per parameter).

    Raises:
        GGUFError: missing keys (from ``ModelConfig``); ``GGUFFormatError`` naming a missing tensor or one
        with unexpected dims.
    """

    def __init__(self, reader, *, emulate_ggml: bool = True, kv_dtype=np.float16, cache_weights: bool = True):
        self.reader = reader
        self.config = ModelConfig.from_gguf(reader)
        self.kv_dtype = kv_dtype
        self.emulate_ggml = emulate_ggml
        self.act_quant = emulate_ggml
        self.cache_weights = cache_weights
        self._tensors = {t.name: t for t in reader.tensors}
        self._layers: dict[int, LayerWeights] = {}
        self._globals: dict[str, object] = {}
        self._check_tensors()

    # -- tensors -------------------------------------------------------------------------------------------

    def _expected_dims(self) -> dict[str, tuple[tuple[int, ...], bool]]:
        """GGUF name -> (ne, required), as llama_model_llama::load_arch_tensors creates them."""
        c = self.config
        n_q, n_kv = c.n_head * c.head_dim, c.n_head_kv * c.head_dim
        dims = {
            "token_embd.weight": ((c.n_embd, c.n_vocab), True),
            "output_norm.weight": ((c.n_embd,), True),
            "output.weight": ((c.n_embd, c.n_vocab), False),
            "rope_freqs.weight": ((c.n_rot // 2,), False),
        }
        for il in range(c.n_layer):
            fused = f"blk.{il}.attn_qkv.weight" in self._tensors
            for name, ne, required in (
                ("attn_norm.weight", (c.n_embd,), True),
                ("attn_qkv.weight", (c.n_embd, n_q + 2 * n_kv), False),
                ("attn_qkv.bias", (n_q + 2 * n_kv,), False),
                ("attn_q.weight", (c.n_embd, n_q), not fused),
                ("attn_k.weight", (c.n_embd, n_kv), not fused),
                ("attn_v.weight", (c.n_embd, n_kv), not fused),
                ("attn_q.bias", (n_q,), False),
                ("attn_k.bias", (n_kv,), False),
                ("attn_v.bias", (n_kv,), False),
                ("attn_output.weight", (n_q, c.n_embd), True),
                ("attn_output.bias", (c.n_embd,), False),
                ("ffn_norm.weight", (c.n_embd,), True),
                ("ffn_gate.weight", (c.n_embd, c.n_ff), True),
                ("ffn_up.weight", (c.n_embd, c.n_ff), True),
                ("ffn_down.weight", (c.n_ff, c.n_embd), True),
                ("ffn_gate.bias", (c.n_ff,), False),
                ("ffn_up.bias", (c.n_ff,), False),
                ("ffn_down.bias", (c.n_embd,), False),
            ):
                dims[f"blk.{il}.{name}"] = (ne, required)
        return dims

    def _check_tensors(self) -> None:
        for name, (ne, required) in self._expected_dims().items():
            t = self._tensors.get(name)
            if t is None:
                if required:
                    raise GGUFFormatError(f"missing tensor {name!r} (architecture {self.config.arch!r})")
                continue
            if tuple(t.ne) != ne:
                raise GGUFFormatError(f"tensor {name!r}: dims (ne) {tuple(t.ne)}, expected {ne}")

    def _array(self, name: str) -> np.ndarray | None:
        t = self._tensors.get(name)
        return None if t is None else np.ascontiguousarray(t.numpy(), dtype=np.float32)

    def _global(self, name: str):
        if name not in self._globals:
            if name == "output":
                t = self._tensors.get("output.weight")
                if t is None:  # tied: llama.cpp duplicates token_embd (TENSOR_DUPLICATED)
                    t = self._tensors["token_embd.weight"]
                vdt = VEC_DOT_TYPE.get(t.type)
                shared = t.name == "token_embd.weight" and self.cache_weights and vdt is not None
                if shared and not _own_matmul_weights(t, self.act_quant):
                    value = Linear(self._global("token_embd"), vdt)  # one float32 copy
                else:
                    value = _linear(t, self.act_quant)
            else:
                value = self._array(f"{name}.weight")
            if not self.cache_weights:
                return value
            self._globals[name] = value
        return self._globals[name]

    def layer(self, il: int) -> LayerWeights:
        """The weights of block ``il`` (dequantized on first use; cached if ``cache_weights``)."""
        lw = self._layers.get(il)
        if lw is not None:
            return lw
        p = f"blk.{il}."
        aq = self.act_quant

        def lin(name: str) -> Linear:
            return _linear(self._tensors[p + name + ".weight"], aq, self._array(p + name + ".bias"))

        if p + "attn_qkv.weight" in self._tensors:
            q, k, v = self._split_qkv(p, lin("attn_qkv"))
        else:
            q, k, v = lin("attn_q"), lin("attn_k"), lin("attn_v")
        lw = LayerWeights(
            attn_norm=self._array(p + "attn_norm.weight"), attn_q=q, attn_k=k, attn_v=v,
            attn_output=lin("attn_output"), ffn_norm=self._array(p + "ffn_norm.weight"),
            ffn_gate=lin("ffn_gate"), ffn_up=lin("ffn_up"), ffn_down=lin("ffn_down"),
        )
        if self.cache_weights:
            self._layers[il] = lw
        return lw

    def _split_qkv(self, prefix: str, qkv: Linear) -> tuple[Linear, Linear, Linear]:
        """Fused attn_qkv rows are Q, then K, then V (build_qkv's views); separate Q/K/V biases may coexist."""
        c = self.config
        n_q, n_kv = c.n_head * c.head_dim, c.n_head_kv * c.head_dim
        parts = []
        for name, lo, hi in (("q", 0, n_q), ("k", n_q, n_q + n_kv), ("v", n_q + n_kv, n_q + 2 * n_kv)):
            bias = qkv.bias[lo:hi] if qkv.bias is not None else self._array(f"{prefix}attn_{name}.bias")
            m = None if qkv.m is None else qkv.m[lo:hi]
            parts.append(Linear(qkv.w[lo:hi], qkv.vec_dot_type, m, bias))
        return parts[0], parts[1], parts[2]

    # -- forward ---------------------------------------------------------------------------------------------

    def new_cache(self, n_ctx: int) -> KVCache:
        """An empty KV cache for ``n_ctx`` positions in this model's ``kv_dtype``."""
        return KVCache(self.config, n_ctx, self.kv_dtype)

    def logits(self, tokens, *, start_pos: int = 0, cache: KVCache | None = None,
               capture: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Logits (n_tokens, n_vocab) float32 of ``tokens`` at positions start_pos, start_pos + 1, ...

        Args:
            tokens: token ids (a non-empty sequence of ints in [0, n_vocab)).
            start_pos: position of tokens[0]; positions below it are read from ``cache``.
            cache: KV cache to read and extend (None: a fresh one, and then ``start_pos`` must be 0).
            capture: if given, filled with intermediate tensors named as llama.cpp's graph callbacks
                (``"attn_norm-3"``, ``"Qcur-3"``, ``"Kcur-3"``, ``"Vcur-3"``, ``"kqv_out-3"``, ``"attn_out-3"``,
                ``"ffn_inp-3"``, ``"ffn_norm-3"``, ``"ffn_out-3"``, ``"l_out-3"``, plus ``"inp_embd"``,
                ``"result_norm"``), each (n_tokens, ...) float32.
        """
        c = self.config
        toks = np.asarray(tokens, dtype=np.int64)
        if toks.ndim != 1 or toks.size == 0:
            raise ValueError(f"tokens must be a non-empty 1-D sequence, got shape {toks.shape}")
        if toks.min() < 0 or toks.max() >= c.n_vocab:
            raise ValueError(f"token id out of range [0, {c.n_vocab}): {int(toks.min())}..{int(toks.max())}")
        n = toks.size
        if cache is None:
            if start_pos != 0:
                raise ValueError("start_pos > 0 needs the KV cache that holds the earlier positions")
            cache = self.new_cache(n)
        if not 0 <= start_pos <= cache.n_tokens:
            raise ValueError(f"start_pos {start_pos} outside [0, {cache.n_tokens}] (positions held by the cache)")
        if start_pos + n > cache.n_ctx:
            raise ValueError(f"positions up to {start_pos + n} exceed the cache size {cache.n_ctx}")
        cap = capture if capture is not None else None

        positions = np.arange(start_pos, start_pos + n)
        cos, sin = rope_cos_sin(positions, c, self._global("rope_freqs"))
        x = self._global("token_embd")[toks]  # get_rows
        _store(cap, "inp_embd", x)
        for il in range(c.n_layer):
            x = self._block(il, x, start_pos, cos, sin, cache, cap)
        cache.n_tokens = start_pos + n
        x = rms_norm(x, self._global("output_norm"), c.rms_eps)
        _store(cap, "result_norm", x)
        return self._global("output")(x, self.act_quant)

    def _block(self, il: int, x: np.ndarray, start_pos: int, cos, sin, cache: KVCache, cap) -> np.ndarray:
        c, lw, aq = self.config, self.layer(il), self.act_quant
        n = x.shape[0]
        end = start_pos + n

        # ---- self-attention
        h = rms_norm(x, lw.attn_norm, c.rms_eps)
        _store(cap, f"attn_norm-{il}", h)
        q = rope(lw.attn_q(h, aq).reshape(n, c.n_head, c.head_dim), cos, sin, c.rope_type)
        k = rope(lw.attn_k(h, aq).reshape(n, c.n_head_kv, c.head_dim), cos, sin, c.rope_type)
        v = lw.attn_v(h, aq).reshape(n, c.n_head_kv, c.head_dim)
        _store(cap, f"Qcur-{il}", q)
        _store(cap, f"Kcur-{il}", k)
        _store(cap, f"Vcur-{il}", v)
        cache.k[il, start_pos:end] = k  # rounded to the cache type (F16)
        cache.v[il, start_pos:end] = v
        kq_scale = np.float32(1.0) / np.sqrt(np.float32(c.head_dim))
        if self.emulate_ggml and n < FA_TILE_Q:
            a = attention_one_row(q, cache.k[il, :end], cache.v[il, :end], start_pos, kq_scale)
        else:
            kk, vv = cache.k[il, :end].astype(np.float32), cache.v[il, :end].astype(np.float32)
            a = attention(q, kk, vv, start_pos, kq_scale)
        _store(cap, f"kqv_out-{il}", a)
        a = lw.attn_output(a, aq)
        _store(cap, f"attn_out-{il}", a)
        x = a + x
        _store(cap, f"ffn_inp-{il}", x)

        # ---- feed-forward (SwiGLU)
        h = rms_norm(x, lw.ffn_norm, c.rms_eps)
        _store(cap, f"ffn_norm-{il}", h)
        h = silu(lw.ffn_gate(h, aq)) * lw.ffn_up(h, aq)
        h = lw.ffn_down(h, aq)
        _store(cap, f"ffn_out-{il}", h)
        x = h + x
        _store(cap, f"l_out-{il}", x)
        return x


def _store(capture: dict | None, name: str, value: np.ndarray) -> None:
    if capture is not None:
        capture[name] = value.copy()
