"""Sampling (llama.cpp's default chain), streamed UTF-8-safe generation and ``ggufpy run``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ggufpy.errors import GGUFError
from ggufpy.runtime.generate import GenerationStats, decode_utf8, generate, generate_tokens
from ggufpy.runtime.model import Model
from ggufpy.runtime.sampler import Sampler, SamplerConfig
from ggufpy.runtime.tokenizer import Tokenizer

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def model(smollm2_path):
    with Model.load(smollm2_path, threads=2, n_ctx=64) as m:
        yield m


@pytest.fixture(scope="module")
def tok(smollm2_path):
    return Tokenizer.from_gguf(smollm2_path)


def greedy() -> Sampler:
    return Sampler(SamplerConfig(temp=0))


# ---- sampler --------------------------------------------------------------------------------------------


def test_greedy_at_temp_zero(rng):
    logits = rng.normal(size=1000)
    s = greedy()
    assert all(s.sample(logits, []) == int(np.argmax(logits)) for _ in range(5))
    assert s.sample(logits[None, :], []) == int(np.argmax(logits))  # (1, n_vocab) accepted too


def test_top_k_1_is_greedy(rng):
    for _ in range(20):
        logits = rng.normal(size=500) * 3
        s = Sampler(SamplerConfig(temp=1.5, top_k=1, top_p=1.0, min_p=0.0, seed=0))
        assert s.sample(logits, []) == int(np.argmax(logits))


def test_seed_reproducible(rng):
    logits = rng.normal(size=300)
    cfg = dict(temp=1.0, top_k=0, top_p=1.0, min_p=0.0)
    a = [Sampler(SamplerConfig(**cfg, seed=7)).sample(logits, []) for _ in range(3)]
    s1, s2 = Sampler(SamplerConfig(**cfg, seed=7)), Sampler(SamplerConfig(**cfg, seed=7))
    seq1 = [s1.sample(logits, []) for _ in range(50)]
    assert seq1 == [s2.sample(logits, []) for _ in range(50)]
    assert a == [seq1[0]] * 3
    assert len(set(seq1)) > 5  # it really samples
    s3 = Sampler(SamplerConfig(**cfg, seed=8))
    assert [s3.sample(logits, []) for _ in range(50)] != seq1


def test_sampling_follows_distribution():
    logits = np.log(np.array([0.5, 0.3, 0.2]))
    s = Sampler(SamplerConfig(temp=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=3))
    counts = np.bincount([s.sample(logits, []) for _ in range(4000)], minlength=3) / 4000
    np.testing.assert_allclose(counts, [0.5, 0.3, 0.2], atol=0.03)


def test_repeat_penalty_lowers_repeated_token():
    logits = np.array([2.0, 1.9, -1.0, -1.2, 0.5])
    cfg = dict(temp=1.0, top_k=0, top_p=1.0, min_p=0.0)
    plain = Sampler(SamplerConfig(**cfg)).probabilities(logits, [0, 2])
    pen = Sampler(SamplerConfig(**cfg, repeat_penalty=1.5)).probabilities(logits, [0, 2])
    assert pen[0] < plain[0] and pen[2] < plain[2] and pen[1] > plain[1]
    # llama.cpp's rule: positive logits divided, negative ones multiplied, only within repeat_last_n
    p = Sampler(SamplerConfig(**cfg, repeat_penalty=2.0)).apply_penalties(logits, [0, 0, 2])
    np.testing.assert_allclose(p, [1.0, 1.9, -2.0, -1.2, 0.5])
    p = Sampler(SamplerConfig(**cfg, repeat_penalty=2.0, repeat_last_n=1)).apply_penalties(logits, [0, 2])
    np.testing.assert_allclose(p, [2.0, 1.9, -2.0, -1.2, 0.5])
    # greedy with the penalty moves off the repeated token
    assert Sampler(SamplerConfig(temp=0, repeat_penalty=1.5)).sample(logits, [0]) == 1


def test_top_p_and_min_p_filtering():
    probs = np.array([0.05, 0.4, 0.3, 0.15, 0.1])
    logits = np.log(probs)
    off = dict(temp=1.0, top_k=0, top_p=1.0, min_p=0.0)
    ids, _ = Sampler(SamplerConfig(**off)).candidates(logits)
    assert list(ids) == [1, 2, 3, 4, 0]  # nothing dropped, most likely first
    # top-p: the shortest prefix reaching p (0.4 + 0.3 = 0.7 >= 0.7; 0.85 needs the third)
    assert list(Sampler(SamplerConfig(**{**off, "top_p": 0.7})).candidates(logits)[0]) == [1, 2]
    assert list(Sampler(SamplerConfig(**{**off, "top_p": 0.71})).candidates(logits)[0]) == [1, 2, 3]
    assert list(Sampler(SamplerConfig(**{**off, "top_p": 0.01})).candidates(logits)[0]) == [1]
    # min-p: p >= min_p * p_max (0.4 * 0.3 = 0.12 keeps 0.15, drops 0.1 and 0.05)
    assert list(Sampler(SamplerConfig(**{**off, "min_p": 0.3})).candidates(logits)[0]) == [1, 2, 3]
    # the final distribution renormalises over the survivors
    pr = Sampler(SamplerConfig(**{**off, "min_p": 0.3})).probabilities(logits)
    np.testing.assert_allclose(pr, [0, 0.4 / 0.85, 0.3 / 0.85, 0.15 / 0.85, 0], rtol=1e-12)
    # top-k then temperature: a hot temperature flattens, but only among the k kept
    pr = Sampler(SamplerConfig(**{**off, "top_k": 2, "temp": 100.0})).probabilities(logits)
    assert pr[0] == pr[3] == pr[4] == 0 and abs(pr[1] - pr[2]) < 0.01
    # filtered tokens are never drawn
    s = Sampler(SamplerConfig(**{**off, "min_p": 0.3, "seed": 1}))
    assert {s.sample(logits, []) for _ in range(300)} == {1, 2, 3}


# ---- UTF-8 streaming ------------------------------------------------------------------------------------


def test_decode_utf8_whole_characters():
    text = "aé€😀z"
    raw = text.encode()
    pieces = [raw[:2], raw[2:4], raw[4:5], raw[5:8], raw[8:9], raw[9:10], raw[10:]]  # splits mid-character
    out = list(decode_utf8(pieces))
    assert "".join(out) == text
    for s in out:  # no half characters, no replacement characters
        assert "\ufffd" not in s
    assert out == ["a", "é", "€", "😀", "z"]
    # a byte at a time
    assert "".join(decode_utf8([bytes([b]) for b in raw])) == text
    # an invalid byte becomes U+FFFD; a truncated tail is flushed at the end
    assert "".join(decode_utf8([b"a\xff", b"b\xe2\x82"])) == "a\ufffdb\ufffd"


def test_decode_real_tokens_split_emoji(tok):
    ids = tok.tokenize("é😀!", add_special=False)
    pieces = [tok.token_to_piece(i) for i in ids]
    assert any(len(p) and (p[0] & 0xC0) == 0x80 for p in pieces)  # a continuation-byte token: really split
    assert list(decode_utf8(pieces)) == ["é", "😀", "!"]


# ---- generation -----------------------------------------------------------------------------------------


def test_greedy_generation_matches_manual_argmax(model, tok):
    stats = GenerationStats()
    text = "".join(generate(model, tok, PROMPT, n_predict=16, sampler=greedy(), stats=stats))
    ids = stats.tokens
    assert len(ids) == 16 and stats.n_gen == 16 and stats.stop_reason == "n_predict"
    assert stats.n_prompt == len(tok.tokenize(PROMPT)) and stats.prompt_tps > 0 and stats.gen_tps > 0
    assert "tokens/s" in stats.summary()
    # by hand: full prompt batch, then argmax one token at a time
    prompt = tok.tokenize(PROMPT)
    model.reset()
    logits = model.eval(np.array(prompt, dtype=np.int32), 0)[-1]
    manual = []
    for i in range(16):
        t = int(np.argmax(logits))
        manual.append(t)
        logits = model.eval(np.array([t], dtype=np.int32), len(prompt) + i, all_logits=False).reshape(-1)
    assert ids == manual
    assert text == tok.detokenize(manual, skip_special=True)
    assert "Paris" in text
    # deterministic: a second run gives the same tokens
    assert generate_tokens(model, tok, PROMPT, n_predict=16, sampler=greedy()) == ids


def test_seeded_sampling_reproducible(model, tok):
    def run(seed):
        return generate_tokens(model, tok, PROMPT, n_predict=8, sampler=Sampler(SamplerConfig(temp=1.0, seed=seed)))
    assert run(5) == run(5)


class Scripted(Sampler):
    """Returns a fixed token sequence, for driving the generation loop."""

    def __init__(self, script):
        super().__init__(SamplerConfig(temp=0))
        self.script = list(script)
        self.histories = []

    def sample(self, logits, history):
        self.histories.append(list(history))
        return self.script.pop(0)


def test_stops_at_eog(model, tok):
    hello = tok.tokenize(" Hello", add_special=False)
    eos = tok.eos_id
    assert eos in tok.eog_ids
    s = Scripted(hello + [eos] + hello)
    stats = GenerationStats()
    text = "".join(generate(model, tok, PROMPT, n_predict=50, sampler=s, stats=stats))
    assert text == " Hello" and stats.tokens == hello and stats.stop_reason == "eog"
    assert s.script == hello  # nothing sampled after the end token
    prompt = tok.tokenize(PROMPT)
    assert s.histories[0] == prompt and s.histories[-1] == prompt + hello  # history = prompt + generated


def test_stops_at_full_context(model, tok):
    stats = GenerationStats()
    prompt_len = len(tok.tokenize(PROMPT))
    list(generate(model, tok, PROMPT, n_predict=-1, sampler=Sampler(SamplerConfig(temp=0, repeat_penalty=1.3)),
                  stats=stats))
    assert stats.stop_reason == "context"  # the penalty keeps this prompt from ending within 64 positions
    assert prompt_len + stats.n_gen == model.n_ctx + 1  # the last token is sampled, never evaluated


def test_prompt_longer_than_context(model, tok):
    with pytest.raises(GGUFError, match="longer than the context"):
        list(generate(model, tok, "word " * 200, n_predict=4))
    with pytest.raises(GGUFError, match="empty"):
        list(generate(model, tok, "", n_predict=4, add_bos=False))


def test_add_bos(model, tok):
    stats = GenerationStats()
    list(generate(model, tok, PROMPT, n_predict=1, sampler=greedy(), add_bos=True, stats=stats))
    assert stats.n_prompt == len(tok.tokenize(PROMPT)) + 1


# ---- CLI ------------------------------------------------------------------------------------------------


def test_cli_run(smollm2_path, model, tok):
    r = subprocess.run([sys.executable, "-m", "ggufpy", "run", str(smollm2_path), "-p", "Hello", "-n", "8",
                        "--temp", "0", "-t", "2", "-c", "128"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    expected = "".join(generate(model, tok, "Hello", n_predict=8, sampler=greedy()))
    assert r.stdout.strip() and r.stdout == expected + "\n"
    assert "tokens/s" in r.stderr and "generation: 8 tokens" in r.stderr


def test_cli_run_bad_args(smollm2_path):
    r = subprocess.run([sys.executable, "-m", "ggufpy", "run", str(smollm2_path), "-p", "Hi", "-c", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "ctx-size" in r.stderr
