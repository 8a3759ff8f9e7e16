"""KL divergence against llama.cpp's ``--kl-divergence-base`` files (ggufpy/runtime/kld.py).

The golden base file was written by llama-perplexity (tests/golden/kld/README.md) on the tiny llama that
``write_tiny_llama_for_llamacpp`` rebuilds here; ggufpy reads it, scores it, writes its own, and the CLI
round-trips one.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ggufpy.runtime.kld import (KLDFileError, LogitsBaseWriter, chunk_kld, encode_log_probs, kl_divergence,
                                read_logits_base, row_width)
from ggufpy.runtime.model import Model
from ggufpy.runtime.perplexity import perplexity, tokenize_for_perplexity
from ggufpy.runtime.tokenizer import Tokenizer
from tests.tiny_model import tiny_text, write_tiny_llama_for_llamacpp

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "kld"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_llama_for_llamacpp(tmp_path_factory.mktemp("kld") / "tiny.gguf")


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads((GOLDEN / "tiny_kld.json").read_text())


def _value(report_value: str) -> float:
    return float(report_value.split()[0])


def test_golden_text_is_the_generator(golden):
    assert (GOLDEN / "tiny_text.txt").read_text(encoding="utf-8") == tiny_text()


def test_reads_llamacpp_base(tiny):
    base = read_logits_base(GOLDEN / "tiny_base.bin")
    assert (base.n_ctx, base.n_vocab, base.n_chunk, base.n_scored) == (32, 256, 8, 15)
    tok = Tokenizer.from_gguf(tiny)
    ours = tokenize_for_perplexity(tok, (GOLDEN / "tiny_text.txt").read_text(encoding="utf-8"))
    assert list(base.tokens) == ours[:8 * 32]  # llama.cpp's token stream is ours
    lp = _log_probs(base.rows)  # every saved row is a distribution
    np.testing.assert_allclose(np.exp(lp.astype(np.float64)).sum(axis=-1), 1.0, rtol=2e-3)


def _log_probs(rows: np.ndarray, n_vocab: int = 256) -> np.ndarray:
    head = np.ascontiguousarray(rows[..., :4]).view(np.float32)
    return head[..., 0:1] * rows[..., 4:4 + n_vocab].astype(np.float32) + head[..., 1:2]


def test_kl_divergence_vs_llamacpp_report(tiny, golden):
    """Scoring llama.cpp's base with the same model: PPL(base) depends on the file alone and must equal
    llama.cpp's 6 printed decimals; PPL(Q) is our forward pass (within 1e-4); KLD ~ 0, same top token."""
    rep = golden["kl_divergence_report"]
    base = read_logits_base(GOLDEN / "tiny_base.bin")
    tok = Tokenizer.from_gguf(tiny)
    with Model.load(tiny, threads=1, n_ctx=32) as m:
        res = kl_divergence(lambda t: m.logits(t), base, m.config.n_vocab, bos_id=tok.bos_id, add_bos=tok.add_bos)
    assert res.count == 8 * 15
    assert f"{res.ppl_base[0]:.6f}" == rep["Mean PPL(base)"].split()[0]
    assert res.ppl[0] == pytest.approx(_value(rep["Mean PPL(Q)"]), rel=1e-4)
    assert abs(res.mean_kld[0]) < 1e-5 and res.same_top_p == 1.0
    assert "Mean    KLD:" in res.report() and "Same top p: 100.000" in res.report()


def test_writes_what_llamacpp_writes(tiny, tmp_path):
    """Our base file for the same model and text: identical header and tokens; every log-prob within 1e-3
    nats of llama.cpp's (its logits and ours differ by float rounding only)."""
    theirs = read_logits_base(GOLDEN / "tiny_base.bin")
    tok = Tokenizer.from_gguf(tiny)
    tokens = tokenize_for_perplexity(tok, (GOLDEN / "tiny_text.txt").read_text(encoding="utf-8"))
    out = tmp_path / "ours.bin"
    with Model.load(tiny, threads=1, n_ctx=32) as m, LogitsBaseWriter(out, 32, 256, 8, tokens) as w:
        res = perplexity(lambda t: m.logits(t), tokens, n_ctx=32, n_chunks=8, bos_id=tok.bos_id,
                         add_bos=tok.add_bos, on_scored=w.add_chunk)
    ours = read_logits_base(out)
    assert out.read_bytes()[:20 + 4 * 256] == (GOLDEN / "tiny_base.bin").read_bytes()[:20 + 4 * 256]
    assert np.abs(_log_probs(ours.rows) - _log_probs(theirs.rows)).max() < 1e-3
    assert res.ppl == pytest.approx(json.loads((GOLDEN / "tiny_kld.json").read_text())["base_run_final_ppl"],
                                    rel=1e-4)


