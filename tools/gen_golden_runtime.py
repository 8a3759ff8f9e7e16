"""Goldens for the runtime from llama.cpp's own binaries, so tests/runtime/ can check the numpy reference (and
later the native runtime) against llama.cpp without llama.cpp at test time.

    python tools/build_llamacpp.py                 # once (llama.cpp 0c1e570 from the llama-cpp-python 0.3.36 sdist)
    python tools/gen_golden_runtime.py             # writes tests/golden/runtime/*.json and README.md (~3 min)
    python tools/gen_golden_runtime.py --check-reference [--chunks 4]   # also scores ggufpy's reference

Model: SmolLM2-135M-Instruct Q4_1 (``fetch("smollm2-135m-instruct-q4_1")``); text: wiki.utf8 (``fetch("wiki")``).

* ``smollm2_wiki_ppl.json``: ``llama-perplexity -c 512 -b 512 --chunks 4 -t 2 --ppl-output-type 1``; the
  cumulative ppl after each chunk (what the default output prints as ``[i]``), the cumulative mean nll to 6
  decimals, and the final estimate with its +/-.
* ``smollm2_wiki_tokens.json``: the first ``4 * 512`` token ids llama-perplexity evaluated, read from the
  header of its ``--kl-divergence-base`` logits file, and checked against ``llama-tokenize`` of the same text.
* ``smollm2_greedy.json``: per prompt, the prompt ids and llama.cpp's greedy continuation. ``llama-completion
  --temp 0`` (greedy sampler) ``-no-cnv --no-escape``; the exact ids come from a second identical run with
  ``--prompt-cache F --prompt-cache-all``, whose session file lists every decoded token (the text of both runs
  must agree; the ids' text was also checked by hand to equal the run's output). A run that stops at
  end-of-generation gets the EOS id appended.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
from build_llamacpp import LLAMA_CPP_COMMIT, llamacpp_bin  # noqa: E402

from ggufpy.fetch import fetch  # noqa: E402

OUT = ROOT / "tests" / "golden" / "runtime"
MODEL = "smollm2-135m-instruct-q4_1"
N_CTX = 512
N_CHUNKS = 4
N_PREDICT = 64
THREADS = "2"
PROMPTS = [  # (name, prompt, why)
    ("fact", "The capital of France is", "short factual completion"),
    ("story", "Once upon a time, there was a little girl who", "narrative, long free continuation"),
    ("code", 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n', "code: indentation and newlines"),
    ("numbers", "1, 2, 3, 5, 8, 13,", "digits and punctuation"),
    ("list", "The three primary colors are", "enumeration"),
    ("chat", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
             "<|im_start|>user\nWhat is the boiling point of water?<|im_end|>\n<|im_start|>assistant\n",
     "chat template; special tokens parsed (llama-completion tokenizes with parse_special)"),
]
SESSION_MAGIC = 0x6767736E  # 'ggsn', LLAMA_SESSION_MAGIC


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, encoding="utf-8")


# ---- perplexity -------------------------------------------------------------------------------------------


def perplexity_golden(model: Path, wiki: Path) -> dict:
    args = [llamacpp_bin("llama-perplexity"), "-m", model, "-f", wiki, "-c", N_CTX, "-b", N_CTX,
            "--chunks", N_CHUNKS, "-t", THREADS, "--ppl-output-type", "1"]
    p = run(args)
    # "%8d  %.4lf  %4lf  %4lf": start token, cumulative ppl, mean nll, stderr of the nll
    rows = [m.groups() for m in re.finditer(r"^\s*(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$", p.stdout, re.M)]
    final = re.search(r"Final estimate: PPL = ([\d.]+) \+/- ([\d.]+)", p.stderr + p.stdout)
    if len(rows) != N_CHUNKS or final is None:
        raise SystemExit(f"could not parse llama-perplexity output:\n{p.stdout}\n{p.stderr[-2000:]}")
    return {
        "command": "llama-perplexity " + " ".join(str(a) for a in args[1:]).replace(str(model), "MODEL")
                                                                          .replace(str(wiki), "wiki.utf8"),
        "n_ctx": N_CTX,
        "n_chunks": N_CHUNKS,
        "chunk_ppl": [float(r[1]) for r in rows],
        "cumulative_mean_nll": [float(r[2]) for r in rows],
        "ppl": float(final.group(1)),
        "ppl_stderr": float(final.group(2)),
    }


def perplexity_tokens(model: Path, wiki: Path) -> list[int]:
    """The token stream llama-perplexity evaluated (header of its --kl-divergence-base file), checked against
    llama-tokenize of the text as llama-perplexity reads it (one trailing newline dropped, no escapes)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.bin"
        run([llamacpp_bin("llama-perplexity"), "-m", model, "-f", wiki, "-c", N_CTX, "-b", N_CTX,
             "--chunks", N_CHUNKS, "-t", THREADS, "--kl-divergence-base", base])
        with open(base, "rb") as f:
            head = f.read(8 + 12)
            if head[:8] != b"_logits_":
                raise SystemExit("unexpected logits file header")
            n_ctx, _n_vocab, n_chunk = struct.unpack("<3i", head[8:])
            tokens = list(struct.unpack(f"<{n_ctx * n_chunk}i", f.read(4 * n_ctx * n_chunk)))
        text = wiki.read_bytes().decode("utf-8")
        stripped = Path(tmp) / "text.txt"
        stripped.write_bytes((text[:-1] if text.endswith("\n") else text).encode("utf-8"))
        ids = json.loads(run([llamacpp_bin("llama-tokenize"), "-m", model, "-f", stripped, "--ids", "--no-escape",
                              "--no-parse-special", "--log-disable"]).stdout)
    if ids[:len(tokens)] != tokens:
        raise SystemExit("llama-tokenize disagrees with the tokens llama-perplexity evaluated")
    return tokens


