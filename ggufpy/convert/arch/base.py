"""What every architecture module provides, and the hyperparameter keys shared by all text models.

An ``Arch`` turns config.json into ``{arch}.*`` keys (``write_hparams``, llama.cpp's ``TextModel.
set_gguf_parameters`` plus the architecture's additions), maps HF tensor names to GGUF ones through its
``NAMES`` table, says which shape each GGUF tensor must have (``expected_shape``: a shape that disagrees
with config.json is an error, not a corrupt file), and may rewrite a tensor (``transform``) or add
generated ones (``extra_tensors``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...errors import ConvertError
from ...format.keys import LLM, General
from ..hf import find_hparam, with_defaults
from ..metadata import KV
from ..names import NameMap, block_id

# config.json key spellings, in llama.cpp's order of preference
N_CTX = ("max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length")
N_EMBD = ("hidden_size", "n_embd", "dim")
N_FF = ("prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner", "hidden_dim")
N_HEAD = ("num_attention_heads", "n_head", "n_heads")
N_HEAD_KV = ("num_key_value_heads", "n_kv_heads")
N_LAYER = ("n_layers", "num_hidden_layers", "n_layer", "num_layers")
RMS_EPS = ("rms_norm_eps", "norm_eps")
NORM_EPS = ("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon")
N_EXPERT = ("num_local_experts", "num_experts", "n_routed_experts")
N_EXPERT_USED = ("num_experts_per_tok", "num_experts_per_token", "top_k_experts")


MAX_HPARAM = 1 << 31  # a count or size in config.json above this is corrupt, not a model


def hparam_int(config: dict[str, Any], keys: tuple[str, ...], *, optional: bool = False) -> int | None:
    """``find_hparam`` for a count or size: a positive integer (JSON ``4.0`` accepted), else ``ConvertError``."""
    value = find_hparam(config, keys, optional=optional)
    if value is None and optional:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < MAX_HPARAM:
        key = next(k for k in keys if k in config)
        raise ConvertError(f"config.json: {key} is {value!r}, expected a positive integer")
    return value


class Arch:
    """One architecture family. Subclasses set ``gguf_arch`` and ``NAMES`` and register themselves."""

    gguf_arch: str = ""
    NAMES: dict[str, str] = {}
    hf_names: tuple[str, ...] = ()
    # HF architecture -> its transformers config class's defaults for the keys the converter reads
    CONFIG_DEFAULTS: dict[str, dict[str, Any]] = {}

    def __init__(self, config: dict[str, Any]):
        hf_arch = (config.get("architectures") or [""])[0]
        self.config = config = with_defaults(config, self.CONFIG_DEFAULTS.get(hf_arch, {}))
        self.n_block = hparam_int(config, N_LAYER)
        self.names = NameMap(self.NAMES, self.n_block)

    def key(self, template: str) -> str:
        return template.format(arch=self.gguf_arch)

    # ---- tensors ---------------------------------------------------------------------------

    def gguf_name(self, hf_name: str) -> str:
        name = self.names.get(hf_name)
        if name is None:
            bid = block_id(hf_name)
            if bid is not None and bid >= self.n_block and self.names.get(hf_name.replace(str(bid), "0", 1)):
                raise ConvertError(f"tensor {hf_name!r} is in block {bid}, but config.json says {self.n_block} blocks")
            raise ConvertError(f"tensor {hf_name!r} has no GGUF name in the {self.gguf_arch} table "
                               f"(convert/names.py); is config.json's architecture right?")
        return name

    def expected_shape(self, gguf_name: str) -> tuple[int, ...] | None:
        """numpy-order shape config.json implies for ``gguf_name``; None when it implies none."""
        return None

    def required_tensors(self) -> Iterator[str]:
        """GGUF names the runtime cannot do without (a checkpoint lacking one is refused). Called only once
        the checkpoint is known to hold blocks up to ``n_block``, so its length is bounded by the file."""
        return iter(())

    def transform(self, gguf_name: str, data: np.ndarray) -> np.ndarray:
        """Rewrite a tensor's float32 data on its way out (default: unchanged)."""
        return data

    def extra_tensors(self) -> Iterator[tuple[str, tuple[int, ...], Callable[[], np.ndarray]]]:
        """(name, shape, producer) of generated tensors, written before the checkpoint's."""
        return iter(())

    # ---- metadata --------------------------------------------------------------------------

    def write_hparams(self, kv: KV, file_type: int | None) -> None:
        """``TextModel.set_gguf_parameters``: the keys every text model gets, then general.file_type."""
        c, key = self.config, self.key
        kv.u32(key(LLM.BLOCK_COUNT), self.n_block)
        for tmpl, names in ((LLM.CONTEXT_LENGTH, N_CTX), (LLM.EMBEDDING_LENGTH, N_EMBD),
                            (LLM.FEED_FORWARD_LENGTH, N_FF), (LLM.HEAD_COUNT, N_HEAD),
                            (LLM.HEAD_COUNT_KV, N_HEAD_KV)):
            value = find_hparam(c, names, optional=True)
            if value is not None:
                kv.u32(key(tmpl), value)
        if c.get("is_causal") is False:
            kv.bool(key("{arch}.attention.causal"), False)
        rope = c["rope_parameters"]
        self._write_rope_scaling(kv, rope.get("full_attention", rope))
        theta = rope.get("full_attention", rope).get("rope_theta")
        if theta is not None:
            kv.f32(key(LLM.ROPE_FREQ_BASE), theta)
        swa_theta = rope.get("sliding_attention", {}).get("rope_theta")
        if swa_theta is not None:
            kv.f32(key("{arch}.rope.freq_base_swa"), swa_theta)
        for tmpl, names in ((LLM.LAYERNORM_RMS_EPS, RMS_EPS),
                            ("{arch}.attention.layer_norm_epsilon", NORM_EPS)):
            value = find_hparam(c, names, optional=True)
            if value is not None:
                kv.f32(key(tmpl), value)
        for tmpl, names in ((LLM.EXPERT_COUNT, N_EXPERT), (LLM.EXPERT_USED_COUNT, N_EXPERT_USED)):
            value = find_hparam(c, names, optional=True)
            if value is not None:
                kv.u32(key(tmpl), value)
        if c.get("head_dim") is not None:
            kv.u32(key(LLM.KEY_LENGTH), c["head_dim"])
            kv.u32(key(LLM.VALUE_LENGTH), c["head_dim"])
        if file_type is not None:
            kv.u32(General.FILE_TYPE, file_type)

    def _write_rope_scaling(self, kv: KV, rope: dict[str, Any]) -> None:
        rope_type, factor, key = rope.get("rope_type"), rope.get("factor"), self.key
        if rope_type == "yarn" and factor is not None and rope.get("original_max_position_embeddings") is None:
            raise ConvertError("config.json: yarn RoPE scaling without original_max_position_embeddings")
        if rope_type == "linear" and factor is not None:
            kv.str(key(LLM.ROPE_SCALING_TYPE), "linear")
            kv.f32(key(LLM.ROPE_SCALING_FACTOR), factor)
        elif rope_type == "yarn" and factor is not None:
            kv.str(key(LLM.ROPE_SCALING_TYPE), "yarn")
            kv.f32(key(LLM.ROPE_SCALING_FACTOR), factor)
            kv.u32(key("{arch}.rope.scaling.original_context_length"), rope["original_max_position_embeddings"])
            for name, tmpl in (("extrapolation_factor", "yarn_ext_factor"),
                               ("attention_factor", "yarn_attn_factor"), ("beta_fast", "yarn_beta_fast"),
                               ("beta_slow", "yarn_beta_slow")):
                value = rope.get(name, rope.get("attn_factor")) if name == "attention_factor" else rope.get(name)
                if value is not None:
                    kv.f32(key("{arch}.rope.scaling." + tmpl), value)
        elif rope_type in ("su", "longrope"):
            kv.str(key(LLM.ROPE_SCALING_TYPE), "longrope")

    def write_arch_hparams(self, kv: KV) -> None:
        """Keys the architecture adds after general.file_type (LlamaModel: vocab size, rope dims)."""

    def planner_metadata(self) -> dict[str, Any]:
        """The GGUF keys ``mix.ModelInfo.from_metadata`` reads (the quantization planner's view of the model)."""
        n_head = hparam_int(self.config, N_HEAD)
        return {General.ARCHITECTURE: self.gguf_arch, self.key(LLM.BLOCK_COUNT): self.n_block,
                self.key(LLM.HEAD_COUNT): n_head,
                self.key(LLM.HEAD_COUNT_KV): hparam_int(self.config, N_HEAD_KV, optional=True) or n_head,
                self.key(LLM.EXPERT_COUNT): int(find_hparam(self.config, N_EXPERT, optional=True) or 0)}
