"""Which ggml type each tensor gets when a model is quantized: llama-quantize's "mix", ported faithfully.

Port of llama.cpp ``src/llama-quant.cpp`` at commit 0c1e570 (vendored in llama-cpp-python 0.3.36), read
function by function; formats.md §7 describes the same logic at 007dbbf. Pure logic: no file I/O.

    plan(tensors, "q4_k_m", ModelInfo("llama", n_layer=30, n_head=9, n_head_kv=3))
        -> [Choice(name, type, reason, quantize), ...]   # one per tensor, in the order given

The pipeline for one tensor, as ``llama_tensor_get_type`` runs it:

1. ``tensor_allows_quantization``: 1-D tensors, names not ending in ``weight``, ``*_norm.weight``, MoE
   routers and a list of small special tensors are copied as they are.
2. ``--token-embedding-type`` (category TOKEN_EMBD) and ``--output-tensor-type`` (OUTPUT) return at once,
   without the shape fallback.
3. Only when the target's default type is a block type (not F32/F16/BF16): the first matching
   ``--tensor-type REGEX=TYPE`` wins; otherwise, unless ``--pure``, the per-category rules
   (``llama_tensor_get_type_impl``) pick a type; then ``tensor_type_fallback`` replaces a type whose block
   does not divide ``ne[0]``.
4. A tensor whose chosen type equals its current type is copied, not requantized.

The rules keep running counters (``i_attention_wv``, ``i_ffn_down``...), so tensors are visited in
llama.cpp's order: ``llama_model_loader::weights_map`` sorts by (layer parsed from ``blk.%d.``, -1 if
none; then name). ``plan`` visits in that order and returns the choices in the order it was given.

Left out on purpose, each marked where it would go: IQ ftypes (they need an imatrix), MXFP4_MOE, Q1_0/Q2_0
ftypes, GLM5_NEXT/BAILINGMOE3 special cases, imatrix-only rules (``has_imatrix`` is always false here).

ggufpy-private targets (no llama_ftype; see ``TARGETS``):

* ``nf4``: the rules of the Q4_0 ftype (llama.cpp's plain 4-bit mix: no per-layer upgrades) with NF4 as
  the default type. The output head, and ``token_embd`` when embeddings are tied, follow llama.cpp's
  output rule as for every ftype: Q6_K, or Q8_0 when ``ne[0]`` is not a multiple of the default block
  (64) and, through the fallback, when it is not a multiple of 256. NF4 falls back to Q8_0 when
  ``ne[0] % 64 != 0`` (then F16 when ``ne[0] % 32 != 0``).
* ``tq2_64``: exactly the TQ2_0 ftype's rules (output Q6_K/Q8_0, untied ``token_embd`` Q4_K) with TQ2_64
  as the default type, falling back like TQ2_0 to Q4_0 when ``ne[0] % 64 != 0``.

``file_type()`` is None for both: a file holding private types is not any llama_ftype, so the writer
should leave ``general.file_type`` out (and drop one copied from the source) rather than write a value
that llama.cpp would read as a claim about the tensors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from ..errors import GGUFError, UnsupportedTypeError
from ..format.constants import QUANT_SIZES, GGMLType, LlamaFileType
from ..format.keys import LLM, General

FT = LlamaFileType
T = GGMLType

# ---- targets ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A ``--type`` value: the ftype written to ``general.file_type`` (None for ggufpy-private targets),
    the ftype whose per-tensor rules apply, and the default tensor type."""

    name: str
    ftype: LlamaFileType | None
    rules: LlamaFileType
    default_type: GGMLType


def _llama(name: str, ftype: LlamaFileType, default_type: GGMLType) -> Target:
    return Target(name, ftype, ftype, default_type)


