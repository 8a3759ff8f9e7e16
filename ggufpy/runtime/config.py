"""ModelConfig: a model's hyperparameters, read from GGUF metadata the way llama.cpp's loader reads them.

Sources (llama.cpp 0c1e570): ``llama_model::load_hparams`` in ``src/llama-model.cpp`` (generic keys and
their defaults), ``load_arch_hparams`` in ``src/models/<arch>.cpp`` (per-architecture keys) and
``llama_model_rope_type``. Key names: ../shared/spec/formats.md §6.1.

Defaults follow llama.cpp: ``head_count_kv`` = ``head_count``; ``key_length`` = ``n_embd / n_head``;
``rope.dimension_count`` = head_dim; ``rope.freq_base`` = 10000; ``rope.scaling.type`` = "linear" with
factor 0 meaning no scaling. Required (llama.cpp refuses the file without them): ``context_length``,
``embedding_length``, ``block_count``, ``feed_forward_length``, ``attention.head_count`` and, for llama,
``attention.layer_norm_rms_epsilon``.

Adding a family that shares llama's graph (qwen2: NEOX rope plus Q/K/V biases, which the reference
already applies when present) is one more ``ARCHITECTURES`` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ..errors import GGUFError, UnsupportedTypeError
from ..format.keys import LLM, General, Tokenizer


class RopeType(IntEnum):
    """llama.h ``LLAMA_ROPE_TYPE_*`` (= ggml ``GGML_ROPE_TYPE_*``): which dimensions RoPE pairs."""

    NORM = 0  # (x[2i], x[2i+1]); the converter permuted Q/K rows for this (formats.md §6.3)
    NEOX = 2  # (x[i], x[i + n_rot/2]); HF "rotate_half" layout, unpermuted


@dataclass(frozen=True)
class ArchSpec:
    """What differs between architectures that run the llama graph."""

    rope_type: RopeType


# general.architecture -> spec. Mistral and Llama 2/3 files are written as "llama" by llama.cpp's
# converter (MistralForCausalLM is registered under LlamaModel), so one row covers them.
ARCHITECTURES: dict[str, ArchSpec] = {
    "llama": ArchSpec(rope_type=RopeType.NORM),
}

ROPE_SCALING_TYPES = ("none", "linear", "yarn", "longrope")  # llama-model.cpp LLAMA_ROPE_SCALING_TYPES
_ROPE_SCALING_ATTN_FACTOR = "{arch}.rope.scaling.attn_factor"  # not in format/keys.py yet


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of one GGUF model (names follow llama.cpp's ``llama_hparams``)."""

    arch: str
    n_vocab: int
    n_ctx_train: int
    n_embd: int
    n_layer: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int  # n_embd_head_k; llama asserts the V head size equals it
    n_rot: int
    rope_type: RopeType
    rope_freq_base: float
    rope_scaling_type: str  # "none" | "linear" | "yarn" | "longrope"
    rope_scaling_factor: float  # 0.0: not set
    rope_attn_factor: float  # rope.scaling.attn_factor (default 1): scales RoPE's cos and sin (ggml mscale)
    rms_eps: float
    tied_output: bool  # no output.weight: the logits use token_embd.weight (TENSOR_DUPLICATED)
    bos_id: int | None
    eos_id: int | None
    add_bos: bool | None  # tokenizer.ggml.add_bos_token; None: absent (llama.cpp then decides per vocab type)

    @property
    def rope_freq_scale(self) -> float:
        """ggml's ``freq_scale``: 1/factor, and 1 when unscaled (llama_context: type "none" never scales)."""
        if self.rope_scaling_type == "none" or self.rope_scaling_factor == 0.0:
            return 1.0
        return 1.0 / self.rope_scaling_factor

    @property
    def n_gqa(self) -> int:
        """Query heads per K/V head."""
        return self.n_head // self.n_head_kv

    @classmethod
    def from_gguf(cls, reader) -> ModelConfig:
        """Read the config of an open ``GGUFReader``.

        Raises:
            GGUFError: a required key is missing or a value is inconsistent (message names the key).
            UnsupportedTypeError: the architecture, MoE or a rope scaling type is not supported here.
        """
        md = reader.metadata
        arch = md.get(General.ARCHITECTURE)
        if arch is None:
            raise GGUFError(f"missing required key {General.ARCHITECTURE!r}")
        spec = ARCHITECTURES.get(arch)
        if spec is None:
            raise UnsupportedTypeError(
                f"architecture {arch!r} is not supported (supported: {', '.join(sorted(ARCHITECTURES))})"
            )

        def key(template: str) -> str:
            return template.format(arch=arch)

        def req(template: str) -> Any:
            k = key(template)
            if k not in md:
                raise GGUFError(f"missing required key {k!r} (architecture {arch!r})")
            return _scalar(md, k)

        def opt(template: str, default: Any) -> Any:
            k = key(template)
            return _scalar(md, k) if k in md else default

        n_embd = _positive(req(LLM.EMBEDDING_LENGTH), key(LLM.EMBEDDING_LENGTH))
        n_head = _positive(req(LLM.HEAD_COUNT), key(LLM.HEAD_COUNT))
        n_head_kv = _positive(opt(LLM.HEAD_COUNT_KV, n_head), key(LLM.HEAD_COUNT_KV))
        if n_head % n_head_kv:
            raise GGUFError(
                f"{key(LLM.HEAD_COUNT)} = {n_head} is not a multiple of {key(LLM.HEAD_COUNT_KV)} = {n_head_kv}"
            )
        head_dim = _positive(opt(LLM.KEY_LENGTH, n_embd // n_head), key(LLM.KEY_LENGTH))
        head_dim_v = opt(LLM.VALUE_LENGTH, n_embd // n_head)
        if head_dim_v != head_dim:
            raise GGUFError(f"{key(LLM.VALUE_LENGTH)} = {head_dim_v} differs from the key head size {head_dim}")
        n_rot = opt(LLM.ROPE_DIMENSION_COUNT, head_dim)
        if n_rot != head_dim:  # llama-model.cpp: "invalid n_rot" for LLM_ARCH_LLAMA
            raise GGUFError(f"{key(LLM.ROPE_DIMENSION_COUNT)} = {n_rot}, expected the head size {head_dim}")
        n_expert = opt(LLM.EXPERT_COUNT, 0)
        if n_expert:
            raise UnsupportedTypeError(f"{key(LLM.EXPERT_COUNT)} = {n_expert}: MoE models are not supported")

        scaling = opt(LLM.ROPE_SCALING_TYPE, "linear")
        if scaling not in ROPE_SCALING_TYPES:
            raise GGUFError(f"{key(LLM.ROPE_SCALING_TYPE)} = {scaling!r}, expected one of {ROPE_SCALING_TYPES}")
        factor = float(opt(LLM.ROPE_SCALING_FACTOR, 0.0))
        if scaling in ("yarn", "longrope") and factor not in (0.0, 1.0):
            raise UnsupportedTypeError(f"rope scaling {scaling!r} is not supported yet")

        tokens = md.get(Tokenizer.TOKENS)
        n_vocab = opt(LLM.VOCAB_SIZE, len(tokens) if tokens is not None else None)
        if n_vocab is None:
            raise GGUFError(f"missing {key(LLM.VOCAB_SIZE)!r} and {Tokenizer.TOKENS!r}: vocabulary size unknown")

        names = {t.name for t in reader.tensors}
        return cls(
            arch=arch,
            n_vocab=int(n_vocab),
            n_ctx_train=_positive(req(LLM.CONTEXT_LENGTH), key(LLM.CONTEXT_LENGTH)),
            n_embd=n_embd,
            n_layer=_positive(req(LLM.BLOCK_COUNT), key(LLM.BLOCK_COUNT)),
            n_ff=_positive(req(LLM.FEED_FORWARD_LENGTH), key(LLM.FEED_FORWARD_LENGTH)),
            n_head=n_head,
            n_head_kv=n_head_kv,
            head_dim=head_dim,
            n_rot=n_rot,
            rope_type=spec.rope_type,
            rope_freq_base=float(opt(LLM.ROPE_FREQ_BASE, 10000.0)),
            rope_scaling_type=scaling,
            rope_scaling_factor=factor,
            rope_attn_factor=float(opt(_ROPE_SCALING_ATTN_FACTOR, 1.0)),
            rms_eps=float(req(LLM.LAYERNORM_RMS_EPS)),
            tied_output="output.weight" not in names,
            bos_id=_optional_int(md.get(Tokenizer.BOS_ID)),
            eos_id=_optional_int(md.get(Tokenizer.EOS_ID)),
            add_bos=None if Tokenizer.ADD_BOS not in md else bool(md[Tokenizer.ADD_BOS]),
        )


def _scalar(md, k: str) -> Any:
    """A scalar value; llama.cpp also accepts a per-layer array (get_key_or_arr) if it is uniform."""
    v = md[k]
    if isinstance(v, (list, tuple)) or hasattr(v, "shape"):
        values = {int(x) if not isinstance(x, str) else x for x in v}
        if len(values) != 1:
            raise UnsupportedTypeError(f"{k!r}: per-layer values {sorted(values)} are not supported")
        return values.pop()
    return v


def _positive(v: Any, k: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise GGUFError(f"{k!r} = {v!r}, expected a positive integer")
    return v


def _optional_int(v: Any) -> int | None:
    return None if v is None else int(v)
