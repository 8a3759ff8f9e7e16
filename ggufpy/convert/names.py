"""Hugging Face -> GGUF tensor names, as data.

Each table maps an HF module path (``{bid}`` = block number) to the GGUF tensor name; the ``.weight`` or
``.bias`` suffix carries over. The GGUF names are gguf-py's ``TENSOR_NAMES`` (llama.cpp ``constants.py``),
the HF spellings are the ones ``tensor_mapping.py`` lists for these architectures. A new architecture
adds its own table (or reuses one) in its ``arch/`` module.
"""

from __future__ import annotations

import re

# LlamaForCausalLM, MistralForCausalLM (transformers' modeling_llama / modeling_mistral)
LLAMA: dict[str, str] = {
    "model.embed_tokens": "token_embd",
    "model.norm": "output_norm",
    "lm_head": "output",
    "model.layers.{bid}.input_layernorm": "blk.{bid}.attn_norm",
    "model.layers.{bid}.self_attn.q_proj": "blk.{bid}.attn_q",
    "model.layers.{bid}.self_attn.k_proj": "blk.{bid}.attn_k",
    "model.layers.{bid}.self_attn.v_proj": "blk.{bid}.attn_v",
    "model.layers.{bid}.self_attn.o_proj": "blk.{bid}.attn_output",
    "model.layers.{bid}.post_attention_layernorm": "blk.{bid}.ffn_norm",
    "model.layers.{bid}.mlp.gate_proj": "blk.{bid}.ffn_gate",
    "model.layers.{bid}.mlp.up_proj": "blk.{bid}.ffn_up",
    "model.layers.{bid}.mlp.down_proj": "blk.{bid}.ffn_down",
}

# Tensors every converter drops: buffers transformers saves that hold no weights
# (llama.cpp's prepare_tensors skips the same suffixes).
IGNORED_SUFFIXES = (".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq")

_SUFFIXES = (".weight", ".bias")


class NameMap:
    """An HF -> GGUF name table for a model of ``n_block`` blocks; ``get`` maps a full tensor name.

    ``{bid}`` entries match any block number below ``n_block`` (one regex per entry, so nothing is expanded
    per block: ``n_block`` comes from config.json and is not trusted to be small).
    """

    def __init__(self, table: dict[str, str], n_block: int):
        self.n_block = n_block
        self._plain: dict[str, str] = {hf: gguf for hf, gguf in table.items() if "{bid}" not in hf}
        self._per_block: list[tuple[re.Pattern[str], str]] = [
            (re.compile(re.escape(hf).replace(re.escape("{bid}"), "(?P<bid>0|[1-9][0-9]*)")), gguf)
            for hf, gguf in table.items() if "{bid}" in hf]

    def _base(self, name: str) -> str | None:
        if name in self._plain:
            return self._plain[name]
        for pattern, gguf in self._per_block:
            m = pattern.fullmatch(name)
            if m is not None and len(m["bid"]) <= 9 and int(m["bid"]) < self.n_block:
                return gguf.format(bid=int(m["bid"]))
        return None

    def get(self, name: str) -> str | None:
        """The GGUF name of HF tensor ``name`` (``.weight``/``.bias`` kept), or None if it has none."""
        for suffix in _SUFFIXES:
            if name.endswith(suffix):
                base = self._base(name[: -len(suffix)])
                return None if base is None else base + suffix
        return self._base(name)


def block_id(name: str) -> int | None:
    """The first all-digit dotted part of ``name`` (llama.cpp's ``bid``), or None."""
    for part in name.split("."):
        if part.isdecimal():
            return int(part)
    return None