# Default types are llama_ftype_get_default_type's.
TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        _llama("f32", FT.ALL_F32, T.F32),
        _llama("f16", FT.MOSTLY_F16, T.F16),
        _llama("bf16", FT.MOSTLY_BF16, T.BF16),
        _llama("q8_0", FT.MOSTLY_Q8_0, T.Q8_0),
        _llama("q4_0", FT.MOSTLY_Q4_0, T.Q4_0),
        _llama("q4_1", FT.MOSTLY_Q4_1, T.Q4_1),
        _llama("q5_0", FT.MOSTLY_Q5_0, T.Q5_0),
        _llama("q5_1", FT.MOSTLY_Q5_1, T.Q5_1),
        _llama("q2_k", FT.MOSTLY_Q2_K, T.Q2_K),
        _llama("q3_k_s", FT.MOSTLY_Q3_K_S, T.Q3_K),
        _llama("q3_k_m", FT.MOSTLY_Q3_K_M, T.Q3_K),
        _llama("q3_k_l", FT.MOSTLY_Q3_K_L, T.Q3_K),
        _llama("q4_k_s", FT.MOSTLY_Q4_K_S, T.Q4_K),
        _llama("q4_k_m", FT.MOSTLY_Q4_K_M, T.Q4_K),
        _llama("q5_k_s", FT.MOSTLY_Q5_K_S, T.Q5_K),
        _llama("q5_k_m", FT.MOSTLY_Q5_K_M, T.Q5_K),
        _llama("q6_k", FT.MOSTLY_Q6_K, T.Q6_K),
        _llama("tq1_0", FT.MOSTLY_TQ1_0, T.TQ1_0),
        _llama("tq2_0", FT.MOSTLY_TQ2_0, T.TQ2_0),
        Target("nf4", None, FT.MOSTLY_Q4_0, T.NF4),  # ggufpy-private
        Target("tq2_64", None, FT.MOSTLY_TQ2_0, T.TQ2_64),  # ggufpy-private
    ]
}
# llama-quantize's aliases (QUANT_OPTIONS in tools/quantize/quantize.cpp)
ALIASES = {"q3_k": "q3_k_m", "q4_k": "q4_k_m", "q5_k": "q5_k_m"}


def get_target(target: str) -> Target:
    """The ``Target`` named ``target`` (case-insensitive; llama-quantize's q3_k/q4_k/q5_k aliases too).

    Raises:
        UnsupportedTypeError: unknown name.
    """
    key = target.lower()
    key = ALIASES.get(key, key)
    if key not in TARGETS:
        raise UnsupportedTypeError(f"unknown quantization target {target!r}; expected one of {', '.join(TARGETS)}")
    return TARGETS[key]


def file_type(target: str) -> int | None:
    """``general.file_type`` to write for ``target``; None for ggufpy-private targets (omit the key)."""
    ftype = get_target(target).ftype
    return None if ftype is None else int(ftype)


# ---- inputs and outputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorDesc:
    """A tensor as the planner sees it: GGUF name, ``ne`` in GGUF order (``ne[0]`` = row length), type."""

    name: str
    ne: tuple[int, ...]
    type: GGMLType


@dataclass(frozen=True)
class ModelInfo:
    """The hparams llama-quant.cpp looks at. ``model_type_70b`` is llama.cpp's ``LLM_TYPE_70B``."""

    arch: str
    n_layer: int
    n_head: int
    n_head_kv: int
    n_expert: int = 0
    model_type_70b: bool = False

    @property
    def n_gqa(self) -> int:
        """``llama_hparams::n_gqa()``: n_head / n_head_kv, 0 when n_head_kv is 0."""
        return self.n_head // self.n_head_kv if self.n_head_kv else 0

    @classmethod
    def from_metadata(cls, md: Mapping[str, object]) -> ModelInfo:
        """From GGUF metadata. Per-layer head counts (arrays) use layer 0, as ``n_gqa()`` does.
        LLM_TYPE_70B is set as ``llama_model_llama::load_arch_hparams`` does: arch llama, not 8 experts,
        80 layers and n_head != n_head_kv."""
        arch = str(md[General.ARCHITECTURE])

        def first(key: str, default: int | None = None) -> int:
            v = md.get(key.format(arch=arch), default)
            if v is None:
                raise GGUFError(f"metadata key {key.format(arch=arch)!r} is missing")
            return int(v if isinstance(v, (int, float)) else v[0])

        n_layer, n_head = first(LLM.BLOCK_COUNT), first(LLM.HEAD_COUNT)
        n_head_kv, n_expert = first(LLM.HEAD_COUNT_KV, n_head), first(LLM.EXPERT_COUNT, 0)
        is_70b = arch == "llama" and n_expert != 8 and n_layer == 80 and n_head != n_head_kv
        return cls(arch, n_layer, n_head, n_head_kv, n_expert, is_70b)


