"""Quantization throughput, ggufpy vs peers, one run each (best of -r repeats):

  * dequantize: ``tensor.numpy()`` / ``ggufpy.quants.dequantize`` vs ``gguf.quants.dequantize``
    (llama.cpp's Python package), for Q8_0 and Q4_K on 16.8M weights;
  * quantize to Q4_K: ``ggufpy quantize --pure`` vs ``llama-quantize --pure`` on the same F32 GGUF
    (SmolLM2-135M converted to F32 by ggufpy), whole-file wall time.

    python tools/build_llamacpp.py      # once, for llama-quantize
    python tools/bench_quants.py [-r 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def best(fn, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def bench_dequant(repeat: int) -> None:
    import gguf

    from ggufpy import GGMLType
    from ggufpy.quants import _native, dequantize, quantize

    x = np.random.default_rng(0).standard_normal((4096, 4096)).astype(np.float32)
    for qtype in (GGMLType.Q8_0, GGMLType.Q4_K):
        raw = quantize(x, qtype)
        peer_type = gguf.GGMLQuantizationType(int(qtype))
        ours = best(lambda: dequantize(raw, qtype), repeat)
        peer = best(lambda: gguf.quants.dequantize(raw, peer_type), repeat)
        print(f"dequantize {qtype.name:<5} 16.8M weights: ggufpy {ours * 1e3:7.1f} ms ({_native.default_isa()}), "
              f"gguf-py {peer * 1e3:7.1f} ms, ratio {peer / ours:5.1f}x")


def bench_quantize(repeat: int) -> None:
    from build_llamacpp import llamacpp_bin

    from ggufpy.fetch import DEFAULT_MODEL, fetch
    from ggufpy.quantize import quantize_file

    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "f32.gguf"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_file(fetch(DEFAULT_MODEL), f32, "f32", progress=False)
        out = Path(tmp) / "q.gguf"

        def ours():
            quantize_file(f32, out, "q4_k_m", pure=True, overwrite=True, progress=False)

        def peer():
            subprocess.run([str(llamacpp_bin("llama-quantize")), "--pure", str(f32), str(out), "Q4_K_M", "2"],
                           check=True, capture_output=True)

        t_ours, t_peer = best(ours, repeat), best(peer, repeat)
        print(f"quantize SmolLM2 F32 -> Q4_K_M --pure (576-wide rows fall back to Q5_0): ggufpy {t_ours:6.2f} s "
              f"(threads: all cores), llama-quantize {t_peer:6.2f} s (2 threads), ratio {t_peer / t_ours:5.2f}x")

        # every row a multiple of 256, so every quantized tensor really is Q4_K
        from gen_golden_mix import Tiny, write_tiny

        wide = Path(tmp) / "wide.gguf"
        write_tiny(Tiny("llama", 4, 2048, 5632, 32, 4, n_vocab=2048), wide)
        t_ours = best(lambda: quantize_file(wide, out, "q4_k_m", pure=True, overwrite=True, progress=False), repeat)
        t_peer = best(lambda: subprocess.run([str(llamacpp_bin("llama-quantize")), "--pure", str(wide), str(out),
                                              "Q4_K_M", "2"], check=True, capture_output=True), repeat)
        import ggufpy

        n = sum(t.n_elements for t in ggufpy.GGUFReader(wide).tensors) / 1e6
        print(f"quantize 4-layer 2048/5632 F32 model ({n:.0f}M weights) -> Q4_K --pure: ggufpy {t_ours:6.2f} s (all cores), "
              f"llama-quantize {t_peer:6.2f} s (2 threads), ratio {t_peer / t_ours:5.2f}x")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-r", "--repeat", type=int, default=3)
    p.add_argument("--skip-quantize", action="store_true")
    args = p.parse_args()
    bench_dequant(args.repeat)
    if not args.skip_quantize:
        bench_quantize(args.repeat)


if __name__ == "__main__":
    main()
