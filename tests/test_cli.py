"""The ggufpy command, run as users run it (subprocess) and in-process for exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ggufpy.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ggufpy", *args], capture_output=True, text=True)


def test_info():
    r = run("info", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["native"] is True and info["isa"] in info["available_isas"]
    assert "generic" in info["compiled_isas"]


def test_inspect_text(smollm2_path):
    r = run("inspect", str(smollm2_path))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "architecture   llama" in out
    assert "134.52M in 272 tensors" in out
    assert "MOSTLY_Q4_1" in out
    assert "Q4_1           210" in out
    assert "gpt2 / smollm, 49152 tokens, 48900 merges" in out


def test_inspect_json_and_tensors(smollm2_path):
    r = run("inspect", str(smollm2_path), "--json", "--tensors")
    s = json.loads(r.stdout)
    assert s["n_tensors"] == 272 and len(s["tensors"]) == 272
    assert s["tensor_types"]["Q8_0"]["tensors"] == 1
    assert s["hyperparameters"]["llama.block_count"] == 30
    assert s["tokenizer"]["eos_token"] == {"id": 2, "text": "<|im_end|>"}
    first = s["tensors"][0]
    assert first["name"] == "token_embd.weight" and first["shape"] == [49152, 576] and first["type"] == "Q8_0"


def test_inspect_default_model_is_fetched(smollm2_path):
    r = run("inspect")
    assert r.returncode == 0 and "SmolLM2-135M-Instruct.Q4_1.gguf" in r.stdout


def test_missing_file_one_line(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.gguf")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No such file" in err


def test_fetch_list_and_unknown(capsys):
    assert main(["fetch", "--list"]) == 0
    assert "smollm2-135m-instruct-q4_1" in capsys.readouterr().out
    assert main(["fetch", "nope"]) == 2
    assert "unknown artifact 'nope'" in capsys.readouterr().err


def test_perplexity_command_matches_llama_cpp(smollm2_path):
    """`ggufpy perplexity` on the native runtime: first 2 chunks of wiki.utf8 within 0.5% of llama.cpp's
    per-chunk values (tests/golden/runtime/smollm2_wiki_ppl.json, from llama-perplexity)."""
    from pathlib import Path

    from ggufpy.fetch import fetch

    golden = json.loads((Path(__file__).parent / "golden" / "runtime" / "smollm2_wiki_ppl.json").read_text())
    r = run("perplexity", str(smollm2_path), "-f", str(fetch("wiki", progress=False)), "--chunks", "2", "-q")
    assert r.returncode == 0, r.stderr
    values = [float(v.split("]")[1]) for v in r.stdout.split("\n")[0].split()]
    assert len(values) == 2
    for ours, theirs in zip(values, golden["chunk_ppl"][:2]):
        assert abs(ours / theirs - 1) < 0.005, (ours, theirs)
    assert "Final estimate: PPL = " in r.stdout


def test_perplexity_keeps_crlf(tmp_path, smollm2_path):
    """llama.cpp reads the -f file as bytes: CRLF must reach the tokenizer (Python's text mode would drop \\r)."""
    text = "word and more words, line after line.\r\n" * 400
    (tmp_path / "crlf.txt").write_bytes(text.encode())
    (tmp_path / "lf.txt").write_bytes(text.replace("\r\n", "\n").encode())
    a = run("perplexity", str(smollm2_path), "-f", str(tmp_path / "crlf.txt"), "-c", "128", "--chunks", "2", "-q")
    b = run("perplexity", str(smollm2_path), "-f", str(tmp_path / "lf.txt"), "-c", "128", "--chunks", "2", "-q")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout != b.stdout


def test_bench_json_and_table(smollm2_path):
    """`ggufpy bench`: one row per (threads, test) with the requested repetitions, llama-bench's fields; the
    table has llama-bench's columns. (No speed is asserted: timings do not belong in tests.)"""
    r = run("bench", str(smollm2_path), "-p", "16", "-n", "4", "-r", "2", "-t", "1,2", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(x["threads"], x["test"], x["n_prompt"], x["n_gen"]) for x in rows] == [
        (1, "pp16", 16, 0), (1, "tg4", 0, 4), (2, "pp16", 16, 0), (2, "tg4", 0, 4)]
    for x in rows:
        assert len(x["samples_ts"]) == 2 and x["avg_ts"] == pytest.approx(sum(x["samples_ts"]) / 2)
        assert x["model"] == "llama 135M Q4_1" and x["n_params"] == 134515008
    r = run("bench", str(smollm2_path), "-p", "0", "-n", "2", "-r", "1", "-t", "1")
    assert r.returncode == 0, r.stderr
    head, sep, row = r.stdout.splitlines()
    assert [c.strip() for c in head.strip("|").split("|")] == ["model", "size", "params", "backend", "threads",
                                                              "test", "t/s"]
    assert row.split("|")[6].strip() == "tg2" and sep.startswith("| ---")
    r = run("bench", str(smollm2_path), "-t", "0")
    assert r.returncode != 0 and "threads and repetitions must be >= 1" in r.stderr