@dataclass(frozen=True)
class Choice:
    """The decision for one tensor. ``quantize`` is False when the tensor is copied as it is."""

    name: str
    type: GGMLType
    reason: str
    quantize: bool


# ---- which tensors are quantized (tensor_allows_quantization) --------------------------------------

# Substrings that keep a tensor as it is, in llama-quant.cpp's order. ``ssm_conv1d``... are tiny;
# ``time_mix_*`` are RWKV's small 2-D weights; the rest are multimodal/audio special tensors.
_NEVER_QUANTIZED = (
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
    "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
    *(f"time_mix_{s}.weight" for s in (
        "first", "w0", "w1", "w2", "v0", "v1", "v2", "a0", "a1", "a2", "g1", "g2", "decay_w1", "decay_w2", "lerp_fused",
    )),
    "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
    ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
)
# LLM_TN(arch)(POS_EMBD / TOKEN_TYPES, "weight"): for an arch without those tensors LLM_TN yields a name no
# tensor has, so comparing with the fixed names for every arch gives the same answer.
_NEVER_QUANTIZED_NAMES = ("position_embd.weight", "token_types.weight")
# GLM5_NEXT's extra exclusions are not ported (arch out of scope).


def n_dims(ne: Sequence[int]) -> int:
    """``ggml_n_dims``: trailing dimensions of size 1 do not count; at least 1."""
    for i in range(len(ne) - 1, 0, -1):
        if ne[i] > 1:
            return i + 1
    return 1


def why_not_quantized(name: str, ne: Sequence[int], *, leave_output_tensor: bool = False) -> str | None:
    """Why ``tensor_allows_quantization`` refuses this tensor, or None if it may be quantized."""
    if n_dims(ne) < 2:
        return "1-D"
    if not name.endswith("weight"):
        return "name does not end in 'weight'"
    if leave_output_tensor and name == "output.weight":
        return "--leave-output-tensor"
    if name in _NEVER_QUANTIZED_NAMES:
        return "positional/token-type embedding"
    for s in _NEVER_QUANTIZED:
        if s in name:
            return f"'{s}' tensors are never quantized"
    return None


def tensor_allows_quantization(name: str, ne: Sequence[int], *, leave_output_tensor: bool = False) -> bool:
    return why_not_quantized(name, ne, leave_output_tensor=leave_output_tensor) is None


# ---- categories (tensor_get_category) --------------------------------------------------------------


class Category(Enum):
    TOKEN_EMBD = "token_embd"
    ATTENTION_Q = "attn_q"
    ATTENTION_V = "attn_v"
    ATTENTION_K = "attn_k"
    ATTENTION_QKV = "attn_qkv"
    ATTENTION_KV_B = "attn_kv_b"
    ATTENTION_OUTPUT = "attn_output"
    FFN_UP = "ffn_up"
    FFN_GATE = "ffn_gate"
    FFN_DOWN = "ffn_down"
    OUTPUT = "output"
    OTHER = "other"


