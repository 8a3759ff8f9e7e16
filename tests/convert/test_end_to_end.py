"""End to end: our runtime on the converted file vs transformers' forward pass on the HF folder, and the
perplexity of the quantized conversions against the f16 one."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytestmark = [pytest.mark.fixtures, pytest.mark.slow]

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "<|im_start|>user\nWhat is the boiling point of water?<|im_end|>\n<|im_start|>assistant\n",
]
N_GREEDY = 16


@pytest.fixture(scope="module")
def hf_model(smollm2_hf):
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(smollm2_hf, dtype=torch.float32)
    model.eval()
    return model, AutoTokenizer.from_pretrained(smollm2_hf)


def _greedy(model, ids: list[int], n: int, eos: set[int]) -> list[int]:
    logits = model.eval(np.asarray(ids, np.int32), 0, all_logits=False)
    out = []
    for _ in range(n):
        tok = int(logits[-1].argmax())
        out.append(tok)
        if tok in eos:
            break
        logits = model.eval(np.asarray([tok], np.int32), all_logits=False)
    return out


def test_logits_and_greedy_tokens_match_transformers(hf_model, smollm2_hf, converted):
    import torch

    from ggufpy.runtime.model import Model

    hf, tok = hf_model
    eos = {tok.eos_token_id, tok.convert_tokens_to_ids("<|endoftext|>")}
    with Model.load(converted(smollm2_hf, "f32"), n_ctx=256) as model:
        for prompt in PROMPTS:
            ids = tok(prompt)["input_ids"]
            assert model.tokenize(prompt, parse_special=True) == ids  # the exported tokenizer agrees too
            with torch.no_grad():
                ref = hf(torch.tensor([ids])).logits[0].numpy()
                ref_greedy = hf.generate(torch.tensor([ids]), max_new_tokens=N_GREEDY, do_sample=False,
                                         eos_token_id=sorted(eos))[0].tolist()[len(ids):]
            ours = model.logits(np.asarray(ids, np.int32))
            # float32 weights on both sides; ours keeps an F16 KV cache, as llama.cpp does
            assert np.abs(ours - ref).max() < 0.1, prompt
            assert (ours.argmax(-1) == ref.argmax(-1)).all(), prompt
            assert _greedy(model, ids, N_GREEDY, eos) == ref_greedy, prompt


def _ppl(path, text_file) -> float:
    import contextlib
    import io

    from ggufpy.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["perplexity", str(path), "-f", str(text_file), "-c", "256", "--chunks", "3", "-q"]) == 0
    return float(re.search(r"PPL = ([0-9.]+)", out.getvalue()).group(1))


def test_quantized_perplexity_close_to_f16(smollm2_hf, converted, tmp_path):
    from ggufpy.fetch import fetch

    wiki = fetch("wiki", progress=False)
    text = tmp_path / "wiki.txt"  # the first ~100 kB: enough for 3 chunks of 256 tokens
    text.write_bytes(wiki.read_bytes()[:100_000])
    base = _ppl(converted(smollm2_hf, "f16"), text)
    # (q4_k_m puts most SmolLM2 rows in Q5_0/Q8_0 fallbacks: 576 is not a multiple of 256)
    # (20 chunks of 512 on all of wiki.utf8: f16 12.35, q8_0 12.41, q4_k_m 13.05, nf4 15.37)
    # q8_0 is within noise of f16 on 3 x 256 tokens (either can come out ahead), so the ordering
    # "fewer bits, no better" is checked only from q8_0 down
    previous = None
    for outtype, tolerance in (("q8_0", 0.01), ("q4_k_m", 0.12), ("nf4", 0.40)):
        ppl = _ppl(converted(smollm2_hf, outtype), text)
        assert ppl < base * (1 + tolerance), (outtype, ppl, base)
        if previous is not None:
            assert ppl > previous * 0.995, (outtype, ppl, previous)  # fewer bits, no better
        previous = ppl


def test_mistral_runs_like_transformers(mistral_hf, converted):
    """The Mistral architecture end to end: a random-weight MistralForCausalLM (SentencePiece vocab of
    Mistral-7B v0.1) converted at f32 and run by our runtime gives transformers' logits (BF16 weights
    widened exactly on both sides) and the same argmax at every position; our tokenizer equals
    sentencepiece's on the checkpoint's tokenizer.model (BOS prepended)."""
    torch = pytest.importorskip("torch")
    spm = pytest.importorskip("sentencepiece")
    from transformers import AutoModelForCausalLM

    from ggufpy.runtime.model import Model

    hf = AutoModelForCausalLM.from_pretrained(mistral_hf, dtype=torch.float32).eval()
    sp = spm.SentencePieceProcessor(model_file=str(mistral_hf / "tokenizer.model"))
    with Model.load(converted(mistral_hf, "f32"), n_ctx=128) as model:
        assert model.config.arch == "llama"  # llama.cpp writes MistralForCausalLM as the llama architecture
        for prompt in ("The capital of France is", "[INST] What is 2 + 2? [/INST]", "Ünïcödé ❤ 日本語"):
            ids = [sp.bos_id()] + sp.encode(prompt)
            assert model.tokenize(prompt) == ids, prompt
            with torch.no_grad():
                ref = hf(torch.tensor([ids])).logits[0].numpy()
            ours = model.logits(np.asarray(ids, np.int32))
            scale = np.abs(ref).max()
            assert np.abs(ours - ref).max() < 1e-2 * scale, (prompt, np.abs(ours - ref).max(), scale)
            assert (ours.argmax(-1) == ref.argmax(-1)).all(), prompt