# ---- greedy generation ----------------------------------------------------------------------------------


def completion(model: Path, prompt: str, session: Path | None) -> str:
    args = [llamacpp_bin("llama-completion"), "-m", model, "-p", prompt, "-n", N_PREDICT, "--temp", "0",
            "-s", "0", "-no-cnv", "--no-escape", "-t", THREADS, "--no-display-prompt"]
    if session is not None:
        args += ["--prompt-cache", session, "--prompt-cache-all"]
    return run(args).stdout


def session_tokens(path: Path) -> list[int]:
    with open(path, "rb") as f:
        magic, _version, n = struct.unpack("<3I", f.read(12))
        if magic != SESSION_MAGIC:
            raise SystemExit(f"{path}: not a llama.cpp session file")
        return list(struct.unpack(f"<{n}i", f.read(4 * n)))


def greedy_golden(model: Path, eos_id: int) -> dict:
    cases = []
    for name, prompt, why in PROMPTS:
        prompt_ids = json.loads(run([llamacpp_bin("llama-tokenize"), "-m", model, "-p", prompt, "--ids",
                                     "--no-escape", "--log-disable"]).stdout)
        text = completion(model, prompt, None)
        with tempfile.TemporaryDirectory() as tmp:
            session = Path(tmp) / "session.bin"
            text_s = completion(model, prompt, session)
            ids = session_tokens(session)
        # the --prompt-cache-all run also logs to stdout: "\n<fn>: saving final output to session file '<path>'\n"
        text_s = re.sub(r"\n[a-z_]+: saving final output to session file '[^']*'\n", "", text_s)
        if text != text_s:
            raise SystemExit(f"{name}: the --prompt-cache run generated different text:\n{text!r}\n{text_s!r}")
        if ids[:len(prompt_ids)] != prompt_ids:
            raise SystemExit(f"{name}: llama-tokenize ids differ from llama-completion's prompt ids")
        generated = ids[len(prompt_ids):]
        stopped = "[end of text]" in text
        if stopped:
            generated.append(eos_id)
        if not stopped and len(generated) != N_PREDICT:
            raise SystemExit(f"{name}: session holds {len(generated)} generated ids, expected {N_PREDICT}")
        cases.append({"name": name, "why": why, "prompt": prompt, "prompt_ids": prompt_ids,
                      "generated_ids": generated, "stopped_at_eos": stopped, "text": text})
        print(f"  {name}: {len(prompt_ids)} prompt ids, {len(generated)} generated", flush=True)
    return {
        "command": f"llama-completion -m MODEL -p PROMPT -n {N_PREDICT} --temp 0 -s 0 -no-cnv --no-escape -t {THREADS} "
                   "--no-display-prompt [--prompt-cache F --prompt-cache-all]",
        "cases": cases,
    }


# ---- README ---------------------------------------------------------------------------------------------