# First match wins, in this order (substring tests, as the C does).
_CATEGORY_SUBSTRINGS = (
    ("attn_qkv.weight", Category.ATTENTION_QKV),
    ("attn_kv_b.weight", Category.ATTENTION_KV_B),
    ("attn_v.weight", Category.ATTENTION_V),
    ("attn_k.weight", Category.ATTENTION_K),
    ("attn_q.weight", Category.ATTENTION_Q),
    ("attn_output.weight", Category.ATTENTION_OUTPUT),
    ("ffn_up", Category.FFN_UP),
    ("ffn_gate", Category.FFN_GATE),
    ("ffn_down", Category.FFN_DOWN),
)
_ATTN_V_LIKE = frozenset({Category.ATTENTION_V, Category.ATTENTION_QKV, Category.ATTENTION_KV_B})


def tensor_category(name: str) -> Category:
    if name == "output.weight":
        return Category.OUTPUT
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return Category.TOKEN_EMBD
    for s, cat in _CATEGORY_SUBSTRINGS:
        if s in name:
            return cat
    return Category.OTHER


# ---- helpers --------------------------------------------------------------------------------------

_BLK_RE = re.compile(r"blk\.\s*([+-]?\d+)")  # sscanf(name, "blk.%d.", &i)


def block_size(qtype: GGMLType) -> int:
    return QUANT_SIZES[qtype][0]


def is_quantized(qtype: GGMLType) -> bool:
    """``ggml_is_quantized``: a block type (F32/F16/BF16 and the integer types are not)."""
    return block_size(qtype) > 1


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """The first eighth, the last eighth and every third layer in between get more bits.
    (``i_layer - n_layers/8`` is only negative when the first test already returned true.)"""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def layer_of(name: str) -> int:
    """The layer parsed from ``blk.%d.``, -1 if the name has none."""
    m = _BLK_RE.match(name)
    return int(m.group(1)) if m else -1


def llama_order(names: Iterable[str]) -> list[str]:
    """``weights_map`` order: by layer (-1 for non-block tensors), then by name."""
    return sorted(names, key=lambda n: (layer_of(n), n))


def parse_ggml_type(name: str | GGMLType) -> GGMLType:
    """A type given by name, case-insensitively (quantize.cpp ``parse_ggml_type``); removed ids refused."""
    if isinstance(name, GGMLType):
        return name
    for t in GGMLType:
        if t.name.lower() == name.lower() and QUANT_SIZES[t][0] > 0:
            return t
    raise UnsupportedTypeError(f"invalid ggml type {name!r}")


def parse_tensor_type(option: str) -> tuple[str, GGMLType]:
    """``--tensor-type NAME=TYPE`` as quantize.cpp parses it: the pattern is lower-cased."""
    pattern, sep, qtype = option.partition("=")
    if not sep or not pattern or not qtype:
        raise GGUFError(f"malformed --tensor-type {option!r}; expected REGEX=TYPE, e.g. attn_q=q8_0")
    return pattern.lower(), parse_ggml_type(qtype)


# ---- per-category rules (llama_tensor_get_type_impl) -----------------------------------------------


@dataclass
class _State:
    """quantize_state_impl: counters advance only when the rules run for a tensor of that category."""

    info: ModelInfo
    ftype: LlamaFileType  # whose rules apply
    output_tensor_type: GGMLType | None
    token_embedding_type: GGMLType | None
    has_tied_embeddings: bool
    n_attention_wv: int
    n_ffn_down: int
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0
    n_fallback: int = 0

    def layer_info(self, i_layer: int, name: str) -> tuple[int, int]:
        """(i_layer, n_layer): the running counter for dense models; parsed from the name for MoE, since
        Mixtral's experts are not stored consecutively."""
        n_layer = self.info.n_layer
        if max(1, self.info.n_expert) > 1:
            m = _BLK_RE.match(name)
            if m is None:
                raise GGUFError(f"failed to determine layer for tensor {name!r}")
            i_layer = int(m.group(1))
            if not 0 <= i_layer < n_layer:
                raise GGUFError(f"bad layer {i_layer} for tensor {name!r}; must be in [0, {n_layer})")
        return i_layer, n_layer


