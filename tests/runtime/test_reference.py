"""The numpy reference forward pass, its config and llama.cpp-compatible perplexity.

Oracles: ops against the formulas written out in float64; KV-cache decoding against full recomputation;
end to end against llama.cpp 0c1e570 on SmolLM2-135M-Instruct Q4_1 (tests/golden/runtime/, made by
tools/gen_golden_runtime.py): greedy continuations and per-chunk perplexity on wiki.utf8.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

import ggufpy
from ggufpy.errors import GGUFError, GGUFFormatError, UnsupportedTypeError
from ggufpy.format.constants import GGMLType
from ggufpy.format.writer import GGUFWriter
from ggufpy.quants import dequantize, quantize
from ggufpy.runtime.config import ModelConfig, RopeType
from ggufpy.runtime.perplexity import perplexity, token_nll, tokenize_for_perplexity
from ggufpy.runtime.reference import (
    ReferenceModel,
    attention,
    attention_one_row,
    quantize_activations,
    rms_norm,
    rope,
    rope_cos_sin,
)
from tests.tiny_model import N_EMBD, N_HEAD, N_HEAD_KV, N_LAYER, N_VOCAB, write_tiny_llama

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "runtime"
GREEDY_STEPS = 16
# A differing greedy token is accepted only as a near tie: our logit for llama.cpp's token within TIE_NATS of
# our top logit. Why not 1e-3: each emulated op equals llama.cpp's to ~3e-7 given the same inputs, but float
# summation-order noise flips F16 and Q8 roundings, and SmolLM2 amplifies those flips to logits that differ
# by a few percent (measured with llama.cpp's own logits); over 6 prompts x 32 steps the largest gap at a
# disagreement was 0.22 nats (6 of 192 steps disagree, with or without emulate_ggml).
TIE_NATS = 0.5
PPL_REL = 0.005  # per-chunk perplexity vs llama.cpp, first 2 chunks


# ---- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture(scope="module")
def tiny_reader(tiny_path):
    with ggufpy.open(tiny_path) as reader:
        yield reader


@pytest.fixture(scope="module")
def tiny_model(tiny_reader):
    return ReferenceModel(tiny_reader, emulate_ggml=False)


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    """SmolLM2 with weights dequantized once per module (about 0.5 GB float32)."""
    with ggufpy.open(smollm2_path) as reader:
        yield ReferenceModel(reader)


def _rewrite(src: Path, dst: Path, *, drop_key=None, drop_tensor=None, arch=None) -> Path:
    """Copy a GGUF, leaving out one key or tensor, or renaming the architecture."""
    with ggufpy.open(src) as r:
        w = GGUFWriter(dst, overwrite=True)
        for f in r.metadata.fields():
            if f.key == drop_key:
                continue
            value = arch if (arch and f.key == "general.architecture") else f.value
            w.add_key_value(f.key, value, f.type, f.elem_type)
        for t in r.tensors:
            if t.name != drop_tensor:
                w.add_tensor(t.name, np.array(t.data), ggml_type=t.type, ne=t.ne)
        w.write()
    return dst


# ---- config ------------------------------------------------------------------------------------------------


@pytest.mark.fixtures
def test_config_smollm2(smollm2):
    c = smollm2.config
    assert (c.arch, c.n_vocab, c.n_ctx_train, c.n_embd, c.n_layer, c.n_ff) == ("llama", 49152, 8192, 576, 30, 1536)
    assert (c.n_head, c.n_head_kv, c.head_dim, c.n_rot, c.n_gqa) == (9, 3, 64, 64, 3)
    assert c.rope_type == RopeType.NORM and c.rope_freq_base == 100000.0 and c.rope_freq_scale == 1.0
    assert c.rms_eps == pytest.approx(1e-5) and c.tied_output
    assert (c.bos_id, c.eos_id, c.add_bos) == (1, 2, False)


def test_config_defaults_tiny(tiny_model):
    c = tiny_model.config
    assert (c.n_vocab, c.n_layer, c.n_head, c.n_head_kv) == (N_VOCAB, N_LAYER, N_HEAD, N_HEAD_KV)
    assert c.head_dim == c.n_rot == N_EMBD // N_HEAD
    assert c.rope_freq_base == 10000.0 and c.rope_scaling_type == "linear" and c.rope_freq_scale == 1.0
    assert not c.tied_output and c.bos_id is None and c.add_bos is None


@pytest.mark.parametrize("key", [
    "llama.block_count", "llama.embedding_length", "llama.attention.layer_norm_rms_epsilon", "general.architecture",
])
def test_config_missing_key(tiny_path, tmp_path, key):
    with ggufpy.open(_rewrite(tiny_path, tmp_path / "m.gguf", drop_key=key)) as r:
        with pytest.raises(GGUFError, match=key.replace(".", r"\.")):
            ModelConfig.from_gguf(r)


def test_config_unknown_architecture(tiny_path, tmp_path):
    with ggufpy.open(_rewrite(tiny_path, tmp_path / "a.gguf", arch="mamba")) as r:
        with pytest.raises(UnsupportedTypeError, match="'mamba'.*supported: llama"):
            ModelConfig.from_gguf(r)


def test_missing_tensor_named(tiny_path, tmp_path):
    with ggufpy.open(_rewrite(tiny_path, tmp_path / "t.gguf", drop_tensor="blk.1.ffn_up.weight")) as r:
        with pytest.raises(GGUFFormatError, match=r"missing tensor 'blk\.1\.ffn_up\.weight'"):
            ReferenceModel(r)


def test_tied_output_uses_token_embd(tiny_path, tmp_path):
    with ggufpy.open(_rewrite(tiny_path, tmp_path / "tied.gguf", drop_tensor="output.weight")) as r:
        m = ReferenceModel(r, emulate_ggml=False)
        assert m.config.tied_output
        cap: dict = {}
        logits = m.logits([5, 6, 7], capture=cap)
        expected = cap["result_norm"] @ r.get_tensor("token_embd.weight").numpy().T
        np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


# ---- ops ---------------------------------------------------------------------------------------------------


def test_rope_matches_formula(tiny_model, rng):
    """RoPE NORM rotates (x[2i], x[2i+1]) by pos * base^(-2i/n_rot); ggml's float32 running product of
    theta stays within float32 noise of the exact angle."""
    c = tiny_model.config
    pos = np.array([0, 1, 7, 100, 255])
    cos, sin = rope_cos_sin(pos, c)
    theta = pos[:, None] * c.rope_freq_base ** (-2.0 * np.arange(c.n_rot // 2) / c.n_rot)
    np.testing.assert_allclose(cos, np.cos(theta), atol=5e-5)
    np.testing.assert_allclose(sin, np.sin(theta), atol=5e-5)
    x = rng.standard_normal((len(pos), 2, c.head_dim)).astype(np.float32)
    y = rope(x, cos, sin, RopeType.NORM)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    np.testing.assert_allclose(y[..., 0::2], x0 * cos[:, None] - x1 * sin[:, None], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y[..., 1::2], x0 * sin[:, None] + x1 * cos[:, None], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y[0], x[0])  # position 0 is the identity
    neox = rope(x, cos, sin, RopeType.NEOX)  # pairs (i, i + n_rot/2)
    half = c.n_rot // 2
    np.testing.assert_allclose(neox[..., :half], x[..., :half] * cos[:, None] - x[..., half:] * sin[:, None], atol=1e-6)


def test_rope_linear_scaling_and_attn_factor(tiny_model):
    """rope.scaling.factor f divides every angle by f (freq_scale = 1/f); attn_factor scales cos and sin."""
    c = dataclasses.replace(tiny_model.config, rope_scaling_factor=4.0, rope_attn_factor=0.5)
    pos = np.array([3, 40])
    cos, sin = rope_cos_sin(pos, c)
    theta = pos[:, None] * c.rope_freq_base ** (-2.0 * np.arange(c.n_rot // 2) / c.n_rot) / 4.0
    np.testing.assert_allclose(cos, 0.5 * np.cos(theta), atol=5e-5)
    np.testing.assert_allclose(sin, 0.5 * np.sin(theta), atol=5e-5)
    assert dataclasses.replace(c, rope_scaling_type="none").rope_freq_scale == 1.0


def test_rms_norm_matches_formula(rng):
    x = rng.standard_normal((4, 64)).astype(np.float32) * 3
    w = rng.standard_normal(64).astype(np.float32)
    x64 = x.astype(np.float64)
    expected = x64 / np.sqrt((x64 ** 2).mean(axis=1, keepdims=True) + 1e-5) * w
    np.testing.assert_allclose(rms_norm(x, w, 1e-5), expected, rtol=1e-6, atol=1e-6)


def test_attention_matches_loop(rng):
    """Causal GQA against a per-head loop in float64; query rows start at position 3 (a KV-cache step)."""
    n, n_kv, n_head, n_head_kv, d = 4, 7, 6, 2, 8
    q = rng.standard_normal((n, n_head, d)).astype(np.float32)
    k = rng.standard_normal((n_kv, n_head_kv, d)).astype(np.float32)
    v = rng.standard_normal((n_kv, n_head_kv, d)).astype(np.float32)
    out = attention(q, k, v, q_pos0=3, scale=0.3).reshape(n, n_head, d)
    for t in range(n):
        for h in range(n_head):
            kv = h // (n_head // n_head_kv)
            s = 0.3 * (k[: 3 + t + 1, kv].astype(np.float64) @ q[t, h])
            p = np.exp(s - s.max())
            np.testing.assert_allclose(out[t, h], (p / p.sum()) @ v[: 3 + t + 1, kv], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_attention_one_row_kernel(rng, dtype):
    """ggml's small-batch flash-attention kernel (online softmax, accumulator in the cache's type) against the
    plain softmax: equal for an F32 cache, within F16 rounding for an F16 one."""
    n, n_kv, n_head, n_head_kv, d = 3, 9, 4, 2, 16
    q = rng.standard_normal((n, n_head, d)).astype(np.float32) * 3
    k = (rng.standard_normal((n_kv, n_head_kv, d)) * 3).astype(dtype)
    v = rng.standard_normal((n_kv, n_head_kv, d)).astype(dtype)
    got = attention_one_row(q, k, v, q_pos0=6, scale=0.25)
    qq = q.astype(dtype).astype(np.float32)  # the kernel multiplies by Q converted to K's type
    want = attention(qq, k.astype(np.float32), v.astype(np.float32), q_pos0=6, scale=0.25)
    tol = 1e-6 if dtype == np.float32 else 4e-3
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("vdt", [GGMLType.Q8_0, GGMLType.Q8_1, GGMLType.Q8_K])
def test_activation_quantization_matches_q8_codes(rng, vdt):
    """The activations ggml multiplies by: our Q8 conversion equals ggufpy's Q8 quantize + dequantize (ggml's
    _ref codes; the SIMD Q8_0/Q8_1 rounding differs only at exact .5 ties, absent from random data)."""
    x = (rng.standard_normal((8, 512)) * rng.uniform(0.01, 30, (8, 1))).astype(np.float32)
    x[0, :32] = 0  # an all-zero block
    x_deq, s = quantize_activations(x, vdt)
    raw = quantize(x, vdt, reference=True)
    np.testing.assert_array_equal(x_deq, dequantize(raw, vdt, reference=True).reshape(x.shape))
    if vdt == GGMLType.Q8_1:  # s = fp16(d * sum(q)), bytes [2, 4) of each 36-byte block
        stored = raw.reshape(-1, 36)[:, 2:4].copy().view(np.float16).astype(np.float32).reshape(s.shape)
        np.testing.assert_array_equal(s, stored)


# ---- KV cache and capture -----------------------------------------------------------------------------------


@pytest.mark.parametrize("emulate", [False, True])
def test_incremental_decoding_equals_full(tiny_reader, emulate):
    """Prefix + chunks + single tokens through the KV cache = one full pass. Under emulate_ggml both take the
    one-row attention kernel, whose F16 accumulator may round a few values differently."""
    tiny_model = ReferenceModel(tiny_reader, emulate_ggml=emulate)
    tol = 1e-4 if emulate else 1e-5
    tokens = [1, 17, 99, 3, 250, 42, 7, 7, 128]
    full = tiny_model.logits(tokens)
    cache = tiny_model.new_cache(len(tokens))
    parts = [tiny_model.logits(tokens[:4], cache=cache)]
    parts.append(tiny_model.logits(tokens[4:6], start_pos=4, cache=cache))
    parts += [tiny_model.logits([t], start_pos=i, cache=cache) for i, t in enumerate(tokens[6:], 6)]
    assert cache.n_tokens == len(tokens)
    np.testing.assert_allclose(np.concatenate(parts), full, rtol=tol, atol=tol)
    # rewinding (start_pos < n_tokens) overwrites the tail, as llama.cpp's seq_rm + decode
    again = tiny_model.logits(tokens[6:], start_pos=6, cache=cache)
    np.testing.assert_allclose(again, full[6:], rtol=tol, atol=tol)


def test_logits_argument_errors(tiny_model):
    with pytest.raises(ValueError, match="start_pos > 0 needs"):
        tiny_model.logits([1, 2], start_pos=3)
    cache = tiny_model.new_cache(4)
    with pytest.raises(ValueError, match="outside"):
        tiny_model.logits([1], start_pos=2, cache=cache)
    with pytest.raises(ValueError, match="exceed the cache size"):
        tiny_model.logits([1] * 5, cache=cache)
    with pytest.raises(ValueError, match="out of range"):
        tiny_model.logits([N_VOCAB])


def test_capture_names_follow_llama_cpp(tiny_model):
    cap: dict = {}
    logits = tiny_model.logits([4, 5, 6], capture=cap)
    for il in range(N_LAYER):
        for name in ("attn_norm", "Qcur", "Kcur", "Vcur", "kqv_out", "attn_out", "ffn_inp", "ffn_norm", "ffn_out"):
            assert cap[f"{name}-{il}"].shape[0] == 3
        np.testing.assert_allclose(cap[f"l_out-{il}"], cap[f"ffn_out-{il}"] + cap[f"ffn_inp-{il}"])
    assert logits.shape == (3, N_VOCAB) and logits.dtype == np.float32


# ---- perplexity (llama.cpp's procedure) ----------------------------------------------------------------------


def test_perplexity_procedure():
    """Chunking, BOS replacement, scored half and the +/- against a direct recomputation."""
    n_vocab, n_ctx = 11, 8
    rng = np.random.default_rng(5)
    table = rng.standard_normal((n_vocab, n_vocab)).astype(np.float32)
    seen = []

    def fn(toks):  # a bigram "model": logits of position j depend on token j only
        seen.append(list(toks))
        return table[toks]

    tokens = list(rng.integers(3, n_vocab, 3 * n_ctx + 5))
    res = perplexity(fn, tokens, n_ctx=n_ctx, bos_id=1, add_bos=True)
    assert len(seen) == 3 and all(s[0] == 1 for s in seen) and seen[1][1:] == tokens[n_ctx + 1:2 * n_ctx]
    nll = []
    for i in range(3):
        c = tokens[i * n_ctx:(i + 1) * n_ctx]
        for j in range(n_ctx // 2, n_ctx - 1):
            row = table[c[j]].astype(np.float64)
            nll.append(-(row[c[j + 1]] - row.max() - np.log(np.exp(row - row.max()).sum())))
    nll = np.array(nll)
    assert res.n_scored == 3 * (n_ctx - n_ctx // 2 - 1) == len(nll)
    assert res.ppl == pytest.approx(math.exp(nll.mean()), rel=1e-6)  # expf in float32
    assert res.chunk_ppl[0] == pytest.approx(math.exp(nll[:3].mean()), rel=1e-6)
    std = math.sqrt(((nll ** 2).mean() - nll.mean() ** 2) / (len(nll) - 1))
    assert res.stderr == pytest.approx(std * res.ppl, rel=1e-5)
    assert len(perplexity(fn, tokens, n_ctx=n_ctx, n_chunks=2, add_bos=False).chunk_ppl) == 2
    with pytest.raises(ValueError, match="at least 16 tokens"):
        perplexity(fn, tokens[:15], n_ctx=n_ctx, add_bos=False)


def test_token_nll_is_stable_for_large_logits():
    logits = np.array([[1000.0, 999.0, -1000.0]], dtype=np.float32)
    assert token_nll(logits, np.array([1]))[0] == pytest.approx(1 + math.log1p(math.exp(-1)), rel=1e-6)


def test_tokenize_for_perplexity_drops_one_trailing_newline():
    class Recorder:
        def tokenize(self, text, add_special=True, parse_special=False):
            self.args = (text, add_special, parse_special)
            return [len(text)]

    tok = Recorder()
    assert tokenize_for_perplexity(tok, "a\n\n") == [2] and tok.args == ("a\n", True, False)


# ---- llama.cpp goldens (SmolLM2) -------------------------------------------------------------------------------


def _greedy_cases() -> list[dict]:
    return json.loads((GOLDEN / "smollm2_greedy.json").read_text())["cases"]


@pytest.mark.fixtures
@pytest.mark.parametrize("case", _greedy_cases(), ids=lambda c: c["name"])
def test_greedy_matches_llama_cpp(smollm2, case):
    """Teacher-forced on llama.cpp's tokens: at every step our argmax is llama.cpp's token, or a near tie."""
    want = case["generated_ids"][:GREEDY_STEPS]
    cache = smollm2.new_cache(len(case["prompt_ids"]) + len(want))
    logits = smollm2.logits(case["prompt_ids"], cache=cache)[-1]
    ties = []
    for step, tok in enumerate(want):
        top = int(np.argmax(logits))
        if top != tok:
            gap = float(logits[top] - logits[tok])
            assert gap <= TIE_NATS, f"step {step}: ours {top}, llama.cpp {tok}, logit gap {gap:.4g}"
            ties.append(step)
        if step + 1 < len(want):
            logits = smollm2.logits([tok], start_pos=cache.n_tokens, cache=cache)[0]
    assert len(ties) <= 2, f"near ties at steps {ties}"


@pytest.mark.fixtures
def test_perplexity_matches_llama_cpp(smollm2):
    golden = json.loads((GOLDEN / "smollm2_wiki_ppl.json").read_text())
    tokens = json.loads((GOLDEN / "smollm2_wiki_tokens.json").read_text())["tokens"]
    c = smollm2.config
    res = perplexity(smollm2.logits, tokens[:2 * 512], n_ctx=512, bos_id=c.bos_id, add_bos=bool(c.add_bos))
    np.testing.assert_allclose(res.chunk_ppl, golden["chunk_ppl"][:2], rtol=PPL_REL)


@pytest.mark.fixtures
def test_perplexity_tokenization_matches_llama_cpp(smollm2_path):
    """Our tokenizer on the start of wiki.utf8 gives llama-perplexity's tokens (a prefix; its last few tokens
    may merge differently at the cut)."""
    tokenizer = pytest.importorskip("ggufpy.runtime.tokenizer")
    from ggufpy.fetch import fetch

    text = fetch("wiki", progress=False).read_bytes().decode("utf-8")[:4000]
    with ggufpy.open(smollm2_path) as r:
        ours = tokenize_for_perplexity(tokenizer.Tokenizer.from_gguf(r.metadata), text)
    golden = json.loads((GOLDEN / "smollm2_wiki_tokens.json").read_text())["tokens"]
    assert ours[:-4] == golden[:len(ours) - 4]
