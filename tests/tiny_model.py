"""A tiny, deterministic llama GGUF (random F32 weights, llama.cpp names and the metadata llama.cpp's
loader needs). Shared by tests and by tools/gen_golden_quantize.py, which records what llama-quantize
makes of exactly this file, so it must not change without regenerating those goldens."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ggufpy import GGUFWriter
from ggufpy.format.constants import TokenType

N_EMBD, N_FF, N_LAYER, N_HEAD, N_HEAD_KV, N_VOCAB = 256, 512, 2, 4, 2, 256


def tensor_shapes(tied: bool = False) -> list[tuple[str, tuple[int, ...]]]:
    """(name, ne) in the order written; ne[0] is the row length."""
    head_dim = N_EMBD // N_HEAD
    out = [("token_embd.weight", (N_EMBD, N_VOCAB)), ("output_norm.weight", (N_EMBD,))]
    if not tied:
        out.append(("output.weight", (N_EMBD, N_VOCAB)))
    for i in range(N_LAYER):
        out += [
            (f"blk.{i}.attn_norm.weight", (N_EMBD,)),
            (f"blk.{i}.attn_q.weight", (N_EMBD, N_EMBD)),
            (f"blk.{i}.attn_k.weight", (N_EMBD, head_dim * N_HEAD_KV)),
            (f"blk.{i}.attn_v.weight", (N_EMBD, head_dim * N_HEAD_KV)),
            (f"blk.{i}.attn_output.weight", (N_EMBD, N_EMBD)),
            (f"blk.{i}.ffn_norm.weight", (N_EMBD,)),
            (f"blk.{i}.ffn_gate.weight", (N_EMBD, N_FF)),
            (f"blk.{i}.ffn_up.weight", (N_EMBD, N_FF)),
            (f"blk.{i}.ffn_down.weight", (N_FF, N_EMBD)),
        ]
    return out


def write_tiny_llama(path: str | Path, *, tied: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    w = GGUFWriter(path, "llama", overwrite=True)
    w.add_string("general.name", "ggufpy tiny llama")
    w.add_uint32("llama.block_count", N_LAYER)
    w.add_uint32("llama.context_length", 256)
    w.add_uint32("llama.embedding_length", N_EMBD)
    w.add_uint32("llama.feed_forward_length", N_FF)
    w.add_uint32("llama.attention.head_count", N_HEAD)
    w.add_uint32("llama.attention.head_count_kv", N_HEAD_KV)
    w.add_uint32("llama.rope.dimension_count", N_EMBD // N_HEAD)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_uint32("general.file_type", 0)
    tokens = ["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(3, N_VOCAB)]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] + [TokenType.NORMAL] * (N_VOCAB - 3)
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.scores", -np.arange(N_VOCAB, dtype=np.float32))
    w.add_array("tokenizer.ggml.token_type", np.array(types, dtype=np.int32))
    for name, ne in tensor_shapes(tied):
        x = rng.standard_normal(tuple(reversed(ne)), dtype=np.float32) * np.float32(0.02)
        if name.endswith("norm.weight"):
            x = np.float32(1) + x
        w.add_tensor(name, x)
    w.write()
    return Path(path)