Rule = tuple[GGMLType, str]  # (type, why)


def _output_rule(qs: _State, new_type: GGMLType, ne0: int) -> Rule:
    """output.weight, and token_embd.weight when embeddings are tied (they share one tensor's role)."""
    if qs.output_tensor_type is not None:
        return qs.output_tensor_type, "output: --output-tensor-type"
    qk = block_size(new_type)
    # (MXFP4_MOE -> Q8_0 and IQ1/IQ2 ftypes -> Q5_K come first/next in the C; out of scope.)
    if qs.info.arch == "falcon":
        return T.Q8_0, "output: falcon"
    if ne0 % qk != 0:
        return T.Q8_0, f"output: ne[0]={ne0} % {qk} != 0"
    if new_type != T.Q8_0:
        return T.Q6_K, "output"
    return new_type, "output: already Q8_0"


def _token_embd_rule(qs: _State, new_type: GGMLType) -> Rule:
    """Untied token_embd (the outer function already returned --token-embedding-type in practice)."""
    if qs.token_embedding_type is not None:
        return qs.token_embedding_type, "token_embd: --token-embedding-type"
    # (IQ ftypes -> Q2_K / IQ3_S: out of scope.)
    if qs.ftype in (FT.MOSTLY_TQ1_0, FT.MOSTLY_TQ2_0, FT.MOSTLY_Q2_0):
        return T.Q4_K, "token_embd: ternary ftype"
    return new_type, f"default {new_type.name}"


def _attn_v_rule(qs: _State, new_type: GGMLType) -> Rule:
    """attn_v, attn_qkv, attn_kv_b (formats.md §7.2: attn_qkv never reaches its own later branch)."""
    ft, i, n, gqa = qs.ftype, qs.i_attention_wv, qs.n_attention_wv, qs.info.n_gqa
    why = f"default {new_type.name}"
    # (IQ1/IQ2 ftypes have their own branch before this one, and IQ3/IQ4 cases sit in this chain: out of scope.)
    if ft == FT.MOSTLY_Q2_K:
        new_type, why = (T.Q4_K if gqa >= 4 else T.Q3_K), f"attn_v: Q2_K ftype, n_gqa={gqa}"
    elif ft == FT.MOSTLY_Q2_K_S and gqa >= 4:
        new_type, why = T.Q4_K, f"attn_v: Q2_K_S ftype, n_gqa={gqa}"
    elif ft == FT.MOSTLY_Q3_K_M:
        new_type, why = (T.Q5_K if i < 2 else T.Q4_K), f"attn_v: Q3_K_M, i_attention_wv={i}"
    elif ft == FT.MOSTLY_Q3_K_L:
        new_type, why = T.Q5_K, "attn_v: Q3_K_L"
    elif ft in (FT.MOSTLY_Q4_K_M, FT.MOSTLY_Q5_K_M) and use_more_bits(i, n):
        new_type, why = T.Q6_K, f"attn_v: use_more_bits({i}, {n})"
    elif ft == FT.MOSTLY_Q4_K_S and i < 4:
        new_type, why = T.Q5_K, f"attn_v: Q4_K_S, i_attention_wv={i} < 4"
    if qs.info.model_type_70b and new_type in (T.Q3_K, T.Q4_K):
        # 8 heads share each attn_v row in 70B, so the tensor is 8x smaller than attn_q: more bits are cheap
        new_type, why = T.Q5_K, why + "; 70B"
    if qs.info.n_expert == 8:
        new_type, why = T.Q8_0, "attn_v: n_expert == 8"
    qs.i_attention_wv += 1
    return new_type, why


