"""How far greedy decoding agrees with llama.cpp's golden, next to how far llama.cpp agrees with itself
when only its floating-point path changes.

    python tools/build_llamacpp.py          # once
    python tools/greedy_rounding_study.py   # ~1 min

For each prompt of tests/golden/runtime/smollm2_greedy.json (llama-completion --temp 0, flash attention
auto = on, 2 threads) it prints the number of generated tokens that equal the golden before the first
difference, for: ggufpy's native runtime, llama.cpp with ``-fa off`` (the same weights and math, another
rounding order in attention), ``-t 1`` and an F32 KV cache. Where ggufpy differs it also prints the gap
between its top logit and llama.cpp's token at that step.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
from build_llamacpp import llamacpp_bin  # noqa: E402

from ggufpy.fetch import fetch  # noqa: E402
from ggufpy.runtime.model import Model  # noqa: E402
from ggufpy.runtime.tokenizer import Tokenizer  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "runtime" / "smollm2_greedy.json"
VARIANTS = {"-fa off": ["-fa", "off"], "-t 1": ["-t", "1"], "f32 KV": ["-ctk", "f32", "-ctv", "f32"]}


def ggufpy_prefix(model: Model, case: dict) -> tuple[int, float | None]:
    """Tokens equal to the golden before the first difference, and our logit gap there."""
    toks = list(case["prompt_ids"])
    logits = model.eval(np.asarray(toks, np.int32), 0, all_logits=False).reshape(-1)
    n_past = len(toks)
    for step, want in enumerate(case["generated_ids"]):
        top = int(np.argmax(logits))
        if top != want:
            return step, float(logits[top] - logits[want])
        logits = model.eval(np.asarray([top], np.int32), n_past, all_logits=False).reshape(-1)
        n_past += 1
    return len(case["generated_ids"]), None


def llamacpp_prefix(model_path: str, tok: Tokenizer, case: dict, extra: list[str]) -> int:
    """Tokens of llama.cpp's output (with ``extra`` options) equal to the golden before the first difference."""
    r = subprocess.run([str(llamacpp_bin("llama-completion")), "-m", model_path, "-p", case["prompt"], "-n", "64",
                        "--temp", "0", "-s", "0", "-no-cnv", "--no-escape", "-t", "2", "--no-display-prompt", *extra],
                       capture_output=True, text=True, check=True)
    want = case["generated_ids"]
    for k in range(len(want), -1, -1):  # longest golden prefix whose text starts the output
        if r.stdout.startswith(tok.detokenize(want[:k])):
            return k
    return 0


def main() -> None:
    cases = json.loads(GOLDEN.read_text())["cases"]
    path = str(fetch("smollm2-135m-instruct-q4_1"))
    tok = Tokenizer.from_gguf(path)
    print(f"{'prompt':10} {'ggufpy':>16} " + " ".join(f"{'llama.cpp ' + v:>18}" for v in VARIANTS))
    with Model.load(path, threads=2) as model:
        for case in cases:
            n, gap = ggufpy_prefix(model, case)
            ours = f"{n}/64" + (f" (gap {gap:.3f})" if gap is not None else "")
            peers = [f"{llamacpp_prefix(path, tok, case, v)}/64" for v in VARIANTS.values()]
            print(f"{case['name']:10} {ours:>16} " + " ".join(f"{p:>18}" for p in peers))


if __name__ == "__main__":
    main()
