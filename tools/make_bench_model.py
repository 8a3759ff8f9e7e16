"""A benchmark model with TinyLlama-1.1B's shapes and random weights, written in each type to measure.

    python tools/make_bench_model.py [--types q4_0,q8_0,q4_k_m,q6_k,tq2_0,nf4] [--out DIR]

Shapes (TinyLlama-1.1B-Chat v1.0's config): 22 layers, n_embd 2048, n_ff 5632, 32 heads, 4 KV heads
(head_dim 64), context 2048, rope theta 10000, RMS eps 1e-5, untied output; every row length (2048,
5632) is a multiple of 256, so K-quants and TQ types get the layout they were made for. Vocabulary: the
32000-piece SentencePiece vocab of llama.cpp's ``ggml-vocab-llama-spm.gguf`` (``fetch("llama-vocabs")``),
copied with its tokenizer keys, so the file loads in llama.cpp too.

Weights: N(0, 0.02) (norm weights 1 + N(0, 0.02)), seed 0, written once as F16
(``tinyllama-shape-f16.gguf``, 2.2 GB) and then converted with ``ggufpy quantize`` (llama-quantize's mixes)
to each type. Speed does not depend on the values. Files go to ``~/.cache/ggufpy/bench-models``
(``--out``); existing ones are kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ggufpy import GGUFReader, GGUFWriter  # noqa: E402
from ggufpy.fetch import cache_dir, fetch  # noqa: E402
from ggufpy.format.constants import GGMLType  # noqa: E402
from ggufpy.quantize import quantize_file  # noqa: E402

N_LAYER, N_EMBD, N_FF, N_HEAD, N_HEAD_KV, N_CTX = 22, 2048, 5632, 32, 4, 2048
DEFAULT_TYPES = "q4_0,q8_0,q4_k_m,q6_k,tq2_0,nf4"


def tensor_shapes(n_vocab: int) -> list[tuple[str, tuple[int, int]]]:
    """(name, (rows, cols)) in llama.cpp's order; cols is ne[0], the row length."""
    kv = N_EMBD // N_HEAD * N_HEAD_KV
    out = [("token_embd.weight", (n_vocab, N_EMBD)), ("output_norm.weight", (1, N_EMBD)),
           ("output.weight", (n_vocab, N_EMBD))]
    for i in range(N_LAYER):
        out += [(f"blk.{i}.attn_norm.weight", (1, N_EMBD)), (f"blk.{i}.attn_q.weight", (N_EMBD, N_EMBD)),
                (f"blk.{i}.attn_k.weight", (kv, N_EMBD)), (f"blk.{i}.attn_v.weight", (kv, N_EMBD)),
                (f"blk.{i}.attn_output.weight", (N_EMBD, N_EMBD)), (f"blk.{i}.ffn_norm.weight", (1, N_EMBD)),
                (f"blk.{i}.ffn_gate.weight", (N_FF, N_EMBD)), (f"blk.{i}.ffn_up.weight", (N_FF, N_EMBD)),
                (f"blk.{i}.ffn_down.weight", (N_EMBD, N_FF))]
    return out


def _random(name: str, shape: tuple[int, int], seed: int):
    def make() -> np.ndarray:
        rng = np.random.default_rng([seed, sum(name.encode())])
        x = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
        if name.endswith("norm.weight"):
            return (np.float32(1) + x).reshape(-1)  # norms stay F32, as converters write them
        return x.astype(np.float16)
    return make


def write_f16(path: Path, seed: int = 0) -> Path:
    vocab = fetch("llama-vocabs") / "ggml-vocab-llama-spm.gguf"
    with GGUFReader(vocab) as v:
        w = GGUFWriter(path, "llama", overwrite=True)
        w.add_string("general.name", "ggufpy bench model (TinyLlama-1.1B shapes, random weights)")
        for key, val in (("block_count", N_LAYER), ("context_length", N_CTX), ("embedding_length", N_EMBD),
                         ("feed_forward_length", N_FF), ("attention.head_count", N_HEAD),
                         ("attention.head_count_kv", N_HEAD_KV), ("rope.dimension_count", N_EMBD // N_HEAD)):
            w.add_uint32(f"llama.{key}", val)
        w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
        w.add_float32("llama.rope.freq_base", 10000.0)
        w.add_uint32("general.file_type", 1)
        for f in v.metadata.fields():
            if f.key.startswith("tokenizer."):
                w.add_key_value(f.key, f.value, f.type, f.elem_type)
        n_vocab = len(v.metadata["tokenizer.ggml.tokens"])
        for name, shape in tensor_shapes(n_vocab):
            ggml_type = GGMLType.F32 if name.endswith("norm.weight") else GGMLType.F16
            w.add_tensor(name, _random(name, shape, seed), ggml_type=ggml_type, ne=(shape[1], shape[0])
                         if shape[0] > 1 else (shape[1],))
        w.write(progress=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--types", default=DEFAULT_TYPES, help=f"comma-separated ggufpy quantize types ({DEFAULT_TYPES})")
    ap.add_argument("--out", type=Path, default=cache_dir() / "bench-models")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    f16 = args.out / "tinyllama-shape-f16.gguf"
    if not f16.exists():
        write_f16(f16)
    print(f16)
    for t in (x for x in args.types.split(",") if x and x != "f16"):
        dst = args.out / f"tinyllama-shape-{t}.gguf"
        if not dst.exists():
            quantize_file(f16, dst, t)
        print(dst)


if __name__ == "__main__":
    main()
