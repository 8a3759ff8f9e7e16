"""The converter's parts on their own: name tables, the Q/K permutation, config styles and defaults, the
SentencePiece parser and the pre-tokenizer identification."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from ggufpy.convert import arch as arch_registry
from ggufpy.convert.arch.llama import Llama, permute_qk
from ggufpy.convert.hf import rope_parameters, with_defaults
from ggufpy.convert.names import LLAMA, NameMap, block_id
from ggufpy.convert.vocab import identify_pre, read_sentencepiece, write_vocab
from ggufpy.format.constants import TokenType
from ggufpy.convert.metadata import KV, model_id_components, weight_count_notation
from ggufpy.errors import ConvertError


def test_name_table_is_one_to_one():
    m = NameMap(LLAMA, n_block=3)
    assert m.get("model.layers.2.self_attn.o_proj.weight") == "blk.2.attn_output.weight"
    assert m.get("model.layers.1.self_attn.q_proj.bias") == "blk.1.attn_q.bias"
    assert m.get("lm_head.weight") == "output.weight" and m.get("model.layers.3.mlp.up_proj.weight") is None
    assert block_id("model.layers.17.mlp.up_proj.weight") == 17 and block_id("lm_head.weight") is None
    gguf = {m.get(f"{hf.format(bid=0)}.weight") for hf in LLAMA}
    assert len(gguf) == len(LLAMA)  # no two HF names share a GGUF name


def test_name_map_does_not_expand_per_block():
    """n_block comes from config.json: a huge one costs nothing, and block ids past it have no name."""
    import tracemalloc

    tracemalloc.start()
    m = NameMap(LLAMA, n_block=10**12)
    assert m.get("model.layers.999999999.mlp.up_proj.weight") == "blk.999999999.ffn_up.weight"
    assert tracemalloc.get_traced_memory()[1] < 1 << 20
    tracemalloc.stop()
    assert NameMap(LLAMA, 2).get("model.layers.2.mlp.up_proj.weight") is None
    assert NameMap(LLAMA, 2).get("model.layers.01.mlp.up_proj.weight") is None


def test_registry():
    assert set(arch_registry.registered()) >= {"LlamaForCausalLM", "MistralForCausalLM"}
    with pytest.raises(ConvertError, match="no 'architectures'"):
        arch_registry.get({})


def test_permute_qk_interleaves_the_halves_of_each_head():
    n_head, head_dim, cols = 3, 8, 2
    w = np.arange(n_head * head_dim * cols, dtype=np.float32).reshape(n_head * head_dim, cols)
    out = permute_qk(w, n_head)
    for h in range(n_head):
        for j in range(head_dim // 2):  # rows j and j + head_dim/2 of each head become neighbours 2j, 2j+1
            assert np.array_equal(out[h * head_dim + 2 * j], w[h * head_dim + j])
            assert np.array_equal(out[h * head_dim + 2 * j + 1], w[h * head_dim + head_dim // 2 + j])
    with pytest.raises(ConvertError):
        permute_qk(np.zeros((6, 2), np.float32), 4)


def test_rope_both_config_styles():
    tf5 = {"rope_parameters": {"rope_theta": 1e6, "rope_type": "default"}}
    tf4 = {"rope_theta": 1e6, "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}}
    assert rope_parameters(tf5) == {"rope_theta": 1e6, "rope_type": "default"}
    assert rope_parameters(tf4) == {"type": "yarn", "rope_type": "yarn", "factor": 4.0,
                                    "original_max_position_embeddings": 4096, "rope_theta": 1e6}
    assert rope_parameters({"rope_theta": 5e5, "rope_scaling": None}) == {"rope_theta": 5e5}
    kv = KV()
    Llama({"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 1, "hidden_size": 64,
           "num_attention_heads": 4, **tf4}).write_hparams(kv, 1)
    assert kv["llama.rope.scaling.type"] == "yarn" and kv["llama.rope.scaling.original_context_length"] == 4096
    assert kv["llama.rope.freq_base"] == 1e6


@pytest.mark.parametrize("hf_arch, cls_name", [("LlamaForCausalLM", "LlamaConfig"),
                                               ("MistralForCausalLM", "MistralConfig")])
def test_config_defaults_are_transformers(hf_arch, cls_name):
    """What llama.cpp's converter sees through AutoConfig for a sparse config.json, we fill in the same."""
    transformers = pytest.importorskip("transformers")
    sparse = {"architectures": [hf_arch], "hidden_size": 64, "num_attention_heads": 4}
    theirs = getattr(transformers, cls_name)(**sparse).to_dict()
    ours = with_defaults(sparse, Llama.CONFIG_DEFAULTS[hf_arch])
    for key in ("vocab_size", "intermediate_size", "num_hidden_layers", "num_key_value_heads", "head_dim",
                "max_position_embeddings", "rms_norm_eps"):
        assert ours[key] == theirs[key], key
    theta = (theirs.get("rope_parameters") or {}).get("rope_theta", theirs.get("rope_theta"))
    assert ours["rope_parameters"]["rope_theta"] == theta