def test_encode_log_probs_rules():
    """perplexity.cpp's rows: scale = (max - min)/65535 with min clipped to max - 16, q = 0 below it, exact
    max -> 65535; a constant row has scale 0 and all-zero q; odd vocab sizes pad to an even width + 4."""
    logits = np.array([[0.0, 1.0, 2.0, -30.0, 2.0], [3.0, 3.0, 3.0, 3.0, 3.0]], np.float32)
    rows = encode_log_probs(logits)
    assert rows.shape == (2, row_width(5)) == (2, 10)
    head = rows[:, :4].copy().view(np.float32)
    assert head[0, 0] == np.float32(16.0) / np.float32(65535.0)  # min clipped to 2 - 16
    assert list(rows[0, 4:9]) == [np.rint(14 * 65535 / 16), np.rint(15 * 65535 / 16), 65535, 0, 65535]
    lse = np.log(np.exp(np.float32([0, 1, 2, -30, 2]) - 2).sum())
    assert head[0, 1] == pytest.approx(-16 - lse, rel=1e-6)
    assert head[1, 0] == 0 and not rows[1, 4:].any()
    assert head[1, 1] == pytest.approx(-np.log(5), rel=1e-6)


def test_chunk_kld_identity_and_shift():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 300)).astype(np.float32) * 3
    targets = rng.integers(0, 300, 6)
    c = chunk_kld(logits, encode_log_probs(logits), targets)  # only the 16/65535-nat steps of the file differ
    assert np.abs(c["kld"]).max() < 1e-4 and c["same_top"].all() and np.abs(c["p_diff"]).max() < 1e-5
    c = chunk_kld(logits + 5.0, encode_log_probs(logits), targets)  # softmax is shift invariant
    assert np.abs(c["kld"]).max() < 1e-4
    p = np.exp(logits.astype(np.float64) - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    q = np.exp(2 * logits.astype(np.float64) - 2 * logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    exact = (p * (np.log(p) - np.log(q))).sum(1)  # KL(p || q), the base p; the tail below e^-16 is dropped
    c = chunk_kld(2 * logits, encode_log_probs(logits), targets)
    np.testing.assert_allclose(c["kld"], exact, rtol=2e-3, atol=1e-5)


def test_bad_base_files(tiny, tmp_path):
    good = (GOLDEN / "tiny_base.bin").read_bytes()
    cases = {"magic": b"_logitz_" + good[8:], "short": good[:12], "truncated": good[:-2],
             "n_ctx": good[:8] + np.int32(1).tobytes() + good[12:], "longer": good + b"\0\0"}
    for name, data in cases.items():
        p = tmp_path / f"{name}.bin"
        p.write_bytes(data)
        with pytest.raises(KLDFileError, match=re.escape(str(p))):
            read_logits_base(p)
    base = read_logits_base(GOLDEN / "tiny_base.bin")
    with pytest.raises(KLDFileError, match="vocabulary of 256 tokens, the model has 300"):
        kl_divergence(lambda t: None, base, 300, add_bos=False)


def test_writer_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "base.bin"
    with pytest.raises(RuntimeError):
        with LogitsBaseWriter(out, 4, 3, 2, list(range(8))) as w:
            w.add_chunk(np.zeros((1, 3), np.float32))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_cli_round_trip(tiny, tmp_path):
    """`ggufpy perplexity --kl-divergence-base F` saves, `... --kl-divergence` reads: KLD of a model vs itself."""
    base = tmp_path / "base.bin"
    cmd = [sys.executable, "-m", "ggufpy", "perplexity", str(tiny), "-c", "32", "--chunks", "8", "-q", "-t", "1"]
    r = subprocess.run(cmd + ["-f", str(GOLDEN / "tiny_text.txt"), "--kl-divergence-base", str(base)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert read_logits_base(base).n_chunk == 8
    r = subprocess.run(cmd + ["--kl-divergence-base", str(base), "--kl-divergence"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    kld = float(re.search(r"Mean    KLD:\s+(\S+)", r.stdout).group(1))
    assert abs(kld) < 1e-5 and "Same top p: 100.000" in r.stdout
    r = subprocess.run(cmd + ["--kl-divergence"], capture_output=True, text=True)
    assert r.returncode != 0 and "--kl-divergence needs --kl-divergence-base" in r.stderr
