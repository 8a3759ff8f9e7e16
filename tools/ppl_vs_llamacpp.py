"""Perplexity and KL divergence of ggufpy's runtime against llama.cpp's llama-perplexity, same files, one run.

    python tools/build_llamacpp.py                       # once
    python tools/ppl_vs_llamacpp.py [--chunks 20] [--types q4_1,q8_0,q4_0,f16] [--texts wiki,botchan]

For each type (q4_1: the fetched SmolLM2-135M-Instruct file; the others made from it with ``ggufpy quantize``,
cached in ~/.cache/ggufpy/bench-models) and each text (``fetch("wiki")``, ``fetch("botchan")``):

1. ``llama-perplexity -m F -f TEXT -c 512 --chunks N -t 2 --kl-divergence-base BASE`` — llama.cpp's
   perplexity, saving its log-probs (cached in ~/.cache/ggufpy/ppl-bases: it depends on llama.cpp only);
2. ``ggufpy perplexity F --kl-divergence-base BASE --kl-divergence`` — ours on llama.cpp's tokens (the same
   chunks, BOS rule and scoring as llama-perplexity, so its "Mean PPL(Q)" is our perplexity), scored against
   llama.cpp's distribution: mean KL divergence and how often the top token agrees;
3. with ``--independent``, also ``ggufpy perplexity F -f TEXT -c 512 --chunks N`` — ours, tokenized by ggufpy.

Prints a markdown table; the relative perplexity difference is (ggufpy - llama.cpp) / llama.cpp.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
from bench_vs_llamacpp import smollm2_file  # noqa: E402
from build_llamacpp import llamacpp_bin  # noqa: E402

from ggufpy.fetch import cache_dir, fetch  # noqa: E402


def _final_ppl(text: str) -> float:
    return float(re.search(r"Final estimate: PPL = ([0-9.]+)", text).group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--types", default="q4_1,q8_0,q4_0,f16")
    ap.add_argument("--texts", default="wiki,botchan")
    ap.add_argument("--llamacpp-only", action="store_true", help="only compute (and cache) llama.cpp's side")
    ap.add_argument("--independent", action="store_true", help="also run ggufpy's own tokenization")
    args = ap.parse_args()
    n = str(args.chunks)
    bases = cache_dir() / "ppl-bases"
    bases.mkdir(parents=True, exist_ok=True)
    print("| type | text | llama.cpp PPL | ggufpy PPL | rel. diff | KLD(llama.cpp ‖ ggufpy) | same top token |"
          + (" ggufpy PPL, own tokens |" if args.independent else ""))
    print("|---|---|---:|---:|---:|---:|---:|" + ("---:|" if args.independent else ""))
    for t in args.types.split(","):
        model = str(smollm2_file(t))
        for name in args.texts.split(","):
            text = str(fetch(name, progress=False))
            base = bases / f"smollm2-{t}-{name}-c512-{n}.bin"
            ppl_file = base.with_suffix(".ppl")
            if not ppl_file.exists():
                r = subprocess.run([str(llamacpp_bin("llama-perplexity")), "-m", model, "-f", text, "-c", "512",
                                    "--chunks", n, "-t", "2", "--kl-divergence-base", str(base)],
                                   capture_output=True, text=True, check=True)
                ppl_file.write_text(str(_final_ppl(r.stdout + r.stderr)))
            if args.llamacpp_only:
                continue
            theirs = float(ppl_file.read_text())
            ggufpy = [sys.executable, "-m", "ggufpy", "perplexity", model, "-q", "-t", "2"]
            r = subprocess.run(ggufpy + ["--kl-divergence-base", str(base), "--kl-divergence"], capture_output=True,
                               text=True, check=True)
            ours = float(re.search(r"Mean PPL\(Q\)\s+:\s+(\S+)", r.stdout).group(1))
            kld = re.search(r"Mean    KLD:\s+(\S+) ±\s+(\S+)", r.stdout)
            top = re.search(r"Same top p:\s+(\S+) ±\s+(\S+) %", r.stdout)
            line = (f"| {t} | {name} | {theirs:.4f} | {ours:.4f} | {100 * (ours - theirs) / theirs:+.3f}% | "
                    f"{kld.group(1)} ± {kld.group(2)} | {top.group(1)}% |")
            if args.independent:
                r = subprocess.run(ggufpy + ["-f", text, "-c", "512", "--chunks", n], capture_output=True, text=True,
                                   check=True)
                line += f" {_final_ppl(r.stdout):.4f} |"
            print(line, flush=True)

if __name__ == "__main__":
    main()