def _ffn_down_rule(qs: _State, new_type: GGMLType, name: str) -> Rule:
    ft, falcon = qs.ftype, qs.info.arch == "falcon"
    i, n = qs.layer_info(qs.i_ffn_down, name)
    why = f"default {new_type.name}"
    more = use_more_bits(i, n)
    # (IQ3_XXS, IQ3_M, IQ4_NL/XS cases and the imatrix-only Q4_0/Q5_0 guard sit in this chain: out of scope.)
    if ft == FT.MOSTLY_Q2_K:
        new_type, why = T.Q3_K, "ffn_down: Q2_K ftype"
    elif ft == FT.MOSTLY_Q2_K_S:
        if i < n // 8:
            new_type, why = T.Q4_K, f"ffn_down: layer {i} < {n}/8"
    elif ft == FT.MOSTLY_Q3_K_M:
        if i < n // 16:
            new_type, why = T.Q5_K, f"ffn_down: layer {i} < {n}/16"
        elif not falcon or more:
            new_type, why = T.Q4_K, f"ffn_down: Q3_K_M layer {i}"
        else:
            new_type, why = T.Q3_K, f"ffn_down: falcon layer {i}"
    elif ft == FT.MOSTLY_Q3_K_L:
        new_type, why = (T.Q4_K, "ffn_down: Q3_K_L falcon") if falcon else (T.Q5_K, "ffn_down: Q3_K_L")
    elif ft == FT.MOSTLY_Q4_K_M:
        if falcon:
            if i < n // 16:
                new_type, why = T.Q6_K, f"ffn_down: falcon layer {i} < {n}/16"
            else:
                new_type, why = (T.Q5_K if more else T.Q4_K), f"ffn_down: falcon use_more_bits({i}, {n})={more}"
        elif more:
            new_type, why = T.Q6_K, f"ffn_down: use_more_bits({i}, {n})"
    elif ft == FT.MOSTLY_Q5_K_M and more:
        new_type, why = T.Q6_K, f"ffn_down: use_more_bits({i}, {n})"
    elif ft == FT.MOSTLY_Q4_K_S and not falcon and i < n // 8:
        new_type, why = T.Q5_K, f"ffn_down: Q4_K_S layer {i} < {n}/8"
    qs.i_ffn_down += 1
    return new_type, why


# attn_output with n_expert == 8: these ftypes get Q5_K (IQ ones listed too, as in the C).
_ATTN_OUTPUT_MOE_Q5_K = frozenset({
    FT.MOSTLY_Q2_K, FT.MOSTLY_IQ3_XS, FT.MOSTLY_IQ3_XXS, FT.MOSTLY_Q3_K_S, FT.MOSTLY_Q3_K_M, FT.MOSTLY_IQ4_NL,
    FT.MOSTLY_Q4_K_S, FT.MOSTLY_Q4_K_M, FT.MOSTLY_IQ3_S, FT.MOSTLY_IQ3_M, FT.MOSTLY_IQ4_XS,
})
_ATTN_OUTPUT_DENSE = {FT.MOSTLY_Q2_K: T.Q3_K, FT.MOSTLY_Q3_K_M: T.Q4_K, FT.MOSTLY_Q3_K_L: T.Q5_K}  # + IQ3 cases


def _attn_output_rule(qs: _State, new_type: GGMLType) -> Rule:
    ft = qs.ftype
    if qs.info.arch == "falcon":
        if ft == FT.MOSTLY_Q3_K_L:
            return T.Q4_K, "attn_output: Q3_K_L falcon"
    elif qs.info.n_expert == 8:
        if ft in _ATTN_OUTPUT_MOE_Q5_K:
            return T.Q5_K, "attn_output: n_expert == 8"
    elif ft in _ATTN_OUTPUT_DENSE:
        return _ATTN_OUTPUT_DENSE[ft], f"attn_output: {ft.name[7:]} ftype"
    return new_type, f"default {new_type.name}"


