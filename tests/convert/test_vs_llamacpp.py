"""Differential: our converter vs llama.cpp's convert_hf_to_gguf.py on the same folders.

Same KV records in the same order (ours adds only provenance keys) and byte-identical tensors, at every
type llama.cpp's converter shares with ours: f32, f16, bf16, q8_0 (SmolLM2, BPE tokenizer), a sharded
checkpoint, and a Mistral with a SentencePiece tokenizer in both config styles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import assert_same_as_peer, kv_records

pytestmark = [pytest.mark.peer, pytest.mark.fixtures, pytest.mark.slow]


@pytest.mark.parametrize("outtype", ["f32", "f16", "bf16", "q8_0"])
def test_smollm2_matches_llamacpp(smollm2_hf, converted, peer, outtype):
    assert_same_as_peer(converted(smollm2_hf, outtype), peer(smollm2_hf, outtype))


def test_smollm2_metadata_is_what_llamacpp_identifies(smollm2_hf, converted):
    kv = kv_records(converted(smollm2_hf, "f16"))
    assert kv["tokenizer.ggml.pre"][2] == "smollm"  # found through llama.cpp's chkhsh table
    assert kv["general.file_type"][2] == 1
    assert kv["ggufpy.convert.outtype"][2] == "f16"


def test_auto_is_bf16_for_a_bf16_checkpoint(smollm2_hf, converted, tmp_path):
    from ggufpy.convert import convert_hf

    res = convert_hf(smollm2_hf, tmp_path / "auto.gguf", "auto", progress=False)
    assert res.outtype == "bf16"
    assert kv_records(tmp_path / "auto.gguf")["ggufpy.convert.outtype"][2] == "auto -> bf16"


def test_sharded_matches_llamacpp(smollm2_sharded_hf, converted, peer):
    assert_same_as_peer(converted(smollm2_sharded_hf, "q8_0"), peer(smollm2_sharded_hf, "q8_0"))


def test_sharded_equals_single_file(smollm2_hf, smollm2_sharded_hf, converted):
    from ggufpy.format.reader import GGUFReader

    with GGUFReader(converted(smollm2_hf, "q8_0")) as a, GGUFReader(converted(smollm2_sharded_hf, "q8_0")) as b:
        tb = {t.name: t for t in b.tensors}  # same tensors; the order follows the shards
        assert sorted(tb) == sorted(t.name for t in a.tensors)
        assert all((t.data == tb[t.name].data).all() for t in a.tensors)


def test_mistral_spm_matches_llamacpp(mistral_hf, converted, peer):
    assert_same_as_peer(converted(mistral_hf, "f16"), peer(mistral_hf, "f16"))
    kv = kv_records(converted(mistral_hf, "f16"))
    assert kv["tokenizer.ggml.model"][2] == "llama" and len(kv["tokenizer.ggml.tokens"][2]) == 32000


def test_transformers4_config_matches_llamacpp(mistral_hf, copy_folder, peer, tmp_path):
    """rope_theta/rope_scaling at the top level, no head_dim or max_position_embeddings: transformers 4's
    style, which llama.cpp reads through AutoConfig (defaults filled in)."""
    from ggufpy.convert import convert_hf

    config = json.loads((mistral_hf / "config.json").read_text())
    for k in ("rope_parameters", "head_dim", "max_position_embeddings", "dtype"):
        config.pop(k, None)
    config.update(rope_theta=500000.0, rope_scaling={"type": "linear", "factor": 2.0}, torch_dtype="bfloat16",
                  transformers_version="4.46.0")
    folder = copy_folder(mistral_hf, "mistral-tf4", {"config.json": json.dumps(config)})
    ours = convert_hf(folder, tmp_path / "ours.gguf", "q8_0", progress=False).path
    assert_same_as_peer(ours, peer(folder, "q8_0"))
    kv = kv_records(ours)
    assert kv["llama.rope.freq_base"][2] == 500000.0
    assert kv["llama.rope.scaling.type"][2] == "linear" and kv["llama.rope.scaling.factor"][2] == 2.0


_LLAMA31_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                 "original_max_position_embeddings": 8192}


@pytest.mark.parametrize("style", ["transformers4", "transformers5"])
def test_llama31_rope_freqs_match_llamacpp(mistral_hf, copy_folder, peer, tmp_path, style):
    """The tiny Mistral as a LlamaForCausalLM with Llama 3.1's RoPE scaling: rope_freqs.weight (float32 math
    as torch does it in llama.cpp's converter) and every KV byte-identical at f32."""
    from ggufpy.convert import convert_hf
    from ggufpy.format.reader import GGUFReader

    config = json.loads((mistral_hf / "config.json").read_text())
    config.update(architectures=["LlamaForCausalLM"], model_type="llama")
    config.pop("sliding_window", None)
    if style == "transformers4":
        config.pop("rope_parameters")
        config.update(rope_theta=500000.0, rope_scaling=dict(_LLAMA31_ROPE), transformers_version="4.46.0")
    else:
        config["rope_parameters"] = {"rope_theta": 500000.0, **_LLAMA31_ROPE}
    folder = copy_folder(mistral_hf, f"llama31-{style}", {"config.json": json.dumps(config)})
    ours = convert_hf(folder, tmp_path / "ours.gguf", "f32", progress=False).path
    assert_same_as_peer(ours, peer(folder, "f32"))
    with GGUFReader(ours) as r:
        freqs = next(t for t in r.tensors if t.name == "rope_freqs.weight").data.view(np.float32)
        assert freqs.shape == (32,) and 1.0 < freqs[16] < 8.0  # a smoothed band value is in the comparison


def test_generation_config_sampling_matches_llamacpp(mistral_hf, copy_folder, peer, tmp_path):
    """generation_config.json's sampling defaults become general.sampling.* exactly as llama.cpp writes them."""
    from ggufpy.convert import convert_hf

    gen = json.loads((mistral_hf / "generation_config.json").read_text())
    gen.update(temperature=0.7, top_p=0.9, top_k=50, min_p=0.05, repetition_penalty=1.1)
    folder = copy_folder(mistral_hf, "mistral-sampling", {"generation_config.json": json.dumps(gen)})
    ours = convert_hf(folder, tmp_path / "ours.gguf", "q8_0", progress=False).path
    assert_same_as_peer(ours, peer(folder, "q8_0"))
    kv = kv_records(ours)
    assert kv["general.sampling.top_k"][2] == 50 and kv["general.sampling.penalty_repeat"][2] == pytest.approx(1.1)
    assert {"general.sampling.temp", "general.sampling.top_p", "general.sampling.min_p"} <= kv.keys()