def test_model_id_heuristics():
    # gguf-py's Metadata.get_model_id_components on typical hub ids
    assert model_id_components("HuggingFaceTB/SmolLM2-135M-Instruct", 134_515_008) == (
        "SmolLM2-135M-Instruct", "HuggingFaceTB", "SmolLM2", "Instruct", None, "135M")
    assert model_id_components("mistralai/Mistral-7B-v0.1", 7_241_732_096)[2:] == ("Mistral", None, "v0.1", "7B")
    assert weight_count_notation(134_515_008) == "135M" and weight_count_notation(7_241_732_096) == "7.2B"


@pytest.fixture(scope="module")
def spm_path(hf_tool):
    return hf_tool.mistral_tokenizer_model()


def test_sentencepiece_parser_equals_sentencepiece(spm_path):
    spm = pytest.importorskip("sentencepiece")
    sp = spm.SentencePieceProcessor()
    sp.LoadFromFile(str(spm_path))
    pieces = read_sentencepiece(spm_path)
    assert len(pieces) == sp.vocab_size() == 32000
    for i, (piece, score, ptype) in enumerate(pieces):
        assert piece == sp.IdToPiece(i) and np.float32(score) == np.float32(sp.GetScore(i))
        assert (ptype == 2) == sp.IsUnknown(i) and (ptype == 3) == sp.IsControl(i) and (ptype == 6) == sp.IsByte(i)


def test_spm_vocab_types(spm_path, tmp_path):
    import os

    os.symlink(spm_path, tmp_path / "tokenizer.model")
    kv = KV()
    write_vocab(tmp_path, {"vocab_size": 32002}, kv)
    types = kv["tokenizer.ggml.token_type"]
    assert kv["tokenizer.ggml.model"] == "llama" and len(kv["tokenizer.ggml.tokens"]) == 32002
    assert types[0] == TokenType.UNKNOWN and types[1] == TokenType.CONTROL and types[3] == TokenType.BYTE
    assert types[500] == TokenType.NORMAL
    assert kv["tokenizer.ggml.tokens"][32001] == b"[PAD32001]" and kv["tokenizer.ggml.scores"][32001] == -10000.0


def test_not_a_sentencepiece_model(tmp_path):
    (tmp_path / "tokenizer.model").write_bytes(b"\x0a\xff\xff\xff\xff\x0f")
    with pytest.raises(ConvertError, match="not a SentencePiece model"):
        read_sentencepiece(tmp_path / "tokenizer.model")


def _byte_level_tokenizer(tmp_path):
    from ggufpy.runtime.pretokenize import UNICODE_TO_BYTE

    vocab = {ch: i for i, ch in enumerate(sorted(UNICODE_TO_BYTE, key=UNICODE_TO_BYTE.get))}
    tj = {"model": {"type": "BPE", "vocab": vocab, "merges": ["Ġ t"]}, "added_tokens": [],
          "pre_tokenizer": {"type": "ByteLevel"}, "post_processor": {"type": "ByteLevel"}}
    (tmp_path / "tokenizer.json").write_text(json.dumps(tj))
    return tj