def _rules(qs: _State, new_type: GGMLType, t: TensorDesc, cat: Category) -> Rule:
    """``llama_tensor_get_type_impl`` (GLM5_NEXT's Q8_0 floor comes first in the C; not ported)."""
    if cat == Category.OUTPUT or (qs.has_tied_embeddings and cat == Category.TOKEN_EMBD):
        return _output_rule(qs, new_type, t.ne[0])
    # (MXFP4_MOE's branch comes here.)
    if cat == Category.TOKEN_EMBD:
        return _token_embd_rule(qs, new_type)
    if cat in _ATTN_V_LIKE:
        return _attn_v_rule(qs, new_type)
    if cat == Category.ATTENTION_K and qs.info.n_expert == 8:
        return T.Q8_0, "attn_k: n_expert == 8"  # (IQ3_XS/IQ3_XXS cases follow in the C)
    if cat == Category.FFN_DOWN:
        return _ffn_down_rule(qs, new_type, t.name)
    if cat == Category.ATTENTION_OUTPUT:
        return _attn_output_rule(qs, new_type)
    # The C's ATTENTION_QKV branch (Q4_K_M -> Q5_K...) is unreachable: attn_qkv is attn_v-like, handled above.
    # ffn_gate/ffn_up: only IQ3_XS changes them; the counters (and MoE layer parsing, which can raise) still run
    if cat == Category.FFN_GATE:
        qs.layer_info(qs.i_ffn_gate, t.name)
        qs.i_ffn_gate += 1
    elif cat == Category.FFN_UP:
        qs.layer_info(qs.i_ffn_up, t.name)
        qs.i_ffn_up += 1
    return new_type, f"default {new_type.name}"


# ---- shape fallback (tensor_type_fallback) ---------------------------------------------------------

_FALLBACK = {
    T.Q2_0: T.Q4_0, T.Q2_K: T.Q4_0, T.Q3_K: T.Q4_0, T.TQ1_0: T.Q4_0, T.TQ2_0: T.Q4_0,
    T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0,
    **{t: T.IQ4_NL for t in (T.IQ1_S, T.IQ1_M, T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ3_XXS, T.IQ3_S, T.IQ4_XS)},
    # ggufpy-private: a row NF4's 64-block cannot hold goes near-lossless (Q8_0) rather than to a second
    # 4-bit scheme with a different error profile; TQ2_64 follows TQ2_0.
    T.NF4: T.Q8_0,
    T.TQ2_64: T.Q4_0,
}


def tensor_type_fallback(qtype: GGMLType, ne0: int) -> tuple[GGMLType, str | None]:
    """A type whose block divides ``ne0``: ``qtype`` itself, its 32-block fallback, else F16.
    Returns (type, note) where note describes the fallback (None when there was none).

    Raises:
        UnsupportedTypeError: a block type larger than 32 with no fallback defined (as the C throws).
    """
    qk = block_size(qtype)
    if ne0 % qk == 0:
        return qtype, None
    if qtype in _FALLBACK:
        new = _FALLBACK[qtype]
    elif qk <= 32:
        new = qtype  # already a 32-block type: nothing smaller to demote to; F16 below
    else:
        raise UnsupportedTypeError(f"no tensor type fallback is defined for type {qtype.name}")
    if ne0 % block_size(new) != 0:
        return T.F16, f"fallback {qtype.name}->F16 (ne[0]={ne0} % {block_size(new)}, even {new.name} does not fit)"
    return new, f"fallback {qtype.name}->{new.name} (ne[0]={ne0} % {qk})"


# ---- the outer function (llama_tensor_get_type) and plan() ------------------------------------------


