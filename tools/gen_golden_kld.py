"""Golden for ``--kl-divergence-base`` interoperability: a base file written by llama.cpp's llama-perplexity,
small enough to commit, and what llama.cpp reports when it reads that file back.

    python tools/build_llamacpp.py     # once
    python tools/gen_golden_kld.py     # writes tests/golden/kld/ (a few seconds)

Model: tests/tiny_model.py's tiny llama (seed 0, 256-token SPM vocab of "t3".."t255", random weights) with
token 255 as the byte "<0x0A>" and ``add_space_prefix = false`` (``write_tiny_llama_for_llamacpp``), so the
file stays ~60 KB. Text: ``tests.tiny_model.tiny_text()`` (300 random "tN" pieces), written to ``tiny_text.txt``.

* ``tiny_base.bin``: ``llama-perplexity -m tiny.gguf -f tiny_text.txt -c 32 -b 32 --chunks 8 -t 2
  --kl-divergence-base tiny_base.bin`` (llama.cpp's header, token stream and uint16 log-prob rows).
* ``tiny_kld.json``: the final statistics llama.cpp prints for ``--kl-divergence-base tiny_base.bin
  --kl-divergence`` with the same model (its own base: KLD ~0) and the perplexity of the base run.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
from build_llamacpp import LLAMA_CPP_COMMIT, llamacpp_bin  # noqa: E402

from tests.tiny_model import tiny_text, write_tiny_llama_for_llamacpp  # noqa: E402

OUT = ROOT / "tests" / "golden" / "kld"
ARGS = ["-c", "32", "-b", "32", "--chunks", "8", "-t", "2"]
STAT_LINES = ("Mean PPL(Q)", "Mean PPL(base)", "Mean    KLD", "Same top p")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    exe = llamacpp_bin("llama-perplexity")
    (OUT / "tiny_text.txt").write_text(tiny_text(), encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_llama_for_llamacpp(Path(tmp) / "tiny.gguf")
        base = OUT / "tiny_base.bin"
        r = subprocess.run([str(exe), "-m", str(model), "-f", str(OUT / "tiny_text.txt"), *ARGS,
                            "--kl-divergence-base", str(base)], capture_output=True, text=True, check=True)
        final = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", r.stdout + r.stderr)
        r = subprocess.run([str(exe), "-m", str(model), *ARGS, "--kl-divergence-base", str(base), "--kl-divergence"],
                           capture_output=True, text=True, check=True)
    stats = {}
    for line in (r.stdout + r.stderr).splitlines():
        m = re.match(r"(.+?)\s*: (.*)$", line)
        if m and m.group(1) in STAT_LINES:
            stats[m.group(1)] = m.group(2).strip()
    golden = {"llama_cpp": LLAMA_CPP_COMMIT, "args": ARGS, "base_run_final_ppl": float(final.group(1)),
              "kl_divergence_report": stats,
              "tiny_base.bin sha256": hashlib.sha256(base.read_bytes()).hexdigest()}
    (OUT / "tiny_kld.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(json.dumps(golden, indent=1))


if __name__ == "__main__":
    main()
