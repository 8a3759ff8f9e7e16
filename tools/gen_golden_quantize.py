"""sha256 of llama-quantize's output for the tiny model of tests/tiny_model.py, per target, so
tests/test_quantize.py can check `ggufpy quantize` is byte-identical without llama.cpp at test time.

    python tools/build_llamacpp.py            # once (llama.cpp 0c1e570 from the llama-cpp-python 0.3.36 sdist)
    python tools/gen_golden_quantize.py       # writes tests/golden/quantize/llama_quantize.json
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
from build_llamacpp import LLAMA_CPP_COMMIT, llamacpp_bin  # noqa: E402

from tests.tiny_model import write_tiny_llama  # noqa: E402

TARGETS = {  # ggufpy target -> llama-quantize ftype name
    "f32": "F32", "f16": "F16", "bf16": "BF16", "q8_0": "Q8_0", "q4_0": "Q4_0", "q4_1": "Q4_1", "q5_0": "Q5_0",
    "q5_1": "Q5_1", "q2_k": "Q2_K", "q3_k_s": "Q3_K_S", "q3_k_m": "Q3_K_M", "q3_k_l": "Q3_K_L", "q4_k_s": "Q4_K_S",
    "q4_k_m": "Q4_K_M", "q5_k_s": "Q5_K_S", "q5_k_m": "Q5_K_M", "q6_k": "Q6_K", "tq1_0": "TQ1_0", "tq2_0": "TQ2_0",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    out: dict = {"llama_cpp_commit": LLAMA_CPP_COMMIT, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for tied in (False, True):
            src = write_tiny_llama(Path(tmp) / f"tiny_{tied}.gguf", tied=tied)
            case = {"source_sha256": sha256(src), "outputs": {}}
            for target, ftype in TARGETS.items():
                dst = Path(tmp) / f"{target}.gguf"
                subprocess.run([str(llamacpp_bin("llama-quantize")), str(src), str(dst), ftype, "1"],
                               check=True, capture_output=True)
                case["outputs"][target] = sha256(dst)
                dst.unlink()
            out["cases"]["tied" if tied else "untied"] = case
    dest = ROOT / "tests" / "golden" / "quantize" / "llama_quantize.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