def write_readme(model: Path, wiki: Path, ppl: dict, ref: dict | None) -> None:
    files = ["smollm2_wiki_ppl.json", "smollm2_wiki_tokens.json", "smollm2_greedy.json"]
    lines = [
        "# Runtime goldens (llama.cpp)",
        "",
        "Made by `python tools/gen_golden_runtime.py` (run from the repository root after",
        "`python tools/build_llamacpp.py`), from llama.cpp's own binaries; the tool's docstring gives every command.",
        "",
        f"* Peer: llama.cpp {LLAMA_CPP_COMMIT} (the `vendor/llama.cpp` of the llama-cpp-python 0.3.36 sdist),",
        "  CPU build of `tools/build_llamacpp.py` (Release, GGML_NATIVE=ON), run with 2 threads. Defaults that shape",
        "  the numbers:",
        "  flash attention `auto` (enabled on CPU), F16 KV cache, activations quantized to the weight's vec_dot type",
        "  (Q8_1 for Q4_1, Q8_0 for the Q8_0 output).",
        f"* Model: `{model.name}` (sha256 `{sha256(model)}`), `fetch(\"{MODEL}\")`.",
        f"* Text: `wiki.utf8` (sha256 `{sha256(wiki)}`), `fetch(\"wiki\")`; llama-perplexity drops one trailing",
        "  newline and tokenizes the whole file with add_special (no BOS for this vocab: `add_bos_token` = false),",
        "  parse_special off.",
        f"* `smollm2_wiki_ppl.json`: `{ppl['command']}`.",
        f"  Per-chunk cumulative ppl {ppl['chunk_ppl']}, final {ppl['ppl']} +/- {ppl['ppl_stderr']}.",
        f"* `smollm2_wiki_tokens.json`: the first {N_CHUNKS} x {N_CTX} token ids llama-perplexity evaluated (header of",
        "  its `--kl-divergence-base` file), equal to `llama-tokenize --ids --no-escape --no-parse-special` of the text.",
        "* `smollm2_greedy.json`: greedy continuations of 6 prompts (reason per prompt in the file). Prompt ids from",
        "  `llama-tokenize --ids --no-escape` (parse_special on, as llama-completion tokenizes); generated ids from the",
        "  session file of a `--prompt-cache F --prompt-cache-all` run whose text equals the plain run's. llama.cpp",
        "  decodes the prompt as one batch and then one token at a time, both under 64 rows, so flash attention takes",
        "  its one-row kernel (Q and the V accumulator in F16); ggufpy's reference emulates it (`emulate_ggml`), but",
        "  rounding noise still lets near-tied logits resolve differently (tests/runtime accept those as ties).",
    ]
    if ref is not None:
        lines += ["", "Reference check at generation time (`--check-reference`): " + ref["summary"]]
    lines += ["", "| file | sha256 |", "|---|---|"]
    lines += [f"| `{f}` | `{sha256(OUT / f)}` |" for f in files]
    (OUT / "README.md").write_text("\n".join(lines) + "\n")


def check_reference(tokens: list[int], ppl: dict, n_chunks: int) -> dict:
    """Score ggufpy's numpy reference on the same tokens and print it beside llama.cpp's numbers."""
    import time

    import ggufpy
    from ggufpy.runtime.perplexity import perplexity
    from ggufpy.runtime.reference import ReferenceModel

    reader = ggufpy.open(fetch(MODEL, progress=False))
    parts = []
    for emulate in (True, False):
        model = ReferenceModel(reader, emulate_ggml=emulate)
        t0 = time.time()
        res = perplexity(model.logits, tokens, n_ctx=N_CTX, n_chunks=n_chunks, add_bos=False)
        rel = ", ".join(f"{o / g - 1:+.2%}" for o, g in zip(res.chunk_ppl, ppl["chunk_ppl"]))
        line = (f"emulate_ggml={emulate}: {[round(x, 4) for x in res.chunk_ppl]} ({rel} vs llama.cpp), "
                f"final {res.ppl:.4f} +/- {res.stderr:.5f}")
        print(f"reference {line}, {time.time() - t0:.0f} s", flush=True)
        parts.append(line)
    return {"summary": f"ggufpy's reference over {n_chunks} chunks, " + "; ".join(parts) + "."}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check-reference", action="store_true", help="also score ggufpy's numpy reference")
    ap.add_argument("--chunks", type=int, default=N_CHUNKS, help="chunks for --check-reference")
    args = ap.parse_args()

    model = fetch(MODEL, progress=False)
    wiki = fetch("wiki", progress=False)
    OUT.mkdir(parents=True, exist_ok=True)

    print("llama-perplexity ...", flush=True)
    ppl = perplexity_golden(model, wiki)
    (OUT / "smollm2_wiki_ppl.json").write_text(json.dumps(ppl, indent=1) + "\n")
    tokens = perplexity_tokens(model, wiki)
    (OUT / "smollm2_wiki_tokens.json").write_text(json.dumps({"n_ctx": N_CTX, "tokens": tokens}) + "\n")

    print("llama-completion ...", flush=True)
    import ggufpy

    eos_id = int(ggufpy.open(model).metadata["tokenizer.ggml.eos_token_id"])
    greedy = greedy_golden(model, eos_id)
    (OUT / "smollm2_greedy.json").write_text(json.dumps(greedy, indent=1, ensure_ascii=False) + "\n")

    ref = check_reference(tokens, ppl, args.chunks) if args.check_reference else None
    write_readme(model, wiki, ppl, ref)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
