"""LlamaForCausalLM and MistralForCausalLM (SmolLM, TinyLlama, Llama 2/3, Mistral 7B) -> GGUF "llama".

Mirrors llama.cpp's ``LlamaModel`` (``conversion/llama.py``) for these two classes: the generic text-model
keys, then ``llama.vocab_size`` and ``llama.rope.dimension_count``; Q/K rows permuted; ``rope_freqs`` for
Llama 3's ``rope_type: llama3``.

Why the Q/K permutation: transformers' Llama applies RoPE to the two *halves* of each head (``rotate_half``:
dimension i pairs with i + head_dim/2), while ggml's ``rope`` (mode 0, "normal") rotates *adjacent* pairs
(2i, 2i+1). Meta's original checkpoints used adjacent pairs; HF's conversion script permuted the rows of
``q_proj``/``k_proj`` so rotate_half gives the same result. llama.cpp undoes that permutation: within each
head, the rows are split as (2, head_dim/2) and transposed to (head_dim/2, 2), so row j of the first half
and row j of the second half become neighbours again. ``k_proj`` has ``n_head_kv`` heads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...errors import ConvertError
from ...format.keys import LLM
from ..metadata import KV
from ..names import LLAMA
from . import register
from .base import N_EMBD, N_FF, N_HEAD, N_HEAD_KV, Arch, hparam_int


def permute_qk(w: np.ndarray, n_head: int, name: str = "") -> np.ndarray:
    """llama.cpp ``LlamaModel.permute``: (rows, ...) with rows = n_head * head_dim, halves -> interleaved."""
    rows = w.shape[0]
    if rows % (2 * n_head):
        raise ConvertError(f"{name or 'tensor'}: cannot permute {rows} rows into {n_head} heads of an even size")
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@register("LlamaForCausalLM", "MistralForCausalLM")
class Llama(Arch):
    gguf_arch = "llama"
    NAMES = LLAMA
    # transformers' LlamaConfig / MistralConfig defaults (checked against transformers in tests/convert)
    CONFIG_DEFAULTS = {
        "LlamaForCausalLM": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                 num_attention_heads=32, max_position_embeddings=2048, rms_norm_eps=1e-6,
                                 rope_theta=10000.0),
        "MistralForCausalLM": dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                   num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072,
                                   rms_norm_eps=1e-6, rope_theta=10000.0),
    }

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        c = config
        self.n_embd = hparam_int(c, N_EMBD)
        self.n_head = hparam_int(c, N_HEAD)
        self.n_head_kv = hparam_int(c, N_HEAD_KV, optional=True) or self.n_head
        self.n_ff = hparam_int(c, N_FF, optional=True)
        self.head_dim = hparam_int(c, ("head_dim",), optional=True) or self.n_embd // self.n_head
        self.n_vocab = hparam_int(c, ("vocab_size",), optional=True)
        if self.head_dim == 0:
            raise ConvertError(f"config.json: hidden_size {self.n_embd} < num_attention_heads {self.n_head}")

    def write_arch_hparams(self, kv: KV) -> None:
        if self.n_vocab is not None:
            kv.u32(self.key(LLM.VOCAB_SIZE), self.n_vocab)
        kv.u32(self.key(LLM.ROPE_DIMENSION_COUNT), self.head_dim)

    def expected_shape(self, gguf_name: str) -> tuple[int, ...] | None:
        """Shapes (numpy order) llama.cpp's loader will require of these tensors."""
        kind = gguf_name.split(".")[-2] if gguf_name.startswith("blk.") else gguf_name.rsplit(".", 1)[0]
        if not gguf_name.endswith(".weight"):
            return None
        e, q, kv_ = self.n_embd, self.n_head * self.head_dim, self.n_head_kv * self.head_dim
        shapes = {
            "token_embd": (self.n_vocab, e), "output": (self.n_vocab, e), "output_norm": (e,),
            "attn_norm": (e,), "ffn_norm": (e,), "attn_q": (q, e), "attn_k": (kv_, e), "attn_v": (kv_, e),
            "attn_output": (e, q), "ffn_gate": (self.n_ff, e), "ffn_up": (self.n_ff, e), "ffn_down": (e, self.n_ff),
        }
        shape = shapes.get(kind)
        return None if shape is None or None in shape else tuple(int(d) for d in shape)

    def required_tensors(self) -> Iterator[str]:
        per_block = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                     "ffn_down")
        yield from ("token_embd.weight", "output_norm.weight")
        yield from (f"blk.{i}.{n}.weight" for i in range(self.n_block) for n in per_block)

    def transform(self, gguf_name: str, data: np.ndarray) -> np.ndarray:
        if gguf_name.endswith((".attn_q.weight", ".attn_q.bias")):
            return permute_qk(data, self.n_head, gguf_name)
        if gguf_name.endswith((".attn_k.weight", ".attn_k.bias")):
            return permute_qk(data, self.n_head_kv, gguf_name)
        return data

    def extra_tensors(self) -> Iterator[tuple[str, tuple[int, ...], Callable[[], np.ndarray]]]:
        rope = self.config["rope_parameters"]
        rope = rope.get("full_attention", rope)
        if str(rope.get("rope_type", "")).lower() == "llama3":
            factors = llama3_rope_factors(rope, self.head_dim)
            yield "rope_freqs.weight", factors.shape, (lambda: factors)


def llama3_rope_factors(rope: dict[str, Any], dim: int) -> np.ndarray:
    """Llama 3.1's per-frequency RoPE divisors (``LlamaModel.generate_extra_tensors``), float32 (dim/2,).

    Bit-exactness: llama.cpp does this math on float32 torch tensors, so every step here is float32 as
    torch does it: a Python number meeting a tensor is rounded to float32 first (comparisons included);
    ``number / tensor`` is ``tensor.reciprocal() * number`` (torch's ``__rtruediv__``), not a division;
    float32 ``pow`` is correctly rounded (numpy's float32 power is not: it goes through float64 here).
    Number-with-number steps (``old_ctx / low``, ``high - low``) stay float64 as Python computes them.
    """
    f32 = np.float32

    def rdiv(number: float, t: np.float32) -> np.float32:  # torch: number / t
        return (f32(1) / t) * f32(number)

    base = rope.get("rope_theta", 10000.0)
    factor = rope.get("factor", 8.0)
    low, high = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old_ctx = rope.get("original_max_position_embeddings", 8192)
    # 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    exponents = np.arange(0, dim, 2, dtype=f32) / f32(dim)
    freqs = f32(1) / (np.float64(f32(base)) ** exponents.astype(np.float64)).astype(f32)
    low_wavelen, high_wavelen = f32(old_ctx / low), f32(old_ctx / high)
    out = []
    for freq in freqs:
        wavelen = rdiv(2 * math.pi, freq)
        if wavelen < high_wavelen:
            out.append(f32(1))
        elif wavelen > low_wavelen:
            out.append(f32(factor))
        else:
            smooth = (rdiv(old_ctx, wavelen) - f32(low)) / f32(high - low)
            out.append(rdiv(1, (f32(1) - smooth) / f32(factor) + smooth))
    return np.asarray(out, dtype=f32)
