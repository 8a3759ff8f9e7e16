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


def write_tiny_llama_for_llamacpp(path: str | Path) -> Path:
    """The tiny llama made runnable by llama.cpp's SPM tokenizer, which needs the byte token "<0x0A>" (its
    newline id) and, with no "\u2581" in the vocab, ``add_space_prefix = false``: token 255 becomes "<0x0A>".
    (tools/gen_golden_kld.py ran llama.cpp on exactly this file.)"""
    from ggufpy import GGUFReader

    path = Path(path)
    src = write_tiny_llama(path.with_suffix(".src.gguf"))
    with GGUFReader(src) as r:
        w = GGUFWriter(path, overwrite=True)
        for f in r.metadata.fields():
            value = f.value
            if f.key == "tokenizer.ggml.tokens":
                value = list(value[:-1]) + ["<0x0A>"]
            elif f.key == "tokenizer.ggml.token_type":
                value = np.array(list(value[:-1]) + [int(TokenType.BYTE)], dtype=np.int32)
            w.add_key_value(f.key, value, f.type, f.elem_type)
        w.add_bool("tokenizer.ggml.add_space_prefix", False)
        for t in r.tensors:
            w.add_tensor(t.name, t.data, ggml_type=t.type, ne=t.ne)
        w.write()
    src.unlink()
    return path


def tiny_text(n: int = 300, seed: int = 1) -> str:
    """n random pieces "tN", N in 3..9 or 30..99: the numbers whose every prefix "tN" is a token too, so that
    SPM's bigram merges reach them (there is no "t1" or "t2" to build "t12" or "t200" from)."""
    rng = np.random.default_rng(seed)
    return "".join(f"t{int(i)}" for i in rng.choice(list(range(3, 10)) + list(range(30, 100)), size=n))
