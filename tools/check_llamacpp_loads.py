"""Check that llama.cpp loads and runs what `ggufpy quantize` writes, for every ggml target.

    python tools/build_llamacpp.py             # once
    python tools/check_llamacpp_loads.py [model.gguf] [--targets q8_0,q4_k_m,...]

Quantizes the model (default: SmolLM2-135M-Instruct Q4_1, requantized) with ggufpy to each target,
then runs `llama-completion -no-cnv -n 8 --temp 0` on it and prints the exit status and text.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_llamacpp import llamacpp_bin  # noqa: E402

from ggufpy.fetch import DEFAULT_MODEL, fetch  # noqa: E402
from ggufpy.quantize import quantize_file  # noqa: E402
from ggufpy.quants.mix import TARGETS  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?")
    p.add_argument("--targets", default=",".join(n for n, t in TARGETS.items() if t.ftype is not None))
    args = p.parse_args()
    src = args.model or str(fetch(DEFAULT_MODEL))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for target in args.targets.split(","):
            dst = Path(tmp) / f"{target}.gguf"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_file(src, dst, target, progress=False)
            r = subprocess.run([str(llamacpp_bin("llama-completion")), "-m", str(dst), "-p", "The capital of France is",
                                "-n", "8", "--temp", "0", "-no-cnv", "-t", "2"], capture_output=True, text=True,
                               timeout=300)
            text = r.stdout.strip().replace("\n", " ")[:80]
            print(f"{target:<8} exit {r.returncode}  {text!r}")
            failed += r.returncode != 0
            dst.unlink()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
