"""Broken inputs are one clear line each, and nothing half-written is ever left behind.

Uses a tiny llama folder written here with numpy (no torch): random weights, mistral-common's
SentencePiece tokenizer.model.v1 (fetched once from its pinned wheel)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ggufpy.convert import convert_hf
from ggufpy.errors import ConvertError
from ggufpy.format.reader import GGUFReader

from .test_safetensors import bf16_bytes, write_st

N_VOCAB, N_EMBD, N_FF, N_HEAD, N_HEAD_KV, N_LAYER = 32000, 64, 128, 4, 2, 2
HEAD_DIM = N_EMBD // N_HEAD


def tiny_tensors(rng) -> dict:
    shapes = {"model.embed_tokens.weight": (N_VOCAB, N_EMBD), "model.norm.weight": (N_EMBD,),
              "lm_head.weight": (N_VOCAB, N_EMBD)}
    for i in range(N_LAYER):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (N_EMBD,), p + "post_attention_layernorm.weight": (N_EMBD,),
            p + "self_attn.q_proj.weight": (N_HEAD * HEAD_DIM, N_EMBD),
            p + "self_attn.k_proj.weight": (N_HEAD_KV * HEAD_DIM, N_EMBD),
            p + "self_attn.v_proj.weight": (N_HEAD_KV * HEAD_DIM, N_EMBD),
            p + "self_attn.o_proj.weight": (N_EMBD, N_HEAD * HEAD_DIM),
            p + "mlp.gate_proj.weight": (N_FF, N_EMBD), p + "mlp.up_proj.weight": (N_FF, N_EMBD),
            p + "mlp.down_proj.weight": (N_EMBD, N_FF),
        })
    return {n: ("BF16", s, bf16_bytes(rng.standard_normal(s).astype(np.float32) * 0.05)) for n, s in shapes.items()}


CONFIG = {"architectures": ["LlamaForCausalLM"], "hidden_size": N_EMBD, "intermediate_size": N_FF,
          "num_attention_heads": N_HEAD, "num_key_value_heads": N_HEAD_KV, "num_hidden_layers": N_LAYER,
          "vocab_size": N_VOCAB, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 512,
          "bos_token_id": 1, "eos_token_id": 2}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, hf_tool):
    d = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    d.mkdir()
    write_st(d / "model.safetensors", tiny_tensors(np.random.default_rng(0)))
    (d / "config.json").write_text(json.dumps(CONFIG))
    os.symlink(hf_tool.mistral_tokenizer_model(), d / "tokenizer.model")
    return d


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_tiny_converts_and_runs(tiny_dir, tmp_path):
    from ggufpy.runtime.model import Model

    out = convert_hf(tiny_dir, tmp_path / "t.gguf", "q8_0", progress=False)
    with Model.load(out.path, n_ctx=32) as m:
        assert np.isfinite(m.logits(np.array(m.tokenize("Hello world"), np.int32))).all()


def test_missing_shard(smollm2_sharded_hf, copy_folder, tmp_path):
    folder = copy_folder(smollm2_sharded_hf, "model", {"model-00002-of-00003.safetensors": None})
    with pytest.raises(ConvertError) as e:
        convert_hf(folder, tmp_path / "x.gguf", "f16", progress=False)
    assert "missing shard model-00002-of-00003.safetensors" in _one_line(e)
    assert not (tmp_path / "x.gguf").exists()


def test_index_disagrees_with_shards(smollm2_sharded_hf, copy_folder, tmp_path):
    index = json.loads((smollm2_sharded_hf / "model.safetensors.index.json").read_text())
    index["weight_map"]["model.layers.99.mlp.up_proj.weight"] = "model-00001-of-00003.safetensors"
    folder = copy_folder(smollm2_sharded_hf, "model", {"model.safetensors.index.json": json.dumps(index)})
    with pytest.raises(ConvertError, match="lists 1 tensors no shard holds, e.g. 'model.layers.99"):
        convert_hf(folder, tmp_path / "x.gguf", "f16", progress=False)


def test_shape_disagrees_with_config(tiny_dir, copy_folder, tmp_path):
    folder = copy_folder(tiny_dir, "model", {"config.json": json.dumps({**CONFIG, "intermediate_size": 96})})
    with pytest.raises(ConvertError) as e:
        convert_hf(folder, tmp_path / "x.gguf", "f16", progress=False)
    msg = _one_line(e)
    assert "model.safetensors" in msg and "shape [128, 64]" in msg and "config.json implies [96, 64]" in msg


def test_unsupported_architecture(tiny_dir, copy_folder, tmp_path):
    folder = copy_folder(tiny_dir, "model", {"config.json": json.dumps({**CONFIG, "architectures": ["GPT2LMHeadModel"]})})
    with pytest.raises(ConvertError, match="architecture 'GPT2LMHeadModel' is not supported; ggufpy converts "
                                           "LlamaForCausalLM, MistralForCausalLM"):
        convert_hf(folder, tmp_path / "x.gguf", "f16", progress=False)


def test_truncated_header(tiny_dir, copy_folder, tmp_path):
    data = (tiny_dir / "model.safetensors").read_bytes()
    folder = copy_folder(tiny_dir, "model", {"model.safetensors": data[:2000]})
    with pytest.raises(ConvertError) as e:
        convert_hf(folder, tmp_path / "x.gguf", "f16", progress=False)
    assert "model.safetensors: truncated safetensors header" in _one_line(e)


def test_missing_tensor(tiny_dir, copy_folder, tmp_path):
    tensors = tiny_tensors(np.random.default_rng(0))
    del tensors["model.layers.1.mlp.up_proj.weight"]
    folder = copy_folder(tiny_dir, "model", {"model.safetensors": None})
    write_st(folder / "model.safetensors", tensors)
    with pytest.raises(ConvertError, match="no blk.1.ffn_up.weight"):
        convert_hf(folder, tmp_path / "x.gguf", "f16", progress=False)


def test_unmapped_tensor(tiny_dir, copy_folder, tmp_path):
    tensors = tiny_tensors(np.random.default_rng(0))
    tensors["model.layers.0.self_attn.q_norm.weight"] = ("F32", (4,), bytes(16))
    folder = copy_folder(tiny_dir, "model", {"model.safetensors": None})
    write_st(folder / "model.safetensors", tensors)
    with pytest.raises(ConvertError, match="'model.layers.0.self_attn.q_norm.weight' has no GGUF name"):
        convert_hf(folder, tmp_path / "x.gguf", "f16", progress=False)


def test_unknown_outtype(tiny_dir, tmp_path):
    from ggufpy.errors import GGUFError

    with pytest.raises(GGUFError, match="unknown quantization target 'q9_9'"):
        convert_hf(tiny_dir, tmp_path / "x.gguf", "q9_9", progress=False)


def test_no_half_written_output_on_failure(tiny_dir, tmp_path, monkeypatch):
    """A failure in the middle of the tensors leaves neither the output nor a temporary file."""
    from ggufpy.convert.arch.llama import Llama

    calls = []

    def failing(self, name, data):
        calls.append(name)
        if len(calls) == 5:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-write
        return data

    monkeypatch.setattr(Llama, "transform", failing)
    with pytest.raises(KeyboardInterrupt):
        convert_hf(tiny_dir, tmp_path / "x.gguf", "q8_0", progress=False)
    assert len(calls) == 5 and os.listdir(tmp_path) == []


def test_refuses_to_clobber(tiny_dir, tmp_path):
    out = tmp_path / "x.gguf"
    out.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--force"):
        convert_hf(tiny_dir, out, "f16", progress=False)
    assert out.read_bytes() == b"precious"
    convert_hf(tiny_dir, out, "f16", overwrite=True, progress=False)
    with GGUFReader(out) as r:
        assert r.metadata["general.architecture"] == "llama"


def test_pytorch_bin_weights_only(tiny_dir, copy_folder, tmp_path):
    torch = pytest.importorskip("torch")
    from ggufpy.convert.safetensors import SafetensorsFile

    with SafetensorsFile(tiny_dir / "model.safetensors") as f:
        state = {n: torch.from_numpy(f.get(n).to_f32()).to(torch.bfloat16) for n in f.keys()}
    folder = copy_folder(tiny_dir, "model", {"model.safetensors": None})
    torch.save(state, folder / "pytorch_model.bin")
    a = convert_hf(tiny_dir, tmp_path / "a.gguf", "q8_0", progress=False)
    b = convert_hf(folder, tmp_path / "b.gguf", "q8_0", progress=False)
    with GGUFReader(a.path) as ra, GGUFReader(b.path) as rb:
        assert [t.name for t in ra.tensors] == [t.name for t in rb.tensors] and len(ra.tensors) == len(rb.tensors)
        assert all(np.array_equal(x.data, y.data) for x, y in zip(ra.tensors, rb.tensors))

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"model.norm.weight": Evil()}, folder / "pytorch_model.bin")
    with pytest.raises(ConvertError, match="weights_only=True"):
        convert_hf(folder, tmp_path / "c.gguf", "q8_0", progress=False)


def test_cli_one_line_error_and_exit_2(tiny_dir, copy_folder, tmp_path):
    folder = copy_folder(tiny_dir, "model", {"config.json": json.dumps({**CONFIG, "architectures": ["BertModel"]})})
    for cmd in (["-m", "ggufpy", "convert"], ["-m", "ggufpy.convert.cli"]):
        proc = subprocess.run([sys.executable, *cmd, str(folder), "-o", str(tmp_path / "x.gguf")],
                              capture_output=True, text=True)
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1 and "architecture 'BertModel' is not supported" in proc.stderr


def test_cli_converts(tiny_dir, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ggufpy", "convert", str(tiny_dir), "-o", str(tmp_path / "x.gguf"),
                           "--outtype", "q4_k_m", "-q", "-v"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "blk.0.ffn_down.weight" in proc.stderr and "wrote" in proc.stderr
    with GGUFReader(tmp_path / "x.gguf") as r:
        assert r.metadata["ggufpy.convert.quantize"] == "type=q4_k_m"
        assert r.metadata["general.file_type"] == 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M


def test_console_script_is_installed():
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("convert-hf-to-gguf") == "ggufpy.convert.cli:main"


# ---- hostile input: every file a converter reads, malformed, is a ConvertError naming it -----------------

_NESTED = "[" * 100_000 + "]" * 100_000  # json.loads -> RecursionError


def _bpe_tokenizer_json(**changes) -> str:
    tj = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}, "added_tokens": [],
          "pre_tokenizer": {"type": "ByteLevel"}}
    tj.update(changes)
    return json.dumps(tj)


HOSTILE = {
    "config-zero-heads": ("config.json", json.dumps({**CONFIG, "num_attention_heads": 0}),
                          "num_attention_heads is 0"),
    "config-string-size": ("config.json", json.dumps({**CONFIG, "hidden_size": "64"}), "hidden_size is '64'"),
    "config-rope-scaling-string": ("config.json", json.dumps({**CONFIG, "rope_scaling": "linear"}),
                                   "rope_scaling is a str"),
    "config-rope-scaling-list": ("config.json", json.dumps({**CONFIG, "rope_scaling": [1, 2]}),
                                 "rope_scaling is a list"),
    "config-yarn-no-original": ("config.json", json.dumps({**CONFIG, "rope_scaling": {"type": "yarn", "factor": 4.0}}),
                                "without original_max_position_embeddings"),
    "config-rope-factor-string": ("config.json", json.dumps({**CONFIG, "rope_scaling": {"type": "linear",
                                                                                           "factor": "x"}}),
                                  "config.json: malformed"),
    "config-million-layers": ("config.json", json.dumps({**CONFIG, "num_hidden_layers": 10**6}),
                              "config.json says 1000000 blocks"),
    "config-huge-context": ("config.json", json.dumps({**CONFIG, "max_position_embeddings": 2**40}),
                            "config.json: malformed (ValueError: llama.context_length = 1099511627776 is out of range"),
    "config-nested": ("config.json", _NESTED, "config.json: JSON nested too deeply"),
    "tokenizer_config-decoder-list": ("tokenizer_config.json", json.dumps({"added_tokens_decoder": [1, 2]}),
                                      "tokenizer_config.json: added_tokens_decoder is a list"),
    "tokenizer_config-decoder-key": ("tokenizer_config.json",
                                     json.dumps({"added_tokens_decoder": {"x": {"content": "<s>"}}}),
                                     "tokenizer_config.json: added_tokens_decoder entry 'x'"),
    "tokenizer_config-decoder-entry": ("tokenizer_config.json", json.dumps({"added_tokens_decoder": {"5": "<s>"}}),
                                       "tokenizer_config.json: added_tokens_decoder entry '5'"),
    "tokenizer_config-bad-template": ("tokenizer_config.json", json.dumps({"chat_template": [1, {"name": 2}]}),
                                      None),  # ignored, as llama.cpp ignores unusable templates
    "tokenizer.json-string-ids": ("tokenizer.json", _bpe_tokenizer_json(model={"type": "BPE", "vocab": {"a": "0"},
                                                                               "merges": []}),
                                  "tokenizer.json: model.vocab maps 'a' to '0'"),
    "tokenizer.json-added-dict": ("tokenizer.json", _bpe_tokenizer_json(added_tokens={"a": 1}),
                                  "tokenizer.json: added_tokens is not a list"),
    "tokenizer.json-added-string-id": ("tokenizer.json", _bpe_tokenizer_json(added_tokens=[{"id": "1", "content": "b"}]),
                                       "tokenizer.json: added token"),
    "tokenizer.json-nested": ("tokenizer.json", _NESTED, "tokenizer.json: JSON nested too deeply"),
    "tokenizer.json-post-processor": ("tokenizer.json", _bpe_tokenizer_json(post_processor=[1]),
                                      "tokenizer.json"),
    "tokenizer.model-garbage": ("tokenizer.model", b"\x0a\x05\x0a\x03abc\x12\x02", "tokenizer.model: not a SentencePiece"),
    "tokenizer.model-float": ("tokenizer.model", b"\x0a\x05\x0a\x01a\x15\x01", "tokenizer.model: not a SentencePiece"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_input(tiny_dir, copy_folder, tmp_path, case):
    fname, content, message = HOSTILE[case]
    replace = {fname: content}
    if fname == "tokenizer.json":  # the BPE path: no tokenizer.model beside it
        replace["tokenizer.model"] = None
    folder = copy_folder(tiny_dir, "model", replace)
    out = tmp_path / "x.gguf"
    if message is None:
        convert_hf(folder, out, "f16", progress=False, tokenizer_pre="gpt-2")
        return
    with pytest.raises(ConvertError) as e:
        convert_hf(folder, out, "f16", progress=False, tokenizer_pre="gpt-2")
    assert message in _one_line(e) and not out.exists()


def test_hostile_oversized_tokenizer_model(tiny_dir, copy_folder, tmp_path):
    folder = copy_folder(tiny_dir, "model", {"tokenizer.model": None})
    with open(folder / "tokenizer.model", "wb") as f:
        f.truncate(65 << 20)  # sparse: no disk used
    with pytest.raises(ConvertError, match="tokenizer.model: .* over the .*-byte limit"):
        convert_hf(folder, tmp_path / "x.gguf", "f16", progress=False)


@pytest.mark.parametrize("header, message", [
    ({"w": {"dtype": [], "shape": [1], "data_offsets": [0, 4]}}, "unknown dtype []"),
    ({"w": {"dtype": {"a": 1}, "shape": [1], "data_offsets": [0, 4]}}, "unknown dtype"),
    (None, "nested too deeply"),
])
def test_hostile_safetensors_header(tiny_dir, copy_folder, tmp_path, header, message):
    text = (_NESTED if header is None else json.dumps(header)).encode()
    data = len(text).to_bytes(8, "little") + text + bytes(4)
    folder = copy_folder(tiny_dir, "model", {"model.safetensors": data})
    with pytest.raises(ConvertError) as e:
        convert_hf(folder, tmp_path / "x.gguf", "f16", progress=False)
    assert "model.safetensors: " in _one_line(e) and message in str(e.value)