def _choose(qs: _State, t: TensorDesc, default_type: GGMLType, patterns, pure: bool) -> Rule:
    cat = tensor_category(t.name)
    if qs.token_embedding_type is not None and cat == Category.TOKEN_EMBD:
        # per_layer_token_embd may instead be named by a --tensor-type pattern
        named = t.name == "per_layer_token_embd.weight" and any(p.search(t.name) for p, _ in patterns)
        if not named:
            return qs.token_embedding_type, "--token-embedding-type"
    if qs.output_tensor_type is not None and cat == Category.OUTPUT:
        return qs.output_tensor_type, "--output-tensor-type"
    if not is_quantized(default_type):
        return default_type, f"default {default_type.name}"  # F32/F16/BF16 targets: no rules, no --tensor-type
    match = next(((p, q) for p, q in patterns if p.search(t.name)), None)
    if match is not None:
        new_type, why = match[1], f"--tensor-type {match[0].pattern}={match[1].name}"
    elif pure:
        new_type, why = default_type, f"--pure {default_type.name}"
    else:
        new_type, why = _rules(qs, default_type, t, cat)
    new_type, note = tensor_type_fallback(new_type, t.ne[0])
    if note is not None:
        qs.n_fallback += 1
        why = f"{why}; {note}"
    return new_type, why


def plan(
    tensors: Sequence[TensorDesc],
    target: str,
    info: ModelInfo,
    *,
    output_tensor_type: GGMLType | str | None = None,
    token_embedding_type: GGMLType | str | None = None,
    tensor_type_overrides: Iterable[tuple[str, GGMLType | str]] = (),
    pure: bool = False,
    leave_output_tensor: bool = False,
) -> list[Choice]:
    """The type llama-quantize would give each tensor for ``--type target`` (plus ggufpy's private targets).

    Args:
        tensors: every tensor of the model (the counters and tied-embedding test need all of them).
        target: a ``TARGETS`` name (or alias q3_k/q4_k/q5_k).
        info: hparams (``ModelInfo.from_metadata(reader.metadata)``).
        output_tensor_type, token_embedding_type: ``--output-tensor-type`` / ``--token-embedding-type``.
        tensor_type_overrides: ``--tensor-type`` (regex, type) pairs, first match wins; the regex is
            searched anywhere in the name (``std::regex_search``). Apply ``parse_tensor_type`` to CLI text.
        pure: ``--pure``: the default type everywhere (shape fallback still applies).
        leave_output_tensor: ``--leave-output-tensor``: copy ``output.weight`` as it is.

    Returns:
        One ``Choice`` per tensor, in the order of ``tensors``.

    Raises:
        UnsupportedTypeError: unknown target or type name; a block type with no shape fallback.
        GGUFError: MoE tensor without a valid ``blk.N.`` layer; malformed ``--tensor-type``.

    Example:
        >>> info = ModelInfo("llama", n_layer=30, n_head=9, n_head_kv=3)
        >>> plan([TensorDesc("blk.0.attn_v.weight", (576, 192), GGMLType.F16)], "q4_k_m", info)[0].type
        <GGMLType.Q8_0: 8>
    """
    tgt = get_target(target)
    patterns = [(re.compile(p), parse_ggml_type(q)) for p, q in tensor_type_overrides]
    names = [t.name for t in tensors]
    qs = _State(
        info=info,
        ftype=tgt.rules,
        output_tensor_type=None if output_tensor_type is None else parse_ggml_type(output_tensor_type),
        token_embedding_type=None if token_embedding_type is None else parse_ggml_type(token_embedding_type),
        has_tied_embeddings="output.weight" not in names,
        n_attention_wv=sum(tensor_category(n) in _ATTN_V_LIKE for n in names),
        n_ffn_down=info.n_layer,
    )
    by_name = {t.name: t for t in tensors}
    if len(by_name) != len(tensors):
        raise GGUFError("duplicate tensor names in the plan input")
    out: dict[str, Choice] = {}
    for name in llama_order(names):
        t = by_name[name]
        refused = why_not_quantized(name, t.ne, leave_output_tensor=leave_output_tensor)
        if refused is not None:
            out[name] = Choice(name, t.type, f"kept: {refused}", False)
            continue
        new_type, why = _choose(qs, t, tgt.default_type, patterns, pure)
        if new_type == t.type:
            out[name] = Choice(name, new_type, f"{why}; already {new_type.name}, copied", False)
        else:
            out[name] = Choice(name, new_type, why, True)
    return [out[n] for n in names]