def test_unrecognised_pre_tokenizer_is_an_error_naming_the_fix(tmp_path):
    _byte_level_tokenizer(tmp_path)
    with pytest.raises(ConvertError, match="--tokenizer-pre NAME"):
        write_vocab(tmp_path, {"vocab_size": 256}, KV())
    kv = KV()
    write_vocab(tmp_path, {"vocab_size": 256}, kv, tokenizer_pre="gpt-2")
    assert kv["tokenizer.ggml.pre"] == "gpt-2" and kv["tokenizer.ggml.merges"] == ["Ġ t"]


def test_identifies_smollm2(smollm2_hf):
    tj = json.loads((smollm2_hf / "tokenizer.json").read_text())
    vocab = {**tj["model"]["vocab"], **{a["content"]: a["id"] for a in tj["added_tokens"]}}
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    types = [TokenType.CONTROL if i < 17 else TokenType.NORMAL for i in range(len(tokens))]
    merges = [" ".join(m) if isinstance(m, list) else m for m in tj["model"]["merges"]]
    assert identify_pre(tj, tokens, types, merges, smollm2_hf / "tokenizer.json") == "smollm"


# The real SmolLM2 tokenizer.json's pre_tokenizer (the folder rebuilt from the GGUF has ByteLevel alone,
# which gives the same ids on CHKTXT because the vocabulary has no multi-digit tokens).
_SMOLLM_PRE = {"type": "Sequence", "pretokenizers": [
    {"type": "Digits", "individual_digits": True},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}


def _bpe_with(smollm2_hf, tmp_path, **changes):
    from ggufpy.convert.vocab import bpe_vocab

    tj = json.loads((smollm2_hf / "tokenizer.json").read_text())
    for key, value in changes.items():
        if key == "ignore_merges":
            tj["model"]["ignore_merges"] = value
        else:
            tj[key] = value
    (tmp_path / "tokenizer.json").write_text(json.dumps(tj))
    return lambda: bpe_vocab(tmp_path, {"vocab_size": 49152}, None)[3]


@pytest.fixture(params=["tokenizers", "offline"])
def pre_path(request, monkeypatch):
    """Identification through the tokenizers package, and without it (its import fails)."""
    if request.param == "tokenizers":
        pytest.importorskip("tokenizers")
    else:
        monkeypatch.setitem(sys.modules, "tokenizers", None)
    return request.param


def test_identifies_smollm_from_its_pre_tokenizer(smollm2_hf, tmp_path, pre_path):
    assert _bpe_with(smollm2_hf, tmp_path, pre_tokenizer=_SMOLLM_PRE)() == "smollm"


def test_rebuilt_smollm2_folder(smollm2_hf, tmp_path, pre_path):
    """llama.cpp says smollm (same ids); offline, ByteLevel alone is GPT-2's regex, not smollm's digits
    split, so the settings disagree with the hash's name and nothing is guessed."""
    identify = _bpe_with(smollm2_hf, tmp_path)
    if pre_path == "tokenizers":
        assert identify() == "smollm"
    else:
        with pytest.raises(ConvertError, match="--tokenizer-pre NAME"):
            identify()


def test_altered_pre_tokenizer_raises(smollm2_hf, tmp_path, pre_path):
    """ByteLevel without its regex and with a prefix space encodes CHKTXT differently: no guess."""
    altered = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": False}
    with pytest.raises(ConvertError, match="--tokenizer-pre NAME"):
        _bpe_with(smollm2_hf, tmp_path, pre_tokenizer=altered)()


def test_offline_settings_must_match_the_hash_name(smollm2_hf, tmp_path, monkeypatch):
    """ignore_merges on, no llama.cpp name with smollm's regexes has it: refused, although our encoding of
    CHKTXT (ignore_merges does not change it here) hashes to smollm."""
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ConvertError, match="no llama.cpp pre-tokenizer has tokenizer.json's"):
        _bpe_with(smollm2_hf, tmp_path, pre_tokenizer=_SMOLLM_PRE, ignore_merges=True)()
    with pytest.raises(ConvertError, match="normalizer"):
        _bpe_with(smollm2_hf, tmp_path, pre_tokenizer=_SMOLLM_PRE, normalizer={"type": "NFC"})()
