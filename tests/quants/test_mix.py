"""ggufpy.quants.mix: llama-quantize's per-tensor type choice.

Oracle 1: golden runs of the real llama-quantize (llama.cpp 0c1e570) in tests/golden/mix/, made by
tools/gen_golden_mix.py (provenance in its README.md). Oracle 2: single rules read from
src/llama-quant.cpp, spelled out with the rule each expected value comes from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ggufpy.errors import GGUFError, UnsupportedTypeError
from ggufpy.format.constants import GGMLType as T
from ggufpy.quants.mix import (
    TARGETS,
    Category,
    ModelInfo,
    TensorDesc,
    file_type,
    llama_order,
    n_dims,
    parse_tensor_type,
    plan,
    tensor_allows_quantization,
    tensor_category,
    tensor_type_fallback,
    use_more_bits,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "mix"
RUNS = sorted(p.name for p in GOLDEN.glob("*_*.json"))


# ---- golden runs of llama-quantize ----------------------------------------------------------------


def _kwargs(args: list[str]) -> dict:
    """llama-quantize options -> plan() keywords (the CLI lower-cases --tensor-type patterns)."""
    kw: dict = {"tensor_type_overrides": []}
    it = iter(args)
    for a in it:
        if a == "--pure":
            kw["pure"] = True
        elif a == "--leave-output-tensor":
            kw["leave_output_tensor"] = True
        elif a == "--output-tensor-type":
            kw["output_tensor_type"] = next(it)
        elif a == "--token-embedding-type":
            kw["token_embedding_type"] = next(it)
        elif a == "--tensor-type":
            kw["tensor_type_overrides"].append(parse_tensor_type(next(it)))
        else:
            raise AssertionError(f"option {a} not mapped")
    return kw


def _model(case: str) -> tuple[list[TensorDesc], ModelInfo]:
    m = json.loads((GOLDEN / f"{case}.model.json").read_text())
    tensors = [TensorDesc(name, tuple(ne), T[qtype]) for name, ne, qtype in m["tensors"]]
    return tensors, ModelInfo.from_metadata(m["metadata"])


def test_golden_runs_exist():
    cases = {r.split("_", 1)[0] for r in RUNS}
    assert {"smollm2", "tiny256"} <= cases
    llama_targets = {n for n, t in TARGETS.items() if t.ftype is not None}
    for case in ("smollm2", "tiny256"):
        assert {r[len(case) + 1:-5] for r in RUNS if r.startswith(case + "_")} >= llama_targets


@pytest.mark.parametrize("run", RUNS)
def test_plan_matches_llama_quantize(run):
    golden = json.loads((GOLDEN / run).read_text())
    tensors, info = _model(run.split("_", 1)[0])
    choices = plan(tensors, golden["target"], info, **_kwargs(golden["args"]))
    got = {c.name: c.type.name for c in choices}
    diff = {n: (got.get(n), want) for n, want in golden["types"].items() if got.get(n) != want}
    assert not diff, f"{len(diff)} tensors differ (ours, llama-quantize): {dict(list(diff.items())[:8])}"
    assert got.keys() == golden["types"].keys()
    assert file_type(golden["target"]) == golden["file_type"]
    by_name = {t.name: t for t in tensors}
    for c in choices:  # copied exactly when nothing changes, as llama-quantize's main loop decides
        assert c.quantize == (c.type != by_name[c.name].type), c


def test_golden_output_order_is_llama_order():
    golden = json.loads((GOLDEN / "smollm2_q4_k_m.json").read_text())
    assert list(golden["types"]) == llama_order(golden["types"])


def test_plan_visits_tensors_in_llama_order():
    # the counters follow weights_map order, not the order tensors are given in
    tensors, info = _model("smollm2")
    forward = plan(tensors, "q4_k_m", info)
    backward = plan(tensors[::-1], "q4_k_m", info)
    assert [c.name for c in backward] == [t.name for t in tensors[::-1]]  # returned in the order given
    assert sorted(forward, key=lambda c: c.name) == sorted(backward, key=lambda c: c.name)


# ---- rules, one at a time -------------------------------------------------------------------------


def test_use_more_bits():
    # formats.md §7.2: 16 of 32 layers
    assert [i for i in range(32) if use_more_bits(i, 32)] == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    # n=30: i < 3, i >= 26, (i - 3) % 3 == 2
    assert [i for i in range(30) if use_more_bits(i, 30)] == [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]
    assert [i for i in range(8) if use_more_bits(i, 8)] == [0, 3, 6, 7]


@pytest.mark.parametrize(
    "qtype, ne0, want",
    [
        (T.Q4_K, 512, T.Q4_K),  # divides: unchanged
        (T.Q4_K, 576, T.Q5_0),  # K-quant 4-bit -> 32-block 5-bit
        (T.Q5_K, 576, T.Q5_1),
        (T.Q6_K, 576, T.Q8_0),
        (T.Q2_K, 576, T.Q4_0),
        (T.Q3_K, 576, T.Q4_0),
        (T.TQ1_0, 576, T.Q4_0),
        (T.TQ2_0, 576, T.Q4_0),
        (T.Q4_K, 528, T.F16),  # 528 % 32 = 16: even Q5_0 does not fit
        (T.Q6_K, 528, T.F16),
        (T.Q8_0, 528, T.F16),  # 32-block type: nothing smaller, straight to F16
        (T.Q4_0, 48, T.F16),
        (T.NF4, 576, T.NF4),  # 576 = 9 * 64
        (T.NF4, 96, T.Q8_0),  # ggufpy: NF4 -> Q8_0
        (T.NF4, 48, T.F16),
        (T.TQ2_64, 96, T.Q4_0),  # ggufpy: as TQ2_0
        (T.F16, 7, T.F16),  # block size 1
    ],
)
def test_fallback(qtype, ne0, want):
    got, note = tensor_type_fallback(qtype, ne0)
    assert got == want
    assert (note is None) == (got == qtype)


def test_fallback_undefined_raises():
    with pytest.raises(UnsupportedTypeError, match="NVFP4"):
        tensor_type_fallback(T.NVFP4, 96)  # 64-block type with no fallback: llama.cpp throws too


@pytest.mark.parametrize(
    "name, ne, allowed",
    [
        ("blk.0.attn_q.weight", (256, 256), True),
        ("blk.0.attn_norm.weight", (256,), False),  # 1-D
        ("blk.0.attn_norm.weight", (256, 1), False),  # ggml_n_dims ignores trailing 1s
        ("blk.0.ffn_norm.weight", (256, 2), False),  # *_norm.weight
        ("blk.0.attn_output.bias", (256, 2), False),  # does not end in weight
        ("blk.0.ffn_gate_inp.weight", (256, 8), False),  # MoE router
        ("blk.0.ssm_conv1d.weight", (4, 256), False),
        ("blk.0.ffn_gate_exps.weight", (256, 512, 8), True),
        ("token_types.weight", (256, 2), False),
        ("output.weight", (256, 512), True),
    ],
)
def test_allows_quantization(name, ne, allowed):
    assert tensor_allows_quantization(name, ne) is allowed


def test_leave_output_tensor():
    assert not tensor_allows_quantization("output.weight", (256, 512), leave_output_tensor=True)


def test_n_dims():
    assert [n_dims(ne) for ne in [(5,), (5, 1), (5, 1, 1, 1), (5, 2), (5, 1, 3)]] == [1, 1, 1, 2, 3]


@pytest.mark.parametrize(
    "name, cat",
    [
        ("output.weight", Category.OUTPUT),
        ("token_embd.weight", Category.TOKEN_EMBD),
        ("per_layer_token_embd.weight", Category.TOKEN_EMBD),
        ("blk.3.attn_qkv.weight", Category.ATTENTION_QKV),
        ("blk.3.attn_kv_b.weight", Category.ATTENTION_KV_B),
        ("blk.3.attn_v.weight", Category.ATTENTION_V),
        ("blk.3.ffn_up_exps.weight", Category.FFN_UP),
        ("blk.3.ffn_gate_shexp.weight", Category.FFN_GATE),
        ("blk.3.ffn_down.weight", Category.FFN_DOWN),
        ("blk.3.attn_q_a.weight", Category.OTHER),
    ],
)
def test_category(name, cat):
    assert tensor_category(name) == cat


def test_llama_order():
    names = ["blk.10.attn_q.weight", "output.weight", "blk.9.ffn_up.weight", "blk.9.attn_v.weight", "token_embd.weight"]
    assert llama_order(names) == [
        "output.weight", "token_embd.weight", "blk.9.attn_v.weight", "blk.9.ffn_up.weight", "blk.10.attn_q.weight",
    ]


# ---- whole plans on small llama-shaped models -----------------------------------------------------


def llama_tensors(n_layer=8, n_embd=256, n_ff=512, n_kv=128, tied=False, qtype=T.F32) -> list[TensorDesc]:
    out = [TensorDesc("token_embd.weight", (n_embd, 512), qtype), TensorDesc("output_norm.weight", (n_embd,), T.F32)]
    if not tied:
        out.append(TensorDesc("output.weight", (n_embd, 512), qtype))
    for i in range(n_layer):
        out += [
            TensorDesc(f"blk.{i}.attn_norm.weight", (n_embd,), T.F32),
            TensorDesc(f"blk.{i}.attn_q.weight", (n_embd, n_embd), qtype),
            TensorDesc(f"blk.{i}.attn_k.weight", (n_embd, n_kv), qtype),
            TensorDesc(f"blk.{i}.attn_v.weight", (n_embd, n_kv), qtype),
            TensorDesc(f"blk.{i}.attn_output.weight", (n_embd, n_embd), qtype),
            TensorDesc(f"blk.{i}.ffn_gate.weight", (n_embd, n_ff), qtype),
            TensorDesc(f"blk.{i}.ffn_up.weight", (n_embd, n_ff), qtype),
            TensorDesc(f"blk.{i}.ffn_down.weight", (n_ff, n_embd), qtype),
        ]
    return out


LLAMA8 = ModelInfo("llama", n_layer=8, n_head=4, n_head_kv=2)


def types(choices) -> dict[str, T]:
    return {c.name: c.type for c in choices}


def test_q4_k_m_rules_spelled_out():
    got = types(plan(llama_tensors(), "q4_k_m", LLAMA8))
    assert got["output.weight"] == T.Q6_K  # output rule: 256 | ne[0] and default != Q8_0
    assert got["token_embd.weight"] == T.Q4_K  # untied: no Q4_K_M rule
    assert got["output_norm.weight"] == T.F32  # 1-D: copied
    for i in range(8):
        more = i in (0, 3, 6, 7)  # use_more_bits(i, 8)
        assert got[f"blk.{i}.attn_v.weight"] == (T.Q6_K if more else T.Q4_K), i
        assert got[f"blk.{i}.ffn_down.weight"] == (T.Q6_K if more else T.Q4_K), i
        assert got[f"blk.{i}.attn_q.weight"] == T.Q4_K  # no rule
        assert got[f"blk.{i}.attn_output.weight"] == T.Q4_K  # no Q4_K_M rule without 8 experts


def test_tied_embeddings_take_the_output_rule():
    got = types(plan(llama_tensors(tied=True), "q4_k_m", LLAMA8))
    assert got["token_embd.weight"] == T.Q6_K
    got = types(plan(llama_tensors(tied=True, n_embd=576), "q4_k_m", LLAMA8))
    assert got["token_embd.weight"] == T.Q8_0  # 576 % 256 != 0 -> Q8_0 inside the output rule


def test_moe_and_70b_and_falcon_conditions():
    moe = ModelInfo("llama", n_layer=8, n_head=4, n_head_kv=2, n_expert=8)
    got = types(plan(llama_tensors(), "q4_k_m", moe))
    assert got["blk.1.attn_v.weight"] == T.Q8_0  # n_expert == 8 overrides use_more_bits
    assert got["blk.1.attn_k.weight"] == T.Q8_0
    assert got["blk.1.attn_output.weight"] == T.Q5_K
    b70 = ModelInfo("llama", n_layer=8, n_head=4, n_head_kv=2, model_type_70b=True)
    assert types(plan(llama_tensors(), "q4_k_m", b70))["blk.1.attn_v.weight"] == T.Q5_K  # Q4_K -> Q5_K on 70B
    falcon = ModelInfo("falcon", n_layer=8, n_head=4, n_head_kv=1)
    got = types(plan(llama_tensors(), "q4_k_m", falcon))
    assert got["output.weight"] == T.Q8_0  # falcon output
    assert got["blk.0.ffn_down.weight"] == T.Q5_K  # falcon: 0 >= 8/16 = 0, use_more_bits -> Q5_K
    assert got["blk.1.ffn_down.weight"] == T.Q4_K


def test_moe_layer_must_parse():
    moe = ModelInfo("llama", n_layer=2, n_head=4, n_head_kv=2, n_expert=8)
    with pytest.raises(GGUFError, match="layer"):
        plan([TensorDesc("ffn_down_exps.weight", (256, 256, 8), T.F32)], "q4_k_m", moe)
    with pytest.raises(GGUFError, match="bad layer 5"):
        plan([TensorDesc("blk.5.ffn_down_exps.weight", (256, 256, 8), T.F32)], "q4_k_m", moe)


def test_regex_override_first_match_wins_and_falls_back():
    got = plan(llama_tensors(n_embd=576), "q4_k_m", LLAMA8,
               tensor_type_overrides=[(r"blk\.1\.", T.Q2_K), ("attn_q", "q8_0")])
    by = {c.name: c for c in got}
    assert by["blk.1.attn_q.weight"].type == T.Q4_0  # first pattern wins, then Q2_K -> Q4_0 (576 % 256)
    assert "fallback Q2_K->Q4_0" in by["blk.1.attn_q.weight"].reason
    assert by["blk.2.attn_q.weight"].type == T.Q8_0


def test_overridden_attn_v_does_not_advance_the_counter():
    # Q3_K_M: attn_v gets Q5_K while i_attention_wv < 2; the counter moves only when the rules run
    got = types(plan(llama_tensors(), "q3_k_m", LLAMA8, tensor_type_overrides=[(r"blk\.0\.attn_v", T.Q8_0)]))
    assert [got[f"blk.{i}.attn_v.weight"] for i in range(4)] == [T.Q8_0, T.Q5_K, T.Q5_K, T.Q4_K]


def test_output_and_token_embedding_types_skip_the_fallback():
    got = types(plan(llama_tensors(n_embd=576), "q4_k_m", LLAMA8,
                     output_tensor_type="q4_k", token_embedding_type=T.Q6_K))
    assert got["output.weight"] == T.Q4_K  # returned as given, even though 576 % 256 != 0 (as llama.cpp)
    assert got["token_embd.weight"] == T.Q6_K


def test_output_type_on_tied_embeddings_goes_through_the_fallback():
    got = types(plan(llama_tensors(n_embd=576, tied=True), "q2_k", LLAMA8, output_tensor_type="q4_k"))
    assert got["token_embd.weight"] == T.Q5_0  # output rule -> Q4_K, then the shape fallback


def test_pure():
    got = types(plan(llama_tensors(), "q4_k_m", LLAMA8, pure=True))
    assert {got[n] for n in got if n != "output_norm.weight" and "norm" not in n} == {T.Q4_K}


def test_float_targets_ignore_tensor_type_but_not_output_type():
    got = types(plan(llama_tensors(), "f16", LLAMA8, tensor_type_overrides=[("attn_q", T.Q8_0)],
                     output_tensor_type=T.Q8_0))
    assert got["blk.0.attn_q.weight"] == T.F16
    assert got["output.weight"] == T.Q8_0


def test_already_target_type_is_copied():
    c = plan(llama_tensors(qtype=T.Q4_K), "q4_k_s", LLAMA8)
    by = {x.name: x for x in c}
    assert not by["blk.4.attn_q.weight"].quantize and "copied" in by["blk.4.attn_q.weight"].reason
    assert by["blk.0.attn_v.weight"].quantize  # Q4_K_S: first 4 attn_v -> Q5_K


# ---- ggufpy-private targets -----------------------------------------------------------------------


def test_nf4():
    assert file_type("nf4") is None
    got = types(plan(llama_tensors(), "nf4", LLAMA8))
    assert got["blk.3.attn_v.weight"] == T.NF4 and got["blk.0.ffn_down.weight"] == T.NF4  # Q4_0 rules: flat
    assert got["output.weight"] == T.Q6_K  # output rule as for Q4_0
    assert got["token_embd.weight"] == T.NF4
    got = types(plan(llama_tensors(n_embd=576, n_ff=1536, tied=True), "nf4", LLAMA8))
    assert got["token_embd.weight"] == T.Q8_0  # tied: Q6_K, then 576 % 256 -> Q8_0
    assert got["blk.0.attn_q.weight"] == T.NF4  # 576 = 9 * 64
    got = types(plan(llama_tensors(n_embd=96), "nf4", LLAMA8))
    assert got["blk.0.attn_q.weight"] == T.Q8_0  # 96 % 64 -> Q8_0
    assert got["output.weight"] == T.Q8_0  # output rule: 96 % 64 != 0 -> Q8_0


def test_tq2_64():
    assert file_type("tq2_64") is None
    got = types(plan(llama_tensors(), "tq2_64", LLAMA8))
    assert got["blk.0.attn_q.weight"] == T.TQ2_64
    assert got["token_embd.weight"] == T.Q4_K  # as TQ2_0: untied token_embd -> Q4_K
    assert got["output.weight"] == T.Q6_K
    got = types(plan(llama_tensors(n_embd=96), "tq2_64", LLAMA8))
    assert got["blk.0.attn_q.weight"] == T.Q4_0  # 96 % 64 -> Q4_0, as TQ2_0 falls back
    assert got["token_embd.weight"] == T.Q5_0  # Q4_K -> Q5_0


# ---- targets and small helpers --------------------------------------------------------------------


def test_targets_and_file_types():
    assert file_type("q4_k_m") == 15 and file_type("Q4_K") == 15  # alias, case-insensitive
    assert file_type("f32") == 0 and file_type("bf16") == 32 and file_type("tq2_0") == 37
    with pytest.raises(UnsupportedTypeError, match="iq2_xxs"):
        file_type("iq2_xxs")


def test_parse_tensor_type():
    assert parse_tensor_type("ATTN_Q=Q8_0") == ("attn_q", T.Q8_0)  # quantize.cpp lower-cases the name
    with pytest.raises(GGUFError):
        parse_tensor_type("attn_q")
    with pytest.raises(UnsupportedTypeError):
        parse_tensor_type("attn_q=q9_0")


def test_model_info_from_metadata():
    md = {"general.architecture": "llama", "llama.block_count": 80, "llama.attention.head_count": 64,
          "llama.attention.head_count_kv": 8}
    info = ModelInfo.from_metadata(md)
    assert info.model_type_70b and info.n_gqa == 8 and info.n_expert == 0
    md["llama.attention.head_count_kv"] = 64  # 65B: MHA
    assert not ModelInfo.from_metadata(md).model_type_70b
