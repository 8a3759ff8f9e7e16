"""Prompt and generation speed of the native model against llama.cpp's llama-bench, in one run.

    python tools/bench_runtime.py [model.gguf] [-t 1,2] [-p 128] [-n 32] [-r 3] [--llama-bench PATH]

Measures what ``llama-bench -p P -n N`` measures: pp = P tokens evaluated at once from an empty cache
(logits of the last token only), tg = N tokens evaluated one at a time from an empty cache. Rounds
alternate llama-bench and ggufpy so both see the same machine load; the best round of each is kept.
Prints tokens/s and the ratio ggufpy / llama.cpp. Default model: SmolLM2-135M-Instruct Q4_1 (fetched).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

DEFAULT_LLAMA_BENCH = Path.home() / ".cache/ggufpy/llama.cpp-0c1e570/build/bin/llama-bench"


def ggufpy_speed(path: str, threads: int, n_prompt: int, n_gen: int) -> tuple[float, float]:
    from ggufpy.runtime.model import Model

    with Model.load(path, threads=threads, n_ctx=max(n_prompt, n_gen) + 16) as m:
        toks = np.random.default_rng(0).integers(0, m.config.n_vocab, max(n_prompt, n_gen)).astype(np.int32)
        m.eval(toks[:16], 0, all_logits=False)  # touch the weights once
        t = time.perf_counter()
        m.eval(toks[:n_prompt], 0, all_logits=False)
        pp = n_prompt / (time.perf_counter() - t)
        m.reset()
        t = time.perf_counter()
        for i in range(n_gen):
            m.eval(toks[i:i + 1], i, all_logits=False)
        tg = n_gen / (time.perf_counter() - t)
    return pp, tg


def llama_bench_speed(binary: Path, path: str, threads: int, n_prompt: int, n_gen: int) -> tuple[float, float]:
    out = subprocess.run([str(binary), "-m", path, "-t", str(threads), "-p", str(n_prompt), "-n", str(n_gen),
                          "-r", "1", "-o", "json"], capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)
    pp = next(r["avg_ts"] for r in rows if r["n_prompt"] == n_prompt and r["n_gen"] == 0)
    tg = next(r["avg_ts"] for r in rows if r["n_gen"] == n_gen and r["n_prompt"] == 0)
    return pp, tg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?")
    ap.add_argument("-t", "--threads", default="1,2")
    ap.add_argument("-p", "--n-prompt", type=int, default=128)
    ap.add_argument("-n", "--n-gen", type=int, default=32)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("--llama-bench", type=Path, default=DEFAULT_LLAMA_BENCH)
    args = ap.parse_args()
    path = args.model
    if path is None:
        from ggufpy.fetch import fetch

        path = str(fetch("smollm2-135m-instruct-q4_1"))
    have_lb = args.llama_bench.exists()
    print(f"model {path}")
    for threads in (int(x) for x in args.threads.split(",")):
        ours, theirs = [], []
        for _ in range(args.rounds):
            if have_lb:
                theirs.append(llama_bench_speed(args.llama_bench, path, threads, args.n_prompt, args.n_gen))
            ours.append(ggufpy_speed(path, threads, args.n_prompt, args.n_gen))
        for i, name in enumerate((f"pp{args.n_prompt}", f"tg{args.n_gen}")):
            a = max(o[i] for o in ours)
            line = f"threads={threads} {name}: ggufpy {a:8.1f} t/s"
            if have_lb:
                b = max(o[i] for o in theirs)
                line += f"   llama.cpp {b:8.1f} t/s   ratio {a / b:5.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
